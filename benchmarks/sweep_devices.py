"""A sweep split over 1, 2 and 4 devices: ``sweep(..., devices=...)``.

The Rosenbrock function from (-1.5, 2), 64 decays x 64 learning rates (4096
runs of ``rmsprop_jax.rmsprop``), 500 steps, on the first 1, 2 and 4 devices
of this process (simulated CPU devices, ``--xla_force_host_platform_device_count``,
which this script sets for itself when it starts JAX; on a GPU machine, the GPUs
it has), and on the default device without ``devices``. "end to end" is a
first call with every cache cleared (trace, compile, run), "steady state" a
repeated call; the device counts are interleaved, ``--repeats`` rounds, and
the table gives the best (minimum) of each, wall and process CPU time, with
``x`` = time on one device / time on n (> 1: faster). Run as a script::

    python -m benchmarks.sweep_devices            # ~1-2 minutes on 2 cores
    python -m benchmarks.sweep_devices --quick    # 1024 runs x 200 steps
"""

from __future__ import annotations

import argparse
import os
import sys

if "jax" not in sys.modules:  # the device count is fixed when JAX starts
    os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import rmsprop_jax as rj  # noqa: E402
from benchmarks import _markdown  # noqa: E402
from benchmarks.sweep import Time, _best, _clock, _fresh, machine, rosenbrock  # noqa: E402
from rmsprop_jax.sweep import grid, sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sweep_devices", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="1024 runs x 200 steps")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args()
    n, steps = (32, 200) if args.quick else (64, 500)
    g = grid(
        decay=np.linspace(0.0, 0.999, n).tolist(),
        learning_rate=np.logspace(-4, 0, n).tolist(),
    )
    counts = [c for c in (1, 2, 4) if c <= jax.device_count()]
    layouts = {"default device": None} | {
        f"{c} device{'s' * (c > 1)}": jax.devices()[:c] for c in counts
    }

    def call(devices):
        return lambda: (
            sweep(
                rj.rmsprop,
                rosenbrock,
                jnp.array([-1.5, 2.0]),
                g,
                steps=steps,
                devices=devices,
            ).losses
        )

    load = os.getloadavg()[0]
    e2e: dict[str, list[Time]] = {k: [] for k in layouts}
    steady: dict[str, list[Time]] = {k: [] for k in layouts}
    results = {}
    for _ in range(args.repeats):  # interleaved: every layout once per round
        for name, devices in layouts.items():
            e2e[name].append(_fresh(call(devices)))
            steady[name] += [_clock(call(devices)) for _ in range(3)]
            results[name] = np.asarray(call(devices)())
    reference = results["default device"]
    print(f"# {machine()}")
    print(
        f"# {len(g)} runs x {steps} steps; best of {args.repeats} interleaved rounds "
        f"(steady: of {3 * args.repeats} calls); load average (1 min) {load:.1f} at "
        f"the start, {os.getloadavg()[0]:.1f} at the end; x = 1 device / n devices"
    )
    print(
        _markdown.header(
            "layout",
            "end to end (s)",
            "x",
            "end to end, CPU (s)",
            "x",
            "steady (s)",
            "x",
            "steady, CPU (s)",
            "x",
            "equal to the default device",
        )
    )
    one = "1 device"
    for name in layouts:
        a, b = _best(e2e[name]), _best(steady[name])
        a1, b1 = _best(e2e[one]), _best(steady[one])
        same = np.array_equal(results[name], reference, equal_nan=True)
        close = np.allclose(results[name], reference, rtol=2e-6, equal_nan=True)
        print(
            f"| {name} | {a:.3f} | {a1 / a:.2f} | {a.cpu:.3f} | {a1.cpu / a.cpu:.2f} | "
            f"{b:.4f} | {b1 / b:.2f} | {b.cpu:.4f} | {b1.cpu / b.cpu:.2f} | "
            f"{'bit for bit' if same else 'to rtol 2e-6' if close else 'NO'} |"
        )


if __name__ == "__main__":
    main()
