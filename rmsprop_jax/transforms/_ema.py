r"""The rates and the step of an exponential moving average (EMA).

With bias correction a state keeps the *corrected* moment, :math:`\hat x_t =
x_t / (1-\beta^t)`, updated with Adafactor's corrected rate :math:`a_t =
(1-\beta)/(1-\beta^t)` (Shazeer & Stern 2018, section 7.1): the same values
in exact arithmetic, but the first step is exact in floating point
(:math:`a_1 = 1`). The root second moment (:mod:`._roots`) takes its steps
with the same rates.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from rmsprop_jax.transforms._corrections import one_minus_power
from rmsprop_jax.transforms._scalars import scalar


class EmaRates(NamedTuple):
    """The weights of one EMA step ``x + rate * (input - x) + extra * x``."""

    rate: Any  # the weight of the new input, 1 - beta (or its corrected form)
    extra: Any  # added to the old value's weight: 0 but at a corrected t = 1
    correction: Any  # 1 - beta**t, or None without correction


def ema_rates(
    decay: ArrayLike, count: jax.Array | None, dtype: Any, *, corrected: bool
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
