"""Orbax checkpoints of optimizer states: exact resume, clear mismatch errors."""

from __future__ import annotations

import pytest

ocp = pytest.importorskip(
    "orbax.checkpoint",
    reason="orbax-checkpoint is not installed: pip install '.[integrations]'",
)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from integration_problems import NAMES, load_example, make  # noqa: E402

import rmsprop_jax as rj  # noqa: E402
from rmsprop_jax.checkpointing import check_restorable, migrate  # noqa: E402


@pytest.fixture(scope="module")
def example():
    return load_example("orbax_checkpoint")


@pytest.fixture(scope="module")
def saved(example, tmp_path_factory):
    """For every optimizer: 20 steps straight, and 10 + save + restore + 10."""
    params, x, y = example.problem()
    root = tmp_path_factory.mktemp("checkpoints")
    out = {}
    for name in NAMES:
        tx = make(name)
        chunk = example.make_chunk(tx, x, y, steps=10)
        (half, half_state), first_losses = chunk(params, tx.init(params))
        (straight, straight_state), losses = chunk(half, half_state)
        path = root / name
        example.save(path, half, half_state)
        restored_params, restored_state = example.restore(path, tx, params)
        (resumed, resumed_state), resumed_losses = chunk(
            restored_params, restored_state
        )
        out[name] = {
            "path": path,
            "half_state": half_state,
            "restored_state": restored_state,
            "straight": (straight, straight_state, losses),
            "resumed": (resumed, resumed_state, resumed_losses),
        }
    return out


@pytest.mark.parametrize("name", NAMES)
def test_restored_state_is_the_saved_state(saved, name):
    run = saved[name]
    restored, original = run["restored_state"], run["half_state"]
    assert jax.tree.structure(restored) == jax.tree.structure(original)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(original), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_resuming_repeats_the_uninterrupted_trajectory_exactly(saved, name):
    run = saved[name]
    for resumed, straight in zip(run["resumed"], run["straight"], strict=True):
        for a, b in zip(
            jax.tree.leaves(resumed), jax.tree.leaves(straight), strict=True
        ):
            np.testing.assert_array_equal(a, b)


# Restoring the saved rmsprop state into these targets must fail.
MISMATCHED = {
    "centered": rj.rmsprop(centered=True),  # an extra accumulator
    "momentum": rj.rmsprop(momentum=0.9),  # an extra link in the chain
    "adagrad": rj.adagrad(),  # another state type
}


@pytest.mark.parametrize("target", sorted(MISMATCHED))
def test_a_mismatched_target_fails_clearly(example, saved, target):
    params = example.problem()[0]
    path = saved["rmsprop"]["path"]
    with pytest.raises(ValueError, match="does not fit the target: in the target only"):
        example.restore(path, MISMATCHED[target], params)
    # Orbax alone refuses too (with its own, less specific, message).
    tx = MISMATCHED[target]
    abstract = {"params": params, "opt_state": jax.eval_shape(tx.init, params)}
    with ocp.StandardCheckpointer() as checkpointer, pytest.raises(ValueError):
        checkpointer.restore(path, abstract)


def test_other_parameter_shapes_fail_clearly(example, saved):
    params = {"kernel": jnp.zeros((5, 2)), "bias": jnp.zeros(2)}
    with pytest.raises(
        ValueError,
        match=r"opt_state/0/rms/kernel is float32\[4,2\], the target float32\[5,2\]",
    ):
        example.restore(saved["rmsprop"]["path"], make("rmsprop"), params)


def test_a_dtype_change_is_caught_where_orbax_would_cast(example, saved):
    path = saved["rmsprop"]["path"]
    params = example.problem()[0]
    saved_like = {
        "params": params,
        "opt_state": jax.eval_shape(make("rmsprop").init, params),
    }
    target = jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(
            s.shape, jnp.bfloat16 if s.dtype == jnp.float32 else s.dtype
        ),
        saved_like,
    )
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(path, target)  # Orbax casts silently
        assert restored["opt_state"][0].rms["kernel"].dtype == jnp.bfloat16
        with pytest.raises(
            ValueError, match=r"is float32\[4,2\], the target bfloat16\[4,2\]"
        ):
            check_restorable(checkpointer.metadata(path).item_metadata, target)


# --- checkpoints of the older state layout (a step count in every state) ---

_COUNTED = (
    rj.ScaleByRmsState,
    rj.AccumulateSquaresState,
    rj.MomentumState,
    rj.ScaleByRpropState,
)


def _old_layout(tree):
    """``tree`` as Orbax restores it without a target (NamedTuples as dicts,
    tuples as lists), with the step count every state used to keep."""
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        fields = {k: _old_layout(v) for k, v in tree._asdict().items()}
        if isinstance(tree, _COUNTED) and fields.get("count") is None:
            fields["count"] = jnp.asarray(10, jnp.int32)
        return fields
    if isinstance(tree, list | tuple):
        return [_old_layout(v) for v in tree]
    if isinstance(tree, dict):
        return {k: _old_layout(v) for k, v in tree.items()}
    return tree


@pytest.mark.parametrize("name", NAMES)
def test_an_old_layout_checkpoint_migrates(saved, tmp_path, name):
    state = saved[name]["half_state"]
    path = tmp_path / name
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, _old_layout(state))
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(path)
    old_counts = len(jax.tree.leaves(restored)) - len(jax.tree.leaves(state))
    if old_counts:
        with pytest.raises(ValueError, match="in the saved tree only: .*count"):
            check_restorable(restored, state)
    migrated = migrate(restored, jax.eval_shape(lambda: state))
    assert jax.tree.structure(migrated) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(migrated), jax.tree.leaves(state), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_migrate_drops_only_what_it_is_told(saved):
    state = saved["rmsprop"]["half_state"]
    old = _old_layout(state)
    with pytest.raises(ValueError, match="in the saved tree only: 0/count"):
        migrate(old, state, drop=())
    renamed = [{"rms_": old[0]["rms"], "mu": None}, old[1]]
    with pytest.raises(ValueError, match="in the target only: 0/rms/"):
        migrate(renamed, state)
