"""Where a sweep puts its ``vmap``: ``vmap(scan(step))`` against ``scan(vmap(step))``.

``rmsprop_jax.sweep`` vmaps a function that scans over the steps
(``vmap(scan(step))``): JAX's batching rule for ``scan`` then retraces the
step until the batched parts of the carry stop changing (a carry that starts
unbatched, as the step count, the alive flag or the shared start point, takes
extra rounds). ``scan(vmap(step))`` traces the vmapped step once. Both give
the same program up to the order of its axes; this script measures what the
order costs in tracing and lowering, XLA compilation and the run, on the
sweep's Rosenbrock grid (``benchmarks/sweep.py``): ``rj.rmsprop`` from
(-1.5, 2), 32 decays x 32 learning rates, 500 steps, with the sweep's
divergence masking, at the XLA:CPU backend optimisation level of the sweep's
compiler policy and at XLA's default. CPU seconds (``time.process_time()``,
all threads), the minimum over interleaved rounds, each with every cache
cleared; the two forms' losses are checked equal. Run as a script::

    python -m benchmarks.sweep_scan_order [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rmsprop_jax as rj
from benchmarks.sweep import rosenbrock

_START = (-1.5, 2.0)


def _step(lr, decay, carry):
    params, state, alive = carry
    tx = rj.rmsprop(lr, decay)
    loss, grads = jax.value_and_grad(rosenbrock)(params)
    updates, new_state = tx.update(grads, state, params)
    new_params = optax.apply_updates(params, updates)
    ok = alive & jnp.isfinite(loss) & jnp.all(jnp.isfinite(new_params))
    params = jnp.where(ok, new_params, params)
    state = jax.tree.map(lambda a, b: jnp.where(ok, a, b), new_state, state)
    return (params, state, ok), jnp.where(alive, loss, jnp.nan)


def _start(lr, decay):
    params = jnp.array(_START)
    return params, rj.rmsprop(lr, decay).init(params), jnp.array(True)


def vmap_scan(lrs, decays, steps: int):
    """The sweep's order: every run scans its own steps."""

    def one(lr, decay):
        return jax.lax.scan(
            lambda c, _: _step(lr, decay, c), _start(lr, decay), None, length=steps
        )[1]

    return jax.vmap(one)(lrs, decays)


def scan_vmap(lrs, decays, steps: int):
    """One scan over the steps of every run at once."""
    start = jax.vmap(_start)(lrs, decays)
    _, losses = jax.lax.scan(
        lambda c, _: jax.vmap(_step)(lrs, decays, c), start, None, length=steps
    )
    return losses.T


def _cpu(fn):
    t = time.process_time()
    out = jax.block_until_ready(fn())
    return out, time.process_time() - t


def measure(rounds: int, steps: int, k: int) -> tuple[dict, bool]:
    d, r = np.meshgrid(np.linspace(0.0, 0.999, k), np.logspace(-4, 0, k), indexing="ij")
    decays = jnp.asarray(d.ravel(), jnp.float32)
    lrs = jnp.asarray(r.ravel(), jnp.float32)
    times: dict = {}
    losses = {}
    for i in range(rounds):
        forms = (vmap_scan, scan_vmap) if i % 2 == 0 else (scan_vmap, vmap_scan)
        for form in forms:
            for level in (1, 3):
                jax.clear_caches()
                jitted = jax.jit(
                    form,
                    static_argnums=2,
                    compiler_options={"xla_backend_optimization_level": level},
                )
                lowered, t_lower = _cpu(lambda j=jitted: j.lower(lrs, decays, steps))
                compiled, t_compile = _cpu(lowered.compile)
                out, _ = _cpu(lambda c=compiled: c(lrs, decays))
                _, t_run = _cpu(lambda c=compiled: c(lrs, decays))
                losses[form.__name__] = np.asarray(out)
                row = times.setdefault((form.__name__, level), [])
                row.append((t_lower, t_compile, t_run))
    same = np.array_equal(losses["vmap_scan"], losses["scan_vmap"], equal_nan=True)
    return {key: np.min(np.array(v), axis=0) for key, v in times.items()}, same


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sweep_scan_order",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="8 x 8 runs, 50 steps")
    args = parser.parse_args(argv)
    steps, k = (50, 8) if args.quick else (500, 32)
    load = os.getloadavg()[0]
    best, same = measure(args.rounds, steps, k)
    print(
        f"# Rosenbrock, {k * k} runs x {steps} steps; load average {load:.1f} at "
        f"the start, {os.getloadavg()[0]:.1f} at the end; CPU seconds, minimum of "
        f"{args.rounds} rounds; losses of the two forms equal: {same}"
    )
    print("| form | LLVM level | trace+lower (s) | XLA compile (s) | run (s) |")
    print("|---|---|---|---|---|")
    for (form, level), (lower, compile_, run) in sorted(best.items()):
        print(f"| {form} | {level} | {lower:.3f} | {compile_:.3f} | {run:.4f} |")


if __name__ == "__main__":
    main()
