"""What the interactive explorer asks of the engine: six optimizers x 1000
steps on one 2-D landscape, with the path, the loss and the effective learning
rate recorded at every step, in one ``sweep`` call.

Every landscape of ``rmsprop_jax.landscapes.LANDSCAPES`` is in the mapping and
a one-value ``landscape`` grid axis picks one, so moving a slider (a new
learning rate, a new start point, another landscape) reuses the compiled
program. Reports the first call (tracing and compilation included) and the
steady state (best and median of ``--repeats`` calls, cycling through the
landscapes and learning rates), wall-clock and CPU time. Run as a script::

    python -m benchmarks.sweep_explorer [--steps 1000] [--repeats 30]
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import rmsprop_jax as rj
from rmsprop_jax.landscapes import LANDSCAPES
from rmsprop_jax.sweep import compilations, grid, sweep

OPTIMIZERS = {
    "sgd": rj.sgd,
    "momentum": functools.partial(rj.sgd, momentum=0.9),
    "rmsprop": rj.rmsprop,
    "adagrad": rj.adagrad,
    "adam": rj.adam,
    "rprop": functools.partial(rj.rprop, variant="irprop-"),
}
RECORD = ("loss", "params", "effective_lr")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sweep_explorer", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument(
        "--repeats", type=int, default=30, help="timed repetitions of each measurement"
    )
    args = parser.parse_args()
    landscapes = {name: land.fn for name, land in LANDSCAPES.items()}
    names = list(landscapes)

    def call(i: int) -> tuple[float, float]:
        land = LANDSCAPES[names[i % len(names)]]
        start = time.perf_counter(), time.process_time()
        result = sweep(
            OPTIMIZERS,
            landscapes,
            jnp.asarray(land.start),
            grid(landscape=[land.name], learning_rate=[1e-3 * (1 + i % 7)]),
            steps=args.steps,
            record=RECORD,
        )
        jax.block_until_ready(result.records)
        return time.perf_counter() - start[0], time.process_time() - start[1]

    load = os.getloadavg()[0]
    jax.block_until_ready(jax.jit(lambda x: x + 1)(jnp.ones(3)))
    first = call(0)
    before = compilations()
    times = np.array([call(i) for i in range(1, args.repeats + 1)])
    print(
        f"# {len(OPTIMIZERS)} optimizers x {args.steps} steps, {len(names)} "
        f"landscapes in the mapping, records {', '.join(RECORD)}; load average "
        f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print(f"first call: {first[0]:.2f} s wall, {first[1]:.2f} s CPU")
    print(
        f"steady state ({args.repeats} calls): best {1e3 * times[:, 0].min():.1f} "
        f"ms wall / {1e3 * times[:, 1].min():.1f} ms CPU, median "
        f"{1e3 * np.median(times[:, 0]):.1f} ms wall / "
        f"{1e3 * np.median(times[:, 1]):.1f} ms CPU; "
        f"{compilations() - before} new compilations"
    )


if __name__ == "__main__":
    main()
