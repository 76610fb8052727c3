"""Adagrad's primitive: divide by the root of the running sum of squared gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes, _inputs, _state_dtype, declarations
from rmsprop_jax.transforms._divide import safe_divide
from rmsprop_jax.transforms._roots import hypot, root


@declarations.state_fields(
    second_moments=("root_sum_of_squares",),
    divisor="root_sum_of_squares",
    running_sum=True,
)
class AccumulateSquaresState(NamedTuple):
    """State of :func:`accumulate_squares`."""

    # sqrt(G), the root of the running sum of squared gradients (the norm of
    # each weight's gradient history); a root, so that no finite gradient
    # overflows it.
    root_sum_of_squares: optax.Updates


@_inputs.primitive(eps="eps", eps_placement=_inputs.eps_placement)
def accumulate_squares(
    initial_accumulator_value: ArrayLike = 0.0,
    eps: ArrayLike = 1e-10,
    *,
    eps_in_sqrt: bool = True,
    accumulator_dtype: Any | None = None,
    state_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""Divides gradients by the root of the running sum of their squares (Adagrad).

    .. math::
        G_t = G_{t-1} + g_t^2, \qquad
        u_t = \frac{g_t}{\sqrt{G_t + \epsilon}}
        \quad\text{or}\quad \frac{g_t}{\sqrt{G_t} + \epsilon}
        \ (\texttt{eps\_in\_sqrt=False}),

    with :math:`G_0` = ``initial_accumulator_value``. Because :math:`G` only
    grows, the effective step size shrinks monotonically.

    The state keeps :math:`\sqrt{G}` (field ``root_sum_of_squares``), updated
    as :math:`\mathrm{hypot}(\sqrt{G_{t-1}}, g_t)`, so no finite gradient
    overflows it. Updates are returned in the compute dtype (at least
    float32); complex leaves are pairs of real weights.

    Args:
      initial_accumulator_value: :math:`G_0` >= 0. Default 0.0 (Keras: 0.1).
      eps: :math:`\epsilon` >= 0. Default 1e-10.
      eps_in_sqrt: where ``eps`` goes; default True (PyTorch: False).
      accumulator_dtype: storage dtype of :math:`G`; default float32 for
        float16/bfloat16 parameters, else the parameters' dtype.
      {{state_dtype_primitive}}
        The ``"int8"`` codes are unsigned.

    Returns:
      An ``optax.GradientTransformation`` with state
      :class:`AccumulateSquaresState`.

    Raises:
      ValueError: a concrete ``initial_accumulator_value`` or ``eps`` < 0;
        a ``state_dtype`` that is not None, a floating dtype or ``"int8"``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import accumulate_squares
      >>> tx = accumulate_squares()
      >>> g = jnp.array([3.0, -4.0])
      >>> state = tx.init(g)
      >>> _, state = tx.update(g, state)
      >>> updates, state = tx.update(g, state)
      >>> print(updates.round(4))  # g / sqrt(2 g^2)
      [ 0.7071 -0.7071]

    References:
      Duchi, Hazan, Singer, *Adaptive Subgradient Methods for Online Learning
      and Stochastic Optimization*, JMLR 12, 2011.
    """
    _checks.check_range("initial_accumulator_value", initial_accumulator_value, 0.0)
    _checks.check_range("eps", eps, 0.0)
    storage = _state_dtype.resolve(state_dtype, accumulator_dtype)
    dtype = _state_dtype.float_dtype(storage)

    def init_fn(params: optax.Params) -> AccumulateSquaresState:
        concrete = _checks.concrete_values(
            "initial_accumulator_value", initial_accumulator_value
        )
        start = (
            jnp.sqrt(initial_accumulator_value)
            if concrete is None
            else float(np.sqrt(concrete))
        )
        roots = _dtypes.full_like_accumulator(params, start, dtype)
        return AccumulateSquaresState(roots)

    def accumulate(g: jax.Array, total: jax.Array) -> jax.Array:
        dtype = _dtypes.compute_dtype(g, total)
        new = hypot(_dtypes.cast(total, dtype), _dtypes.cast(g, dtype))
        return _dtypes.cast(new, total.dtype)

    def divide(g: jax.Array, total: jax.Array) -> jax.Array:
        dtype = _dtypes.compute_dtype(g, total)
        denominator = root(_dtypes.cast(total, dtype), eps, eps_in_sqrt=eps_in_sqrt)
        return safe_divide(_dtypes.cast(g, dtype), denominator)

    def update_fn(updates, state, params=None):
        del params
        roots = jax.tree.map(accumulate, updates, state.root_sum_of_squares)
        updates = jax.tree.map(divide, updates, roots)
        return updates, AccumulateSquaresState(roots)

    tx = optax.GradientTransformation(init_fn, update_fn)
    return _state_dtype.blockwise(tx, storage, {"root_sum_of_squares": False})
