r"""Block-wise 8-bit storage of a float accumulator: the ``state_dtype="int8"`` codec.

A leaf is cut into *blocks*: contiguous runs of :data:`BLOCK_SIZE` elements of
the flattened leaf that never cross the boundary of its *trailing run*, the
smallest group of trailing axes holding at least :data:`BLOCK_SIZE` elements
(the whole leaf if it is smaller). A ``(4096, 1024)`` leaf has 4 blocks per
row; a ``(3, 3, 64, 128)`` kernel has 32 blocks per ``(64, 128)`` slice; a
``(300,)`` vector has 2 blocks, of 256 and 44. So the leading axes outside the
run split a leaf into whole blocks, and a leaf sharded along them is
quantized shard by shard (a block never straddles a shard); an axis inside
the run may be sharded too where its shards hold whole blocks.

Each block keeps one float32 ``scale`` (its largest magnitude over the code's
largest value) and each element one byte, the *code* of its value over the
scale: a minifloat (an exponent and a mantissa, like IEEE floats, with
gradual underflow), so that the relative precision is the same over many
binades of a block, as a second moment's spread of magnitudes needs:

* unsigned (non-negative fields: second-moment roots, Rprop's step sizes):
  4 exponent bits and 4 mantissa bits, values
  :math:`(1 + m/16)\,2^{e-15}` for :math:`e \ge 1` and :math:`m\,2^{-18}` for
  :math:`e = 0`; 16 binades (4.8 decades of the root, 9.6 of the second
  moment itself) at a relative precision of :math:`2^{-5}` (half a step), and
  a positive value never rounds to zero (it is raised to the smallest code:
  a root rounded to zero would turn the next step into a first step,
  :math:`1/\sqrt{1-\beta}` times larger).
* signed (first moments, momentum, Rprop's last step): a sign and a 7-bit
  magnitude of 4 exponent and 3 mantissa bits (the layout of
  ``float8_e4m3``), values :math:`\pm(1 + m/8)\,2^{e-15}`, stored as a two's
  complement ``int8`` of the magnitude code (so ``-x`` is stored as ``-c``).

Code 0 is exactly zero, whatever the scale: a zero stays zero, and a block of
zeros has scale 0. Rounding is to the nearest code, ties to even. Encoding
and decoding are integer and bit operations on float32 element by element (no
table lookup), which XLA fuses with the update around them. A block holding
a NaN or an infinity decodes to NaN.

The layout of the float bits: a float32 ``y`` in the normal range of the code
has the code's exponent and mantissa as its own top bits, so rounding its
bit pattern to the code's mantissa width (adding half a step and the
round-to-even bit) and shifting gives the code; below the code's normal range
the code is ``round(y / smallest step)``.

Cf. bitsandbytes' block-wise dynamic quantization (Dettmers et al. 2022,
*8-bit Optimizers via Block-wise Quantization*), whose codes are a sorted
table of 256 values searched per element; its signed map's 7 decades are
denser near the block's maximum and coarser below 1e-3 of it.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rmsprop_jax import _rounding

BLOCK_SIZE = 256
"""Elements per block (bitsandbytes' CPU and GPU kernels allow 64 to 4096)."""

MIN_QUANTIZED_SIZE = 4096
"""Leaves with fewer elements stay in float (as bitsandbytes' ``min_8bit_size``):
their bytes are negligible and they are often biases and norms."""

_EXPONENT_BITS = 4
_BIAS = 15


class _Format(NamedTuple):
    mantissa_bits: int
    largest: float  # the largest value of the code: a block's max maps onto it


def _format(mantissa_bits: int) -> _Format:
    top = 2**_EXPONENT_BITS - 1
    largest = (2 - 2.0**-mantissa_bits) * 2.0 ** (top - _BIAS)
    return _Format(mantissa_bits, largest)


_UNSIGNED = _format(4)
_SIGNED = _format(3)


class UnsignedBlocks(NamedTuple):
    """A non-negative float leaf stored in 8 bits, block-wise (see
    :mod:`rmsprop_jax._blockwise`)."""

    codes: jax.Array  # uint8, the leaf's shape
    scales: jax.Array  # float32, leading axes + (blocks of the trailing run,)


class SignedBlocks(NamedTuple):
    """A signed float leaf stored in 8 bits, block-wise."""

    codes: jax.Array  # int8, the leaf's shape
    scales: jax.Array  # float32, leading axes + (blocks of the trailing run,)


Blocks = UnsignedBlocks | SignedBlocks


def layout(shape: tuple[int, ...], block_size: int = BLOCK_SIZE) -> tuple[int, int]:
    """``(lead, run)``: the number of leading axes outside the trailing run,
    and the run's number of elements."""
    run = 1
    lead = len(shape)
    while lead > 0 and run < block_size:
        lead -= 1
        run *= shape[lead]
    return lead, run


def _to_blocks(x: jax.Array, fill: Any, block_size: int) -> jax.Array:
    """``x`` as ``leading axes + (blocks, block_size)``, the last block padded."""
    lead, run = layout(x.shape, block_size)
    blocks = -(-run // block_size)
    flat = x.reshape(x.shape[:lead] + (run,))
    pad = blocks * block_size - run
    if pad:
        widths = [(0, 0)] * lead + [(0, pad)]
        flat = jnp.pad(flat, widths, constant_values=fill)
    return flat.reshape(x.shape[:lead] + (blocks, block_size))


def _from_blocks(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    lead, run = layout(shape, x.shape[-1])
    flat = x.reshape(x.shape[:-2] + (-1,))[..., :run]
    return flat.reshape(shape)


def _encode_magnitude(
    y: jax.Array, fmt: _Format, noise: jax.Array | None = None
) -> jax.Array:
    """Codes (int32) of ``0 <= y <= fmt.largest``: to nearest, ties to even;
    or, given ``noise`` (uniform integers below ``2**_rounding.NOISE_BITS``),
    stochastically: up with probability the fraction of a step."""
    drop = 23 - fmt.mantissa_bits  # float32 mantissa bits below the code's
    bits = jax.lax.bitcast_convert_type(y, jnp.int32)
    step = 2.0 ** (1 - _BIAS - fmt.mantissa_bits)  # the subnormal step
    if noise is None:
        odd = (bits >> drop) & 1
        rounded = (bits + ((1 << (drop - 1)) - 1) + odd) >> drop
        subnormal = jnp.round(y * (1 / step)).astype(jnp.int32)
    else:
        noise = noise.astype(jnp.int32)
        rounded = (bits + (noise << (drop - _rounding.NOISE_BITS))) >> drop
        uniform = noise.astype(jnp.float32) * 2.0**-_rounding.NOISE_BITS
        subnormal = jnp.floor(y * (1 / step) + uniform).astype(jnp.int32)
    normal = rounded - ((127 - _BIAS) << fmt.mantissa_bits)
    smallest_normal = 2.0 ** (1 - _BIAS)
    return jnp.where(y < smallest_normal, subnormal, normal)


def _decode_magnitude(code: jax.Array, fmt: _Format) -> jax.Array:
    """float32 values of magnitude codes (int32, 0 <= code < 2**(4 + m)).

    A normal code's exponent and mantissa are contiguous, so its float32 bit
    pattern is the code shifted into the top of the mantissa plus the
    exponent's offset (one shift and one add); a subnormal code (exponent 0)
    is its mantissa, the code itself, times the subnormal step."""
    m = fmt.mantissa_bits
    normal = jax.lax.bitcast_convert_type(
        (code << (23 - m)) + ((127 - _BIAS) << 23), jnp.float32
    )
    subnormal = code.astype(jnp.float32) * (2.0 ** (1 - _BIAS - m))
    return jnp.where(code < (1 << m), subnormal, normal)


def _decode_signed(code: jax.Array) -> jax.Array:
    """float32 values of signed codes (int32, the two's complement of the
    magnitude code): :func:`_decode_magnitude` of ``|code|`` with the code's
    sign bit, and a subnormal code times the step with its sign."""
    m = _SIGNED.mantissa_bits
    magnitude = jnp.abs(code)
    bits = ((magnitude << (23 - m)) + ((127 - _BIAS) << 23)) | (code & -(2**31))
    normal = jax.lax.bitcast_convert_type(bits, jnp.float32)
    subnormal = code.astype(jnp.float32) * (2.0 ** (1 - _BIAS - m))
    return jnp.where(magnitude < (1 << m), subnormal, normal)


_LANES = 32
"""The minor axis of the block maximum's first, fused stage (see
:func:`_block_absmax`)."""


def _block_absmax(blocks: jax.Array) -> jax.Array:
    """``max |x|`` over the last axis of ``blocks`` (keepdims), in a shape
    that XLA:CPU fuses with the computation of ``blocks``.

    A plain ``jnp.max(jnp.abs(blocks), axis=-1)`` reduces the minor axis: XLA:CPU
    fuses no producer into such a reduction (nor into the XNNPACK/YNN kernel
    that takes a float maximum), so the whole decoded-and-updated state is
    written to a float32 temporary first, a fresh 4 bytes per element at every
    step. Here the block is viewed as ``(block_size / 32, 32)`` and the first
    stage reduces the *major* of the two axes, which XLA:CPU fuses with its
    producer: only ``1/8`` of a float per element is written, then reduced.
    The magnitudes are compared as the integer bit patterns of ``|x|``
    (``bits & 0x7FFFFFFF``, the same order as the floats; a NaN's pattern
    exceeds infinity's, so a block holding a NaN still gets a NaN maximum):
    an integer maximum is not taken over by XNNPACK/YNN and stays fused.
    """
    size = blocks.shape[-1]
    lanes = math.gcd(size, _LANES)
    if lanes in (1, size):
        return jnp.max(jnp.abs(blocks), axis=-1, keepdims=True)
    magnitude = jax.lax.bitcast_convert_type(blocks, jnp.int32) & 0x7FFFFFFF
    rows = magnitude.reshape(blocks.shape[:-1] + (size // lanes, lanes))
    partial = jax.lax.bitcast_convert_type(jnp.max(rows, axis=-2), jnp.float32)
    return jnp.max(partial, axis=-1, keepdims=True)


def _scales(blocks: jax.Array, fmt: _Format) -> tuple[jax.Array, jax.Array]:
    """Per block: the stored scale (max |x| / largest code) and the factor
    that maps the block onto the codes (0 for a block of zeros)."""
    absmax = _block_absmax(blocks)
    inverse = jnp.where(absmax > 0, fmt.largest / absmax, 0)
    return (absmax / fmt.largest)[..., 0], inverse


@functools.partial(jax.jit, static_argnames=("signed", "block_size"))
def encode(
    x: jax.Array,
    signed: bool,
    block_size: int = BLOCK_SIZE,
    noise: jax.Array | None = None,
) -> Blocks:
    """``x`` (float, cast to float32) in 8 bits: codes and per-block scales.

    The codes are rounded to nearest, ties to even; or stochastically, given
    ``noise`` shaped like ``x`` (uniform integers below
    ``2**_rounding.NOISE_BITS``, see :mod:`rmsprop_jax._rounding`): a value
    between two codes takes the upper one with probability its distance from
    the lower one over the gap. A block's maximum maps exactly onto the
    largest code either way.

    Jitted (one dispatch when called eagerly; inlined into an enclosing jit).
    """
    x = x.astype(jnp.float32)
    blocks = _to_blocks(x, 0, block_size)
    fmt = _SIGNED if signed else _UNSIGNED
    scales, inverse = _scales(blocks, fmt)
    # A non-finite block gets codes 0, which its scale (inf or NaN) decodes
    # to NaN. Zeros stay zeros even where the factor overflowed (a block whose
    # maximum is below ~1e-38 would give 0 * inf).
    y = jnp.minimum(jnp.abs(blocks) * inverse, fmt.largest)
    y = jnp.where(blocks == 0, 0, y)
    if noise is not None:
        noise = _to_blocks(noise, 0, block_size)
    code = _encode_magnitude(y, fmt, noise)
    code = jnp.where(jnp.isfinite(scales)[..., None], code, 0)
    if signed:
        code = jnp.where(blocks < 0, -code, code)
        return SignedBlocks(_from_blocks(code.astype(jnp.int8), x.shape), scales)
    code = jnp.where(y > 0, jnp.maximum(code, 1), code)  # nonzero stays nonzero
    return UnsignedBlocks(_from_blocks(code.astype(jnp.uint8), x.shape), scales)


@functools.partial(jax.jit, static_argnames=("block_size",))
def decode(stored: Blocks, block_size: int = BLOCK_SIZE) -> jax.Array:
    """The float32 values of ``stored`` (encoded with ``block_size``)."""
    signed = isinstance(stored, SignedBlocks)
    shape = tuple(stored.codes.shape)
    code = _to_blocks(stored.codes.astype(jnp.int32), 0, block_size)
    if signed:
        magnitude = _decode_signed(code)
    else:
        magnitude = _decode_magnitude(code, _UNSIGNED)
    values = magnitude * stored.scales[..., None]
    return _from_blocks(values, shape)


def empty_like(x: Any, signed: bool, block_size: int = BLOCK_SIZE) -> Blocks:
    """Zeros for a leaf shaped like ``x`` (codes 0, scales 0)."""
    shape = tuple(x.shape)
    lead, run = layout(shape, block_size)
    scales = jnp.zeros(shape[:lead] + (math.ceil(run / block_size),), jnp.float32)
    if signed:
        return SignedBlocks(jnp.zeros(shape, jnp.int8), scales)
    return UnsignedBlocks(jnp.zeros(shape, jnp.uint8), scales)
