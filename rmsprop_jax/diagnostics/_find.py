"""Finding the declared states in any optimizer state.

A state is read where its type declares a divisor (a second moment the update
divides by) or step sizes (:func:`rmsprop_jax.declarations.fields_of`); the
traversal descends into the fields a declaration names ``inner``, into
``optax.inject_hyperparams`` (whose hyperparameters it carries down) and into
every other tuple, NamedTuple and dict.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rmsprop_jax import declarations
from rmsprop_jax._guard import SkipNonfiniteState

INJECT = (optax.InjectHyperparamsState, optax.InjectStatefulHyperparamsState)


class Found(NamedTuple):
    """A declared state found in an optimizer state."""

    path: tuple[Any, ...]  # its key path
    state: Any  # the state (None: an optimizer without a preconditioner)
    fields: declarations.StateFields | None  # its declared fields
    hyperparams: Mapping[str, Any]  # of the enclosing inject_hyperparams
    outer_count: jax.Array | None  # the step count of that inject_hyperparams
    injected: bool  # inside an inject_hyperparams


def key(path: Sequence[Any]) -> str:
    """A key path as ``"1/0/rms"``."""
    return jax.tree_util.keystr(tuple(path), simple=True, separator="/")


def _stops(node: Any) -> bool:
    return isinstance(node, INJECT) or declarations.fields_of(node) is not None


def walk(
    tree: Any,
    prefix: tuple[Any, ...] = (),
    hyperparams: Mapping[str, Any] | None = None,
    outer_count: jax.Array | None = None,
    injected: bool = False,
) -> Iterator[Found]:
    """Every state in ``tree`` whose type declares a divisor or step sizes."""
    hyperparams = {} if hyperparams is None else hyperparams
    flat, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_stops)
    for path, node in flat:
        path = prefix + tuple(path)
        if isinstance(node, INJECT):
            inner = (*path, jax.tree_util.GetAttrKey("inner_state"))
            merged = {**hyperparams, **node.hyperparams}
            yield from walk(node.inner_state, inner, merged, node.count, True)
            continue
        fields = declarations.fields_of(node)
        if fields is None:
            continue
        if fields.divisor is not None or fields.step_sizes:
            yield Found(path, node, fields, hyperparams, outer_count, injected)
        for name in fields.inner:
            inner = (*path, jax.tree_util.GetAttrKey(name))
            yield from walk(
                getattr(node, name), inner, hyperparams, outer_count, injected
            )


# Containers and count-only states around an optimizer without a
# preconditioner. Any other undeclared state type (optax's TraceState of LARS,
# AddNoiseState, ...) belongs to another library's optimizer.
_PLAIN = (
    optax.EmptyState,
    optax.ScaleByScheduleState,
    optax.MaskedState,
    optax.MultiTransformState,
    SkipNonfiniteState,
)


def _only_first_moments(node: Any) -> bool:
    """A declared state of momenta and counts only (``MomentumState``)."""
    fields = declarations.fields_of(node)
    if fields is None:
        return False
    return not (
        fields.second_moments or fields.step_sizes or fields.previous or fields.inner
    )


def without_preconditioner(
    tree: Any,
    hyperparams: Mapping[str, Any] | None = None,
    outer_count: jax.Array | None = None,
    injected: bool = False,
) -> Found | None:
    """The state of an optimizer without a preconditioner: made only of
    momenta, step counts and the containers around them (``optax.MultiSteps``'
    accumulated gradients aside), as a :class:`Found` carrying the
    hyperparameters of an enclosing ``inject_hyperparams``; None for any other
    state."""
    hyperparams = {} if hyperparams is None else hyperparams
    found = Found((), None, None, hyperparams, outer_count, injected)

    def visit(node: Any) -> bool:
        nonlocal found
        if node is None or _only_first_moments(node):
            return True
        if isinstance(node, INJECT):
            merged = {**hyperparams, **node.hyperparams}
            inner = without_preconditioner(node.inner_state, merged, node.count, True)
        elif isinstance(node, optax.MultiStepsState):
            inner = without_preconditioner(
                node.inner_opt_state, hyperparams, outer_count, injected
            )
        elif isinstance(node, _PLAIN) or type(node) in (tuple, list):
            return all(visit(child) for child in node)
        elif isinstance(node, dict):
            return all(visit(child) for child in node.values())
        elif isinstance(node, jax.Array | np.ndarray):
            return not jnp.issubdtype(node.dtype, jnp.inexact)  # a step count
        else:
            return False  # another optimizer's state
        if inner is None:
            return False
        found = inner
        return True

    return found if visit(tree) else None
