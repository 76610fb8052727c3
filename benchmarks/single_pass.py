"""Can an RMSprop step on XLA:CPU run in one memory pass? Formulations x flags.

A float32 RMSprop step must read params, grads and the accumulator and write
params and the accumulator: 20 bytes per parameter. XLA:CPU's default fusion
emits two loops (the second re-reads the new accumulator: 28 bytes). This
script compiles and times, on one 16M-parameter leaf, several formulations of
the same step under two XLA settings:

* ``default``: no flags;
* ``mof``: ``XLA_FLAGS`` set to
  ``--xla_backend_extra_options=xla_cpu_use_multi_output_fusion=true``, which
  turns on XLA:CPU's (sibling) multi-output fusion pass.

Formulations:

* ``rmsprop_jax`` and ``optax``: the libraries, through the
  GradientTransformation API (update + apply_updates in one jit);
* ``sibling``: an RMSprop GradientTransformation (through update +
  apply_updates like the libraries) whose updates recompute the new
  accumulator from the *old* one behind ``lax.optimization_barrier`` (so CSE
  does not merge the two copies), which makes the two loops siblings that read
  the same inputs -- the shape XLA:CPU's multi-output fusion can merge;
* ``chunked``: hand-written ``fori_loop`` over 64k-element chunks that reads a
  chunk of params, grads and accumulator and writes both back with
  ``dynamic_update_slice`` (in place on the loop-carried buffers).

The chunked form cannot be expressed through ``update`` + ``apply_updates``
(``update`` never writes the parameters' buffer); it measures what XLA:CPU can
do, not what the API allows.

Usage: ``python -m benchmarks.single_pass [--repeats 21]``. Each setting runs in
its own subprocess (XLA reads XLA_FLAGS once, at start-up).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

from benchmarks import hlo_passes

_ROOT = pathlib.Path(__file__).resolve().parent.parent  # where ``benchmarks`` lives
N = 16 * 2**20
CHUNK = 2**16
DECAY, EPS, LR = 0.9, 1e-8, 1e-3
MOF = "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion=true"


def _steps():
    import jax
    import jax.numpy as jnp
    import optax

    import rmsprop_jax as rj

    def api(tx):
        def step(p, s, g):
            u, s = tx.update(g, s, p)
            return optax.apply_updates(p, u), s

        return step, tx.init

    def sibling_rmsprop() -> optax.GradientTransformation:
        """RMSprop whose updates recompute the new accumulator from the old.

        The recomputation reads ``optimization_barrier((g, nu))`` so that CSE
        does not merge it back into the stored accumulator: the accumulator
        loop and the parameter loop then only share inputs (siblings).
        """

        def update(grads, nu, params=None):
            del params
            new_nu = jax.tree.map(
                lambda g, n: DECAY * n + (1 - DECAY) * (g * g), grads, nu
            )
            g2, nu2 = jax.lax.optimization_barrier((grads, nu))

            def step(g, gb, n):
                return -LR * g / jnp.sqrt(DECAY * n + (1 - DECAY) * (gb * gb) + EPS)

            return jax.tree.map(step, grads, g2, nu2), new_nu

        return optax.GradientTransformation(
            lambda p: jax.tree.map(jnp.zeros_like, p), update
        )

    def chunked(p, nu, g):
        def body(i, carry):
            p, nu = carry
            start = i * CHUNK
            pc = jax.lax.dynamic_slice_in_dim(p, start, CHUNK)
            nc = jax.lax.dynamic_slice_in_dim(nu, start, CHUNK)
            gc = jax.lax.dynamic_slice_in_dim(g, start, CHUNK)
            nc = DECAY * nc + (1 - DECAY) * (gc * gc)
            pc = pc - LR * gc / jnp.sqrt(nc + EPS)
            p = jax.lax.dynamic_update_slice_in_dim(p, pc, start, 0)
            nu = jax.lax.dynamic_update_slice_in_dim(nu, nc, start, 0)
            return p, nu

        return jax.lax.fori_loop(0, p.shape[0] // CHUNK, body, (p, nu))

    return {
        "rmsprop_jax": api(rj.rmsprop(LR, DECAY, EPS)),
        "optax": api(optax.rmsprop(LR, DECAY, EPS)),
        "sibling": api(sibling_rmsprop()),
        "chunked": (chunked, jnp.zeros_like),
    }


def worker(repeats: int) -> None:
    import jax
    import jax.numpy as jnp

    g = jnp.full(N, 1e-2, jnp.float32)
    runs = {}
    for name, (step, init) in _steps().items():
        p = jnp.ones(N, jnp.float32)
        s = init(p)
        compiled = jax.jit(step, donate_argnums=(0, 1)).lower(p, s, g).compile()
        text = compiled.as_text()
        summary = hlo_passes.summarize(text, min_bytes=1 << 20)
        loops = text.count(" while(")
        runs[name] = dict(compiled=compiled, box=[p, s], times=[], summary=summary)
        runs[name]["loops"] = loops
        for _ in range(2):
            runs[name]["box"] = list(compiled(*runs[name]["box"], g))
        jax.block_until_ready(runs[name]["box"])
    names = list(runs)
    for rep in range(repeats):
        k = rep % len(names)
        for name in names[k:] + names[:k]:
            r = runs[name]
            t0 = time.perf_counter()
            r["box"] = list(r["compiled"](*r["box"], g))
            jax.block_until_ready(r["box"])
            r["times"].append(time.perf_counter() - t0)
    for name, r in runs.items():
        s = r["summary"]
        print(
            json.dumps(
                dict(
                    name=name,
                    passes=s.passes,
                    copies=s.copies,
                    while_loops=r["loops"],
                    bytes_per_param=s.bytes / N,
                    median_ms=1e3 * statistics.median(r["times"]),
                    min_ms=1e3 * min(r["times"]),
                    max_ms=1e3 * max(r["times"]),
                )
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.single_pass", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--repeats", type=int, default=21, help="timed repetitions of each measurement"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.repeats)
        return
    print(f"load average at start {os.getloadavg()[0]:.2f}; one 16M float32 leaf")
    print(
        "| XLA setting | formulation | passes >= 1 MiB | copies | while loops "
        "| HLO B/param | ms median [min-max] | x optax (same setting) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for setting, flags in (("default", ""), ("mof", MOF)):
        env = dict(os.environ, XLA_FLAGS=flags)
        cmd = [sys.executable, "-m", "benchmarks.single_pass", "--worker"]
        cmd += ["--repeats", str(args.repeats)]
        out = subprocess.run(
            cmd, env=env, cwd=_ROOT, capture_output=True, text=True, check=True
        )
        rows = [json.loads(line) for line in out.stdout.splitlines() if line]
        optax_ms = next(r["median_ms"] for r in rows if r["name"] == "optax")
        for r in rows:
            # Inside a while loop the HLO counts show one iteration's body
            # only through the loop instruction; report the loop instead.
            print(
                f"| {setting} | {r['name']} | {r['passes']} | {r['copies']} "
                f"| {r['while_loops']} | {r['bytes_per_param']:.1f} "
                f"| {r['median_ms']:.2f} [{r['min_ms']:.2f}-{r['max_ms']:.2f}] "
                f"| {optax_ms / r['median_ms']:.2f} |",
                flush=True,
            )
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
