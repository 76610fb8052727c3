"""(e) The amplification measure C_a(g1, g2) as heatmaps, for four betas.

Two updates of the library's ``scale_by_rms`` (eps = 1e-8 inside the root,
s(0) = 0) with gradients g1 then g2, eta = 1, over a grid of (g1, g2): one
call of the sweep engine whose "weights" are the grid's cells (the transform
is element-wise) and whose data is the two gradients, fed in order through the
loss sum(g * w); C_a = |v(2)| - |eta g2|. The digest's closed form is computed
alongside as a check.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import SymLogNorm, TwoSlopeNorm

import rmsprop_jax as rj
from experiments import _numerics as nx
from experiments import _plotting as plot
from experiments._context import Context
from experiments._report import Figure, Section, Table
from rmsprop_jax.sweep import grid

LETTER = "e"
TITLE = "(e) Amplification C_a(g1, g2): where RMSprop's step beats plain GD's"
DECAYS = (0.0, 0.5, 0.9, 0.99)
EPS = 1e-8
LIMIT = 3.0  # the grid spans [-LIMIT, LIMIT]^2


def units(ctx: Context) -> int:
    return 1


def amplification(
    g1: np.ndarray | list[np.ndarray], g2: np.ndarray | list[np.ndarray]
) -> dict[float, np.ndarray | list[np.ndarray]]:
    """C_a for every beta of DECAYS on grids of (g1, g2): one engine call.

    ``g1``, ``g2``: one grid, or a list of grids (measured together). Each cell
    is one weight w (start 0) of ``scale_by_rms(beta, EPS)``; the two steps'
    loss is sum(g * w), so the transform sees g1, then g2.
    """
    grids = (g1, g2)
    many = isinstance(g1, list)
    firsts, seconds = ([g] if not many else g for g in grids)
    sizes = [a.size for a in firsts]
    gradients = np.stack(
        [
            np.concatenate([a.ravel() for a in firsts]),
            np.concatenate([b.ravel() for b in seconds]),
        ]
    ).astype(np.float32)  # (2 steps, cells)
    result = nx.replay(
        functools.partial(rj.scale_by_rms, eps=EPS),
        gradients,
        steps=2,
        configurations=grid(decay=list(DECAYS)),
        record="updates",
    )
    second = np.asarray(result.records["updates"])[:, 1]  # (decays, cells); eta = 1
    amplified = np.abs(second) - np.abs(gradients[1])
    out = {}
    for decay, row in zip(DECAYS, amplified, strict=True):
        parts = np.split(row, np.cumsum(sizes)[:-1])
        maps = [m.reshape(a.shape) for m, a in zip(parts, firsts, strict=True)]
        out[decay] = maps if many else maps[0]
    return out


def closed_form(decay: float, g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
    s2 = (1 - decay) * (decay * g1**2 + g2**2)
    return np.abs(g2) / np.sqrt(s2 + EPS) - np.abs(g2)


def _row(fig, axes, x, y, maps, norm, xlabel, ylabel, label, what) -> None:
    """One row of heatmaps, one per beta; ``what`` says what the row's axes are."""
    for ax, decay in zip(axes, DECAYS, strict=True):
        image = ax.pcolormesh(
            x, y, maps[decay], cmap="RdBu_r", norm=norm, shading="auto"
        )
        ax.contour(x, y, maps[decay], levels=[0.0], colors="k", linewidths=1.0)
        ax.set_title(f"{what}, beta = {decay:g}", fontsize=9.5)
        ax.set_xlabel(xlabel)
        ax.set_aspect("equal")
        ax.grid(False)
    axes[0].set_ylabel(ylabel)
    bar = fig.colorbar(image, ax=axes, shrink=0.9, pad=0.015)
    bar.set_label(label)


@dataclass(frozen=True)
class Setup:
    n: int  # cells per side of each grid
    g1: np.ndarray  # the linear grid over [-LIMIT, LIMIT]^2
    g2: np.ndarray
    e1: np.ndarray  # log10 of the magnitudes' grid, six decades
    e2: np.ndarray

    @property
    def a1(self) -> np.ndarray:
        return 10.0**self.e1

    @property
    def a2(self) -> np.ndarray:
        return 10.0**self.e2

    @property
    def small(self) -> np.ndarray:
        """The magnitudes' cells where both gradients are below 0.1."""
        return (self.a1 < 0.1) & (self.a2 < 0.1)

    @property
    def large(self) -> np.ndarray:
        """The magnitudes' cells where either gradient exceeds 10."""
        return (self.a1 > 10) | (self.a2 > 10)


def setup(ctx: Context) -> Setup:
    """The two grids at the size of ``ctx.size``."""
    n = ctx.pick(21, 201, 301)
    axis = np.linspace(-LIMIT, LIMIT, n)
    g1, g2 = np.meshgrid(axis, axis)
    # Magnitudes over six decades (C_a depends on |g1| and |g2| only).
    e1, e2 = np.meshgrid(np.linspace(-3, 3, n), np.linspace(-3, 3, n))
    return Setup(n, g1, g2, e1, e2)


@dataclass(frozen=True)
class Measured:
    maps: dict[float, np.ndarray]  # C_a on the linear grid, per beta
    wide: dict[float, np.ndarray]  # C_a on the magnitudes' grid, per beta


