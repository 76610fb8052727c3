"""Low-precision optimizer states (``state_dtype=``): memory, step time, parity.

Three measurements, each its own subcommand::

    python -m benchmarks.state_dtype memory   # bytes of state per parameter
    python -m benchmarks.state_dtype time     # step time on one 16M leaf
    python -m benchmarks.state_dtype parity --plot docs/_static/state_dtype_drift.png

* ``memory``: bytes of every leaf of ``jax.eval_shape(tx.init, params)``
  (nothing is allocated) over the parameter count, for GPT-2 small's
  parameter shapes (124M parameters, float32), per optimizer and
  ``state_dtype``; and the state's size in MiB.
* ``time``: ``jax.jit(step, donate_argnums=(0, 1))`` with ``step(params,
  state, grads) = apply_updates(params, tx.update(...))`` on one 16M float32
  leaf, float32 / bfloat16 / int8 states timed interleaved (every repeat runs
  each once, in a random order); the ratio of minima. Prints the load.
  ``--state-dtypes optax int8`` adds optax's own float32 optimizer as a
  column (``optax.rmsprop``, ``optax.adagrad``, ``optax.sgd``,
  ``optax.adam``).
* ``parity``: a 64-256-256-10 tanh MLP on scikit-learn's digits (1797
  images; mini-batches of 128, 1000 steps, 3 seeds that set the
  initialisation and the batch order), trained with each optimizer's
  float32, bfloat16 and int8 state and *no* re-synchronisation: the final
  full-data loss relative to the float32 state's (mean and range over the
  seeds), and the drift of the parameters from the float32-state run,
  ``|w_low - w_f32| / |w_f32 - w_0|``, over the steps (plotted with
  ``--plot``). ``--task adding``: the adding problem instead
  (:mod:`benchmarks._adding`, an LSTM, sequences of ``--length`` 30, test
  MSE). The storage ``float32+ulp`` is the control: the float32 state from
  initial weights one ulp away, the spread of a chaotic run.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rmsprop_jax as rj
from benchmarks import _digits

STATE_DTYPES: tuple = (None, "bfloat16", "int8")

OPTIMIZERS: dict[str, Callable] = {
    "rmsprop": lambda sd: rj.rmsprop(1e-3, 0.99, state_dtype=sd),
    "adagrad": lambda sd: rj.adagrad(0.05, state_dtype=sd),
    "sgd(momentum)": lambda sd: rj.sgd(0.05, momentum=0.9, state_dtype=sd),
    "adam": lambda sd: rj.adam(1e-3, state_dtype=sd),
    "laprop": lambda sd: rj.laprop(1e-3, state_dtype=sd),
    "rprop-": lambda sd: rj.rprop(1e-3, variant="rprop-", state_dtype=sd),
    "rprop+": lambda sd: rj.rprop(1e-3, variant="rprop+", state_dtype=sd),
    "amsgrad": lambda sd: rj.amsgrad(1e-3, state_dtype=sd),
    "adadelta": lambda sd: rj.adadelta(1.0, state_dtype=sd),
}


# optax's own float32 optimizer for the timing's "optax" column.
OPTAX: dict[str, Callable] = {
    "rmsprop": lambda: optax.rmsprop(1e-3, 0.99),
    "adagrad": lambda: optax.adagrad(0.05),
    "sgd(momentum)": lambda: optax.sgd(0.05, momentum=0.9),
    "adam": lambda: optax.adam(1e-3),
}


# Rates low enough that 1000 steps do not fit the training set to a loss of
# ~0 (where a relative difference of final losses means nothing).
PARITY: dict[str, Callable] = {
    "rmsprop": lambda sd: rj.rmsprop(1e-4, 0.99, state_dtype=sd),
    "adam": lambda sd: rj.adam(1e-4, state_dtype=sd),
    "sgd(momentum)": lambda sd: rj.sgd(0.01, momentum=0.9, state_dtype=sd),
    "adagrad": lambda sd: rj.adagrad(0.01, state_dtype=sd),
}


# The adding problem (``--task adding``, :mod:`benchmarks._adding`): the
# experiment's RMSprop (decay 0.9, no eps, mean square started at 1e-3) and
# Adam at its rate 1e-3; Adagrad and SGD with momentum at rates at which
# the float32 state learns the task within the steps.
ADDING: dict[str, Callable] = {
    "rmsprop": lambda sd: rj.rmsprop(
        1e-3, decay=0.9, eps=0.0, initial_scale=1e-3, state_dtype=sd
    ),
    "adam": lambda sd: rj.adam(1e-3, state_dtype=sd),
    "sgd(momentum)": lambda sd: rj.sgd(0.1, momentum=0.9, state_dtype=sd),
    "adagrad": lambda sd: rj.adagrad(0.05, state_dtype=sd),
}


CONTROL = "float32+ulp"
"""The parity's control: the float32 state from initial weights one ulp
away, the spread a 3 % criterion must be read against on a chaotic task."""


def _name(state_dtype) -> str:
    if isinstance(state_dtype, rj.StochasticRounding):
        suffix = "+hsr" if state_dtype.key is None else "+sr"
        return f"{state_dtype.dtype}{suffix}"
    if isinstance(state_dtype, rj.NearestRounding):
        return f"{state_dtype.dtype}+rn"
    return "float32" if state_dtype is None else str(state_dtype)


def storage(name: str):
    """A ``state_dtype`` from its name here: ``"float32"`` (None), a dtype
    name, ``"int8"`` (rounded stochastically with no key, the default), or
    any of them with ``"+rn"`` (rounded to nearest, ``NearestRounding``),
    ``"+sr"`` (stochastic rounding, ``key=0``) or ``"+hsr"`` (keyless
    stochastic rounding, ``key=None``)."""
    if name.endswith("+sr"):
        return rj.StochasticRounding(name[: -len("+sr")], key=0)
    if name.endswith("+hsr"):  # keyless: bits hashed from the values
        return rj.StochasticRounding(name[: -len("+hsr")], key=None)
    if name.endswith("+rn"):
        return rj.NearestRounding(name[: -len("+rn")])
    return None if name == "float32" else name


def gpt2_small() -> dict:
    """GPT-2 small's parameter shapes (124M), as ShapeDtypeStructs."""
    f32 = jnp.float32
    d, vocab, ctx, layers = 768, 50257, 1024, 12

    def s(*shape):
        return jax.ShapeDtypeStruct(shape, f32)

    params = {"wte": s(vocab, d), "wpe": s(ctx, d), "ln_f": [s(d), s(d)]}
    for i in range(layers):
        params[f"h{i}"] = {
            "ln": [s(d), s(d), s(d), s(d)],
            "qkv": [s(d, 3 * d), s(3 * d)],
            "proj": [s(d, d), s(d)],
            "fc": [s(d, 4 * d), s(4 * d)],
            "fc2": [s(4 * d, d), s(d)],
        }
    return params


