"""Tree helpers shared by the non-finite guard, the sweep's divergence check and
the messages that name the states in an optimizer state."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax


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


def state_type_names(state: Any) -> tuple[str, ...]:
    """The type names of the NamedTuples in ``state``, in tree order."""
    names: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, optax.MaskedNode):
            return  # a masked-out parameter, not a state
        if isinstance(node, tuple) and hasattr(node, "_fields"):
            names.append(type(node).__name__)
            children: Any = tuple(node)
        elif isinstance(node, list | tuple):
            children = node
        elif isinstance(node, dict):
            children = node.values()
        else:
            return
        for child in children:
            visit(child)

    visit(state)
    return tuple(names)
