"""Hyperparameters as scalars of the compute dtype.

A scalar factor of a hyperparameter (:math:`1-\\beta`, :math:`1-\\beta^t`) is
computed in the compute dtype from the hyperparameter *rounded to that dtype
first*, so that a Python float and the same value as a float32 array (as
``optax.inject_hyperparams`` passes it) give the same updates, and the first
bias-corrected step cancels exactly.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from rmsprop_jax import _dtypes


def scalar(value: ArrayLike, dtype: Any) -> jax.Array:
    """A hyperparameter as an array of the compute ``dtype`` (rounded once)."""
    return _dtypes.cast(jnp.asarray(value), dtype)


def times(factor: Any, x: jax.Array) -> jax.Array:
    """``factor * x``; no operation at all when ``factor`` is the literal 1.

    ``x * 1 == x`` for every float (NaN and infinities included), so skipping
    it changes no result, only the time it takes to trace. Anything but a
    Python int or float (a traced or NumPy factor, whose dtype could promote
    ``x``) is always multiplied.
    """
    if type(factor) in (int, float) and factor == 1:
        return x
    return factor * x
