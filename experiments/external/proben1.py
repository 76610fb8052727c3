"""Item 5: Proben1-style data sets from Debian's ``libfann-doc``, the Rprop
literature's benchmarks, in FANN's text format.

``apt-get install libfann-doc`` puts them in
``/usr/share/doc/libfann-dev/examples/datasets`` (nothing is downloaded at
run time; without the package this item is skipped and says so). A file is a
header ``samples inputs outputs``, then each sample's inputs on one line and
its outputs on the next. Each data set trains a one-hidden-layer network
(tanh hidden units, sigmoid outputs, mean squared error as FANN measures it)
full batch, as Rprop is meant to run, with the four Rprop variants (initial
step 0.1 as FANN's ``rprop_delta_zero``, eta+ 1.2, eta- 0.5, steps in
[1e-6, 50]) and RMSprop (lr 1e-2), over seeds (each its own initialisation),
in ONE call of the sweep engine per data set; the measure is the number of
epochs until the training MSE falls below the data set's target.
"""

from __future__ import annotations

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import rmsprop_jax as rj
from rmsprop_jax.sweep import sweep

FOLDER = pathlib.Path("/usr/share/doc/libfann-dev/examples/datasets")
# data set: (hidden units, target training MSE)
SETS = {
    "parity8": (16, 0.05),
    "two-spiral": (32, 0.2),
    "diabetes": (8, 0.15),
    "thyroid": (8, 0.02),
    "gene": (8, 0.05),
}
VARIANTS = ("rprop+", "rprop-", "irprop+", "irprop-")
OPTIMIZERS = {
    **{v: functools.partial(rj.rprop, 0.1, variant=v) for v in VARIANTS},
    "rmsprop": functools.partial(rj.rmsprop, 1e-2),
}


def available() -> bool:
    return all((FOLDER / f"{name}.train").is_file() for name in SETS)


