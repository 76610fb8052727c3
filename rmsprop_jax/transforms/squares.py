"""Adagrad's primitive: divide by the root of the running sum of squared gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes
from rmsprop_jax.transforms._shared import root


class AccumulateSquaresState(NamedTuple):
    """State of :func:`accumulate_squares`."""

    sum_of_squares: optax.Updates  # G, the running sum of squared gradients.


def accumulate_squares(
    initial_accumulator_value: ArrayLike = 0.0,
    eps: ArrayLike = 1e-10,
    *,
    eps_in_sqrt: bool = True,
    accumulator_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""Divides gradients by the root of the running sum of their squares (Adagrad).

    .. math::
        G_t = G_{t-1} + g_t^2, \qquad
        u_t = \frac{g_t}{\sqrt{G_t + \epsilon}}
        \quad\text{or}\quad \frac{g_t}{\sqrt{G_t} + \epsilon}
        \ (\texttt{eps\_in\_sqrt=False}),

    with :math:`G_0` = ``initial_accumulator_value``. Because :math:`G` only
    grows, the effective step size shrinks monotonically.

    Args:
      initial_accumulator_value: :math:`G_0` >= 0. Default 0.0 (Keras: 0.1).
      eps: :math:`\epsilon` >= 0. Default 1e-10.
      eps_in_sqrt: where ``eps`` goes; default True (PyTorch: False).
      accumulator_dtype: storage dtype of :math:`G`; default float32 for
        float16/bfloat16 parameters, else the parameters' dtype.

    Returns:
      An ``optax.GradientTransformation`` with state
      :class:`AccumulateSquaresState`.

    Raises:
      ValueError: a concrete ``initial_accumulator_value`` or ``eps`` < 0.

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

    def init_fn(params: optax.Params) -> AccumulateSquaresState:
        sums = _dtypes.full_like_accumulator(
            params, initial_accumulator_value, accumulator_dtype
        )
        return AccumulateSquaresState(sums)

    def accumulate(g: jax.Array, total: jax.Array) -> jax.Array:
        g = _dtypes.cast(g, _dtypes.compute_dtype(g, total))
        return _dtypes.cast(total + g * g, total.dtype)

    def divide(g: jax.Array, total: jax.Array) -> jax.Array:
        dtype = _dtypes.compute_dtype(g, total)
        denominator = root(_dtypes.cast(total, dtype), eps, eps_in_sqrt)
        return _dtypes.cast(_dtypes.cast(g, dtype) / denominator, g.dtype)

    def update_fn(updates, state, params=None):
        del params
        sums = jax.tree.map(accumulate, updates, state.sum_of_squares)
        updates = jax.tree.map(divide, updates, sums)
        return updates, AccumulateSquaresState(sums)

    return optax.GradientTransformation(init_fn, update_fn)
