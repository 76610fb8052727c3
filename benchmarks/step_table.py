"""The published step table, rendered from a recorded run of ``benchmarks.step``.

``python -m benchmarks.step --record benchmarks/results/step_cpu.json`` writes
a run (its date, machine, load, command and every row) as JSON; this module
renders that run's ratios against optax as ``docs/tables/step_cpu.md``, from
which ``docs/tables/sync.py`` copies it into the README and
``benchmarks/RESULTS.md``. Every ratio printed there is thus the output of one
named run of the code, and ``tests/test_docs_tables.py`` fails when a copy, or
the rendered file, no longer matches the recorded run.

Usage::

    python -m benchmarks.step_table            # render, then copy (docs/tables/sync.py)
    python -m benchmarks.step_table --check    # exit 1 if anything is stale
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import sys
from typing import Any

from benchmarks.cases import CASES, CONTROL, OPTIMIZERS

ROOT = pathlib.Path(__file__).resolve().parent.parent
RECORD = ROOT / "benchmarks" / "results" / "step_cpu.json"
TABLE = ROOT / "docs" / "tables" / "step_cpu.md"


def load(path: pathlib.Path = RECORD) -> dict[str, Any]:
    """A run written by ``benchmarks.step --record``."""
    return json.loads(pathlib.Path(path).read_text())


def from_output(text: str, date: str) -> dict[str, Any]:
    """The record of a run from its printed output (what ``benchmarks.step``
    prints: the command line, the machine line, the table, the end load), for
    a run whose ``--record`` file was not written; ``date`` is when it began.
    Times and ratios keep the printed digits."""
    lines = text.splitlines()
    command = next(x for x in lines if x.startswith("command: "))
    machine = next(x for x in lines if "load average at start" in x)
    repeats = next(x for x in lines if x.startswith("repeats "))
    end = next(x for x in lines if x.startswith("load average at end"))
    start = machine.split("load average at start ")[1].split(", ")
    rows = []
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 13 or cells[0] in ("case", "---"):
            continue
        ms = cells[3].replace("[", "").replace("]", "").replace("-", " ").split()
        ratio = cells[5].replace("(", "").replace(")", "").split()
        rows.append(
            {
                "case": cells[0],
                "optimizer": cells[1],
                "impl": cells[2],
                "ms_median": float(ms[0]),
                "ms_min": float(ms[1]),
                "ms_max": float(ms[2]),
                "x_optax_median": float(ratio[0]) if ratio else None,
                "x_optax_min": float(ratio[1]) if ratio else None,
                "kernels": int(cells[9]) if cells[9] else None,
                "copies": int(cells[10]) if cells[10] else None,
                "hlo_bytes_per_param": float(cells[11]) if cells[11] else None,
                "load": float(cells[12]),
            }
        )
    return {
        "command": command.removeprefix("command: "),
        "date": date,
        "machine": machine,
        "backend": "cpu" if machine.startswith("CPU") else "accelerator",
        "repeats": int(repeats.split()[1].rstrip(",")),
        "load_start": [float(x) for x in start],
        "load_end": [float(end.split()[-1])],
        "rows": rows,
        "source": "parsed from the run's printed output",
    }


def _ratio(row: dict[str, Any]) -> str:
    return f"{row['x_optax_min']:.2f}x ({row['x_optax_median']:.2f}x)"


def render(record: dict[str, Any]) -> str:
    """The Markdown of the table: a line naming the run, then one row per
    optimizer with ours/optax by the minimum (the median in brackets) for each
    case, and the kernels and HLO bytes per parameter of ours and optax; a
    last row, for a run with the A/A control, gives its range of ratios."""
    rows = {(r["case"], r["optimizer"], r["impl"]): r for r in record["rows"]}
    cases = [c for c in CASES if any(k[0] == c for k in rows)]
    load_start, load_end = record["load_start"][0], record["load_end"][0]
    machine = record["machine"].split("; load average")[0]
    lines = [
        f"Run of {record['date']}: `{record['command']}` "
        f"({record['repeats']} interleaved repeats); {machine}; "
        f"1-minute load {load_start:.1f} at the start, {load_end:.1f} at the end. "
        "Ratio = optax's time / ours by the minimum over the repeats (by the "
        "median in brackets); above 1.00x ours is faster. Kernels and bytes per "
        "parameter: the optimized HLO, ours / optax.",
        "",
        "| optimizer | "
        + " | ".join(f"{c}: {CASES[c][0]}" for c in cases)
        + f" | kernels ({cases[0]}) | HLO B/param ({cases[0]}) |",
        "|---|" + "---|" * (len(cases) + 2),
    ]
    for opt in OPTIMIZERS:
        cells = []
        for case in cases:
            row = rows.get((case, opt, "ours"))
            cells.append("" if row is None else _ratio(row))
        ours = rows.get((cases[0], opt, "ours"))
        theirs = rows.get((cases[0], opt, "optax"))
        if ours is None and all(not c for c in cells):
            continue
        hlo = ["", ""]
        if ours is not None and theirs is not None:
            hlo = [
                f"{ours['kernels']} / {theirs['kernels']}",
                f"{ours['hlo_bytes_per_param']} / {theirs['hlo_bytes_per_param']}",
            ]
        lines.append(f"| `{opt}` | " + " | ".join(cells + hlo) + " |")
    control = _control_row(rows, cases)
    if control:
        lines.append(control)
    return "\n".join(lines) + "\n"


def _control_row(rows: dict, cases: list[str]) -> str:
    """The A/A control's row, for a run that timed it (none before): per case,
    the lowest and highest ratio, by the minimum, of optax against a second
    copy of itself over the optimizers' groups: the noise floor of the run."""
    cells = []
    for case in cases:
        ratios = [
            r["x_optax_min"]
            for (c, _, impl), r in rows.items()
            if c == case and impl == CONTROL
        ]
        cells.append(f"{min(ratios):.2f}x to {max(ratios):.2f}x" if ratios else "")
    if not any(cells):
        return ""
    return (
        f"| {CONTROL}: optax against itself (noise floor) | "
        + " | ".join([*cells, "", ""])
        + " |"
    )


def _sync_module():
    spec = importlib.util.spec_from_file_location(
        "docs_tables_sync", ROOT / "docs" / "tables" / "sync.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.step_table", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--record", default=str(RECORD), help="the run (JSON)")
    parser.add_argument("--check", action="store_true", help="report, do not write")
    parser.add_argument(
        "--from-output",
        nargs=2,
        metavar=("FILE", "DATE"),
        help="first write the record from a run's printed output, begun at DATE",
    )
    args = parser.parse_args(argv)
    if args.from_output:
        output, date = args.from_output
        record = from_output(pathlib.Path(output).read_text(), date)
        pathlib.Path(args.record).write_text(json.dumps(record, indent=1) + "\n")
    text = render(load(pathlib.Path(args.record)))
    stale = []
    if not TABLE.exists() or TABLE.read_text() != text:
        stale.append(str(TABLE.relative_to(ROOT)))
        if not args.check:
            TABLE.write_text(text)
    stale += _sync_module().stale(write=not args.check)
    for path in stale:
        print(f"{path}: {'stale' if args.check else 'rewritten'}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
