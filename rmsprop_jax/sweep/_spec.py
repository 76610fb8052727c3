"""What is static about a sweep's compiled program: hashable descriptions of
its groups and options, which key ``jax.jit``'s cache.

A :class:`Program` (static, hashable) plus the traced hyperparameter columns
gives one XLA program; ``jax.jit`` caches it, so repeating a sweep with new
values of the same shapes does not trace again.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def _key(fn: Any) -> Any:
    """A structural key for a callable: ``functools.partial`` objects built
    anew with the same function and arguments compare equal."""
    if isinstance(fn, functools.partial):
        try:
            keywords = tuple(sorted(fn.keywords.items()))
            key = ("partial", _key(fn.func), fn.args, keywords)
            hash(key)
            return key
        except TypeError:  # unhashable arguments: identity
            return fn
    return fn


class Fn:
    """A callable compared by :func:`_key` (a static argument of ``jit``)."""

    __slots__ = ("fn", "_key")

    def __init__(self, fn: Callable) -> None:
        self.fn, self._key = fn, _key(fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fn) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)


@dataclasses.dataclass(frozen=True)
class GroupSpec:
    """One optimizer with one set of static switches (hashable)."""

    make_tx: Fn
    static: tuple[tuple[str, Any], ...]  # switches passed as Python values
    size: int  # number of distinct runs (configurations x landscapes) it trains
    # each of the group's runs -> its distinct run, where runs repeat (a grid
    # name the factory does not take); None: every run is distinct
    expand: tuple[int, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Options:
    """The options of one sweep call that shape its program (hashable)."""

    steps: int
    batch_size: int | None  # None: every step sees all of `data`
    restarts: int
    starts: bool  # params carry a leading axis of start points
    init_params: Fn | None  # None: fixed params
    chunk_size: int | None  # None: one vmap over every run of a group (per device)
    threshold: float | None  # loss > threshold * |loss_0| counts as divergence
    record: tuple[str, ...]
    record_every: int
    mesh: jax.sharding.Mesh | None = None  # one axis; None: the default device


@dataclasses.dataclass(frozen=True)
class Program:
    """Everything static about one sweep call (hashable)."""

    groups: tuple[GroupSpec, ...]
    losses: tuple[Fn, ...]  # the landscapes; one for a plain loss function
    per_run_landscape: bool  # a landscape index per run, else one for all
    order: tuple[int, ...] | None  # concatenated group runs -> output order
    shape: tuple[int, ...]  # leading output axes (optimizer, landscape, grid)
    options: Options


def float_dtype() -> jnp.dtype:
    """The dtype hyperparameters and recorded losses use: float32, or float64
    under ``jax_enable_x64``; never the parameters' dtype."""
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64))


def int_dtype() -> jnp.dtype:
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.int64))
