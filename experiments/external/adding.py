"""Item 3: the adding problem (Hochreiter & Schmidhuber 1997), as Arjovsky,
Shah & Bengio (2016) set it up.

A sequence of T pairs (value ~ U(0, 1), marker): exactly one marker in each
half of the sequence; the target is the sum of the two marked values. Always
answering 1 has mean squared error 1/6 (the variance of the sum of two
uniforms), the baseline a model must beat. An LSTM reads the sequence and a
linear layer answers from its last state; batches of 20, learning rate 1e-3;
their RMSprop starts its mean square at 1e-3 and has no eps
(``rj.rmsprop(decay=0.9, eps=0.0, initial_scale=1e-3)``), with and without
element-wise gradient clipping (``optax.clip(1.0)`` before it), against SGD,
Adagrad and Adam, over seeds (each its own initialisation and batch order),
in ONE call of the sweep engine. It measures the seed page's advice: RMSprop
for RNNs, with clipping.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import rmsprop_jax as rj
from experiments._report import Figure, Table
from experiments._report import judge as judge_parts
from experiments._stats import better, interval
from rmsprop_jax.sweep import grid, sweep

BASELINE = 1.0 / 6.0  # the error of always answering 1
LR, BATCH, CLIP = 1e-3, 20, 1.0


def _rmsprop(learning_rate):
    return rj.rmsprop(learning_rate, decay=0.9, eps=0.0, initial_scale=1e-3)


OPTIMIZERS = {  # name: (factory of the learning rate, element-wise clip or None)
    "sgd": (rj.sgd, None),
    "adagrad": (rj.adagrad, None),
    "adam": (rj.adam, None),
    "rmsprop": (_rmsprop, None),
    "rmsprop_clip": (
        lambda learning_rate: optax.chain(optax.clip(CLIP), _rmsprop(learning_rate)),
        CLIP,
    ),
}


def sequences(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` adding-problem sequences ``(n, length, 2)`` and their targets ``(n,)``."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, (n, length))
    half = length // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, length, n)
    markers = np.zeros((n, length))
    markers[np.arange(n), first] = 1.0
    markers[np.arange(n), second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values[np.arange(n), first] + values[np.arange(n), second]).astype(np.float32)
    return x, y


class LSTM(nn.Module):
    hidden: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.RNN(nn.OptimizedLSTMCell(self.hidden))(x)
        return nn.Dense(1)(h[:, -1])[:, 0]


def measure(length: int, hidden: int, steps: int, seeds: int, n_test: int = 1000):
    """The ``adding_problem`` part of external.json (test MSE per seed after
    ``steps`` updates; NaN where a run diverged) and the training curves
    ``{optimizer: (seeds, steps)}`` (the mini-batch MSE before each update)."""
    x, y = sequences(BATCH * steps, length, seed=0)  # fresh sequences every step
    x_test, y_test = sequences(n_test, length, seed=1)
    model = LSTM(hidden)

    def loss_fn(params, batch):
        xb, yb = batch
        return jnp.mean((model.apply(params, xb) - yb) ** 2)

    result = sweep(
        {name: make for name, (make, _) in OPTIMIZERS.items()},
        loss_fn,
        lambda key: model.init(key, x[:1]),
        grid(learning_rate=[LR]),
        steps=steps,
        data=(jnp.asarray(x), jnp.asarray(y)),
        batch_size=BATCH,
        key=jax.random.key(0),
        restarts=seeds,
        divergence_threshold=None,
    )
    lead = np.asarray(result.diverged).shape  # (optimizer, 1, seeds)
    flat = jax.tree.map(
        lambda p: p.reshape(-1, *p.shape[len(lead) :]), result.final_params
    )
    xt, yt = jnp.asarray(x_test), jnp.asarray(y_test)
    mse = jax.jit(jax.vmap(lambda p: jnp.mean((model.apply(p, xt) - yt) ** 2)))(flat)
    mse = np.where(np.asarray(result.diverged), np.nan, np.asarray(mse).reshape(lead))
    out: dict = {"T": length, "baseline_mse": BASELINE}
    curves = {}
    for o, (name, (_, clip)) in enumerate(OPTIMIZERS.items()):
        out[name] = {"test_mse": mse[o, 0].astype(float).tolist(), "clip": clip}
        curves[name] = np.asarray(result.losses[o, 0], np.float64)
    return out, curves


def _figure(ctx, measured: dict, curves: dict, names: list, mse: dict) -> str:
    import matplotlib.pyplot as plt

    from experiments import _plotting as plot

    seeds, steps = next(iter(curves.values())).shape
    window = max(1, steps // 50)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    for k, name in enumerate(names):
        color = plot.COLORS.get(name.split("_")[0])
        style = "--" if name.endswith("_clip") else "-"
        smooth = np.convolve(
            np.nanmean(curves[name], 0), np.ones(window) / window, "valid"
        )
        left.plot(
            np.arange(smooth.size) + window, smooth, style, color=color, label=name
        )
        right.plot(np.full(seeds, k), mse[name], "o", color=color)
        i = interval(mse[name])
        right.errorbar(
            [k + 0.15],
            [i.mean],
            yerr=[[i.mean - i.low], [i.high - i.mean]],
            fmt="s",
            color=color,
            capsize=3,
        )
    for ax in (left, right):
        ax.axhline(BASELINE, color="k", ls=":", lw=1, label="always answer 1 (MSE 1/6)")
    left.set_xlabel("update")
    left.set_ylabel(f"mini-batch MSE (mean over seeds, moving average of {window})")
    left.set_title(f"adding problem, T = {measured['T']}: training")
    right.set_xticks(range(len(names)), names)
    right.set_ylabel("test MSE after training (dots: seeds; square: mean, 95 %)")
    right.set_title("test MSE per seed")
    plot.legend_below(fig, left, ncol=6, room=0.1)
    figure = plot.save(fig, ctx.out, "external_adding_problem.png")
    return figure


def judge(ctx, measured: dict, curves: dict):
    """Figure, table and verdict rows of item 3; returns ``(blocks, rows)``."""
    names = [n for n in measured if n not in ("T", "baseline_mse")]
    mse = {n: np.asarray(measured[n]["test_mse"], np.float64) for n in names}
    seeds, steps = next(iter(curves.values())).shape
    figure = _figure(ctx, measured, curves, names, mse)
    below = {n: interval(mse[n]).high < BASELINE for n in names}
    parts = {
        "RMSprop with clipping beats the baseline": below["rmsprop_clip"],
        **{
            f"RMSprop with clipping beats {other}": better(
                mse["rmsprop_clip"], mse[other], lower_is_better=True
            ).startswith("holds")
            for other in ("sgd", "adagrad", "adam")
        },
        "clipping helps RMSprop": better(
            mse["rmsprop_clip"], mse["rmsprop"], lower_is_better=True
        ).startswith("holds"),
    }
    verdict = judge_parts(parts, parts=True)
    evidence = (
        f"T = {measured['T']}, LSTM, batch {BATCH}, lr {LR}, {steps} updates, "
        f"{seeds} seeds: test MSE "
        + ", ".join(f"{n} {interval(mse[n]).text('.3g')}" for n in names)
        + f"; baseline {BASELINE:.4f}"
    )
    rows = [
        [
            "3",
            "Adding problem: RMSprop with clipping is the choice for an RNN",
            verdict,
            evidence,
        ]
    ]
    table = Table(
        "Adding problem: test MSE, mean [95 % interval] over seeds",
        [
            "optimizer",
            "element-wise clip",
            "test MSE",
            "below the baseline 1/6 at 95 %",
        ],
        [
            [
                n,
                str(measured[n]["clip"]),
                interval(mse[n]).text(".4g"),
                "yes" if below[n] else "no",
            ]
            for n in names
        ],
    )
    return [Figure(figure, "The adding problem", evidence + "."), table], rows
