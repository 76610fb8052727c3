r"""Stochastic rounding of a float32 value to a narrower float dtype.

A value :math:`x` between two neighbours :math:`a < x < b` of the storage
dtype is stored as :math:`b` with probability :math:`(x - a)/(b - a)` and as
:math:`a` otherwise, so that the stored value is :math:`x` in expectation.
Rounded to nearest, an update smaller than half the gap is lost every time
(an EMA at decay 0.999 in bfloat16 stops moving once its step is below
2⁻⁹ of its value); rounded stochastically it moves by the right amount on
average (Gupta et al. 2015, *Deep Learning with Limited Numerical
Precision*; Zamirai et al. 2020, *Revisiting BFloat16 Training*).

The random bits are 16 per element: the top half of a 32-bit integer hash
(two rounds of MurmurHash3's finaliser) of the element's flat index and two
32-bit seeds drawn from a ``jax.random`` key the caller keeps in its state,
so the transformation stays a pure function. A counter-based hash is what
llm.c's stochastic rounding does (SquirrelNoise5 of the index and a seed);
it is elementwise, so XLA fuses it into the update (``jax.random.bits`` of
the whole leaf, threefry, costs several times the update on CPU). The
probability is resolved to :math:`2^{-16}` of a gap, a bias at most
:math:`2^{-16}` of a gap. Keyless (:func:`hashed_noise`), the seeds are the
bit patterns of the values being rounded and a :func:`fingerprint` of the
step's gradients.

* bfloat16 is float32 with its 16 low mantissa bits dropped: adding 16
  random bits to the float32 bit pattern and truncating rounds up exactly
  when the random bits carry into the kept bits (as PyTorch users do it,
  pytorch/pytorch#120376; torchao's low-bit optimizers do the same). Signs,
  infinities and NaNs are preserved; a value within a gap of the largest
  finite bfloat16 may round up to infinity, as to nearest.
* other dtypes (float16, float8, ...): the nearest value :math:`r`, its
  neighbour :math:`r'` on the other side of :math:`x` (``nextafter``), and
  :math:`r'` with probability :math:`|x - r| / |r' - r|`. Where the
  neighbour is infinite (:math:`x` beyond the largest finite value) the
  nearest value is kept.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

NOISE_BITS = 16
"""Random bits per element."""


def _mix(h: jax.Array) -> jax.Array:
    """MurmurHash3's 32-bit finaliser (a bijection with full avalanche)."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def noise(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``NOISE_BITS`` uniformly random bits per element (uint32 below
    :math:`2^{16}`), a hash of the flat index and two seeds from the typed
    PRNG ``key``."""
    seeds = jax.random.bits(key, (2,), jnp.uint32)
    size = math.prod(shape)
    index = jax.lax.iota(jnp.uint32, size).reshape(shape)
    h = _mix(_mix(index ^ seeds[0]) + seeds[1])
    return h >> (32 - NOISE_BITS)


def fingerprint(tree: Any) -> jax.Array:
    """A uint32 scalar that changes whenever ``tree`` does, in practice: a
    hash of the bit patterns of four elements (first, at a third, at two
    thirds, last) of its first non-empty array leaf; 0 for a tree without
    one. Reading four scalars, it costs nothing next to a step."""
    h = jnp.uint32(0)
    for leaf in jax.tree.leaves(tree):
        if not hasattr(leaf, "dtype") or leaf.size == 0:
            continue
        flat = jnp.ravel(leaf)
        if jnp.issubdtype(flat.dtype, jnp.complexfloating):
            flat = jnp.real(flat)
        if flat.dtype.itemsize != 4:
            flat = flat.astype(jnp.float32)
        pattern = jax.lax.bitcast_convert_type(flat, jnp.uint32)
        for i in sorted({0, flat.size // 3, 2 * flat.size // 3, flat.size - 1}):
            h = _mix(h ^ pattern[i])
        return h
    return h


def hashed_noise(x: jax.Array, salt: int, step: jax.Array) -> jax.Array:
    """``NOISE_BITS`` random-looking bits per element (uint32 below
    :math:`2^{16}`) with no key: a hash of the flat index, ``salt`` (a
    Python int), ``step`` (a uint32 scalar, e.g. the :func:`fingerprint` of
    the step's gradients) and the bit pattern of ``x`` (float32, the values
    about to be rounded). Deterministic and keyless. Hashing an element's
    own value alone, a weight whose new value repeats (an EMA of a gradient
    near zero: nearly the same decay every step) would draw the same bits
    every time and stall; ``step`` makes them fresh at every step whose
    gradients differ."""
    pattern = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.uint32)
    index = jax.lax.iota(jnp.uint32, x.size).reshape(x.shape)
    seed = jnp.uint32(salt & 0xFFFFFFFF) + step.astype(jnp.uint32)
    h = _mix(_mix(index + seed) ^ pattern)
    return h >> (32 - NOISE_BITS)


def to_float(x: jax.Array, dtype: Any, bits: jax.Array) -> jax.Array:
    """``x`` stochastically rounded to the float ``dtype`` using ``bits``
    (uint32 below :math:`2^{16}`, shaped like ``x``)."""
    dtype = jnp.dtype(dtype)
    x = x.astype(jnp.float32)
    if dtype == jnp.bfloat16:
        pattern = jax.lax.bitcast_convert_type(x, jnp.uint32)
        kept = (pattern + bits) & jnp.uint32(0xFFFF0000)
        return jax.lax.bitcast_convert_type(kept, jnp.float32).astype(dtype)
    nearest = x.astype(dtype)
    back = nearest.astype(jnp.float32)
    error = x - back
    toward = jnp.where(error > 0, jnp.inf, -jnp.inf).astype(dtype)
    other = jnp.nextafter(nearest, toward)
    gap = other.astype(jnp.float32) - back  # same sign as error, or 0 or inf
    # P(other) = error / gap in [0, 1/2]; a uniform u < it with u = bits/2^16
    threshold = jnp.where(jnp.isfinite(gap) & (gap != 0), error / gap, 0)
    uniform = bits.astype(jnp.float32) * 2.0**-NOISE_BITS
    return jnp.where(uniform < threshold, other, nearest)
