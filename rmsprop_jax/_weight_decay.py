"""Coupled weight decay, ``g + wd * w``, in the compute dtype.

Used by the PyTorch presets and :func:`~rmsprop_jax.adadelta`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _dtypes


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
