"""The page's figures as plain Plotly figure dicts (no Plotly import needed),
the first-steps table and the CSV export, all from :mod:`._compute` results."""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

from rmsprop_jax.explorer._catalog import OPTIMIZERS
from rmsprop_jax.explorer._compute import Paths, Surface, SweepMap
from rmsprop_jax.explorer._state import CUSTOM, State

FIRST_PATH_TRACE = 3
"""Index of the first path trace in the ``paths`` figure: one per optimizer of
:data:`OPTIMIZERS`, in its order (hidden when not selected)."""

PINNED_TRACE = FIRST_PATH_TRACE + len(OPTIMIZERS)
"""Index of the first pinned trace: one per optimizer, faint, after the paths."""

FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12}
_SURFACE = [[0.0, "#ffffff"], [0.5, "#eeeeee"], [1.0, "#d0d0d0"]]
_DIVERGING = [
    [0.0, "#2166ac"],
    [0.25, "#92c5de"],
    [0.5, "#ffffff"],
    [0.75, "#f4a582"],
    [1.0, "#b2182b"],
]  # blue < 0 (attenuated), white 0, red > 0 (amplified)
_NAME = "<extra>%{fullData.name}</extra>"
_MARGIN = {"l": 60, "r": 20, "t": 40, "b": 45}
_LINES_MARGIN = {"l": 60, "r": 20, "t": 40, "b": 100}  # legend under the axis


def _log_axis(title: str, **extra: Any) -> dict[str, Any]:
    """A log y axis labelled at each power of ten only (none on minor ticks)."""
    return {
        "title": {"text": title},
        "type": "log",
        "dtick": 1,
        "exponentformat": "power",
        **extra,
    }


def _lines_layout(title: str, **axes: Any) -> dict[str, Any]:
    """The layout of a figure of lines over the steps, legend under the axis."""
    return {
        "title": {"text": title, "x": 0.02},
        "xaxis": {"title": {"text": "step"}},
        **axes,
        "font": FONT,
        "margin": _LINES_MARGIN,
        "legend": {"orientation": "h", "y": -0.42, "yanchor": "top"},
    }


_TYPED = {"float32": "f4", "float64": "f8", "int32": "i4", "uint8": "u1"}


def pack(tree: Any) -> Any:
    """``tree`` with every numeric NumPy array as a Plotly typed-array spec
    (``{dtype, bdata[, shape]}``: base64 of its bytes, decoded by Plotly.js),
    a fraction of the size and encoding time of a JSON list of numbers."""
    if isinstance(tree, dict):
        return {k: pack(v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [pack(v) for v in tree]
    if isinstance(tree, np.ndarray):
        if tree.dtype.kind not in "fiub":
            return tree.tolist()
        if tree.dtype.kind in "ib":
            tree = tree.astype(np.int32)
        a = np.ascontiguousarray(tree.astype(tree.dtype.newbyteorder("<")))
        spec = {
            "dtype": _TYPED[a.dtype.name],
            "bdata": base64.b64encode(a.tobytes()).decode(),
        }
        if a.ndim > 1:
            spec["shape"] = ",".join(map(str, a.shape))
        return spec
    return tree


def _mix(colour: str, target: tuple[int, int, int], amount: float) -> str:
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(c + (t - c) * amount) for c, t in zip(rgb, target, strict=True)]
    return "rgb({},{},{})".format(*mixed)


def shades(colour: str) -> list[list[Any]]:
    """A colour scale from a dark to a bright shade of ``colour``."""
    return [
        [0.0, _mix(colour, (0, 0, 0), 0.5)],
        [1.0, _mix(colour, (255, 255, 255), 0.4)],
    ]


def label(paths: Paths, i: int) -> str:
    """The legend entry of optimizer ``i``, with its divergence step if any."""
    name = OPTIMIZERS[paths.optimizers[i]].label
    k = int(paths.diverged_at[i])
    return f"{name} (diverged at step {k})" if k >= 0 else name


def _visible_steps(paths: Paths, i: int, steps: int) -> int:
    """How many points of run ``i`` to draw: w(0) .. w(steps), cut at the last
    finite one."""
    k = int(paths.diverged_at[i])
    return (min(k, steps) if k >= 0 else steps) + 1


def minimum_value(surf: Surface, z: np.ndarray) -> float:
    """The known minimum of ``surf``, else the lowest value on its grid."""
    if surf.minimum_value is not None:
        return surf.minimum_value
    finite = z[np.isfinite(z)]
    return float(finite.min()) if finite.size else 0.0


def path_trace(paths: Paths, i: int, steps: int) -> dict[str, Any]:
    """The scatter trace of run ``i`` (hover: step, w1, w2, loss, update)."""
    n = _visible_steps(paths, i, steps)
    w = paths.params[i, :n]
    updates = np.full((n, 2), np.nan, np.float32)
    m = min(n, paths.updates.shape[1])
    updates[:m] = paths.updates[i, :m]
    step = np.arange(n)
    colour = OPTIMIZERS[paths.optimizers[i]].colour
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "x": w[:, 0],
        "y": w[:, 1],
        "name": label(paths, i),
        "visible": True,
        "line": {"color": colour, "width": 1.5},
        "marker": {
            "color": step,
            "colorscale": shades(colour),
            "cmin": 0,
            "cmax": max(steps, 1),
            "size": 5,
        },
        "customdata": np.column_stack([step, paths.loss[i, :n], updates]),
        "hovertemplate": (
            "step %{customdata[0]}<br>w1 %{x:.5g}<br>w2 %{y:.5g}<br>"
            "loss %{customdata[1]:.5g}<br>update (%{customdata[2]:.4g}, "
            "%{customdata[3]:.4g})<extra>%{fullData.name}</extra>"
        ),
    }


