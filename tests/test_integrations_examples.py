"""The framework examples train their MLP with RMSprop and iRprop+ to a target
loss: the training loops of ``examples/<name>.py``, run here.

flax.linen passes the loss through a ``TrainState`` subclass, flax.nnx through
``nnx.Optimizer.update(model, grads, value=loss)`` (which forwards ``value=``
to ``tx.update``), equinox trains ``eqx.filter`` of the model and haiku the
parameters of ``hk.transform``.
"""

from __future__ import annotations

import pytest
from integration_problems import load_example

# Each example and the library it needs (import name, pip name).
EXAMPLES = {
    "flax_linen": ("flax", "flax"),
    "flax_nnx": ("flax", "flax"),
    "equinox_mlp": ("equinox", "equinox"),
    "haiku_mlp": ("haiku", "dm-haiku"),
}
TARGET = 0.03  # mean squared error on sin(2x); about 0.4-2 at the start


@pytest.mark.parametrize("name", ["rmsprop", "irprop+"])
@pytest.mark.parametrize("example", list(EXAMPLES))
def test_example_training_reaches_the_target(example, name):
    module, package = EXAMPLES[example]
    pytest.importorskip(
        module, reason=f"{package} is not installed: pip install '.[integrations]'"
    )
    losses = load_example(example).train(name, steps=300)
    assert losses[-1] < TARGET < losses[0]
