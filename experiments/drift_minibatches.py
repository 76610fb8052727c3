"""(f) Rprop's mini-batch failure: +0.1 nine times, -0.9 once, repeated.

One weight of a linear model sees the mini-batch gradients +0.1 (nine
batches) and -0.9 (the tenth), cycle after cycle: the full-batch gradient is
0, so a good optimizer should not move. Every optimizer (SGD, the four Rprop
variants, RMSprop with two betas, Adam) runs the same sequence in ONE call of
the sweep engine: the ten gradients are the data, taken in order
(``shuffle=False``), and the mini-batch loss g*w makes each the gradient (and
iRprop+'s ``value``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

import rmsprop_jax as rj
from experiments import _numerics as nx
from experiments import _plotting as plot
from experiments import _report
from experiments._context import Context
from experiments._report import Figure, Section, Table, Verdict

LETTER = "f"
TITLE = "(f) Rprop on mini-batches: the +0.1 x9 / -0.9 example"
STEP = 0.01  # eta of SGD/RMSprop/Adam and Rprop's initial step
RPROPS = ("rprop+", "rprop-", "irprop+", "irprop-")
_make = functools.partial
OPTIMIZERS = {  # name: (factory, colour, line style)
    "sgd": (_make(rj.sgd, STEP), "#555555", "-"),
    **{
        f"Rprop ({v})": (_make(rj.rprop, STEP, variant=v), c, "-")
        for v, c in zip(
            RPROPS, ("#9467bd", "#8c564b", "#e377c2", "#bcbd22"), strict=True
        )
    },
    "rmsprop (beta 0.9)": (_make(rj.rmsprop, STEP, decay=0.9), "#1f77b4", "-"),
    "rmsprop (beta 0.99)": (_make(rj.rmsprop, STEP, decay=0.99), "#17becf", "--"),
    "adam": (_make(rj.adam, STEP), "#d62728", ":"),
}
CYCLE = np.array([0.1] * 9 + [-0.9], np.float32)  # the mini-batch gradients


def units(ctx: Context) -> int:
    return 1


def trajectories(cycles: int) -> dict[str, np.ndarray]:
    """Per optimizer, the weight before each step and after the last, shape
    (10 * cycles + 1,): one engine call, the cycle's gradients in order."""
    result = nx.replay(
        {name: make for name, (make, _, _) in OPTIMIZERS.items()},
        CYCLE[:, None],
        steps=CYCLE.size * cycles,
    )
    ws = nx.iterates(result)[..., 0]  # (optimizers, steps + 1)
    return dict(zip(result.optimizers, ws, strict=True))


@dataclass(frozen=True)
class Setup:
    cycles: int  # cycles of the ten mini-batch gradients

    @property
    def steps(self) -> int:
        return CYCLE.size * self.cycles


def setup(ctx: Context) -> Setup:
    """The run size of ``ctx.size``."""
    return Setup(cycles=ctx.pick(3, 50, 100))


def measure(ctx: Context, s: Setup) -> dict[str, np.ndarray]:
    """Per optimizer, the weight before each step and after the last."""
    return trajectories(s.cycles)


