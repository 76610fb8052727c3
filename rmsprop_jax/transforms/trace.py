"""The heavy-ball / Nesterov momentum trace (and Adam's first moment)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes, _inputs, _state_dtype, declarations
from rmsprop_jax.transforms._corrections import increment, new_count, one_minus_power
from rmsprop_jax.transforms._ema import ema_rates, ema_step
from rmsprop_jax.transforms._scalars import scalar, times
from rmsprop_jax.transforms._validation import check_decay


@declarations.state_fields(first_moments=("trace",), counts=("count",))
class MomentumState(NamedTuple):
    """State of :func:`momentum`."""

    # int32 scalar: updates so far; only with bias_correction or
    # undamped_first_step, the options that read it. (The field shadows
    # tuple.count, as optax's states' do; mypy reports that as an override.)
    count: jax.Array | None  # type: ignore[assignment]
    # v, the momentum buffer; v / (1 - decay^t) with bias_correction.
    trace: optax.Updates


@_inputs.primitive()
def momentum(
    decay: ArrayLike = 0.9,
    *,
    nesterov: bool = False,
    dampening: ArrayLike = 0.0,
    bias_correction: bool = False,
    undamped_first_step: bool = False,
    accumulator_dtype: Any | None = None,
    state_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""Accumulates a heavy-ball momentum trace.

    .. math::
        v_t = \alpha\, v_{t-1} + (1 - d)\, g_t, \qquad
        u_t = v_t \quad\text{or}\quad g_t + \alpha\, v_t\ (\texttt{nesterov}),

    with :math:`v_0 = 0`, :math:`\alpha` = ``decay`` and :math:`d` =
    ``dampening`` (default 0: the classic heavy ball :math:`v \leftarrow
    \alpha v + g`). ``dampening=decay`` with ``bias_correction=True`` gives
    Adam's first moment :math:`v_t / (1-\alpha^t)`, an unbiased EMA of the
    gradients. ``undamped_first_step=True`` sets :math:`v_1 = g_1`, PyTorch
    SGD's rule for its first step.

    Args:
      decay: :math:`\alpha` in [0, 1] (in [0, 1) with ``bias_correction``).
        Default 0.9. ``decay=0`` makes the transformation the identity.
      nesterov: output :math:`g_t + \alpha v_t` (Sutskever et al. 2013, as
        PyTorch) instead of :math:`v_t`.
      dampening: :math:`d` in [0, 1], the share of the gradient dropped.
      bias_correction: divide the output by :math:`1-\alpha^t`.
      undamped_first_step: no dampening on the first step (PyTorch SGD).
      accumulator_dtype: storage dtype of :math:`v`; default float32 for
        float16/bfloat16 parameters, else the parameters' dtype.
      {{state_dtype_primitive}}
        The ``"int8"`` codes are signed.

    Returns:
      An ``optax.GradientTransformation`` with state :class:`MomentumState`.

    Raises:
      ValueError: a concrete ``decay`` or ``dampening`` out of range; a
        ``state_dtype`` that is not None, a floating dtype or ``"int8"``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import momentum
      >>> tx = momentum(0.9)
      >>> g = jnp.array([1.0, -2.0])
      >>> state = tx.init(g)
      >>> _, state = tx.update(g, state)
      >>> updates, state = tx.update(g, state)
      >>> print(updates.round(3))  # g + 0.9 g
      [ 1.9 -3.8]

    References:
      Polyak, *Some methods of speeding up the convergence of iteration
      methods*, USSR Comput. Math. & Math. Phys. 4(5), 1964.
      Sutskever, Martens, Dahl, Hinton, *On the importance of initialization
      and momentum in deep learning*, ICML 2013.
    """
    check_decay("decay", decay, bias_correction=bias_correction)
    _checks.check_range("dampening", dampening, 0.0, 1.0)
    storage = _state_dtype.resolve(state_dtype, accumulator_dtype)
    dtype = _state_dtype.float_dtype(storage)

    def init_fn(params: optax.Params) -> MomentumState:
        trace = _dtypes.zeros_like_accumulator(params, dtype)
        counted = bias_correction or undamped_first_step
        return MomentumState(new_count(needed=counted), trace)

    def update_fn(updates, state, params=None):
        del params
        count = increment(state.count)
        damp = (
            jnp.where(count == 1, 0.0, dampening) if undamped_first_step else dampening
        )
        undamped = type(damp) in (int, float) and damp == 0
        corrected = bias_correction and count is not None
        scalars: dict = {}

        def coefficients(dtype: Any) -> tuple[Any, ...]:
            """``(kept, taken)`` of ``v = kept * v + taken * g``, or, corrected,
            ``(rates, surplus)`` of ``v = ema_step(v, g, rates) + surplus * g``."""
            if dtype not in scalars:
                # 1 - dampening from the dampening rounded to `dtype` (as a
                # traced float32 hyperparameter is): the same updates either way.
                taken: Any = 1 if undamped else 1 - scalar(damp, dtype)
                if corrected:
                    # The trace keeps v_t / (1 - decay^t), as an EMA step of
                    # rate (1 - decay) / (1 - decay^t) (exactly 1 at t = 1,
                    # so v_1 = g_1 to the last bit) plus what dampening !=
                    # decay takes in beyond it (exactly 0 when equal).
                    rates = ema_rates(decay, count, dtype, corrected=True)
                    scalars[dtype] = (rates, taken / rates.correction - rates.rate)
                else:
                    scalars[dtype] = (scalar(decay, dtype), taken)
            return scalars[dtype]

        def accumulate(g: jax.Array, v: jax.Array) -> jax.Array:
            dtype = _dtypes.compute_dtype(g, v)
            g, old = _dtypes.cast(g, dtype), _dtypes.cast(v, dtype)
            if corrected:
                rates, surplus = coefficients(dtype)
                new = ema_step(old, g, rates) + surplus * g
            else:
                kept, taken = coefficients(dtype)
                new = kept * old + times(taken, g)
            return _dtypes.cast(new, v.dtype)

        def output(g: jax.Array, v: jax.Array) -> jax.Array:
            dtype = _dtypes.compute_dtype(g, v)
            v = _dtypes.cast(v, dtype)
            if not nesterov:
                return v
            # (g + decay v) / (1 - decay^t) with v already divided.
            g = _dtypes.cast(g, dtype)
            if bias_correction and count is not None:
                g = g / one_minus_power(decay, count, dtype)
            return g + scalar(decay, dtype) * v

        trace = jax.tree.map(accumulate, updates, state.trace)
        updates = jax.tree.map(output, updates, trace)
        return updates, MomentumState(count, trace)

    tx = optax.GradientTransformation(init_fn, update_fn)
    return _state_dtype.blockwise(tx, storage, {"trace": True})
