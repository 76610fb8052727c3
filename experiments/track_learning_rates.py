"""(c) Per-parameter effective learning rate and gradient RMS over time.

RMSprop (eta = 0.05, beta = 0.9, eps = 1e-8) on the elongated valley from the
worked example's start, in one call of the sweep engine that records, at every
step, the gradient g, the accumulator s (the optimizer state's second moment),
the effective learning rate eta / sqrt(s + eps) of each weight (from
:mod:`rmsprop_jax.diagnostics`) and the step actually taken.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

import rmsprop_jax as rj
from experiments import _plotting as plot
from experiments._context import Context
from experiments._report import Figure, Section, Table
from rmsprop_jax.landscapes import LANDSCAPES
from rmsprop_jax.sweep import sweep

LETTER = "c"
TITLE = "(c) Per-parameter effective learning rates on the elongated valley"
LR, DECAY, EPS = 0.05, 0.9, 1e-8


def units(ctx: Context) -> int:
    return 1


def record(steps: int) -> dict[str, np.ndarray]:
    """Gradients g(t), accumulators s(t+1), effective learning rates and steps
    of RMSprop, shape (steps, 2) each: one engine call."""
    land = LANDSCAPES["valley"]
    tx = functools.partial(rj.rmsprop, learning_rate=LR, decay=DECAY, eps=EPS)
    names = ("grads", "second_moment", "effective_lr", "updates", "params")
    result = sweep(
        tx, land.fn, np.array(land.start, np.float32), steps=steps, record=names
    )
    r = {name: np.asarray(result.records[name]) for name in names}
    return {
        "g": r["grads"],
        "s": r["second_moment"],
        "rate": r["effective_lr"],
        "u": r["updates"],
        "w": r["params"],
    }


def _trend(now: np.ndarray, then: np.ndarray) -> str:
    """A pair of magnitudes relative to their values at step 1."""
    factors = np.abs(now) / np.abs(then)
    return f"{factors[0]:.2g}x and {factors[1]:.2g}x their step-1 values"


@dataclass(frozen=True)
class Setup:
    steps: int


def setup(ctx: Context) -> Setup:
    """The run size of ``ctx.size``."""
    return Setup(ctx.pick(20, 300, 600))


def measure(ctx: Context, s: Setup) -> dict[str, np.ndarray]:
    """:func:`record`'s arrays: one engine call."""
    return record(s.steps)


def _figure(ctx: Context, s: Setup, r: dict[str, np.ndarray]) -> str:
    """Rates and steps, gradients and their RMS, and s, per weight."""
    t = np.arange(1, s.steps + 1)
    rate = r["rate"]
    rms = np.sqrt(r["s"])
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    names = ("$w_1$ (curvature 6)", "$w_2$ (curvature 20)")
    colors = ("#1f77b4", "#d62728")
    for i in range(2):
        axes[0].semilogy(
            t, rate[:, i], color=colors[i], label=f"eta/sqrt(s+eps), {names[i]}"
        )
        axes[0].semilogy(
            t,
            np.abs(r["u"][:, i]),
            "--",
            color=colors[i],
            lw=1,
            label=f"|step|, {names[i]}",
        )
        axes[1].semilogy(
            t,
            np.abs(r["g"][:, i]),
            color=colors[i],
            lw=0.8,
            alpha=0.6,
            label=f"|g|, {names[i]}",
        )
        axes[1].semilogy(
            t, rms[:, i], color=colors[i], lw=2, label=f"RMS = sqrt(s), {names[i]}"
        )
        axes[2].semilogy(t, r["s"][:, i], color=colors[i], label=f"s, {names[i]}")
    # |g| and |step| dip to ~1e-19 where a weight crosses 0; clip those dips.
    axes[0].set_ylim(bottom=max(axes[0].get_ylim()[0], 1e-4))
    axes[1].set_ylim(bottom=max(axes[1].get_ylim()[0], 1e-3))
    axes[0].set_title("effective learning rate and step per weight")
    axes[1].set_title("gradient magnitude and its running RMS")
    axes[2].set_title("the two components of s")
    for ax, label in zip(axes, ("learning rate / step", "gradient", "s"), strict=True):
        ax.set_xlabel("step t")
        ax.set_ylabel(label)
        ax.legend(loc="best")
    fig.tight_layout()
    return plot.save(fig, ctx.out, "learning_rates.png")


def judge(ctx: Context, s: Setup, r: dict[str, np.ndarray]) -> Section:
    """The figure and the recorded values at selected steps."""
    steps, rate = s.steps, r["rate"]
    filename = _figure(ctx, s, r)
    ratio_first = rate[0, 0] / rate[0, 1]
    k = min(50, steps) - 1
    takeaway = (
        f"At step 1, w1's effective learning rate is {ratio_first:.2f}x w2's "
        f"(sqrt(s2/s1) = |g2/g1| = 400/90 = 4.44), so the two weights move by the "
        f"same {abs(r['u'][0, 0]):.3f} and {abs(r['u'][0, 1]):.3f}: RMSprop evens out "
        f"the curvatures. At step {k + 1} the rates are {rate[k, 0]:.3g} and "
        f"{rate[k, 1]:.3g} (ratio {rate[k, 0] / rate[k, 1]:.2f}); at step {steps} "
        f"the gradients are {_trend(r['g'][-1], r['g'][0])} and the rates "
        f"{_trend(rate[-1], rate[0])} ({rate[-1, 0]:.3g}, {rate[-1, 1]:.3g}), so the "
        f"steps are {abs(r['u'][-1, 0]):.2g} and {abs(r['u'][-1, 1]):.2g} "
        f"against eta = {LR}."
    )
    pair = lambda a, i: f"({a[i, 0]:.5g}, {a[i, 1]:.5g})"  # noqa: E731
    rows = [
        [str(i + 1), pair(r["g"], i), pair(r["s"], i), pair(rate, i), pair(r["u"], i)]
        for i in sorted({0, 1, 4, 9, min(49, steps - 1), steps - 1})
    ]
    ctx.progress.advance("effective learning rates")
    return Section(
        "track_learning_rates",
        TITLE,
        f"RMSprop (eta={LR}, beta={DECAY}, eps={EPS:g}) on 3 w1^2 + 10 w2^2 from "
        f"(-15, 20), {steps} steps; g, s, eta/sqrt(s+eps) and the steps are "
        "recorded by the sweep engine (s from the optimizer state).",
        [
            Figure(filename, "Effective learning rates, gradient RMS and s", takeaway),
            Table("Selected steps", ["t", "g", "s", "eta/sqrt(s+eps)", "update"], rows),
        ],
    )


def run(ctx: Context) -> Section:
    """Set up, measure, judge."""
    s = setup(ctx)
    return judge(ctx, s, measure(ctx, s))
