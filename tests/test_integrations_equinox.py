"""Equinox: the optimizer state of ``eqx.filter`` of the model (the example
``examples/equinox_mlp.py`` trains it in ``tests/test_integrations_examples.py``)."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "equinox", reason="equinox is not installed: pip install '.[integrations]'"
)

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import rmsprop_jax as rj  # noqa: E402

ACCUMULATORS = {
    "rmsprop": (rj.rmsprop(), lambda s: [s[0].rms]),
    "rprop": (
        rj.rprop(variant="irprop+"),
        lambda s: [s[0].step_size, s[0].prev_update],
    ),
    "adam": (rj.adam(), lambda s: [s[0].rms.rms, s[0].inner.trace]),
}


@pytest.mark.parametrize("name", sorted(ACCUMULATORS))
def test_state_mirrors_the_filtered_model(name):
    """Accumulators have the filtered model's structure: arrays where the model
    has arrays, None (no state) for the activation function and sizes."""
    tx, accumulators = ACCUMULATORS[name]
    model = eqx.nn.MLP(1, 1, 4, depth=1, activation=jnp.tanh, key=jax.random.key(0))
    params = eqx.filter(model, eqx.is_inexact_array)
    for tree in accumulators(tx.init(params)):
        assert jax.tree.structure(tree) == jax.tree.structure(params)
        for acc, p in zip(jax.tree.leaves(tree), jax.tree.leaves(params), strict=True):
            assert acc.shape == p.shape