def measure(ctx: Context, s: Setup) -> Measured:
    """C_a on both grids for every beta: one engine call."""
    both = amplification([s.g1, s.a1], [s.g2, s.a2])
    return Measured({d: both[d][0] for d in DECAYS}, {d: both[d][1] for d in DECAYS})


def _figure(ctx: Context, s: Setup, measured: Measured) -> str:
    """The heatmaps: the linear grid on top, the magnitudes' below."""
    maps, wide = measured.maps, measured.wide
    low = min(float(m.min()) for m in maps.values())
    high = max(float(m.max()) for m in maps.values())
    fig, axes = plt.subplots(2, 4, figsize=(16, 8.4))
    # C_a: RMSprop's second step minus plain GD's, both at eta = 1.
    label = "$C_a = |v_2| - |g_2|$ (eta = 1)\nred: RMSprop's step longer than GD's"
    _row(
        fig,
        axes[0],
        s.g1,
        s.g2,
        maps,
        TwoSlopeNorm(vmin=low, vcenter=0.0, vmax=high),
        "first gradient $g_1$",
        "second gradient $g_2$",
        label,
        "signed",
    )
    lo = min(float(m.min()) for m in wide.values())
    hi = max(float(m.max()) for m in wide.values())
    _row(
        fig,
        axes[1],
        s.e1,
        s.e2,
        wide,
        SymLogNorm(linthresh=0.1, vmin=lo, vmax=-lo if hi < -lo else hi),
        "size of the first gradient, $\\log_{10} |g_1|$",
        "size of the second gradient, $\\log_{10} |g_2|$",
        label.replace("(eta = 1)", "(eta = 1), symlog scale"),
        "sizes, 1e-3 to 1e3",
    )
    return plot.save(fig, ctx.out, "amplification.png")


def _closed_form_error(s: Setup, measured: Measured) -> float:
    """The largest relative gap between the library's C_a and the digest's
    closed form, over both grids and every beta."""
    return max(
        float(np.max(np.abs(m[d] - closed_form(d, x, y)) / (1 + np.abs(m[d]))))
        for m, x, y in ((measured.maps, s.g1, s.g2), (measured.wide, s.a1, s.a2))
        for d in DECAYS
    )


def _shares(s: Setup, measured: Measured) -> tuple[list[list[str]], list[str]]:
    """The table's rows (shares amplified and attenuated per beta) and the
    takeaway's shares attenuated where a gradient exceeds 10."""
    rows, parts = [], []
    small, large = s.small, s.large
    for decay in DECAYS:
        m, w = measured.maps[decay], measured.wide[decay]
        rows.append(
            [
                f"{decay:g}",
                f"{np.mean(m > 0):.0%}",
                f"{np.mean(w[small] > 0):.0%}",
                f"{np.mean(w[large] < 0):.0%}",
                f"{w.max():.3g}",
                f"{w.min():.3g}",
            ]
        )
        parts.append(f"{np.mean(w[large] < 0):.0%} (beta {decay:g})")
    return rows, parts


def judge(ctx: Context, s: Setup, measured: Measured) -> Section:
    """The heatmaps, the shares amplified, and the check on the closed form."""
    n, g2, small = s.n, s.g2, s.small
    maps, wide = measured.maps, measured.wide
    error = _closed_form_error(s, measured)
    filename = _figure(ctx, s, measured)
    rows, parts = _shares(s, measured)
    v2 = np.abs(maps[0.0] + np.abs(g2))[g2 != 0]
    everywhere = min(np.mean(wide[d][small] > 0) for d in DECAYS)
    takeaway = (
        "Where both gradients are below 0.1 in size the step is amplified in "
        + (
            "every cell"
            if everywhere == 1
            else f"at least {everywhere:.0%} of the cells"
        )
        + " for every beta; where either exceeds "
        f"10 it is attenuated in {', '.join(parts)}. On the linear grid [-3, 3]^2 "
        f"the share amplified is {', '.join(r[1] for r in rows)} for beta = "
        f"{', '.join(f'{d:g}' for d in DECAYS)}: with s(0) = 0 the steps start near "
        f"eta/sqrt(1-beta), so a large beta amplifies up to larger gradients. "
        f"For beta = 0, |v(2)| lies in "
        f"[{v2.min():.6f}, {v2.max():.6f}]: the step is eta*sign(g2) and "
        f"C_a = 1 - |g2|. The library's two updates match the digest's closed form "
        f"to {error:.1e} (relative)."
    )
    ctx.progress.advance("amplification maps")
    return Section(
        "map_amplification",
        TITLE,
        f"C_a(g1, g2) = |v(2)| - |eta g2| with v(2) the second update of "
        f"scale_by_rms(beta, eps={EPS:g}), eta = 1, on {n} x {n} grids: top, g1 and "
        f"g2 over [-{LIMIT:g}, {LIMIT:g}]; bottom, |g1| and |g2| from 1e-3 to 1e3. "
        "The black line is C_a = 0.",
        [
            Figure(filename, "C_a heatmaps for beta = 0, 0.5, 0.9, 0.99", takeaway),
            Table(
                "Share of the grid amplified or attenuated",
                [
                    "beta",
                    "amplified, linear grid",
                    "amplified, |g1|, |g2| < 0.1",
                    "attenuated, |g1| or |g2| > 10",
                    "max C_a (log grid)",
                    "min C_a (log grid)",
                ],
                rows,
            ),
        ],
    )


def run(ctx: Context) -> Section:
    """Set up, measure, judge."""
    s = setup(ctx)
    return judge(ctx, s, measure(ctx, s))
