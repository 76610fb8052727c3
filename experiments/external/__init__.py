"""(x) The claims against other people's benchmarks and numbers, with statistics.

``python -m experiments --only external`` runs this section: published numbers
on problems others defined (DeepOBS's ``quadratic_deep``, MNIST-1D), Hinton's
mini-batch counterexample in exact numbers, the adding problem with an LSTM,
Proben1-style data sets from Debian's libfann-doc, FANN's own C iRprop-
(Debian's libfann2, through ctypes) step by step against this library's, and
the demo page's further claims. Every random quantity is
measured over seeds (the sweep engine's restart axis: each seed its own
initialisation and batch order) next to the hyperparameter axes of the grid,
and every verdict is read from a 95 % interval (:mod:`._stats`), never from one
run. It writes ``external.json`` (one value per seed in every list), figures,
and its section of the report.

The section has the shape of a solver: :func:`setup` fixes the sizes,
:func:`measure` runs every item through the sweep engine, :func:`judge` reads
the verdicts, and :func:`run` is the three in a row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from experiments._context import Context
from experiments._report import Section, Table
from experiments.external import (
    adding,
    counterexample,
    deepobs,
    further,
    libfann,
    mnist1d,
    proben1,
)

LETTER = "x"
TITLE = "(x) Against other people's benchmarks and numbers, with statistics"
SCHEMA = (  # the top-level keys of external.json, in order
    "deepobs_quadratic_deep",
    "mnist1d",
    "adding_problem",
    "minibatch_counterexample",
    "proben1",
)


@dataclass(frozen=True)
class Setup:
    cycles: int  # counterexample: cycles of the ten batches
    deepobs_seeds: int
    deepobs_epochs: int
    deepobs_lrs: np.ndarray
    deepobs_decays: tuple[float, ...]
    mnist_seeds: int
    mnist_steps: int  # the published reproduction (8000 in full)
    mnist_sweep_steps: int  # the learning-rate sweep
    mnist_hidden: int  # the learning-rate sweep's MLP width
    mnist_lrs: np.ndarray
    adding_length: int  # T
    adding_hidden: int
    adding_steps: int
    adding_seeds: int
    further_steps: int
    further_seeds: int
    proben1_epochs: int
    proben1_seeds: int
    libfann_epochs: int  # FANN's C iRprop- against this library's, parity8
    libfann_seeds: int


def setup(ctx: Context) -> Setup:
    """The run sizes of ``ctx.size`` (full: the published setups, >= 5 seeds)."""
    return Setup(
        cycles=ctx.pick(3, 100, 100),
        deepobs_seeds=ctx.pick(2, 5, 10),
        deepobs_epochs=ctx.pick(2, 100, 100),
        deepobs_lrs=np.logspace(-4, 1, ctx.pick(3, 6, 11)),
        deepobs_decays=ctx.pick((0.9,), (0.9, 0.99), (0.9, 0.99, 0.999)),
        mnist_seeds=ctx.pick(2, 5, 5),
        mnist_steps=ctx.pick(20, 1000, mnist1d.STEPS),
        mnist_sweep_steps=ctx.pick(20, 300, 1500),
        mnist_hidden=ctx.pick(8, 32, 32),
        mnist_lrs=np.logspace(-4, 1, ctx.pick(3, 6, 11)),
        adding_length=ctx.pick(10, 50, 50),
        adding_hidden=ctx.pick(4, 32, 32),
        adding_steps=ctx.pick(4, 300, 1500),
        adding_seeds=ctx.pick(2, 3, 3),
        further_steps=ctx.pick(300, 1500, 3000),
        further_seeds=ctx.pick(2, 5, 10),
        proben1_epochs=ctx.pick(20, 300, 1000),
        proben1_seeds=ctx.pick(2, 5, 5),
        libfann_epochs=ctx.pick(30, 1000, 1000),
        libfann_seeds=ctx.pick(2, 5, 5),
    )


def units(ctx: Context) -> int:
    return 8


def measure(ctx: Context, s: Setup) -> dict:
    """Every item, each through the sweep engine; the raw measurements."""
    m: dict = {}
    m["counterexample"] = counterexample.measure(s.cycles)
    ctx.progress.advance("external: Hinton's mini-batch counterexample")
    m["deepobs"] = deepobs.measure(
        s.deepobs_seeds, s.deepobs_epochs, s.deepobs_lrs, list(s.deepobs_decays)
    )
    ctx.progress.advance("external: DeepOBS quadratic_deep")
    m["mnist1d"] = mnist1d.measure(
        s.mnist_seeds, s.mnist_steps, s.mnist_sweep_steps, s.mnist_hidden, s.mnist_lrs
    )
    ctx.progress.advance("external: MNIST-1D")
    m["adding"] = adding.measure(
        s.adding_length, s.adding_hidden, s.adding_steps, s.adding_seeds
    )
    ctx.progress.advance("external: the adding problem")
    m["further"] = further.measure(
        s.further_steps, s.further_seeds, [1e-3, 1e-2, 1e-1], [0.5, 0.9, 0.99, 0.999]
    )
    ctx.progress.advance("external: the demo page's further claims")
    m["proben1"] = proben1.measure(s.proben1_epochs, s.proben1_seeds)
    ctx.progress.advance("external: Proben1-style data sets")
    m["libfann"] = libfann.measure(s.libfann_epochs, s.libfann_seeds)
    ctx.progress.advance("external: FANN's C iRprop- step by step")
    return m


def document(m: dict) -> dict:
    """external.json: exactly the issue's schema (lists hold one value per seed)."""
    parts = {
        "deepobs_quadratic_deep": m["deepobs"][0],
        "mnist1d": m["mnist1d"][0],
        "adding_problem": m["adding"][0],
        "minibatch_counterexample": m["counterexample"][0],
        "proben1": m["proben1"],
    }
    return {key: parts[key] for key in SCHEMA}


