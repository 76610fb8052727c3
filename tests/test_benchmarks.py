"""benchmarks/ is a package: importable modules, no ``sys.path`` edits, no
private module of the library, and the HLO table runs on the small case."""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))


def _params():
    for path in BENCHMARKS:
        yield pytest.param(path, id=path.name)


def _problems(path: pathlib.Path) -> list[str]:
    """``sys.path`` edits, imports of private library modules or names, and
    imports of sibling scripts as top-level modules."""
    siblings = {p.stem for p in BENCHMARKS}
    problems = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "path":
            if isinstance(node.value, ast.Name) and node.value.id == "sys":
                problems.append(f"line {node.lineno}: sys.path")
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules = [node.module]
            modules += [f"{node.module}.{a.name}" for a in node.names]
        for name in modules:
            parts = name.split(".")
            if parts[0] == "rmsprop_jax" and any(p.startswith("_") for p in parts):
                problems.append(f"line {node.lineno}: private {name}")
            if parts[0] in siblings:
                problems.append(f"line {node.lineno}: top-level import of {name}")
    return sorted(problems, key=lambda p: int(p.split(":")[0].split()[1]))


@pytest.mark.parametrize("path", list(_params()))
def test_benchmark_module_is_a_plain_package_module(path):
    assert _problems(path) == []
    importlib.import_module(f"benchmarks.{path.stem}")


def test_the_checker_sees_what_it_forbids(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import sys\nsys.path.insert(0, '.')\n"
        "from rmsprop_jax import _checks\n"
        "from rmsprop_jax.sweep import _program\n"
        "import rmsprop_jax._tree\n"
        "import step\n"
    )
    assert _problems(bad) == [
        "line 2: sys.path",
        "line 3: private rmsprop_jax._checks",
        "line 4: private rmsprop_jax.sweep._program",
        "line 5: private rmsprop_jax._tree",
        "line 6: top-level import of step",
    ]


@pytest.mark.slow  # compiles and inspects every benchmark case
def test_hlo_table_on_the_small_case():
    """Every optimizer's compiled step reads and writes no more bytes per
    parameter than optax's (a change of arithmetic once made XLA keep an
    intermediate buffer: 44 instead of 28 B/param for RMSprop, 3x slower)."""
    from benchmarks import cases, hlo_passes

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        hlo_passes.main(["--cases", "C", "--optimizers", ",".join(cases.OPTIMIZERS)])
    rows = [
        [c.strip() for c in r.split("|")[1:-1]] for r in out.getvalue().splitlines()[2:]
    ]
    table = {(r[1], r[2]): r for r in rows}
    assert {impl for _, impl in table} == {"optax", "ours"}
    for name in cases.OPTIMIZERS:
        ours, theirs = table[name, "ours"], table[name, "optax"]
        assert float(ours[6]) <= float(theirs[6]), name  # HLO bytes/param
        assert int(ours[5]) <= int(theirs[5]), name  # copies
    assert table["rmsprop", "ours"][7] == "20"  # the minimal bytes of benchmarks.cases


def test_the_published_step_table_is_the_recorded_run():
    """docs/tables/step_cpu.md, and its copies in the README and
    benchmarks/RESULTS.md, are what ``benchmarks.step_table`` renders from the
    recorded run benchmarks/results/step_cpu.json, which names its date,
    machine, load and command."""
    from benchmarks import step_table

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert step_table.main(["--check"]) == 0, out.getvalue()
    record = step_table.load()
    text = step_table.TABLE.read_text()
    for field in ("date", "command"):
        assert str(record[field]) in text
    assert record["command"].startswith("python -m benchmarks.step")


def test_the_step_table_renders_the_control_range_when_recorded():
    """A run with the A/A control (optax against a second copy of itself) gets
    a last row with the lowest and highest of its ratios per case; a record
    without it renders as before."""
    import copy

    from benchmarks import step_table
    from benchmarks.cases import CONTROL

    recorded = step_table.load()
    record = dict(recorded, rows=[r for r in recorded["rows"] if r["impl"] != CONTROL])
    assert CONTROL not in step_table.render(record)
    with_control = copy.deepcopy(record)
    for optimizer, ratio in (("rmsprop", 0.97), ("adam", 1.02)):
        row = dict(next(r for r in record["rows"] if r["impl"] == "optax"))
        row.update(case="A", optimizer=optimizer, impl=CONTROL, x_optax_min=ratio)
        with_control["rows"].append(row)
    lines = step_table.render(with_control).splitlines()
    assert lines[-1].startswith(f"| {CONTROL}")
    assert "| 0.97x to 1.02x |" in lines[-1]
    assert lines[:-1] == step_table.render(record).splitlines()
