"""Paragraphs for the view's settings beyond the seeds' figures: the valley's
conditioning (``condition``), the learning-rate schedule (``schedule``) and
the small network's landscape (``mlp-digits``), each with the numbers the
paths show."""

from __future__ import annotations

import math

import numpy as np

from rmsprop_jax.explorer._catalog import OPTIMIZERS
from rmsprop_jax.explorer._compute import Paths
from rmsprop_jax.explorer._digits import (
    HIDDEN,
    SAMPLES,
    TRAIN_STEPS,
    WEIGHT_DECAY,
    plane,
)
from rmsprop_jax.explorer._schedules import SCHEDULES, factor
from rmsprop_jax.explorer._state import MLP, State
from rmsprop_jax.explorer._surface import valley_coefficient


def _g(value: float, digits: int = 3) -> str:
    return "∞" if not math.isfinite(value) else f"{value:.{digits}g}"


def sign_flips(path: np.ndarray) -> int:
    """How often the w2 coordinate of a path changes sign (a zig-zag across
    the valley's floor)."""
    w2 = path[np.isfinite(path).all(axis=1), 1]
    signs = np.sign(w2[w2 != 0])
    return int(np.sum(signs[1:] != signs[:-1]))


def explain_condition(state: State, paths: Paths) -> str:
    """On the valley: its curvatures, where gradient descent zig-zags and what
    the zig-zags of the shown paths count."""
    if state.landscape != "valley":
        return ""
    c = valley_coefficient(state.condition)
    eta = state.sgd_learning_rate
    text = [
        f"The valley is {_g(c, 4)}·w1² + 10·w2²: curvatures {_g(2 * c, 4)} "
        f"along w1 and 20 along w2, a condition number κ = {_g(state.condition)} "
        "(the slider). Gradient descent multiplies each coordinate by 1 − η·h "
        "per step (h its curvature): with η = "
        f"{_g(eta)} that is {_g(1 - eta * 2 * c, 4)} along w1 and "
        f"{_g(1 - 20 * eta, 4)} along w2. Above η = 1/20 = 0.05 the w2 factor "
        "is negative, so w2 changes sign every step (the zig-zag across the "
        "valley); above 0.1 it diverges; and the larger κ, the closer the w1 "
        "factor is to 1 at any stable η: the slow crawl along the floor. "
        "RMSprop divides each coordinate by its own gradient's RMS, so its "
        "step is about η in both whatever κ is."
    ]
    counts = []
    for i, key in enumerate(paths.optimizers):
        path = paths.params[i, : state.steps + 1]
        counts.append(f"{OPTIMIZERS[key].label} {sign_flips(path)}")
    if counts:
        text.append(
            f"Sign changes of w2 in these {state.steps} steps: "
            + "; ".join(counts)
            + "."
        )
    return " ".join(text)


def explain_schedule(state: State) -> str:
    """The schedule's factor at the start, the middle and the end."""
    if state.schedule == "constant":
        return ""
    t = state.steps
    marks = (0, t // 2, max(t - 1, 0))
    kind = SCHEDULES.index(state.schedule)
    values = [float(factor(kind, t, k)) for k in marks]
    said = ", ".join(f"{_g(v)} at step {k}" for v, k in zip(values, marks, strict=True))
    return (
        f"Learning-rate schedule {state.schedule}: every optimizer's η is "
        f"multiplied by a factor over these {t} steps ({said}); the "
        "effective-learning-rate plot below shows it. Rprop takes no schedule: "
        "its η is the first step size Δ₀, and it sets its later steps itself."
    )


def explain_mlp(state: State) -> str:
    """What the ``mlp-digits`` landscape is, with its numbers."""
    if state.landscape != MLP:
        return ""
    explained = plane().explained
    return (
        f"This landscape is a real network's: a 64-{HIDDEN}-10 tanh MLP's mean "
        f"cross-entropy on {SAMPLES} of scikit-learn's digits (plus "
        f"{WEIGHT_DECAY:g}/2·|θ|²), on the plane θ = θ_T + w1·d1 + w2·d2 through "
        f"the weights θ_T that {TRAIN_STEPS} steps of Adam trained, spanned by "
        "the two principal directions d1, d2 of that training path (they hold "
        f"{100 * explained[0]:.0f}% and {100 * explained[1]:.0f}% of its "
        "variance), as in Li et al. (2018). The origin is θ_T, the start ★ "
        "is where the training started, projected onto the plane. Every "
        "optimizer moves on the exact loss of the network's weights there, "
        "not on an interpolation."
    )