def path_traces(paths: Paths, steps: int) -> list[dict[str, Any]]:
    """One trace per optimizer of :data:`OPTIMIZERS`, hidden when not in ``paths``."""
    out = []
    for key, spec in OPTIMIZERS.items():
        if key in paths.optimizers:
            out.append(path_trace(paths, paths.optimizers.index(key), steps))
        else:
            out.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "x": [],
                    "y": [],
                    "name": spec.label,
                    "visible": False,
                }
            )
    return out


def pinned_traces(state: State | None, paths: Paths | None) -> list[dict[str, Any]]:
    """The pinned view's paths as faint dashed traces, one per optimizer of
    :data:`OPTIMIZERS` (hidden where not pinned)."""
    out = []
    for key, spec in OPTIMIZERS.items():
        if state is None or paths is None or key not in paths.optimizers:
            out.append({"type": "scatter", "x": [], "y": [], "visible": False})
            continue
        i = paths.optimizers.index(key)
        w = paths.params[i, : _visible_steps(paths, i, state.steps)]
        out.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": w[:, 0],
                "y": w[:, 1],
                "visible": True,
                "opacity": 0.45,
                "line": {"color": spec.colour, "width": 2, "dash": "dot"},
                "name": f"pinned {spec.label} (η {state.learning_rate:g}, "
                f"β {state.decay:g})",
                "hoverinfo": "skip",
            }
        )
    return out


def start_trace(state: State) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "markers",
        "x": [state.start[0]],
        "y": [state.start[1]],
        "name": "start",
        "marker": {
            "symbol": "star",
            "size": 15,
            "color": "#ffd400",
            "line": {"color": "black", "width": 1},
        },
        "hovertemplate": "start (%{x:.5g}, %{y:.5g})<extra></extra>",
    }


def _levels(z: np.ndarray, count: int = 24) -> dict[str, float]:
    finite = z[np.isfinite(z)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0, 1)
    return {"start": lo, "end": hi, "size": max((hi - lo) / count, 1e-9)}


def equalized(values: np.ndarray) -> np.ndarray:
    """Each value's rank among the finite ones, from 0 to 1 (ties share the
    lowest; NaN stays NaN): contour levels at equal steps of it lie at the
    quantiles of ``values``, so every level band covers an equal area.

    Examples:
      >>> print(equalized(np.array([10.0, 1.0, 1000.0, np.nan, 1.0])))
      [0.66666667 0.         1.                nan 0.        ]
    """
    out = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    ordered = np.sort(values[finite])
    if ordered.size:
        rank = np.searchsorted(ordered, values[finite], side="left")
        out[finite] = rank / max(ordered.size - 1, 1)
    return out