def state_bytes(tx: optax.GradientTransformation, params) -> int:
    shapes = jax.eval_shape(tx.init, params)
    return sum(a.size * a.dtype.itemsize for a in jax.tree.leaves(shapes))


def memory() -> None:
    params = gpt2_small()
    n = sum(p.size for p in jax.tree.leaves(params))
    print(f"GPT-2 small shapes: {n / 1e6:.1f}M float32 parameters")
    print(f"{'optimizer':<15}" + "".join(f"{_name(s):>22}" for s in STATE_DTYPES))
    for name, factory in OPTIMIZERS.items():
        cells = []
        for sd in STATE_DTYPES:
            b = state_bytes(factory(sd), params)
            cells.append(f"{b / n:8.3f} B/p {b / 2**20:7.1f} MiB")
        print(f"{name:<15}" + "".join(f"{c:>22}" for c in cells))


def _step(tx):
    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1))


def step_time(
    size: int,
    repeats: int,
    low: tuple[str, ...] = ("bfloat16", "int8"),
    names: tuple[str, ...] = ("rmsprop", "adagrad", "sgd(momentum)", "adam"),
) -> None:
    rng = np.random.default_rng(0)
    grads = [jnp.asarray(rng.normal(size=size), jnp.float32) for _ in range(2)]
    print(f"one {size / 2**20:.0f}M float32 leaf; {jax.devices()[0].platform}; ")
    print(f"load before: {os.getloadavg()[0]:.1f} (1-min), {os.cpu_count()} CPUs")
    storages = ("float32", *low)
    runs = {}
    for name in names:
        for sd in storages:
            tx = OPTAX[name]() if sd == "optax" else OPTIMIZERS[name](storage(sd))
            step = _step(tx)
            params = jnp.zeros(size, jnp.float32)
            state = tx.init(params)
            params, state = step(params, state, grads[0])  # compile
            jax.block_until_ready(params)
            runs[name, sd] = [step, params, state, []]
    keys = list(runs)
    for r in range(repeats):
        random.Random(r).shuffle(keys)
        for key in keys:
            step, params, state, times = runs[key]
            start = time.perf_counter()
            params, state = step(params, state, grads[r % 2])
            jax.block_until_ready((params, state))
            times.append(time.perf_counter() - start)
            runs[key][1:3] = params, state
    print(f"load after: {os.getloadavg()[0]:.1f}")
    print("ms median (min), and the ratio of minima to float32's")
    print(f"{'optimizer':<15}" + "".join(f"{sd:>26}" for sd in storages))
    for name in names:
        best = {sd: min(runs[name, sd][3]) for sd in storages}
        cells = ""
        for sd in storages:
            med = np.median(runs[name, sd][3])
            ratio = best[sd] / best["float32"]
            cells += f"{1e3 * med:>11.1f} ({1e3 * best[sd]:6.1f}) x{ratio:5.2f}"
        print(f"{name:<15}{cells}")


