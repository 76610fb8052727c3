"""One process of ``tests/test_state_dtype_multiprocess.py``.

Run as a script, once per process, by that test::

    python tests/state_dtype_multiprocess_worker.py --process-id I --port PORT --out DIR

It joins the other on 127.0.0.1 through ``examples/multiprocess.py`` (two CPU
devices per process, gloo collectives), trains the float64 MLP of
:data:`SIZES` (its first kernel, 16 x 256, holds 4096 elements: an 8-bit
state leaf) data-parallel over all four devices with
``rmsprop(state_dtype="int8")``, once with the state replicated and once
ZeRO-1 (the state split over the devices), and writes what it holds to
``DIR/train-I.npz``: every leaf (the state gathered whole on every device
first) as the stack of this process's addressable shards (sorted by device
id), under flat keys ``LAYOUT/params...``, ``LAYOUT/opt_state...`` and
``LAYOUT/losses``, and the state's bytes on each of its devices
(``LAYOUT/held``) and in all (``LAYOUT/total``).

Nothing runs on import.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import sys

import jax
import numpy as np
from integration_problems import join_on_loopback, load_example
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P
from multiprocess_worker import record

import rmsprop_jax as rj

example = load_example("multiprocess")

PROCESSES = 2
LOCAL_DEVICES = 2
SIZES = (16, 256, 4)
ROWS = 32  # global batch: 8 rows per device
STEPS = 20
DTYPE = np.float64
LAYOUTS = ("replicated", "zero1")


def optimizer():
    return rj.rmsprop(0.01, momentum=0.5, state_dtype="int8")


def problem() -> tuple[dict, np.ndarray, np.ndarray]:
    """Host params and the global batches ``[STEPS, ROWS, ...]``, float64."""
    xs, ys = example.global_batches(STEPS, ROWS, SIZES, DTYPE)
    return example.init_mlp(SIZES, DTYPE), xs, ys


def train(args: argparse.Namespace) -> dict:
    join_on_loopback(example, args.process_id, args.port, PROCESSES, LOCAL_DEVICES)
    jax.config.update("jax_enable_x64", True)
    mesh = jax.make_mesh((jax.device_count(),), ("data",), axis_types=(AxisType.Auto,))
    params, xs, ys = problem()
    rows = example.local_rows(example.batch_sharding(mesh), xs.shape)
    batches = example.to_global(mesh, xs[:, rows], ys[:, rows])
    out: dict = {}
    for layout in LAYOUTS:
        tx = optimizer()
        p = example.replicate(mesh, params)
        shardings = example.state_shardings(tx, p, mesh, layout)
        state = jax.jit(tx.init, out_shardings=shardings)(p)
        run = example.make_train(tx, mesh, shardings)
        p, state, losses = jax.block_until_ready(run(p, state, *batches))
        held = example.bytes_per_device(state)
        out[f"{layout}/held"] = np.array(
            [held[d] for d in sorted(held, key=lambda d: d.id)]
        )
        out[f"{layout}/total"] = np.array(sum(a.nbytes for a in jax.tree.leaves(state)))
        # every device then holds the whole state: the shards are its copies
        whole = jax.jit(lambda s: s, out_shardings=NamedSharding(mesh, P()))(state)
        record(out, f"{layout}/params", p)
        record(out, f"{layout}/opt_state", whole)
        record(out, f"{layout}/losses", losses)
        print(f"process {args.process_id}: {layout} trained", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--process-id", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    out = train(args)
    np.savez(pathlib.Path(args.out) / f"train-{args.process_id}.npz", **out)
    print(f"process {args.process_id}: done", flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the distributed runtime's teardown waits for nothing


if __name__ == "__main__":
    main()
