"""Adadelta's primitive: an RMS of the gradients and an RMS of the updates."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes, _inputs, _state_dtype, declarations
from rmsprop_jax.transforms._divide import safe_divide
from rmsprop_jax.transforms._ema import ema_rates
from rmsprop_jax.transforms._roots import root, root_ema_step
from rmsprop_jax.transforms._validation import check_decay


@declarations.state_fields(
    second_moments=("grad_rms", "update_rms", "previous_update_rms"),
    divisor="grad_rms",
    numerator="previous_update_rms",
)
class ScaleByAdadeltaState(NamedTuple):
    """State of :func:`scale_by_adadelta`.

    The moments are kept as their roots, as :class:`~rmsprop_jax.ScaleByRmsState`
    keeps its own (no finite gradient or update overflows them). The root
    the last update's numerator used, :math:`\\sqrt{E[\\Delta^2]_{t-1}}`, is
    kept beside the new one: without it the factor the last update applied
    (what :mod:`rmsprop_jax.diagnostics` reports) could not be recovered, as
    :math:`E[\\Delta^2]_t` mixes in that update itself.
    """

    grad_rms: optax.Updates  # sqrt(E[g^2]_t), the root of the EMA of g^2.
    update_rms: optax.Updates  # sqrt(E[dx^2]_t), the root of the EMA of updates^2.
    # sqrt(E[dx^2]_{t-1}): the root in the last update's numerator.
    previous_update_rms: optax.Updates


@_inputs.primitive(eps="eps", eps_placement="inside", decay="rho")
def scale_by_adadelta(
    rho: ArrayLike = 0.9,
    eps: ArrayLike = 1e-6,
    *,
    accumulator_dtype: Any | None = None,
    state_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""Adadelta's unit-correct step: an RMS of updates over an RMS of gradients.

    .. math::
        E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2, \quad
        u_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}
        {\sqrt{E[g^2]_t + \epsilon}}\, g_t, \quad
        E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho) u_t^2

    with :math:`E[g^2]_0 = E[\Delta^2]_0 = 0`: the first update is
    :math:`\sqrt{\epsilon}\, g_1 / \sqrt{(1-\rho) g_1^2 + \epsilon}`. Output in
    the gradient's direction (an optimizer appends the learning rate and the
    sign flip). The formula of ``optax.scale_by_adadelta``,
    ``torch.optim.Adadelta`` and ``keras.optimizers.Adadelta``; both moments
    are EMAs of squares kept as their roots, stepped as
    :func:`~rmsprop_jax.scale_by_rms` steps its own (no square is formed, so
    no finite gradient overflows them).

    Args:
      rho: :math:`\rho` in [0, 1]. Default 0.9.
      eps: :math:`\epsilon` >= 0, inside both roots. Default 1e-6.
      accumulator_dtype: storage dtype of both moments; default float32 for
        float16/bfloat16 parameters, else the parameters' dtype.
      {{state_dtype_primitive}}
        The ``"int8"`` codes of the three roots are unsigned.

    Returns:
      An ``optax.GradientTransformation`` with state
      :class:`ScaleByAdadeltaState`.

    Raises:
      ValueError: a concrete ``rho`` or ``eps`` out of range.
      ValueError: a ``state_dtype`` that is not None, a floating dtype or
        ``"int8"``, or given together with a different ``accumulator_dtype``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import scale_by_adadelta
      >>> tx = scale_by_adadelta(rho=0.9, eps=1e-6)
      >>> g = jnp.array([1.0, -2.0])
      >>> updates, state = tx.update(g, tx.init(g))
      >>> print(updates.round(6))  # sqrt(eps) g / sqrt(0.1 g^2 + eps)
      [ 0.003162 -0.003162]

    References:
      Zeiler, *ADADELTA: An Adaptive Learning Rate Method*, arXiv:1212.5701,
      2012.
    """
    check_decay("rho", rho, bias_correction=False)
    _checks.check_range("eps", eps, 0.0)
    storage = _state_dtype.resolve(state_dtype, accumulator_dtype)
    dtype = _state_dtype.float_dtype(storage)

    def init_fn(params: optax.Params) -> ScaleByAdadeltaState:
        return ScaleByAdadeltaState(
            *(_dtypes.zeros_like_accumulator(params, dtype) for _ in range(3))
        )

    def update_fn(updates, state, params=None):
        del params
        rates: dict = {}

        def leaf(g, grad_rms, update_rms):
            dtype = _dtypes.compute_dtype(g, grad_rms, update_rms)
            if dtype not in rates:
                rates[dtype] = ema_rates(rho, None, dtype, corrected=False)
            g = _dtypes.cast(g, dtype)
            new_grad_rms = root_ema_step(_dtypes.cast(grad_rms, dtype), g, rates[dtype])
            old_update_rms = _dtypes.cast(update_rms, dtype)
            # 0 where the denominator is 0 (eps = 0 and zero gradients so far).
            numerator = root(old_update_rms, eps, eps_in_sqrt=True) * g
            u = safe_divide(numerator, root(new_grad_rms, eps, eps_in_sqrt=True))
            new_update_rms = root_ema_step(old_update_rms, u, rates[dtype])
            return (
                u,
                _dtypes.cast(new_grad_rms, grad_rms.dtype),
                _dtypes.cast(new_update_rms, update_rms.dtype),
            )

        out = jax.tree.map(leaf, updates, state.grad_rms, state.update_rms)
        u, grad_rms, update_rms = (
            jax.tree.map(lambda _, o, k=k: o[k], updates, out) for k in range(3)
        )
        # The previous root, kept as the state held it (bit for bit).
        return u, ScaleByAdadeltaState(grad_rms, update_rms, state.update_rms)

    tx = optax.GradientTransformation(init_fn, update_fn)
    roots = {"grad_rms": False, "update_rms": False, "previous_update_rms": False}
    return _state_dtype.blockwise(tx, storage, roots)
