"""Flax linen: the stock ``TrainState`` cannot pass the loss to iRprop+.

The training loops of ``examples/flax_linen.py`` and ``examples/flax_nnx.py``
run to a target loss in ``tests/test_integrations_examples.py``.
"""

from __future__ import annotations

import pytest

pytest.importorskip(
    "flax", reason="flax is not installed: pip install '.[integrations]'"
)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from integration_problems import load_example  # noqa: E402

import rmsprop_jax as rj  # noqa: E402


def test_stock_train_state_cannot_pass_the_loss_to_irprop_plus():
    """TrainState.apply_gradients does not forward extra arguments to tx.update:
    iRprop+ then says what it needs, and the example's subclass supplies it."""
    from flax.training import train_state

    example = load_example("flax_linen")
    x, _ = example.data()
    model = example.MLP()
    params = model.init(jax.random.key(0), x)["params"]
    state = train_state.TrainState.create(
        apply_fn=model.apply, params=params, tx=rj.rprop(variant="irprop+")
    )
    grads = jax.tree.map(jnp.ones_like, params)
    with pytest.raises(TypeError, match="value=loss"):
        state.apply_gradients(grads=grads)