def judge(ctx: Context, s: Setup, m: dict) -> Section:
    """Figures, tables and verdicts, each read from 95 % intervals over seeds."""
    blocks4, verdicts4, rows4 = counterexample.judge(ctx, *m["counterexample"])
    blocks1, rows1 = deepobs.judge(ctx, *m["deepobs"], s.deepobs_lrs, s.deepobs_decays)
    blocks2, verdicts2, rows2 = mnist1d.judge(
        ctx, *m["mnist1d"], s.mnist_lrs, s.mnist_hidden
    )
    blocks3, rows3 = adding.judge(ctx, *m["adding"])
    blocks6, rows6 = further.judge(ctx, m["further"])
    blocks5, rows5 = proben1.judge(ctx, m["proben1"], s.proben1_epochs)
    blocks5f, rows5f = libfann.judge(ctx, m["libfann"])
    rows = rows4 + rows1 + rows2 + rows3 + rows5 + rows5f + rows6
    summary = Table(
        "Verdicts of this section (each from 95 % intervals over the seeds; "
        "deterministic items say so)",
        ["item", "statement", "verdict", "evidence (measured)"],
        rows,
    )
    for row in rows:
        ctx.progress.print(f"  [{row[0]}] {row[1]}: {row[2]}")
    return Section(
        "external",
        TITLE,
        "Numbers others published, on their problems, reproduced with this "
        "library's optimizers through the sweep engine; seeds are a grid axis "
        "(each seed its own initialisation and batch order); where a problem "
        "is deterministic the verdict says so. FANN's own C iRprop- (Debian's "
        "libfann2, float64 build) is compared with this library's weight-step "
        "by weight-step.",
        [summary, *blocks4, *blocks1, *blocks2, *blocks3, *blocks5, *blocks5f]
        + blocks6,
        verdicts4 + verdicts2,
    )


def run(ctx: Context) -> Section:
    """Set up, measure, write external.json, judge."""
    s = setup(ctx)
    m = measure(ctx, s)
    path = ctx.out / "external.json"
    path.write_text(json.dumps(document(m), indent=1), encoding="utf-8")
    section = judge(ctx, s, m)
    ctx.progress.advance("external: report")
    return section
