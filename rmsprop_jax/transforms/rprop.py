r"""Rprop: per-weight step sizes adapted from gradient signs (four variants).

Rprop is the one primitive with four variants and an extra argument (the loss,
for iRprop+). Public names are re-exported by
:mod:`rmsprop_jax.transforms` and the package root.
"""

from __future__ import annotations

import functools
import typing
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes, _inputs, _state_dtype, declarations

RpropVariant = Literal["rprop+", "rprop-", "irprop+", "irprop-"]
_VARIANTS: tuple[str, ...] = typing.get_args(RpropVariant)
_BACKTRACKING = ("rprop+", "irprop+")  # undo the previous step on a sign change
_ZEROING = ("rprop+", "irprop+", "irprop-")  # store 0 as the gradient after a flip


@declarations.state_fields(
    step_sizes=("step_size",), previous=("prev_sign", "prev_update", "prev_value")
)
class ScaleByRpropState(NamedTuple):
    """State of :func:`scale_by_rprop`."""

    step_size: optax.Updates  # Delta, the per-weight step sizes.
    prev_sign: optax.Updates  # int8 sign of the stored previous gradient.
    prev_update: optax.Updates | None  # last output; rprop+ / irprop+ only.
    prev_value: jax.Array | None  # loss at the last step; irprop+ only.


def _infinite_loss() -> jax.Array:
    """The 'previous loss' before the first step: +inf in the default float
    dtype, strongly typed so that the state's type is the same before and after
    an update (a weak type would cost a second trace of a jitted step)."""
    return jnp.full([], jnp.inf, dtype=jnp.result_type(float))


