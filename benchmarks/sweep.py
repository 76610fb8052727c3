"""A hyperparameter sweep as one compiled program, against the loops users write.

Two problems, each trained for every configuration of a (decay, learning rate)
grid with ``rmsprop_jax.rmsprop``:

1. a 64-32-10 tanh MLP on scikit-learn's digits (1797 samples), mini-batches of
   128 drawn per epoch without replacement, 8 decays x 8 learning rates, 300
   steps;
2. the Rosenbrock function from (-1.5, 2), 32 decays x 32 learning rates (1024
   configurations), 500 steps: tiny work per step, so latency-bound.

Three ways to run each grid:

* naive: the loop people write with optax today. Python-float hyperparameters
  are baked into a jitted step, so every configuration compiles its own step;
  a Python loop runs the steps.
* best loop: one jitted ``lax.scan`` over all steps, hyperparameters passed as
  array arguments: compiled once, called once per configuration.
* sweep: ``rmsprop_jax.sweep.sweep``, every configuration in one
  ``jit(vmap(scan))``.

All three use the same batches and the same optimizer; the script checks that
their final losses agree. "end to end" includes compilation (a fresh jit cache
for each method); "steady state" repeats the same call with everything
compiled (best of ``--repeats``, which also applies to end to end, with every
cache cleared before each run, except for the naive loop: one run). The best
loop and the sweep are timed in turns, round after round, so both see the
same load. Run as a script::

    python -m benchmarks.sweep            # the full run (several minutes)
    python -m benchmarks.sweep --quick    # smaller grids, for development
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rmsprop_jax as rj
from benchmarks import _markdown
from benchmarks._digits import cross_entropy, init_mlp, load_digits
from benchmarks._extras import require_extra
from rmsprop_jax.sweep import batch_plan, grid, sweep


def rosenbrock(w: jax.Array) -> jax.Array:
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


class Time(float):
    """Wall-clock seconds, with the process's CPU seconds in ``cpu``: on a
    shared machine the CPU time is the steadier measure of work done."""

    cpu: float

    def __new__(cls, wall: float, cpu: float) -> Time:
        out = super().__new__(cls, wall)
        out.cpu = cpu
        return out


def _clock(fn: Callable[[], object]) -> Time:
    start, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    return Time(time.perf_counter() - start, time.process_time() - cpu)


def _best(times: list[Time]) -> Time:
    """The best of several runs: least wall time, least CPU time."""
    return Time(min(times), min(t.cpu for t in times))


def _scaled(t: Time, factor: float) -> Time:
    return Time(t * factor, t.cpu * factor)


class Problem:
    """A loss, initial params, optional data and a (steps, batch) index plan."""

    def __init__(
        self, name, loss_fn, params, steps, data=None, batch_size=None, key=None
    ):
        self.name, self.loss_fn, self.params, self.steps = name, loss_fn, params, steps
        self.data, self.batch_size, self.key = data, batch_size, key
        self.idx = None
        if batch_size is not None:
            # The sweep's own batch plan for restart 0 (same batches everywhere).
            n = data[0].shape[0]
            plan = batch_plan(key, 1, n, steps, batch_size)[0]
            self.idx = jnp.asarray(plan)

    def batch(self, t, data, idx):
        """Loss arguments at step t; data and idx are jit arguments, not constants."""
        if data is None:
            return ()
        if idx is None:
            return (data,)
        return (tuple(x[idx[t]] for x in data),)

    def full(self):
        return () if self.data is None else (self.data,)


# --- naive: one compile per configuration -------------------------------------


def naive(problem: Problem, configs: list[dict]) -> tuple[Callable, Callable]:
    """Returns (run from scratch, rerun with the compiled steps)."""
    compiled: list = []
    final_loss = jax.jit(problem.loss_fn)

    def train(step, tx):
        params, state = problem.params, tx.init(problem.params)
        losses = []
        for t in range(problem.steps):
            params, state, loss = step(params, state, t, problem.data, problem.idx)
            losses.append(loss)
        return jnp.stack(losses), final_loss(params, *problem.full())

    def from_scratch():
        compiled.clear()
        out = []
        for config in configs:
            tx = rj.rmsprop(**config)  # Python floats: baked into the jitted step

            @jax.jit
            def step(params, state, t, data, idx, tx=tx):
                args = problem.batch(t, data, idx)
                loss, grads = jax.value_and_grad(problem.loss_fn)(params, *args)
                updates, state = tx.update(grads, state, params)
                return optax.apply_updates(params, updates), state, loss

            compiled.append((step, tx))
            out.append(train(step, tx))
        return out

    def rerun():
        return [train(step, tx) for step, tx in compiled]

    return from_scratch, rerun


# --- best loop: one jitted scan, hyperparameters as arguments ---------------------


def one_config(problem: Problem) -> Callable:
    """``train(learning_rate, decay, params, data, idx) -> (losses, final_loss)``:
    one configuration, one ``lax.scan`` over the steps (not jitted)."""

    def train(learning_rate, decay, params, data, idx):
        tx = rj.rmsprop(learning_rate, decay)

        def step(carry, t):
            params, state = carry
            args = problem.batch(t, data, idx)
            loss, grads = jax.value_and_grad(problem.loss_fn)(params, *args)
            updates, state = tx.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        init = (params, tx.init(params))
        (params, _), losses = jax.lax.scan(step, init, jnp.arange(problem.steps))
        return losses, problem.loss_fn(params, *(() if data is None else (data,)))

    return train


def best_loop(problem: Problem, configs: list[dict]) -> Callable:
    train = jax.jit(one_config(problem))
    hyper = [(np.float32(c["learning_rate"]), np.float32(c["decay"])) for c in configs]
    args = (problem.params, problem.data, problem.idx)
    return lambda: [train(lr, decay, *args) for lr, decay in hyper]


# --- the sweep -------------------------------------------------------------------


def sweep_run(problem: Problem, g) -> Callable:
    return lambda: sweep(
        rj.rmsprop,
        problem.loss_fn,
        problem.params,
        g,
        steps=problem.steps,
        data=problem.data,
        batch_size=problem.batch_size,
        key=problem.key,
    )


def _fresh(fn: Callable[[], object]) -> Time:
    """End to end: every compilation cache emptied first."""
    jax.clear_caches()
    return _clock(fn)


def _interleaved(
    fns: list[Callable[[], object]], repeats: int, fresh: bool = True
) -> list[Time]:
    """The best of ``repeats`` runs of each of ``fns``, taken in turns (the
    order rotating each round), so that every method sees the same load;
    ``fresh``: every compilation cache emptied before each run."""
    times: list[list[Time]] = [[] for _ in fns]
    for r in range(repeats):
        for i in [(r + k) % len(fns) for k in range(len(fns))]:
            times[i].append(_fresh(fns[i]) if fresh else _clock(fns[i]))
    return [_best(t) for t in times]


def measure(problem: Problem, g, repeats: int, naive_limit: int | None) -> list[dict]:
    """Naive e2e once (it is long); everything else the best of ``repeats``."""
    configs = g.configs()
    naive_configs = configs if not naive_limit else configs[:naive_limit]
    scale = len(configs) / len(naive_configs)

    rows = []
    naive_final = np.zeros(0)
    if naive_limit != 0:
        from_scratch, rerun = naive(problem, naive_configs)
        rows.append(
            dict(
                method="naive loop" + (" (est.)" if scale > 1 else ""),
                e2e=_scaled(_fresh(from_scratch), scale),
                steady=_scaled(_best([_clock(rerun) for _ in range(repeats)]), scale),
            )
        )
        naive_final = np.array([float(f) for _, f in rerun()])

    run_sweep = sweep_run(problem, g)
    best_e2e, sweep_e2e = _interleaved(
        [lambda: best_loop(problem, configs)(), lambda: run_sweep().losses],
        repeats,
    )
    best_row = dict(method="best loop", e2e=best_e2e)
    sweep_row = dict(method="sweep", e2e=sweep_e2e)
    run_best = best_loop(problem, configs)
    _clock(run_best)  # compile
    _clock(lambda: run_sweep().losses)
    best_row["steady"], sweep_row["steady"] = _interleaved(
        [run_best, lambda: run_sweep().losses], repeats, fresh=False
    )
    best_out = run_best()
    best_final = np.array([float(f) for _, f in best_out])
    best_curves = np.stack([np.asarray(c, np.float64) for c, _ in best_out])
    result = run_sweep()

    rows += [best_row, sweep_row]
    for row in rows:
        row |= dict(
            problem=problem.name,
            configs=len(configs),
            steps=problem.steps,
            x_e2e=row["e2e"] / sweep_row["e2e"],
            x_steady=row["steady"] / sweep_row["steady"],
            x_e2e_cpu=row["e2e"].cpu / sweep_row["e2e"].cpu,
            x_steady_cpu=row["steady"].cpu / sweep_row["steady"].cpu,
        )
    final = np.asarray(result.final_loss, np.float64).ravel()
    ok = ~np.asarray(result.diverged).ravel()
    k = naive_final.size
    curves = np.asarray(result.losses, np.float64).reshape(len(configs), -1)
    early = np.all(
        np.abs(curves[:, :3] - best_curves[:, :3]) <= 1e-5 * np.abs(best_curves[:, :3]),
        axis=1,
    )
    sweep_row["note"] = (
        f"{int((~ok).sum())} of {ok.size} diverged. Loss curves equal the best "
        f"loop's to rel. 1e-5 over the first 3 steps on {int(early.sum())}/"
        f"{early.size}; final losses agree to rel. 1e-4 with the best loop on "
        f"{_agree(final[ok], best_final[ok])} of the non-diverged, with the naive "
        f"loop on {_agree(final[:k][ok[:k]], naive_final[ok[:k]])}"
    )
    return rows


def _agree(a: np.ndarray, b: np.ndarray) -> str:
    close = np.abs(a - b) <= 1e-4 * np.maximum(np.abs(b), 1e-12)
    return f"{int(close.sum())}/{close.size}"


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(
            line.split(":", 1)[1].strip()
            for line in lscpu.splitlines()
            if line.startswith("Model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return (
        f"{model}, {os.cpu_count()} cores; jax {jax.__version__}, optax "
        f"{optax.__version__}, backend {jax.default_backend()} "
        f"({', '.join(d.device_kind for d in jax.devices())})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sweep", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small grids")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed repetitions of each measurement"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=128,
        help="MLP mini-batch size; 0 for full batch",
    )
    parser.add_argument(
        "--naive-limit",
        type=int,
        default=None,
        help="time the naive loop on this many configurations of "
        "the Rosenbrock grid and scale up (marked est.)",
    )
    parser.add_argument(
        "--no-naive",
        action="store_true",
        help="leave the naive loop out (it takes most of the run)",
    )
    args = parser.parse_args()
    quick = args.quick
    jax.block_until_ready(jax.jit(lambda x: x + 1)(jnp.ones(3)))  # start the backend

    x, y = load_digits()
    mlp_steps = 100 if quick else 300
    n_mlp = 4 if quick else 8
    mlp = Problem(
        "MLP 64-32-10, digits",
        cross_entropy,
        init_mlp(jax.random.key(0)),
        mlp_steps,
        data=(x, y),
        batch_size=args.batch_size or None,
        key=jax.random.key(1),
    )
    mlp_grid = grid(
        decay=np.linspace(0.0, 0.999, n_mlp).round(3).tolist(),
        learning_rate=np.logspace(-4, -0.5, n_mlp).tolist(),
    )
    n_ros = 8 if quick else 32
    ros = Problem(
        "Rosenbrock", rosenbrock, jnp.array([-1.5, 2.0]), 200 if quick else 500
    )
    ros_grid = grid(
        decay=np.linspace(0.0, 0.999, n_ros).tolist(),
        learning_rate=np.logspace(-4, 0, n_ros).tolist(),
    )

    load = os.getloadavg()[0]
    mlp_limit = 0 if args.no_naive else None
    ros_limit = 0 if args.no_naive else args.naive_limit
    rows = measure(mlp, mlp_grid, args.repeats, mlp_limit)
    rows += measure(ros, ros_grid, args.repeats, ros_limit)

    print(f"# {machine()}")
    print(f"# {_markdown.load_span(load)}")
    print(
        f"# MLP batch size {args.batch_size or 'full'}; best of {args.repeats} "
        "(naive end to end: one run); x = time / sweep time (> 1: sweep faster)"
    )
    print(
        _markdown.header(
            "problem",
            "configs x steps",
            "method",
            "end to end (s)",
            "x",
            "steady state (s)",
            "x",
            "end to end, CPU (s)",
            "x",
            "steady, CPU (s)",
            "x",
        )
    )
    for r in rows:
        print(
            f"| {r['problem']} | {r['configs']} x {r['steps']} | {r['method']} | "
            f"{r['e2e']:.3f} | {r['x_e2e']:.2f} | {r['steady']:.4f} | "
            f"{r['x_steady']:.2f} | {r['e2e'].cpu:.3f} | {r['x_e2e_cpu']:.2f} | "
            f"{r['steady'].cpu:.4f} | {r['x_steady_cpu']:.2f} |"
        )
    for r in rows:
        if "note" in r:
            print(f"# {r['problem']}: {r['note']}")


if __name__ == "__main__":
    require_extra("python -m benchmarks.sweep", "experiments", "sklearn")
    main()
