"""(b) The worked example of the RMSprop lecture, computed by the library.

E(w) = 3 w1^2 + 10 w2^2 from w(0) = (-15, 20): two steps of gradient descent
(eta = 0.001) and of RMSprop (eta = 0.05, beta = 0.9, eps = 1e-8 inside the
root, s(0) = 0), in float64, next to the numbers the digest expects.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rmsprop_jax as rj
from experiments._context import Context
from experiments._report import Section, Table
from rmsprop_jax.landscapes import valley

LETTER = "b"
TITLE = "(b) The worked example, computed by the library"

# (quantity, expected value, decimals the digest gives)
EXPECTED_GD = [("w(1)", (-14.91, 19.6), 2), ("w(2)", (-14.82, 19.21), 2)]
EXPECTED_RMSPROP = [
    ("g(0)", (-90.0, 400.0), 2),
    ("s(1)", (810.0, 16000.0), 2),
    ("w(1)", (-14.84, 19.84), 2),
    ("g(1)", (-89.04, 396.8), 2),
    ("s(2)", (1521.81, 30145.02), 2),
    ("w(2)", (-14.73, 19.73), 2),
]


def units(ctx: Context) -> int:
    return 1


def _two_steps(
    tx: optax.GradientTransformation, w: jax.Array, decimals: int | None = None
) -> dict[str, jax.Array]:
    """Gradients, RMSprop accumulators (if any) and weights of two steps from
    ``w``.

    With ``decimals``, w(1) is rounded before the second step, as a hand
    calculation does.
    """
    state = tx.init(w)
    record = {}
    for t in range(2):
        grad = jax.grad(valley)(w)
        updates, state = tx.update(grad, state, w)
        w = optax.apply_updates(w, updates)
        if decimals is not None and t == 0:
            w = jnp.round(w, decimals)
        record[f"g({t})"] = grad
        record[f"w({t + 1})"] = w
        rms = [s for s in state if isinstance(s, rj.ScaleByRmsState)]
        if rms:
            record[f"s({t + 1})"] = rms[0].rms ** 2
    return record


def _methods(w: jax.Array) -> dict[str, dict[str, jax.Array]]:
    """:func:`_two_steps` of gradient descent, RMSprop and RMSprop with w(1)
    rounded to 2 decimals (as the chapter's hand calculation), from ``w``."""
    rms = rj.rmsprop(0.05, decay=0.9, eps=1e-8)
    return {
        "gd": _two_steps(rj.sgd(0.001), w),
        "rms": _two_steps(rms, w),
        "by_hand": _two_steps(rms, w, decimals=2),
    }


def _rows(method: str, expected, computed) -> list[list[str]]:
    rows = []
    for quantity, values, decimals in expected:
        got = computed[quantity]
        agree = np.allclose(np.round(got, decimals), values, atol=10**-decimals)
        rows.append(
            [
                method,
                quantity,
                f"({values[0]}, {values[1]})",
                f"({got[0]:.6f}, {got[1]:.6f})",
                "yes" if agree else "NO",
            ]
        )
    return rows


def measure(ctx: Context) -> dict[str, dict[str, np.ndarray]]:
    """Two steps of each method in float64 (nothing to set up: the digest fixes
    every number)."""
    with jax.enable_x64(True):  # one program (step by step: one per operation)
        out = jax.jit(_methods)(np.array([-15.0, 20.0], np.float64))
    return jax.tree.map(np.asarray, out)


def judge(ctx: Context, m: dict[str, dict[str, np.ndarray]]) -> Section:
    """The digest's numbers next to the library's, and what explains each gap."""
    gd, rms, by_hand = m["gd"], m["rms"], m["by_hand"]
    rows = _rows("gradient descent, eta=0.001", EXPECTED_GD, gd)
    rows += _rows("RMSprop, eta=0.05, beta=0.9", EXPECTED_RMSPROP, rms)
    rows += _rows("RMSprop, w(1) rounded to 2 decimals", EXPECTED_RMSPROP[3:], by_hand)
    agree = sum(row[-1] == "yes" for row in rows)
    move = np.abs(rms["w(1)"] - np.array([-15.0, 20.0]))
    bound = 0.05 / np.sqrt(1 - 0.9)
    exact = {row[1]: row[-1] for row in rows[2:8]}
    rounding = [q for q in ("g(1)", "s(2)") if exact[q] != "yes"]
    explained = all(row[-1] == "yes" for row in rows[8:])
    note = (
        f"{agree} of {len(rows)} quantities agree to the digits the digest gives. "
        + (
            f"The digest's {' and '.join(rounding)} follow from w(1) rounded to "
            "(-14.84, 19.84) before the second step: the library, given that rounded "
            "w(1), agrees on every digit. "
            if rounding and explained
            else ""
        )
        + f"RMSprop's first step moves the weights by ({move[0]:.4f}, {move[1]:.4f}), "
        f"against eta/sqrt(1-beta) = {bound:.4f}: with s(0) = 0 the first update "
        "is eta*sign(g)/sqrt(1-beta), whatever the gradient's size (90 vs 400)."
    )
    ctx.progress.advance("worked example")
    return Section(
        "reproduce_worked_example",
        TITLE,
        "E(w) = 3 w1^2 + 10 w2^2, w(0) = (-15, 20), float64, by rmsprop_jax.sgd and "
        "rmsprop_jax.rmsprop; s is read from the optimizer state "
        "(ScaleByRmsState.rms, squared).",
        [
            Table(
                "The digest's numbers next to the library's",
                [
                    "method",
                    "quantity",
                    "digest",
                    "rmsprop_jax",
                    "agrees to the digits given",
                ],
                rows,
                note=note,
            )
        ],
    )


def run(ctx: Context) -> Section:
    """Measure, judge."""
    return judge(ctx, measure(ctx))
