"""(g2) Time to pass a saddle point.

The saddle w1^2 - w2^2 + w2^4/2 from (-2, offset) runs towards the saddle at
the origin and must leave it along w2, where the gradient starts at about
2 x offset. Aligned with the axes, this saddle favours per-weight methods: w2
only ever sees tiny gradients, so a normalised first step already escapes. The
same saddle turned by 45 degrees (typed with ``from_expression``) makes both
weights see the large gradients of the approach first. "Passed" is the first
step at distance >= 0.5 from the stable line, half way to the minima. Every
optimizer runs on both saddles at every learning rate from every start (the
offsets) in ONE call of the sweep engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np

from experiments import _numerics as nx
from experiments import _plotting as plot
from experiments import _report
from experiments._context import Context
from experiments._report import Figure, Section, Table, Verdict
from rmsprop_jax import landscapes
from rmsprop_jax.landscapes import LANDSCAPES

LETTER = "g"
TITLE = "(g2) Time to pass a saddle point"
OFFSETS = (1e-2, 1e-3, 1e-4, 1e-5)  # representable next to -2 in float32
THRESHOLD = 0.5


def pass_steps(escape: np.ndarray) -> np.ndarray:
    """First step with |escape| >= THRESHOLD per run (inf if never); (..., T)."""
    passed = np.abs(escape) >= THRESHOLD
    first = np.argmax(passed, axis=-1).astype(float)
    return np.where(passed.any(axis=-1), first, np.inf)


class Saddle(NamedTuple):
    land: landscapes.Landscape
    escape: Callable[[np.ndarray], np.ndarray]  # (..., 2) -> the unstable coordinate
    start: Callable[[float], tuple[float, float]]  # offset -> start
    coordinate: str  # the unstable coordinate as a formula, for the axis labels


_R = 1 / np.sqrt(2)
SADDLES = {
    # The library's saddle: the unstable direction is the w2 axis.
    "aligned": Saddle(
        LANDSCAPES["saddle"], lambda w: w[..., 1], lambda off: (-2.0, off), "$w_2$"
    ),
    # The same saddle turned by 45 degrees, typed as a formula: u = (w1 + w2)/sqrt 2,
    # v = (w1 - w2)/sqrt 2, u^2 - v^2 + v^4/2 = 2 w1 w2 + (w1 - w2)^4/8. The approach
    # along u gives both weights large gradients before the saddle.
    "rotated": Saddle(
        landscapes.Landscape(
            name="rotated_saddle",
            fn=landscapes.from_expression("2*w1*w2 + (w1 - w2)**4/8"),
            minima=((_R, -_R), (-_R, _R)),
            minimum_value=-0.5,
            start=(-2.0 + 1e-3 * _R, -2.0 - 1e-3 * _R),
            box=(-2.5, 2.5, -2.5, 2.5),
            description="the saddle turned by 45 degrees: 2 w1 w2 + (w1 - w2)^4/8",
        ),
        lambda w: (w[..., 0] - w[..., 1]) * _R,
        lambda off: (-2.0 + off * _R, -2.0 - off * _R),
        "$(w_1 - w_2)/\\sqrt{2}$",
    ),
}

SETTINGS = {  # where each verdict is measured, for the summary
    "aligned": "the saddle aligned with the axes: only w2 must move, and its "
    "gradients are tiny",
    "rotated": "the same saddle turned by 45 degrees: both weights see the "
    "approach's large gradients first",
}


def units(ctx: Context) -> int:
    return 1 + len(SADDLES)


@dataclass(frozen=True)
class Setup:
    steps: int
    lrs: np.ndarray


def setup(ctx: Context) -> Setup:
    """The run size of ``ctx.size``."""
    return Setup(ctx.pick(20, 150, 300), np.logspace(-4, 1, ctx.pick(3, 11, 21)))


def measure(ctx: Context, s: Setup) -> dict[str, dict]:
    """Every optimizer on both saddles at every learning rate and offset: one
    engine call. Per saddle and optimizer: the tuned path and the pass steps
    per (lr, offset)."""
    steps, lrs = s.steps, s.lrs
    starts = np.array([SADDLES[k].start(o) for k in SADDLES for o in OFFSETS])
    result = nx.landscape_sweep(
        [saddle.land for saddle in SADDLES.values()], steps, lrs, starts
    )
    # Axes (optimizer, saddle, lr, start, steps + 1[, 2]); saddle i's starts are
    # the i-th block of len(OFFSETS).
    ws_all, values = nx.iterates(result), nx.loss_curve(result)
    n = len(OFFSETS)
    measured = {
        key: {
            name: _study(
                SADDLES[key],
                ws_all[o, i, :, i * n : (i + 1) * n],
                values[o, i, :, i * n : (i + 1) * n],
            )
            for o, name in enumerate(nx.OPTIMIZERS)
        }
        for i, key in enumerate(SADDLES)
    }
    ctx.progress.advance("saddles: every optimizer, lr and offset")
    return measured


def _study(saddle: Saddle, ws: np.ndarray, values: np.ndarray) -> dict:
    """One optimizer on one saddle, from its runs (lrs, offsets, T[, 2])."""
    land = saddle.land
    column = OFFSETS.index(1e-3)  # the recommended start's offset
    passes = pass_steps(saddle.escape(ws))
    gaps = values - land.minimum_value
    settles = gaps[..., -1] < 1e-2 * gaps[..., 0]
    best = int(np.argmin(nx.score(gaps[:, column])))  # as in (a)
    return dict(
        best=best,
        ws=ws[best, column],
        passes=passes,
        at_best=passes[best],
        fastest=np.where(settles, passes, np.inf).min(axis=0),
    )


def _figure(ctx, key, results, lrs) -> str:
    saddle = SADDLES[key]
    fig, axes = plt.subplots(1, 3, figsize=(15.5, 4.5))
    plot.contour(axes[0], saddle.land)
    column = OFFSETS.index(1e-3)
    for name, r in results.items():
        color, lr = plot.COLORS[name], lrs[r["best"]]
        label = f"{nx.LABELS[name]}, lr={lr:.2g}"
        plot.path(axes[0], np.clip(r["ws"], -10, 10), color, label)
        axes[1].semilogy(np.abs(saddle.escape(r["ws"])), color=color, label=label)
        passes = r["passes"][:, column]
        axes[2].loglog(lrs, passes, "o-", ms=3, color=color, label=nx.LABELS[name])
    distance = f"|{saddle.coordinate}|"
    axes[1].axhline(THRESHOLD, color="k", ls=":", lw=1)
    axes[1].annotate(
        f"passed: {distance} = {THRESHOLD:g}",
        (0.02, THRESHOLD),
        xycoords=("axes fraction", "data"),
        xytext=(0, 3),
        textcoords="offset points",
        fontsize=8.5,
    )
    axes[0].set_title(f"{key} saddle: paths at the best learning rates")
    axes[1].set(
        title="distance from the stable line, at the best learning rates",
        xlabel="step",
        ylabel=f"distance from the stable line, {distance} (log scale)",
        ylim=(3e-4, 3),
    )
    axes[2].set(
        title=f"steps to pass, from {OFFSETS[column]:g} off the stable line",
        xlabel="learning rate (log scale)",
        ylabel=f"steps until {distance} >= {THRESHOLD:g} (log scale; no point: never)",
    )
    axes[1].legend(loc="lower right")
    axes[2].legend(loc="upper right")
    fig.tight_layout()
    return plot.save(fig, ctx.out, f"saddle_{key}.png")


def _beats(results: dict, field: str) -> np.ndarray:
    """Per offset, how many other optimizers RMSprop passes strictly faster."""
    mine = results["rmsprop"][field]
    return sum(
        (mine < r[field]).astype(int) for n, r in results.items() if n != "rmsprop"
    )


def _saddle(ctx: Context, s: Setup, key: str, results: dict) -> tuple[list, Verdict]:
    """One saddle's figure, table and verdict on claim 3."""
    lrs = s.lrs
    majority = len(nx.OPTIMIZERS) // 2  # of the 5 others: 3
    filename = _figure(ctx, key, results, lrs)
    beats = _beats(results, "at_best")
    column = OFFSETS.index(1e-3)
    equal, equal_text = _equal_lr(results, column)
    others = [n for n in results if n != "rmsprop"]
    takeaway = (
        f"From offset 1e-3 at the best learning rates, RMSprop passes in "
        f"{nx.fmt(results['rmsprop']['at_best'][column], '.0f')} steps; "
        + ", ".join(
            f"{n} {nx.fmt(results[n]['at_best'][column], '.0f')}" for n in others
        )
        + f". RMSprop is faster than {', '.join(str(b) for b in beats)} of the 5 "
        f"others for offsets {', '.join(f'{o:g}' for o in OFFSETS)}. From offset "
        f"{OFFSETS[0]:g} to {OFFSETS[-1]:g} SGD's time goes from "
        f"{nx.fmt(results['sgd']['at_best'][0], '.0f')} to "
        f"{nx.fmt(results['sgd']['at_best'][-1], '.0f')} steps, RMSprop's from "
        f"{nx.fmt(results['rmsprop']['at_best'][0], '.0f')} to "
        f"{nx.fmt(results['rmsprop']['at_best'][-1], '.0f')}."
    )
    takeaway += " " + equal_text
    header = ["optimizer", "best lr"] + [f"offset {o:g}" for o in OFFSETS]
    rows = [
        [nx.LABELS[n], f"{lrs[r['best']]:.2g}"]
        + [
            f"{nx.fmt(p, '.0f')} ({nx.fmt(f, '.0f')})"
            for p, f in zip(r["at_best"], r["fastest"], strict=True)
        ]
        for n, r in results.items()
    ]
    blocks = [
        Figure(filename, f"Leaving the {key} saddle", takeaway),
        Table(
            f"{key} saddle: steps to pass at the best lr; in parentheses, at "
            "the fastest lr among those that end within 1% of the initial gap",
            header,
            rows,
        ),
    ]
    verdict = Verdict(
        3,
        _verdict(beats, equal, majority, lrs[results["rmsprop"]["best"]]),
        f"{key} saddle: optimizers (of 5) that RMSprop passes faster at "
        f"the tuned lrs, per offset {', '.join(f'{o:g}' for o in OFFSETS)}: "
        f"{', '.join(str(b) for b in beats)}; at equal lrs (offset 1e-3): "
        f"median {equal:g}.",
        SETTINGS[key],
    )
    return blocks, verdict


