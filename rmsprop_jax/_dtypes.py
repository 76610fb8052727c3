"""Dtype rules shared by every stateful transformation.

* Accumulators (second moments, traces, step sizes) are stored in float32 for
  low-precision (float16, bfloat16) parameters, in the parameters' own dtype
  otherwise, unless the user asks for ``accumulator_dtype`` explicitly.
* Arithmetic happens in at least float32 (``compute_dtype``), so that squares of
  float16 gradients do not overflow and tiny eps values do not underflow.
* Primitives return updates in that compute dtype, so that values passed
  between the links of a chain are not rounded to 16 bits; optimizers and
  presets cast their output to the gradients' dtype once, at the end
  (``_inputs.py``).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax


def accumulator_dtype(like: Any, requested: Any | None) -> jnp.dtype:
    """The storage dtype of an accumulator for a leaf that looks like ``like``."""
    if requested is not None:
        return jnp.dtype(requested)
    dtype = jnp.result_type(like)
    if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32:
        return jnp.dtype(jnp.float32)
    return dtype


def compute_dtype(*arrays: Any) -> jnp.dtype:
    """The dtype arithmetic on values runs in: the widest of ``arrays``' and float32.

    ``jnp.result_type(jnp.float32, *dtypes)`` on the arrays' *own* dtypes: a
    weakly typed float64 gradient (the gradient of a function of a Python
    scalar under ``jax_enable_x64``) is computed in float64, not demoted to
    float32 as a weak type would be. Complex dtypes give their real
    counterpart (complex values are split into real pairs before any
    arithmetic). Memoised on the dtypes: a transformation asks once or twice
    per leaf, and each uncached answer costs tracing time.
    """
    dtypes = tuple(jnp.dtype(jnp.result_type(x)) for x in arrays)
    config: Any = jax.config  # its typed interface omits the flag attributes
    return _promoted(dtypes, config.jax_enable_x64, config.jax_numpy_dtype_promotion)


@functools.cache
def _promoted(dtypes: tuple, x64: bool, promotion: str) -> jnp.dtype:
    del x64, promotion  # part of the cache key only: result_type reads them
    dtype = jnp.dtype(jnp.result_type(jnp.float32, *dtypes))
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return jnp.dtype(jnp.finfo(dtype).dtype)
    return dtype


def cast(x: jax.Array, dtype: Any) -> jax.Array:
    """``x.astype(dtype)``, or ``x`` itself when that would change nothing.

    Tracing a conversion costs time even when XLA drops it, and a leaf-wise
    transformation does several per leaf: this skips the ones that would
    keep the dtype of a strongly typed array (a weakly typed one is still
    converted, which makes it strongly typed, as ``astype`` does).
    """
    if x.dtype == dtype and not jax.typeof(x).weak_type:
        return x
    return x.astype(dtype)


def zeros_like_accumulator(params: optax.Params, requested: Any | None) -> Any:
    """A tree of zeros shaped like ``params`` in the accumulator dtype."""
    return jax.tree.map(
        lambda p: jnp.zeros_like(p, dtype=accumulator_dtype(p, requested)), params
    )


def full_like_accumulator(
    params: optax.Params, value: Any, requested: Any | None
) -> Any:
    """A tree filled with ``value`` shaped like ``params`` in the accumulator dtype."""
    return jax.tree.map(
        lambda p: jnp.full_like(p, value, dtype=accumulator_dtype(p, requested)),
        params,
    )
