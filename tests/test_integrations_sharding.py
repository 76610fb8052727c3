"""Sharded params and optimizer state on 8 simulated CPU devices.

The device count of a JAX process is fixed when its backend starts, so the
multi-device tests run in a subprocess started by
:func:`test_on_8_simulated_cpu_devices` with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``; the rest of the suite
keeps its single device. Their names start with ``multidevice_`` so that only
that subprocess collects them (``-o python_functions=multidevice_*``).

JAX is the distributed engine: the library adds nothing but element-wise maths,
so its states take the params' sharding and its update needs no communication.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import run_multidevice
from integration_problems import NAMES, assert_trees_close, make
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import rmsprop_jax as rj

DEVICES = 8
COLLECTIVES = ("all-gather", "all-to-all", "collective-permute", "all-reduce")


@pytest.mark.slow  # a pytest subprocess on 8 simulated devices
def test_on_8_simulated_cpu_devices():
    passed, out = run_multidevice(__file__, DEVICES)
    # Every test ran on 8 devices (none skipped for want of them); only the
    # Orbax one may skip, when orbax-checkpoint is not installed.
    assert passed >= 22, out
    assert "needs 8 devices" not in out, out


@pytest.fixture(scope="module")
def mesh():
    if jax.device_count() != DEVICES:
        pytest.skip(f"needs {DEVICES} devices; run by test_on_8_simulated_cpu_devices")
    return jax.make_mesh((DEVICES,), ("data",), axis_types=(AxisType.Auto,))


def _problem(dtype=jnp.float32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 16))
    y = x @ rng.normal(size=(16, 8)) + rng.normal(size=8)
    params = {
        "kernel": jnp.asarray(0.1 * rng.normal(size=(16, 8)), dtype),
        "bias": jnp.zeros(8, dtype),
    }
    return params, jnp.asarray(x, dtype), jnp.asarray(y, dtype)


def _loss(params, x, y):
    return 0.5 * jnp.mean((x @ params["kernel"] + params["bias"] - y) ** 2)


def _put(tree, mesh, spec):
    return jax.tree.map(lambda a: jax.device_put(a, NamedSharding(mesh, spec(a))), tree)


def _fully_sharded(a):  # ZeRO-3 / FSDP: every param split over the devices
    return P("data", *([None] * (a.ndim - 1))) if a.ndim else P()


def _replicated(a):
    return P()


def _state_shardings(tx, params, mesh):
    """Each state leaf shaped like a param gets that param's sharding."""
    return optax.tree_map_params(
        tx,
        lambda _, p: p.sharding,
        jax.eval_shape(tx.init, params),
        params,
        transform_non_params=lambda _: NamedSharding(mesh, P()),
    )


def _same_sharding(a, b) -> bool:
    return a.sharding.is_equivalent_to(b.sharding, a.ndim)


def _sharded_as(a, mesh, spec) -> bool:
    return a.sharding.is_equivalent_to(NamedSharding(mesh, spec(a)), a.ndim)


@pytest.mark.parametrize("name", NAMES)
def multidevice_sharded_state_inherits_the_params_sharding(mesh, name):
    """init and update of fully-sharded params: same shardings, no collectives."""
    params, x, y = _problem()
    params = _put(params, mesh, _fully_sharded)
    grads = _put(jax.grad(_loss)(params, x, y), mesh, _fully_sharded)
    tx = make(name)
    # Eager init follows the params' sharding (so does jax.jit(tx.init) with
    # explicit axes, below; with auto axes, jit places constants on one device
    # unless given out_shardings -- see docs/scaling.md).
    state = tx.init(params)
    for leaf in jax.tree.leaves(state):  # param-shaped leaves are split alike
        if leaf.ndim:
            assert _sharded_as(leaf, mesh, _fully_sharded)
    # The jitted init of docs/scaling.md: out_shardings from the params.
    jitted = jax.jit(tx.init, out_shardings=_state_shardings(tx, params, mesh))(params)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(state), strict=True):
        assert a.ndim == 0 or _same_sharding(a, b)
        np.testing.assert_array_equal(a, b)

    update = jax.jit(lambda g, s, p: tx.update(g, s, p, value=jnp.float32(1.0)))
    compiled = update.lower(grads, state, params).compile()
    hlo = compiled.as_text()
    assert not [c for c in COLLECTIVES if c in hlo], "the update communicates"
    updates, new_state = update(grads, state, params)
    for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params), strict=True):
        assert _same_sharding(u, p)
    for new, old in zip(
        jax.tree.leaves(new_state), jax.tree.leaves(state), strict=True
    ):
        if new.ndim:  # scalars (step counts) may be on one device or all
            assert _same_sharding(new, old)


