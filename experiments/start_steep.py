"""(g3) A start with very large gradients.

The steep bowl (w1^2 + 2 w2^2)/2 + (w1^4 + w2^4)/20 from (6, -8), where the
gradient is about (49, -118) and the curvature about 20 times that at the
minimum. Each optimizer at its best learning rate (chosen as in (a)) and over
the whole grid: how straight is the path, how far past the minimum does it go,
and does the loss rise on the way?
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments import _numerics as nx
from experiments import _plotting as plot
from experiments import _report
from experiments._context import Context
from experiments._report import Figure, Section, Table, Verdict
from rmsprop_jax.landscapes import LANDSCAPES, Landscape

LETTER = "g"
TITLE = "(g3) Starting where the gradients are very large"
EARLY = 20  # "briefly": the first steps


def units(ctx: Context) -> int:
    return 1


def measures(ws: np.ndarray, gaps: np.ndarray, target: np.ndarray, radius: float):
    """Path ratio, overshoot (relative to the start distance), early loss rises."""
    distance = np.linalg.norm(ws[0] - target)
    early = np.nan_to_num(gaps[: EARLY + 1], nan=np.inf, posinf=np.inf)
    with np.errstate(invalid="ignore"):  # inf - inf where a run diverged
        rises = np.diff(early) > 0
        worst = np.nanmax(early[1:] / np.maximum(early[:-1], nx.FLOOR))
    return dict(
        ratio=nx.path_ratio(ws, target, radius),
        overshoot=nx.overshoot(ws, target) / distance,
        rises=int(np.sum(rises)),
        worst=float(worst),
    )


@dataclass(frozen=True)
class Setup:
    steps: int  # as in (a), which shares these runs
    lrs: np.ndarray

    @property
    def land(self) -> Landscape:
        return LANDSCAPES["steep_bowl"]


def setup(ctx: Context) -> Setup:
    """The run size of ``ctx.size``."""
    return Setup(ctx.pick(15, 150, 300), np.logspace(-4, 1, ctx.pick(3, 11, 21)))


def measure(ctx: Context, s: Setup) -> dict[str, dict]:
    """Per optimizer, its best learning rate's path and the measures over the
    grid: one engine call, unless (a) ran it already."""
    land, steps, lrs = s.land, s.steps, s.lrs
    target = np.zeros(2)
    radius = 0.01 * np.linalg.norm(np.asarray(land.start))
    results = {}
    nx.tune([land], steps, lrs)
    for name in nx.OPTIMIZERS:
        best, ws, gaps = nx.tuned(land, name, steps, lrs)
        per_lr = [measures(w, g, target, radius) for w, g in zip(ws, gaps, strict=True)]
        arrive = [m for m in per_lr if np.isfinite(m["ratio"])]
        results[name] = dict(
            lr=lrs[best],
            ws=ws[best],
            gaps=gaps[best],
            **per_lr[best],
            median_overshoot=float(np.median([m["overshoot"] for m in arrive]))
            if arrive
            else np.nan,
            unstable=float(np.mean([m["rises"] > 0 for m in arrive]))
            if arrive
            else np.nan,
            arrive=len(arrive),
        )
    ctx.progress.advance("steep start")
    return results


def _figure(ctx: Context, s: Setup, results: dict[str, dict]) -> str:
    """The paths at the best learning rates and their losses."""
    land, steps = s.land, s.steps
    fig, left, right = plot.paths_and_gaps(
        land, results, nx.LABELS, nx.FLOOR, clip=50, figsize=(12, 4.6)
    )
    left.set_title("paths from (6, -8) at the best learning rates")
    right.set(
        title="loss f(w) (f* = 0)",
        xlabel="step",
        ylabel="f(w)",
        xlim=(0, min(steps, 100)),
    )
    plot.legend_below(fig, right)
    return plot.save(fig, ctx.out, "steep_start.png")


def _verdict(results: dict[str, dict]) -> Verdict:
    """Claim 4, in its three parts: RMSprop's path, momentum's overshoot,
    Adagrad's early loss rises."""
    rms, mom, ada = results["rmsprop"], results["momentum"], results["adagrad"]
    parts = {
        "RMSprop's path is near-optimal (< 1.1x the straight line)": rms["ratio"] < 1.1,
        "momentum overshoots more than RMSprop": mom["overshoot"] > rms["overshoot"]
        and mom["median_overshoot"] > rms["median_overshoot"],
        f"Adagrad's loss rises in the first {EARLY} steps": ada["rises"] > 0,
    }
    verdict = _report.judge(parts, parts=True)
    evidence = (
        f"Steep bowl from (6, -8), best lrs: path / straight line RMSprop "
        f"{rms['ratio']:.3g}, momentum {mom['ratio']:.3g}, Adagrad {ada['ratio']:.3g}; "
        f"overshoot past the minimum (share of the start distance) RMSprop "
        f"{rms['overshoot']:.3f}, momentum {mom['overshoot']:.3f} (median over lrs "
        f"{rms['median_overshoot']:.3f} vs {mom['median_overshoot']:.3f}); loss "
        f"increases in the first {EARLY} steps: Adagrad {ada['rises']} (largest "
        f"factor {ada['worst']:.3g}), RMSprop {rms['rises']}, momentum {mom['rises']}."
    )
    return Verdict(
        4,
        verdict,
        evidence,
        "the steep bowl from (6, -8), full batch; RMSprop's path and Adagrad's "
        "early rises at ONE learning rate each (its best), momentum's overshoot "
        "at its best and over the learning rates",
    )


