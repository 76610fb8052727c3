"""Sign descent's primitive: replace every gradient by its sign."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from rmsprop_jax import _dtypes, _inputs


def _sign(g: jax.Array) -> jax.Array:
    """sign(g) in the compute dtype, as every primitive returns."""
    return jnp.sign(_dtypes.cast(g, _dtypes.compute_dtype(g)))


@_inputs.primitive()
def scale_by_sign() -> optax.GradientTransformation:
    r"""Replaces every gradient by its sign.

    .. math::
        u_t = \mathrm{sign}(g_t) \in \{-1, 0, 1\}

    This is RMSprop in the limit :math:`\beta = 0,\ \epsilon = 0` (up to the
    factor :math:`1/\sqrt{1-\beta} = 1`), and the direction Rprop steps in.
    Stateless.

    Returns:
      An ``optax.GradientTransformation`` with state ``optax.EmptyState``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import scale_by_sign
      >>> tx = scale_by_sign()
      >>> g = jnp.array([0.003, -20.0, 0.0])
      >>> updates, _ = tx.update(g, tx.init(g))
      >>> print(updates)
      [ 1. -1.  0.]

    References:
      Bernstein, Wang, Azizzadenesheli, Anandkumar, *signSGD: Compressed
      Optimisation for Non-Convex Problems*, ICML 2018.
    """

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(_sign, updates), state

    return optax.GradientTransformation(optax.init_empty_state, update_fn)
