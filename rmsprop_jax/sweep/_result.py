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
    """Runs vmapped together: one optimizer, same static switches."""

    static: dict[str, Value]  # the switches shared by the group
    indices: np.ndarray  # flat (row-major) indices of its runs in ``grid``
    optimizer: str | None = None  # its name in a mapping of optimizers


class ConfigResult(NamedTuple):
    """One run of a sweep (with leading start and restart axes if any)."""

    index: tuple[int, ...]  # type: ignore[assignment]  # grid position (shadows tuple.index)
    config: dict[str, Value]  # grid values (with optimizer and landscape names)
    losses: jax.Array  # ([starts,] [restarts,] steps); NaN after divergence
    final_loss: jax.Array  # ([starts,] [restarts]); NaN where diverged
    diverged: jax.Array  # ([starts,] [restarts]) bool
    diverged_at: jax.Array  # ([starts,] [restarts]) step of divergence, -1 if none
    final_params: Any
    final_state: Any
    records: dict[str, Any]  # name -> ([starts,] [restarts,] records, ...)


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """Results of :func:`rmsprop_jax.sweep.sweep`, laid out like the grid.

    Leading axes of every array are ``grid.shape`` -- which begins with an
    ``optimizer`` axis for a mapping of optimizers and a ``landscape`` axis for
    a mapping of landscapes not selected by the grid -- then a start axis with
    ``starts`` and a restart axis when ``restarts > 1``.

    Attributes:
      grid: the runs, in the order of the leading axes; its configurations
        hold the ``optimizer`` and ``landscape`` names where those axes exist.
      losses: ``(*grid.shape, [starts,] [restarts,] steps)`` loss before each
        update (the mini-batch loss with ``batch_size``); NaN after a
        divergence.
      final_loss: ``(*grid.shape, [starts,] [restarts])`` loss at the final
        parameters on all of ``data``; NaN where diverged.
      diverged: ``(*grid.shape, [starts,] [restarts])`` bool.
      diverged_at: the step at which each run diverged, -1 if it did not.
      final_params: the parameter pytree, leaves ``(*grid.shape, [starts,]
        [restarts], *leaf.shape)``; frozen where a run diverged (always
        finite).
      final_states: the optimizer state stacked the same way, when every run
        has the same state structure; otherwise (several optimizers, or static
        switches that change the structure) a tuple with one stacked state per
        group, leaves ``(len(group.indices), [starts,] [restarts], ...)``.
        ``result[i].final_state`` works either way.
      groups: which runs were compiled together (see ``Group``).
      restarts: the number of restarts.
      states_by_group: whether ``final_states`` is the per-group tuple.
      records: name -> the recorded quantity, ``(*grid.shape, [starts,]
        [restarts,] ceil(steps / record_every), *shape)``; params-shaped
        quantities are pytrees of such leaves. Steps ``0, k, 2k, ...``; NaN
        after a divergence.
      optimizers: the names of the optimizer axis (``()`` for one factory).
      landscapes: the names of the landscapes (``()`` for one loss function).
      starts: the number of start points, None without ``starts``.
      record_every: the thinning of ``records``.
      devices: the devices the runs were split over (``sweep(devices=...)``),
        or the one default device the sweep ran on.
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
    records: dict[str, Any] = dataclasses.field(default_factory=dict)
    optimizers: tuple[str, ...] = ()
    landscapes: tuple[str, ...] = ()
    starts: int | None = None
    record_every: int = 1
    devices: tuple[jax.Device, ...] = ()

    @property
    def replicas(self) -> int:
        """Runs per configuration: start points times restarts."""
        return (self.starts or 1) * self.restarts

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
            records=_take(self.records, shape, flat),
        )

    def path(
        self,
        *,
        start: int | None = None,
        restart: int | None = None,
        **config: Value,
    ) -> dict[str, Any]:
        """The records of one configuration, picked by name.

        Args:
          start: the start point's index (None keeps the start axis).
          restart: the restart's index (None keeps the restart axis).
          **config: grid values that pick the configuration, e.g.
            ``optimizer="rmsprop", landscape="rosenbrock", learning_rate=0.01``;
            names with a single value in the grid may be left out.

        Returns:
          ``{name: record}`` with leaves ``([starts,] [restarts,] records,
          ...)`` (the axes not picked): the recorded quantities, and always
          ``"loss"``, the loss at the recorded steps ``0, k, 2k, ...`` (the
          whole curve is ``losses`` of the result).

        Raises:
          ValueError: a name not in the grid, a value it does not hold, or a
            choice left open.

        Examples:
          >>> import jax.numpy as jnp
          >>> import rmsprop_jax as rj
          >>> from rmsprop_jax.sweep import grid, sweep
          >>> r = sweep({"sgd": rj.sgd, "rprop": rj.rprop}, lambda w: jnp.sum(w**2),
          ...           jnp.ones(2), grid(learning_rate=[0.1]), steps=4,
          ...           record="params")
          >>> r.path(optimizer="sgd")["params"].tolist()
          [[1.0, 1.0], [0.8, 0.8], [0.64, 0.64], [0.512, 0.512]]
        """
        configs = self.grid.configs()
        for name, value in config.items():
            if name not in self.grid.names:
                raise ValueError(
                    f"`{name}` is not an axis of this sweep; its names are: "
                    f"{', '.join(self.grid.names) or '(none)'}."
                )
            if value not in self.grid.column(name):
                choices = sorted(set(self.grid.column(name)), key=repr)
                raise ValueError(
                    f"`{name}`={value!r} is not in this sweep; it holds "
                    f"{', '.join(map(repr, choices))}."
                )
        matches = [
            i
            for i, c in enumerate(configs)
            if all(c[n] == v for n, v in config.items())
        ]
        if len(matches) != 1:
            open_names = [
                n
                for n in self.grid.names
                if n not in config and len({configs[i][n] for i in matches}) > 1
            ]
            raise ValueError(
                f"{len(matches)} configurations match {config}; pick one with "
                f"{', '.join(f'`{n}`' for n in open_names)}."
            )
        picked = self[matches[0]]
        out = dict(picked.records)
        if "loss" not in out:  # the same values as a recorded "loss"
            out["loss"] = picked.losses[..., :: self.record_every]
        axes = []
        if self.starts is not None:
            axes.append(("start", start, self.starts))
        elif start is not None:
            raise ValueError("`start` needs a sweep with `starts`.")
        if self.restarts > 1:
            axes.append(("restart", restart, self.restarts))
        elif restart is not None:
            raise ValueError("`restart` needs a sweep with `restarts` > 1.")
        drop = 0
        for name, index, size in axes:
            if index is None:
                drop += 1
                continue
            if not -size <= index < size:
                raise ValueError(f"`{name}`={index} is out of range for {size}.")
            out = jax.tree.map(
                lambda x, d=drop, i=index: x[(slice(None),) * d + (i,)], out
            )
        return out

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
        n, r = len(self), self.replicas
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
                    | self._replica(j)
                    | {
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

    def _replica(self, j: int) -> dict[str, int]:
        if self.starts is None:
            return {"restart": j}
        start, restart = divmod(j, self.restarts)
        return {"start": start, "restart": restart}

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
