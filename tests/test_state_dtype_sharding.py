"""8-bit states on 8 simulated CPU devices: sharded like their parameters.

As in ``test_integrations_sharding.py``, the multi-device tests run in a
subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=8``; their
names start with ``multidevice_``. A block never straddles a shard here: the
rows of a ``(64, 1024)`` kernel sharded by rows hold whole blocks (a block
never crosses a row), and the 4096-element shards of a 1-D leaf hold 16 whole
blocks each; so the 8-bit update needs no communication, like the float32 one, apart from
what keyless stochastic rounding (the plain ``"int8"``) reads: four scalar
entries of the step's first gradient leaf, the fingerprint of its hash, which
a sharded leaf holds on other devices (tested: a few uint32 scalars cross,
and the state has the single-device bits).
"""

from __future__ import annotations

import functools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import run_multidevice
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import rmsprop_jax as rj
from rmsprop_jax import _blockwise

DEVICES = 8
COLLECTIVES = ("all-gather", "all-to-all", "collective-permute", "all-reduce")


@pytest.mark.slow
def test_on_8_simulated_cpu_devices():
    passed, out = run_multidevice(__file__, DEVICES)
    assert passed >= 8, out


@pytest.fixture(scope="module")
def mesh():
    if jax.device_count() != DEVICES:
        pytest.skip(f"needs {DEVICES} devices; run by test_on_8_simulated_cpu_devices")
    return jax.make_mesh((DEVICES,), ("data",), axis_types=(AxisType.Auto,))


def _problem():
    rng = np.random.default_rng(0)
    params = {
        "w": jnp.asarray(rng.normal(size=(64, 1024)), jnp.float32),
        "v": jnp.asarray(rng.normal(size=(DEVICES * 4096,)), jnp.float32),
        "b": jnp.asarray(rng.normal(size=(1024,)), jnp.float32),  # stays float32
    }
    grads = jax.tree.map(lambda p: jnp.sin(3 * p) + 0.1, params)
    return params, grads


def _spec(a):
    return P() if a.ndim == 0 or a.size < 4096 else P("data", *([None] * (a.ndim - 1)))


def _put(tree, mesh):
    return jax.tree.map(
        lambda a: jax.device_put(a, NamedSharding(mesh, _spec(a))), tree
    )


def _is_blocks(x) -> bool:
    return isinstance(x, _blockwise.UnsignedBlocks | _blockwise.SignedBlocks)


def _blocks(state):
    return [s for s in jax.tree.leaves(state, is_leaf=_is_blocks) if _is_blocks(s)]


def _sharded_by_rows(a, mesh) -> bool:
    spec = P("data", *([None] * (a.ndim - 1)))
    return a.sharding.is_equivalent_to(NamedSharding(mesh, spec), a.ndim)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "rprop"])
def multidevice_int8_state_is_sharded_like_its_params_without_collectives(mesh, name):
    tx = {
        "adam": rj.adam(0.01, state_dtype="int8"),
        "rmsprop": rj.rmsprop(0.01, momentum=0.9, state_dtype="int8"),
        "rprop": rj.rprop(0.01, variant="rprop+", state_dtype="int8"),
    }[name]
    params, grads = _problem()
    # one device, for values (jitted: the plain "int8" hashes each new value's
    # bits, and an eager step fuses differently, a float32 ulp here and there)
    single = jax.jit(tx.update)(grads, tx.init(params), params)
    params, grads = _put(params, mesh), _put(grads, mesh)
    state = tx.init(params)
    update = jax.jit(tx.update)
    hlo = update.lower(grads, state, params).compile().as_text()
    assert not [c for c in COLLECTIVES if c in hlo], "the 8-bit update communicates"
    updates, new = update(grads, state, params)
    assert len(_blocks(new)) >= 4
    for stored in _blocks(state) + _blocks(new):
        # codes split like their parameter, scales along the same axis: every
        # device holds whole blocks and their scales
        assert _sharded_by_rows(stored.codes, mesh)
        assert _sharded_by_rows(stored.scales, mesh)
    for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(single[0]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(single[1]), strict=True):
        if jnp.issubdtype(a.dtype, jnp.integer):
            assert (
                np.count_nonzero(np.asarray(a, np.int32) - np.asarray(b, np.int32)) <= 2
            )
        else:
            np.testing.assert_allclose(a, b, rtol=1e-6)