def contour_trace(
    surf: Surface, grid: tuple[np.ndarray, np.ndarray, np.ndarray], **extra: Any
) -> dict[str, Any]:
    """The landscape's contours: lines at the quantiles (24 equal steps of
    :func:`equalized`) of the gap to its minimum, so that the structure shows
    where most of the box lies -- Ackley's local minima, a plateau's rim --
    and not only where the gap spans decades; darker is lower."""
    x, y, z = grid
    low = minimum_value(surf, z)
    gap = equalized(np.maximum(z - low, 0).astype(np.float64))
    return {
        "type": "contour",
        "x": x,
        "y": y,
        "z": gap,
        "colorscale": _SURFACE,
        "contours": _levels(gap),
        "showscale": False,
        "hoverinfo": "skip",
        "line": {"width": 0.7, "color": "rgba(90,90,90,0.45)"},
        "name": "rank of loss - min",
        "showlegend": False,
        **extra,
    }


def paths_figure(
    state: State,
    surf: Surface,
    grid: tuple[np.ndarray, np.ndarray, np.ndarray],
    paths: Paths,
) -> dict[str, Any]:
    """The contour of the landscape (log of the gap to its minimum) with every path."""
    x, y, z = grid
    if surf.minima:
        minima, name = np.asarray(surf.minima), "minimum"
    else:
        j = np.unravel_index(np.nanargmin(np.where(np.isfinite(z), z, np.inf)), z.shape)
        minima, name = np.asarray([[x[j[1]], y[j[0]]]]), "lowest grid point"
    title = state.formula if surf.name == CUSTOM else surf.name
    return {
        "data": [
            contour_trace(surf, grid),
            {
                "type": "scatter",
                "mode": "markers",
                "x": minima[:, 0],
                "y": minima[:, 1],
                "name": name,
                "marker": {
                    "symbol": "x",
                    "size": 12,
                    "color": "white",
                    "line": {"color": "black", "width": 1.5},
                },
                "hovertemplate": name + " (%{x:.4g}, %{y:.4g})<extra></extra>",
            },
            start_trace(state),
            *path_traces(paths, state.steps),
            *pinned_traces(None, None),
        ],
        "layout": {
            "title": {"text": f"Paths on {title}", "x": 0.02, "y": 0.99},
            # One scale for both axes: a 45-degree step looks like one.
            "xaxis": {
                "title": {"text": "w1"},
                "range": list(surf.box[:2]),
                "constrain": "domain",
            },
            "yaxis": {
                "title": {"text": "w2"},
                "range": list(surf.box[2:]),
                "scaleanchor": "x",
                "scaleratio": 1,
                "constrain": "domain",
            },
            "font": FONT,
            "margin": {**_MARGIN, "t": 80},  # the legend sits under the title
            "hovermode": "closest",
            "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
            "uirevision": surf.name + state.formula * (surf.name == CUSTOM),
            "plot_bgcolor": "white",
        },
    }


def loss_figure(state: State, paths: Paths, low: float) -> dict[str, Any]:
    """Loss minus the minimum against the step, log y."""
    data = []
    floor = 1e-12
    for i, key in enumerate(paths.optimizers):
        n = _visible_steps(paths, i, state.steps)
        loss = paths.loss[i, :n]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": np.arange(n),
                "y": np.maximum(loss - low, floor),
                "customdata": loss,
                "name": label(paths, i),
                "line": {"color": OPTIMIZERS[key].colour},
                "hovertemplate": "step %{x}<br>loss %{customdata:.5g}" + _NAME,
            }
        )
    return {
        "data": data,
        "layout": _lines_layout("Loss − minimum", yaxis=_log_axis("loss − min")),
    }


def _per_weight(
    paths: Paths,
    quantity: str,
    state: State,
    yaxis: str = "y",
    legend: bool = True,
    suffix: str = "",
) -> list[dict[str, Any]]:
    data = []
    for i, key in enumerate(paths.optimizers):
        values = getattr(paths, quantity)[i, : state.steps]
        if not np.isfinite(values).any():
            continue
        n = len(values)
        for j, dash in ((0, "solid"), (1, "dot")):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": np.arange(1, n + 1),
                    "y": values[:, j],
                    "name": f"{OPTIMIZERS[key].label} w{j + 1}{suffix}",
                    "legendgroup": key,
                    "showlegend": legend,
                    "line": {"color": OPTIMIZERS[key].colour, "dash": dash},
                    "yaxis": yaxis,
                    "hovertemplate": "step %{x}<br>%{y:.5g}" + _NAME,
                }
            )
    return data


