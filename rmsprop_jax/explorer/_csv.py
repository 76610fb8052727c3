"""The CSV download: every shown point of the view's paths with the view's
settings in its first line."""

from __future__ import annotations

import csv
import io

import numpy as np

from rmsprop_jax.explorer._compute import Paths
from rmsprop_jax.explorer._state import State, to_query


def _visible_steps(paths: Paths, i: int, steps: int) -> int:
    k = int(paths.diverged_at[i])
    return (min(k, steps) if k >= 0 else steps) + 1


CSV_COLUMNS = (
    "optimizer",
    "step",
    "w1",
    "w2",
    "loss",
    "update1",
    "update2",
    "grad1",
    "grad2",
    "effective_lr1",
    "effective_lr2",
    "gradient_rms1",
    "gradient_rms2",
    "second_moment1",
    "second_moment2",
)


def paths_csv(state: State, paths: Paths) -> str:
    """Every shown point of every path: w(t), the loss there, and update t's
    quantities (blank at the last point and where a run diverged)."""
    out = io.StringIO()
    out.write(f"# rmsprop_jax explorer view {to_query(state)}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def fmt(v: float) -> str:  # the shortest text that reads back as the float32
        return "" if not np.isfinite(v) else str(np.float32(v))

    for i, key in enumerate(paths.optimizers):
        n = _visible_steps(paths, i, state.steps)
        for t in range(n):
            row = [
                key,
                t,
                fmt(paths.params[i, t, 0]),
                fmt(paths.params[i, t, 1]),
                fmt(paths.loss[i, t]),
            ]
            for q in (
                "updates",
                "grads",
                "effective_lr",
                "gradient_rms",
                "second_moment",
            ):
                values = getattr(paths, q)[i, t] if t < state.steps else (np.nan,) * 2
                row += [fmt(values[0]), fmt(values[1])]
            writer.writerow(row)
    return out.getvalue()
