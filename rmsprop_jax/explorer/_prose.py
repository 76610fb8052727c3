"""The page's prose: a paragraph next to each figure, in the project's words,
with the numbers that figure shows for the current view (computed from the
same :class:`._compute.Paths`), and the claims of the material the library is
built from, stated where the figure can confirm or refute them."""

from __future__ import annotations

import math

import numpy as np

from rmsprop_jax.explorer._catalog import OPTIMIZERS
from rmsprop_jax.explorer._compute import Paths, SweepMap
from rmsprop_jax.explorer._state import State

_ADAPTIVE = ("rmsprop", "centered", "rmsprop-momentum", "adam", "adagrad")


def _g(value: float, digits: int = 3) -> str:
    return "∞" if not math.isfinite(value) else f"{value:.{digits}g}"


def _name(key: str) -> str:
    return OPTIMIZERS[key].label


def _end(paths: Paths, i: int, steps: int) -> int:
    k = int(paths.diverged_at[i])
    return min(k, steps) if k >= 0 else steps


def _first_step(paths: Paths, i: int) -> tuple[np.ndarray, float]:
    """The first update of run ``i`` and its direction in degrees (0 = +w1)."""
    step = paths.params[i, 1] - paths.params[i, 0]
    return step, math.degrees(math.atan2(float(step[1]), float(step[0])))


def _heading(degrees: float) -> str:
    """The compass name of a direction (0 degrees = east = +w1)."""
    names = (
        "east",
        "north-east",
        "north",
        "north-west",
        "west",
        "south-west",
        "south",
        "south-east",
    )
    return names[round(degrees / 45) % 8]


def _path_length(paths: Paths, i: int, steps: int) -> float:
    w = paths.params[i, : _end(paths, i, steps) + 1]
    return float(np.sum(np.hypot(*np.diff(w, axis=0).T)))


def explain_paths(state: State, paths: Paths, minima: np.ndarray) -> str:
    """Under the contour plot: what the paths show, with the first steps."""
    text = [
        "Each line is one optimizer's path over the contours of the landscape "
        "(darker = lower; both axes use the same scale, so a 45° step is drawn "
        "at 45°). Dots are the steps, light to dark from the start ★."
    ]
    if "rmsprop" in paths.optimizers:
        i = paths.optimizers.index("rmsprop")
        step, angle = _first_step(paths, i)
        first = state.learning_rate / math.sqrt(1 - state.decay)
        text.append(
            f"RMSprop's first step is ({_g(step[0])}, {_g(step[1])}), at "
            f"{angle:.0f}° ({_heading(angle)}): with s(0) = 0 it divides each "
            "gradient component by "
            f"√((1−β) g²) = √(1−β)·|g|, so every component moves by about "
            f"η/√(1−β) = {_g(state.learning_rate)}/√{_g(1 - state.decay)} = "
            f"{_g(first)} whatever its gradient: the direction is the sign of "
            "the gradient, not its size (β = 0 keeps it that way: the path "
            "moves along the 8 compass directions)."
        )
    if "sgd" in paths.optimizers:
        i = paths.optimizers.index("sgd")
        step, angle = _first_step(paths, i)
        text.append(
            f"Gradient descent's first step is −η·g = ({_g(step[0])}, "
            f"{_g(step[1])}), at {angle:.0f}°: it follows the steepest "
            "direction, which on an elongated valley points across it, not at "
            "the minimum."
        )
    if {"sgd", "rmsprop"} <= set(paths.optimizers) and len(minima):
        length, gap = {}, {}
        for key in ("sgd", "rmsprop"):
            i = paths.optimizers.index(key)
            length[key] = _path_length(paths, i, state.steps)
            end = paths.params[i, _end(paths, i, state.steps)]
            gap[key] = float(np.min(np.hypot(*(end - minima).T)))
        text.append(
            f"After {state.steps} steps RMSprop's path is {_g(length['rmsprop'])} "
            f"long and ends {_g(gap['rmsprop'])} from the minimum; gradient "
            f"descent's is {_g(length['sgd'])} long and ends {_g(gap['sgd'])} "
            "from it. The material claims RMSprop heads more directly at the "
            "minimum of an elongated valley: compare the two lengths with the "
            "distance each covered."
        )
    return " ".join(text)


