"""What a sweep returns: arrays shaped like the grid, plus a tidy table."""

from __future__ import annotations

import csv
import dataclasses
import math
import operator
import os
from typing import Any, NamedTuple

import jax
import numpy as np

from rmsprop_jax.sweep._grid import Grid, Value


class Group(NamedTuple):
    """Configurations compiled together: same static switches."""

    static: dict[str, Value]  # the switches shared by the group
    indices: np.ndarray  # flat (row-major) indices of its configurations


class ConfigResult(NamedTuple):
    """One configuration of a sweep (with a leading restart axis if any)."""

    index: tuple[int, ...]  # position in the grid
    config: dict[str, Value]  # keyword arguments of the factory
    losses: jax.Array  # ([restarts,] steps); NaN after divergence
    final_loss: jax.Array  # ([restarts]); NaN where diverged
    diverged: jax.Array  # ([restarts]) bool
    diverged_at: jax.Array  # ([restarts]) step of divergence, -1 if none
    final_params: Any
    final_state: Any


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """Results of :func:`rmsprop_jax.sweep.sweep`, laid out like the grid.

    Leading axes of every array are ``grid.shape``, then a restart axis when
    ``restarts > 1``.

    Attributes:
      grid: the configurations, in the order of the leading axes.
      losses: ``(*grid.shape, [restarts,] steps)`` loss before each update (the
        mini-batch loss with ``batch_size``); NaN after a divergence.
      final_loss: ``(*grid.shape, [restarts])`` loss at the final parameters on
        all of ``data``; NaN where diverged.
      diverged: ``(*grid.shape, [restarts])`` bool.
      diverged_at: the step at which each run diverged, -1 if it did not.
      final_params: the parameter pytree, leaves ``(*grid.shape, [restarts],
        *leaf.shape)``; frozen where a run diverged (always finite).
      final_states: the optimizer state stacked the same way, when every
        configuration has the same state structure; otherwise (static switches
        that change the structure) a tuple with one stacked state per group,
        leaves ``(len(group.indices), [restarts], ...)``. ``result[i]
        .final_state`` works either way.
      groups: which configurations were compiled together (see ``Group``).
      restarts: the number of restarts.
      states_by_group: whether ``final_states`` is the per-group tuple.
    """

    grid: Grid
    losses: jax.Array
    final_loss: jax.Array
    diverged: jax.Array
    diverged_at: jax.Array
    final_params: Any
    final_states: Any
    groups: tuple[Group, ...]
    restarts: int
    states_by_group: bool = False

    def __len__(self) -> int:
        return len(self.grid)

    def _flat_index(self, index: int | tuple[int, ...]) -> int:
        if isinstance(index, int | np.integer):
            if not -len(self) <= index < len(self):
                raise IndexError(f"index {index} out of range for {len(self)} configs")
            return int(index) % len(self)
        return int(np.ravel_multi_index(tuple(index), self.grid.shape))

    def _state_at(self, flat: int) -> Any:
        if not self.states_by_group:
            return _take(self.final_states, self.grid.shape, flat)
        for group, states in zip(self.groups, self.final_states, strict=True):
            positions = np.flatnonzero(group.indices == flat)
            if positions.size:
                return jax.tree.map(operator.itemgetter(int(positions[0])), states)
        raise AssertionError(f"configuration {flat} belongs to no group")

    def __getitem__(self, index: int | tuple[int, ...]) -> ConfigResult:
        """One configuration, by flat (row-major) index or grid index."""
        flat = self._flat_index(index)
        shape = self.grid.shape
        return ConfigResult(
            index=tuple(int(i) for i in np.unravel_index(flat, shape)),
            config=self.grid.configs()[flat],
            losses=_take(self.losses, shape, flat),
            final_loss=_take(self.final_loss, shape, flat),
            diverged=_take(self.diverged, shape, flat),
            diverged_at=_take(self.diverged_at, shape, flat),
            final_params=_take(self.final_params, shape, flat),
            final_state=self._state_at(flat),
        )

    def _scores(self) -> np.ndarray:
        """Mean final loss over restarts; inf where any restart diverged."""
        final = np.asarray(self.final_loss, np.float64).reshape(len(self), -1)
        diverged = np.asarray(self.diverged).reshape(len(self), -1).any(axis=1)
        return np.where(diverged, np.inf, final.mean(axis=1))

    def best(self) -> ConfigResult:
        """The configuration with the lowest mean final loss over restarts,
        among those where no restart diverged (ValueError if every one did)."""
        scores = self._scores()
        if not np.any(np.isfinite(scores)):
            raise ValueError("Every configuration diverged; there is no best one.")
        return self[int(np.nanargmin(np.where(np.isfinite(scores), scores, np.inf)))]

    def rows(self, *, per_restart: bool = False) -> list[dict[str, Any]]:
        """The tidy table: config columns, then metrics; one row per config.

        Metrics: ``final_loss`` (mean over restarts), ``min_loss`` (lowest
        loss seen: along the curve or at the end; mean over restarts),
        ``diverged`` (a bool, or the number of diverged
        restarts), ``diverged_at`` (first divergence step, -1 if none), and with
        restarts ``final_loss_std``. ``per_restart=True`` gives one row per
        (config, restart) with a ``restart`` column instead.
        """
        n, r = len(self), self.restarts
        final = np.asarray(self.final_loss, np.float64).reshape(n, r)
        losses = np.asarray(self.losses, np.float64).reshape(n, r, -1)
        seen = np.concatenate([losses, final[..., None]], axis=-1)
        lowest = np.where(np.isnan(seen).all(-1), np.nan, np.min(_nan_to_inf(seen), -1))
        diverged = np.asarray(self.diverged).reshape(n, r)
        at = np.asarray(self.diverged_at).reshape(n, r)
        out = []
        for i, config in enumerate(self.grid.configs()):
            if per_restart:
                out += [
                    config
                    | {
                        "restart": j,
                        "final_loss": final[i, j],
                        "min_loss": lowest[i, j],
                    }
                    | {"diverged": bool(diverged[i, j]), "diverged_at": int(at[i, j])}
                    for j in range(r)
                ]
                continue
            row = config | {"final_loss": _mean(final[i]), "min_loss": _mean(lowest[i])}
            if r > 1:
                row["final_loss_std"] = float(np.std(final[i])) if final[i].size else 0
                row["diverged"] = int(diverged[i].sum())
            else:
                row["diverged"] = bool(diverged[i, 0])
            first = at[i][at[i] >= 0]
            row["diverged_at"] = int(first.min()) if first.size else -1
            out.append(row)
        return out

    def table(self, *, sort: bool = False, limit: int | None = None) -> str:
        """The rows as an aligned text table (``sort``: best final loss first)."""
        rows = self.rows()
        if sort:
            scores = self._scores()
            rows = [rows[i] for i in np.argsort(scores, kind="stable")]
        rows = rows[:limit] if limit is not None else rows
        header = list(rows[0])
        cells = [[_format(row[c]) for c in header] for row in rows]
        widths = [
            max(len(h), *(len(c[k]) for c in cells)) for k, h in enumerate(header)
        ]
        lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
        lines += [
            "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells
        ]
        return "\n".join(lines)

    def to_csv(self, path: str | os.PathLike, *, per_restart: bool = False) -> None:
        """Writes :meth:`rows` to a CSV file (full float precision)."""
        rows = self.rows(per_restart=per_restart)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    def __str__(self) -> str:
        return self.table()


def _take(tree: Any, shape: tuple[int, ...], flat: int) -> Any:
    ndim = len(shape)
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[ndim:])[flat], tree)


def _nan_to_inf(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), np.inf, x)


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x))


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)
