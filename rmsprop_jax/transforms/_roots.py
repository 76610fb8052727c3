r"""Arithmetic on the roots of second moments, without squares that overflow.

Second moments are kept as their *roots*: a state holds :math:`r = \sqrt{s}`,
and an EMA step :math:`s_t = s_{t-1} + a (g_t^2 - s_{t-1})` is taken on
squares scaled by :math:`\max(r, |g|)` (:func:`root_ema_step`), so no finite
gradient overflows it (:math:`g^2` does above about 1.8e19 in float32; the
root of a mean of squares never exceeds the largest :math:`|g|`). The
weights :math:`1-a` and :math:`a` sum to 1 exactly and each step's change is
rounded into :math:`r` once, so a long float32 run stays as close to float64
as the raw EMA of squares (closer than optax's at :math:`\beta` near 1,
whose rounded :math:`\beta` and :math:`1-\beta` do not sum to 1). The
variance of centred RMSprop is :math:`(r - |m|)(r + |m|)` (:func:`spread`),
without the cancellation of :math:`s - m^2`.

With bias correction the state keeps :math:`\hat r_t = r_t /
\sqrt{1-\beta^t}`, stepped with the corrected rates of :func:`._ema.ema_rates`:
the first step is exact in floating point (:math:`a_1 = 1`, so :math:`\hat
r_1 = |g_1|`), where dividing a rounded :math:`\sqrt{1-\beta}\,|g_1|` by a
rounded :math:`\sqrt{1-\beta}` is off by up to two roundings.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from rmsprop_jax.transforms._ema import EmaRates
from rmsprop_jax.transforms._scalars import scalar


@jax.custom_jvp
def sqrt0(x: jax.Array) -> jax.Array:
    """``jnp.sqrt(x)``, whose derivative at ``x = 0`` is taken as 0 (not inf).

    Where a root of something identically 0 appears (the variance of a
    weight whose gradient is always 0, a moment that one step sets to 0),
    the chain rule multiplies inf by a zero tangent and meta-gradients
    (``jax.grad`` with respect to a learning rate or decay) come out NaN;
    the derivative there is 0. The same values as ``jnp.sqrt``, with no
    extra work outside differentiation.
    """
    return jnp.sqrt(x)


@sqrt0.defjvp
def _sqrt0_jvp(primals: tuple, tangents: tuple) -> tuple:
    (x,), (t,) = primals, tangents
    y = jnp.sqrt(x)
    positive = x > 0
    return y, jnp.where(positive, t / (2 * jnp.where(positive, y, 1)), 0)


def power_of_two_scale(*values: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""``(k, 1/k)``, exact powers of two with :math:`k m \in [1, 2)` for the
    largest magnitude :math:`m = \max_i |v_i|` of ``values`` when it is
    normal (``[1, 4)`` at the top binade, ``< 1`` below the smallest normal),
    read from the exponent bits: each value's exponent field (an ``and``,
    which also drops the sign), their integer maximum, a clamp and a
    subtraction: no division, and no floating-point maximum (which, letting
    NaN win, is three instructions on x86 to the integer one). Scaling by
    them is exact, so :math:`(k v)^2` never leaves the range; infinities and
    NaN give finite factors (and stay what they are when scaled)."""
    dtype = values[0].dtype
    info = jnp.finfo(dtype)
    nmant = info.nmant
    bias = 2 ** (info.nexp - 1) - 1
    int_type = jnp.int64 if info.bits == 64 else jnp.int32
    field = ((1 << info.nexp) - 1) << nmant
    exponents = [lax.bitcast_convert_type(v, int_type) & field for v in values]
    exponent = functools.reduce(jnp.maximum, exponents)
    # biased exponents in [1, 2 bias - 1]: both k and 1/k normal
    exponent = jnp.clip(exponent, 1 << nmant, (2 * bias - 1) << nmant)
    k = lax.bitcast_convert_type(((2 * bias) << nmant) - exponent, dtype)
    return k, lax.bitcast_convert_type(exponent, dtype)