def explain_noise(state: State, paths: Paths, minima: np.ndarray, sigma: float) -> str:
    """What the gradient noise does to the paths (empty without noise)."""
    if not state.noise:
        return ""
    text = [
        f"Each gradient carries seeded normal noise of σ = {_g(sigma)} per "
        f"component ({_g(state.noise)} × the landscape's median gradient norm), "
        "as a mini-batch gradient does. Rprop steps by the sign of each noisy "
        "gradient, so noise that flips signs moves it as far as a true "
        "gradient would (the material's +0.1 nine times, −0.9 once: Rprop "
        "drifts, SGD's sum stays near 0); RMSprop divides by the RMS of about "
        f"1/(1−β) = {_g(1 / (1 - state.decay))} gradients: a larger β averages "
        "more noise away (stable), a smaller one follows it (adaptive)."
    ]
    if len(minima):
        ends = []
        for i, key in enumerate(paths.optimizers):
            end = paths.params[i, _end(paths, i, state.steps)]
            ends.append(
                f"{_name(key)} {_g(float(np.min(np.hypot(*(end - minima).T))))}"
            )
        text.append(f"Distance from the minimum after {state.steps} steps: ")
        text[-1] += "; ".join(ends) + "."
    return " ".join(text)


def explain_loss(state: State, paths: Paths, low: float) -> str:
    """Under the loss plot: the loss each optimizer reached."""
    if not paths.optimizers:
        return "Tick an optimizer to see its loss."
    parts = []
    for i, key in enumerate(paths.optimizers):
        k = int(paths.diverged_at[i])
        if 0 <= k <= state.steps:
            parts.append(f"{_name(key)} diverged at step {k}")
            continue
        gap = float(paths.loss[i, state.steps]) - low
        parts.append(f"{_name(key)} {_g(max(gap, 0.0))}")
    text = (
        "The loss minus the landscape's minimum, on a log scale: a straight "
        "falling line is a constant factor per step (linear convergence), a "
        "flat one a stall, a saw-tooth an optimizer overshooting the valley's "
        f"floor. After {state.steps} steps: " + "; ".join(parts) + "."
    )
    for key in ("rmsprop", "centered", "rmsprop-momentum"):
        if key in paths.optimizers:
            i = paths.optimizers.index(key)
            gaps = np.maximum(paths.loss[i, : state.steps + 1] - low, 1e-30)
            if not np.isfinite(gaps).all():
                continue
            best = int(np.argmin(gaps))
            if best < state.steps and gaps[best:].max() > 100 * gaps[best]:
                text += (
                    f" {_name(key)} came within {_g(gaps[best])} of the minimum "
                    f"at step {best}, then rose to {_g(gaps[best:].max())}: near "
                    "the minimum its gradients shrink, s follows them down, "
                    "η/√s grows, and a step overshoots (a larger ε or a "
                    "smaller η limits it)."
                )
                break
    return text


def explain_effective_lr(state: State, paths: Paths) -> str:
    """Under the effective learning rate plot."""
    text = [
        "The effective learning rate is the factor each weight's gradient is "
        "multiplied by: η/√(s+ε) for the RMSprop family (s is the running mean "
        "of the squared gradient), η for gradient descent, Rprop's step Δ. "
        "Dividing by √s gives a weight with large gradients a small rate and a "
        "weight with small gradients a large one."
    ]
    for key in _ADAPTIVE:
        if key not in paths.optimizers:
            continue
        i = paths.optimizers.index(key)
        end = _end(paths, i, state.steps) - 1
        rate = paths.effective_lr[i]
        if end < 0 or not np.isfinite(rate[0]).all():
            continue
        text.append(
            f"{_name(key)}: ({_g(rate[0, 0])}, {_g(rate[0, 1])}) at step 1, "
            f"({_g(rate[end, 0])}, {_g(rate[end, 1])}) at step {end + 1}."
        )
        if key == "adagrad" and rate[end].max() < rate[0].max():
            text.append(
                "Adagrad sums every squared gradient, so its rates only fall: "
                "the material's claim that its steps shrink until it stalls "
                "shows here as a line that never rises."
            )
    return " ".join(text)


