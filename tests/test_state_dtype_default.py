"""The plain ``state_dtype="int8"``: 8-bit codes rounded stochastically with
no key; ``NearestRounding("int8")`` rounds them to nearest.

References, independent of the library's codec and hash: the code grid of
the documented 8-bit formats written out in NumPy (each code's value), the
two grid neighbours of every value in float64, and the documented hash
(MurmurHash3's finaliser, twice, of the flat position plus a salt of field
and leaf plus a fingerprint of four gradient entries, xor the new value's
bit pattern) re-implemented in NumPy.
"""

from __future__ import annotations

import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import regression_loss, regression_problem

import rmsprop_jax as rj
from rmsprop_jax import _blockwise, _state_dtype

M32 = 0xFFFFFFFF


def _mix(h: np.ndarray) -> np.ndarray:
    h = h.astype(np.uint64)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    return h ^ (h >> 16)


def _fingerprint(grads) -> int:
    flat = np.asarray(jax.tree.leaves(grads)[0], np.float32).ravel()
    pattern = flat.view(np.uint32)
    h = np.uint64(0)
    for i in sorted({0, flat.size // 3, 2 * flat.size // 3, flat.size - 1}):
        h = _mix(np.asarray(h ^ np.uint64(pattern[i])))
    return int(h)


def _noise(x: np.ndarray, field: str, leaf: int, step: int) -> np.ndarray:
    """The 16 random bits of each value of ``x`` (float32), as documented."""
    salt = zlib.crc32(f"{field}/{leaf}".encode())
    index = np.arange(x.size, dtype=np.uint64).reshape(x.shape)
    pattern = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    h = _mix(_mix((index + ((salt + step) & M32)) & M32) ^ pattern)
    return (h >> 16).astype(np.int64)


def _grid(signed: bool) -> np.ndarray:
    """The values of the magnitude codes 0, 1, ... (ascending): 4 exponent
    bits (bias 15) and 4 (unsigned) or 3 (signed) mantissa bits, subnormal
    below exponent 1."""
    m = 3 if signed else 4
    codes = np.arange(2 ** (4 + m))
    e, f = codes >> m, codes & (2**m - 1)
    return np.where(e == 0, f * 2.0 ** (1 - 15 - m), (1 + f / 2**m) * 2.0 ** (e - 15))


def _expected_codes(x: np.ndarray, signed: bool, noise: np.ndarray) -> np.ndarray:
    """Block-wise stochastic codes of ``x`` (blocks of 256 along the flat
    leaf): each value over its block's scale rounds up to the next grid value
    when its 16 noise bits plus the first 16 bits of its fraction of the gap
    carry (probability the fraction)."""
    grid = _grid(signed)
    blocks = np.asarray(x, np.float32).reshape(-1, 256)
    absmax = np.max(np.abs(blocks), axis=1, keepdims=True)
    inverse = np.where(absmax > 0, np.float32(grid[-1]) / absmax, 0).astype(np.float32)
    y = np.minimum(np.abs(blocks) * inverse, np.float32(grid[-1])).astype(np.float64)
    low = np.searchsorted(grid, y, side="right") - 1
    high = np.minimum(low + 1, grid.size - 1)
    gap = np.where(high > low, grid[high] - grid[low], 1.0)
    fraction = np.floor((y - grid[low]) / gap * 2.0**16)
    code = low + ((noise.reshape(blocks.shape) + fraction >= 2**16) & (high > low))
    if signed:
        code = np.where(blocks < 0, -code, code)
    else:
        code = np.where(y > 0, np.maximum(code, 1), code)
    return code.reshape(x.shape)


@pytest.mark.slow  # three optimizers' jitted steps: 5.8 s at load 7 on 2 cores
def test_plain_int8_is_keyless_stochastic_rounding_and_nearest_is_spelled():
    assert isinstance(_state_dtype.resolve("int8"), rj.StochasticRounding)
    assert _state_dtype.resolve("int8").key is None
    assert _state_dtype.resolve(rj.NearestRounding("int8")) == "int8"
    bf16 = _state_dtype.resolve(rj.NearestRounding(jnp.bfloat16))
    assert bf16 == _state_dtype.resolve("bfloat16") == jnp.dtype(jnp.bfloat16)
    params, x, y = regression_problem()
    plain = rj.adam(0.01, state_dtype="int8")
    keyless = rj.adam(0.01, state_dtype=rj.StochasticRounding("int8", key=None))
    nearest = rj.adam(0.01, state_dtype=rj.NearestRounding("int8"))
    states = [tx.init(params) for tx in (plain, keyless, nearest)]
    for other in states[1:]:  # one layout, one init, the same bytes
        assert jax.tree.structure(other) == jax.tree.structure(states[0])
        for a, b in zip(
            jax.tree.leaves(other), jax.tree.leaves(states[0]), strict=True
        ):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
    step = [jax.jit(tx.update) for tx in (plain, keyless, nearest)]
    for _ in range(3):
        grads = jax.grad(regression_loss)(params, x, y)
        new = [f(grads, s, params)[1] for f, s in zip(step, states, strict=True)]
        for a, b in zip(jax.tree.leaves(new[0]), jax.tree.leaves(new[1]), strict=True):
            np.testing.assert_array_equal(a, b)  # "int8" is the keyless form
        states = new
    rms = [s[0].rms.rms["w"].codes for s in states]
    assert not np.array_equal(rms[0], rms[2])  # and differs from nearest


@pytest.mark.parametrize(
    "factory, field, signed",
    [
        (lambda sd: rj.rmsprop(0.01, 0.99, state_dtype=sd), "rms", False),
        (lambda sd: rj.sgd(0.05, momentum=0.9, state_dtype=sd), "trace", True),
    ],
    ids=["rmsprop", "sgd_momentum"],
)
def test_default_int8_codes_are_the_documented_stochastic_rounding(
    factory, field, signed
):
    """Four steps of the plain ``"int8"``: each stored code is one of the
    two grid neighbours of the float32 step's value (on the decoded state),
    the one the documented hash picks (all but a few values a float32 ulp
    apart in the two programs: their hash differs), and over the leaf the
    codes are unbiased: the mean stored value is the float32 one to
    3 % of the mean gap (5 standard deviations of that mean)."""
    params, x, y = regression_problem()
    low, ref = factory("int8"), factory(None)
    state = low.init(params)
    update, ref_update = jax.jit(low.update), jax.jit(ref.update)
    for _ in range(4):
        grads = jax.grad(regression_loss)(params, x, y)
        floats = _state_dtype.decoded(state)
        updates, state = update(grads, state, params)
        want = np.asarray(getattr(ref_update(grads, floats, params)[1][0], field)["w"])
        stored = getattr(state[0], field)["w"]
        assert isinstance(
            stored, _blockwise.SignedBlocks if signed else _blockwise.UnsignedBlocks
        )
        codes = np.asarray(stored.codes, np.int64)
        noise = _noise(want, field, 1, _fingerprint(grads))
        expected = _expected_codes(want, signed, noise)
        assert np.mean(codes != expected) <= 0.002
        assert np.max(np.abs(codes - expected)) <= 1
        scale = np.abs(want).reshape(-1, 256).max(axis=1) / _grid(signed)[-1]
        np.testing.assert_allclose(stored.scales.ravel(), scale, rtol=1e-6)
        # unbiased: the stored values average the float32 ones
        value = np.asarray(_blockwise.decode(stored), np.float64)
        gap = np.mean(np.abs(want)) * 2.0 ** -(3 if signed else 4)
        assert abs(np.mean(value - want)) < 0.03 * gap
        params = jax.tree.map(lambda p, u: p + u, params, updates)


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("int8_nearest", "did you mean NearestRounding('int8')"),
        ("int8-rn", "did you mean NearestRounding('int8')"),
        (rj.NearestRounding("int4"), "did you mean 'int8'"),
        (rj.NearestRounding(jnp.int8), "did you mean 'int8' (the string"),
        (rj.NearestRounding(None), "'int8' (block-wise 8-bit) or a floating dtype"),
    ],
)
def test_bad_nearest_rounding_names_the_argument_value_and_allowed(value, fragment):
    for factory in (rj.rmsprop, rj.adam, rj.scale_by_rms):
        with pytest.raises(ValueError) as error:
            factory(state_dtype=value)
        message = str(error.value)
        assert "state_dtype" in message and fragment in message


def test_nearest_rounding_bytes_equal_the_plain_names():
    params = {"w": jax.ShapeDtypeStruct((1024, 1024), jnp.float32)}

    def size(sd):
        shapes = jax.eval_shape(rj.adam(0.01, state_dtype=sd).init, params)
        return sum(a.size * a.dtype.itemsize for a in jax.tree.leaves(shapes))

    assert size(rj.NearestRounding("int8")) == size("int8")
    assert size(rj.NearestRounding("bfloat16")) == size("bfloat16")
    assert size("int8") / 2**20 <= 2.20
