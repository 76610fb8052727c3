"""A pre-restore check: does a saved tree fit the state it will be restored into?

Optimizer states are pytrees of NamedTuples, so any checkpointing library
saves and restores them (see ``docs/scaling.md`` for Orbax). Restoring needs
a *target* -- ``jax.eval_shape(tx.init, params)`` -- with the saved structure.
When the optimizer or its flags changed between saving and restoring
(``centered=``, ``momentum=``, an Rprop ``variant`` with another state, other
parameter shapes), the structures differ; and a saved float32 state restored
into a bfloat16 target is cast without a word. :func:`check_restorable`
compares the two trees first and raises one ``ValueError`` that lists every
difference by key path. It needs no checkpointing library: any tree whose
leaves have ``shape`` and ``dtype`` will do (arrays, ``jax.ShapeDtypeStruct``,
Orbax's array metadata). :func:`migrate` rebuilds a tree restored without a
target (plain dicts and lists) into the target's structure, dropping only the
fields it is told to: how a checkpoint written before the states stopped
keeping unused step counts is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

__all__ = ["check_restorable", "migrate"]


def _name(key: Any) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)


def _path(path: Sequence[Any]) -> str:
    return "/".join(_name(k) for k in path)


def _leaves(tree: Any) -> dict[str, Any]:
    """``{"a/0/nu/w": leaf}``; NamedTuple fields, dict keys and indices alike."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {_path(path): leaf for path, leaf in flat}


def _describe(leaf: Any) -> str:
    shape = ",".join(str(d) for d in tuple(leaf.shape))
    return f"{np.dtype(leaf.dtype).name}[{shape}]"


def check_restorable(saved: Any, target: Any, *, dtypes: bool = True) -> None:
    """Raises a ValueError unless ``target`` has the structure of ``saved``.

    Key paths are compared as strings (``"opt_state/0/nu/kernel"``), so a
    NamedTuple field and the dict key a checkpoint stores it under match.
    ``None`` fields (an optional accumulator that is off) are empty subtrees
    on both sides.

    Args:
      saved: the saved tree or its metadata, e.g.
        ``orbax.checkpoint.StandardCheckpointer().metadata(path).item_metadata``.
      target: the tree to restore into, e.g. ``jax.eval_shape(tx.init, params)``
        (inside whatever holds it, as saved).
      dtypes: also require equal dtypes (a restore would cast silently).

    Raises:
      ValueError: listing the paths only in the target, only in the saved tree,
        and those whose shape (or dtype) differs.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from rmsprop_jax import rmsprop
      >>> from rmsprop_jax.checkpointing import check_restorable
      >>> params = {"w": jnp.zeros(3)}
      >>> saved = rmsprop().init(params)
      >>> check_restorable(saved, jax.eval_shape(rmsprop().init, params))
      >>> target = jax.eval_shape(rmsprop(centered=True).init, params)
      >>> check_restorable(saved, target)
      Traceback (most recent call last):
      ...
      ValueError: the saved tree does not fit the target: in the target only: 0/mu/w (float32[3]). Was it saved with the same optimizer, flags and parameter shapes?
    """  # noqa: E501
    _raise_if_unfit(_leaves(saved), _leaves(target), dtypes)


def _raise_if_unfit(have: dict[str, Any], want: dict[str, Any], dtypes: bool) -> None:
    problems = []
    only_target = [f"{k} ({_describe(want[k])})" for k in want if k not in have]
    only_saved = [f"{k} ({_describe(have[k])})" for k in have if k not in want]
    if only_target:
        problems.append("in the target only: " + ", ".join(only_target))
    if only_saved:
        problems.append("in the saved tree only: " + ", ".join(only_saved))
    for key in (k for k in want if k in have):
        old, new = have[key], want[key]
        differs = tuple(old.shape) != tuple(new.shape)
        differs |= dtypes and np.dtype(old.dtype) != np.dtype(new.dtype)
        if differs:
            problems.append(f"{key} is {_describe(old)}, the target {_describe(new)}")
    if problems:
        raise ValueError(
            "the saved tree does not fit the target: "
            + "; ".join(problems)
            + ". Was it saved with the same optimizer, flags and parameter shapes?"
        )


def migrate(restored: Any, target: Any, *, drop: Sequence[str] = ("count",)) -> Any:
    """``restored`` rebuilt into the structure of ``target``, by key path.

    For a tree restored *without* a target (Orbax then returns plain dicts and
    lists, NamedTuple fields as dict keys) from a checkpoint whose state layout
    differs from today's only by fields the states no longer keep. Every leaf
    of ``target`` is taken from ``restored`` at the same key path; leaves of
    ``restored`` whose last key is in ``drop`` and that ``target`` lacks are
    left out. Any other difference raises, as in :func:`check_restorable`.

    Args:
      restored: the restored tree, e.g.
        ``orbax.checkpoint.StandardCheckpointer().restore(path)``.
      target: a tree of the wanted structure, e.g. ``tx.init(params)`` or
        ``jax.eval_shape(tx.init, params)`` (inside whatever holds it, as saved).
      drop: the field names that may be left out. Default ``("count",)``: step
        counts that a state kept before and no longer keeps.

    Returns:
      A tree with ``target``'s structure and ``restored``'s leaves.

    Raises:
      ValueError: a leaf of ``target`` missing from ``restored``, a leaf of
        ``restored`` neither in ``target`` nor dropped, or another shape or
        dtype.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import adagrad
      >>> from rmsprop_jax.checkpointing import migrate
      >>> params = {"w": jnp.zeros(2)}
      >>> old = [{"count": jnp.array(7), "root_sum_of_squares": {"w": jnp.ones(2)}}, {}]
      >>> state = migrate(old, adagrad().init(params))
      >>> type(state[0]).__name__, state[0].root_sum_of_squares["w"].tolist()
      ('AccumulateSquaresState', [1.0, 1.0])
    """
    have = _leaves(restored)
    flat, treedef = jax.tree_util.tree_flatten_with_path(target)
    want = {_path(path): leaf for path, leaf in flat}
    droppable = {k for k in have if k not in want and k.rsplit("/", 1)[-1] in set(drop)}
    kept = {k: v for k, v in have.items() if k not in droppable}
    _raise_if_unfit(kept, want, dtypes=True)
    return jax.tree_util.tree_unflatten(treedef, [kept[_path(p)] for p, _ in flat])