def _train(tx, seeds: int, steps: int, batch: int, every: int, nudge: bool = False):
    x, y = _digits.load_digits()

    def run(seed):
        key = jax.random.key(seed)
        params = _digits.init_mlp(key, (64, 256, 256, 10))
        if nudge:  # the control: one float32 ulp away
            params = jax.tree.map(lambda p: jnp.nextafter(p, jnp.inf), params)
        order = jax.random.randint(
            jax.random.fold_in(key, 1), (steps, batch), 0, len(y)
        )

        def step(carry, idx):
            params, state = carry
            grads = jax.grad(_digits.cross_entropy)(params, (x[idx], y[idx]))
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            return (params, state), params

        (final, _), path = jax.lax.scan(step, (params, tx.init(params)), order)
        path = jax.tree.map(lambda a: a[every - 1 :: every], path)
        return _digits.cross_entropy(final, (x, y)), params, path

    return jax.jit(jax.vmap(run))(jnp.arange(seeds))


def _distance(a, b) -> np.ndarray:
    """Per seed and snapshot: the norm of ``a - b`` over all parameters
    (leaves shaped ``(seeds, snapshots, ...)``; ``b``'s may lack the
    snapshot axis)."""
    total = 0.0
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        if y.ndim < x.ndim:
            y = y[:, None]
        total = total + jnp.sum(jnp.square(x - y), axis=tuple(range(2, x.ndim)))
    return np.sqrt(np.asarray(total))


