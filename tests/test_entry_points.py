"""Every ``python -m`` entry point that needs an extra, run without it: one line
on stderr naming the extra to install, exit status 1, no traceback.

The extra's modules are made unimportable in the child process by a
``sitecustomize`` (imported at start-up) that puts ``None`` in ``sys.modules``
for them, which is what Python reports as "No module named ...".
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# module run with -m, its extra(s), the top-level modules that extra provides;
# the benchmarks import JAX before their check, so they are slow (about 2 s each).
ENTRY_POINTS = [
    pytest.param(
        "rmsprop_jax.explorer",
        "explorer",
        ("dash", "plotly", "werkzeug"),
        id="explorer",
    ),
    pytest.param(
        "experiments",
        "experiments",
        ("matplotlib", "sklearn", "flax"),
        id="experiments",
    ),
    *[
        pytest.param(module, extra, provided, marks=pytest.mark.slow, id=module)
        for module, extra, provided in [
            ("benchmarks.sweep", "experiments", ("sklearn",)),
            ("benchmarks.sweep_cache", "experiments", ("sklearn",)),
            ("benchmarks.sweep_profile", "experiments", ("sklearn",)),
            ("benchmarks.sweep_figure", "experiments", ("matplotlib", "sklearn")),
            ("benchmarks.explorer", "explorer,test", ("dash", "plotly", "playwright")),
        ]
    ],
]


def _run_without(
    tmp_path: pathlib.Path, blocked: tuple[str, ...], *args: str
) -> subprocess.CompletedProcess:
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in blocked)
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("module", "extra", "provided"), ENTRY_POINTS)
def test_missing_extra_is_one_line(tmp_path, module, extra, provided):
    result = _run_without(tmp_path, provided, "-m", module)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        f"python -m {module} needs the {extra} "
        f"extra{'s' if ',' in extra else ''} (missing: {', '.join(provided)}): "
        f'pip install -e ".[{extra}]"\n'
    )


def test_each_missing_module_is_named(tmp_path):
    """What the newcomer met: Dash installed, werkzeug not."""
    result = _run_without(tmp_path, ("werkzeug",), "-m", "rmsprop_jax.explorer")
    assert result.returncode == 1
    assert result.stderr == (
        "python -m rmsprop_jax.explorer needs the explorer extra (missing: "
        'werkzeug): pip install -e ".[explorer]"\n'
    )


def test_blocking_works(tmp_path):
    """The check above is not vacuous: the sitecustomize does hide a module."""
    result = _run_without(tmp_path, ("dash",), "-c", "import dash")
    assert result.returncode == 1
    assert "ModuleNotFoundError" in result.stderr


def test_explorer_help_needs_no_extra(tmp_path):
    result = _run_without(
        tmp_path, ("dash", "plotly", "werkzeug"), "-m", "rmsprop_jax.explorer", "-h"
    )
    assert result.returncode == 0, result.stderr
    assert "usage: python -m rmsprop_jax.explorer" in result.stdout
