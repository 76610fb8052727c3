"""Matplotlib helpers (Agg backend): colours, contour maps, saving."""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

COLORS = {
    "sgd": "#555555",
    "momentum": "#ff7f0e",
    "adagrad": "#2ca02c",
    "rmsprop": "#1f77b4",
    "rprop": "#9467bd",
    "adam": "#d62728",
}

plt.rcParams.update(
    {
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "font.size": 10,
        "axes.titlesize": 11,
        "legend.fontsize": 8.5,
        "axes.grid": True,
        "grid.alpha": 0.3,
    }
)


def contour(ax: Axes, land, resolution: int = 241) -> None:
    """Filled contours of log10(f - min f) over ``land.box``, minima as stars."""
    lo1, hi1, lo2, hi2 = land.box
    w1, w2 = np.meshgrid(
        np.linspace(lo1, hi1, resolution), np.linspace(lo2, hi2, resolution)
    )
    # One compiled program per landscape (applied op by op, its every
    # operation would be a program of its own).
    values = np.asarray(jax.jit(land.fn)(np.stack([w1, w2]).astype(np.float32)))
    gap = np.log10(values - np.nanmin(values) + 1e-3 * (np.ptp(values) + 1e-12))
    ax.contourf(w1, w2, gap, levels=24, cmap="Greys_r", alpha=0.55)
    ax.contour(w1, w2, gap, levels=12, colors="k", linewidths=0.4, alpha=0.5)
    for minimum in land.minima:
        ax.plot(*minimum, marker="*", ms=13, color="gold", mec="k", zorder=5)
    ax.set_xlim(lo1, hi1)
    ax.set_ylim(lo2, hi2)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.grid(False)


def path(ax: Axes, ws: np.ndarray, color: str, label: str, **kwargs) -> None:
    """An optimizer's iterates as a line with small markers, start as a circle."""
    ax.plot(ws[:, 0], ws[:, 1], "-", color=color, lw=1.4, label=label, **kwargs)
    ax.plot(ws[:, 0], ws[:, 1], ".", color=color, ms=2.5)
    ax.plot(*ws[0], "o", color="k", ms=5, zorder=6)


def paths_and_gaps(
    land,
    results: dict,
    labels: dict[str, str],
    floor: float,
    clip: float,
    figsize: tuple[float, float],
):
    """A figure of two panels: each run's path (clipped to +-``clip``) over the
    landscape's contours, and its loss gap on a log axis (floored at
    ``floor``). ``results`` maps an optimizer name to ``{"lr", "ws", "gaps"}``.
    Returns ``(fig, left, right)``."""
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize)
    contour(left, land)
    for name, r in results.items():
        label = f"{labels[name]}, lr={r['lr']:.2g}"
        path(left, np.clip(r["ws"], -clip, clip), COLORS[name], label)
        gaps = np.clip(r["gaps"], floor, None)
        right.semilogy(gaps, color=COLORS[name], label=label)
    return fig, left, right


def legend_below(fig, ax: Axes, ncol: int | None = None, room: float = 0.07) -> None:
    """One legend for the whole figure, from ``ax``'s lines, under the panels
    (which give up the bottom ``room`` of the figure for it)."""
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout(rect=(0, room, 1, 1))
    ncol = len(labels) if ncol is None else ncol
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False)


def save(fig, out: pathlib.Path, filename: str) -> str:
    """Saves ``fig`` as ``out/filename`` (PNG), closes it, returns the filename."""
    fig.savefig(out / filename, bbox_inches="tight")
    plt.close(fig)
    return filename