def effective_lr_figure(state: State, paths: Paths) -> dict[str, Any]:
    """Each weight's effective learning rate per step (Rprop: its step size;
    gradient and sign descent, which have no preconditioner: the learning
    rate)."""
    return {
        "data": _per_weight(paths, "effective_lr", state),
        "layout": _lines_layout(
            "Effective learning rate η/√(s+ε) (Rprop: Δ; SGD, sign: η)",
            yaxis=_log_axis("per-weight rate"),
        ),
    }


def rms_figure(state: State, paths: Paths) -> dict[str, Any]:
    """Gradient RMS √s (top) and the second moment s (bottom), per weight."""
    data = _per_weight(paths, "gradient_rms", state) + _per_weight(
        paths, "second_moment", state, yaxis="y2", legend=False
    )
    return {
        "data": data,
        "layout": _lines_layout(
            "Gradient RMS √s (top) and s per weight (bottom)",
            xaxis={"title": {"text": "step"}, "anchor": "y2"},
            yaxis=_log_axis("√s", domain=[0.55, 1.0]),
            yaxis2=_log_axis("s", domain=[0.0, 0.45]),
        ),
    }


def _heatmap(g: np.ndarray, c: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {
        "type": "heatmap",
        "x": g,
        "y": g,
        "z": c,
        "colorscale": _DIVERGING,
        "zmid": 0.0,
        "hovertemplate": "g1 %{x:.3g}<br>g2 %{y:.3g}<br>C_a %{z:.4g}<extra></extra>",
        **extra,
    }


def _gradient_axis(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "zeroline": False, "showgrid": False, **extra}


def amplification_figure(beta: float, g: np.ndarray, c: np.ndarray) -> dict[str, Any]:
    """C_a over (g1, g2) for the current beta: red amplifies, blue attenuates."""
    return {
        "data": [_heatmap(g, c, colorbar={"title": {"text": "C_a"}})],
        "layout": {
            "title": {
                "text": f"C_a(g1, g2) at β = {beta:g}: red amplifies, blue attenuates",
                "x": 0.02,
            },
            "xaxis": _gradient_axis("g1 (first gradient)", constrain="domain"),
            "yaxis": _gradient_axis("g2 (second gradient)", scaleanchor="x"),
            "font": FONT,
            "margin": _MARGIN,
        },
    }


MULTIPLES_RANGE = 100.0
"""The small multiples share one signed-log colour scale, C_a in [-100, 100]."""


def signed_log(c: np.ndarray) -> np.ndarray:
    """``sign(c) log10(1 + |c|)``: the colour of C_a in the small multiples,
    so that beta = 0.99's amplification of ~30 and beta = 0's ~0.1 both show."""
    return np.sign(c) * np.log10(1 + np.abs(c))


def amplification_multiples(
    betas: tuple[float, ...], g: np.ndarray, maps: np.ndarray
) -> dict[str, Any]:
    """Small multiples of C_a, one panel per beta, on one colour scale with 0
    at white (eta = 1, eps = 1e-8)."""
    n = len(betas)
    data = []
    layout: dict[str, Any] = {
        "font": FONT,
        "margin": {"l": 50, "r": 10, "t": 60, "b": 45},
        "annotations": [],
        "title": {"text": "C_a for four β, one log scale", "x": 0.02},
    }
    gap = 0.05
    width = (0.9 - gap * (n - 1)) / n
    span = [float(g[0]), float(g[-1])]
    for i, beta in enumerate(betas):
        suffix = "" if i == 0 else str(i + 1)
        ticks = [-30.0, -3.0, -0.3, 0.0, 0.3, 3.0, 30.0]
        data.append(
            _heatmap(
                g,
                signed_log(maps[i]),
                customdata=maps[i],
                hovertemplate="g1 %{x:.3g}<br>g2 %{y:.3g}<br>C_a %{customdata:.4g}"
                "<extra></extra>",
                xaxis=f"x{suffix}",
                yaxis=f"y{suffix}",
                zmin=-math.log10(1 + MULTIPLES_RANGE),
                zmax=math.log10(1 + MULTIPLES_RANGE),
                showscale=i == n - 1,
                colorbar={
                    "title": {"text": "C_a"},
                    "x": 0.93,
                    "len": 0.8,
                    "tickvals": signed_log(np.asarray(ticks)).tolist(),
                    "ticktext": [f"{t:g}" for t in ticks],
                },
            )
        )
        lo = i * (width + gap)
        layout[f"xaxis{suffix}"] = _gradient_axis(
            "g1", domain=[lo, lo + width], anchor=f"y{suffix}", range=span
        )
        layout[f"yaxis{suffix}"] = _gradient_axis(
            "g2" if i == 0 else "",
            anchor=f"x{suffix}",
            range=span,
            showticklabels=i == 0,
        )
        layout["annotations"].append(
            {
                "text": f"β = {beta:g}",
                "x": lo + width / 2,
                "y": 1.0,
                "xref": "paper",
                "yref": "paper",
                "yanchor": "bottom",
                "xanchor": "center",
                "showarrow": False,
                "font": {"size": 13},
            }
        )
    return {"data": data, "layout": layout}


def sweep_figure(state: State, result: SweepMap, low: float) -> dict[str, Any]:
    """Final loss (log of the gap to the minimum) over (beta, eta); click a cell."""
    loss = result.loss
    z = np.log10(np.maximum(loss - low, 0) + 1e-12)
    z = np.where(np.isfinite(loss), z, np.nan)
    xs = [f"{v:g}" for v in result.learning_rates]
    ys = [f"{v:g}" for v in result.decays]
    text = np.where(
        result.diverged_at >= 0,
        np.char.add("diverged at step ", result.diverged_at.astype(str)),
        np.char.add("loss ", np.char.mod("%.4g", loss)),
    )
    data = [
        {
            "type": "heatmap",
            "x": xs,
            "y": ys,
            "z": z,
            "text": text,
            "colorscale": "Viridis",
            "colorbar": {"title": {"text": "log10(loss − min)"}},
            "hovertemplate": "β %{y}<br>η %{x}<br>%{text}<extra></extra>",
            "xgap": 1,
            "ygap": 1,
        }
    ]
    bad = np.argwhere(result.diverged_at >= 0)
    if len(bad):
        data.append(
            {
                "type": "scatter",
                "mode": "text",
                "x": [xs[j] for _, j in bad],
                "y": [ys[i] for i, _ in bad],
                "text": ["×"] * len(bad),
                "textfont": {"color": "#c00", "size": 14},
                "hoverinfo": "skip",
                "showlegend": False,
                "name": "diverged",
            }
        )
    now_x, now_y = f"{state.learning_rate:g}", f"{state.decay:g}"
    if now_x in xs and now_y in ys:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [now_x],
                "y": [now_y],
                "marker": {
                    "symbol": "square-open",
                    "size": 22,
                    "color": "white",
                    "line": {"width": 2},
                },
                "hoverinfo": "skip",
                "showlegend": False,
                "name": "current",
            }
        )
    name = OPTIMIZERS[state.sweep_optimizer].label
    return {
        "data": data,
        "layout": {
            "title": {
                "text": f"{name}: loss after {state.steps} steps over (β, η) "
                "— click a cell to use it",
                "x": 0.02,
            },
            "xaxis": {"title": {"text": "learning rate η"}, "type": "category"},
            "yaxis": {"title": {"text": "decay β"}, "type": "category"},
            "font": FONT,
            "margin": _MARGIN,
        },
    }


