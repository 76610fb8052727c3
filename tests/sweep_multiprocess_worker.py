"""One process of ``tests/test_sweep_multiprocess.py``.

Run as a script, once per process, by that test::

    python tests/sweep_multiprocess_worker.py --process-id I --port PORT --out DIR

It joins the other process on 127.0.0.1 through ``examples/multiprocess.py``
(two CPU devices per process, gloo collectives), runs every case of
``tests/sweep_devices_cases.py`` with ``devices=jax.devices()`` (all four
devices of both processes) and writes the whole result it received to
``DIR/sweep-I.npz``, with the process of each device the result names. Nothing
runs on import.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import jax
import numpy as np
import sweep_devices_cases as cases
from integration_problems import join_on_loopback, load_example

PROCESSES = 2
LOCAL_DEVICES = 2


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--process-id", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    args = parser.parse_args()
    example = load_example("multiprocess")
    join_on_loopback(example, args.process_id, args.port, PROCESSES, LOCAL_DEVICES)
    print(f"{jax.process_count()} processes, {jax.device_count()} devices", flush=True)
    out = {}
    for name, case in cases.CASES.items():
        result = case(jax.devices())
        for key, value in cases.arrays(result).items():
            out[f"{name}/{key}"] = value
        assert result.devices == tuple(jax.devices()), result.devices
        out[f"{name}/devices"] = np.array([d.process_index for d in result.devices])
        print(f"{name} done", flush=True)
    np.savez(args.out / f"sweep-{args.process_id}.npz", **out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
