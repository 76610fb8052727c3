"""An element-wise choice traced as one primitive.

``jnp.where`` and ``jnp.isinf`` are jitted functions: each call puts a nested
call into the traced program, and every compiled step and sweep traces and
lowers each of them (about a tenth of a small sweep's first call goes to the
nested calls of its optimizer and divergence checks). :func:`where` and
:func:`isinf` give the same values as ``lax`` primitives directly.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


def _like(scalar: Any, other: jax.Array) -> jax.Array | None:
    """A Python number as an array of ``other``'s dtype and shape, where
    ``jnp.where`` would promote it to that dtype (a weak scalar against an
    array of its own kind or wider: an int against any number, a float
    against a float); None otherwise."""
    if isinstance(scalar, bool):
        return None
    if isinstance(scalar, int) and jnp.issubdtype(other.dtype, jnp.number):
        return lax.full_like(other, scalar)
    if isinstance(scalar, float) and jnp.issubdtype(other.dtype, jnp.inexact):
        return lax.full_like(other, scalar)
    return None


def where(condition: Any, x: Any, y: Any) -> jax.Array:
    """``jnp.where(condition, x, y)``, as one ``select_n`` where it can be:
    both arrays of one dtype, or an array and a Python number ``jnp.where``
    would cast to the array's dtype; ``jnp.where`` itself otherwise."""
    a, b = x, y
    if isinstance(a, jax.Array) and not isinstance(b, jax.Array):
        b = _like(b, a)
    elif isinstance(b, jax.Array) and not isinstance(a, jax.Array):
        a = _like(a, b)
    if (
        not (isinstance(a, jax.Array) and isinstance(b, jax.Array))
        or a.dtype != b.dtype
    ):
        return jnp.where(condition, x, y)
    shape = jnp.broadcast_shapes(jnp.shape(condition), a.shape, b.shape)
    return lax.select(
        jnp.broadcast_to(condition, shape),
        jnp.broadcast_to(a, shape),
        jnp.broadcast_to(b, shape),
    )


def isinf(x: jax.Array) -> jax.Array:
    """``jnp.isinf(x)`` for a floating-point ``x``."""
    return lax.abs(x) == jnp.inf