def _train(tx, params, x, y, steps=20):
    """The user's own jitted step on sharded arrays: the loop under test (the
    engine vmaps over runs, which would not show how the step shards)."""

    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(_loss)(params, x, y)
        updates, state = tx.update(grads, state, params, value=value)
        return (optax.apply_updates(params, updates), state), value

    return jax.lax.scan(step, (params, tx.init(params)), length=steps)


@pytest.mark.parametrize("layout", ["fully_sharded", "replicated"])
@pytest.mark.parametrize("name", ["rmsprop", "rprop", "adam"])
def multidevice_data_parallel_equals_one_device(mesh, name, layout):
    """A batch split over 8 devices trains exactly as on one device (float64)."""
    spec = {"fully_sharded": _fully_sharded, "replicated": _replicated}[layout]
    with jax.enable_x64(True):
        params, x, y = _problem(jnp.float64)
        tx = make(name)
        one = jax.devices()[0]
        expected = jax.jit(lambda *a: _train(tx, *a))(
            *jax.device_put((params, x, y), one)
        )
        sharded_batch = _put((x, y), mesh, lambda a: P("data", None))
        run = jax.jit(lambda *a: _train(tx, *a))
        (got_params, got_state), got_losses = run(
            _put(params, mesh, spec), *sharded_batch
        )
    assert_trees_close(got_params, expected[0][0], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(got_losses, expected[1], rtol=1e-10)
    for leaf in jax.tree.leaves(got_state):
        if leaf.ndim:
            assert _sharded_as(leaf, mesh, spec)


def _explicit_mesh():
    return jax.make_mesh((DEVICES,), ("data",), axis_types=(AxisType.Explicit,))


def _zero1(mesh):
    """Explicit sharding, ZeRO-1 layout: params and grads replicated, state split."""
    params, x, y = _problem()
    params = _put(params, mesh, _replicated)
    grads = _put(jax.grad(_loss)(params, x, y), mesh, _replicated)
    return params, grads


def _shard_state(state, mesh):
    return jax.tree.map(
        lambda a: jax.device_put(a, NamedSharding(mesh, _fully_sharded(a))), state
    )


def multidevice_optax_apply_if_finite_fails_under_explicit_sharding(mesh):
    explicit = _explicit_mesh()
    with jax.set_mesh(explicit):
        params, grads = _zero1(explicit)
        tx = optax.apply_if_finite(rj.rmsprop(0.01), 3)
        state = _shard_state(tx.init(params), explicit)
        with pytest.raises(
            TypeError, match="cond branches must have equal output types"
        ):
            jax.jit(tx.update)(grads, state, params)


def multidevice_skip_nonfinite_works_under_explicit_sharding(mesh):
    explicit = _explicit_mesh()
    with jax.set_mesh(explicit):
        params, grads = _zero1(explicit)
        inner = rj.rmsprop(0.01)
        tx = rj.skip_nonfinite(inner)
        state = _shard_state(tx.init(params), explicit)
        updates, new_state = jax.jit(tx.update)(grads, state, params)
        expected, _ = jax.jit(inner.update)(grads, state.inner, params)
        assert_trees_close(updates, expected, rtol=0)
        assert int(new_state.total_skipped) == 0
        bad = jax.tree.map(lambda g: g.at[0].set(jnp.nan), grads)
        updates, skipped = jax.jit(tx.update)(bad, new_state, params)
        assert all(not jnp.any(u) for u in jax.tree.leaves(updates))
        assert_trees_close(skipped.inner, new_state.inner, rtol=0)
        assert int(skipped.total_skipped) == 1


@pytest.mark.parametrize("name", NAMES)
def multidevice_jitted_init_follows_explicit_sharding(mesh, name):
    explicit = _explicit_mesh()
    with jax.set_mesh(explicit):
        params = _put(_problem()[0], explicit, _fully_sharded)
        state = jax.jit(make(name).init)(params)
    for leaf in jax.tree.leaves(state):
        if leaf.ndim:
            assert _sharded_as(leaf, explicit, _fully_sharded)


def multidevice_orbax_restores_a_sharded_state_with_its_sharding(mesh, tmp_path):
    ocp = pytest.importorskip("orbax.checkpoint")
    params = _put(_problem()[0], mesh, _fully_sharded)
    tx = make("adam")
    state = tx.init(params)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(tmp_path / "state", state)
        target = jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), state
        )
        restored = checkpointer.restore(tmp_path / "state", target)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        assert _same_sharding(a, b)
        np.testing.assert_array_equal(a, b)
