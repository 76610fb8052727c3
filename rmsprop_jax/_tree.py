"""Tree helpers shared by the non-finite guard and the sweep's divergence check."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def all_finite(tree: Any) -> jax.Array:
    """A boolean scalar: every element of every leaf is finite."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def select(keep_new: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where ``keep_new`` else ``old``, leaf by leaf, in ``new``'s dtypes.

    An element-wise select, not ``lax.cond``: it takes its inputs' dtypes and
    shardings as they are.
    """
    return jax.tree.map(
        lambda n, o: jnp.where(keep_new, n, o).astype(jnp.result_type(n)), new, old
    )
