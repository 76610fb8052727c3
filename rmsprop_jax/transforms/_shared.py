r"""Private helpers shared by the primitives of :mod:`rmsprop_jax.transforms`.

Step counts, bias corrections, the root of a second moment and the EMA engine
that :func:`~rmsprop_jax.scale_by_rms` and
:func:`~rmsprop_jax.precondition_by_rms` both run on. Imported by name.

Second moments are kept as their *roots*: the state holds
:math:`r = \\sqrt{s}` and updates it as :math:`r_t =
\\mathrm{hypot}(\\sqrt\beta\\, r_{t-1}, \\sqrt{1-\beta}\\, g_t)`, so no finite
gradient overflows it (:math:`g^2` does above about 1.8e19 in float32; the
root of a mean of squares never exceeds the largest :math:`|g|`). The
variance of centred RMSprop is :math:`(r - |m|)(r + |m|)`, without the
cancellation of :math:`s - m^2`.

Scalar factors of a hyperparameter (:math:`1-\beta`, :math:`1-\beta^t`) are
computed in the compute dtype from the hyperparameter *rounded to that dtype
first*, so that a Python float and the same value as a float32 array (as
``optax.inject_hyperparams`` passes it) give the same updates, and the first
bias-corrected step cancels exactly.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes


def scalar(value: ArrayLike, dtype: Any) -> jax.Array:
    """A hyperparameter as an array of the compute ``dtype`` (rounded once)."""
    return _dtypes.cast(jnp.asarray(value), dtype)


def hypot(x: jax.Array, y: jax.Array) -> jax.Array:
    """``sqrt(x**2 + y**2)`` without overflow or underflow of the squares.

    NaN in, NaN out; an infinite input gives inf. Cheaper than ``jnp.hypot``
    (no separate infinity test: ``inf * sqrt(1 + 0)`` is already inf).
    """
    x, y = jnp.abs(x), jnp.abs(y)
    big, small = jnp.maximum(x, y), jnp.minimum(x, y)
    safe = jnp.where(big == 0, 1, big)
    return jnp.where(big == 0, big, big * jnp.sqrt(1 + jnp.square(small / safe)))


def root(rms: jax.Array, eps: ArrayLike, eps_in_sqrt: bool) -> jax.Array:
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
    return jnp.where(rms > limit, rms, jnp.sqrt(rms * rms + e))


def safe_divide(x: jax.Array, denominator: jax.Array) -> jax.Array:
    """``x / denominator``, and 0 where the denominator is 0.

    A zero denominator comes from a zero second moment with ``eps = 0``: only
    zero gradients so far, whose update is zero (not ``0/0 = NaN``).
    """
    return jnp.where(denominator == 0, 0, x / denominator).astype(x.dtype)


def new_count(needed: bool) -> jax.Array | None:
    """A step count of 0, or None where nothing reads it.

    A state keeps a count only where the update reads it (as optax's states
    do): every extra state leaf is one more kernel and output buffer of a
    jitted step, which shows on small models.
    """
    return jnp.zeros([], jnp.int32) if needed else None


def increment(count: jax.Array | None) -> jax.Array | None:
    return None if count is None else optax.safe_increment(count)


def one_minus_power(decay: ArrayLike, count: jax.Array, dtype: Any) -> jax.Array:
    r"""``1 - decay**count`` in ``dtype``, accurate to a few ulp.

    Computed as :math:`-\mathrm{expm1}(t\, \mathrm{log1p}(-(1-\beta)))` from
    :math:`1-\beta` (exact for :math:`\beta \ge 0.5` once :math:`\beta` is
    rounded to ``dtype``): ``1 - decay**t`` itself loses most digits for
    :math:`\beta` near 1 (float32 ``0.99999**2`` has an error of 3e-3
    relative to ``1 - 0.99999**2``). At :math:`t = 1` it is exactly
    :math:`1-\beta`, the factor the moment was scaled by, so the first
    bias-corrected step cancels exactly.
    """
    one_minus = 1 - scalar(decay, dtype)
    t = count.astype(dtype)
    general = -jnp.expm1(t * jnp.log1p(-one_minus))
    return jnp.where(count == 1, one_minus, general)


class Corrections:
    """Scalar bias corrections, converted once per compute dtype (not per leaf)."""

    def __init__(self, decay: ArrayLike | None, count: jax.Array | None, enabled: bool):
        self.decay, self.count = decay, count
        self.enabled = enabled and count is not None
        self._cache: dict = {}

    def factor(self, dtype: Any) -> jax.Array | None:
        """``1 - decay**t`` in ``dtype``, or None without correction."""
        if not self.enabled or self.count is None or self.decay is None:
            return None
        key = ("factor", jnp.dtype(dtype))
        if key not in self._cache:
            self._cache[key] = one_minus_power(self.decay, self.count, dtype)
        return self._cache[key]

    def root(self, dtype: Any) -> jax.Array | None:
        """``sqrt(1 - decay**t)`` in ``dtype``, or None without correction."""
        factor = self.factor(dtype)
        if factor is None:
            return None
        key = ("root", jnp.dtype(dtype))
        if key not in self._cache:
            self._cache[key] = jnp.sqrt(factor)
        return self._cache[key]


def times(factor: Any, x: jax.Array) -> jax.Array:
    """``factor * x``; no operation at all when ``factor`` is the literal 1.

    ``x * 1 == x`` for every float (NaN and infinities included), so skipping
    it changes no result, only the time it takes to trace. Anything but a
    Python int or float (a traced or NumPy factor, whose dtype could promote
    ``x``) is always multiplied.
    """
    if type(factor) in (int, float) and factor == 1:
        return x
    return factor * x


def unbias(x: jax.Array, correction: jax.Array | None) -> jax.Array:
    """``x / correction``; no operation at all without a correction."""
    return x if correction is None else x / correction


def check_decay(name: str, decay: ArrayLike, bias_correction: bool) -> None:
    """An EMA rate in [0, 1], or in [0, 1) where ``1 - decay**t`` divides."""
    if bias_correction:
        why = " with bias correction (1 - decay**t must not vanish)"
        _checks.check_range(name, decay, 0.0, 1.0, hi_open=True, why=why)
    else:
        _checks.check_range(name, decay, 0.0, 1.0)


def check_not_frozen(
    name: str, decay: ArrayLike, initial: str, value: ArrayLike
) -> None:
    """Rejects ``decay = 1`` with a zero initial accumulator: the second moment
    would stay 0 and every step be ``g / sqrt(eps)``, whatever the gradients."""
    rate = _checks.concrete_values(name, decay)
    start = _checks.concrete_values(initial, value)
    if rate is None or start is None:
        return
    if np.any((rate == 1) & (start <= 0)):
        raise ValueError(
            f"`{name}=1` keeps the second moment at its initial value, and "
            f"`{initial}={value!r}` makes that 0: every update would be "
            f"g / sqrt(eps), ignoring the gradients' scale. Use {name} < 1, or "
            f"{initial} > 0 for a fixed preconditioner."
        )


def rms_init(
    params: optax.Params,
    initial_scale: ArrayLike,
    centered: bool,
    counted: bool,
    dtype: Any,
) -> tuple[jax.Array | None, optax.Updates, optax.Updates | None]:
    """``(count, rms, mu)`` of a fresh second-moment state; ``rms`` holds
    ``sqrt(initial_scale)``."""
    concrete = _checks.concrete_values("initial_scale", initial_scale)
    start = jnp.sqrt(initial_scale) if concrete is None else float(np.sqrt(concrete))
    return (
        new_count(counted),
        _dtypes.full_like_accumulator(params, start, dtype),
        _dtypes.zeros_like_accumulator(params, dtype) if centered else None,
    )


def rms_accumulate(grads: optax.Updates, state: Any, decay: ArrayLike) -> Any:
    """One EMA step of the root second moment (and, if kept, the first moment)
    of a state with fields ``count``, ``rms`` and ``mu`` (a
    :class:`ScaleByRmsState`): ``rms = hypot(sqrt(b) rms, sqrt(1-b) g)``."""
    factors: dict = {}

    def scalars(dtype: Any) -> tuple[jax.Array, ...]:
        if dtype not in factors:
            beta = scalar(decay, dtype)
            one_minus = 1 - beta
            factors[dtype] = (beta, one_minus, jnp.sqrt(beta), jnp.sqrt(one_minus))
        return factors[dtype]

    def second(g: jax.Array, old: jax.Array) -> jax.Array:
        dtype = _dtypes.compute_dtype(g, old)
        _, _, root_beta, root_one_minus = scalars(dtype)
        new = hypot(root_beta * _dtypes.cast(old, dtype), root_one_minus * g)
        return _dtypes.cast(new, old.dtype)

    def first(g: jax.Array, old: jax.Array) -> jax.Array:
        dtype = _dtypes.compute_dtype(g, old)
        beta, one_minus, _, _ = scalars(dtype)
        new = beta * _dtypes.cast(old, dtype) + one_minus * _dtypes.cast(g, dtype)
        return _dtypes.cast(new, old.dtype)

    rms = jax.tree.map(second, grads, state.rms)
    mu = None
    if state.mu is not None:
        mu = jax.tree.map(first, grads, state.mu)
    return state._replace(count=increment(state.count), rms=rms, mu=mu)


def rms_divide(
    numerators: optax.Updates,
    state: Any,
    decay: ArrayLike,
    eps: ArrayLike,
    eps_in_sqrt: bool,
    bias_correction: bool,
    numerator_decay: ArrayLike | None = None,
) -> optax.Updates:
    """``numerators_hat / root(sqrt(rms_hat**2 - mu_hat**2), eps)``, leaf by
    leaf, in the compute dtype; ``numerators_hat`` is ``numerators / (1 -
    numerator_decay**t)`` if a ``numerator_decay`` is given."""
    correction = Corrections(decay, state.count, bias_correction)
    numerator_correction = Corrections(
        numerator_decay, state.count, numerator_decay is not None
    )
    factors: dict = {}

    def scale(dtype: Any) -> jax.Array | None:
        """sqrt(c) / c1, the corrections as one factor (None for 1)."""
        if dtype not in factors:
            root_c = correction.root(dtype)
            c1 = numerator_correction.factor(dtype)
            if root_c is None:
                factors[dtype] = None if c1 is None else 1 / c1
            else:
                factors[dtype] = root_c if c1 is None else root_c / c1
        return factors[dtype]

    def divide(x: jax.Array, rms: jax.Array, mu: jax.Array | None = None) -> jax.Array:
        # numerator_hat / root(rms_hat, eps) with rms_hat = rms / sqrt(c) is
        # computed as (numerator / root(rms, eps')) * sqrt(c) / c1, with eps'
        # = eps sqrt(c) (outside the root) or eps c (inside): the corrections
        # become one scalar factor, three roundings fewer per element than
        # dividing by each (XLA turns a division by a scalar into a product
        # with its rounded reciprocal).
        dtype = _dtypes.compute_dtype(x, rms)
        spread = _dtypes.cast(rms, dtype)
        root_c, c = correction.root(dtype), correction.factor(dtype)
        scaled_eps: Any = eps
        if root_c is not None and c is not None:
            scaled_eps = scalar(eps, dtype) * (c if eps_in_sqrt else root_c)
        if mu is not None:
            mean = jnp.abs(_dtypes.cast(mu, dtype))
            if root_c is not None:
                mean = mean / root_c
            # sqrt(r^2 - m^2) = sqrt(r - |m|) sqrt(r + |m|): no square to
            # overflow, no cancellation of two squares.
            spread = jnp.sqrt(jnp.maximum(spread - mean, 0)) * jnp.sqrt(spread + mean)
        u = safe_divide(_dtypes.cast(x, dtype), root(spread, scaled_eps, eps_in_sqrt))
        factor = scale(dtype)
        return u if factor is None else u * factor

    if state.mu is None:
        return jax.tree.map(divide, numerators, state.rms)
    return jax.tree.map(divide, numerators, state.rms, state.mu)
