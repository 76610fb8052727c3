"""Figures that each teach one point, as plain Plotly figure dicts: beta = 0
against beta = 0.9 side by side (``compare-decay``), the step-through arrows
(``step-through``) and the final loss against the learning rate
(``lr-sensitivity``), with their paragraphs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rmsprop_jax.explorer._catalog import OPTIMIZERS
from rmsprop_jax.explorer._compute import COMPARED_DECAYS, Paths, Surface, rates_of
from rmsprop_jax.explorer._figures import FONT, contour_trace, shades
from rmsprop_jax.explorer._state import State


def _compass(path: np.ndarray) -> int:
    """How many distinct step directions (to the nearest degree) a path takes."""
    steps = np.diff(path, axis=0)
    steps = steps[np.isfinite(steps).all(axis=1) & (np.abs(steps).sum(axis=1) > 0)]
    angles = np.round(np.degrees(np.arctan2(steps[:, 1], steps[:, 0]))) % 360
    return len(set(angles.tolist()))


def compare_decay_figure(
    state: State,
    surf: Surface,
    grid: tuple[np.ndarray, np.ndarray, np.ndarray],
    params: np.ndarray,
) -> dict[str, Any]:
    """RMSprop's paths for beta = 0 and beta = 0.9 in two panels, one scale."""
    colour = OPTIMIZERS["rmsprop"].colour
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {
        "font": FONT,
        "margin": {"l": 45, "r": 10, "t": 50, "b": 40},
        "showlegend": False,
        "annotations": [],
        "plot_bgcolor": "white",
    }
    for i, decay in enumerate(COMPARED_DECAYS):
        suffix = "" if i == 0 else str(i + 1)
        x, y = f"x{suffix}", f"y{suffix}"
        path = params[i, : state.steps + 1]
        path = path[np.isfinite(path).all(axis=1)]
        data.append(contour_trace(surf, grid, xaxis=x, yaxis=y))
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": path[:, 0],
                "y": path[:, 1],
                "xaxis": x,
                "yaxis": y,
                "name": f"β = {decay:g}",
                "line": {"color": colour, "width": 1.2},
                "marker": {
                    "size": 4,
                    "color": np.arange(len(path)),
                    "colorscale": shades(colour),
                },
                "hovertemplate": "step %{marker.color}<br>(%{x:.4g}, %{y:.4g})"
                "<extra>β = " + f"{decay:g}" + "</extra>",
            }
        )
        lo, hi = 0.52 * i, 0.52 * i + 0.48
        layout[f"xaxis{suffix}"] = {
            "domain": [lo, hi],
            "range": list(surf.box[:2]),
            "anchor": y,
            "constrain": "domain",
            "title": {"text": "w1"},
        }
        layout[f"yaxis{suffix}"] = {
            "range": list(surf.box[2:]),
            "anchor": x,
            "scaleanchor": x,
            "scaleratio": 1,
            "constrain": "domain",
        }
        layout["annotations"].append(
            {
                "text": f"β = {decay:g}: {_compass(path)} directions",
                "x": 0.5,
                "y": 1.02,
                "xref": f"{x} domain",
                "yref": f"{y} domain",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 13},
            }
        )
    return {"data": data, "layout": layout}


def compass_directions(params: np.ndarray, steps: int) -> list[int]:
    """The number of distinct step directions of each compared path."""
    out = []
    for path in params[:, : steps + 1]:
        out.append(_compass(path[np.isfinite(path).all(axis=1)]))
    return out


def explain_compare_decay(state: State, params: np.ndarray) -> str:
    """The paragraph under ``compare-decay``, with the counts it shows."""
    counts = compass_directions(params, state.steps)
    first = state.learning_rate / math.sqrt(1 - COMPARED_DECAYS[1])
    return (
        "Both panels run RMSprop with this view's η from this start. With β = 0 "
        "s is just the last g², so every step is η·g/|g| = η·sign(g) in each "
        "component: the path can only move along the 8 compass directions "
        f"({counts[0]} distinct directions in these {state.steps} steps). With "
        "β = 0.9 s averages about 10 gradients, the step keeps the gradient's "
        f"relative size and the path turns smoothly ({counts[1]} directions); "
        f"its first step is η/√(1−β) = {first:.3g} per component."
    )


def arrow_scale(paths: Paths, state: State, k: int, box: tuple[float, ...]) -> float:
    """A power of ten that makes the longest arrow at step ``k`` about a tenth
    of the plot box wide (every arrow of a step gets the same)."""
    vectors = [paths.updates[:, k], -state.sgd_learning_rate * paths.grads[:, k]]
    lengths = np.hypot(*np.concatenate(vectors).T) if paths.optimizers else []
    lengths = [v for v in np.ravel(lengths) if np.isfinite(v) and v > 0]
    if not lengths:
        return 1.0
    target = 0.1 * (box[1] - box[0])
    return float(10.0 ** max(0, math.floor(math.log10(target / max(lengths)))))