def hypot(x: jax.Array, y: jax.Array) -> jax.Array:
    """``sqrt(x**2 + y**2)`` without overflow or underflow of the squares.

    Both are scaled by the exact power of two of :func:`power_of_two_scale`
    that brings the larger to [1, 2), squared and added there, and the root
    scaled back: one square root, no division. NaN in, NaN out; an infinite
    input gives inf.
    """
    k, unscale = power_of_two_scale(x, y)
    a, b = _kept_apart(x * k, y * k)
    return sqrt0(a * a + b * b) * unscale


def _kept_apart(*scaled: jax.Array) -> tuple[jax.Array, ...]:
    """``scaled`` as they are, behind ``lax.optimization_barrier``: XLA
    squares each product ``v k`` as it is. Without it, in a program that also
    squares ``v`` itself (several unrolled steps under ``jax.jit``: one
    step's divide squares the root that the next step rescales), XLA's
    simplifier rewrote ``(v k)(v k)`` as ``(v v)(k k)``, which is inf times 0
    (NaN) where ``v = 0`` (``k`` is then near the largest power of two) and
    overflows where ``v**2`` does: the very squares the scaling exists to
    avoid. The barrier costs no pass (the step's fusions are the same) and
    no rounding."""
    return lax.optimization_barrier(scaled)


def root_ema_step(root: jax.Array, g: jax.Array, rates: EmaRates) -> jax.Array:
    r"""The root of one EMA step of squares, :math:`\sqrt{r^2 + a (g^2 -
    r^2)}`, without forming a square that could overflow.

    Both :math:`r` and :math:`g` are first scaled by the exact power of two
    :math:`k` of :func:`power_of_two_scale` that brings :math:`M = \max(r,
    |g|)` to :math:`[1, 2)`: the squares :math:`x^2 = (kr)^2` and :math:`y^2 =
    (kg)^2` stay below 16, the step is the usual EMA of squares, :math:`s = x^2
    + a (y^2 - x^2)` (from the nearer end, :math:`y^2 - (1-a)(y^2 - x^2)`, for
    :math:`a \ge 1/2`, as :func:`._ema.ema_step`), and the root
    :math:`\sqrt{s}/k` is scaled back exactly. Multiplications and integer
    operations only, and one square root. The weights :math:`1-a` and
    :math:`a` sum to 1 exactly, so a constant input is a fixed point and a long
    float32 run at :math:`\beta = 0.99999` stays close to float64; :math:`a =
    1` gives :math:`|g|` exactly (the root of a rounded square is the number).
    No finite input overflows or underflows; NaN in, NaN out.
    """
    k, unscale = power_of_two_scale(root, g)
    x, y = _kept_apart(root * k, g * k)
    x2, y2 = x * x, y * y
    # From the nearer end: x2 + a (y2 - x2), or y2 + (a - 1)(y2 - x2) for a
    # rate of at least 1/2 (a - 1 is then exact); the choice is a scalar's, so
    # only the start is selected element by element.
    rate = rates.rate
    low = rate < 0.5
    s = jnp.where(low, x2, y2) + jnp.where(low, rate, rate - 1) * (y2 - x2)
    if rates.extra is not None:  # the old square's extra weight (corrected t = 1)
        s = s + rates.extra * x2
    return sqrt0(s) * unscale


def root(rms: jax.Array, eps: ArrayLike, *, eps_in_sqrt: bool) -> jax.Array:
    """``sqrt(rms**2 + eps)``, or ``rms + eps`` with eps outside the root.

    ``rms`` is the root of a second moment (see the module docstring). With eps
    inside, ``rms**2`` would overflow above ``sqrt(max)`` (1.8e19 in float32):
    there ``rms`` itself is the root, to rounding for any ``eps`` below
    ``max * 2**-mantissa_bits`` (2e31 in float32), and no division is spent on
    a hypot.
    """
    e = scalar(eps, rms.dtype)
    if not eps_in_sqrt:
        return rms + e
    limit = float(np.sqrt(jnp.finfo(rms.dtype).max)) / 2
    return jnp.where(rms > limit, rms, sqrt0(rms * rms + e))


