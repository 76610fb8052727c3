"""End to end in a new process, with JAX's persistent compilation cache warm.

The scenario of a user who re-runs the same script: each method (the best
hand-written loop, the sweep) runs in a fresh Python process twice with the
same cache directory (``jax_compilation_cache_dir``, with
``jax_persistent_cache_min_compile_time_secs=0`` so that programs compiling
in under a second are kept too): the first run fills the cache (cold), the
second reads it (warm). Both methods get the same treatment. The time is the
child's own measure of the call (tracing, cache look-up or compilation, run;
not the interpreter's start or the imports), best of ``--repeats`` warm runs.
Run as a script::

    python -m benchmarks.sweep_cache [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import _markdown
from benchmarks._extras import require_extra

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = (
    "problem",
    "method",
    "cold wall (s)",
    "cold CPU (s)",
    "warm wall (s)",
    "x",
    "warm CPU (s)",
    "x",
)

_CHILD = """
import json, sys, time
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_compilation_cache_dir", sys.argv[3])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
from benchmarks.sweep import Problem, best_loop, rosenbrock, sweep_run
from benchmarks._digits import cross_entropy, init_mlp, load_digits
from rmsprop_jax.sweep import grid
problem, method = sys.argv[1], sys.argv[2]
if problem == "mlp":
    x, y = load_digits()
    p = Problem("MLP", cross_entropy, init_mlp(jax.random.key(0)), 300,
                data=(x, y), batch_size=128, key=jax.random.key(1))
    g = grid(decay=np.linspace(0.0, 0.999, 8).round(3).tolist(),
             learning_rate=np.logspace(-4, -0.5, 8).tolist())
else:
    p = Problem("Rosenbrock", rosenbrock, jnp.array([-1.5, 2.0]), 500)
    g = grid(decay=np.linspace(0.0, 0.999, 32).tolist(),
             learning_rate=np.logspace(-4, 0, 32).tolist())
jax.block_until_ready(jax.jit(lambda x: x + 1)(jnp.ones(3)))  # start the backend
fn = best_loop(p, g.configs()) if method == "best" else sweep_run(p, g)
out = (lambda: fn()) if method == "best" else (lambda: fn().losses)
wall, cpu = time.perf_counter(), time.process_time()
jax.block_until_ready(out())
print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu]))
"""


def _child(problem: str, method: str, cache: str) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, problem, method, cache],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    wall, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sweep_cache", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed repetitions of each measurement"
    )
    repeats = parser.parse_args().repeats
    load = os.getloadavg()[0]
    rows = []
    for problem in ("mlp", "rosenbrock"):
        times = {}
        for method in ("best", "sweep"):
            with tempfile.TemporaryDirectory() as cache:
                cold = _child(problem, method, cache)
                warm = [_child(problem, method, cache) for _ in range(repeats)]
            times[method] = (cold, min(w[0] for w in warm), min(w[1] for w in warm))
        for method in ("best", "sweep"):
            cold, wall, cpu = times[method]
            x_wall = wall / times["sweep"][1]
            x_cpu = cpu / times["sweep"][2]
            rows.append(
                f"| {problem} | {'best loop' if method == 'best' else 'sweep'} | "
                f"{cold[0]:.3f} | {cold[1]:.3f} | {wall:.3f} | {x_wall:.2f} | "
                f"{cpu:.3f} | {x_cpu:.2f} |"
            )
    print(f"# {_markdown.load_span(load)}; warm: best of {repeats} new processes")
    print(_markdown.table(COLUMNS, rows))


if __name__ == "__main__":
    require_extra("python -m benchmarks.sweep_cache", "experiments", "sklearn")
    main()
