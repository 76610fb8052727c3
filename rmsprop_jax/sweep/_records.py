"""Per-step quantities a sweep can record, and the memory they take.

Every quantity is computed inside the compiled step from what the step has at
hand (params, gradients, updates, loss) or from the optimizer state with the
functions of :mod:`rmsprop_jax.diagnostics` -- never re-derived here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rmsprop_jax import _checks, declarations, diagnostics
from rmsprop_jax.transforms import (
    AccumulateSquaresState,
    ScaleByRmsState,
    ScaleByRpropState,
)

RECORDABLE: tuple[str, ...] = (
    "loss",
    "params",
    "grads",
    "updates",
    "effective_lr",
    "gradient_rms",
    "second_moment",
    "step_size",
)
"""The names ``sweep(record=...)`` accepts."""

_POST_UPDATE = ("updates", "effective_lr", "gradient_rms", "second_moment", "step_size")


def check_record(record: Sequence[str] | str) -> tuple[str, ...]:
    """The record names as a tuple, or ValueError naming the unknown one."""
    if isinstance(record, str):
        record = (record,)
    names = tuple(record)
    for name in names:
        if name not in RECORDABLE:
            hint = _checks.did_you_mean(name, RECORDABLE)
            raise ValueError(
                f"`record` got {name!r}, which is not a recordable quantity; "
                f"choose from {', '.join(map(repr, RECORDABLE))}.{hint}"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"`record` names a quantity twice: {names}.")
    return names


def is_post_update(name: str) -> bool:
    """Quantities of the update (and the state after it), NaN when the update
    was discarded because the run diverged at that step."""
    return name in _POST_UPDATE


def _first(found: Mapping[str, Any]) -> Any:
    return next(iter(found.values())) if found else None


def _nan_like(params: Any) -> Any:
    return jax.tree.map(lambda p: jnp.full(jnp.shape(p), jnp.nan, p.dtype), params)


def _shaped_like(tree: Any, params: Any) -> Any:
    """``tree`` (from a state) cast leaf by leaf to the params' dtypes; one
    scalar for every parameter (the rate of an optimizer without a
    preconditioner) broadcast to each leaf; NaN leaves where the state keeps no
    such quantity (``None``)."""
    if tree is None:
        return _nan_like(params)
    if isinstance(tree, jax.Array) and tree.ndim == 0:
        return jax.tree.map(lambda p: jnp.full(jnp.shape(p), tree, p.dtype), params)
    return jax.tree.map(lambda t, p: jnp.asarray(t).astype(p.dtype), tree, params)


def state_quantity(
    name: str,
    state: Any,
    params: Any,
    optimizer: Any,
    updates_so_far: jax.Array,
) -> Any:
    """One params-shaped diagnostic of ``state``, through the public API of
    :mod:`rmsprop_jax.diagnostics`.

    ``optimizer`` is the transformation the sweep's factory built (with the
    run's traced hyperparameters): its declaration says how the state is read
    (:mod:`rmsprop_jax.declarations`). The first state found
    (in :func:`~rmsprop_jax.diagnostics.find_states` order) is recorded; a
    state that keeps no such quantity gives NaN. An optimizer without a
    preconditioner records its learning rate as ``effective_lr``, for every
    parameter.
    """
    if name == "second_moment":
        found = diagnostics.find_states(state).values()
        moment = None
        for s in found:
            if isinstance(s, ScaleByRmsState):
                moment = jax.tree.map(jnp.square, s.rms)  # the state keeps sqrt(s)
                break
            if isinstance(s, AccumulateSquaresState):
                moment = jax.tree.map(jnp.square, s.root_sum_of_squares)
                break
        return _shaped_like(moment, params)
    if name == "step_size":
        found = diagnostics.find_states(state).values()
        steps = [s.step_size for s in found if isinstance(s, ScaleByRpropState)]
        return _shaped_like(steps[0] if steps else None, params)
    declared = declarations.declaration_of(optimizer) is not None
    try:
        if name == "gradient_rms":
            rms = diagnostics.gradient_rms(
                state,
                optimizer=optimizer if declared else None,
                steps=updates_so_far,
            )
            return _shaped_like(_first(rms), params)
        assert name == "effective_lr", name
        rates = diagnostics.effective_learning_rates(
            state,
            optimizer=optimizer if declared else None,
            steps=updates_so_far,
        )
    except diagnostics.MissingHyperparameterError as err:
        if declared:
            why = str(err)
        else:
            why = (
                f"`{err.role}` is needed and the factory's transformation "
                "declares nothing: return the transformation of one of this "
                "library's factories, or decorate the factory with "
                "rmsprop_jax.declarations.declare."
            )
        raise ValueError(
            f"record {name!r} cannot be computed for this optimizer: {why}"
        ) from err
    return _shaped_like(_first(rates), params)


def record_step(
    names: Sequence[str],
    *,
    loss: jax.Array,
    params: Any,
    grads: Any,
    updates: Any,
    state: Any,
    optimizer: Any,
    updates_so_far: jax.Array,
) -> dict[str, Any]:
    """The recorded quantities of one step: ``loss``, ``params`` and ``grads``
    at the params before the update, ``updates`` of the step, diagnostics of
    the state after it."""
    direct = {"loss": loss, "params": params, "grads": grads, "updates": updates}
    out = {}
    for name in names:
        if name in direct:
            out[name] = direct[name]
            if name == "updates":
                out[name] = _shaped_like(updates, params)
        else:
            out[name] = state_quantity(name, state, params, optimizer, updates_so_far)
    return out


def bytes_per_record(
    names: Sequence[str], params: Any, loss_dtype: Any
) -> dict[str, int]:
    """Bytes one recorded step of one run takes, per quantity."""
    leaves = jax.tree.leaves(params)
    tree = sum(math.prod(np.shape(x)) * np.dtype(x.dtype).itemsize for x in leaves)
    return {
        name: np.dtype(loss_dtype).itemsize if name == "loss" else int(tree)
        for name in names
    }


def default_memory_limit() -> int:
    """Half of the default device's memory when it reports it, else 4 GiB."""
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except (RuntimeError, NotImplementedError):
        stats = {}
    limit = stats.get("bytes_limit")
    return int(limit) // 2 if limit else 4 * 2**30


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB" if n >= 2**27 else f"{n / 2**20:.3g} MiB"


