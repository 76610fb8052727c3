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

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
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


def _grown(big: jax.Array, d: jax.Array) -> jax.Array:
    """``big * sqrt(1 + d)`` for ``d >= -1``, as ``big + big * d / (1 +
    sqrt(1 + d))``: the change is computed on its own and rounded once into
    ``big``, where rounding ``1 + d`` first would keep only the bits of ``d``
    above 2**-24 (in float32) and make a long accumulation drift. An
    infinite ``big`` stays infinite."""
    grown = big + big * (d / (1 + sqrt0(1 + d)))
    return jnp.where(jnp.isinf(big), big, grown)


def hypot(x: jax.Array, y: jax.Array) -> jax.Array:
    """``sqrt(x**2 + y**2)`` without overflow or underflow of the squares.

    NaN in, NaN out; an infinite input gives inf. The smaller over the
    larger is squared and added to 1 exactly as :func:`_grown` does, so a
    running sum of squares kept as its root (Adagrad's) does not drift.
    """
    x, y = jnp.abs(x), jnp.abs(y)
    big, small = jnp.maximum(x, y), jnp.minimum(x, y)
    ratio = small / jnp.where(big == 0, 1, big)
    return _grown(big, ratio * ratio)


def root_ema_step(root: jax.Array, g: jax.Array, rates: EmaRates) -> jax.Array:
    r"""The root of one EMA step of squares, :math:`\sqrt{r^2 + a (g^2 -
    r^2)}`, without forming a square that could overflow.

    With :math:`M = \max(r, |g|)` and :math:`q` the other one over
    :math:`M` (at most 1), the step is :math:`M \sqrt{w_M + w_q q^2}` with
    the EMA's weights :math:`w_M + w_q = 1` (:math:`1-a` and :math:`a` when
    :math:`r` is the larger). Where :math:`w_M \ge 1/2` it is computed as
    :math:`M \sqrt{1 + d}`, :math:`d = w_q (q^2 - 1)`, the way :func:`_grown`
    does, so that the small change of a long run keeps its own bits (a
    float32 run at :math:`\beta = 0.99999` stays as close to float64 as the
    raw EMA of squares); elsewhere directly, where nothing cancels. No finite
    input overflows or underflows, a constant input is a fixed point
    (:math:`q = 1`), :math:`a = 1` gives :math:`|g|` exactly; NaN in, NaN out.
    """
    magnitude = jnp.abs(g)
    big = jnp.maximum(root, magnitude)
    ratio = jnp.minimum(root, magnitude) / jnp.where(big == 0, 1, big)
    squared = ratio * ratio
    root_is_big = root >= magnitude
    w_big = jnp.where(root_is_big, 1 - rates.rate, rates.rate)
    w_small = jnp.where(root_is_big, rates.rate, 1 - rates.rate)
    d = w_small * (squared - 1)
    s = w_big + w_small * squared
    if rates.extra is not None:  # the old square's extra weight, scaled
        old = rates.extra * jnp.where(root_is_big, 1, squared)
        d, s = d + old, s + old
    near = _grown(big, jnp.maximum(d, -1))
    return jnp.where(w_big >= 0.5, near, big * sqrt0(jnp.maximum(s, 0)))


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


def spread(rms: jax.Array, mean: jax.Array) -> jax.Array:
    """``sqrt(rms**2 - mean**2)`` as ``sqrt(rms - |m|) sqrt(rms + |m|)``: no
    square to overflow, no cancellation of two squares."""
    return sqrt0(jnp.maximum(rms - mean, 0)) * sqrt0(rms + mean)


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