def multidevice_zero1_replicated_params_sharded_int8_state(mesh):
    """ZeRO-1: parameters replicated, the 8-bit state split over the devices."""
    tx = rj.adam(0.01, state_dtype="int8")
    params, grads = _problem()
    single = tx.update(grads, tx.init(params), params)
    replicated = NamedSharding(mesh, P())
    params = jax.device_put(params, replicated)
    grads = jax.device_put(grads, replicated)
    state = tx.init(params)
    state = jax.tree.map(
        lambda a: jax.device_put(a, NamedSharding(mesh, _spec(a))), state
    )
    update = jax.jit(
        tx.update,
        out_shardings=(replicated, jax.tree.map(lambda a: a.sharding, state)),
    )
    updates, new = update(grads, state, params)
    for stored in _blocks(new):
        assert _sharded_by_rows(stored.codes, mesh)
    for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(single[0]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    params = optax.apply_updates(params, updates)
    assert all(p.sharding.is_fully_replicated for p in jax.tree.leaves(params))


# Keyless stochastic rounding (the plain "int8", and StochasticRounding(dtype,
# key=None)): the bits of each stored value hash its flat position, its new
# value and four entries of the step's first gradient leaf. Here that leaf
# ("a") is sharded, so the four entries are read across shards; the flat
# positions of a shard are its global ones.
KEYLESS = {
    "int8": "int8",
    "bfloat16+keyless": rj.StochasticRounding("bfloat16", key=None),
}


def _keyless_problem():
    params, _ = _problem()
    params = {"a": params["w"], "v": params["v"], "z": params["b"]}
    return params, [
        jax.tree.map(lambda p, k=k: jnp.sin((3 + k) * p) + 0.1 * k, params)
        for k in range(3)
    ]


def _keyless_steps(tx, params, grads, state, jit=jax.jit):
    step = jit(lambda g, s, p: tx.update(g, s, p))
    states = []
    for g in grads:
        updates, state = step(g, state, params)
        params = optax.apply_updates(params, updates)
        states.append(state)
    return params, states


def _assert_same_bits(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("layout", ["sharded", "zero1"])
@pytest.mark.parametrize("storage", list(KEYLESS))
def multidevice_keyless_stochastic_state_has_the_single_device_bits(
    mesh, storage, layout
):
    """Three steps of adam (both moments stored) with a keyless state,
    sharded like its parameters or ZeRO-1 (parameters replicated, state
    sharded): every stored value, the codes and scales or bfloat16 bits, and
    the parameters are those of the same steps on one device, bit for bit."""
    tx = rj.adam(0.01, state_dtype=KEYLESS[storage])
    params, grads = _keyless_problem()
    one = jax.devices()[0]
    on_one = jax.device_put((params, grads), one)
    single_params, single = _keyless_steps(tx, on_one[0], on_one[1], tx.init(on_one[0]))
    if layout == "sharded":
        params, grads = _put(params, mesh), [_put(g, mesh) for g in grads]
    else:
        replicated = NamedSharding(mesh, P())
        params = jax.device_put(params, replicated)
        grads = [jax.device_put(g, replicated) for g in grads]
    state = _put(tx.init(params), mesh)
    jit = functools.partial(
        jax.jit,
        out_shardings=(
            jax.tree.map(lambda a: a.sharding, params),
            jax.tree.map(lambda a: a.sharding, state),
        ),
    )
    got_params, got = _keyless_steps(tx, params, grads, state, jit)
    # what crosses devices: the fingerprint's few uint32 scalars, nothing more
    hlo = jax.jit(tx.update).lower(grads[0], state, params).compile().as_text()
    for line in hlo.splitlines():
        op = re.search(r"= (.*?) (" + "|".join(COLLECTIVES) + r")\(", line)
        if op:
            shapes = re.findall(r"\w+\[([\d,]*)\]", op.group(1))
            assert all(
                math.prod(map(int, filter(None, d.split(",")))) <= 1 for d in shapes
            ), line
    stored = [s for s in jax.tree.leaves(got[-1]) if s.size >= 4096]
    assert stored and all(_sharded_by_rows(s, mesh) for s in stored if s.ndim)
    for a, b in zip(got, single, strict=True):
        _assert_same_bits(a, b)
    _assert_same_bits(got_params, single_params)
