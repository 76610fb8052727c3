r"""Private helpers shared by the primitives of :mod:`rmsprop_jax.transforms`.

Step counts, bias corrections, the root of a second moment and the EMA engine
that :func:`~rmsprop_jax.scale_by_rms` and
:func:`~rmsprop_jax.precondition_by_rms` both run on. Imported by name.

Second moments are kept as their *roots*: the state holds
:math:`r = \sqrt{s}`, and an EMA step :math:`s_t = s_{t-1} + a (g_t^2 -
s_{t-1})` is taken on squares scaled by :math:`\max(r, |g|)`
(:func:`root_ema_step`), so no finite gradient overflows it (:math:`g^2` does
above about 1.8e19 in float32; the root of a mean of squares never exceeds
the largest :math:`|g|`). The weights :math:`1-a` and :math:`a` sum to 1
exactly and each step's change is rounded into :math:`r` once, so a long
float32 run stays as close to float64 as the raw EMA of squares (closer than
optax's at :math:`\beta` near 1, whose rounded :math:`\beta` and :math:`1-\beta`
do not sum to 1). The variance of centred RMSprop is :math:`(r - |m|)(r +
|m|)`, without the cancellation of :math:`s - m^2`.

With bias correction the state keeps the *corrected* moments,
:math:`\hat r_t = r_t / \sqrt{1-\beta^t}` (and :math:`\hat m_t`), updated
with Adafactor's corrected rate :math:`a_t = (1-\beta)/(1-\beta^t)` (Shazeer
& Stern 2018, section 7.1; :func:`ema_rates`): the same values in exact
arithmetic, but the first step is exact in floating point (:math:`a_1 = 1`,
so :math:`\hat r_1 = |g_1|`), where dividing a rounded
:math:`\sqrt{1-\beta}\,|g_1|` by a rounded :math:`\sqrt{1-\beta}` is off by up
to two roundings.

Scalar factors of a hyperparameter (:math:`1-\beta`, :math:`1-\beta^t`) are
computed in the compute dtype from the hyperparameter *rounded to that dtype
first*, so that a Python float and the same value as a float32 array (as
``optax.inject_hyperparams`` passes it) give the same updates, and the first
bias-corrected step cancels exactly.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes


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


def scalar(value: ArrayLike, dtype: Any) -> jax.Array:
    """A hyperparameter as an array of the compute ``dtype`` (rounded once)."""
    return _dtypes.cast(jnp.asarray(value), dtype)


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
    return jnp.where(rms > limit, rms, sqrt0(rms * rms + e))


def with_eps_root(state: Any, eps_root: ArrayLike) -> Any:
    """``state`` with its roots ``r`` replaced by ``sqrt(r**2 + eps_root)``
    (``hypot(r, sqrt(eps_root))``: no square to overflow); ``state`` itself
    for the literal 0. (``sqrt(0)`` is exact, so a traced 0, as
    ``inject_hyperparams`` passes it, gives the same values.)"""
    if type(eps_root) in (int, float) and eps_root == 0:
        return state

    def leaf(r: jax.Array) -> jax.Array:
        return hypot(r, sqrt0(scalar(eps_root, r.dtype)))

    return state._replace(rms=jax.tree.map(leaf, state.rms))


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
    # t = 0 gives 0 (also for decay = 0, where t log1p(-1) is 0 * -inf).
    return jnp.where(count == 1, one_minus, jnp.where(count == 0, 0, general))


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


class EmaRates(NamedTuple):
    """The weights of one EMA step ``x + rate * (input - x) + extra * x``."""

    rate: Any  # the weight of the new input, 1 - beta (or its corrected form)
    extra: Any  # added to the old value's weight: 0 but at a corrected t = 1
    correction: Any  # 1 - beta**t, or None without correction


def ema_rates(
    decay: ArrayLike, count: jax.Array | None, dtype: Any, corrected: bool
) -> EmaRates:
    r"""The rates of step ``count`` (>= 1) of an EMA, plain or kept corrected.

    Plain: :math:`x_t = x_{t-1} + (1-\beta)(y_t - x_{t-1})`, the weights
    :math:`\beta` and :math:`1-\beta` summing to 1 exactly (so a constant
    input is a fixed point in floating point too; a long float32 run at
    :math:`\beta = 0.99999` would otherwise drift by the rounding of the
    weights divided by :math:`1-\beta`).

    Corrected: :math:`\hat x_t = \hat x_{t-1} + a_t (y_t - \hat x_{t-1})`
    with :math:`a_t = (1-\beta)/(1-\beta^t)` equals :math:`(\beta s_{t-1} +
    (1-\beta) y_t)/(1-\beta^t)` for the raw EMA :math:`s` (Adafactor's
    corrected rate, Shazeer & Stern 2018, section 7.1). At :math:`t = 1`,
    :math:`a_1 = 1` exactly (the same rounded :math:`1-\beta` above and
    below), so :math:`\hat x_1 = y_1` to the last bit; a nonzero initial value
    :math:`s_0` enters there with the weight :math:`\beta/(1-\beta)`
    (``extra``), as the raw EMA puts it.
    """
    beta = scalar(decay, dtype)
    one_minus = 1 - beta
    if not corrected or count is None:
        return EmaRates(one_minus, None, None)
    c = one_minus_power(decay, count, dtype)
    extra = jnp.where(count == 1, beta / one_minus, 0)
    return EmaRates(one_minus / c, extra, c)


def ema_step(old: jax.Array, new: jax.Array, rates: EmaRates) -> jax.Array:
    """``old + rate * (new - old) (+ extra * old)``: one EMA step.

    As ``torch.lerp`` computes it: from the nearer end, ``new - (new - old) *
    (1 - rate)`` for a rate of at least 1/2 (``1 - rate`` is then exact), so
    that rate 1 gives ``new`` itself and a small ``new`` is not lost against
    a large ``old``; a constant input is a fixed point either way.
    """
    difference = new - old
    rate = rates.rate
    out = jnp.where(rate < 0.5, old + rate * difference, new - difference * (1 - rate))
    return out if rates.extra is None else out + rates.extra * old


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


def rms_accumulate(
    grads: optax.Updates, state: Any, decay: ArrayLike, corrected: bool = False
) -> Any:
    """One EMA step of the root second moment (and, if kept, the first moment)
    of a state with fields ``count``, ``rms`` and ``mu`` (a
    :class:`ScaleByRmsState`), with :func:`root_ema_step` and
    :func:`ema_step`.

    ``corrected=True`` (for a state with a count) keeps the bias-corrected
    moments, with the rates of :func:`ema_rates`.
    """
    count = increment(state.count)
    rates: dict = {}

    def rates_in(dtype: Any) -> EmaRates:
        if dtype not in rates:
            rates[dtype] = ema_rates(decay, count, dtype, corrected)
        return rates[dtype]

    def second(g: jax.Array, old: jax.Array) -> jax.Array:
        dtype = _dtypes.compute_dtype(g, old)
        new = root_ema_step(
            _dtypes.cast(old, dtype), _dtypes.cast(g, dtype), rates_in(dtype)
        )
        return _dtypes.cast(new, old.dtype)

    def first(g: jax.Array, old: jax.Array) -> jax.Array:
        dtype = _dtypes.compute_dtype(g, old)
        new = ema_step(
            _dtypes.cast(old, dtype), _dtypes.cast(g, dtype), rates_in(dtype)
        )
        return _dtypes.cast(new, old.dtype)

    rms = jax.tree.map(second, grads, state.rms)
    mu = None
    if state.mu is not None:
        mu = jax.tree.map(first, grads, state.mu)
    return state._replace(count=count, rms=rms, mu=mu)


def rms_divide(
    numerators: optax.Updates,
    state: Any,
    decay: ArrayLike,
    eps: ArrayLike,
    eps_in_sqrt: bool,
    bias_correction: bool,
    numerator_decay: ArrayLike | None = None,
    corrected: bool = False,
) -> optax.Updates:
    """``numerators_hat / root(sqrt(rms_hat**2 - mu_hat**2), eps)``, leaf by
    leaf, in the compute dtype; ``numerators_hat`` is ``numerators / (1 -
    numerator_decay**t)`` if a ``numerator_decay`` is given.

    ``corrected=True``: the state already keeps the bias-corrected moments
    (see :func:`rms_accumulate`), and ``bias_correction`` only says whether
    it counts steps.
    """
    if corrected:
        return _divide_corrected(numerators, state, eps, eps_in_sqrt, numerator_decay)
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
            spread = _spread(spread, mean)
        u = safe_divide(_dtypes.cast(x, dtype), root(spread, scaled_eps, eps_in_sqrt))
        factor = scale(dtype)
        return u if factor is None else u * factor

    if state.mu is None:
        return jax.tree.map(divide, numerators, state.rms)
    return jax.tree.map(divide, numerators, state.rms, state.mu)


def _spread(rms: jax.Array, mean: jax.Array) -> jax.Array:
    """``sqrt(rms**2 - mean**2)`` as ``sqrt(rms - |m|) sqrt(rms + |m|)``: no
    square to overflow, no cancellation of two squares."""
    return sqrt0(jnp.maximum(rms - mean, 0)) * sqrt0(rms + mean)


def _divide_corrected(
    numerators: optax.Updates,
    state: Any,
    eps: ArrayLike,
    eps_in_sqrt: bool,
    numerator_decay: ArrayLike | None,
) -> optax.Updates:
    r""":func:`rms_divide` for a state that keeps corrected moments.

    A numerator correction :math:`1-\beta_1^t` multiplies the denominator,
    element by element, instead of dividing the numerator by a scalar (which
    XLA computes as a product with a rounded reciprocal): with eps outside the
    root the denominator is :math:`c_1 \hat r + c_1 \epsilon`, and on the first
    step :math:`c_1 \hat r_1 = c_1 |g_1|` is rounded exactly as the numerator
    :math:`c_1 g_1` was, so the quotient is :math:`\pm 1` to the last bit
    wherever :math:`\epsilon` is negligible.
    """
    correction = Corrections(numerator_decay, state.count, numerator_decay is not None)

    def divide(x: jax.Array, rms: jax.Array, mu: jax.Array | None = None) -> jax.Array:
        dtype = _dtypes.compute_dtype(x, rms)
        spread = _dtypes.cast(rms, dtype)
        if mu is not None:
            spread = _spread(spread, jnp.abs(_dtypes.cast(mu, dtype)))
        c1 = correction.factor(dtype)
        if c1 is None:
            denominator = root(spread, eps, eps_in_sqrt)
        elif eps_in_sqrt:
            denominator = c1 * root(spread, eps, True)
        else:
            # max(., 0) keeps the product rounded on its own (a fused
            # multiply-add would round c1 r + c1 eps once, unlike c1 g).
            product = jnp.maximum(c1 * spread, 0)
            denominator = product + c1 * scalar(eps, dtype)
        return safe_divide(_dtypes.cast(x, dtype), denominator)

    if state.mu is None:
        return jax.tree.map(divide, numerators, state.rms)
    return jax.tree.map(divide, numerators, state.rms, state.mu)
