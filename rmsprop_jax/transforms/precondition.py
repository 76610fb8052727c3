"""Adam's combination: precondition a transformation by the RMS of raw gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _inputs, _state_dtype, declarations
from rmsprop_jax.transforms._divide import divide_by_corrected_rms, divide_by_rms
from rmsprop_jax.transforms._roots import with_eps_root
from rmsprop_jax.transforms._second_moment import raw_rms_init, rms_accumulate
from rmsprop_jax.transforms._validation import check_decay
from rmsprop_jax.transforms.rms import ScaleByRmsState


@declarations.state_fields(inner=("rms", "inner"))
class PreconditionByRmsState(NamedTuple):
    """State of :func:`precondition_by_rms`."""

    rms: ScaleByRmsState  # second moments of the raw gradients.
    inner: optax.OptState  # state of the preconditioned transformation.


@_inputs.primitive(
    eps="eps",
    eps_placement=_inputs.eps_placement,
    decay="decay",
    bias_correction=_inputs.flag("bias_correction"),
)
def precondition_by_rms(
    inner: optax.GradientTransformation,
    decay: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    *,
    eps_in_sqrt: bool = False,
    bias_correction: bool = True,
    inner_decay: ArrayLike | None = None,
    accumulator_dtype: Any | None = None,
    eps_root: ArrayLike = 0.0,
    state_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Divides the output of ``inner`` by the RMS of the *raw* gradients.

    .. math::
        s_t = \beta\, s_{t-1} + (1-\beta)\, g_t^2, \qquad
        u_t = \frac{\mathrm{inner}(g)_t}{\sqrt{\hat s_t} + \epsilon},
        \qquad \hat s_t = s_t / (1 - \beta^t).

    With ``inner_decay`` :math:`\beta_1` the numerator is bias-corrected too,
    :math:`\mathrm{inner}(g)_t / (1-\beta_1^t)`, with this transformation's
    step count (so it needs ``bias_correction=True``): Adam's first moment is
    ``momentum(b1, dampening=b1)`` with ``inner_decay=b1``, the values of
    ``momentum(b1, dampening=b1, bias_correction=True)`` up to rounding, with
    one step count in the state instead of two (each count is one more
    kernel of a jitted step). The correction multiplies the denominator,
    element by element, :math:`(1-\beta_1^t)\sqrt{\hat s_t} +
    (1-\beta_1^t)\epsilon`, rather than dividing the numerator by a scalar:
    on the first step :math:`(1-\beta_1)|g_1|` is then rounded exactly as
    the momentum :math:`(1-\beta_1) g_1` was, and Adam's first update is
    exact to within 2 ulp.

    The second moment is kept as its root, :math:`r = \sqrt{s}` (see
    :class:`~rmsprop_jax.ScaleByRmsState`), so no finite gradient overflows
    it; with ``bias_correction`` the state keeps the corrected root
    :math:`\sqrt{\hat s}`.
    Output in the compute dtype (at least float32).

    This is how Adam combines its two moments: ``inner`` (a momentum) and the
    second moment both see the raw gradients. The *sequential* chain
    ``chain(scale_by_rms(...), momentum(...))`` instead averages already
    preconditioned gradients; that is LaProp, a different optimizer (see
    :func:`rmsprop_jax.laprop`). ``precondition_by_rms(identity)`` equals
    :func:`scale_by_rms`.

    Args:
      inner: the transformation whose output is preconditioned; it receives the
        raw gradients, params and any extra arguments.
      decay: :math:`\beta` of the second moment (Adam's ``b2``). Default 0.999.
      eps: :math:`\epsilon` >= 0. Default 1e-8.
      eps_in_sqrt: where ``eps`` goes; default False (outside, as Adam).
      bias_correction: divide :math:`s_t` by :math:`1-\beta^t`; default True.
      inner_decay: :math:`\beta_1` in [0, 1): also divide the output of
        ``inner`` by :math:`1-\beta_1^t`; requires ``bias_correction``.
        Default None (no correction).
      accumulator_dtype: storage dtype of :math:`s`, as in :func:`scale_by_rms`.
      eps_root: :math:`\epsilon_r` >= 0 added under the root,
        :math:`\sqrt{\hat s_t + \epsilon_r}` (``optax.scale_by_adam``'s
        ``eps_root``, which keeps gradients *through* the update finite).
        Default 0.
      {{state_dtype_primitive}}
        The ``"int8"`` codes are unsigned; ``inner`` keeps its own.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state
      :class:`PreconditionByRmsState`.

    Raises:
      ValueError: a concrete ``decay``, ``eps`` or ``inner_decay`` out of
        range, or ``inner_decay`` without ``bias_correction``; a
        ``state_dtype`` that is not None, a floating dtype or ``"int8"``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import momentum, precondition_by_rms
      >>> tx = precondition_by_rms(momentum(0.9, dampening=0.9), inner_decay=0.9)
      >>> g = jnp.array([0.5, -2.0])
      >>> updates, state = tx.update(g, tx.init(g))
      >>> print(updates.round(3))  # Adam's first step: sign(g)
      [ 1. -1.]

    References:
      Kingma, Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015.
    """
    check_decay("decay", decay, bias_correction=bias_correction)
    _checks.check_range("eps", eps, 0.0)
    _checks.check_range("eps_root", eps_root, 0.0)
    if inner_decay is not None:
        # One count serves both corrections, so a state keeps a count exactly
        # when it bias-corrects its second moment (diagnostics rely on that).
        if not bias_correction:
            raise ValueError(
                "`inner_decay` requires `bias_correction=True`: it bias-corrects "
                "the inner output with the second moment's step count."
            )
        check_decay("inner_decay", inner_decay, bias_correction=True)
    inner = optax.with_extra_args_support(inner)
    storage = _state_dtype.resolve(state_dtype, accumulator_dtype)
    dtype = _state_dtype.float_dtype(storage)

    def init_fn(params: optax.Params) -> PreconditionByRmsState:
        count, roots = raw_rms_init(params, counted=bias_correction, dtype=dtype)
        rms = ScaleByRmsState(count, roots, None)
        return PreconditionByRmsState(rms, inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        rms = rms_accumulate(
            updates, state.rms, decay, corrected=bias_correction, zero_start=True
        )
        numerators, inner_state = inner.update(
            updates, state.inner, params, **extra_args
        )
        denominators = with_eps_root(rms, eps_root)
        if bias_correction:  # the state keeps the corrected moment
            updates = divide_by_corrected_rms(
                numerators,
                denominators,
                eps=eps,
                eps_in_sqrt=eps_in_sqrt,
                numerator_decay=inner_decay,
            )
        else:  # inner_decay is None (checked above)
            updates = divide_by_rms(
                numerators,
                denominators,
                decay=decay,
                eps=eps,
                eps_in_sqrt=eps_in_sqrt,
                bias_correction=False,
            )
        return updates, PreconditionByRmsState(rms, inner_state)

    tx = optax.GradientTransformationExtraArgs(init_fn, update_fn)
    # The second moment in 8 bits (its scalar count stays as it is); the
    # inner state is the inner transformation's (built with its own
    # state_dtype).
    return _state_dtype.blockwise(tx, storage, {"rms": False})
