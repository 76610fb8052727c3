"""A typed formula checked over its box, with its minima estimated and refined.

The checks run before any optimizer does, so a formula that cannot be measured
(undefined over part of the box, constant, or lowest on the box's edge) fails
at once with a message that says why and what to change. Minima are found on a
grid, then each candidate is refined by zooming: a finer grid around the best
point, eight times over, in float64. Zooming needs no gradient, so it also
refines minima at kinks (``abs``) where Newton or BFGS would stall.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

_GRID = 401  # points per side of the search grid
_ZOOM = 41  # points per side of each refinement grid (odd: keeps the centre)
_ZOOMS = 8  # refinements; each shrinks the cell 20x (401 -> ~1e-13 of the box)
_CANDIDATES = 8  # refined local minima at most
_CLOSE = 1e-3  # a local minimum within this fraction of the range is global
# Every evaluation (the search grid, the zooms, the candidates) is made in
# blocks of one refinement grid's points, so that a compiled evaluator
# compiles ONE program for all of them (a program per shape took 1-2 s of CPU
# to compile for the formula machine). A call costs about 0.1 ms more than the
# points it evaluates: the search grid's 96 calls take 51 ms where one call
# took 39 ms, and a zoom evaluates no padding.
_BLOCK = _ZOOM * _ZOOM


def _mesh(lo1: float, hi1: float, lo2: float, hi2: float, n: int) -> np.ndarray:
    g1, g2 = np.meshgrid(np.linspace(lo1, hi1, n), np.linspace(lo2, hi2, n))
    return np.stack([g1, g2])


def _blockwise(f: Callable, mesh: np.ndarray) -> np.ndarray:
    """``f`` on ``mesh`` ``(2, *shape)``, called on blocks ``(2, _BLOCK)`` (the
    last one padded with copies of the last point): float64 ``shape``."""
    flat = mesh.reshape(2, -1)
    n = flat.shape[1]
    flat = np.concatenate([flat, np.repeat(flat[:, -1:], -n % _BLOCK, axis=1)], 1)
    values = [
        np.asarray(f(flat[:, i : i + _BLOCK]), np.float64)
        for i in range(0, flat.shape[1], _BLOCK)
    ]
    return np.concatenate(values)[:n].reshape(mesh.shape[1:])


def _local_minima(values: np.ndarray) -> np.ndarray:
    """A boolean mask of the grid points no higher than their 8 neighbours."""
    padded = np.pad(values, 1, constant_values=np.inf)
    rows, cols = values.shape
    lowest = np.ones_like(values, dtype=bool)
    for i in (-1, 0, 1):
        for j in (-1, 0, 1):
            if i or j:
                lowest &= values <= padded[1 + i : rows + 1 + i, 1 + j : cols + 1 + j]
    return lowest


def _check_defined(text: str, values: np.ndarray, mesh: np.ndarray, box) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(
            f"the formula {text!r} is not finite on {bad.mean():.0%} of the box "
            f"{box} (e.g. f({mesh[0, r, c]:.4g}, {mesh[1, r, c]:.4g}) = "
            f"{values[r, c]}): an optimizer would stop there. Choose a box where "
            "it is defined everywhere, or change the formula (e.g. log(1 + w1**2) "
            "instead of log(w1))."
        )


def _check_varies(text: str, values: np.ndarray) -> None:
    lo, hi = float(values.min()), float(values.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        raise ValueError(
            f"the formula {text!r} is constant over the box (every value is "
            f"{hi:.6g}): its gradient is zero, so no optimizer moves. Write a "
            "formula that depends on w1 or w2."
        )


def _check_inside(text: str, values: np.ndarray, mesh: np.ndarray, box) -> None:
    lowest = float(values.min())
    inside = float(values[1:-1, 1:-1].min())
    if inside > lowest + 1e-12 * max(1.0, abs(lowest)):
        r, c = np.unravel_index(np.argmin(values), values.shape)
        raise ValueError(
            f"the formula {text!r} has no minimum inside the box {box}: its lowest "
            f"value there, {values[r, c]:.6g}, is on the edge at "
            f"({mesh[0, r, c]:.4g}, {mesh[1, r, c]:.4g}), so gaps to it would "
            "measure the box, not the optimizer. Widen the box, or bound the "
            "formula (e.g. add 0.01*(w1**2 + w2**2))."
        )


def _refine(
    f: Callable, points: np.ndarray, cell: np.ndarray, box
) -> tuple[np.ndarray, np.ndarray]:
    """The lowest points near ``points`` ``(k, 2)`` found by zooming, clipped
    to the box, and the values there ``(k,)``: every point zooms in step, so
    each refinement is one evaluation of ``f`` on ``k`` blocks of
    ``_ZOOM**2`` points."""
    lo = np.array([box[0], box[2]])
    hi = np.array([box[1], box[3]])
    rows = np.arange(len(points))
    best, value = points, _blockwise(f, points.T)
    cells = np.broadcast_to(cell, points.shape)
    for _ in range(_ZOOMS):
        a = np.clip(best - 2 * cells, lo, hi)
        b = np.clip(best + 2 * cells, lo, hi)
        grids = [
            _mesh(a1, b1, a2, b2, _ZOOM)
            for (a1, a2), (b1, b2) in zip(a, b, strict=True)
        ]
        meshes = np.stack(grids, 1)  # (2, k, _ZOOM, _ZOOM)
        values = _blockwise(f, meshes).reshape(len(points), -1)
        values = np.where(np.isfinite(values), values, np.inf)
        lowest = np.argmin(values, axis=1)  # the first lowest, row by row
        better = values[rows, lowest] <= value
        found = meshes.reshape(2, len(points), -1)[:, rows, lowest].T
        best = np.where(better[:, None], found, best)
        value = np.where(better, values[rows, lowest], value)
        cells = (b - a) / (_ZOOM - 1)
    return best, value


def minima(
    f: Callable[[np.ndarray], np.ndarray],
    text: str,
    box: tuple[float, float, float, float],
) -> tuple[tuple[tuple[float, float], ...], float]:
    """The global minimisers in ``box`` of the formula ``text`` and the value
    there (float64); ``f`` evaluates it at float64 points ``(2, n)``.

    Raises ValueError when the formula is not finite over all of the box,
    constant, or lowest on the box's edge.
    """
    with jax.enable_x64(True):
        mesh = _mesh(*box, _GRID)
        values = _blockwise(f, mesh)
        _check_defined(text, values, mesh, box)
        _check_varies(text, values)
        _check_inside(text, values, mesh, box)
        best, worst = float(values.min()), float(values.max())
        close = _local_minima(values) & (values <= best + _CLOSE * (worst - best))
        order = np.argsort(values[close])[:_CANDIDATES]
        cell = np.array([box[1] - box[0], box[3] - box[2]]) / (_GRID - 1)
        best_points, best_values = _refine(f, mesh[:, close].T[order], cell, box)
    refined = [(p, float(v)) for p, v in zip(best_points, best_values, strict=True)]
    value = min(v for _, v in refined)
    tolerance = 1e-9 * max(1.0, abs(value))
    points: list[tuple[float, float]] = []
    for point, v in refined:
        near = any(np.hypot(*(point - q)) < 1e-6 for q in map(np.asarray, points))
        if v <= value + tolerance and not near:
            points.append((float(point[0]), float(point[1])))
    return tuple(points), value
