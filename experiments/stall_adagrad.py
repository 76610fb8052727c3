"""(g1) Adagrad's shrinking steps against RMSprop's, over a long run.

Both optimizers on Rosenbrock's valley from the classic start (-1.2, 1), whose
first gradients are large (|g| ~ 230): Adagrad's sum of squares keeps them,
RMSprop's moving average forgets them. Both run at every learning rate of a
grid in ONE call of the sweep engine, which records the loss, the step taken
and the accumulator (Adagrad's G, RMSprop's s: the states' second moment).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from experiments import _numerics as nx
from experiments import _plotting as plot
from experiments import _report
from experiments._context import Context
from experiments._report import Figure, Section, Table, Verdict
from rmsprop_jax.landscapes import LANDSCAPES
from rmsprop_jax.sweep import grid, sweep

LETTER = "g"
TITLE = "(g1) Adagrad's shrinking steps vs RMSprop over a long run"
SHOWN_LR = 0.01  # the learning rate of the step-size figure
NAMES = ("adagrad", "rmsprop")


def units(ctx: Context) -> int:
    return 2


def record(steps: int, lrs: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per optimizer and learning rate: the gap f - f*, |step| and the
    accumulator at every step, ``{name: {"gap", "size", "acc"}}`` of shapes
    (lrs, steps) and (lrs, steps, 2)."""
    land = LANDSCAPES["rosenbrock"]
    result = sweep(
        {name: nx.OPTIMIZERS[name] for name in NAMES},
        land.fn,
        np.asarray(land.start, np.float32),
        grid(learning_rate=[float(lr) for lr in lrs]),
        steps=steps,
        record=("loss", "updates", "second_moment"),
        divergence_threshold=None,
    )
    records = {k: np.asarray(v) for k, v in result.records.items()}
    return {
        name: {
            "gap": records["loss"][i] - land.minimum_value,
            "size": np.linalg.norm(records["updates"][i], axis=-1),
            "acc": records["second_moment"][i],
        }
        for i, name in enumerate(NAMES)
    }


@dataclass(frozen=True)
class Setup:
    steps: int
    lrs: np.ndarray  # the learning rates, SHOWN_LR among them
    shown: int  # the index of SHOWN_LR in lrs


def setup(ctx: Context) -> Setup:
    """The run size of ``ctx.size``."""
    lrs = np.logspace(-3, 0, ctx.pick(3, 7, 13))
    lrs = np.unique(np.append(lrs, SHOWN_LR))
    shown = int(np.argmin(np.abs(lrs - SHOWN_LR)))
    return Setup(ctx.pick(60, 2000, 5000), lrs, shown)


def measure(ctx: Context, s: Setup) -> dict[str, dict[str, np.ndarray]]:
    """Both optimizers at every learning rate: one engine call."""
    runs = record(s.steps, s.lrs)
    ctx.progress.advance("adagrad vs rmsprop: runs")
    return runs


def _figure(ctx: Context, s: Setup, runs: dict[str, dict[str, np.ndarray]]) -> str:
    """Step length and effective rate at SHOWN_LR; the final gap per rate."""
    steps, lrs, shown = s.steps, s.lrs, s.shown
    t = np.arange(1, steps + 1)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for name, r in runs.items():
        color = plot.COLORS[name]
        rate = SHOWN_LR / np.sqrt(r["acc"][shown] + 1e-8)
        axes[0].loglog(t, r["size"][shown], color=color, lw=1, label=f"{name}: |step|")
        for i, style in enumerate(("-", "--")):
            axes[1].loglog(
                t,
                rate[:, i],
                style,
                color=color,
                label=f"{name}: eta/sqrt(acc), w{i + 1}",
            )
        finals = np.nan_to_num(r["gap"][:, -1], nan=1e30)
        axes[2].loglog(
            lrs, np.clip(finals, nx.FLOOR, 1e6), "o-", color=color, label=name
        )
    axes[0].set(title=f"step length, lr = {SHOWN_LR}", ylabel="|w(t+1) - w(t)|")
    axes[1].set(
        title=f"effective learning rate per weight, lr = {SHOWN_LR}",
        ylabel="eta / sqrt(G or s)",
    )
    axes[2].set(
        title=f"loss gap after {steps} steps", xlabel="learning rate", ylabel="f - f*"
    )
    for ax in axes[:2]:
        ax.set_xlabel("step t")
    for ax in axes:
        ax.legend(loc="best")
    fig.tight_layout()
    return plot.save(fig, ctx.out, "adagrad_stall.png")


