"""(d) How beta shapes RMSprop's path on the elongated valley.

RMSprop with beta in {0, 0.5, 0.9, 0.99} and sign descent, all with the same
eta, from the worked example's start, in one call of the sweep engine. Beta = 0
should be sign descent: steps along the 8 compass directions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

import rmsprop_jax as rj
from experiments import _numerics as nx
from experiments import _plotting as plot
from experiments._context import Context
from experiments._report import Figure, Section, Table
from rmsprop_jax.landscapes import LANDSCAPES, Landscape
from rmsprop_jax.sweep import grid, sweep

LETTER = "d"
TITLE = "(d) Beta study: from sign descent to smooth paths"
DECAYS = (0.0, 0.5, 0.9, 0.99)
LR = 0.35  # not a divisor of the start's coordinates, so no weight lands on 0
COLORS = ("#9467bd", "#2ca02c", "#1f77b4", "#d62728")


def units(ctx: Context) -> int:
    return 1


def compass_fraction(ws: np.ndarray, degrees: float = 1.0) -> float:
    """Fraction of nonzero steps within ``degrees`` of a multiple of 45 degrees."""
    steps = np.diff(ws, axis=0)
    moving = np.linalg.norm(steps, axis=-1) > 0
    angle = np.degrees(np.arctan2(steps[moving, 1], steps[moving, 0])) % 45.0
    return float(np.mean(np.minimum(angle, 45.0 - angle) < degrees))


def _distance_to_path(points: np.ndarray, path: np.ndarray) -> float:
    """Largest distance from ``points`` to the nearest iterate of ``path``."""
    if not len(points):
        return 0.0
    gaps = np.linalg.norm(points[:, None, :] - path[None, :, :], axis=-1)
    return float(gaps.min(axis=1).max())


@dataclass(frozen=True)
class Setup:
    steps: int

    @property
    def land(self) -> Landscape:
        return LANDSCAPES["valley"]


def setup(ctx: Context) -> Setup:
    """The run size of ``ctx.size``."""
    return Setup(ctx.pick(20, 120, 200))


@dataclass(frozen=True)
class Measured:
    ws: np.ndarray  # RMSprop's iterates per beta, (decays, steps + 1, 2)
    gaps: np.ndarray  # and its losses, (decays, steps + 1)
    sign: np.ndarray  # sign descent's iterates, (steps + 1, 2)
    sign_gaps: np.ndarray  # and its losses


def measure(ctx: Context, s: Setup) -> Measured:
    """RMSprop at each beta and sign descent: one engine call."""
    land = s.land
    # Sign descent takes no beta (one run each).
    result = sweep(
        {
            "rmsprop": functools.partial(rj.rmsprop, LR),
            "sign": functools.partial(rj.sign_sgd, LR),
        },
        land.fn,
        np.asarray(land.start, np.float32),
        grid(decay=list(DECAYS)),
        steps=s.steps,
        record="params",
        divergence_threshold=None,
    )
    ws, gaps = nx.iterates(result), nx.loss_curve(result)
    return Measured(ws[0], gaps[0], ws[1, 0], gaps[1, 0])


def _figure(ctx: Context, s: Setup, m: Measured) -> str:
    """The paths (whole and zoomed in) and the losses."""
    land, ws, gaps, sign, sign_gaps = s.land, m.ws, m.gaps, m.sign, m.sign_gaps
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    plot.contour(axes[0], land)
    zoom = land._replace(box=(-2.0, 2.0, -2.0, 2.0))
    plot.contour(axes[1], zoom)
    for ax in axes[:2]:
        ax.plot(sign[:, 0], sign[:, 1], ":", color="k", lw=2.5, label="sign descent")
    for decay, w, gap, color in zip(DECAYS, ws, gaps, COLORS, strict=True):
        for ax in axes[:2]:
            plot.path(ax, w, color, f"beta = {decay:g}")
        axes[2].semilogy(
            np.clip(gap, nx.FLOOR, None), color=color, label=f"beta = {decay:g}"
        )
    axes[2].semilogy(
        np.clip(sign_gaps, nx.FLOOR, None),
        ":",
        color="k",
        lw=2,
        label="sign descent",
    )
    axes[0].set_title(f"paths, eta = {LR}")
    axes[1].set_title("zoom on the minimum")
    axes[2].set(title="loss f(w) (f* = 0)", xlabel="step", ylabel="f(w)")
    axes[1].legend(loc="upper right")
    axes[2].legend(loc="lower left")
    fig.tight_layout()
    return plot.save(fig, ctx.out, "decay_paths.png")


def _per_beta(s: Setup, m: Measured) -> tuple[list[list[str]], dict[float, dict]]:
    """The table's rows and, per beta, the first step, the share of compass
    steps and the step at which f < 1."""
    rows, stats = [], {}
    radius = 0.01 * np.linalg.norm(s.land.start)
    for decay, w, gap in zip(DECAYS, m.ws, m.gaps, strict=True):
        first = np.abs(w[1] - w[0])
        stats[decay] = dict(
            first=first, compass=compass_fraction(w), hit=nx.first_below(gap, 1.0)
        )
        rows.append(
            [
                f"{decay:g}",
                f"({first[0]:.3f}, {first[1]:.3f})",
                f"{LR / np.sqrt(1 - decay):.3f}",
                f"{stats[decay]['compass']:.0%}",
                nx.fmt(stats[decay]["hit"]),
                f"{gap[-1]:.3g}",
                nx.fmt(nx.path_ratio(w, np.zeros(2), radius), never="never within 1%"),
            ]
        )
    return rows, stats


def judge(ctx: Context, s: Setup, m: Measured) -> Section:
    """The figure and the measures per beta."""
    steps, start = s.steps, np.asarray(s.land.start)
    ws, gaps, sign = m.ws, m.gaps, m.sign
    filename = _figure(ctx, s, m)
    rows, stats = _per_beta(s, m)
    apart = nx.first_below(-np.max(np.abs(ws[0] - sign), axis=-1), -1e-3)
    zero, smooth = stats[0.0], stats[0.9]
    same = (
        f"follows sign descent to within 1e-3 for all {steps} steps"
        if apart is None
        else f"follows sign descent to within 1e-3 for {apart} of {steps} steps"
    )
    finals = ", ".join(f"{g[-1]:.2g}" for g in gaps)
    finals = f"({finals} for beta = {', '.join(f'{d:g}' for d in DECAYS)})"
    best = DECAYS[int(np.argmin(gaps[:, -1]))]
    apart_early = max(
        _distance_to_path(w[g >= 1.0], sign) for w, g in zip(ws, gaps, strict=True)
    )
    takeaway = (
        f"Beta = 0 takes {zero['compass']:.0%} of its steps along the 8 compass "
        f"directions (beta = 0.9: {smooth['compass']:.0%}) and {same}. Until they "
        f"reach f < 1, the paths of all betas lie within {apart_early:.2g} of sign "
        f"descent's (the start is {np.linalg.norm(start):.0f} away); near the minimum "
        f"they part: final f {finals}, lowest for beta = {best:g}. "
        f"With s(0) = 0 the first step is eta/sqrt(1-beta) whatever the gradient: "
        f"{stats[0.99]['first'][0]:.2f} for beta = 0.99 against "
        f"{zero['first'][0]:.2f} for beta = 0."
    )
    ctx.progress.advance("beta study")
    header = [
        "beta",
        "first step |dw|",
        "eta/sqrt(1-beta)",
        "compass steps",
        "steps to f < 1",
        "final f",
        "path / straight line",
    ]
    return Section(
        "vary_decay",
        TITLE,
        f"RMSprop (eta = {LR}, eps = 1e-8) for beta in {DECAYS}, and sign descent "
        f"(eta = {LR}), {steps} steps on 3 w1^2 + 10 w2^2 from (-15, 20).",
        [
            Figure(filename, "Paths and losses for four betas", takeaway),
            Table(
                "Per beta",
                header,
                rows,
                note="Compass steps: within 1 degree of a multiple of 45 degrees.",
            ),
        ],
    )


def run(ctx: Context) -> Section:
    """Set up, measure, judge."""
    s = setup(ctx)
    return judge(ctx, s, measure(ctx, s))
