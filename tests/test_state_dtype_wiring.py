"""``state_dtype`` reaches every accumulator of every factory, whatever the
spelling: a :class:`~rmsprop_jax.StochasticRounding` state rounds exactly the
leaves that the same dtype rounded to nearest stores narrow.

(``rmsprop(momentum=..., state_dtype=StochasticRounding(...))`` once passed
its ``state_dtype`` to the momentum link as ``accumulator_dtype`` and raised
"Could not convert StochasticRounding(...) to a NumPy dtype"; a float dtype or
``"int8"`` happened to mean the same in either slot.)
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import pytest
from helpers import PRESET_FACTORIES, regression_problem

import rmsprop_jax as rj
from rmsprop_jax import _blockwise, presets

FACTORIES = {
    "rmsprop": lambda sd: rj.rmsprop(0.01, state_dtype=sd),
    "rmsprop_momentum": lambda sd: rj.rmsprop(0.01, momentum=0.9, state_dtype=sd),
    "rmsprop_nesterov": lambda sd: rj.rmsprop(
        0.01, momentum=0.9, nesterov=True, state_dtype=sd
    ),
    "rmsprop_centered_momentum": lambda sd: rj.rmsprop(
        0.01, centered=True, momentum=0.9, state_dtype=sd
    ),
    "adagrad": lambda sd: rj.adagrad(0.1, state_dtype=sd),
    "sgd_momentum": lambda sd: rj.sgd(0.05, momentum=0.9, state_dtype=sd),
    "adam": lambda sd: rj.adam(0.01, state_dtype=sd),
    "nadam": lambda sd: rj.adam(0.01, nesterov=True, state_dtype=sd),
    "laprop": lambda sd: rj.laprop(0.01, state_dtype=sd),
    "rprop+": lambda sd: rj.rprop(0.001, variant="rprop+", state_dtype=sd),
    "amsgrad": lambda sd: rj.amsgrad(0.01, state_dtype=sd),
    "adadelta": lambda sd: rj.adadelta(1.0, state_dtype=sd),
    **{name: (lambda sd, name=name: _preset(name, sd)) for name in PRESET_FACTORIES},
}


def _preset(name, state_dtype):
    """The preset with its defaults (a learning rate where it has none)."""
    factory = getattr(presets, name)
    first = next(iter(inspect.signature(factory).parameters.values()))
    args = (0.01,) if first.default is inspect.Parameter.empty else ()
    return factory(*args, state_dtype=state_dtype)


def _stored(x) -> bool:
    return isinstance(
        x, rj.RoundedLeaf | _blockwise.UnsignedBlocks | _blockwise.SignedBlocks
    )


def _leaves(state):
    return jax.tree.leaves_with_path(state, is_leaf=_stored)


@pytest.mark.parametrize("dtype", ["bfloat16", "int8"])
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_stochastic_rounding_stores_what_the_dtype_stores(name, dtype):
    params = regression_problem()[0]
    plain = FACTORIES[name](dtype).init(params)
    rounded = FACTORIES[name](rj.StochasticRounding(dtype, key=0)).init(params)
    plain_leaves, rounded_leaves = _leaves(plain), _leaves(rounded)
    assert [p for p, _ in plain_leaves] == [p for p, _ in rounded_leaves]
    narrow = 0
    for (path, a), (_, b) in zip(plain_leaves, rounded_leaves, strict=True):
        if _stored(a) or (
            isinstance(a, jax.Array) and a.dtype == jnp.bfloat16 and a.size > 1
        ):
            narrow += 1
            assert isinstance(b, rj.RoundedLeaf), (name, jax.tree_util.keystr(path))
            inner = jax.tree.map(lambda v: (v.shape, v.dtype), b.value)
            assert inner == jax.tree.map(lambda v: (v.shape, v.dtype), a), path
        else:
            assert not isinstance(b, rj.RoundedLeaf), jax.tree_util.keystr(path)
    assert narrow >= 1, name
