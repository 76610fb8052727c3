"""AMSGrad's preconditioner: the running maximum of the second moment.

:func:`precondition_by_max_rms` divides by the running maximum of the
*uncorrected* second moment (as ``torch.optim.Adam(amsgrad=True)`` and
``keras.optimizers.Adam(amsgrad=True)``; ``optax.scale_by_amsgrad`` instead
keeps the maximum of the bias-corrected moment, a different trajectory), on
the second-moment machinery of :func:`~rmsprop_jax.precondition_by_rms`. The
presets ``torch_adam``/``torch_adamw``/``keras_adam(amsgrad=True)`` use it;
it is not (yet) exported from :mod:`rmsprop_jax.transforms`.

Its callers are wrapped by :func:`rmsprop_jax._inputs.optimizer`, which splits
a complex leaf into a real pair before any of this code runs: nothing here
sees a complex array.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _state_dtype, declarations
from rmsprop_jax.transforms._divide import divide_by_corrected_rms, divide_by_rms
from rmsprop_jax.transforms._roots import with_eps_root
from rmsprop_jax.transforms._second_moment import raw_rms_init, rms_accumulate
from rmsprop_jax.transforms.rms import ScaleByRmsState


@declarations.state_fields(
    second_moments=("rms", "rms_max"),
    counts=("count",),
    inner=("inner",),
    divisor="rms_max",
)
class PreconditionByMaxRmsState(NamedTuple):
    """State of :func:`precondition_by_max_rms`.

    Both moments are kept as roots (as :class:`~rmsprop_jax.ScaleByRmsState`
    keeps its own): the maximum of the roots is the root of the maximum.
    """

    # int32: updates so far; None without bias correction.
    count: jax.Array | None  # type: ignore[assignment]
    rms: optax.Updates  # sqrt of the EMA of squared gradients, sqrt(s_t).
    rms_max: optax.Updates  # running maximum of rms: sqrt(max_{k<=t} s_k).
    inner: optax.OptState  # state of the preconditioned transformation.


def precondition_by_max_rms(
    inner: optax.GradientTransformation,
    decay: ArrayLike,
    eps: ArrayLike,
    *,
    bias_correction: bool,
    inner_decay: ArrayLike | None = None,
    max_of_corrected: bool = False,
    eps_root: ArrayLike = 0.0,
    accumulator_dtype: Any | None = None,
    state_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""AMSGrad: ``inner(g) / (sqrt(max_{k<=t} s_k / (1 - decay**t)) + eps)``.

    .. math::
        s_t = \beta s_{t-1} + (1-\beta) g_t^2, \quad
        \hat s_t = \max(\hat s_{t-1}, s_t), \quad
        u_t = \frac{\mathrm{inner}(g)_t / (1-\beta_1^t)}{\sqrt{\hat s_t}/
        \sqrt{1-\beta^t} + \epsilon}

    (without ``bias_correction`` the root is not divided; without
    ``inner_decay`` :math:`\beta_1` the numerator is not). The formula of
    ``_single_tensor_adam`` of PyTorch and of Keras's ``Adam.update_step``,
    computed as :func:`~rmsprop_jax.precondition_by_rms` computes Adam: the
    roots :math:`\sqrt{s_t}` and :math:`\sqrt{\hat s_t}` are kept (updated
    without squaring a gradient, so no finite gradient overflows), the
    corrections come from :math:`1-\beta` rounded once (exact at
    :math:`t = 1`), and a zero denominator (zero gradients so far, ``eps=0``)
    gives a zero update.

    ``max_of_corrected=True`` (with ``bias_correction``) keeps the maximum of
    the *bias-corrected* moment instead, :math:`\hat s_t = \max(\hat
    s_{t-1}, s_t/(1-\beta^t))`, as ``optax.scale_by_amsgrad`` does (the
    state then holds the corrected roots, as :func:`precondition_by_rms`'s
    does): :func:`rmsprop_jax.amsgrad`. ``eps_root`` goes under the root,
    :math:`\sqrt{\hat s_t + \epsilon_r}`, as optax's ``eps_root``.
    ``state_dtype`` stores both roots as :func:`precondition_by_rms` stores
    its own (unsigned 8-bit codes with ``"int8"``); the inner state is the
    inner transformation's, built with its own ``state_dtype``.
    """
    corrected = max_of_corrected and bias_correction
    inner = optax.with_extra_args_support(inner)
    storage = _state_dtype.resolve(state_dtype, accumulator_dtype)
    dtype = _state_dtype.float_dtype(storage)

    def init_fn(params: optax.Params) -> PreconditionByMaxRmsState:
        count, rms = raw_rms_init(params, counted=bias_correction, dtype=dtype)
        # The maximum gets buffers of its own: leaves sharing a buffer cannot
        # be donated to a jitted step ("donate the same buffer twice").
        rms_max = jax.tree.map(jnp.copy, rms)
        return PreconditionByMaxRmsState(count, rms, rms_max, inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        moments = ScaleByRmsState(state.count, state.rms, None)
        moments = rms_accumulate(
            updates, moments, decay, corrected=corrected, zero_start=True
        )
        rms_max = jax.tree.map(jnp.maximum, state.rms_max, moments.rms)
        numerators, inner_state = inner.update(
            updates, state.inner, params, **extra_args
        )
        peak = with_eps_root(moments._replace(rms=rms_max), eps_root)
        if corrected:
            out = divide_by_corrected_rms(
                numerators,
                peak,
                eps=eps,
                eps_in_sqrt=False,
                numerator_decay=inner_decay,
            )
        else:
            out = divide_by_rms(
                numerators,
                peak,
                decay=decay,
                eps=eps,
                eps_in_sqrt=False,
                bias_correction=bias_correction,
                numerator_decay=inner_decay,
            )
        new_state = PreconditionByMaxRmsState(
            moments.count, moments.rms, rms_max, inner_state
        )
        return out, new_state

    tx = optax.GradientTransformationExtraArgs(init_fn, update_fn)
    return _state_dtype.blockwise(tx, storage, {"rms": False, "rms_max": False})
