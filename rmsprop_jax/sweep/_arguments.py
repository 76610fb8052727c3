"""The first phase of a sweep: its arguments checked and put in order (the
factories and landscapes by name, the initial params, the randomness)."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import numpy as np


def check_count(name: str, value: Any, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}.")


def named(kind: str, value: Any) -> dict[str, Callable]:
    """A mapping of named callables (kept in order), or ``{"": value}``."""
    if isinstance(value, Mapping):
        if not value:
            raise ValueError(f"The mapping of {kind}s is empty.")
        for name, fn in value.items():
            if not isinstance(name, str) or not callable(fn):
                raise ValueError(
                    f"A mapping of {kind}s needs str names and callables; got "
                    f"{name!r}: {type(fn).__name__}."
                )
        return dict(value)
    if not callable(value):
        raise ValueError(
            f"The {kind} must be a callable or a mapping of named callables, got "
            f"{type(value).__name__}."
        )
    return {"": value}


def _is_init_fn(params: Any) -> bool:
    """A callable with no array leaves is an initialiser ``key -> params``."""
    leaves = jax.tree.leaves(params)
    return callable(params) and not any(
        isinstance(x, jax.Array | np.ndarray) for x in leaves
    )


def _data_size(data: Any, batch_size: int | None) -> int | None:
    if data is None:
        if batch_size is not None:
            raise ValueError("`batch_size` needs `data` to draw batches from.")
        return None
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree.leaves(data)}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            "Every leaf of `data` must be an array with the same leading (sample) "
            f"axis; got leading sizes {sorted(map(str, sizes))}."
        )
    n = sizes.pop()
    assert n is not None  # checked above
    if batch_size is not None and batch_size > n:
        raise ValueError(f"`batch_size` {batch_size} exceeds the {n} samples.")
    return n


class Initial(NamedTuple):
    params: Any  # fixed params, a batch of start points, or None
    init_fn: Callable | None  # key -> params
    starts: int | None  # number of start points


def initial(params: Any, starts: Any) -> Initial:
    if starts is None:
        if params is None:
            raise ValueError("Pass the initial `params` (or a batch of `starts`).")
        if _is_init_fn(params):
            return Initial(None, params, None)
        return Initial(params, None, None)
    if params is not None:
        raise ValueError(
            "Pass the initial params either as `params` or as a batch of start "
            "points in `starts`, not both (give `params=None` with `starts`)."
        )
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree.leaves(starts)}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            "`starts` must be a params pytree whose leaves share a leading axis "
            f"of start points; got leading sizes {sorted(map(str, sizes))}."
        )
    return Initial(starts, None, sizes.pop())


def check_options(
    steps: Any,
    restarts: Any,
    batch_size: Any,
    chunk_size: Any,
    memory_limit: Any,
) -> None:
    check_count("steps", steps)
    check_count("restarts", restarts)
    check_count("batch_size", batch_size, optional=True)
    check_count("chunk_size", chunk_size, optional=True)
    check_count("memory_limit", memory_limit, optional=True)


def check_threshold(divergence_threshold: Any) -> None:
    if divergence_threshold is not None and not divergence_threshold > 0:
        raise ValueError(
            f"`divergence_threshold` must be > 0 or None, got {divergence_threshold!r}."
        )


def check_randomness(
    initial: Initial,
    data: Any,
    batch_size: int | None,
    shuffle: Any,
    key: Any,
    restarts: int,
) -> int | None:
    """The number of samples in ``data``; ValueError where restarts or batches
    lack their randomness."""
    if not isinstance(shuffle, bool):
        raise ValueError(f"`shuffle` must be a bool, got {shuffle!r}.")
    samples = _data_size(data, batch_size)
    random = initial.init_fn is not None or (batch_size is not None and shuffle)
    if restarts > 1 and not random:
        raise ValueError(
            "`restarts` > 1 needs randomness: pass `params` as a function of a "
            "key, or `data` with `batch_size`."
        )
    if random and key is None:
        raise ValueError(
            "A random initialisation or shuffled batches (`batch_size`) needs "
            "`key`; or pass `shuffle=False` to take the batches in order."
        )
    return samples
