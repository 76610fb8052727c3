"""One optimizer step (update + apply_updates): rmsprop_jax vs optax vs torch.optim.

Prints one table. For each problem size and optimizer it times, in one process
and interleaved (every repeat runs every implementation once, in a random
order), the optimizer part of a training step:

* **ours** / **optax**: ``jax.jit(step, donate_argnums=(0, 1))`` with
  ``step(params, state, grads) = apply_updates(params, tx.update(grads, state,
  params))``; params and state are donated, so XLA may update them in place.
* **optax A/A**: the control. A second, separately jitted copy of optax's
  step, timed in the same rounds as the others: its "x optax" is what two
  identical programs measure against each other in this run, i.e. the noise
  floor of every ratio of the group (``--no-control`` leaves it out).
* **torch-foreach** / **torch-fused**: ``torch.optim`` with ``foreach=True``,
  and ``fused=True`` where PyTorch has a fused CPU kernel (SGD, Adam, Adagrad;
  not RMSprop or Rprop).
* **ceilings**: the in-place ``a += s * b`` (jitted, ``a`` donated; 12 bytes
  per element), the STREAM triad ``a = b + s * c`` (12 bytes per element) and
  a copy into a new buffer, ``b = -a`` (8 bytes per element; the
  device-to-device copy bandwidth on a GPU), run on the same tree of arrays as
  the optimizers.

Problems (``benchmarks/cases.py``): (A) one 16M-parameter float32 leaf; (B)
~200 leaves totalling ~16M, shaped like a small transformer; (C) a ~10k-parameter
MLP (latency-bound); (A64) and (B64), the same at ~64M parameters, for
accelerators. On a GPU or TPU (JAX's default backend) the torch rows run on
CUDA when torch sees one, else they are left out. Every
implementation alternates between the same two gradient trees, so that no
state drifts to a degenerate value (a centred variance of 0, denormals) that
would time arithmetic corner cases instead of the step; torch pays one
``p.grad = g`` per tensor for it.

Timing: every repeat times one block of steps of every implementation, in a
fresh random order, each on copies of its params and state made just before
it (outside the timed region; with donation a step would otherwise keep the
same buffers for the whole run, and their placement alone moved identical
programs 25 % apart on tree C). A block lasts about 5 ms (``--block-ms``; at
least one step), so that the minimum over many short blocks finds the
machine's quiet moments (on a shared machine a long block of ~1000 steps of a
dispatch-bound tree is rarely left alone from start to end). The blocks of a
JAX step take ``--executables`` (default 2) separately jitted copies of it in
turn: one executable of a program at times ran 2-4x slower than another of
the same program for the whole run. The gradients alternate across blocks as
well as within them, and Python's cyclic garbage collector is off while timing
(a collection would be charged to whichever step crossed its threshold).

Columns: ms/step (median over repeats, with min-max); effective GB/s = the
optimizer's minimal bytes per parameter (every buffer read once, every output
written once, float32) x parameters / time;
x optax = optax's median (min) time / this median (min) time; % ceil =
effective GB/s / the reference ceiling's GB/s on the same problem (``--ceiling``:
the in-place ``a += s*b`` by default on CPU, the copy on accelerators);
compile = trace + lower + compile of a fresh jitted step (ms, median of
several, interleaved); peak = peak memory of the compiled step
(``memory_analysis()``) / params + grads + state;
kernels / copies / B/param = the entry computation of the optimized HLO (see
``benchmarks/hlo_passes.py``): instructions that touch memory, how many are
copies, and the bytes they read and write per parameter; load = the 1-minute
load average when the group finished (the machine is shared: read the timings
of a group against it).

Usage::

    python -m benchmarks.step            # the full table (several minutes)
    python -m benchmarks.step --quick    # a fast smoke run for development
    python -m benchmarks.step --cases A --optimizers rmsprop,rprop
    python -m benchmarks.step --compile-only    # trace/lower and compile times
    python -m benchmarks.step --cases A64,B64,C  # on a GPU: vs its copy bandwidth
    python -m benchmarks.step --record benchmarks/results/step_cpu.json
        # also writes the run (date, machine, load, command, every row) as JSON:
        # ``python -m benchmarks.step_table`` renders the published table from it
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from benchmarks import hlo_passes
from benchmarks.cases import (
    CASES,
    CONTROL,
    LR,
    MIN_BYTES,
    OPTIMIZERS,
    jax_transforms,
    jitted_step,
    make_arrays,
)

CEILING_BYTES = {"a+=s*b": 12, "triad": 12, "copy": 8}


# --------------------------------------------------------------------------- #
# Implementations
# --------------------------------------------------------------------------- #


def torch_optimizer(name: str, params: list, mode: str):
    """A torch.optim optimizer (``mode`` 'foreach' or 'fused'), or None."""
    import torch

    kw = {"foreach": True} if mode == "foreach" else {"fused": True}
    if name == "rmsprop":
        return None if mode == "fused" else torch.optim.RMSprop(params, LR, 0.9, **kw)
    if name == "rmsprop-centered-momentum":
        if mode == "fused":
            return None
        return torch.optim.RMSprop(params, LR, 0.9, centered=True, momentum=0.9, **kw)
    if name == "adagrad":
        return torch.optim.Adagrad(params, LR, **kw)
    if name == "rprop":
        return None if mode == "fused" else torch.optim.Rprop(params, LR, **kw)
    if name == "sgd-momentum":
        return torch.optim.SGD(params, LR, momentum=0.9, **kw)
    if name == "adam":
        return torch.optim.Adam(params, LR, **kw)
    raise ValueError(name)


@dataclasses.dataclass
class Runner:
    """One implementation: ``run(n)`` does n steps and waits for the result."""

    label: str
    run: Callable[[int], None]
    min_bytes: int  # per parameter, for the effective bandwidth
    compile_ms: float | None = None
    peak_ratio: str = ""
    hlo: hlo_passes.Summary | None = None
    compile_args: tuple | None = None  # (tx, params, grads) of a JAX step
    # moves the runner's buffers to freshly allocated ones (between blocks)
    replace: Callable[[random.Random], None] | None = None
    times: list[float] = dataclasses.field(default_factory=list)


def _tree_bytes(tree) -> int:
    import jax

    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def _peak_bytes(compiled) -> int:
    mem = compiled.memory_analysis()
    return getattr(mem, "peak_memory_in_bytes", 0) or (
        mem.argument_size_in_bytes
        + mem.output_size_in_bytes
        - mem.alias_size_in_bytes
        + mem.temp_size_in_bytes
    )


def _fmt_bytes(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def compile_ms(tx, params, state, grads) -> float:
    """Trace + lower + compile a fresh jitted step, in milliseconds."""
    t0 = time.perf_counter()
    jitted_step(tx).lower(params, state, grads).compile()
    return 1e3 * (time.perf_counter() - t0)


def jax_runner(label: str, tx, params_np, grad_pair, mb: int, executables: int = 2):
    """``grad_pair``: two gradient trees, used alternately step after step;
    ``executables``: how many separately jitted copies of the step the blocks
    take in turn."""
    import jax
    import jax.numpy as jnp

    grads = grad_pair[0]
    params = jax.tree.map(jnp.asarray, params_np)
    state = tx.init(params)
    inputs_bytes = _tree_bytes(params) + _tree_bytes(grads) + _tree_bytes(state)
    compiled = jitted_step(tx).lower(params, state, grads).compile()
    peak = _peak_bytes(compiled)
    summary = hlo_passes.summarize(compiled.as_text())
    del compiled
    # Timed through the ordinary jit call path, with several executables of
    # the same step taken in turn, block after block: on a shared machine one
    # executable of a program was at times 2-4x slower than another of the
    # same program for the life of the process (tree C), and the minimum over
    # blocks then measured that executable, not the program.
    steps = [jitted_step(tx) for _ in range(executables)]
    for step in steps:  # compiled here, not in a timed block
        params, state = step(params, state, grads)
    # params, state, steps taken, blocks begun: the gradients alternate across
    # blocks too (a block of one step would otherwise always see the first
    # tree, and the state would settle on a constant gradient).
    box = [params, state, executables, 0]

    def run(n: int) -> None:
        p, s, k, block = box
        step = steps[block % executables]
        for i in range(k, k + n):
            p, s = step(p, s, grad_pair[i % 2])
        jax.block_until_ready((p, s))
        box[0], box[1], box[2] = p, s, k + n

    def replace(rng: random.Random) -> None:
        # Copies of params and state into new buffers (the old ones are freed):
        # with donation a step updates its buffers in place forever, and where
        # they happen to lie matters (identical programs on a small tree
        # measured 25 % apart for the life of their buffers, 42 against 54 us).
        # A spacer of random size on the same heap (a host array: a device
        # array of a new shape would compile a program every time), allocated
        # first, varies the placement.
        spacer = np.empty(rng.randrange(1, 1 << 14), np.float32)
        box[0], box[1] = jax.tree.map(jnp.copy, (box[0], box[1]))
        jax.block_until_ready((box[0], box[1]))
        del spacer
        box[3] += 1  # the next block runs the next executable

    return Runner(
        label,
        run,
        mb,
        peak_ratio=f"{_fmt_bytes(peak)} / {_fmt_bytes(inputs_bytes)}",
        hlo=summary,
        compile_args=(tx, params_np, grads),
        replace=replace,
    )


def time_compiles(runners: list[Runner], repeats: int) -> None:
    """Median compile time of each JAX runner, interleaved over ``repeats``."""
    import jax
    import jax.numpy as jnp

    jax_runners = [r for r in runners if r.compile_args is not None]
    samples: dict[str, list[float]] = {r.label: [] for r in jax_runners}
    for rep in range(repeats):
        k = rep % max(len(jax_runners), 1)
        for r in jax_runners[k:] + jax_runners[:k]:
            tx, params_np, grads = r.compile_args
            params = jax.tree.map(jnp.asarray, params_np)
            samples[r.label].append(compile_ms(tx, params, tx.init(params), grads))
    for r in jax_runners:
        r.compile_ms = statistics.median(samples[r.label])


def torch_device() -> str | None:
    """Where torch runs: "cpu" with JAX on the CPU, "cuda" with JAX on an
    accelerator and a CUDA torch, else None (no torch rows)."""
    import jax

    try:
        import torch
    except ImportError:
        return None
    if jax.default_backend() == "cpu":
        return "cpu"
    return "cuda" if torch.cuda.is_available() else None


def torch_runner(
    label: str, name: str, params_np, grads_np_pair, mode: str, mb: int, device: str
):
    """``grads_np_pair``: two gradient dicts, set alternately step after step."""
    import torch

    def tensor(x, **kw):
        return torch.tensor(x, device=device, **kw)

    params = [tensor(v, requires_grad=True) for v in params_np.values()]
    pair = [[tensor(g) for g in grads.values()] for grads in grads_np_pair]
    try:
        opt = torch_optimizer(name, params, mode)
    except RuntimeError:  # no fused kernel for this optimizer on this device
        return None
    if opt is None:
        return None
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def run(n: int) -> None:
        with torch.no_grad():
            for i in range(n):
                for p, g in zip(params, pair[i % 2], strict=True):
                    p.grad = g
                opt.step()
        sync()

    return Runner(label, run, mb)


def ceiling_runners(params_np, grads, n_params: int) -> list[Runner]:
    """In-place a += s*b, the STREAM triad a = b + s*c and the copy b = -a."""
    import jax
    import jax.numpy as jnp

    s = jnp.float32(-LR)
    axpy = jax.jit(
        lambda a, b: jax.tree.map(lambda x, y: x + s * y, a, b), donate_argnums=0
    )
    # keep_unused: ``a`` is only written, and without it jit would drop the
    # argument and allocate a fresh output every call instead of reusing a.
    triad = jax.jit(
        lambda a, b, c: jax.tree.map(lambda _, y, z: y + s * z, a, b, c),
        donate_argnums=0,
        keep_unused=True,
    )
    # A copy into a fresh buffer (no donation): read 4, write 4 bytes. The
    # negation keeps XLA from forwarding the input as the output.
    copy = jax.jit(lambda a: jax.tree.map(jnp.negative, a))
    other = jax.tree.map(jnp.asarray, params_np)
    runners = []
    for name, fn, extra in (
        ("a+=s*b", axpy, (grads,)),
        ("triad", triad, (other, grads)),
        ("copy", copy, ()),
    ):
        box = [jax.tree.map(jnp.asarray, params_np)]
        compiled = fn.lower(box[0], *extra).compile()

        def run(n: int, compiled=compiled, box=box, extra=extra) -> None:
            a = box[0]
            for _ in range(n):
                a = compiled(a, *extra)
            jax.block_until_ready(a)
            box[0] = a

        runners.append(Runner(f"ceiling {name}", run, CEILING_BYTES[name]))
    return runners


# --------------------------------------------------------------------------- #
# Timing
# --------------------------------------------------------------------------- #


def calibrate(runner: Runner, target_s: float) -> int:
    """Steps per timed block so that one block lasts about ``target_s``."""
    runner.run(2)  # warm-up
    t0 = time.perf_counter()
    runner.run(1)
    one = max(time.perf_counter() - t0, 1e-7)
    return max(1, min(2000, round(target_s / one)))


def time_interleaved(runners: list[Runner], repeats: int, target_s: float) -> None:
    """Every repeat runs every runner once, in a fresh random order (seeded),
    each block on buffers freshly placed just before it (``Runner.replace``).

    A fixed rotation would let one runner follow torch's most of the time, and
    torch's OpenMP threads keep spinning for a while after a step, slowing
    whatever runs next: in a rotation of (ours, optax, torch-foreach,
    torch-fused) "ours" followed torch in every round and measured 0.84x
    against an identical optax program.
    """
    inner = [calibrate(r, target_s) for r in runners]
    order = list(range(len(runners)))
    rng = random.Random(len(runners))
    # The cyclic garbage collector stays off while timing: a collection
    # triggered by the allocations of one runner's calls would be charged to
    # whichever runner happened to cross the threshold.
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            rng.shuffle(order)
            for i in order:
                r = runners[i]
                if r.replace is not None:  # outside the timed region
                    r.replace(rng)
                t0 = time.perf_counter()
                r.run(inner[i])
                r.times.append((time.perf_counter() - t0) / inner[i])
    finally:
        gc.enable()


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #

HEADER = (
    "| case | optimizer | impl | ms/step median [min-max] | eff GB/s "
    "| x optax median (min) | % ceil | compile ms | peak / (p+g+s) | kernels "
    "| copies | HLO B/param | load |"
)
RULE = "|" + "---|" * (HEADER.count("|") - 1)


def fmt_ms(ts: list[float]) -> str:
    ms = [1e3 * t for t in ts]
    med = statistics.median(ms)
    digits = 3 if med < 1 else 2
    return f"{med:.{digits}f} [{min(ms):.{digits}f}-{max(ms):.{digits}f}]"


def records_for(case: str, opt: str, runners: list[Runner], n_params: int) -> list:
    """The rows of one group as plain data (what ``--record`` writes)."""
    optax = next((r.times for r in runners if r.label == "optax"), None)
    load = os.getloadavg()[0]
    out = []
    for r in runners:
        row = {
            "case": case,
            "optimizer": opt,
            "impl": r.label,
            "ms_median": 1e3 * statistics.median(r.times),
            "ms_min": 1e3 * min(r.times),
            "ms_max": 1e3 * max(r.times),
            "x_optax_median": None,
            "x_optax_min": None,
            "kernels": None if r.hlo is None else r.hlo.passes,
            "copies": None if r.hlo is None else r.hlo.copies,
            "hlo_bytes_per_param": None
            if r.hlo is None
            else round(r.hlo.per_param(n_params), 1),
            "load": round(load, 2),
        }
        if optax:
            row["x_optax_median"] = statistics.median(optax) / statistics.median(
                r.times
            )
            row["x_optax_min"] = min(optax) / min(r.times)
        out.append(row)
    return out


def rows_for(
    case: str,
    opt: str,
    runners: list[Runner],
    n_params: int,
    ceiling_gbs: float,
) -> list[str]:
    optax = next((r.times for r in runners if r.label == "optax"), None)
    load = f"{os.getloadavg()[0]:.1f}"
    out = []
    for r in runners:
        med = statistics.median(r.times)
        gbs = r.min_bytes * n_params / med / 1e9
        ratio = ""
        if optax:
            by_min = min(optax) / min(r.times)
            ratio = f"{statistics.median(optax) / med:.2f} ({by_min:.2f})"
        ceil = f"{100 * gbs / ceiling_gbs:.0f}" if ceiling_gbs else ""
        comp = f"{r.compile_ms:.0f}" if r.compile_ms is not None else ""
        if r.hlo is not None:
            kern, cop = str(r.hlo.passes), str(r.hlo.copies)
            bpp = f"{r.hlo.per_param(n_params):.1f}"
        else:
            kern = cop = bpp = ""
        out.append(
            f"| {case} | {opt} | {r.label} | {fmt_ms(r.times)} | {gbs:.1f} | {ratio} "
            f"| {ceil} | {comp} | {r.peak_ratio} | {kern} | {cop} | {bpp} | {load} |"
        )
    return out


def machine_description() -> str:
    import jax
    import optax

    try:
        import torch

        torch_version = f"torch {torch.__version__} (threads {torch.get_num_threads()})"
    except ImportError:
        torch_version = "no torch"
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        model = platform.processor()
    load = os.getloadavg()
    flags = os.environ.get("XLA_FLAGS", "")
    device = jax.devices()[0]
    where = "" if device.platform == "cpu" else f"device: {device.device_kind}; "
    return (
        f"{where}CPU: {model}, {os.cpu_count()} cores; "
        f"python {platform.python_version()}; jax {jax.__version__}, "
        f"optax {optax.__version__}, {torch_version}; XLA_FLAGS={flags!r}; "
        f"load average at start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}"
    )


def compile_table(cases: list[str], optimizers: list[str], repeats: int) -> None:
    """Trace+lower and XLA-compile times of ours vs optax, interleaved."""
    import jax.numpy as jnp

    print(
        "| case | optimizer | ours lower | ours compile | ours total "
        "| optax lower | optax compile | optax total | ours / optax |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        shapes = CASES[case][1]()
        params = {k: jnp.zeros(s, jnp.float32) for k, s in shapes.items()}
        for opt in optimizers:
            txs = dict(zip(("ours", "optax"), jax_transforms(opt), strict=True))
            states = {k: tx.init(params) for k, tx in txs.items()}
            lower: dict[str, list[float]] = {k: [] for k in txs}
            comp: dict[str, list[float]] = {k: [] for k in txs}
            for rep in range(repeats):
                order = list(txs) if rep % 2 == 0 else list(txs)[::-1]
                for k in order:
                    t0 = time.perf_counter()
                    lowered = jitted_step(txs[k]).lower(params, states[k], params)
                    t1 = time.perf_counter()
                    lowered.compile()
                    t2 = time.perf_counter()
                    lower[k].append(1e3 * (t1 - t0))
                    comp[k].append(1e3 * (t2 - t1))
            cells = []
            totals = {}
            for k in txs:
                lo, co = statistics.median(lower[k]), statistics.median(comp[k])
                totals[k] = statistics.median(
                    [a + b for a, b in zip(lower[k], comp[k], strict=True)]
                )
                cells += [f"{lo:.0f}", f"{co:.0f}", f"{totals[k]:.0f}"]
            ratio = totals["ours"] / totals["optax"]
            print(f"| {case} | {opt} | " + " | ".join(cells) + f" | {ratio:.2f} |")


def _command() -> str:
    return " ".join(["command: python -m benchmarks.step", *sys.argv[1:]])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.step", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="few repeats")
    parser.add_argument(
        "--cases",
        default=None,
        help="default A,B,C on CPU, A64,B64,C on an accelerator (vs its copy b/w)",
    )
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repetitions (default 51; 11 with --quick)",
    )
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument(
        "--no-control",
        action="store_true",
        help="leave out the A/A control (optax against a second copy of itself)",
    )
    parser.add_argument(
        "--executables",
        type=int,
        default=2,
        help="separately jitted copies of each JAX step, taken in turn (default 2)",
    )
    parser.add_argument(
        "--block-ms",
        type=float,
        default=5.0,
        help="length of one timed block in ms (at least one step; default 5)",
    )
    parser.add_argument(
        "--record",
        default=None,
        metavar="PATH",
        help="also write the run (date, machine, load, command, rows) as JSON",
    )
    parser.add_argument(
        "--ceiling",
        choices=sorted(CEILING_BYTES),
        default=None,
        help="reference for %% ceil (default: a+=s*b on CPU, copy elsewhere)",
    )
    parser.add_argument(
        "--compile-only",
        action="store_true",
        help="only the compile-time table (median of --repeats, default 9)",
    )
    args = parser.parse_args(argv)
    if args.executables < 1:
        parser.error(f"--executables must be at least 1, got {args.executables}")
    if args.block_ms <= 0:
        parser.error(f"--block-ms must be positive, got {args.block_ms}")
    if args.compile_only:
        print(_command())
        print(machine_description() + "\n")
        compile_table(
            (args.cases or "A,B,C").split(","),
            args.optimizers.split(","),
            args.repeats or 9,
        )
        return

    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", False)
    repeats = args.repeats or (11 if args.quick else 51)
    compile_repeats = 1 if args.quick else 5
    target_s = args.block_ms / 1e3
    on_cpu = jax.default_backend() == "cpu"
    cases = (args.cases or ("A,B,C" if on_cpu else "A64,B64,C")).split(",")
    optimizers = args.optimizers.split(",")

    reference = args.ceiling or ("a+=s*b" if jax.default_backend() == "cpu" else "copy")
    device = None if args.no_torch else torch_device()

    started = datetime.datetime.now(datetime.UTC)
    load_start = os.getloadavg()
    records: list = []
    print(_command())
    print(machine_description())
    print(f"repeats {repeats}, ~{1e3 * target_s:.0f} ms per timed block; ", end="")
    print(f"% ceil relative to: ceiling {reference}\n")
    print(HEADER)
    print(RULE)
    for case in cases:
        _, make_shapes = CASES[case]
        shapes = make_shapes()
        params_np = make_arrays(shapes, 0, 0.1)
        # Two gradient trees, alternated, so that no optimizer state drifts to
        # a degenerate value (a centred variance of exactly 0, denormals).
        grads_np = (make_arrays(shapes, 1, 1e-2), make_arrays(shapes, 2, 1e-2))
        n_params = sum(int(np.prod(s)) for s in shapes.values())
        grad_pair = tuple(jax.tree.map(jnp.asarray, g) for g in grads_np)
        grads = grad_pair[0]

        ceilings = ceiling_runners(params_np, grads, n_params)
        time_interleaved(ceilings, repeats, target_s)
        (ref,) = [r for r in ceilings if r.label == f"ceiling {reference}"]
        ceiling_gbs = ref.min_bytes * n_params / statistics.median(ref.times) / 1e9
        for line in rows_for(case, "-", ceilings, n_params, ceiling_gbs):
            print(line, flush=True)
        records += records_for(case, "-", ceilings, n_params)
        del ceilings

        for opt in optimizers:
            ours_tx, optax_tx = jax_transforms(opt)
            mb = MIN_BYTES[opt]
            copies = args.executables
            runners = [
                jax_runner("ours", ours_tx, params_np, grad_pair, mb, copies),
                jax_runner("optax", optax_tx, params_np, grad_pair, mb, copies),
            ]
            if not args.no_control:
                # the same transformation, jitted again: another executable
                # and other buffers, the same program
                runners.append(
                    jax_runner(CONTROL, optax_tx, params_np, grad_pair, mb, copies)
                )
            if device is not None:
                for mode in ("foreach", "fused"):
                    r = torch_runner(
                        f"torch-{mode}", opt, params_np, grads_np, mode, mb, device
                    )
                    if r is not None:
                        runners.append(r)
            time_compiles(runners, compile_repeats)
            time_interleaved(runners, repeats, target_s)
            for line in rows_for(case, opt, runners, n_params, ceiling_gbs):
                print(line, flush=True)
            records += records_for(case, opt, runners, n_params)
            del runners
            gc.collect()
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    if args.record:
        record = {
            "command": _command().removeprefix("command: "),
            "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "backend": jax.default_backend(),
            "repeats": repeats,
            "load_start": [round(x, 2) for x in load_start],
            "load_end": [round(x, 2) for x in os.getloadavg()],
            "rows": records,
        }
        with open(args.record, "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
        print(f"recorded in {args.record}")


if __name__ == "__main__":
    main()
