"""Parts of the framework presets that no public primitive provides.

* :func:`precondition_by_max_rms`: AMSGrad's denominator, the running maximum
  of the *uncorrected* second moment (as ``torch.optim.Adam(amsgrad=True)`` and
  ``keras.optimizers.Adam(amsgrad=True)``; ``optax.scale_by_amsgrad`` instead
  keeps the maximum of the bias-corrected moment, a different trajectory),
  on the second-moment machinery of
  :func:`~rmsprop_jax.precondition_by_rms`.
* :func:`schedule_value`: a learning rate or schedule read at a step count.
* :func:`add_decayed_weights`: ``g + wd * w`` in the compute dtype.

Every preset is wrapped by :func:`rmsprop_jax._inputs.optimizer`, which splits
a complex leaf into a real pair before any of this code runs: nothing here
sees a complex array.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes
from rmsprop_jax._learning_rate import schedule_count
from rmsprop_jax.transforms._shared import (
    rms_accumulate,
    rms_divide,
    rms_init,
    with_eps_root,
)
from rmsprop_jax.transforms.rms import ScaleByRmsState


def schedule_value(learning_rate: optax.ScalarOrSchedule, count: Any) -> Any:
    """``learning_rate(count)`` for a schedule, else ``learning_rate`` itself.

    The count is converted as :func:`~rmsprop_jax._learning_rate.schedule_count`
    does for the main step (the default integer dtype: a float64 schedule under
    ``jax_enable_x64``).
    """
    if not _checks.is_schedule(learning_rate):
        return learning_rate
    return learning_rate(schedule_count(jnp.asarray(count)))


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
    does); ``eps_root`` goes under the root, :math:`\sqrt{\hat s_t +
    \epsilon_r}`, as optax's ``eps_root``.
    """
    corrected = max_of_corrected and bias_correction
    inner = optax.with_extra_args_support(inner)

    def init_fn(params: optax.Params) -> PreconditionByMaxRmsState:
        count, rms, _ = rms_init(params, 0.0, False, bias_correction, accumulator_dtype)
        # The maximum gets buffers of its own: leaves sharing a buffer cannot
        # be donated to a jitted step ("donate the same buffer twice").
        rms_max = rms_init(params, 0.0, False, False, accumulator_dtype)[1]
        return PreconditionByMaxRmsState(count, rms, rms_max, inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        moments = ScaleByRmsState(state.count, state.rms, None)
        moments = rms_accumulate(updates, moments, decay, corrected=corrected)
        rms_max = jax.tree.map(jnp.maximum, state.rms_max, moments.rms)
        numerators, inner_state = inner.update(
            updates, state.inner, params, **extra_args
        )
        peak = with_eps_root(moments._replace(rms=rms_max), eps_root)
        args = (decay, eps, False, bias_correction, inner_decay)
        out = rms_divide(numerators, peak, *args, corrected=corrected)
        new_state = PreconditionByMaxRmsState(
            moments.count, moments.rms, rms_max, inner_state
        )
        return out, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def add_decayed_weights(
    weight_decay: ArrayLike, mask: Any = None
) -> optax.GradientTransformation:
    """``optax.add_decayed_weights`` (``g + wd * w``, coupled L2) computed in
    at least float32 and passed on in that dtype, as every link of the
    library passes its values (``_dtypes.py``): optax's sums in the
    parameters' dtype, and a float16 gradient of 6e4 plus ``wd * w``
    overflows to inf before the momentum buffer (kept in float32) sees it.
    The same state as optax's (``EmptyState``, or ``MaskedState`` with a
    ``mask``).
    """

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "`weight_decay` reads the weights: call update(grads, state, params)."
            )

        def leaf(g: jax.Array, w: jax.Array) -> jax.Array:
            dtype = _dtypes.compute_dtype(g, w)
            decay = jnp.asarray(weight_decay).astype(dtype)
            return _dtypes.cast(g, dtype) + decay * _dtypes.cast(w, dtype)

        return jax.tree.map(leaf, updates, params), state

    tx = optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)
    return tx if mask is None else optax.masked(tx, mask)
