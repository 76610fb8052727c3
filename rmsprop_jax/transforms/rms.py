"""RMSprop's primitive: divide by the root of an EMA of squared gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _inputs, _state_dtype, declarations
from rmsprop_jax.transforms._divide import divide_by_corrected_rms, divide_by_rms
from rmsprop_jax.transforms._second_moment import rms_accumulate, rms_init
from rmsprop_jax.transforms._validation import check_decay, check_not_frozen


@declarations.state_fields(
    second_moments=("rms",),
    first_moments=("mu",),
    counts=("count",),
    divisor="rms",
    corrected_when_counted=True,
)
class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms` (and the second moments of
    :func:`precondition_by_rms`)."""

    # int32 scalar: updates so far; bias correction only. (The field shadows
    # tuple.count, as optax's states' do; mypy reports that as an override.)
    count: jax.Array | None  # type: ignore[assignment]
    # sqrt(s), the root of the EMA of squared gradients (the RMS); kept as a
    # root so that no finite gradient overflows it. Bias-corrected, sqrt(s_hat),
    # where the state counts steps (bias_correction=True).
    rms: optax.Updates
    # EMA of gradients, m (bias-corrected with the count); None unless centered.
    mu: optax.Updates | None


# How a state of scale_by_rms is read, by the names of its arguments:
# rmsprop passes them on under the same names and declares the same.
RMS_DECLARATION = dict(
    eps="eps",
    eps_placement=_inputs.eps_placement,
    decay="decay",
    bias_correction=_inputs.flag("bias_correction"),
    centered=_inputs.flag("centered"),
)


@_inputs.primitive(**RMS_DECLARATION)
def scale_by_rms(
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    *,
    eps_in_sqrt: bool = True,
    initial_scale: ArrayLike = 0.0,
    centered: bool = False,
    bias_correction: bool = False,
    accumulator_dtype: Any | None = None,
    state_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""Divides gradients by the root of an EMA of their squares (RMSprop).

    .. math::
        s_t = \beta\, s_{t-1} + (1-\beta)\, g_t^2, \qquad
        u_t = \frac{g_t}{\sqrt{s_t + \epsilon}}
        \quad\text{or}\quad \frac{g_t}{\sqrt{s_t} + \epsilon}
        \ (\texttt{eps\_in\_sqrt=False}),

    with :math:`s_0` = ``initial_scale``. ``centered=True`` also keeps
    :math:`m_t = \beta m_{t-1} + (1-\beta) g_t` and uses the variance
    :math:`\max(s_t - m_t^2, 0)` in place of :math:`s_t`.
    ``bias_correction=True`` divides :math:`s_t` and :math:`m_t` by
    :math:`1-\beta^t`, as Adam does.

    With :math:`s_0 = 0` the first update is
    :math:`g_1/\sqrt{(1-\beta) g_1^2} = \mathrm{sign}(g_1)/\sqrt{1-\beta}`.

    The state keeps :math:`r = \sqrt{s}` (field ``rms``), updated as
    :math:`r_t = M\sqrt{(r_{t-1}/M)^2 + (1-\beta)((g_t/M)^2 - (r_{t-1}/M)^2)}`
    with :math:`M` the power of two of :math:`\max(r_{t-1}, |g_t|)` (read from
    its exponent bits; scaling by it is exact): the same values as the formula
    above, but no finite gradient overflows it (:math:`g^2` does above
    ~1.8e19 in float32), so a huge gradient never freezes a weight, and a
    long float32 run stays as close to float64 as the EMA of squares itself.
    With ``bias_correction=True`` it keeps the corrected :math:`\hat r_t =
    r_t/\sqrt{1-\beta^t}` and :math:`\hat m_t`, updated with the rate
    :math:`(1-\beta)/(1-\beta^t)` in place of :math:`1-\beta` (Shazeer & Stern
    2018): the same values, and a first step exact to the
    last bit. The centred variance is :math:`(r-|m|)(r+|m|)`, clamped at 0. A
    zero gradient gives a zero update, also with ``eps=0``. Updates
    are returned in the compute dtype (at least float32); complex leaves are
    treated as pairs of real weights (real and imaginary part).

    Args:
      decay: :math:`\beta`, the EMA rate, in [0, 1] (in [0, 1) with
        ``bias_correction``). Default 0.9.
      eps: :math:`\epsilon` >= 0, added inside the root if ``eps_in_sqrt`` else
        after it. Default 1e-8.
      eps_in_sqrt: where ``eps`` goes. Default True (as Hinton's course and
        Keras); PyTorch puts it outside (False).
      initial_scale: :math:`s_0` >= 0. Default 0.0 (TF1 uses 1.0).
      centered: divide by the root of the variance instead of the second moment.
      bias_correction: divide the moments by :math:`1-\beta^t`.
      accumulator_dtype: storage dtype of :math:`s` and :math:`m`; default
        float32 for float16/bfloat16 parameters, else the parameters' dtype.
      {{state_dtype_primitive}}
        The ``"int8"`` codes are unsigned for the root, signed for :math:`m`.

    Returns:
      An ``optax.GradientTransformation`` with state :class:`ScaleByRmsState`.

    Raises:
      ValueError: a concrete ``decay``, ``eps`` or ``initial_scale`` out of
        range, or ``decay=1`` with ``initial_scale=0`` (the second moment would
        stay 0: every step ``g / sqrt(eps)``).
      ValueError: a ``state_dtype`` that is not None, a floating dtype or
        ``"int8"``, or given together with a different ``accumulator_dtype``.
      TypeError: non-float parameters at ``init``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import scale_by_rms
      >>> tx = scale_by_rms(decay=0.9)
      >>> g = jnp.array([0.5, -2.0])
      >>> updates, state = tx.update(g, tx.init(g))
      >>> print(updates.round(3))  # sign(g) / sqrt(1 - decay)
      [ 3.162 -3.162]

    References:
      Hinton, Srivastava, Swersky, *Neural Networks for Machine Learning*,
      lecture 6e, 2012.
    """
    check_decay("decay", decay, bias_correction=bias_correction)
    _checks.check_range("eps", eps, 0.0)
    _checks.check_range("initial_scale", initial_scale, 0.0)
    check_not_frozen("decay", decay, "initial_scale", initial_scale)
    storage = _state_dtype.resolve(state_dtype, accumulator_dtype)
    dtype = _state_dtype.float_dtype(storage)
    # The literal 0 (the default) starts the root at 0: its first corrected
    # step has no initial value to weigh in. A traced 0 takes the general path.
    zero_start = type(initial_scale) in (int, float) and bool(initial_scale == 0)

    def init_fn(params: optax.Params) -> ScaleByRmsState:
        count, rms, mu = rms_init(
            params,
            initial_scale=initial_scale,
            centered=centered,
            counted=bias_correction,
            dtype=dtype,
        )
        return ScaleByRmsState(count, rms, mu)

    def update_fn(updates, state, params=None):
        del params
        state = rms_accumulate(
            updates, state, decay, corrected=bias_correction, zero_start=zero_start
        )
        if bias_correction:  # the state keeps the corrected moments
            out = divide_by_corrected_rms(
                updates, state, eps=eps, eps_in_sqrt=eps_in_sqrt
            )
        else:
            out = divide_by_rms(
                updates,
                state,
                decay=decay,
                eps=eps,
                eps_in_sqrt=eps_in_sqrt,
                bias_correction=False,
            )
        return out, state

    tx = optax.GradientTransformation(init_fn, update_fn)
    return _state_dtype.blockwise(tx, storage, {"rms": False, "mu": True})