def explain_rms(state: State, paths: Paths) -> str:
    """Under the RMS plot."""
    horizon = 1 / (1 - state.decay) if state.decay < 1 else math.inf
    text = [
        f"√s is the root mean square of the recent gradients: with β = "
        f"{_g(state.decay)} each step keeps β of the old s and adds (1−β) of "
        f"g², so s remembers about 1/(1−β) = {_g(horizon)} steps. Large β "
        "smooths the rate (stable, slow to adapt), small β follows each "
        "gradient (adaptive, noisy)."
    ]
    if "rmsprop" in paths.optimizers:
        i = paths.optimizers.index("rmsprop")
        s = paths.second_moment[i]
        end = _end(paths, i, state.steps) - 1
        if end >= 0 and np.isfinite(s[end]).all():
            text.append(
                f"RMSprop's s after step 1 is ({_g(s[0, 0], 6)}, {_g(s[0, 1], 6)}) "
                f"= (1−β)·g(0)²; after step {end + 1}: ({_g(s[end, 0])}, "
                f"{_g(s[end, 1])})."
            )
    return " ".join(text)


def amplification(g1: float, g2: float, beta: float) -> float:
    """C_a(g1, g2) of the material (eta = 1, eps = 1e-8).

    Examples:
      >>> round(amplification(2.0, 2.0, 0.9), 4)
      0.2942
    """
    s2 = (1 - beta) * (beta * g1 * g1 + g2 * g2)
    return abs(g2) / math.sqrt(s2 + 1e-8) - abs(g2)


def explain_amplification(state: State) -> str:
    """Next to the amplification maps: what C_a is, its values at this beta."""
    beta = state.decay
    small, large = amplification(0.1, 0.1, beta), amplification(2.0, 2.0, beta)
    return (
        "C_a(g1, g2) = |v(2)| − |η·g2| compares RMSprop's second step with "
        "plain gradient descent's, after gradients g1 then g2 (η = 1): red where "
        "RMSprop steps further (amplified), blue where it steps less "
        f"(attenuated). At β = {_g(beta)}: C_a(0.1, 0.1) = {_g(small)}, "
        f"C_a(2, 2) = {_g(large)}. Small gradients are amplified (RMSprop "
        "crosses plateaus and passes saddle points where gradient descent "
        "crawls), large ones damped (steep walls do not throw it off). As β → 1 "
        "with s(0) = 0, s stays tiny for the first steps and the whole map "
        "turns red: the early steps explode."
    )


def explain_sweep(state: State, result: SweepMap, low: float) -> str:
    """Under the final-loss map: the best cell and how wide the good band is."""
    name = _name(state.sweep_optimizer)
    gap = np.where(np.isfinite(result.loss), result.loss - low, np.inf)
    diverged = int(np.sum(result.diverged_at >= 0))
    if not np.isfinite(gap).any():
        return f"Every (β, η) of {name} diverged within {state.steps} steps."
    i, j = np.unravel_index(np.argmin(gap), gap.shape)
    best = float(gap[i, j])
    good = np.sum(gap <= max(10 * best, 1e-6), axis=1)
    return (
        f"Each cell is {name}'s loss after {state.steps} steps for one (β, η) "
        f"(× = diverged; click a cell to use it). The best here is β = "
        f"{_g(result.decays[i])}, η = {_g(result.learning_rates[j])}, "
        f"{_g(best)} above the minimum; {diverged} of {gap.size} cells "
        f"diverged. Within 10× of the best loss lie {int(good[i])} of the "
        f"{gap.shape[1]} learning rates at that β: the wider that band, the "
        "less the choice of η matters (the material claims RMSprop is less "
        "sensitive to η than SGD)."
    )


WORKED_EXAMPLE_NOTE = (
    "The worked example of the material prints s(2) ≈ (1521.81, 30145.02): it "
    "rounded w(1) to (−14.84, 19.84) before taking the gradient there. The "
    "exact w(1) = (−14.8419, 19.8419) gives g(1) = (−89.05, 396.84) and "
    "s(2) = (1522.01, 30148.02), the values the table shows for the worked "
    "example (its button above)."
)