@_inputs.primitive()
def scale_by_rprop(
    initial_step: ArrayLike = 0.01,
    eta_minus: ArrayLike = 0.5,
    eta_plus: ArrayLike = 1.2,
    min_step: ArrayLike = 1e-6,
    max_step: ArrayLike = 50.0,
    *,
    variant: RpropVariant = "irprop-",
    state_dtype: typing.Any | None = None,
    learning_rate: ArrayLike | None = None,
    min_step_size: ArrayLike | None = None,
    max_step_size: ArrayLike | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Resilient backpropagation: sign-based steps with adaptive sizes.

    With :math:`\sigma_t = \mathrm{sign}(g_t)\,\mathrm{sign}(g_{t-1})`
    (:math:`g_{t-1}` the *stored* previous gradient, 0 at the start):

    .. math::
        \Delta_t = \mathrm{clip}\big(\Delta_{t-1}\cdot
        \{\eta^+ \text{ if } \sigma_t > 0;\ \eta^- \text{ if } \sigma_t < 0;
        \ 1 \text{ otherwise}\},\ \Delta_{\min}, \Delta_{\max}\big),
        \qquad u_t = \mathrm{sign}(g_t)\, \Delta_t,

    with :math:`\Delta_0` = ``initial_step``. On a sign change
    (:math:`\sigma_t < 0`) the variants of Igel & Hüsken (2000) differ:

    .. begin table rprop_variants

    .. list-table::
       :header-rows: 1

       * - variant
         - output :math:`u_t` on a sign change
         - stored :math:`g_t`
       * - ``rprop-``
         - :math:`\mathrm{sign}(g_t)\,\Delta_t` (step anyway)
         - :math:`g_t`
       * - ``rprop+``
         - :math:`-u_{t-1}` (undo the last step)
         - 0
       * - ``irprop-`` (default, as PyTorch)
         - 0 (the weight does not move)
         - 0
       * - ``irprop+``
         - :math:`-u_{t-1}` if the loss rose, else 0
         - 0

    .. end table rprop_variants

    A stored 0 makes :math:`\sigma_{t+1} = 0`, so the step after a sign change
    neither grows nor shrinks :math:`\Delta`. Sign agreement is computed from
    signs, not from the product :math:`g_t g_{t-1}`, which underflows to 0 in
    float16/float32 for small gradients and would miss sign changes. Only the
    sign of the previous gradient is stored (int8). :math:`\Delta` is clipped
    on every step, the first included, as PyTorch does. A NaN gradient makes
    its weight's step size and update NaN (PyTorch's ``sign(nan) == 0`` skips
    it instead; wrap the optimizer in ``skip_nonfinite`` to skip such steps).

    Unlike ``optax.scale_by_rprop`` (which emits the previous step's update,
    so its first update is 0), the first update here moves every weight with a
    non-zero gradient by ``initial_step``.

    ``irprop+`` needs the loss at the current parameters:
    ``update(grads, state, params, value=loss)``. Rprop is a *full-batch*
    method: with mini-batches the signs are noisy and it drifts.

    Args:
      initial_step: :math:`\Delta_0` >= 0. Default 0.01.
      eta_minus: :math:`\eta^-` in (0, 1), shrink factor. Default 0.5.
      eta_plus: :math:`\eta^+` > 1, growth factor. Default 1.2.
      min_step: :math:`\Delta_{\min}` > 0. Default 1e-6.
      max_step: :math:`\Delta_{\max}` >= ``min_step``. Default 50.
      variant: one of ``"rprop+"``, ``"rprop-"``, ``"irprop+"``, ``"irprop-"``.
        Default ``"irprop-"`` (PyTorch's ``Rprop``).
      state_dtype: storage of the step sizes (and of the last step of
        ``rprop+``/``irprop+``): None (float32 for 16-bit parameters, else
        the parameters' dtype), a floating dtype (``jnp.bfloat16``, ...;
        arithmetic in at least float32, rounded once when stored) or
        ``"int8"`` (block-wise 8-bit codes for leaves of at least 4096
        elements: an exponent code for the step sizes, so that
        :math:`\eta^- = 0.5` halves them exactly; see
        ``docs/low_precision_states.md``). The signs are int8 always.
      learning_rate: optax's name of ``initial_step``, accepted for it.
      min_step_size: optax's name of ``min_step``, accepted for it.
      max_step_size: optax's name of ``max_step``, accepted for it.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state
      :class:`ScaleByRpropState`.

    Raises:
      ValueError: an unknown ``variant``, a concrete hyperparameter out of
        range, or a ``state_dtype`` that is not None, a floating dtype or
        ``"int8"``.
      TypeError: a hyperparameter passed under both of its names.
      TypeError: ``variant="irprop+"`` updated without ``value=``.
      ValueError: ``value`` that is not a scalar.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import scale_by_rprop
      >>> tx = scale_by_rprop(initial_step=0.1, variant="irprop-")
      >>> state = tx.init(jnp.zeros(2))
      >>> u1, state = tx.update(jnp.array([2.0, -3.0]), state)
      >>> u2, state = tx.update(jnp.array([5.0, 1.0]), state)  # 2nd flips
      >>> print(u1, u2)
      [ 0.1 -0.1] [0.12 0.  ]

    References:
      Riedmiller, Braun, *A direct adaptive method for faster backpropagation
      learning: the RPROP algorithm*, IEEE ICNN 1993.
      Igel, Hüsken, *Improving the Rprop Learning Algorithm*, NC 2000.
    """
    _checks.check_choice("variant", variant, _VARIANTS)
    initial_step = _checks.alias(
        "initial_step", initial_step, 0.01, "learning_rate", learning_rate
    )
    min_step = _checks.alias("min_step", min_step, 1e-6, "min_step_size", min_step_size)
    max_step = _checks.alias("max_step", max_step, 50.0, "max_step_size", max_step_size)
    # Errors name the spelling the caller used (optax's or ours).
    initial_name = "initial_step" if learning_rate is None else "learning_rate"
    min_name = "min_step" if min_step_size is None else "min_step_size"
    max_name = "max_step" if max_step_size is None else "max_step_size"
    _checks.check_not_schedule(initial_name, initial_step, "Rprop's first step size")
    _checks.check_range(initial_name, initial_step, 0.0)
    _checks.check_range("eta_minus", eta_minus, 0.0, 1.0, lo_open=True, hi_open=True)
    _checks.check_range("eta_plus", eta_plus, 1.0, lo_open=True)
    _checks.check_range(min_name, min_step, 0.0, lo_open=True)
    _checks.check_ordered(min_name, min_step, max_name, max_step)
    backtracks = variant in _BACKTRACKING
    zeroes = variant in _ZEROING
    needs_value = variant == "irprop+"
    storage = _state_dtype.resolve(state_dtype)
    dtype = _state_dtype.float_dtype(storage)

    def init_fn(params: optax.Params) -> ScaleByRpropState:
        return ScaleByRpropState(
            step_size=_dtypes.full_like_accumulator(params, initial_step, dtype),
            prev_sign=jax.tree.map(lambda p: jnp.zeros_like(p, jnp.int8), params),
            prev_update=_dtypes.zeros_like_accumulator(params, dtype)
            if backtracks
            else None,
            prev_value=_infinite_loss() if needs_value else None,
        )

    def etas() -> tuple[jax.Array, jax.Array, jax.Array]:
        """eta_plus, eta_minus and 1 in the dtype that the select
        ``where(agree > 0, eta_plus, where(agree < 0, eta_minus, 1))``
        promotes them to (weakly typed if all three are Python numbers)."""
        pick = jnp.where
        return (
            pick(True, eta_plus, pick(True, eta_minus, 1.0)),
            pick(False, eta_plus, pick(True, eta_minus, 1.0)),
            pick(False, eta_plus, pick(False, eta_minus, 1.0)),
        )

    def leaf(etas, g, step, prev_sign, *undo):
        """New step size, output and stored sign of one leaf."""
        sign = jnp.sign(g)
        # sign(g) * prev_sign in g's float dtype: compared with 0 it gives the
        # masks of the int8 product (a NaN gradient agrees with nothing)
        # without mixing int8 and float lanes in the inner loop.
        agree = sign * prev_sign.astype(g.dtype)
        same, flip = agree > 0, agree < 0
        # clip(step * factor), factor in {eta_plus, eta_minus, 1}, written as a
        # select between two clipped candidates: the same values, bit for bit,
        # but a select of two arrays is no cheap "unary" op for XLA, so the new
        # step sizes are stored once and read back by the parameter update
        # instead of being recomputed there from the old ones, which made XLA
        # copy the old step sizes first (8 more bytes per parameter on CPU).
        up, down, one = etas
        # Arithmetic in at least float32; the new step sizes are rounded once
        # to their storage dtype, and the update is read from what is stored.
        kept = step.dtype
        step = _dtypes.cast(step, _dtypes.compute_dtype(g, step))

        def scaled(factor: jax.Array) -> jax.Array:
            clipped = jnp.clip(step * factor, min_step, max_step)
            return _dtypes.cast(clipped, kept)

        # A NaN gradient agrees with nothing and makes its step size NaN: the
        # update below is read from the new step size and stored sign (whose
        # int8 cast of NaN is 0), so this is how the NaN reaches the weight.
        # (PyTorch skips the gradient instead: torch.sign(nan) == 0.)
        other = jnp.where(flip, down, jnp.where(jnp.isnan(agree), jnp.nan, one))
        new_step = jnp.where(same, scaled(up), scaled(other))
        step = _dtypes.cast(new_step, step.dtype)
        stored = sign.astype(jnp.int8)
        if zeroes:
            stored = jnp.where(flip, jnp.int8(0), stored)
        if backtracks:
            forward = _dtypes.cast(sign, step.dtype) * step
            move = jnp.where(flip, undo[0], forward)
        else:
            # sign(g) * step, or 0 where irprop- holds the weight: the stored
            # sign is exactly that factor. Reading it (1 byte) and the new step
            # size instead of g (4 bytes) and the old sign lets XLA's parameter
            # loop read only state it has just written (34 instead of 38
            # bytes per parameter on CPU).
            move = stored.astype(step.dtype) * step
        return new_step, move, stored

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del params, extra_args
        undo: tuple[typing.Any, ...] = ()
        prev_value = state.prev_value
        if backtracks:
            undo = (jax.tree.map(jnp.negative, state.prev_update),)
        if needs_value:
            if value is None:
                raise TypeError(
                    "scale_by_rprop(variant='irprop+') needs the loss at the current "
                    "params: call update(grads, state, params, value=loss)."
                )
            if jnp.ndim(value) != 0:
                raise ValueError(
                    "scale_by_rprop(variant='irprop+'): `value` must be the scalar "
                    f"loss at the current params, got shape {jnp.shape(value)}."
                )
            prev_value = jnp.asarray(value).astype(state.prev_value.dtype)
            rose = prev_value > state.prev_value
            undo = (jax.tree.map(lambda u: jnp.where(rose, u, 0), undo[0]),)
        per_leaf = functools.partial(leaf, etas())
        out = jax.tree.map(per_leaf, updates, state.step_size, state.prev_sign, *undo)
        # Unzipped against the gradients' structure (a prefix of `out`'s), so
        # a tree without array leaves (an empty group of multi_transform, a
        # masked-out tree, None leaves) gives empty trees, not an error.
        steps, moves, signs = (
            jax.tree.map(lambda _, o, k=k: o[k], updates, out) for k in range(3)
        )
        new_state = ScaleByRpropState(
            step_size=steps,
            prev_sign=signs,
            prev_update=jax.tree.map(
                lambda m, old: _dtypes.cast(m, old.dtype), moves, state.prev_update
            )
            if backtracks
            else None,
            prev_value=prev_value,
        )
        return moves, new_state

    tx = optax.GradientTransformationExtraArgs(init_fn, update_fn)
    fields = {"step_size": False, "prev_update": True}
    return _state_dtype.blockwise(tx, storage, fields)
