"""Measuring runs of the library's optimizers: every experiment trains through
:func:`rmsprop_jax.sweep.sweep` (one call, one compiled program), then reads
the per-step records with the helpers here.

The engine records the params and the loss *before* each update; the point
after the last update is ``result.final_params`` / ``result.final_loss``.
:func:`iterates` and :func:`loss_curve` append it, so a run of ``steps``
updates gives ``steps + 1`` points, NaN from the step a run diverged on (the
engine freezes a diverged run's params; they are not an iterate).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

import rmsprop_jax as rj
from rmsprop_jax.sweep import CPU_COMPILER_OPTIONS, SweepResult, grid, sweep

# The six optimizers compared throughout, as factories of their learning rate.
OPTIMIZERS: dict[str, Callable[..., Any]] = {
    "sgd": rj.sgd,
    "momentum": functools.partial(rj.sgd, momentum=0.9),
    "adagrad": rj.adagrad,
    "rmsprop": rj.rmsprop,
    "rprop": rj.rprop,
    "adam": rj.adam,
}
LABELS = {  # what each is, for legends and tables
    "sgd": "sgd",
    "momentum": "sgd + momentum 0.9",
    "adagrad": "adagrad",
    "rmsprop": "rmsprop, decay beta 0.9",
    "rprop": "rprop, variant iRprop-",
    "adam": "adam",
}
FLOOR = 1e-12  # suboptimality below this counts as "at the minimum"


def _with_final(records: Any, final: Any, diverged: np.ndarray) -> Any:
    """Each leaf of ``records`` ``(*lead, R, ...)`` with ``final`` ``(*lead,
    ...)`` appended on its record axis; NaN where the run diverged."""
    lead = diverged.ndim

    def append(rec, last):
        rec, last = np.asarray(rec, np.float64), np.asarray(last, np.float64)
        mask = np.reshape(diverged, diverged.shape + (1,) * (last.ndim - lead))
        return np.concatenate(
            [rec, np.expand_dims(np.where(mask, np.nan, last), lead)], axis=lead
        )

    return jax.tree.map(append, records, final)


def iterates(result: SweepResult) -> Any:
    """w_0 .. w_steps of every run of a sweep that recorded ``"params"``: the
    params' pytree with leaves ``(*lead, steps + 1, ...)``, float64 (for 2-D
    landscapes an array whose last axis holds the two coordinates)."""
    return _with_final(
        result.records["params"], result.final_params, np.asarray(result.diverged)
    )


def loss_curve(result: SweepResult) -> np.ndarray:
    """The loss at w_0 .. w_steps of every run: ``(*lead, steps + 1)``, float64."""
    return _with_final(result.losses, result.final_loss, np.asarray(result.diverged))


def jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``jax.jit(fn)`` compiled as the sweep compiles on the CPU
    (:data:`rmsprop_jax.sweep.CPU_COMPILER_OPTIONS`: less compile time, the
    same run time and values). Other backends keep their defaults."""
    cpu = jax.default_backend() == "cpu"
    return jax.jit(fn, compiler_options=CPU_COMPILER_OPTIONS if cpu else None)


def evaluate(fn: Callable[[Any], Any], points: Any, lead: int, chunk: int = 64) -> Any:
    """``fn`` (one params pytree -> outputs) at every recorded point of
    ``points`` (leaves ``(*shape[:lead], ...)``), ``chunk`` points at a time in
    one compiled ``lax.map``: measures recorded params (test accuracy, say);
    training stays in the engine."""
    leaves = jax.tree.leaves(points)
    shape = leaves[0].shape[:lead]
    # Reshaped by NumPy: jnp.reshape would compile a program per leaf shape.
    flat = jax.tree.map(lambda x: np.reshape(x, (-1, *np.shape(x)[lead:])), points)
    out = jit(lambda p: jax.lax.map(fn, p, batch_size=chunk))(flat)
    return jax.tree.map(lambda y: np.asarray(y).reshape(*shape, *y.shape[1:]), out)


def score(gaps: np.ndarray) -> np.ndarray:
    """Ranks runs by f - f* (lower is better; nan/inf count as 1e30).

    The mean log10 gap over the second half of the run, so that a run must end
    low, plus 1e-3 times the mean over the whole run, so that among runs that
    end equally low the faster one wins.
    """
    safe = np.nan_to_num(gaps, nan=1e30, posinf=1e30, neginf=1e30)
    logs = np.log10(np.clip(safe, FLOOR, 1e30))
    half = logs.shape[-1] // 2
    return np.mean(logs[..., half:], axis=-1) + 1e-3 * np.mean(logs, axis=-1)


def first_below(values: np.ndarray, threshold: float) -> int | None:
    """First index at which ``values`` < threshold, else None."""
    hits = np.flatnonzero(values < threshold)
    return int(hits[0]) if hits.size else None


