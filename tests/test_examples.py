"""The scripts of ``examples/`` run as documented (``python examples/X.py``) and
leave the directory they run in as they found them and add no file to the
checkout: what they write goes to a temporary directory or to one given on the
command line.
"""

from __future__ import annotations

import csv
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
# Smaller runs where a script takes options (the multi-process test runs the
# same script with these options and checks its output).
OPTIONS = {"multiprocess": ["--steps", "4", "--hidden", "16"]}
NEEDS = {
    "equinox_mlp": "equinox",
    "flax_linen": "flax",
    "flax_nnx": "flax",
    "haiku_mlp": "haiku",
    "orbax_checkpoint": "orbax.checkpoint",
}


def _run(tmp_path: pathlib.Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """Runs the example in an empty working directory with its own TMPDIR."""
    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        TMPDIR=str(tmp),
        PYTHONDONTWRITEBYTECODE="1",
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / f"{name}.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(cwd.iterdir()) == [], f"{name} wrote into the working directory"
    return result


def _untracked() -> set[str] | None:
    """Files in the checkout that git neither tracks nor ignores, or None.

    Only new files count: tracked files may change under a running suite (a
    developer editing, a merge), and no example writes to a tracked path."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return None
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line[3:] for line in status.splitlines() if line.startswith("??")}


def _csv_rows(path: pathlib.Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # runs the example script (as the other example tests)
def test_log_diagnostics_writes_to_a_temporary_directory(tmp_path):
    result = _run(tmp_path, "log_diagnostics")
    (written,) = (tmp_path / "tmp").glob("log_diagnostics_*/diagnostics.csv")
    assert f"written to {written}" in result.stdout
    rows = _csv_rows(written)
    assert len(rows) == 300 and rows[0]["step"] == "0"


@pytest.mark.slow
def test_log_diagnostics_writes_to_a_given_directory(tmp_path):
    out = tmp_path / "logs" / "run1"  # created if missing
    result = _run(tmp_path, "log_diagnostics", "--out", str(out))
    assert f"written to {out / 'diagnostics.csv'}" in result.stdout
    assert len(_csv_rows(out / "diagnostics.csv")) == 300
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_leaves_the_checkout_clean(tmp_path, name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    before = _untracked()
    _run(tmp_path, name, *OPTIONS.get(name, []))
    after = _untracked()
    assert before is None or after - before == set(), f"{name} wrote {after - before}"
