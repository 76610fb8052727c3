"""Dtype rules shared by every stateful transformation.

* Accumulators (second moments, traces, step sizes) are stored in float32 for
  low-precision (float16, bfloat16) parameters, in the parameters' own dtype
  otherwise, unless the user asks for ``accumulator_dtype`` explicitly.
* Arithmetic happens in at least float32 (``compute_dtype``), so that squares of
  float16 gradients do not overflow and tiny eps values do not underflow.
* Updates are cast back to the incoming gradient's dtype.
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
    """The dtype arithmetic runs in: the widest of ``arrays``' and float32.

    ``jnp.result_type(jnp.float32, *arrays)``, memoised on the arrays' dtypes
    and weak types (and the promotion settings): a transformation asks once
    or twice per leaf, and each uncached answer costs tracing time.
    """
    try:
        avals = [jax.typeof(x) for x in arrays]
    except TypeError:
        return jnp.result_type(jnp.float32, *arrays)
    key = tuple((a.dtype, a.weak_type) for a in avals)
    config: Any = jax.config  # its typed interface omits the flag attributes
    return _promoted(key, config.jax_enable_x64, config.jax_numpy_dtype_promotion)


_WEAK_KIND = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


@functools.cache
def _promoted(key: tuple, x64: bool, promotion: str) -> jnp.dtype:
    del x64, promotion  # part of the cache key only: result_type reads them
    # A weakly typed array promotes like a Python scalar of its kind.
    samples = [_WEAK_KIND[d.kind] if weak else d for d, weak in key]
    return jnp.result_type(jnp.float32, *samples)


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
