"""Means over seeds, their 95 % intervals, and verdicts read from intervals.

Every verdict on a random quantity is computed here from Student-t intervals
over seeds (never from one run): a claim that one optimizer does better than
another *holds* when the whole 95 % interval of the difference of the means
lies on the claimed side, *does not hold* when it lies on the other side, and
is *not resolved* when the interval contains 0; a claim that a mean passes a
threshold likewise, with the threshold in place of 0 (:func:`beyond`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """The mean of ``n`` values and its two-sided 95 % t-interval."""

    mean: float
    low: float
    high: float
    n: int

    def text(self, spec: str = ".4g") -> str:
        return (
            f"{format(self.mean, spec)} [{format(self.low, spec)}, "
            f"{format(self.high, spec)}]"
        )


def interval(values) -> Interval:
    """The mean of ``values`` and its 95 % interval (Student's t, n - 1 degrees
    of freedom; infinite for a single value; NaN values count as NaN)."""
    x = np.asarray(values, np.float64).ravel()
    n = x.size
    mean = float(np.mean(x))
    if n < 2 or not np.all(np.isfinite(x)):
        half = float("inf") if np.isfinite(mean) else float("nan")
        return Interval(mean, mean - half, mean + half, n)
    half = float(stats.t.ppf(0.5 + LEVEL / 2, n - 1) * np.std(x, ddof=1) / np.sqrt(n))
    return Interval(mean, mean - half, mean + half, n)


def difference(a, b) -> Interval:
    """The 95 % interval of mean(a) - mean(b) (Welch: unequal variances)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    mean = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = float(np.sqrt(va + vb))
    if se == 0.0:
        return Interval(mean, mean, mean, min(a.size, b.size))
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, dof) * se)
    return Interval(mean, mean - half, mean + half, min(a.size, b.size))


def side(diff: Interval) -> int:
    """+1 when the whole interval is above 0, -1 when below, 0 when it holds 0
    (or is not finite)."""
    if not (np.isfinite(diff.low) and np.isfinite(diff.high)):
        return 0
    return 1 if diff.low > 0 else -1 if diff.high < 0 else 0


def better(a, b, *, lower_is_better: bool) -> str:
    """Verdict on "``a`` does better than ``b``" over seeds, with the interval.

    Examples:
      >>> better([1.0, 1.1, 0.9, 1.0, 1.05], [2.0, 2.1, 1.9, 2.0, 2.2],
      ...        lower_is_better=True)[:5]
      'holds'
    """
    diff = difference(a, b)
    sign = side(diff) * (-1 if lower_is_better else 1)
    where = f"difference of the means {diff.text('.3g')} (95 %, {diff.n} seeds)"
    if sign > 0:
        return f"holds: {where}"
    if sign < 0:
        return f"does not hold: {where}"
    return f"does not hold at 95 % (no resolved difference): {where}"


def beyond(
    values, threshold: float, *, above: bool, what: str = "mean", unit: str = "seeds"
) -> str:
    """Verdict on "the mean of ``values`` is above (or below) ``threshold``"
    over seeds, read from the 95 % interval of the mean; when the interval
    straddles the threshold the verdict says so. ``unit`` names what the
    values are drawn over (seeds, landscapes, ...).

    Examples:
      >>> beyond([2.0, 2.2, 1.9, 2.1, 2.0], 1.0, above=True)[:5]
      'holds'
      >>> beyond([0.5, 1.5, 0.9, 1.4, 0.8], 1.0, above=True)[:40]
      'does not hold at 95 % (not resolved: the'
    """
    i = interval(values)
    where = f"{what} {i.text('.3g')} (95 %, {i.n} {unit}) against {threshold:.3g}"
    side_ = side(
        Interval(i.mean - threshold, i.low - threshold, i.high - threshold, i.n)
    )
    sign = side_ if above else -side_
    if sign > 0:
        return f"holds: {where}"
    if sign < 0:
        return f"does not hold: {where}"
    return (
        "does not hold at 95 % (not resolved: the interval straddles the "
        f"threshold): {where}"
    )
