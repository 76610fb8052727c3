"""Data-parallel training across processes on JAX's distributed runtime.

JAX's multi-controller runtime runs one Python process per host (here: two
processes on one machine, two simulated CPU devices each, talking over the
loopback interface through gloo). Every process runs this same program; a
``Mesh`` over ``jax.devices()`` spans all of them, each process contributes
its own rows of the batch, and the jitted step all-reduces the gradients and
the loss (the ``value=`` that iRprop+ needs). Nothing in the optimizer
changes. Three layouts of the optimizer state are compared:

- **replicated**: every device holds the whole state (plain data parallelism);
- **ZeRO-1 per leaf**: params replicated, every state leaf split along its
  largest axis over all devices of all processes, so each holds 1/n of it;
- **ZeRO-1 flat**: the same, for the params flattened into one vector (as
  ZeRO does): one all-gather of the new params per step instead of one per
  leaf.

Launch both processes at once (they pick a free port on 127.0.0.1)::

    python examples/multiprocess.py

or one process per terminal, with the same port (by hand, or from a
scheduler on real hosts: ``--coordinator host0:PORT`` and one
``--process-id`` per host)::

    python examples/multiprocess.py --process-id 0 --num-processes 2 --port 12355
    python examples/multiprocess.py --process-id 1 --num-processes 2 --port 12355

Process 0 prints the loss, the step time and the optimizer-state bytes held
by each of its devices, for each layout. This runs on CPUs (``initialize``
sets the platform, the device count and gloo); on GPU or TPU hosts leave
those three settings out.
"""

from __future__ import annotations

import argparse
import collections
import ipaddress
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental import multihost_utils
from jax.flatten_util import ravel_pytree
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import rmsprop_jax as rj

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def check_loopback() -> None:
    """Raises unless this machine's hostname resolves to loopback addresses only.

    gloo does not use the coordinator's address: each process listens on, and
    tells its peers, the address that ``socket.gethostname()`` resolves to.
    Where that is not a loopback address, a "local" run would send its
    collectives through a network interface, so this refuses to start.
    """
    hostname = socket.gethostname()
    try:
        infos = socket.getaddrinfo(hostname, None)
    except OSError as error:
        raise RuntimeError(
            f"this machine's hostname {hostname!r} does not resolve ({error}); gloo "
            "needs it to resolve to a loopback address such as 127.0.0.1 for a "
            "local multi-process run (e.g. an /etc/hosts line "
            f"'127.0.0.1 {hostname}')"
        ) from error
    addresses = sorted({info[4][0].split("%")[0] for info in infos})
    outside = [a for a in addresses if not ipaddress.ip_address(a).is_loopback]
    if outside:
        raise RuntimeError(
            f"this machine's hostname {hostname!r} resolves to {outside}, which "
            "are not loopback addresses; gloo would connect the processes "
            "through them, not through 127.0.0.1. Refusing to start a local "
            "multi-process run that sends traffic off the loopback interface: "
            f"map {hostname!r} to 127.0.0.1 (e.g. in /etc/hosts) first."
        )


def initialize(
    process_id: int,
    num_processes: int,
    coordinator: str,
    *,
    local_devices: int = 2,
    heartbeat_timeout_seconds: int = 100,
    initialization_timeout: int = 300,
) -> None:
    """Joins this process to the others: CPU devices, gloo collectives.

    The coordinator listens on ``coordinator`` only (by default JAX binds it
    to every interface of process 0's machine, ``[::]:PORT``). A process that
    stops sending heartbeats for ``heartbeat_timeout_seconds`` makes the
    coordination service stop every other process with an error.
    """
    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_num_cpu_devices", local_devices)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator,
        coordinator_bind_address=coordinator,
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=initialization_timeout,
        heartbeat_timeout_seconds=heartbeat_timeout_seconds,
    )


def init_mlp(sizes: tuple[int, ...], dtype=np.float32) -> dict:
    """Host (NumPy) parameters of an MLP, the same on every process."""
    rng = np.random.default_rng(0)
    return {
        f"layer{i}": {
            "kernel": (rng.normal(size=(m, n)) / np.sqrt(m)).astype(dtype),
            "bias": np.zeros(n, dtype),
        }
        for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
    }


