"""Where the time of ``benchmarks/sweep.py`` goes: tracing, XLA compilation, run.

For each problem of the benchmark, three programs are lowered and compiled
separately: the best loop's single-configuration scan, the same scan under a
plain ``jit(vmap(...))`` (no sweep machinery: no divergence checks, no
freezing), and the program ``rmsprop_jax.sweep`` builds. Each is then run
(best of 3; the single-configuration scan once per configuration). Run as a
script::

    python benchmarks/sweep_profile.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from _digits import cross_entropy, init_mlp, load_digits
from sweep import Problem, one_config, rosenbrock

import rmsprop_jax as rj
from rmsprop_jax.sweep import _program


def _timed(fn):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - start


def profile(problem: Problem, decays: np.ndarray, rates: np.ndarray) -> list[str]:
    n = decays.size
    lr32, decay32 = rates.astype(np.float32), decays.astype(np.float32)
    args = (problem.params, problem.data, problem.idx)
    train = one_config(problem)

    def plain(lrs, ds, params, data, idx):
        return jax.vmap(train, in_axes=(0, 0, None, None, None))(
            lrs, ds, params, data, idx
        )

    program = _program.Program(
        rj.rmsprop,
        problem.loss_fn,
        (),
        problem.steps,
        problem.batch_size,
        1,
        None,
        None,
        1e3,
        (n,),
    )
    hyper = {
        "decay": jnp.asarray(decay32),
        "learning_rate": jnp.asarray(lr32),
        "__index__": jnp.arange(n),
    }
    plans = None if problem.idx is None else problem.idx[None]
    cases = [
        (
            "one config (best loop)",
            jax.jit(train),
            (lr32[0], decay32[0], *args),
            lambda c: [c(a, b, *args) for a, b in zip(lr32, decay32, strict=True)],
        ),
        (
            "plain jit(vmap)",
            jax.jit(plain),
            (lr32, decay32, *args),
            lambda c: c(lr32, decay32, *args),
        ),
        (
            "sweep program",
            _program.run,
            (program, hyper, None, plans, problem.params, problem.data),
            lambda c: c(hyper, None, plans, problem.params, problem.data),
        ),
    ]
    lines = []
    for name, jitted, example, call in cases:
        jax.clear_caches()
        lowered, t_lower = _timed(lambda j=jitted, e=example: j.lower(*e))
        compiled, t_compile = _timed(lowered.compile)
        run = min(_timed(lambda c=compiled, f=call: f(c))[1] for _ in range(3))
        lines.append(
            f"| {problem.name} | {n} x {problem.steps} | {name} | "
            f"{t_lower:.2f} | {t_compile:.2f} | {run:.4f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    load = os.getloadavg()[0]
    x, y = load_digits()
    k = 4 if quick else 8
    mlp = Problem(
        "MLP 64-32-10, digits",
        cross_entropy,
        init_mlp(jax.random.key(0)),
        100 if quick else 300,
        data=(x, y),
        batch_size=128,
        key=jax.random.key(1),
    )
    d, r = np.meshgrid(
        np.linspace(0.0, 0.999, k).round(3), np.logspace(-4, -0.5, k), indexing="ij"
    )
    lines = profile(mlp, d.ravel(), r.ravel())
    k = 8 if quick else 32
    ros = Problem(
        "Rosenbrock", rosenbrock, jnp.array([-1.5, 2.0]), 200 if quick else 500
    )
    d, r = np.meshgrid(np.linspace(0.0, 0.999, k), np.logspace(-4, 0, k), indexing="ij")
    lines += profile(ros, d.ravel(), r.ravel())
    print(
        f"# load average (1 min) {load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    print(
        "| problem | configs x steps | program | trace+lower (s) | XLA compile (s) "
        "| run, all configs (s) |"
    )
    print("|" + "---|" * 6)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