def judge(ctx: Context, s: Setup, measured: dict[str, dict]) -> Section:
    """Per saddle: the figure, the steps to pass, and the verdict on claim 3."""
    section = Section(
        "escape_saddle",
        TITLE,
        f"Two saddles, {s.steps} steps, {s.lrs.size} learning rates from "
        f"{s.lrs[0]:.0e} to {s.lrs[-1]:.0e}; each start is on the approach to the "
        f"saddle point, offset by {', '.join(f'{o:g}' for o in OFFSETS)} from its "
        "stable line. Passed: "
        f"first step with |unstable coordinate| >= {THRESHOLD}, half way to the "
        "minima. The best learning rate of each optimizer is chosen as in (a), "
        "from offset 1e-3.",
    )
    for key in SADDLES:
        blocks, verdict = _saddle(ctx, s, key, measured[key])
        section.blocks += blocks
        section.verdicts.append(verdict)
        ctx.progress.advance(f"saddle ({key})")
    return section


def run(ctx: Context) -> Section:
    """Set up, measure, judge."""
    s = setup(ctx)
    return judge(ctx, s, measure(ctx, s))


def _equal_lr(results: dict, column: int) -> tuple[float, str]:
    """Median number of others RMSprop beats when all run at the same learning
    rate (offset 1e-3, learning rates at which RMSprop passes), and a sentence."""
    names = list(results)
    table = np.stack([results[n]["passes"][:, column] for n in names])  # (opt, lr)
    mine = table[names.index("rmsprop")]
    usable = np.isfinite(mine)
    if not usable.any():
        return 0.0, "At equal learning rates RMSprop never passes."
    beats = np.sum(table[:, usable] > mine[usable], axis=0)
    winners = [names[i] for i in np.argmin(table[:, usable], axis=0)]
    most = max(dict.fromkeys(winners), key=winners.count)  # ties: the first
    median = float(np.median(beats))
    return median, (
        f"At equal learning rates (offset 1e-3, the {int(usable.sum())} where RMSprop "
        f"passes) RMSprop is faster than a median {median:g} of the 5 others; "
        f"{most} is (jointly) fastest at {winners.count(most)} of them."
    )


def _verdict(beats: np.ndarray, equal: float, majority: int, best_lr: float) -> str:
    tuned = bool(np.all(beats >= majority))
    same = equal >= majority
    return _report.judge(
        {
            "compared at each optimizer's tuned learning rate": tuned,
            "compared at equal learning rates": same,
        },
        detail=""
        if tuned or not same
        else f"at its tuned lr ({best_lr:.2g}) RMSprop is slower than most",
    )