def _overflow_scale(rms: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(c, 1/c)``: 1 and 1 where ``rms**2`` is finite, else an exact power of
    two (``2**-(max_exponent/2)``) that brings it back in range."""
    info = jnp.finfo(rms.dtype)
    half = info.maxexp // 2
    big = rms > float(np.sqrt(info.max)) / 2
    return jnp.where(big, 2.0**-half, 1.0), jnp.where(big, 2.0**half, 1.0)


@jax.custom_jvp
def _at_least_zero(x: jax.Array) -> jax.Array:
    """``max(x, 0)`` as the integer maximum of the bits with 0: one
    instruction, where a floating-point maximum that lets NaN win is three on
    x86. A negative NaN becomes 0 (a positive one stays): only for a factor
    whose product with a NaN-carrying partner keeps the NaN. Its derivative
    is ``jnp.maximum(x, 0)``'s (a bit cast has none: meta-gradients through
    a centred root need it)."""
    int_type = {16: jnp.int16, 32: jnp.int32, 64: jnp.int64}[jnp.finfo(x.dtype).bits]
    bits = lax.bitcast_convert_type(x, int_type)
    return lax.bitcast_convert_type(jnp.maximum(bits, 0), x.dtype)


@_at_least_zero.defjvp
def _at_least_zero_jvp(
    primals: tuple[jax.Array], tangents: tuple[jax.Array]
) -> tuple[jax.Array, jax.Array]:
    (x,), (t,) = primals, tangents
    _, dx = jax.jvp(lambda v: jnp.maximum(v, 0), (x,), (t,))
    return _at_least_zero(x), dx


def _variance(rms: jax.Array, mean: jax.Array, c: jax.Array) -> jax.Array:
    """``c**2 (rms**2 - mean**2)`` as ``(c (rms - |m|)) (c (rms + |m|))``,
    clamped at 0: no cancellation of two squares. (A NaN in either input is
    NaN in ``rms + mean``, so the product stays NaN.)"""
    return (_at_least_zero(rms - mean) * c) * ((rms + mean) * c)


def spread(rms: jax.Array, mean: jax.Array) -> jax.Array:
    """``sqrt(rms**2 - mean**2)`` (``mean >= 0``) from ``(rms - m)(rms + m)``,
    scaled by an exact power of two where that product would overflow: one
    square root, no cancellation of two squares."""
    c, unscale = _overflow_scale(rms)
    return sqrt0(_variance(rms, mean, c)) * unscale


def centered_root(
    rms: jax.Array, mean: jax.Array, eps: ArrayLike, *, eps_in_sqrt: bool
) -> jax.Array:
    """``root(spread(rms, mean), eps)`` with one square root: ``sqrt(rms**2 -
    mean**2 + eps)``, or ``sqrt(rms**2 - mean**2) + eps`` with eps outside."""
    if not eps_in_sqrt:
        return spread(rms, mean) + scalar(eps, rms.dtype)
    c, unscale = _overflow_scale(rms)
    e = scalar(eps, rms.dtype)
    return sqrt0(_variance(rms, mean, c) + e * (c * c)) * unscale


def with_eps_root(state: Any, eps_root: ArrayLike) -> Any:
    """``state`` with its roots ``r`` replaced by ``sqrt(r**2 + eps_root)``
    (``hypot(r, sqrt(eps_root))``: no square to overflow); ``state`` itself
    for the literal 0. (``hypot(r, 0)`` is ``r`` exactly, so a traced 0, as
    ``inject_hyperparams`` passes it, gives the same values.)"""
    if type(eps_root) in (int, float) and eps_root == 0:
        return state

    def leaf(r: jax.Array) -> jax.Array:
        return hypot(r, sqrt0(scalar(eps_root, r.dtype)))

    return state._replace(rms=jax.tree.map(leaf, state.rms))