def read(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """A FANN training file: inputs ``(n, inputs)`` and outputs ``(n, outputs)``.

    Raises:
      ValueError: the file does not hold the samples its header announces.
    """
    numbers = path.read_text().split()
    n, n_in, n_out = (int(x) for x in numbers[:3])
    values = np.asarray(numbers[3:], np.float32)
    if values.size != n * (n_in + n_out):
        raise ValueError(
            f"{path} announces {n} samples of {n_in} + {n_out} values but holds "
            f"{values.size} values."
        )
    rows = values.reshape(n, n_in + n_out)
    return rows[:, :n_in], rows[:, n_in:]


def _init(n_in: int, hidden: int, n_out: int):
    def init(key):
        k1, k2 = jax.random.split(key)
        # Uniform with the fan-in's scale (FANN's default, U(-0.1, 0.1), leaves
        # parity and the spirals at the saddle where every output is 0.5).
        s1, s2 = np.sqrt(3.0 / n_in), np.sqrt(3.0 / hidden)
        return {
            "w1": jax.random.uniform(k1, (n_in, hidden), jnp.float32, -s1, s1),
            "b1": jnp.zeros(hidden),
            "w2": jax.random.uniform(k2, (hidden, n_out), jnp.float32, -s2, s2),
            "b2": jnp.zeros(n_out),
        }

    return init


def _mse(params, x, y):
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    out = jax.nn.sigmoid(h @ params["w2"] + params["b2"])
    return jnp.mean((out - y) ** 2)


def epochs_to_target(name: str, epochs: int, seeds: int) -> dict[str, np.ndarray]:
    """Per optimizer ``(seeds,)``: the first epoch whose training MSE is below
    the target (inf where it never gets there within ``epochs``)."""
    hidden, target = SETS[name]
    x, y = read(FOLDER / f"{name}.train")
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    result = sweep(
        OPTIMIZERS,
        lambda p: _mse(p, xj, yj),
        _init(x.shape[1], hidden, y.shape[1]),
        steps=epochs,
        key=jax.random.key(0),
        restarts=seeds,
        divergence_threshold=None,
    )
    losses = np.nan_to_num(np.asarray(result.losses, np.float64), nan=np.inf)
    hit = losses < target  # (optimizer, seeds, epochs)
    first = np.where(hit.any(-1), hit.argmax(-1), np.inf)
    return dict(zip(result.optimizers, first, strict=True))


def measure(epochs: int, seeds: int) -> dict:
    """The ``proben1`` part of external.json (empty without ``libfann-doc``)."""
    if not available():
        return {}
    out: dict = {}
    for name in SETS:
        runs = epochs_to_target(name, epochs, seeds)
        out[name] = {
            n: {"epochs_to_target": [None if np.isinf(v) else int(v) for v in e]}
            for n, e in runs.items()
        }
    return out


def judge(ctx, measured: dict, epochs: int):
    """Figure, table and verdict rows of item 5; returns ``(blocks, rows)``.
    A run that never reaches the target counts as ``epochs`` (censored: the
    intervals then understate how much slower it is)."""
    import matplotlib.pyplot as plt

    from experiments._report import Figure, Table
    from experiments._stats import better, interval

    if not measured:
        text = (
            f"not measured: Debian's libfann-doc is not installed ({FOLDER} is "
            "missing; `apt-get install libfann-doc`)"
        )
        return [text], [["5", "Proben1-style data sets", text, "-"]]
    runs = {
        d: {
            n: np.array(
                [epochs if v is None else v for v in m["epochs_to_target"]], np.float64
            )
            for n, m in sets.items()
        }
        for d, sets in measured.items()
    }
    rows, table = [], []
    fig, ax = plt.subplots(figsize=(11, 4.5))
    names = list(OPTIMIZERS)
    for k, (d, r) in enumerate(runs.items()):
        for j, n in enumerate(names):
            i = interval(r[n])
            x = k + (j - 2) * 0.15
            ax.errorbar(
                [x],
                [i.mean],
                yerr=[[i.mean - i.low], [i.high - i.mean]],
                fmt="o",
                capsize=2,
                color=f"C{j}",
                label=n if k == 0 else None,
            )
        ranking = [
            f"{n} {r[n].mean():.3g}"
            for n in sorted(VARIANTS, key=lambda n: r[n].mean())
        ]
        never = {
            n: sum(v is None for v in measured[d][n]["epochs_to_target"]) for n in names
        }
        table.append(
            [d, f"{SETS[d][1]:g}"]
            + [
                f"{interval(r[n]).text('.3g')}"
                + (f" ({never[n]} never)" if never[n] else "")
                for n in names
            ]
            + [", ".join(ranking)]
        )
        faster = {v: better(r[v], r["rmsprop"], lower_is_better=True) for v in VARIANTS}
        held = [v for v, text in faster.items() if text.startswith("holds")]
        verdict = (
            "holds"
            if len(held) == len(VARIANTS)
            else "does not hold"
            if not held
            else f"holds only in part: {', '.join(held)}"
        )
        rows.append(
            [
                "5",
                f"{d}: every Rprop variant reaches the target in fewer epochs "
                "than RMSprop (full batch)",
                verdict,
                f"epochs to training MSE {SETS[d][1]:g} (cap {epochs}): "
                + ", ".join(f"{n} {interval(r[n]).text('.3g')}" for n in names)
                + f"; Rprop variants by mean epochs: {', '.join(ranking)}",
            ]
        )
    ax.set_xticks(range(len(runs)), list(runs))
    ax.set_ylabel(f"epochs to the target training MSE (mean, 95 %; cap {epochs})")
    ax.set_xlabel("data set (FANN's Proben1-style files)")
    ax.set_title("Rprop variants and RMSprop, full batch")
    ax.legend(fontsize=8)
    from experiments import _plotting as plot

    figure = plot.save(fig, ctx.out, "external_proben1.png")
    seeds = len(next(iter(next(iter(runs.values())).values())))
    blocks = [
        Figure(
            figure,
            "Proben1-style data sets: epochs to a target",
            f"{seeds} seeds "
            "per data set; a run that never reaches the target counts as the cap.",
        ),
        Table(
            "Epochs to the target training MSE, mean [95 %] over seeds",
            ["data set", "target MSE", *names, "Rprop variants by mean epochs"],
            table,
        ),
    ]
    return blocks, rows