def plan_memory(
    per_record: Mapping[str, int],
    *,
    runs: int,
    per_device: int | None = None,
    records: int,
    steps: int,
    record_every: int,
    memory_limit: int,
    chunk_size: int | None,
) -> int | None:
    """The chunk size that keeps a recording within ``memory_limit``.

    The records of all ``runs`` stay on the device (``runs * records *
    sum(per_record)`` bytes); while a chunk of runs is computed its records
    are also held once more in scan order before being laid out, so the peak
    is the whole recording plus one chunk's (a chunk of one device's
    ``per_device`` runs, where the runs are split over devices). Returns ``chunk_size``
    unchanged when that fits, else the largest chunk that fits.

    Raises:
      ValueError: even one run per chunk would not fit; the message names
        ``record``, ``record_every``, ``memory_limit`` and ``chunk_size``.
    """
    per_run = records * sum(per_record.values())
    total = runs * per_run
    block = runs if per_device is None else per_device  # the runs of one device
    chunk = block if chunk_size is None else min(chunk_size, block)
    if total + chunk * per_run <= memory_limit or per_run == 0:
        return chunk_size
    fits = (memory_limit - total) // per_run if per_run else runs
    if fits >= 1:
        return int(fits)
    biggest = max(per_record, key=per_record.__getitem__)
    per_step = sum(per_record.values())
    thin = -(-(runs + 1) * steps * per_step // memory_limit)
    raise ValueError(
        f"Recording {', '.join(per_record)} for {runs} runs x {records} steps "
        f"needs about {_gib(total + per_run)} ({_gib(total)} of records plus one "
        f"run in flight), more than memory_limit={memory_limit} "
        f"({_gib(memory_limit)}), even with chunk_size=1. Record fewer quantities "
        f"(`record`; {biggest!r} is the largest), keep fewer steps "
        f"(`record_every={max(thin, record_every + 1)}` or more), sweep fewer "
        "configurations, or raise `memory_limit`."
    )


def check_record_every(record_every: Any, steps: int) -> int:
    if (
        isinstance(record_every, bool)
        or not isinstance(record_every, int | np.integer)
        or record_every < 1
    ):
        raise ValueError(
            f"`record_every` must be a positive int, got {record_every!r}."
        )
    return int(record_every)


def record_count(steps: int, record_every: int) -> int:
    """Steps 0, k, 2k, ... below ``steps``."""
    return -(-steps // record_every)