def loss_fn(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error of a tanh MLP over the (global) batch."""
    layers = [params[k] for k in sorted(params)]
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["kernel"] + layer["bias"])
    out = x @ layers[-1]["kernel"] + layers[-1]["bias"]
    return 0.5 * jnp.mean((out - y) ** 2)


def global_batches(
    steps: int, rows: int, sizes: tuple[int, ...], dtype=np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` batches of a smooth regression target, ``[steps, rows, ...]``."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(steps, rows, sizes[0]))
    w = rng.normal(size=(sizes[0], sizes[-1])) / np.sqrt(sizes[0])
    return x.astype(dtype), np.sin(x @ w).astype(dtype)


def batch_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
    """Batches ``[steps, rows, features]``: the rows split over all devices."""
    return NamedSharding(mesh, P(None, "data"))


def local_rows(sharding: NamedSharding, shape: tuple[int, ...]) -> slice:
    """The rows of a global batch that this process's devices hold."""
    index = sharding.addressable_devices_indices_map(shape).values()
    starts = [i[1].start or 0 for i in index]
    stops = [shape[1] if i[1].stop is None else i[1].stop for i in index]
    return slice(min(starts), max(stops))


def to_global(mesh: jax.sharding.Mesh, *local: np.ndarray) -> tuple[jax.Array, ...]:
    """Each process's own rows, put together into global arrays."""
    sharding = batch_sharding(mesh)
    return tuple(jax.make_array_from_process_local_data(sharding, a) for a in local)


def replicate(mesh: jax.sharding.Mesh, tree):
    """Host values, the same on every process, replicated on every device."""
    sharding = NamedSharding(mesh, P())
    return jax.tree.map(
        lambda a: jax.make_array_from_callback(np.shape(a), sharding, lambda i: a[i]),
        tree,
    )


def zero1_spec(leaf, devices: int) -> P:
    """A leaf's largest axis divisible by the device count, split; else none."""
    axes = [a for a in range(leaf.ndim) if leaf.shape[a] % devices == 0]
    if not axes:
        return P()
    axis = max(axes, key=lambda a: leaf.shape[a])
    return P(*(["data" if a == axis else None for a in range(leaf.ndim)]))


def state_shardings(tx, params, mesh: jax.sharding.Mesh, layout: str):
    """Shardings of ``tx.init(params)``: all replicated, or ZeRO-1."""
    abstract = jax.eval_shape(tx.init, params)
    if layout == "replicated":
        return jax.tree.map(lambda _: NamedSharding(mesh, P()), abstract)
    if layout == "zero1":
        n = mesh.size
        return jax.tree.map(lambda a: NamedSharding(mesh, zero1_spec(a, n)), abstract)
    raise ValueError(f"layout must be 'replicated' or 'zero1', got {layout!r}")


def flatten(params: dict, devices: int) -> tuple[np.ndarray, Callable]:
    """The params as one flat vector, and the function that undoes it.

    ZeRO implementations keep the parameters that the optimizer sees in one
    flat buffer, split evenly over the devices: the step then gathers the
    updates with one all-gather instead of one per leaf (XLA's CPU compiler
    combines all-reduces, not all-gathers).
    """
    flat, unflatten = ravel_pytree(params)
    if flat.size % devices:
        raise ValueError(
            f"the params have {flat.size} elements in all, which do not split "
            f"evenly over {devices} devices; pad them or change the model"
        )
    return np.asarray(flat), unflatten


def make_step(tx, mesh: jax.sharding.Mesh, shardings, loss: Callable = loss_fn):
    """One training step; params stay replicated, the state keeps ``shardings``.

    The loss is a mean over the global batch, so XLA all-reduces it (and the
    gradients) across every device of every process before the update: the
    ``value=`` of iRprop+ is the same global loss everywhere.
    """
    replicated = NamedSharding(mesh, P())

    def step(params, opt_state, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        # All-reduced, like the params: each device then updates its part.
        grads = jax.lax.with_sharding_constraint(grads, replicated)
        updates, opt_state = tx.update(grads, opt_state, params, value=value)
        params = optax.apply_updates(params, updates)
        params = jax.lax.with_sharding_constraint(params, replicated)
        opt_state = jax.lax.with_sharding_constraint(opt_state, shardings)
        return params, opt_state, value

    return step


def make_train(tx, mesh: jax.sharding.Mesh, shardings, loss: Callable = loss_fn):
    """A jitted run of :func:`make_step` over batches ``[steps, rows, ...]``."""
    step = make_step(tx, mesh, shardings, loss)

    def body(carry, batch):
        params, opt_state, loss = step(*carry, *batch)
        return (params, opt_state), loss

    @jax.jit
    def train(params, opt_state, xs, ys):
        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), (xs, ys))
        return params, opt_state, losses

    return train


def bytes_per_device(tree) -> dict[jax.Device, int]:
    """Bytes of ``tree`` held by each of this process's devices."""
    held = collections.Counter()
    for leaf in jax.tree.leaves(tree):
        for shard in leaf.addressable_shards:
            held[shard.device] += shard.data.nbytes
    return dict(held)


