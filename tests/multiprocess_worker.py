"""One process of the multi-process tests in ``tests/test_multiprocess.py``.

Run as a script, once per process, by that test::

    python tests/multiprocess_worker.py TASK --process-id I --port PORT --out DIR

It joins the others on 127.0.0.1 through ``examples/multiprocess.py`` (two
CPU devices per process, gloo collectives), trains the small float64 MLP of
:data:`SIZES` data-parallel over all devices, and writes what it holds to
``DIR/TASK-I.npz``: every leaf as the stack of this process's addressable
shards (sorted by device id), under flat keys. Tasks:

- ``train``: every optimizer of :data:`OPTIMIZERS` for :data:`STEPS` steps
  with replicated state, and again with ZeRO-1 state in two halves with one
  Orbax checkpoint of all of them (params and sharded state) in between; then
  ``skip_nonfinite`` with a NaN in process 1's rows of batch :data:`NAN_STEP`.
- ``resume``: restores that checkpoint into new processes and runs the
  second halves again.
- ``die``: trains one step at a time; ``--dead``'s process exits after the
  first, and the other must be stopped by JAX's distributed runtime.

Everything is imported at the top only; nothing runs on import (pytest
imports this module for its doctests and its tables).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import sys
import time

STARTED = time.perf_counter(), time.process_time()

import jax  # noqa: E402
import numpy as np  # noqa: E402
from integration_problems import join_on_loopback, load_example  # noqa: E402
from jax.sharding import AxisType  # noqa: E402

import rmsprop_jax as rj  # noqa: E402
from rmsprop_jax.checkpointing import check_restorable  # noqa: E402

example = load_example("multiprocess")

PROCESSES = 2
LOCAL_DEVICES = 2
SIZES = (8, 64, 4)  # every state leaf has an axis that splits over 4 devices
ROWS = 32  # global batch: 8 rows per device
STEPS = 50
HALF = STEPS // 2
NAN_STEP = 10
DEAD_EXIT = 17
DTYPE = np.float64

# name -> factory; the hyperparameters are the issue's, the rates fit the MLP.
OPTIMIZERS = {
    "rmsprop": lambda: rj.rmsprop(0.01),
    "rmsprop_centered_momentum": lambda: rj.rmsprop(0.01, centered=True, momentum=0.9),
    "adam": lambda: rj.adam(0.01),
    "irprop_minus": lambda: rj.rprop(0.01),
    "irprop_plus": lambda: rj.rprop(0.01, variant="irprop+"),
}
GUARDED = "irprop_plus"  # the optimizer run under skip_nonfinite
SKIP = "skip_nonfinite"
# Every run: (name, layout) -> (transformation factory, state layout). They
# train side by side in one program, so that one compilation and one
# all-reduce per step serve them all.
RUNS = {
    **{
        (n, layout): (f, layout)
        for n, f in OPTIMIZERS.items()
        for layout in ("replicated", "zero1")
    },
    (SKIP, "zero1"): (lambda: rj.skip_nonfinite(OPTIMIZERS[GUARDED]()), "zero1"),
}


def problem() -> tuple[dict, np.ndarray, np.ndarray]:
    """Host params and the global batches ``[STEPS, ROWS, ...]``, float64."""
    xs, ys = example.global_batches(STEPS, ROWS, SIZES, DTYPE)
    return example.init_mlp(SIZES, DTYPE), xs, ys


def with_nan(xs: np.ndarray, rows: slice) -> np.ndarray:
    """``xs`` with NaN in ``rows`` of batch :data:`NAN_STEP`."""
    bad = xs.copy()
    bad[NAN_STEP, rows] = np.nan
    return bad


def phase(name: str) -> None:
    """Logs the seconds since the start: wall clock and this process's CPU."""
    wall, cpu = time.perf_counter() - STARTED[0], time.process_time() - STARTED[1]
    print(f"process {jax.process_index()}: {name} at {wall:.1f} s ({cpu:.1f} s CPU)")


def shards(leaf: jax.Array) -> np.ndarray:
    """This process's shards of ``leaf``, stacked in the order of device ids."""
    held = sorted(leaf.addressable_shards, key=lambda s: s.device.id)
    return np.stack([np.asarray(s.data) for s in held])


def record(out: dict, prefix: str, tree) -> None:
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        out[prefix + jax.tree_util.keystr(path)] = shards(leaf)


class Program:
    """Every run of :data:`RUNS` on one mesh: shardings, init, and training.

    The carry is ``{name: {layout: {"params", "opt_state"}}}``, which is also
    what the checkpoint holds.
    """

    def __init__(self, mesh, params: dict):
        self.mesh = mesh
        self.txs = {key: factory() for key, (factory, _) in RUNS.items()}
        flat, unflatten = example.flatten(params, mesh.size)
        self.params = {  # ZeRO-1 optimizes the flat vector of all params
            "replicated": example.replicate(mesh, params),
            "zero1": example.replicate(mesh, flat),
        }
        losses = {
            "replicated": example.loss_fn,
            "zero1": lambda p, x, y: example.loss_fn(unflatten(p), x, y),
        }
        self.steps, self.shardings = {}, {}
        for (name, layout), tx in self.txs.items():
            params = self.params[layout]
            state = example.state_shardings(tx, params, mesh, layout)
            self.shardings.setdefault(name, {})[layout] = {
                "params": jax.tree.map(lambda a: a.sharding, params),
                "opt_state": state,
            }
            self.steps[name, layout] = example.make_step(
                tx, mesh, state, losses[layout]
            )
        self.init = jax.jit(self._init, out_shardings=self.shardings)
        self.train = jax.jit(self._train)

    def _init(self, params):
        carry = {}
        for (name, layout), tx in self.txs.items():
            p = params[layout]
            run = {"params": p, "opt_state": tx.init(p)}
            carry.setdefault(name, {})[layout] = run
        return carry

    def _train(self, carry, xs, ys, xs_bad):
        def body(carry, batch):
            x, y, x_bad = batch
            new, losses = {}, {}
            for (name, layout), step in self.steps.items():
                run = carry[name][layout]
                p, s, loss = step(
                    run["params"], run["opt_state"], x_bad if name == SKIP else x, y
                )
                new.setdefault(name, {})[layout] = {"params": p, "opt_state": s}
                losses.setdefault(name, {})[layout] = loss
            return new, losses

        return jax.lax.scan(body, carry, (xs, ys, xs_bad))


