r"""Arithmetic on the roots of second moments, without squares that overflow.

Second moments are kept as their *roots*: a state holds :math:`r = \sqrt{s}`,
and an EMA step :math:`s_t = s_{t-1} + a (g_t^2 - s_{t-1})` is taken on
squares scaled by :math:`r + |g|` (:func:`root_ema_step`), so no finite
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


def _ratios(x: jax.Array, y: jax.Array) -> tuple[tuple[jax.Array, ...], jax.Array]:
    r"""``((x / m, y / m), m)`` with :math:`m = x + |y|` for :math:`x \ge 0` (a
    root: no absolute value taken), clamped to at least :math:`2^{e/2}` for
    the dtype's smallest normal number :math:`2^e` (``2**-63`` in float32)
    and at most its largest finite number.

    The ratios lie in :math:`[-1, 1]` (their magnitudes sum to 1), so their
    squares never overflow, and a root scaled back by :math:`m` cannot
    overflow unless the result does. Where one input is 0 the other's ratio
    is :math:`\pm 1` exactly (a number divided by itself: the first step from
    a zero root gives :math:`|g|` to the last bit); where both are equal, both
    ratios are 1/2 exactly (a constant input is a fixed point). Otherwise the
    ratios carry the mantissas of the inputs, so their roundings do not line
    up step after step. Dividing by the larger of the two instead makes that
    one exactly 1 at every step, where the square root of :math:`1 - \delta`
    rounds the same way each time: a float32 EMA at :math:`\beta = 0.99999`
    then drifted 6e-4 from float64 over 2e5 steps, against 3e-5 this way
    (``python -m benchmarks.numerics_bounds``). The lower clamp keeps zeros
    (and the subnormals that XLA:CPU flushes to zero) from dividing 0 by 0,
    and keeps :math:`1/m^2` finite in the derivative of a ratio (``0 * inf``
    made meta-gradients through a weight whose gradient is always 0 NaN with
    :math:`m` floored at :math:`2^e`); below it the division is by a power of
    two, exact, and the ratios' squares stay normal. The upper clamp keeps
    :math:`x + |y|` finite near the largest finite inputs.

    Two divisions, an absolute value, a sum and a clamp per element: fewer
    operations than scaling by an exact power of two read from the exponent
    bits (the bit casts, masks, a clamp and a subtraction took 17 to 18 in
    the root EMA step). XLA:CPU counts every one of them against the bytes a
    loop moves and splits a loop over threads when they outnumber the bytes
    (:mod:`benchmarks.hlo_passes`). NaN in, NaN out; an infinite :math:`y`
    with a finite :math:`x` gives inf."""
    info = jnp.finfo(x.dtype)
    m = jnp.clip(x + jnp.abs(y), 2.0 ** (info.minexp // 2), float(info.max))
    return _kept_apart(x / m, y / m), m


def hypot(x: jax.Array, y: jax.Array) -> jax.Array:
    """``sqrt(x**2 + y**2)`` (``x >= 0``) without overflow or underflow of the
    squares.

    Both are divided by ``x + |y|`` (:func:`_ratios`), squared and added
    there, and the root scaled back: one square root, two divisions and 7
    more operations per element. ``hypot(x, 0)`` is ``x`` and ``hypot(0,
    y)`` is ``|y|`` exactly. NaN in, NaN out.
    """
    (a, b), m = _ratios(x, y)
    return sqrt0(a * a + b * b) * m


def _kept_apart(*scaled: jax.Array) -> tuple[jax.Array, ...]:
    """``scaled`` as they are, behind ``lax.optimization_barrier``: XLA
    squares each ratio ``v / m`` as it is. Without it, in a program that also
    squares ``v`` itself (several unrolled steps under ``jax.jit``: one
    step's divide squares the root that the next step rescales), XLA's
    simplifier may rewrite a product of two scaled values as a product of
    the values times a product of the scales, which overflows where ``v**2``
    does: the very squares the scaling exists to avoid. The barrier costs no
    pass (the step's fusions are the same) and no rounding."""
    return lax.optimization_barrier(scaled)


def root_ema_step(root: jax.Array, g: jax.Array, rates: EmaRates) -> jax.Array:
    r"""The root of one EMA step of squares, :math:`\sqrt{r^2 + a (g^2 -
    r^2)}`, without forming a square that could overflow.

    Both :math:`r \ge 0` and :math:`g` are first divided by :math:`m = r +
    |g|` (:func:`_ratios`): the squares :math:`x^2 = (r/m)^2` and :math:`y^2 =
    (g/m)^2` are at most 1, the step is the usual EMA of squares, :math:`s =
    x^2 + a (y^2 - x^2)` (from the nearer end, :math:`y^2 - (1-a)(y^2 -
    x^2)`, for :math:`a \ge 1/2`, as :func:`._ema.ema_step`), and the root is
    scaled back, :math:`m \sqrt{s}`. Two divisions, one square root and 9
    more operations per element (10 with a traced rate), fewer than the 12
    bytes the step moves: XLA:CPU then keeps the loop on one thread on small
    leaves (:mod:`benchmarks.hlo_passes`). The weights :math:`1-a` and
    :math:`a` sum to 1 exactly, so a constant input is a fixed point (both
    ratios are 1/2) and a long float32 run at :math:`\beta = 0.99999` stays
    close to float64; :math:`a = 1` from a zero start gives :math:`|g|`
    exactly (:math:`y = \pm 1`). No finite input overflows or underflows;
    NaN in, NaN out.
    """
    (x, y), m = _ratios(root, g)
    x2, y2 = x * x, y * y
    # From the nearer end: x2 + a (y2 - x2), or y2 + (a - 1)(y2 - x2) for a
    # rate of at least 1/2 (a - 1 is then exact); the choice is a scalar's, so
    # only the start is selected element by element.
    rate = rates.rate
    low = rate < 0.5
    s = jnp.where(low, x2, y2) + jnp.where(low, rate, rate - 1) * (y2 - x2)
    if rates.extra is not None:  # the old square's extra weight (corrected t = 1)
        s = s + rates.extra * x2
    return sqrt0(s) * m


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


def _variance(rms: jax.Array, mean: jax.Array, c: jax.Array) -> jax.Array:
    """``c**2 (rms**2 - mean**2)`` as ``(c (rms - |m|)) (c (rms + |m|))``,
    clamped at 0: no cancellation of two squares. (A floating-point maximum,
    NaN-propagating: one operation in XLA's count, where the maximum of the
    bits with 0 took two bit casts more, enough to split the centred update
    loop over threads on small leaves.)"""
    return (jnp.maximum(rms - mean, 0) * c) * ((rms + mean) * c)


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