FIRST_STEPS_COLUMNS = ("optimizer", "t", "w1", "w2", "g1", "g2", "s1", "s2")


def first_steps(paths: Paths, count: int = 2) -> list[dict[str, str]]:
    r"""Rows of w(t), the gradient g(t) at it and s(t) for t = 0 .. ``count``.

    ``s(t)`` is the second moment after ``t`` updates (bias-corrected,
    :math:`\hat s`, for Adam; blank without one).
    """
    rows = []

    def fmt(v: float) -> str:
        return "" if not np.isfinite(v) else f"{v:.6g}"

    for i, key in enumerate(paths.optimizers):
        for t in range(count + 1):
            w = paths.params[i, t]
            g = paths.grads[i, t] if t < paths.grads.shape[1] else (np.nan, np.nan)
            s = paths.second_moment[i, t - 1] if t > 0 else (np.nan, np.nan)
            if t == 0 and np.isfinite(paths.second_moment[i, 0]).any():
                s = (0.0, 0.0)
            rows.append(
                {
                    "optimizer": OPTIMIZERS[key].label,
                    "t": str(t),
                    "w1": fmt(w[0]),
                    "w2": fmt(w[1]),
                    "g1": fmt(g[0]),
                    "g2": fmt(g[1]),
                    "s1": fmt(s[0]),
                    "s2": fmt(s[1]),
                }
            )
    return rows
