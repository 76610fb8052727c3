"""Memory passes of a compiled XLA program, read from its optimized HLO text.

For every instruction of the entry computation that touches memory (a fusion, a
copy, a custom call, ...), this counts the bytes it reads (its operands) and
writes (its result). Instructions that move no data -- parameters, tuples,
get-tuple-element, bitcasts, constants -- are skipped. A "pass" is such an
instruction touching at least ``min_bytes``: on a 16M-parameter leaf every
elementwise loop is one pass over (some of) the optimizer's buffers.

XLA:CPU splits a loop over several threads when its cost model says so
(``outer_dimension_partitions`` in the instruction's backend config). A loop
that counts more element-wise operations (bit casts included) than it moves
bytes is split early: a product of 13 float32 arrays of 5000 elements is
split, one of 12 is not (two arrays read, one written: 12 bytes per element).
The root EMA step (17 operations over 12 bytes per element) is thus split from
about 1.4k elements on, where optax's loops (at most one operation per byte)
are split only from 128k. The "split" column counts such loops: on a small
tree each hands part of its elements to another thread, a wake-up per step.

Run ``python -m benchmarks.hlo_passes`` for the table over the optimizers and
cases of ``benchmarks/cases.py`` (the ones ``benchmarks.step`` times).
"""

from __future__ import annotations

import argparse
import dataclasses
import re

from benchmarks import cases

_DTYPE_BYTES = {
    "pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2,
    "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8,
    "c128": 16, "token": 0,
}  # fmt: skip
_ARRAY = re.compile(r"\b([a-z]+[0-9]*)\[([0-9,]*)\]")
_INSTR = re.compile(r"^\s*(ROOT\s+)?%(\S+)\s*=\s*(.*)$")
_TASKS = re.compile(r'"outer_dimension_partitions":\[([^\]]*)\]')
_FREE = {
    "parameter", "tuple", "get-tuple-element", "bitcast", "constant",
    "after-all", "opt-barrier",
}  # fmt: skip


def shape_bytes(shape: str) -> int:
    """Bytes of every array in an HLO shape string (tuples summed)."""
    total = 0
    for dtype, dims in _ARRAY.findall(shape):
        if dtype not in _DTYPE_BYTES:
            continue
        n = 1
        for d in filter(None, dims.split(",")):
            n *= int(d)
        total += n * _DTYPE_BYTES[dtype]
    return total


def _split_shape_and_op(rhs: str) -> tuple[str, str, str]:
    """``'f32[4]{0} add(%a, %b), meta'`` -> (shape, opcode, operand text)."""
    depth = 0
    for i, ch in enumerate(rhs):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == " " and depth == 0:
            shape, rest = rhs[:i], rhs[i + 1 :]
            break
    else:
        return rhs, "", ""
    m = re.match(r"([a-z][a-z0-9\-_.]*)\(", rest)
    if not m:
        return shape, rest.split(" ")[0], ""
    start = m.end()
    depth, j = 1, start
    while depth and j < len(rest):
        depth += {"(": 1, ")": -1}.get(rest[j], 0)
        j += 1
    return shape, m.group(1), rest[start : j - 1]


@dataclasses.dataclass(frozen=True)
class Pass:
    """One memory-touching instruction of the entry computation."""

    name: str
    opcode: str
    bytes_read: int
    bytes_written: int
    tasks: int = 1  # threads XLA:CPU splits the loop over

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written


def entry_passes(hlo_text: str, min_bytes: int = 0) -> list[Pass]:
    """The memory-touching instructions of the ENTRY computation, in order."""
    lines = hlo_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ENTRY"))
    shapes: dict[str, str] = {}
    passes = []
    for line in lines[start + 1 :]:
        if line.startswith("}"):
            break
        m = _INSTR.match(line)
        if not m:
            continue
        name, rhs = m.group(2), m.group(3)
        shape, opcode, operands = _split_shape_and_op(rhs)
        shapes[name] = shape
        if opcode in _FREE:
            continue
        names = re.findall(r"%([^\s,()]+)", operands)
        read = sum(shape_bytes(shapes.get(n, "")) for n in names)
        written = shape_bytes(shape)
        tasks = 1
        for part in _TASKS.findall(rhs):
            for n in re.findall(r"\d+", part):
                tasks *= int(n)
        if read + written >= min_bytes:
            passes.append(Pass(name, opcode, read, written, tasks))
    return passes


@dataclasses.dataclass(frozen=True)
class Summary:
    """Passes, their bytes, how many are copies, how many are split over
    threads."""

    passes: int
    copies: int
    bytes: int
    fusions_per_kind: dict[str, int]
    split: int = 0

    def per_param(self, n_params: int) -> float:
        return self.bytes / n_params


def summarize(hlo_text: str, min_bytes: int = 0) -> Summary:
    """Counts the passes of ``hlo_text`` touching at least ``min_bytes``."""
    ps = entry_passes(hlo_text, min_bytes)
    kinds: dict[str, int] = {}
    for p in ps:
        kinds[p.opcode] = kinds.get(p.opcode, 0) + 1
    return Summary(
        passes=len(ps),
        copies=sum(p.opcode == "copy" for p in ps),
        bytes=sum(p.bytes for p in ps),
        fusions_per_kind=kinds,
        split=sum(p.tasks > 1 for p in ps),
    )


def describe(hlo_text: str, min_bytes: int = 1 << 20) -> str:
    """One line per pass: name, bytes read and written (MiB)."""
    rows = [
        f"  {p.name:<32} {p.opcode:<10} read {p.bytes_read / 2**20:8.1f} MiB"
        f"  write {p.bytes_written / 2**20:8.1f} MiB"
        for p in entry_passes(hlo_text, min_bytes)
    ]
    return "\n".join(rows)


def _table(case_names: list[str], optimizers: list[str], detail: bool) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    print(
        "| case | optimizer | impl | kernels | passes >= 1 MiB | copies "
        "| HLO bytes/param | minimal bytes/param | split |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    details = []
    for case in case_names:
        shapes = cases.CASES[case][1]()
        n = sum(int(np.prod(s)) for s in shapes.values())
        params = {k: jnp.zeros(s, jnp.float32) for k, s in shapes.items()}
        for opt in optimizers:
            for label, tx in zip(
                ("ours", "optax"), cases.jax_transforms(opt), strict=True
            ):
                state = tx.init(params)
                text = (
                    cases.jitted_step(tx).lower(params, state, params).compile()
                ).as_text()
                every, big = summarize(text), summarize(text, 1 << 20)
                print(
                    f"| {case} | {opt} | {label} | {every.passes} | {big.passes} "
                    f"| {every.copies} | {every.per_param(n):.1f} "
                    f"| {cases.MIN_BYTES[opt]} | {every.split} |",
                    flush=True,
                )
                if detail and case == "A":
                    details.append(f"{opt} / {label}:\n{describe(text)}")
        jax.clear_caches()
    if details:
        print("\nPasses of case A (>= 1 MiB), bytes read and written:\n")
        print("\n".join(details))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hlo_passes", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--cases", default="A,B,C")
    parser.add_argument("--optimizers", default=",".join(cases.OPTIMIZERS))
    parser.add_argument("--detail", action="store_true", help="list A's passes")
    args = parser.parse_args(argv)
    _table(args.cases.split(","), args.optimizers.split(","), args.detail)


if __name__ == "__main__":
    main()