def _verdict(lrs: np.ndarray, ada_final: np.ndarray, rms_final: np.ndarray) -> str:
    """Claim 5's verdict: where Adagrad ends 10x above RMSprop."""
    stalled = ada_final > 10 * rms_final

    def listed(mask: np.ndarray) -> str:
        return ", ".join(f"{lr:.2g}" for lr in lrs[mask])

    if stalled.all() or not stalled.any():
        return _report.judge(
            {"at every learning rate of the grid": bool(stalled.all())}
        )
    # "small" only when every stalling lr lies below every other one.
    below = lrs[stalled].max() < lrs[~stalled].min()
    checks = (
        {"the learning rate is small": True, "it is large": False}
        if below
        else {
            f"lr is one of {listed(stalled)}": True,
            f"lr is one of {listed(~stalled)}": False,
        }
    )
    return _report.judge(
        checks,
        detail=(
            f"Adagrad ends 10x above RMSprop at lr = {listed(stalled)}, not at "
            f"lr = {listed(~stalled)}, where it reaches down to "
            f"{ada_final[~stalled].min():.2g} (RMSprop's best: "
            f"{rms_final.min():.2g})"
        ),
    )


def judge(ctx: Context, s: Setup, runs: dict[str, dict[str, np.ndarray]]) -> Section:
    """The figure, the final gaps, and the verdict on claim 5."""
    steps, lrs, shown = s.steps, s.lrs, s.shown
    filename = _figure(ctx, s, runs)
    ada, rms = runs["adagrad"], runs["rmsprop"]
    tail = slice(steps - steps // 10, steps)
    ada_first, rms_first = ada["size"][shown, 0], rms["size"][shown, 0]
    ada_tail = float(np.median(ada["size"][shown, tail]))
    rms_tail = float(np.median(rms["size"][shown, tail]))
    ada_gap, rms_gap = ada["gap"][shown, -1], rms["gap"][shown, -1]
    ada_final = np.nan_to_num(ada["gap"][:, -1], nan=np.inf)
    rms_final = np.nan_to_num(rms["gap"][:, -1], nan=np.inf)
    stalled = ada_final > 10 * rms_final
    rows = [
        [f"{lr:.3g}", f"{a:.3g}", f"{r:.3g}", "yes" if st else "no"]
        for lr, a, r, st in zip(lrs, ada_final, rms_final, stalled, strict=True)
    ]
    takeaway = (
        f"At lr = {SHOWN_LR}, Adagrad's first step is {ada_first:.3g} long and its "
        f"median step over the last {steps // 10} steps {ada_tail:.2g} "
        f"({ada_tail / ada_first:.2g}x): the large early gradients stay in G. "
        f"RMSprop's go from {rms_first:.3g} to {rms_tail:.2g} "
        f"({rms_tail / rms_first:.2g}x). After {steps} steps the gap is "
        f"{ada_gap:.3g} for Adagrad and {rms_gap:.3g} for RMSprop. Over the "
        f"{lrs.size} learning rates Adagrad ends 10x above RMSprop at "
        f"{int(stalled.sum())} and lower at {int(np.sum(ada_final < rms_final))}."
    )
    verdict = _verdict(lrs, ada_final, rms_final)
    evidence = (
        f"Rosenbrock from (-1.2, 1), {steps} steps, lr = {SHOWN_LR}: Adagrad's step "
        f"shrinks from {ada_first:.3g} to {ada_tail:.2g} (median of the last 10%), "
        f"RMSprop's from {rms_first:.3g} to {rms_tail:.2g}; final gap Adagrad "
        f"{ada_gap:.3g} vs RMSprop {rms_gap:.3g}. Adagrad ends 10x above RMSprop at "
        f"{int(stalled.sum())} of {lrs.size} learning rates."
    )
    ctx.progress.advance("adagrad vs rmsprop")
    return Section(
        "stall_adagrad",
        TITLE,
        f"Rosenbrock from (-1.2, 1), {steps} steps, at {lrs.size} learning rates from "
        f"{lrs[0]:.0e} to {lrs[-1]:.0e}; accumulators (Adagrad's G, RMSprop's s) "
        "are read from the optimizer states.",
        [
            Figure(
                filename, "Step length, effective learning rate, final gap", takeaway
            ),
            Table(
                "Loss gap after the run",
                ["learning rate", "adagrad", "rmsprop", "adagrad 10x above rmsprop"],
                rows,
            ),
        ],
        [Verdict(5, verdict, evidence, f"Rosenbrock, {steps} steps, full batch")],
    )


def run(ctx: Context) -> Section:
    """Set up, measure, judge."""
    s = setup(ctx)
    return judge(ctx, s, measure(ctx, s))