def arrows(
    paths: Paths, state: State, k: int, box: tuple[float, ...]
) -> list[dict[str, Any]]:
    """Annotations from the point w(k) of each shown path: the optimizer's
    update v(k) and plain GD's step -eta g(k), both times :func:`arrow_scale`."""
    out: list[dict[str, Any]] = []
    scale = arrow_scale(paths, state, k, box)
    for i, key in enumerate(paths.optimizers):
        if k >= paths.grads.shape[1] or not np.isfinite(paths.params[i, k]).all():
            continue
        w, u = paths.params[i, k], scale * paths.updates[i, k]
        g = paths.grads[i, k]
        gd = -scale * state.sgd_learning_rate * g
        for vector, colour, text in (
            (u, OPTIMIZERS[key].colour, f"{OPTIMIZERS[key].label} v({k})"),
            (gd, "#444444", "GD η·g"),
        ):
            if not np.isfinite(vector).all():
                continue
            out.append(
                {
                    "x": float(w[0] + vector[0]),
                    "y": float(w[1] + vector[1]),
                    "ax": float(w[0]),
                    "ay": float(w[1]),
                    "xref": "x",
                    "yref": "y",
                    "axref": "x",
                    "ayref": "y",
                    "showarrow": True,
                    "arrowhead": 2,
                    "arrowwidth": 2,
                    "arrowcolor": colour,
                    "text": "",
                    "hovertext": text,
                }
            )
    return out


STEP_COLUMNS = ("optimizer", "k", "w1", "w2", "g1", "g2", "v1", "v2", "GD1", "GD2")


def step_rows(paths: Paths, state: State, k: int) -> list[dict[str, str]]:
    """The values the step-through arrows show: w(k), g(k), the update v(k)
    and gradient descent's step -eta g(k)."""

    def fmt(v: float) -> str:
        return "" if not np.isfinite(v) else f"{v:.5g}"

    rows = []
    for i, key in enumerate(paths.optimizers):
        if k >= paths.grads.shape[1]:
            continue
        w, g, u = paths.params[i, k], paths.grads[i, k], paths.updates[i, k]
        gd = -state.sgd_learning_rate * g
        cells = (*w, *g, *u, *gd)
        rows.append(
            {"optimizer": OPTIMIZERS[key].label, "k": str(k)}
            | {c: fmt(v) for c, v in zip(STEP_COLUMNS[2:], cells, strict=True)}
        )
    return rows


def sensitivity_figure(
    state: State, names: tuple[str, ...], loss: np.ndarray, low: float
) -> dict[str, Any]:
    """Final loss (minus the minimum) against each optimizer's learning rate."""
    data = []
    for i, key in enumerate(names):
        rates = np.asarray(rates_of(key))
        gap = np.maximum(loss[i] - low, 1e-12)
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": rates,
                "y": gap,
                "name": OPTIMIZERS[key].label,
                "line": {"color": OPTIMIZERS[key].colour},
                "connectgaps": False,
                "hovertemplate": "η %{x:.3g}<br>loss − min %{y:.4g}"
                "<extra>%{fullData.name}</extra>",
            }
        )
    return {
        "data": data,
        "layout": {
            "title": {"text": f"Loss after {state.steps} steps", "x": 0.02},
            "xaxis": {
                "title": {"text": "learning rate η (gaps: diverged)"},
                "type": "log",
                "dtick": 1,
                "exponentformat": "power",
            },
            "yaxis": {
                "title": {"text": "loss − min"},
                "type": "log",
                "dtick": 2,
                "exponentformat": "power",
            },
            "font": FONT,
            "margin": {"l": 60, "r": 20, "t": 40, "b": 100},
            "legend": {"orientation": "h", "y": -0.3, "yanchor": "top"},
        },
    }


def good_rates(loss: np.ndarray, low: float) -> int:
    """How many learning rates end within 10x of the best loss (and not
    diverged), for one optimizer's row."""
    gap = np.where(np.isfinite(loss), loss - low, np.inf)
    if not np.isfinite(gap).any():
        return 0
    return int(np.sum(gap <= max(10 * float(np.min(gap)), 1e-9)))


def explain_sensitivity(
    state: State, names: tuple[str, ...], loss: np.ndarray, low: float
) -> str:
    """The paragraph under ``lr-sensitivity``, with its counts."""
    if not names:
        return "Tick an optimizer to see how its loss depends on η."
    counts = [
        f"{OPTIMIZERS[k].label} {good_rates(loss[i], low)}" for i, k in enumerate(names)
    ]
    n = loss.shape[1]
    return (
        f"Each line is one sweep of {n} learning rates (a factor of about 1.8 "
        "apart; gradient descent's from 1e-5, the others' from 1e-4, to 1) "
        f"with every other setting of this view. Of the {n}, these end within "
        f"10× of the optimizer's best loss: {'; '.join(counts)}. The material "
        "claims RMSprop is less sensitive to η than SGD: a flatter, wider "
        "valley of this curve is that claim, a narrow dip its opposite. "
        "SGD's useful range ends where η exceeds 2 over the steepest "
        "curvature; RMSprop's step is about η whatever the gradient's size."
    )