def _start(args: argparse.Namespace, heartbeat: int):
    join_on_loopback(
        example,
        args.process_id,
        args.port,
        PROCESSES,
        LOCAL_DEVICES,
        heartbeat=heartbeat,
    )
    jax.config.update("jax_enable_x64", True)
    mesh = jax.make_mesh((jax.device_count(),), ("data",), axis_types=(AxisType.Auto,))
    params, xs, ys = problem()
    return mesh, params, xs, ys


def _halves(mesh, xs: np.ndarray, ys: np.ndarray):
    """The two halves of the global batches, each process giving its rows."""
    rows = example.local_rows(example.batch_sharding(mesh), xs.shape)
    bad = with_nan(xs, rows) if jax.process_index() == 1 else xs
    local = xs[:, rows], ys[:, rows], bad[:, rows]
    return [
        example.to_global(mesh, *(a[part] for a in local))
        for part in (slice(None, HALF), slice(HALF, None))
    ]


def _record_end(out: dict, carry, losses) -> None:
    record(out, "end", carry)
    record(out, "losses", losses)


def _checkpointer():
    import orbax.checkpoint as ocp

    return ocp.StandardCheckpointer()


def train(args: argparse.Namespace, out: dict) -> None:
    mesh, params, xs, ys = _start(args, heartbeat=10)
    first, second = _halves(mesh, xs, ys)
    program = Program(mesh, params)
    phase("started")
    carry = program.init(program.params)
    compiled = program.train.lower(carry, *first).compile()
    phase("compiled")
    carry, losses = jax.block_until_ready(compiled(carry, *first))
    phase(f"trained {HALF} steps")
    record(out, "first_losses", losses)
    with _checkpointer() as checkpointer:
        checkpointer.save(pathlib.Path(args.out) / "checkpoint", carry)
    phase("saved")
    carry, losses = jax.block_until_ready(compiled(carry, *second))
    phase(f"trained {STEPS - HALF} steps")
    _record_end(out, carry, losses)
    for (name, layout), _ in RUNS.items():
        state = carry[name][layout]["opt_state"]
        held = example.bytes_per_device(state)
        out[f"bytes/{name}/{layout}"] = np.array(
            [held[d] for d in sorted(held, key=lambda d: d.id)]
        )
        total = sum(a.nbytes for a in jax.tree.leaves(state))
        out[f"total/{name}/{layout}"] = np.array(total)


def resume(args: argparse.Namespace, out: dict) -> None:
    mesh, params, xs, ys = _start(args, heartbeat=10)
    _, second = _halves(mesh, xs, ys)
    program = Program(mesh, params)
    target = jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
        jax.eval_shape(program.init, program.params),
        program.shardings,
    )
    path = pathlib.Path(args.out) / "checkpoint"
    with _checkpointer() as checkpointer:
        check_restorable(checkpointer.metadata(path).item_metadata, target)
        carry = checkpointer.restore(path, target)
    phase("restored")
    compiled = program.train.lower(carry, *second).compile()
    phase("compiled")
    _record_end(out, *jax.block_until_ready(compiled(carry, *second)))
    phase(f"trained {STEPS - HALF} steps")


def die(args: argparse.Namespace, out: dict) -> None:
    mesh, params, xs, ys = _start(args, heartbeat=3)
    params = example.replicate(mesh, params)
    tx = OPTIMIZERS["rmsprop"]()
    shardings = example.state_shardings(tx, params, mesh, "zero1")
    state = jax.jit(tx.init, out_shardings=shardings)(params)
    run = example.make_train(tx, mesh, shardings)
    rows = example.local_rows(example.batch_sharding(mesh), xs.shape)
    batch = example.to_global(mesh, xs[:1, rows], ys[:1, rows])
    for step in range(100_000):
        params, state, _ = jax.block_until_ready(run(params, state, *batch))
        print(f"process {args.process_id}: step {step} done", flush=True)
        if args.process_id == args.dead:
            print(
                f"process {args.process_id}: exiting on purpose at {time.time():.2f}",
                flush=True,
            )
            os._exit(DEAD_EXIT)  # no clean-up, no shutdown barrier: a crash
    out["finished"] = np.array(True)  # never reached while the runtime works


TASKS = {"train": train, "resume": resume, "die": die}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--process-id", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--dead", type=int, default=1)
    args = parser.parse_args()
    # A survivor that JAX aborts (task "die") leaves no core file behind.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    out: dict = {}
    TASKS[args.task](args, out)
    np.savez(pathlib.Path(args.out) / f"{args.task}-{args.process_id}.npz", **out)
    phase(f"{args.task} done")
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the interpreter's teardown: with the distributed runtime it waits
    # seconds for nothing once the results are written.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