def path_ratio(ws: np.ndarray, target: np.ndarray, radius: float) -> float:
    """Path length until within ``radius`` of ``target``, over the straight line.

    1.0 is a straight path; inf if the run never gets within ``radius``.
    """
    distance = np.linalg.norm(ws - target, axis=-1)
    arrive = first_below(distance, radius)
    if arrive is None or not np.all(np.isfinite(ws[: arrive + 1])):
        return float("inf")
    length = np.sum(np.linalg.norm(np.diff(ws[: arrive + 1], axis=0), axis=-1))
    return float(length / max(distance[0] - radius, 1e-12))


def overshoot(ws: np.ndarray, target: np.ndarray) -> float:
    """How far the path goes past ``target`` along the start-to-target line."""
    direction = (target - ws[0]) / np.linalg.norm(target - ws[0])
    past = (ws - target) @ direction
    return float(np.nanmax(np.maximum(past, 0.0)))


def nearest_minimum(land: rj.landscapes.Landscape, w: np.ndarray) -> np.ndarray:
    minima = np.asarray(land.minima)
    return minima[np.argmin(np.linalg.norm(minima - w, axis=-1))]


def landscape_sweep(
    lands: Sequence[rj.landscapes.Landscape],
    steps: int,
    lrs: np.ndarray,
    starts: np.ndarray,
    optimizers: dict[str, Callable[..., Any]] | None = None,
) -> SweepResult:
    """Every optimizer on every landscape at every learning rate from every
    start: ONE engine call, axes ``[optimizer, landscape, lr, start, ...]``.

    No divergence threshold: a run stops (NaN) only when it leaves the finite
    numbers, so a loss that rises steeply and comes back is measured as is.
    """
    return sweep(
        OPTIMIZERS if optimizers is None else optimizers,
        {land.name: land.fn for land in lands},
        None,
        grid(learning_rate=[float(lr) for lr in lrs]),
        steps=steps,
        starts=np.asarray(starts, np.float32),
        record="params",
        divergence_threshold=None,
    )


def replay(
    optimizers: Any,
    gradients: Any,
    steps: int,
    configurations: Any = None,
    record: str = "params",
) -> SweepResult:
    """The optimizers fed a fixed sequence of gradients: ONE engine call.

    ``gradients`` ``(n, weights)``: each column is one weight, starting at 0,
    and step ``t`` sees row ``t mod n``. The rows are the sweep's data, taken
    in order (``shuffle=False``, one row a step), and the loss ``sum(g * w)``
    makes each row the gradient (and iRprop+'s ``value``). No divergence
    threshold: the loss starts at 0. The weights have ``gradients``' dtype.
    """
    if not isinstance(gradients, jax.Array):  # placed, not staged by a program
        gradients = jax.device_put(np.asarray(gradients))
    return sweep(
        optimizers,
        lambda w, g: jax.numpy.sum(g * w),  # its gradient is the row g
        np.zeros(gradients.shape[1], gradients.dtype),
        configurations,
        data=gradients,
        batch_size=1,  # one row a step, in the stored order
        shuffle=False,
        steps=steps,
        record=record,
        divergence_threshold=None,
    )


_TUNED: dict[tuple, tuple[int, np.ndarray, np.ndarray]] = {}


def _key(land: rj.landscapes.Landscape, name: str, steps: int, lrs) -> tuple:
    return (land.name, land.start, name, steps, tuple(np.asarray(lrs).tolist()))


def tune(lands: Sequence[rj.landscapes.Landscape], steps: int, lrs: np.ndarray) -> None:
    """Runs every optimizer on every landscape (from its own start) at every
    learning rate, in one engine call, and keeps the results for
    :func:`tuned`."""
    lands = [
        land
        for land in lands
        if any(_key(land, n, steps, lrs) not in _TUNED for n in OPTIMIZERS)
    ]
    if not lands:
        return
    starts = np.array([land.start for land in lands])
    result = landscape_sweep(lands, steps, lrs, starts)
    ws = iterates(result)  # (optimizer, landscape, lr, start, steps + 1, 2)
    values = loss_curve(result)  # (optimizer, landscape, lr, start, steps + 1)
    for o, name in enumerate(OPTIMIZERS):
        for i, land in enumerate(lands):  # landscape i from its own start i
            gaps = values[o, i, :, i] - land.minimum_value
            best = int(np.argmin(score(gaps)))
            _TUNED[_key(land, name, steps, lrs)] = (best, ws[o, i, :, i], gaps)


def tuned(
    land: rj.landscapes.Landscape, name: str, steps: int, lrs: np.ndarray
) -> tuple[int, np.ndarray, np.ndarray]:
    """Optimizer ``name`` on ``land`` at every learning rate of ``lrs``.

    Returns the index of the best learning rate (by :func:`score`), the
    iterates (rows, steps + 1, 2) and the suboptimality f - f* (rows, steps + 1).
    Results are kept for the process, so experiments that share a landscape
    (a, g3) run it once.
    """
    tune([land], steps, lrs)
    return _TUNED[_key(land, name, steps, lrs)]


def fmt(x: float | None, spec: str = ".3g", never: str = "never") -> str:
    """A number for a table; None and inf as ``never``, nan as "nan"."""
    if x is None or x == float("inf"):
        return never
    return format(x, spec)