def _figure(ctx: Context, s: Setup, runs: dict[str, np.ndarray]) -> str:
    """The weight over the whole run (symlog) and its first steps (linear)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    for name, ws in runs.items():
        _, color, style = OPTIMIZERS[name]
        for ax in (left, right):
            ax.plot(ws, style, color=color, label=name, lw=1.5)
    left.set_yscale("symlog", linthresh=0.1)
    left.set_title(f"weight over {s.cycles} cycles (symlog scale)")
    window = min(30, s.steps)
    right.set_xlim(0, window)
    scale = max(
        abs(runs[n][: window + 1]).max() for n in ("sgd", "rmsprop (beta 0.9)", "adam")
    )
    right.set(
        ylim=(-3 * scale, 0.3 * scale), title=f"the first {window} steps (linear scale)"
    )
    for ax in (left, right):
        ax.set(xlabel="mini-batch step", ylabel="weight w (start 0)")
    plot.legend_below(fig, right, ncol=4, room=0.1)
    return plot.save(fig, ctx.out, "minibatch_drift.png")


def _verdict(s: Setup, drift: dict[str, float]) -> Verdict:
    """Claim 6: Rprop drifts under a zero-mean cycle, RMSprop 10x less."""
    rprop = min(abs(drift[f"Rprop ({v})"]) for v in RPROPS)
    rms = {b: abs(drift[f"rmsprop (beta {b})"]) for b in ("0.9", "0.99")}
    sgd = abs(drift["sgd"])
    ratio = rprop / max(rms.values())
    verdict = _report.judge(
        {
            f"RMSprop's beta is {b}": rprop > 0.1 and rms[b] * 10 < rprop
            for b in ("0.9", "0.99")
        }
    )
    evidence = (
        f"{s.cycles} cycles of (+0.1 x9, -0.9), eta = Rprop's initial step = {STEP}: "
        f"net drift / (eta x steps): Rprop variants >= {rprop:.3g}, RMSprop "
        f"{rms['0.9']:.3g} (beta 0.9), {rms['0.99']:.3g} (beta 0.99), SGD {sgd:.2g}. "
        "RMSprop still drifts the way of the frequent small gradient, "
        f"{ratio:.0f}x less than Rprop."
    )
    return Verdict(
        6,
        verdict,
        evidence,
        "one weight, a fixed cycle of mini-batch gradients, at ONE learning rate "
        f"(eta = {STEP:g} for every optimizer; not varied)",
    )


def judge(ctx: Context, s: Setup, runs: dict[str, np.ndarray]) -> Section:
    """The figure, where each optimizer ends, and the verdict on claim 6."""
    cycles, steps = s.cycles, s.steps
    filename = _figure(ctx, s, runs)
    # Drift as a fraction of the largest possible travel, eta per step.
    drift = {name: ws[-1] / (STEP * steps) for name, ws in runs.items()}
    half = 10 * (cycles // 2)  # a whole number of cycles
    late = {n: (ws[-1] - ws[half]) / (STEP * (steps - half)) for n, ws in runs.items()}
    rows = [
        [
            name,
            f"{ws[-1]:.4g}",
            f"{drift[name]:+.3g}",
            f"{late[name]:+.3g}",
            f"{np.abs(ws).max():.4g}",
        ]
        for name, ws in runs.items()
    ]
    rprop = min(abs(drift[f"Rprop ({v})"]) for v in RPROPS)
    rms = {b: abs(drift[f"rmsprop (beta {b})"]) for b in ("0.9", "0.99")}
    takeaway = (
        f"After {cycles} cycles SGD is at {runs['sgd'][-1]:.2g} (the gradients sum "
        f"to 0), every Rprop variant has drifted by at least {rprop:.3g} x eta x "
        f"steps (most: {max(abs(drift[f'Rprop ({v})']) for v in RPROPS):.3g}), and "
        f"RMSprop by {rms['0.9']:.3g} (beta 0.9) and {rms['0.99']:.3g} (beta 0.99) "
        f"of that scale; over the second half of the run RMSprop drifts at "
        f"{abs(late['rmsprop (beta 0.9)']):.2g} and "
        f"{abs(late['rmsprop (beta 0.99)']):.2g} of eta per step (Rprop: at least "
        f"{min(abs(late[f'Rprop ({v})']) for v in RPROPS):.3g})."
    )
    ctx.progress.advance("mini-batch drift")
    return Section(
        "drift_minibatches",
        TITLE,
        f"One weight, start 0, gradients (+0.1 x9, -0.9) repeated {cycles} times "
        f"({steps} steps); eta = {STEP} for SGD, RMSprop and Adam, initial step "
        f"{STEP} for Rprop.",
        [
            Figure(filename, "Net drift under a zero-mean gradient sequence", takeaway),
            Table(
                "Where each optimizer ends",
                [
                    "optimizer",
                    "final w",
                    "drift / (eta x steps)",
                    "second half: drift / (eta x steps)",
                    "max |w|",
                ],
                rows,
            ),
        ],
        [_verdict(s, drift)],
    )


def run(ctx: Context) -> Section:
    """Set up, measure, judge."""
    s = setup(ctx)
    return judge(ctx, s, measure(ctx, s))