def judge(ctx: Context, s: Setup, results: dict[str, dict]) -> Section:
    """The figure, the measures per optimizer, and the verdict on claim 4."""
    steps, lrs = s.steps, s.lrs
    filename = _figure(ctx, s, results)
    rows = [
        [
            nx.LABELS[n],
            f"{r['lr']:.2g}",
            nx.fmt(r["ratio"], never="never within 1%"),
            f"{r['overshoot']:.3f}",
            f"{r['rises']}",
            f"{r['worst']:.3g}",
            f"{r['median_overshoot']:.3f}",
            f"{r['unstable']:.0%} of {r['arrive']}",
        ]
        for n, r in results.items()
    ]
    rms, mom, ada = results["rmsprop"], results["momentum"], results["adagrad"]
    best_ratio = min(r["ratio"] for r in results.values())
    takeaway = (
        f"At the best learning rates RMSprop's path is {rms['ratio']:.3g}x the "
        f"straight line (shortest of all: {best_ratio:.3g}x) and goes "
        f"{rms['overshoot']:.1%} of the start distance past the minimum; momentum "
        f"{mom['ratio']:.3g}x and {mom['overshoot']:.1%}; Adagrad {ada['ratio']:.3g}x "
        f"and {ada['overshoot']:.1%}, with {ada['rises']} loss increases in the first "
        f"{EARLY} steps (RMSprop {rms['rises']}, momentum {mom['rises']})."
    )
    header = [
        "optimizer",
        "best lr",
        "path / straight",
        "overshoot",
        f"rises in {EARLY} steps",
        "largest rise factor",
        "median overshoot (lrs that arrive)",
        "lrs with early rises",
    ]
    return Section(
        "start_steep",
        TITLE,
        f"Steep bowl from (6, -8), {steps} steps, {lrs.size} learning rates from "
        f"{lrs[0]:.0e} to {lrs[-1]:.0e}; each optimizer at its best learning rate "
        "(chosen as in (a)). Overshoot: how far past the minimum the path goes along "
        "the start-to-minimum line, as a share of the start distance.",
        [
            Figure(filename, "From a start with very large gradients", takeaway),
            Table("Path, overshoot and early loss rises", header, rows),
        ],
        [_verdict(results)],
    )


def run(ctx: Context) -> Section:
    """Set up, measure, judge."""
    s = setup(ctx)
    return judge(ctx, s, measure(ctx, s))
