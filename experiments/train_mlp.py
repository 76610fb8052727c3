"""(h) A real network: an MLP (Flax) on scikit-learn's bundled digits.

8x8 digit images (1,797, bundled with scikit-learn, no download), a fixed
75/25 stratified train/test split, mini-batches of 32 (a fresh seeded
permutation every epoch, the same for every run), a 64-64-10 tanh MLP with one
fixed initialisation. Every optimizer trains at every learning rate of a
log-spaced grid in ONE call of the sweep engine, which records the params at
the start of every epoch; train loss, test loss and test accuracy are then
measured at those points (the figures and the table). The verdicts are read
from 95 % intervals over seeds (:mod:`experiments._stats`) of the final train
loss of the optimizers they compare at the same grid: that run is seed 0, and
a second call adds the others (each its own initialisation and batch order:
the engine's restart axis).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from experiments import _numerics as nx
from experiments import _plotting as plot
from experiments._context import Context
from experiments._report import Figure, Section, Table, Verdict
from experiments._stats import better, beyond, interval
from rmsprop_jax.sweep import grid, sweep

LETTER = "h"
TITLE = "(h) An MLP on the digits data set: curves and learning-rate robustness"
BATCH = 32
TARGET = 0.1  # train cross-entropy a learning rate must reach to count as working
ACCURACY = 0.95  # and, as a second view, the test accuracy
ROBUSTNESS = ("sgd", "momentum", "rmsprop", "adagrad", "adam")
ALL = (*ROBUSTNESS, "rprop")  # Rprop on mini-batches, for claim 6
SEEDED = ("sgd", "rmsprop", "rprop")  # the optimizers the verdicts compare


class MLP(nn.Module):
    hidden: int = 64

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.tanh(nn.Dense(self.hidden)(x))
        x = nn.tanh(nn.Dense(self.hidden)(x))
        return nn.Dense(10)(x)


def units(ctx: Context) -> int:
    return 3


def data(seed: int = 0):
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    return train_test_split(
        x, digits.target, test_size=0.25, random_state=seed, stratify=digits.target
    )


def _loss(model: MLP):
    def loss_fn(params, batch):
        x, y = batch
        logits = model.apply(params, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    return loss_fn


def _arrays(seed: int) -> tuple[list[jax.Array], np.ndarray]:
    """:func:`data` on the device (``device_put``, which compiles nothing,
    where ``jnp.asarray`` compiles a program per shape), and the first
    training example as NumPy ``(1, 64)`` (a slice of a placed array would
    compile a program)."""
    split = data(seed)
    return [jax.device_put(a) for a in split], split[0][:1]


def _key(seed: int) -> jax.Array:
    """``jax.random.key(seed)`` for the default threefry implementation and
    ``0 <= seed < 2**32`` (the bits ``[0, seed]``), without compiling its
    seeding."""
    return jax.random.wrap_key_data(np.array([0, seed], np.uint32), impl="threefry2x32")


def _init(model: MLP, seed: int, x: np.ndarray):
    """``model.init(jax.random.PRNGKey(seed), x)`` as one program (the same
    values as eagerly, where every operation of the initialisers is a
    program of its own)."""
    return nx.jit(lambda s: model.init(jax.random.PRNGKey(s), x))(seed)


def over_seeds(epochs: int, lrs: np.ndarray, seeds: int) -> tuple[Any, np.ndarray]:
    """Per optimizer of ``SEEDED``, every learning rate and ``seeds`` seeds on
    the fixed split; seed r initialises with the engine's r-th restart key and
    draws its own batch order. Returns the final params (leaves ``(optimizer,
    lrs, seeds, ...)``) and where a run diverged (``(optimizer, lrs,
    seeds)``): :func:`measure` evaluates them with the first seed's curves."""
    (x_train, _, y_train, _), x1 = _arrays(0)
    model = MLP()
    result = sweep(
        {name: nx.OPTIMIZERS[name] for name in SEEDED},
        _loss(model),
        lambda key: model.init(key, x1),
        grid(learning_rate=[float(lr) for lr in lrs]),
        steps=epochs * (len(x_train) // BATCH),
        data=(x_train, y_train),
        batch_size=BATCH,
        key=_key(1),
        restarts=seeds,
        divergence_threshold=None,
    )
    assert result.optimizers == SEEDED
    shape = (len(SEEDED), len(lrs), seeds)  # one restart: no axis
    final = jax.tree.map(
        lambda x: np.asarray(x).reshape(*shape, *x.shape[len(shape) - (seeds == 1) :]),
        result.final_params,
    )
    return final, np.asarray(result.diverged).reshape(shape)


def trainer(epochs: int, seed: int = 0):
    """Returns ``train(lrs) -> iterates``: every optimizer of ``ALL`` at every
    learning rate from the fixed init and batch order, the params at the
    start of every epoch and after the last (leaves ``(optimizer, lrs, epochs
    + 1, ...)``, float64, NaN from a divergence on); ``metrics(params) ->
    (train loss, test loss, test accuracy)``; and the train and test set
    sizes."""
    (x_train, x_test, y_train, y_test), x1 = _arrays(seed)
    model = MLP()
    params0 = _init(model, seed, x1)
    batches = len(x_train) // BATCH
    loss_fn = _loss(model)

    def metrics(params):
        test_logits = model.apply(params, x_test)
        accuracy = jnp.mean(jnp.argmax(test_logits, -1) == y_test)
        test_loss = optax.softmax_cross_entropy_with_integer_labels(test_logits, y_test)
        return loss_fn(params, (x_train, y_train)), test_loss.mean(), accuracy

    def train(lrs: np.ndarray) -> Any:
        result = sweep(
            {name: nx.OPTIMIZERS[name] for name in ALL},
            loss_fn,
            params0,
            grid(learning_rate=[float(lr) for lr in lrs]),
            steps=epochs * batches,
            data=(x_train, y_train),
            batch_size=BATCH,
            key=_key(seed),
            record="params",
            record_every=batches,  # the params at the start of every epoch
            divergence_threshold=None,
        )
        assert result.optimizers == ALL
        return nx.iterates(result)  # leaves (optimizer, lr, epochs + 1, ...)

    return train, metrics, len(x_train), len(x_test)


@dataclass(frozen=True)
class Setup:
    epochs: int
    lrs: np.ndarray  # cheap: one program either way
    seeds: int  # of the verdicts (the first is the figures' run)


def setup(ctx: Context) -> Setup:
    """The run size of ``ctx.size``."""
    return Setup(
        ctx.pick(1, 10, 30), np.logspace(-4, 1, ctx.pick(3, 11, 21)), ctx.pick(2, 5, 5)
    )


@dataclass(frozen=True)
class Measured:
    runs: dict[str, dict[str, np.ndarray]]  # per optimizer: train/test loss, accuracy
    n_train: int  # images in the train set
    n_test: int  # and in the test set
    more: dict[str, np.ndarray]  # :func:`over_seeds` for the seeds after the first


def measure(ctx: Context, s: Setup) -> Measured:
    """Every optimizer at every learning rate: one engine call; then the
    verdicts' optimizers over the other seeds: a second one. The metrics of
    both, at every recorded point, in one compiled evaluation."""
    train, metrics, n_train, n_test = trainer(s.epochs)
    points = train(s.lrs)
    ctx.progress.advance("mlp: every optimizer at every learning rate")
    finals, diverged = over_seeds(s.epochs, s.lrs, s.seeds - 1)
    curves, seeded = _evaluate(metrics, points, finals)
    ctx.progress.advance(f"mlp: {', '.join(SEEDED)} over {s.seeds} seeds")
    runs = {
        name: {
            key: curve[i]
            for key, curve in zip(
                ("train_loss", "test_loss", "accuracy"), curves, strict=True
            )
        }
        for i, name in enumerate(ALL)
    }
    final = np.where(diverged | ~np.isfinite(seeded), np.inf, seeded)
    more = {n: final[i].T for i, n in enumerate(SEEDED)}  # (seeds, lrs)
    return Measured(runs, n_train, n_test, more)


def _evaluate(
    metrics: Callable[[Any], Any], points: Any, finals: Any
) -> tuple[list[np.ndarray], np.ndarray]:
    """``metrics`` at every point of ``points`` (leaves ``(optimizer, lr,
    epochs + 1, ...)``) and ``finals`` (leaves ``(optimizer, lr, seeds,
    ...)``) in ONE call of :func:`nx.evaluate` (one program, where a call
    each compiles two): the three curves ``(optimizer, lr, epochs + 1)`` and
    the final train loss ``(optimizer, lr, seeds)``, float64."""
    lead = (jax.tree.leaves(points)[0].shape[:3], jax.tree.leaves(finals)[0].shape[:3])
    both = jax.tree.map(
        lambda a, b: np.concatenate(
            [a.reshape(-1, *a.shape[3:]), b.reshape(-1, *b.shape[3:])]
        ),
        points,
        finals,
    )
    out = [np.asarray(y, np.float64) for y in nx.evaluate(metrics, both, lead=1)]
    cut = int(np.prod(lead[0]))
    curves = [y[:cut].reshape(lead[0]) for y in out]
    return curves, out[0][cut:].reshape(lead[1])


def _rows(lrs, runs, final, best, works) -> list[list[str]]:
    """Per optimizer: its best learning rate, the losses and accuracy there,
    and the share of the grid that reaches TARGET and ACCURACY."""
    return [
        [
            nx.LABELS[n],
            f"{lrs[best[n]]:.2g}",
            f"{final[n][best[n]]:.3g}",
            f"{runs[n]['test_loss'][best[n], -1]:.3g}",
            f"{100 * runs[n]['accuracy'][best[n], -1]:.1f}%",
            f"{works[n].mean():.0%}",
            _decades(lrs, works[n]),
            f"{np.mean(runs[n]['accuracy'][:, -1] >= ACCURACY):.0%}",
        ]
        for n in ALL
    ]


def _seeds_table(seeded, seeds: int) -> Table:
    return Table(
        f"Over {seeds} seeds (the verdicts' runs), mean [95 % interval]",
        ["optimizer", f"share of the lrs reaching {TARGET}", "best final train loss"],
        [
            [
                nx.LABELS[n],
                interval(np.mean(seeded[n] <= TARGET, axis=1)).text(".2f"),
                interval(seeded[n].min(axis=1)).text(".3g"),
            ]
            for n in SEEDED
        ],
    )


def _verdicts(
    s: Setup, seeded: dict[str, np.ndarray], works: dict[str, np.ndarray]
) -> list[Verdict]:
    """Claim 1 (robustness to the learning rate) and claim 6 (Rprop), each
    from a 95 % interval over the seeds; ``seeded`` holds the final train loss
    ``(seeds, lrs)`` of each optimizer of ``SEEDED``, ``works`` the first
    seed's grid reaching TARGET for every optimizer."""
    epochs, lrs = s.epochs, s.lrs
    plural = "s" * (epochs != 1)
    setting = f"an MLP on digits, mini-batches of {BATCH}, {epochs} epoch{plural}"
    others = ", ".join(
        f"{n} {works[n].mean():.0%}" for n in ROBUSTNESS if n not in SEEDED
    )
    share = {n: np.mean(seeded[n] <= TARGET, axis=1) for n in SEEDED}  # (seeds,)
    seeds = len(share["sgd"])
    one = better(share["rmsprop"], share["sgd"], lower_is_better=False)
    best = {n: seeded[n].min(axis=1) for n in SEEDED}  # per seed, over the lrs
    ratio = np.log10(best["rprop"]) - np.log10(best["rmsprop"])
    six = beyond(ratio, 1.0, above=True, what="log10(Rprop's / RMSprop's)")
    return [
        Verdict(
            1,
            one,
            f"MLP on digits, {epochs} epoch{plural}, {seeds} seeds: share of "
            f"{lrs.size} learning rates (1e-4 to 10) reaching train loss {TARGET}, "
            f"mean [95 %]: rmsprop {interval(share['rmsprop']).text('.2f')}, sgd "
            f"{interval(share['sgd']).text('.2f')} (seed 0 only: {others}).",
            setting,
        ),
        Verdict(
            6,
            six,
            f"MLP on digits with mini-batches of {BATCH}, {seeds} seeds: best final "
            f"train loss over the learning rates, Rprop (iRprop-) "
            f"{interval(best['rprop']).text('.3g')} vs RMSprop "
            f"{interval(best['rmsprop']).text('.3g')}; the claim: Rprop's is over "
            "10x RMSprop's.",
            setting,
        ),
    ]


def judge(ctx: Context, s: Setup, m: Measured) -> Section:
    """The figures, the table per optimizer, and the verdicts."""
    epochs, lrs, runs, n_train, n_test = s.epochs, s.lrs, m.runs, m.n_train, m.n_test
    final = {
        n: np.nan_to_num(r["train_loss"][:, -1], nan=np.inf) for n, r in runs.items()
    }
    best = {n: int(np.argmin(f)) for n, f in final.items()}
    works = {n: final[n] <= TARGET for n in runs}
    # The run above is seed 0 of the verdicts' seeds.
    seeded = {n: np.concatenate([final[n][None], m.more[n]]) for n in SEEDED}
    curves = _curves_figure(ctx, runs, best, lrs)
    robustness = _robustness_figure(ctx, runs, final, works, lrs, epochs)
    rows = _rows(lrs, runs, final, best, works)
    ranking = sorted(ROBUSTNESS, key=lambda n: -works[n].mean())
    curve_text = (
        f"After {epochs} epochs the best test accuracies are "
        + ", ".join(f"{n} {100 * runs[n]['accuracy'][best[n], -1]:.1f}%" for n in ALL)
        + "."
    )
    takeaway = (
        f"Share of the {lrs.size} learning rates reaching train loss {TARGET}: "
        + ", ".join(
            f"{n} {works[n].mean():.0%} ({_decades(lrs, works[n])})" for n in ranking
        )
        + "."
    )
    verdicts = _verdicts(s, seeded, works)
    ctx.progress.advance("mlp: report")
    return Section(
        "train_mlp",
        TITLE,
        f"64-64-10 tanh MLP (Flax), digits: {n_train} train / {n_test} test images, "
        f"mini-batches of {BATCH}, {epochs} epochs, {lrs.size} learning rates from "
        f"{lrs[0]:.0e} to {lrs[-1]:.0e}, every optimizer in one call of the sweep "
        "engine. "
        "The best lr is the one with the lowest final train loss. Rprop (iRprop-) "
        "runs on the same mini-batches, against its full-batch design. The "
        f"verdicts read 95 % intervals over {s.seeds} seeds ({', '.join(SEEDED)}: "
        "this run and a second call, each seed its own initialisation and batch "
        "order).",
        [
            Figure(curves, "Training curves at each optimizer's best lr", curve_text),
            Figure(robustness, "Learning-rate robustness", takeaway),
            Table(
                "Per optimizer",
                [
                    "optimizer",
                    "best lr",
                    "train loss",
                    "test loss",
                    "test accuracy",
                    f"lrs reaching {TARGET}",
                    "range reaching it",
                    f"lrs reaching {ACCURACY:.0%} test accuracy",
                ],
                rows,
            ),
            _seeds_table(seeded, s.seeds),
        ],
        verdicts,
    )


def run(ctx: Context) -> Section:
    """Set up, measure, judge."""
    s = setup(ctx)
    return judge(ctx, s, measure(ctx, s))


def _curves_figure(ctx, runs, best, lrs) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    for name, r in runs.items():
        color, i = plot.COLORS[name], best[name]
        label = f"{nx.LABELS[name]}, lr={lrs[i]:.2g}"
        axes[0].semilogy(r["train_loss"][i], color=color, label=label)
        axes[0].semilogy(r["test_loss"][i], "--", color=color, lw=1)
        axes[1].plot(100 * r["accuracy"][i], color=color, label=label)
    axes[0].set_title("loss at the best lr (solid: train, dashed: test)")
    axes[0].set_ylabel("cross-entropy")
    axes[1].set_title("test accuracy at the best lr")
    axes[1].set_ylabel("test accuracy (%)")
    # Every plotted point, from the first epoch's (near chance) on, stays in view.
    shown = [100 * r["accuracy"][best[n]] for n, r in runs.items()]
    lowest = min(float(np.nanmin(a)) for a in shown)
    axes[1].set_ylim(max(0.0, 10 * np.floor(lowest / 10) - 2), 100.5)
    for ax in axes:
        ax.set_xlabel("epoch")
    axes[1].legend(loc="lower right")
    fig.tight_layout()
    return plot.save(fig, ctx.out, "mlp_curves.png")


def _robustness_figure(ctx, runs, final, works, lrs, epochs) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for name in ROBUSTNESS:
        color = plot.COLORS[name]
        label = f"{nx.LABELS[name]}: {works[name].mean():.0%} of lrs reach {TARGET}"
        axes[0].loglog(
            lrs, np.clip(final[name], 1e-4, 10), "o-", ms=3, color=color, label=label
        )
        accuracy = np.nan_to_num(runs[name]["accuracy"][:, -1], nan=0.0)
        axes[1].semilogx(lrs, 100 * accuracy, "o-", ms=3, color=color, label=label)
    axes[0].axhline(TARGET, color="k", ls=":", lw=1)
    axes[0].set_title(
        f"final train loss (target {TARGET} dotted);\n"
        "a run that diverged or ends above 10 is drawn at the top edge, 10"
    )
    axes[0].set_ylabel(f"train loss after {epochs} epochs")
    axes[1].set_title("final test accuracy")
    axes[1].set_ylabel("test accuracy (%)")
    for ax in axes:
        ax.set_xlabel("learning rate")
    plot.legend_below(fig, axes[0], ncol=3, room=0.08)
    return plot.save(fig, ctx.out, "mlp_lr_robustness.png")


def _decades(lrs: np.ndarray, works: np.ndarray) -> str:
    """The learning rates that work, as a range, and how many decades it spans."""
    if not works.any():
        return "none"
    lo, hi = lrs[works].min(), lrs[works].max()
    gaps = (
        ""
        if works[np.flatnonzero(works)[0] : np.flatnonzero(works)[-1] + 1].all()
        else ", with gaps"
    )
    return f"{lo:.2g} to {hi:.2g}, {np.log10(hi / lo):.1f} decades{gaps}"