def run(args: argparse.Namespace) -> None:
    coordinator = args.coordinator or f"{LOOPBACK}:{args.port}"
    if coordinator.rsplit(":", 1)[0] in (LOOPBACK, "localhost"):
        check_loopback()
    initialize(args.process_id, args.num_processes, coordinator)
    mesh = jax.make_mesh((jax.device_count(),), ("data",), axis_types=(AxisType.Auto,))
    sizes = (32, args.hidden, args.hidden, 8)
    # Rprop is a full-batch method: every step sees the same (global) batch.
    x, y = global_batches(1, 16 * jax.device_count(), sizes)
    xs, ys = np.repeat(x, args.steps, axis=0), np.repeat(y, args.steps, axis=0)
    rows = local_rows(batch_sharding(mesh), xs.shape)  # load only these rows
    xs, ys = to_global(mesh, xs[:, rows], ys[:, rows])
    host = init_mlp(sizes)
    flat, unflatten = flatten(host, jax.device_count())
    tx = rj.rprop(0.001, variant="irprop+")  # needs the global loss as value=
    main = jax.process_index() == 0
    if main:
        print(f"{jax.process_count()} processes, {jax.device_count()} devices")
    runs = {  # label: (params, state layout, loss)
        "replicated": (host, "replicated", loss_fn),
        "ZeRO-1 per leaf": (host, "zero1", loss_fn),
        "ZeRO-1 flat": (flat, "zero1", lambda p, x, y: loss_fn(unflatten(p), x, y)),
    }
    for label, (params, layout, loss) in runs.items():
        params = replicate(mesh, params)
        shardings = state_shardings(tx, params, mesh, layout)
        opt_state = jax.jit(tx.init, out_shardings=shardings)(params)
        train = make_train(tx, mesh, shardings, loss)
        train = train.lower(params, opt_state, xs, ys).compile()
        times = []
        for _ in range(3):
            start = time.perf_counter()
            new_params, new_state, losses = jax.block_until_ready(
                train(params, opt_state, xs, ys)
            )
            times.append(time.perf_counter() - start)
        multihost_utils.assert_equal(new_params, "the replicas diverged")
        held = bytes_per_device(new_state)
        total = sum(leaf.nbytes for leaf in jax.tree.leaves(new_state))
        if main:
            ms = 1e3 * min(times) / args.steps
            print(
                f"{label:15s} loss {losses[0]:.3e} -> {losses[-1]:.3e}; "
                f"{ms:.1f} ms/step; optimizer state {total} B, per device "
                f"{sorted(held.values())} B"
            )


def launch(args: argparse.Namespace) -> int:
    """Starts ``--num-processes`` copies of this script on 127.0.0.1."""
    port = free_port()
    root = pathlib.Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "JAX_PLATFORMS": "cpu"}
    base = [sys.executable, __file__, "--num-processes", str(args.num_processes)]
    base += ["--port", str(port), "--steps", str(args.steps)]
    base += ["--hidden", str(args.hidden)]
    with tempfile.TemporaryDirectory() as tmp:
        logs = [pathlib.Path(tmp) / f"{i}.log" for i in range(args.num_processes)]
        processes = []
        for i, log in enumerate(logs):
            with log.open("w") as out:
                command = [*base, "--process-id", str(i)]
                processes.append(
                    subprocess.Popen(command, env=env, stdout=out, stderr=out)
                )
        deadline = time.monotonic() + args.timeout
        codes = []
        for process in processes:
            try:
                codes.append(process.wait(max(deadline - time.monotonic(), 0)))
            except subprocess.TimeoutExpired:
                codes.append(None)
        for process in processes:
            if process.poll() is None:
                process.kill()  # SIGKILL: JAX catches SIGTERM
                process.wait()
        for i, (code, log) in enumerate(zip(codes, logs, strict=True)):
            if code != 0:
                status = "timed out" if code is None else f"exit code {code}"
                print(f"process {i}: {status}\n{log.read_text()}", file=sys.stderr)
        print(logs[0].read_text(), end="")
    return 0 if codes == [0] * len(codes) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--process-id", type=int, help="omit to launch them all")
    parser.add_argument("--num-processes", type=int, default=2)
    parser.add_argument("--port", type=int, help="the coordinator's port")
    parser.add_argument("--coordinator", help="host:port of process 0's machine")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--timeout", type=float, default=300, help="seconds")
    args = parser.parse_args()
    if args.process_id is None:
        return launch(args)
    if args.port is None and args.coordinator is None:
        parser.error("--process-id needs --port or --coordinator")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
