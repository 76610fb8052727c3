"""Every optimizer of the library on the elongated valley E(w) = 3 w1^2 + 10 w2^2.

Prints, for each optimizer, the first step at which the loss falls below a
tolerance and the loss after the last step. All optimizers run in ONE call of
:func:`rmsprop_jax.sweep.sweep` (one compiled program), from the digest's
start w(0) = (-15, 20). The main demo prints this table first; the report
shows it too.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import optax

import rmsprop_jax as rj
from experiments import _numerics as nx
from experiments._context import Context
from experiments._report import Section, Table
from rmsprop_jax.sweep import sweep

LETTER = "-"
TITLE = "Valley race: steps to tolerance on the elongated valley"
START = (-15.0, 20.0)
TOLERANCE = 1e-3
SGD_LR = 0.04
CURVATURES = (6.0, 20.0)  # the Hessian diag(6, 20) of 3 w1^2 + 10 w2^2


def valley(w: jax.Array) -> jax.Array:
    return 3 * w[0] ** 2 + 10 * w[1] ** 2


def contenders(steps: int) -> dict[str, optax.GradientTransformation]:
    """Each optimizer with a learning rate (or schedule) that suits the valley,
    as a factory of no arguments, under a name that says its settings."""
    cosine = optax.cosine_decay_schedule
    make = functools.partial
    return {
        f"sgd (lr {SGD_LR:g})": make(rj.sgd, SGD_LR),
        "momentum (lr 0.01, momentum 0.9)": make(rj.sgd, 0.01, momentum=0.9),
        "nesterov (lr 0.01, momentum 0.9)": make(
            rj.sgd, 0.01, momentum=0.9, nesterov=True
        ),
        "sign_sgd (lr cosine-decayed from 0.5)": make(rj.sign_sgd, cosine(0.5, steps)),
        "adagrad (lr 2)": make(rj.adagrad, 2.0),
        "rmsprop (lr cosine-decayed from 0.5)": make(rj.rmsprop, cosine(0.5, steps)),
        "rmsprop + momentum 0.9 (lr cosine-decayed from 0.05)": make(
            rj.rmsprop, cosine(0.05, steps), momentum=0.9
        ),
        "adam (lr 0.5)": make(rj.adam, 0.5),
        "laprop (lr 0.5)": make(rj.laprop, 0.5),
        "rprop iRprop- (initial step 0.1)": make(rj.rprop, 0.1),
        "rprop iRprop+ (initial step 0.1)": make(rj.rprop, 0.1, variant="irprop+"),
    }


def race(steps: int = 500) -> list[tuple[str, int | None, float]]:
    """(optimizer, first step with loss < TOLERANCE or None, final loss), fastest
    first. Every contender in one engine call."""
    result = sweep(
        contenders(steps),
        valley,
        np.array(START, np.float32),
        steps=steps,
        divergence_threshold=None,
    )
    curves = nx.loss_curve(result)  # (contenders, steps + 1)
    rows = [
        (name, nx.first_below(curve, TOLERANCE), float(curve[-1]))
        for name, curve in zip(result.optimizers, curves, strict=True)
    ]
    return sorted(rows, key=lambda r: (r[1] is None, r[1] or 0))


def format_table(rows: list[tuple[str, int | None, float]], steps: int) -> str:
    width = max(len(name) for name, _, _ in rows)
    lines = [
        f"Elongated valley 3*w1^2 + 10*w2^2 from w0 = {START}, {steps} steps",
        f"{'optimizer':<{width}}  steps to loss < {TOLERANCE:g}  final loss",
    ]
    for name, hit, final in rows:
        shown = "never" if hit is None else str(hit)
        lines.append(f"{name:<{width}}  {shown:>20}  {final:10.3e}")
    return "\n".join(lines)


def why(rows: list[tuple[str, int | None, float]]) -> str:
    """Why the winner wins, from the valley's curvatures: where plain SGD is
    first, its per-step contraction factors against the adaptive methods'
    constant-size steps."""
    winner = rows[0][0]
    if not winner.startswith("sgd "):
        return f"Fastest: {winner}."
    f1, f2 = (abs(1 - SGD_LR * c) for c in CURVATURES)
    return (
        f"Why plain SGD wins here: the valley is a quadratic with Hessian "
        f"diag{CURVATURES} (condition number {CURVATURES[1] / CURVATURES[0]:.1f}, "
        f"mildly elongated), so SGD at lr {SGD_LR:g} multiplies the error of w1 "
        f"by {f1:.2f} and of w2 by {f2:.2f} at every step: a linear rate. The "
        "adaptive methods scale each step to about lr x sign(g), which does not "
        "shrink as the minimum nears; they need a decaying learning rate to "
        "settle, and cannot contract as fast on a valley this mildly elongated. "
        "Their advantage shows on badly scaled problems and across learning "
        "rates (claims 1 and 2 below)."
    )


def units(ctx: Context) -> int:
    return 1


def run(ctx: Context) -> Section:
    """Runs the race, prints the table (the main demo's first output)."""
    steps = ctx.pick(50, 500, 500)
    rows = race(steps)
    ctx.progress.print(format_table(rows, steps))
    ctx.progress.print(why(rows))
    ctx.progress.advance("valley race")
    table = Table(
        f"Steps to loss < {TOLERANCE:g} and final loss after {steps} steps",
        ["optimizer", f"steps to loss < {TOLERANCE:g}", "final loss"],
        [[n, "never" if h is None else str(h), f"{f:.3e}"] for n, h, f in rows],
    )
    return Section(
        "valley_race",
        TITLE,
        f"Each optimizer of the library, with a learning rate (or schedule) that "
        f"suits the valley, from w0 = {START}; all of them in one call of the "
        "sweep engine (one compiled program).",
        [table, why(rows)],
    )


def main(steps: int = 500) -> list[tuple[str, int | None, float]]:
    rows = race(steps)
    print(format_table(rows, steps))
    return rows


if __name__ == "__main__":
    main()
