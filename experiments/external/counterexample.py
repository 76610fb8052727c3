"""Item 4: Hinton's mini-batch counterexample (lecture 6e), exact numbers.

One weight sees the gradient +0.01 on nine mini-batches and -0.09 on the
tenth: the full-batch gradient is exactly 0, so SGD's net move over the ten
batches is 0 (up to float64 rounding), each Rprop variant moves (it steps by
its step size, not by the gradient), and RMSprop moves too, but much less than
Rprop. Every optimizer runs the ten batches in order, in float64, in ONE call
of the sweep engine (the gradients are the data, ``shuffle=False``, and the
mini-batch loss g*w makes each the gradient and iRprop+'s loss value); the net
move is the weight after the tenth batch minus the start.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

import rmsprop_jax as rj
from experiments import _numerics as nx

LR = 0.01  # eta of SGD, momentum, Adagrad, RMSprop, Adam; Rprop's initial step
CYCLE = np.array([0.01] * 9 + [-0.09])  # the ten mini-batch gradients
_make = functools.partial
OPTIMIZERS = {
    "sgd": _make(rj.sgd, LR),
    "momentum": _make(rj.sgd, LR, momentum=0.9),
    "adagrad": _make(rj.adagrad, LR),
    "rmsprop": _make(rj.rmsprop, LR, decay=0.9),
    "rmsprop_decay0.99": _make(rj.rmsprop, LR, decay=0.99),
    "adam": _make(rj.adam, LR),
    **{
        v: _make(rj.rprop, LR, variant=v)
        for v in ("rprop+", "rprop-", "irprop+", "irprop-")
    },
}


def weights(cycles: int = 1) -> dict[str, np.ndarray]:
    """Per optimizer, the weight before each batch and after the last,
    ``(10 * cycles + 1,)`` float64, from w = 0 and a fresh state."""
    with jax.enable_x64(True):
        result = nx.replay(
            OPTIMIZERS, np.asarray(CYCLE[:, None]), steps=CYCLE.size * cycles
        )
        ws = np.asarray(result.records["params"], np.float64)[..., 0]
        last = np.asarray(result.final_params, np.float64)[..., 0]
    full = np.concatenate([ws, last[:, None]], axis=1)
    return dict(zip(result.optimizers, full, strict=True))


def measure(cycles: int) -> tuple[dict, dict[str, np.ndarray]]:
    """The ``minibatch_counterexample`` part of external.json (net move over
    the first ten batches), and the weights over ``cycles`` cycles."""
    ws = weights(cycles)
    size = CYCLE.size
    return {n: {"net_move": float(w[size] - w[0])} for n, w in ws.items()}, ws


def judge(ctx, measured: dict, ws: dict[str, np.ndarray]):
    """Figure, table and verdicts of item 4; returns ``(blocks, verdicts, rows)``."""
    import matplotlib.pyplot as plt

    from experiments import _plotting as plot
    from experiments._report import Figure, Table, Verdict
    from experiments._report import judge as judge_parts

    size = CYCLE.size
    cycles = (next(iter(ws.values())).size - 1) // size
    late = {n: float(w[-1] - w[-1 - size]) for n, w in ws.items()}  # last cycle
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    for name, w in ws.items():
        left.plot(np.arange(size + 1), w[: size + 1], "o-", ms=3, label=name)
        right.plot(w, label=name)
    left.set_title("the first ten mini-batches (fresh state)")
    right.set_yscale("symlog", linthresh=1e-2)
    right.set_title(f"{cycles} cycles of the ten batches (symlog scale)")
    for ax in (left, right):
        ax.set_xlabel("mini-batch step")
        ax.set_ylabel("weight w (start 0)")
    plot.legend_below(fig, left, ncol=5, room=0.12)
    figure = plot.save(fig, ctx.out, "external_counterexample.png")

    net = {n: m["net_move"] for n, m in measured.items()}
    rprops = [n for n in net if "rprop" in n]
    sgd_zero = abs(net["sgd"]) < 1e-15
    rprop_moves = min(abs(net[n]) for n in rprops)
    rprop_late = min(abs(late[n]) for n in rprops)
    parts = {
        f"SGD's net move is 0 ({net['sgd']:.2g}, float64 rounding)": sgd_zero,
        f"each Rprop variant moves (at least {rprop_moves:.3g} in ten batches)": (
            rprop_moves > 1e6 * max(abs(net["sgd"]), 1e-300)
        ),
        f"RMSprop nearly cancels once its average has warmed up (last cycle: "
        f"{late['rmsprop']:.3g} vs Rprop's at least {rprop_late:.3g})": (
            abs(late["rmsprop"]) < 1e-3 * rprop_late
        ),
        f"RMSprop nearly cancels from a fresh state (first ten batches: "
        f"{net['rmsprop']:.3g} vs Rprop's {rprop_moves:.3g})": (
            abs(net["rmsprop"]) < 0.1 * rprop_moves
        ),
    }
    verdict = judge_parts(parts, parts=True)
    evidence = (
        f"gradients (+0.01 x9, -0.09), every eta and Rprop's initial step {LR}, "
        "float64, deterministic (no seed): net move over the ten batches "
        + ", ".join(f"{n} {v:.4g}" for n, v in net.items())
        + "."
    )
    rows = [
        [n, f"{net[n]:.6g}", f"{late[n]:.6g}", f"{np.abs(ws[n]).max():.4g}"]
        for n in net
    ]
    blocks = [
        Figure(
            figure,
            "Hinton's counterexample: +0.01 on nine mini-batches, -0.09 on the tenth",
            evidence,
        ),
        Table(
            "Net move of the weight (exact, float64)",
            ["optimizer", "first ten batches", f"cycle {cycles}", "max |w|"],
            rows,
            "RMSprop starts its mean square at 0, so over the first cycle its steps "
            "are near eta x sign(g) and it drifts almost as far as Rprop; once the "
            "average has warmed up it nearly cancels.",
        ),
    ]
    setting = "Hinton's (+0.01 x9, -0.09) mini-batch gradients, one weight"
    verdicts = [Verdict(6, verdict, evidence, setting)]
    return (
        blocks,
        verdicts,
        [["4", "Hinton's mini-batch counterexample", verdict, evidence]],
    )
