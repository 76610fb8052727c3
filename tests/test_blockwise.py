"""The block-wise 8-bit codec of ``state_dtype="int8"`` against independent references.

References: ml_dtypes' ``float8_e4m3fn`` conversion (the signed magnitude code
has its layout, shifted by 8 binades), and a brute-force nearest-value search
over the 256 values of the unsigned code written out in float64 NumPy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from rmsprop_jax import _blockwise as bw


def _unsigned_table() -> np.ndarray:
    """Values of the 256 unsigned codes, from the format's definition."""
    codes = np.arange(256)
    e, m = codes >> 4, codes & 15
    return np.where(e == 0, m * 2.0**-18, (1 + m / 16) * 2.0 ** (e - 15))


def _nearest_even(y: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Index of the nearest table value, ties to the even index (float64)."""
    distance = np.abs(y[:, None] - table[None, :])
    best = distance.min(axis=1, keepdims=True)
    ties = distance == best
    index = np.where(ties, np.arange(table.size), 10**6)
    first = index.min(axis=1)
    even = np.where(
        ties & (np.arange(table.size) % 2 == 0), np.arange(table.size), 10**6
    )
    return np.where(ties.sum(axis=1) > 1, even.min(axis=1), first)


def _grid(largest: float) -> np.ndarray:
    """Every code value, the midpoints between neighbours (ties), and random
    points, in float32, from 0 to ``largest``."""
    table = np.unique(np.concatenate([_unsigned_table(), _signed_table()]))
    table = table[table <= largest]
    mids = (table[1:] + table[:-1]) / 2
    rng = np.random.default_rng(0)
    spread = 10.0 ** rng.uniform(-7, np.log10(largest), 4000)
    points = np.concatenate([table, mids, spread, np.nextafter(mids, 0), [largest]])
    return points.astype(np.float32)


def _signed_table() -> np.ndarray:
    codes = np.arange(128)
    e, m = codes >> 3, codes & 7
    return np.where(e == 0, m * 2.0**-17, (1 + m / 8) * 2.0 ** (e - 15))


def test_unsigned_code_is_the_nearest_value_ties_to_even() -> None:
    y = _grid(bw._UNSIGNED.largest)
    ours = np.asarray(bw._encode_magnitude(jnp.asarray(y), bw._UNSIGNED))
    np.testing.assert_array_equal(
        ours, _nearest_even(y.astype(np.float64), _unsigned_table())
    )


def test_signed_magnitude_code_is_float8_e4m3fn_shifted() -> None:
    # float8_e4m3fn: (1 + m/8) 2**(e - 7); ours (1 + m/8) 2**(e - 15): the same
    # bits for y * 2**8 (up to 448, the largest finite e4m3fn value).
    y = _grid(448.0 / 2**8)
    ours = np.asarray(bw._encode_magnitude(jnp.asarray(y), bw._SIGNED))
    reference = (y * 2.0**8).astype(ml_dtypes.float8_e4m3fn).view(np.uint8)
    np.testing.assert_array_equal(ours, reference)


@pytest.mark.parametrize(
    "fmt,table", [("unsigned", _unsigned_table), ("signed", _signed_table)]
)
def test_decode_gives_every_code_value(fmt: str, table) -> None:
    f = bw._UNSIGNED if fmt == "unsigned" else bw._SIGNED
    values = table()
    codes = jnp.arange(values.size, dtype=jnp.int32)
    np.testing.assert_array_equal(
        np.asarray(bw._decode_magnitude(codes, f)), values.astype(np.float32)
    )
    assert f.largest == values.max()


def _wide(shape: tuple[int, ...], seed: int, signed: bool) -> jax.Array:
    """Magnitudes log-uniform over 8 decades, some exact zeros."""
    rng = np.random.default_rng(seed)
    x = 10.0 ** rng.uniform(-8, 0, shape)
    x[rng.random(shape) < 0.05] = 0.0
    if signed:
        x *= rng.choice([-1.0, 1.0], shape)
    return jnp.asarray(x, jnp.float32)


@pytest.mark.parametrize("signed", [False, True])
def test_round_trip_error_bounds(signed: bool) -> None:
    x = _wide((64, 1000), 1, signed)
    stored = bw.encode(x, signed)
    y = np.asarray(bw.decode(stored), np.float64)
    x64 = np.asarray(x, np.float64)
    fmt = bw._SIGNED if signed else bw._UNSIGNED
    blocks = np.asarray(bw._to_blocks(x, 0, bw.BLOCK_SIZE))
    absmax = np.abs(blocks).max(axis=-1)
    scale = np.repeat(absmax / fmt.largest, bw.BLOCK_SIZE, axis=-1)[:, :1000]
    # Normal range: half a step relative (plus the float32 rounding of the
    # scale and of the product); subnormal range: half a subnormal step.
    relative = 2.0 ** -(fmt.mantissa_bits + 1) * (1 + 2e-6) + 2e-7
    sub_step = 2.0 ** (-14 - fmt.mantissa_bits) * scale
    bound = np.maximum(relative * np.abs(x64), sub_step / 2 * (1 + 1e-6))
    if not signed:  # a positive below half the smallest step is raised to it
        bound = np.maximum(bound, np.where(x64 > 0, sub_step * (1 + 1e-6), 0))
    assert np.all(np.abs(y - x64) <= bound)
    np.testing.assert_array_equal(y[x64 == 0], 0.0)
    assert np.all(y * x64 >= 0)  # no sign flips (a signed tiny value may become 0)
    if not signed:
        assert np.all(y[x64 > 0] > 0)


def test_block_maximum_is_kept_to_float32_rounding() -> None:
    x = _wide((8, 512), 2, True)
    y = bw.decode(bw.encode(x, True))
    blocks, back = bw._to_blocks(x, 0, 256), bw._to_blocks(y, 0, 256)
    i = jnp.argmax(jnp.abs(blocks), axis=-1, keepdims=True)
    top, top_back = jnp.take_along_axis(blocks, i, -1), jnp.take_along_axis(back, i, -1)
    np.testing.assert_allclose(top_back, top, rtol=3e-7)


def test_zero_is_exact_and_a_zero_block_has_scale_zero() -> None:
    x = jnp.zeros((2, 512)).at[0, 3].set(5.0).at[1, 300].set(-1e-3)
    for signed in (False, True):
        stored = bw.encode(jnp.abs(x) if not signed else x, signed)
        np.testing.assert_array_equal(stored.scales[0, 1], 0.0)
        y = bw.decode(stored)
        assert int(jnp.count_nonzero(y)) == 2
        np.testing.assert_array_equal(np.asarray(y)[np.asarray(x) == 0], 0.0)


def test_sign_is_symmetric_and_stored_as_negated_code() -> None:
    x = _wide((4096,), 3, True)
    plus, minus = bw.encode(x, True), bw.encode(-x, True)
    np.testing.assert_array_equal(minus.codes, -plus.codes)
    np.testing.assert_array_equal(bw.decode(minus), -bw.decode(plus))
    assert plus.codes.dtype == jnp.int8 and int(jnp.min(plus.codes)) >= -127


def test_unsigned_positive_never_rounds_to_zero() -> None:
    x = jnp.zeros(4096).at[0].set(1.0).at[1].set(1e-12).at[2].set(1e-30)
    stored = bw.encode(x, False)
    assert stored.codes.dtype == jnp.uint8
    y = bw.decode(stored)
    assert float(y[1]) > 0 and float(y[2]) > 0 and float(y[3]) == 0


@pytest.mark.parametrize(
    "shape,scales",
    [
        ((300,), (2,)),  # one run of 300: blocks of 256 and 44
        ((4096, 1024), (4096, 4)),
        ((3, 3, 64, 128), (3, 3, 32)),  # the run is (64, 128)
        ((10, 7), (1,)),  # smaller than a block: one block
        ((5, 256), (5, 1)),
        ((100, 257, 2), (100, 3)),  # a complex leaf's trailing (re, im)
    ],
)
def test_block_layout(shape: tuple[int, ...], scales: tuple[int, ...]) -> None:
    x = jnp.asarray(np.random.default_rng(4).normal(size=shape), jnp.float32)
    stored = bw.encode(x, True)
    assert stored.codes.shape == shape and stored.scales.shape == scales
    assert stored.scales.dtype == jnp.float32


def test_blocks_do_not_cross_their_boundaries() -> None:
    # One huge value per block must not cost the other blocks any precision;
    # the leading axes outside the run are encoded independently (what a
    # shard along them sees).
    x = _wide((6, 2, 300), 5, True)
    big = x.at[0, 0, 0].set(1e6)
    a, b = bw.encode(x, True), bw.encode(big, True)
    np.testing.assert_array_equal(a.codes[0, 0, 256:], b.codes[0, 0, 256:])
    np.testing.assert_array_equal(a.codes[1:], b.codes[1:])
    for i in range(6):
        part = bw.encode(x[i], True)
        np.testing.assert_array_equal(part.codes, a.codes[i])
        np.testing.assert_array_equal(part.scales, a.scales[i])


def test_block_size_is_a_parameter() -> None:
    x = _wide((4096,), 6, True)
    for size in (64, 1024):
        stored = bw.encode(x, True, block_size=size)
        assert stored.scales.shape == (4096 // size,)
        y = bw.decode(stored, block_size=size)
        assert float(jnp.max(jnp.abs(y - x) / jnp.maximum(jnp.abs(x), 1e-3))) < 0.07


def test_non_finite_values_poison_only_their_block() -> None:
    x = _wide((1024,), 7, True).at[5].set(jnp.nan).at[600].set(jnp.inf)
    y = np.asarray(bw.decode(bw.encode(x, True)))
    assert np.all(np.isnan(y[:256])) and np.all(np.isnan(y[512:768]))
    assert np.all(np.isfinite(y[256:512])) and np.all(np.isfinite(y[768:]))


def test_jit_and_vmap_equal_eager() -> None:
    x = _wide((3, 4096), 8, True)
    eager = [bw.encode(x[i], True) for i in range(3)]
    batched = jax.vmap(lambda v: bw.encode(v, True))(x)
    jitted = jax.jit(lambda v: bw.decode(bw.encode(v, True)))(x[0])
    for i in range(3):
        np.testing.assert_array_equal(batched.codes[i], eager[i].codes)
        np.testing.assert_array_equal(batched.scales[i], eager[i].scales)
    np.testing.assert_array_equal(jitted, bw.decode(eager[0]))
    back = jax.vmap(bw.decode)(batched)
    np.testing.assert_array_equal(back[2], bw.decode(eager[2]))


def test_empty_like_decodes_to_zeros() -> None:
    for signed in (False, True):
        stored = bw.empty_like(jnp.ones((3, 500)), signed)
        assert stored.scales.shape == (3, 2)
        np.testing.assert_array_equal(bw.decode(stored), np.zeros((3, 500)))
