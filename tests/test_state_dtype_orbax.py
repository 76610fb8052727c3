"""Orbax checkpoints of 16- and 8-bit optimizer states, bit for bit.

For rmsprop and adam with ``state_dtype`` ``"int8"``, ``"bfloat16"``,
``StochasticRounding("bfloat16")`` and ``StochasticRounding("int8")``: the
state after a few steps is saved with ``orbax.checkpoint`` (with the
parameters, as ``docs/integrations.md`` does), restored into the abstract
target ``jax.eval_shape(tx.init, params)``, and must come back leaf for leaf
with the same types (``UnsignedBlocks``/``SignedBlocks``, ``RoundedLeaf``),
dtypes and bits, the rounding keys included; the steps that follow must equal
the run that never stopped, bit for bit. A target with another
``state_dtype`` is refused by ``check_restorable`` (Orbax alone would cast a
bfloat16 state into a float32 target silently).
"""

from __future__ import annotations

import functools

import pytest

ocp = pytest.importorskip(
    "orbax.checkpoint",
    reason="orbax-checkpoint is not installed: pip install '.[integrations]'",
)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from helpers import regression_loss, regression_problem, scanned_steps  # noqa: E402

import rmsprop_jax as rj  # noqa: E402
from rmsprop_jax import _blockwise  # noqa: E402
from rmsprop_jax.checkpointing import check_restorable  # noqa: E402

OPTIMIZERS = {
    "rmsprop": lambda sd: rj.rmsprop(0.01, momentum=0.5, state_dtype=sd),
    "adam": lambda sd: rj.adam(0.01, state_dtype=sd),
}
STORAGES = {
    "int8": lambda: "int8",
    "bfloat16": lambda: "bfloat16",
    "sr-bfloat16": lambda: rj.StochasticRounding("bfloat16", key=3),
    "sr-int8": lambda: rj.StochasticRounding("int8", key=jax.random.key(5)),
}
STEPS = 3
# 1-5 s each on 2 cores (two compilations of the steps): one in the quick selection
CASES = [
    pytest.param(
        name,
        storage,
        marks=() if (name, storage) == ("rmsprop", "bfloat16") else pytest.mark.slow,
    )
    for name in sorted(OPTIMIZERS)
    for storage in sorted(STORAGES)
]


def _stored(x) -> bool:
    return isinstance(
        x, rj.RoundedLeaf | _blockwise.UnsignedBlocks | _blockwise.SignedBlocks
    )


def _assert_identical(a, b) -> None:
    """Same tree (NamedTuple types included), dtypes and bits."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(
            jax.lax.bitcast_convert_type(x, _same_width_uint(x.dtype)),
            jax.lax.bitcast_convert_type(y, _same_width_uint(y.dtype)),
        )


def _same_width_uint(dtype) -> jnp.dtype:
    return jnp.dtype(f"uint{8 * jnp.dtype(dtype).itemsize}")


def _save(path, params, state) -> None:
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, {"params": params, "opt_state": state})


def _target(tx, params):
    return {
        "params": jax.eval_shape(lambda: params),
        "opt_state": jax.eval_shape(tx.init, params),
    }


def _restore(path, target):
    with ocp.StandardCheckpointer() as checkpointer:
        check_restorable(checkpointer.metadata(path).item_metadata, target)
        return checkpointer.restore(path, target)


@pytest.fixture(scope="module")
def problem():
    return regression_problem()


@pytest.mark.parametrize(("name", "storage"), CASES)
def test_low_bit_state_restores_bit_for_bit_and_resumes_exactly(
    problem, tmp_path, name, storage
):
    params, x, y = problem
    tx = OPTIMIZERS[name](STORAGES[storage]())
    run = jax.jit(functools.partial(scanned_steps, regression_loss, tx, steps=STEPS))
    half, half_state = run(params, tx.init(params), x, y)
    straight = run(half, half_state, x, y)
    stored = [s for s in jax.tree.leaves(half_state, is_leaf=_stored) if _stored(s)]
    if storage.startswith("sr-"):
        assert stored and all(isinstance(s, rj.RoundedLeaf) for s in stored)
        assert all(s.key.dtype == jnp.uint32 for s in stored)  # raw key data
    elif storage == "int8":
        assert stored  # w's blocks (b stays float32: under 4096 elements)
    else:
        assert any(s.dtype == jnp.bfloat16 for s in jax.tree.leaves(half_state))

    _save(tmp_path / "ckpt", half, half_state)
    restored = _restore(tmp_path / "ckpt", _target(tx, params))
    _assert_identical(restored["params"], half)
    _assert_identical(restored["opt_state"], half_state)
    resumed = run(restored["params"], restored["opt_state"], x, y)
    _assert_identical(resumed, straight)
    # and a run that moves on: the state did change over the last steps
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(
            jax.tree.leaves(straight[1]), jax.tree.leaves(half_state), strict=True
        )
    )


@pytest.mark.parametrize(
    ("saved", "wanted", "fragment"),
    [
        # a bfloat16 state into a float32 target: Orbax would cast silently
        ("bfloat16", None, r"is bfloat16\[64,128\], the target float32\[64,128\]"),
        # 8-bit blocks into a float leaf, and back
        ("int8", None, "in the saved tree only: .*codes"),
        (None, "int8", "in the target only: .*codes"),
        # rounded to nearest into a stochastically rounded target
        ("int8", "sr-int8", "in the target only: .*key"),
    ],
)
def test_a_target_with_another_state_dtype_is_refused(
    problem, tmp_path, saved, wanted, fragment
):
    params = problem[0]

    def make(storage):
        return OPTIMIZERS["adam"](None if storage is None else STORAGES[storage]())

    tx = make(saved)
    _save(tmp_path / "ckpt", params, tx.init(params))
    with pytest.raises(ValueError, match=fragment):
        _restore(tmp_path / "ckpt", _target(make(wanted), params))


def test_orbax_alone_casts_a_bfloat16_state_into_a_float32_target(problem, tmp_path):
    """Why the recipe calls ``check_restorable``: Orbax casts without a word."""
    params = problem[0]
    tx = OPTIMIZERS["rmsprop"]("bfloat16")
    _save(tmp_path / "ckpt", params, tx.init(params))
    target = _target(OPTIMIZERS["rmsprop"](None), params)
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(tmp_path / "ckpt", target)
    rms = restored["opt_state"][0].rms["w"]
    assert rms.dtype == jnp.float32


def test_a_typed_prng_key_beside_the_state_restores_as_it_is(problem, tmp_path):
    """The states keep raw key data (uint32); a typed ``jax.random.key`` the
    caller keeps next to them (a data-order key, say) round-trips too, given
    the abstract target."""
    params = problem[0]
    tx = OPTIMIZERS["adam"](STORAGES["sr-bfloat16"]())
    tree = {"key": jax.random.key(7), "opt_state": tx.init(params)}
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(tmp_path / "ckpt", tree)
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(tmp_path / "ckpt", jax.eval_shape(lambda: tree))
    assert jnp.issubdtype(restored["key"].dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(
        jax.random.key_data(restored["key"]), jax.random.key_data(tree["key"])
    )
    _assert_identical(restored["opt_state"], tree["opt_state"])
