"""Where the time of ``benchmarks/sweep.py`` goes: tracing, XLA compilation, run.

For each problem of the benchmark, three programs are lowered and compiled
separately: the best loop's single-configuration scan, the same scan under a
plain ``jit(vmap(...))`` (no sweep machinery: no divergence checks, no
freezing), and the program ``rmsprop_jax.sweep`` builds, timed through
``jax.monitoring``'s compile events during a public ``sweep()`` call, as it
compiles by default and with ``use_one_kernel(False)`` (a kernel per fusion). Each is
then run (best of 3; the single-configuration scan once per configuration;
the sweep as a whole call, its Python work included). Times are wall-clock
and, in brackets, the process's CPU time. Run as a script::

    python -m benchmarks.sweep_profile [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _markdown
from benchmarks._digits import cross_entropy, init_mlp, load_digits
from benchmarks._extras import require_extra
from benchmarks.sweep import Problem, one_config, rosenbrock, sweep_run
from rmsprop_jax.sweep import use_one_kernel, zipped

COLUMNS = (
    "problem",
    "configs x steps",
    "program",
    "trace+lower (s)",
    "XLA compile (s)",
    "run, all configs (s)",
)
_EVENTS: dict[str, float] = {}


def _listen(event: str, duration: float, **_: object) -> None:
    _EVENTS[event] = _EVENTS.get(event, 0.0) + duration


jax.monitoring.register_event_duration_secs_listener(_listen)
_TRACE = ("/jax/core/compile/jaxpr_trace_duration",)
_LOWER = ("/jax/core/compile/jaxpr_to_mlir_module_duration",)
_COMPILE = ("/jax/core/compile/backend_compile_duration",)


def _timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(fn())
    return out, (time.perf_counter() - start, time.process_time() - cpu)


def _fmt(t: tuple[float, float], digits: int = 2) -> str:
    return f"{t[0]:.{digits}f} ({t[1]:.{digits}f})"


def profile(problem: Problem, decays: np.ndarray, rates: np.ndarray) -> list[str]:
    n = decays.size
    lr32, decay32 = rates.astype(np.float32), decays.astype(np.float32)
    args = (problem.params, problem.data, problem.idx)
    train = one_config(problem)

    def plain(lrs, ds, params, data, idx):
        return jax.vmap(train, in_axes=(0, 0, None, None, None))(
            lrs, ds, params, data, idx
        )

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
    ]
    lines = []
    for name, jitted, example, call in cases:
        jax.clear_caches()
        lowered, t_lower = _timed(lambda j=jitted, e=example: j.lower(*e))
        compiled, t_compile = _timed(lowered.compile)
        run = min(
            (_timed(lambda c=compiled, f=call: f(c))[1] for _ in range(3)),
            key=lambda t: t[0],
        )
        lines.append(
            f"| {problem.name} | {n} x {problem.steps} | {name} | "
            f"{_fmt(t_lower)} | {_fmt(t_compile)} | {_fmt(run, 4)} |"
        )
    g = zipped(decay=decays.tolist(), learning_rate=rates.tolist())

    def call():
        return sweep_run(problem, g)().losses

    # The sweep as it compiles by default, then with its one-kernel form off
    # (a kernel per fusion, as a user's own jit compiles), where it applies.
    for one_kernel, name in ((True, "sweep() call"), (False, "sweep(), per fusion")):
        previous = use_one_kernel(one_kernel)
        try:
            jax.clear_caches()
            _EVENTS.clear()
            _, first = _timed(call)
            trace = sum(_EVENTS.get(e, 0.0) for e in _TRACE + _LOWER)
            backend = sum(_EVENTS.get(e, 0.0) for e in _COMPILE)
            run = min((_timed(call)[1] for _ in range(3)), key=lambda t: t[0])
        finally:
            use_one_kernel(previous)
        lines.append(
            f"| {problem.name} | {n} x {problem.steps} | {name} | "
            f"{trace:.2f} | {backend:.2f} | {_fmt(run, 4)} |"
        )
        lines.append(
            f"| {problem.name} | {n} x {problem.steps} | {name}: first call, total | "
            f"| | {_fmt(first)} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sweep_profile", description=__doc__.splitlines()[0]
    )
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
    print(f"# {_markdown.load_span(load)}")
    print(
        "<!-- wall (CPU) seconds; the sweep() rows: compile events of jax.monitoring "
        "(wall), and the whole call -->"
    )
    print(_markdown.table(COLUMNS, lines))


if __name__ == "__main__":
    require_extra("python -m benchmarks.sweep_profile", "experiments", "sklearn")
    main()
