"""The README figure: final loss of RMSprop over a (decay, learning rate) grid.

A 64-32-10 MLP on scikit-learn's digits, mini-batches of 128, 300 steps, 3
random initialisations per configuration: 8 x 9 x 3 = 216 training runs in one
call of ``rmsprop_jax.sweep.sweep``. Writes ``docs/figures/sweep_digits.png``
and prints the table. Run as a script::

    python -m benchmarks.sweep_figure
"""

from __future__ import annotations

import pathlib
import time

import jax
import numpy as np

import rmsprop_jax as rj
from benchmarks._digits import cross_entropy, init_mlp, load_digits
from benchmarks._extras import require_extra
from rmsprop_jax.sweep import grid, sweep

DECAYS = [0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999]
LEARNING_RATES = np.logspace(-4, 0, 9).tolist()
OUT = (
    pathlib.Path(__file__).resolve().parents[1]
    / "docs"
    / "figures"
    / "sweep_digits.png"
)


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    x, y = load_digits()
    start = time.perf_counter()
    result = sweep(
        rj.rmsprop,
        cross_entropy,
        init_mlp,  # a function of a key: one initialisation per restart
        grid(decay=DECAYS, learning_rate=LEARNING_RATES),
        steps=300,
        data=(x, y),
        batch_size=128,
        key=jax.random.key(0),
        restarts=3,
    )
    jax.block_until_ready(result.losses)
    seconds = time.perf_counter() - start
    print(result.table(sort=True, limit=10))
    print(f"{len(result) * result.restarts} runs in {seconds:.1f} s (compile included)")

    final = np.asarray(result.final_loss, np.float64).mean(axis=-1)  # over restarts
    diverged = np.asarray(result.diverged).any(axis=-1)
    best = result.best()

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4), width_ratios=[1.15, 1])
    shown = np.ma.masked_where(diverged, final)
    image = ax.imshow(
        shown,
        cmap="viridis_r",
        norm=LogNorm(
            vmin=np.nanmin(final),
            vmax=max(np.nanmax(np.where(diverged, np.nan, final)), 2.4),
        ),
        aspect="auto",
        origin="lower",
    )
    for i, j in zip(*np.nonzero(diverged), strict=True):
        ax.text(j, i, "×", ha="center", va="center", color="crimson", fontsize=14)
    ax.plot(
        *best.index[::-1],
        marker="*",
        color="white",
        markersize=16,
        markeredgecolor="black",
    )
    ax.set_xticks(
        range(len(LEARNING_RATES)),
        [f"{v:.0e}" for v in LEARNING_RATES],
        rotation=45,
        fontsize=8,
    )
    ax.set_yticks(range(len(DECAYS)), [str(d) for d in DECAYS], fontsize=8)
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("decay β")
    ax.set_title("final training loss (mean of 3 inits; × diverged)", fontsize=10)
    fig.colorbar(image, ax=ax, label="cross-entropy")

    j = best.index[1]
    losses = np.asarray(result.losses[:, j], np.float64).mean(axis=1)  # (decays, steps)
    kernel = np.ones(10) / 10
    for i, decay in enumerate(DECAYS):
        if not diverged[i, j]:
            ax2.plot(
                np.convolve(losses[i], kernel, mode="valid"),
                label=f"β={decay}",
                color=plt.cm.plasma(i / len(DECAYS)),
            )
    ax2.set_yscale("log")
    ax2.set_xlabel("step")
    ax2.set_ylabel("mini-batch loss (10-step mean)")
    ax2.set_title(f"η = {LEARNING_RATES[j]:.0e}, every decay", fontsize=10)
    ax2.legend(fontsize=7, ncol=2)
    fig.suptitle(
        f"RMSprop on digits (64-32-10 MLP): {len(result) * result.restarts}"
        " runs, one compiled program",
        fontsize=11,
    )
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=100)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    require_extra(
        "python -m benchmarks.sweep_figure", "experiments", "matplotlib", "sklearn"
    )
    main()