def parity(
    seeds: int,
    steps: int,
    plot: str | None,
    low: tuple[str, ...] = ("bfloat16", "int8"),
    names: tuple[str, ...] = tuple(PARITY),
    task: str = "digits",
    length: int = 30,
) -> None:
    every = 10
    if task == "adding":
        from benchmarks import _adding

        factories = ADDING

        def train(tx, nudge=False):
            return _adding.train(tx, seeds, steps, length, every, nudge)

        print(
            f"adding problem, T = {length}, LSTM({_adding.HIDDEN}), batch "
            f"{_adding.BATCH}, {steps} steps, {seeds} seeds; test MSE "
            f"(always answering 1: 0.167)"
        )
    else:
        factories = PARITY

        def train(tx, nudge=False):
            return _train(tx, seeds, steps, 128, every, nudge)

        print(f"digits MLP 64-256-256-10, batch 128, {steps} steps, {seeds} seeds")
    print(f"load: {os.getloadavg()[0]:.1f}", flush=True)
    print(
        f"{'optimizer':<15}{'float32 loss':>14}{'state_dtype':>14}{'loss':>9}"
        f"{'rel. diff of the loss':>28}{'drift':>8}"
    )
    drifts = {}
    for name in names:
        loss32, w0, path32 = train(factories[name](None))
        moved = _distance(path32, w0)
        for sd in low:
            if sd == CONTROL:  # float32 from weights one ulp away
                loss, _, path = train(factories[name](None), nudge=True)
            else:
                loss, _, path = train(factories[name](storage(sd)))
            rel = np.asarray((loss - loss32) / loss32)
            drift = _distance(path, path32) / moved
            drifts[name, sd] = drift
            print(
                f"{name:<15}{float(jnp.mean(loss32)):>14.4f}{sd:>14}"
                f"{float(jnp.mean(loss)):>9.4f}"
                f"{rel.mean():>+11.2%} [{rel.min():+.2%},{rel.max():+.2%}]"
                f"{float(np.mean(drift[:, -1])):>8.3f}",
                flush=True,
            )
    print(f"load: {os.getloadavg()[0]:.1f}")
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(
            1, len(low), figsize=(5 * len(low), 3.6), sharey=True, squeeze=False
        )
        t = np.arange(1, steps // every + 1) * every
        for ax, sd in zip(axes[0], low, strict=True):
            for name in names:
                d = drifts[name, sd]
                ax.plot(t, d.mean(axis=0), label=name)
                ax.fill_between(t, d.min(axis=0), d.max(axis=0), alpha=0.2)
            ax.set_title(f"state_dtype={sd!r}")
            ax.set_xlabel("step")
            ax.set_yscale("log")
        axes[0][0].set_ylabel("|w - w_f32| / |w_f32 - w_0|")
        axes[0][-1].legend(fontsize=8)
        fig.suptitle(
            "Drift from the float32-state run (digits MLP, seeds: mean, range)"
        )
        fig.tight_layout()
        fig.savefig(plot, dpi=110)
        print(f"wrote {plot}")


def ema(decay: float, steps: int) -> None:
    """A long EMA of squares whose input drops: does the stored root follow?"""
    size = 4096
    rng = np.random.default_rng(0)
    base = jnp.asarray(10 ** rng.uniform(-2, 0, size), jnp.float32)
    print(
        f"scale_by_rms(decay={decay}), {size} weights: g = c * N(0, 1) (c "
        f"log-uniform in [0.01, 1]) for {steps} steps, then g = c/10 * N(0, 1) "
        f"for {steps} steps; the stored root over the float32 state's root "
        f"(median, 5th-95th percentile over the weights)"
    )
    print(f"{'state_dtype':<12}{'after phase 1':>28}{'after phase 2':>28}")
    roots = {}
    storages = (
        None,
        "bfloat16",
        "bfloat16+sr",
        "bfloat16+hsr",
        "int8+rn",
        "int8+sr",
        "int8",
    )
    for sd in storages:
        tx = rj.scale_by_rms(decay, state_dtype=storage(sd) if sd else None)

        def run(state, c, key, tx=tx):
            def step(state, k):
                g = c * jax.random.normal(k, c.shape)
                return tx.update(g, state)[1], None

            keys = jax.random.split(key, steps)
            return jax.lax.scan(step, state, keys)[0]

        run = jax.jit(run)
        state = run(tx.init(base), base, jax.random.key(1))
        first = np.asarray(_rms(state))
        state = run(state, base / 10, jax.random.key(2))
        roots[sd] = first, np.asarray(_rms(state))
    for sd in storages[1:]:
        cells = ""
        for phase in range(2):
            r = roots[sd][phase] / roots[None][phase]
            lo, mid, hi = np.percentile(r, [5, 50, 95])
            cells += f"{mid:>14.3f} [{lo:.3f}, {hi:.3f}]"
        print(f"{sd:<12}{cells}")


def _rms(state) -> jax.Array:
    """The float32 root second moment of a scale_by_rms state, decoded."""
    rms = state.rms
    if isinstance(rms, tuple):  # block-wise 8 bit, or stochastically rounded
        from rmsprop_jax import diagnostics

        return diagnostics.find_states(state)[""].rms
    return rms.astype(jnp.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("memory")
    averaging = sub.add_parser("ema")
    averaging.add_argument("--decay", type=float, default=0.999)
    averaging.add_argument("--steps", type=int, default=3000)
    timing = sub.add_parser("time")
    timing.add_argument("--size", type=int, default=2**24)
    timing.add_argument("--repeats", type=int, default=15)
    timing.add_argument("--state-dtypes", nargs="+", default=["bfloat16", "int8"])
    timing.add_argument(
        "--optimizers",
        nargs="+",
        default=["rmsprop", "adagrad", "sgd(momentum)", "adam"],
    )
    experiment = sub.add_parser("parity")
    experiment.add_argument("--seeds", type=int, default=3)
    experiment.add_argument("--steps", type=int, default=1000)
    experiment.add_argument("--plot", default=None)
    experiment.add_argument(
        "--state-dtypes",
        nargs="+",
        default=["bfloat16", "int8"],
        help="storages to compare with float32 ('bfloat16', 'int8', "
        "'int8+rn', 'bfloat16+sr', 'int8+sr', 'bfloat16+hsr', ...)",
    )
    experiment.add_argument("--optimizers", nargs="+", default=list(PARITY))
    experiment.add_argument(
        "--task",
        choices=["digits", "adding"],
        default="digits",
        help="the digits MLP, or the adding problem with an LSTM",
    )
    experiment.add_argument(
        "--length", type=int, default=30, help="the adding problem's T"
    )
    args = parser.parse_args()
    if args.command == "memory":
        memory()
    elif args.command == "ema":
        ema(args.decay, args.steps)
    elif args.command == "time":
        step_time(
            args.size, args.repeats, tuple(args.state_dtypes), tuple(args.optimizers)
        )
    else:
        parity(
            args.seeds,
            args.steps,
            args.plot,
            tuple(args.state_dtypes),
            tuple(args.optimizers),
            args.task,
            args.length,
        )


if __name__ == "__main__":
    main()
