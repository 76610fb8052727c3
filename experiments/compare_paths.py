"""(a) Paths of sgd, momentum, adagrad, rmsprop, rprop and adam on every landscape.

Each optimizer runs from the landscape's recommended start at every learning
rate of a log-spaced grid (every optimizer and landscape in ONE call of the
sweep engine);
the figure shows each at its best learning rate (lowest mean log10 of
f - f* over the second half of the run, ties broken by the whole run). Tables
give steps to 1e-3 of the initial gap and the fraction of the grid that gets
there. A user-typed formula (``--expression``)
is one more landscape (:func:`rmsprop_jax.landscapes.from_formula`: checked over
its box, its minimum estimated on a grid and refined).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments import _numerics as nx
from experiments import _plotting as plot
from experiments import _report
from experiments._context import Context
from experiments._report import Figure, Section, Table, Verdict
from experiments._stats import beyond
from rmsprop_jax import landscapes

LETTER = "a"
TITLE = "(a) Paths of six optimizers on every landscape"
TOLERANCE = 1e-3  # relative: f - f* < TOLERANCE * (f(w0) - f*)
# The landscapes a quick run draws (drawing is most of this experiment's time
# once its program is compiled); the others are measured and tabled as usual.
QUICK_FIGURES = ("valley", "rosenbrock", "formula")


def all_landscapes(ctx: Context) -> list[landscapes.Landscape]:
    return [*landscapes.LANDSCAPES.values(), landscapes.from_formula(ctx.expression)]


def units(ctx: Context) -> int:
    return 1 + len(landscapes.LANDSCAPES) + 1


@dataclass(frozen=True)
class Setup:
    steps: int
    lrs: np.ndarray
    lands: list[landscapes.Landscape]  # the library's and the typed formula's
    drawn: tuple[str, ...]  # the landscapes with a figure


def setup(ctx: Context) -> Setup:
    """The run size of ``ctx.size`` and the landscapes."""
    lands = all_landscapes(ctx)
    every = tuple(land.name for land in lands)
    return Setup(
        ctx.pick(15, 150, 300),
        np.logspace(-4, 1, ctx.pick(3, 11, 21)),
        lands,
        ctx.pick(every, QUICK_FIGURES, every),
    )


def measure(ctx: Context, s: Setup) -> dict[str, dict]:
    """Per landscape, :func:`best_runs`: every optimizer and landscape in one
    engine call."""
    nx.tune(s.lands, s.steps, s.lrs)
    ctx.progress.advance("paths: every optimizer on every landscape")
    by_name = {}
    for land in s.lands:
        by_name[land.name] = best_runs(land, s.steps, s.lrs)
        ctx.progress.advance(f"paths: {land.name}")
    return by_name


def best_runs(land: landscapes.Landscape, steps: int, lrs: np.ndarray) -> dict:
    """Every optimizer at every learning rate; the best run of each, measured."""
    results = {}
    start = np.asarray(land.start)
    for name in nx.OPTIMIZERS:
        best, ws, gaps = nx.tuned(land, name, steps, lrs)
        tol = TOLERANCE * gaps[best, 0]
        target = nx.nearest_minimum(land, ws[best, -1])
        radius = 0.01 * np.linalg.norm(start - target)
        reached = [nx.first_below(g, tol) is not None for g in gaps]
        ratios = [nx.path_ratio(w, nx.nearest_minimum(land, w[-1]), radius) for w in ws]
        results[name] = dict(
            lr=float(lrs[best]),
            ws=ws[best],
            gaps=gaps[best],
            hit=nx.first_below(gaps[best], tol),
            ratio=ratios[best],
            ratios=np.asarray(ratios),
            fraction=float(np.mean(reached)),
        )
    return results


def _figure(ctx, land, results, steps) -> Figure:
    fig, left, right = plot.paths_and_gaps(
        land, results, nx.LABELS, nx.FLOOR, clip=1e3, figsize=(11, 4.4)
    )
    left.set_title(f"{land.name}: paths at each optimizer's best learning rate")
    right.set(
        title=f"{land.name}: loss gap f - f* (floor {nx.FLOOR:g})",
        xlabel="step",
        ylabel="f(w) - f*",
        xlim=(0, steps),
    )
    plot.legend_below(fig, right)
    filename = plot.save(fig, ctx.out, f"paths_{land.name}.png")
    return Figure(filename, f"Paths on {land.description}", _takeaway(results))


def _takeaway(results: dict) -> str:
    hits = {n: r["hit"] for n, r in results.items() if r["hit"] is not None}
    rms = results["rmsprop"]
    if hits:
        first = min(hits, key=hits.get)
        lead = (
            f"Fastest to 1e-3 of the initial gap: {first} ({hits[first]} steps, "
            f"lr={results[first]['lr']:.2g}); "
        )
    else:
        lead = "No optimizer reaches 1e-3 of the initial gap; "
    missing = [n for n, r in results.items() if r["hit"] is None]
    lead += f"never within the run: {', '.join(missing) or 'none'}. "
    return lead + (
        f"RMSprop: {_steps(rms['hit'])}, final gap {rms['gaps'][-1]:.2g}, path "
        f"{_ratio(rms['ratio'])} (sgd: {_ratio(results['sgd']['ratio'])})."
    )


def _steps(hit: int | None) -> str:
    return "never within 1e-3" if hit is None else f"{hit} steps to 1e-3"


def _ratio(ratio: float) -> str:
    if not np.isfinite(ratio):
        return "never within 1% of the start distance"
    return f"{ratio:.3g}x the straight line"


def _path_verdict(land, results) -> Verdict:
    rms, sgd = results["rmsprop"], results["sgd"]
    finite = lambda a: a[np.isfinite(a)]  # noqa: E731
    rms_all, sgd_all = finite(rms["ratios"]), finite(sgd["ratios"])
    best_shorter = rms["ratio"] < sgd["ratio"]
    median_shorter = (
        rms_all.size > 0
        and sgd_all.size > 0
        and np.median(rms_all) < np.median(sgd_all)
    )
    verdict = _report.judge(
        {
            "compared at the best learning rates": best_shorter,
            "compared at the median learning rate": median_shorter,
        }
    )
    med = lambda a: nx.fmt(float(np.median(a))) if a.size else "n/a"  # noqa: E731
    evidence = (
        f"{land.name}: path length / straight line at the best lr: rmsprop "
        f"{nx.fmt(rms['ratio'])}, sgd {nx.fmt(sgd['ratio'])}; median over the "
        f"lrs that arrive: rmsprop {med(rms_all)} ({rms_all.size} lrs), sgd "
        f"{med(sgd_all)} ({sgd_all.size} lrs)."
    )
    return Verdict(2, verdict, evidence, f"the {land.name} landscape")


def _robustness_verdict(s: Setup, by_name: dict[str, dict]) -> Verdict:
    """Claim 1: the share of the grid that reaches the tolerance, per landscape.
    The runs are deterministic; the landscapes are the sample: a paired
    95 % t-interval of rmsprop's minus sgd's share over them."""
    rms_all = np.array([r["rmsprop"]["fraction"] for r in by_name.values()])
    sgd_all = np.array([r["sgd"]["fraction"] for r in by_name.values()])
    rms, sgd = rms_all.mean(), sgd_all.mean()
    wins, losses = int(np.sum(rms_all > sgd_all)), int(np.sum(rms_all < sgd_all))
    return Verdict(
        1,
        beyond(
            rms_all - sgd_all,
            0.0,
            above=True,
            what="rmsprop's minus sgd's fraction, paired",
            unit="landscapes",
        ),
        f"2-D landscapes (deterministic runs: no seed): mean fraction of the lr "
        f"grid reaching 1e-3 of the initial gap: rmsprop {rms:.0%}, sgd {sgd:.0%}; "
        f"rmsprop higher on {wins}, lower on {losses} of {len(by_name)} landscapes.",
        f"{len(by_name)} two-dimensional landscapes, full batch, {s.steps} steps",
    )


def judge(ctx: Context, s: Setup, by_name: dict[str, dict]) -> Section:
    """A figure per landscape, the two tables, the verdicts on claims 2 and 1."""
    steps, lrs = s.steps, s.lrs
    section = Section(
        "compare_paths",
        TITLE,
        f"Each optimizer from each landscape's start, {steps} steps, at each of "
        f"{lrs.size} learning rates from {lrs[0]:.0e} to {lrs[-1]:.0e}; shown at "
        "its best learning rate: the lowest mean log10(f - f*) over the second half "
        "of the run, ties broken by the whole run. The start is the black dot, "
        "minima are stars. With a constant learning rate RMSprop does not settle: "
        "near a minimum its steps stay about eta, so its best rate is a small one.",
    )
    undrawn = [land.name for land in s.lands if land.name not in s.drawn]
    if undrawn:
        section.intro += (
            f" This '{ctx.size}' run draws the paths on {', '.join(s.drawn)} only; "
            f"{', '.join(undrawn)} are measured as the others (a line each, the "
            "tables and the verdicts), not drawn."
        )
    hit_rows, fraction_rows = [], []
    for land in s.lands:
        results = by_name[land.name]
        if land.name in s.drawn:
            section.blocks.append(_figure(ctx, land, results, steps))
        else:  # measured as the others: what its figure's caption would say
            section.blocks.append(
                f"*Paths on {land.description}: not drawn in this run.* "
                + _takeaway(results)
            )
        hit_rows.append(
            [land.name]
            + [f"{nx.fmt(r['hit'])} (lr {r['lr']:.2g})" for r in results.values()]
        )
        fraction_rows.append(
            [land.name] + [f"{r['fraction']:.0%}" for r in results.values()]
        )
    header = ["landscape", *nx.OPTIMIZERS]
    section.blocks.append(
        Table("Steps to 1e-3 of the initial gap, at the best lr", header, hit_rows)
    )
    section.blocks.append(
        Table(
            f"Fraction of the {lrs.size} learning rates that reach 1e-3 of the "
            f"initial gap within {steps} steps",
            header,
            fraction_rows,
        )
    )
    section.verdicts.append(
        _path_verdict(landscapes.LANDSCAPES["valley"], by_name["valley"])
    )
    section.verdicts.append(_robustness_verdict(s, by_name))
    return section


def run(ctx: Context) -> Section:
    """Set up, measure, judge."""
    s = setup(ctx)
    return judge(ctx, s, measure(ctx, s))
