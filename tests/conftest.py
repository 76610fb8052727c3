"""Shared fixtures: eager/jit variants, float64, and a spy on the sweep's runs."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import jax
import pytest

# Files whose module-scoped fixtures (or cached runs) train or build something
# costly (a training run per optimizer, a checkpoint, the docs site, the
# presets' golden-case runs that the live framework tests reuse): under -n 2
# each runs whole in one worker (see pytest_xdist_make_scheduler), so it is
# made once; every other test goes to whichever worker is free (the long
# browser file too: two warm servers finish sooner than one).
_ONE_WORKER_FILES = frozenset(
    """test_docs_site.py test_experiments.py test_experiments_libfann.py
    test_integrations_flax_orbax.py test_integrations_guard.py
    test_integrations_optax.py test_integrations_orbax.py
    test_integrations_sharding.py test_multiprocess.py test_presets.py
    test_state_dtype_multiprocess.py test_state_dtype_sharding.py""".split()
)
# The explorer's compiled runs are cached in the process
# (rmsprop_jax.explorer._compute): its tests and doctests share one worker, so
# each landscape's program is compiled once, not once per worker.
_EXPLORER = (
    "tests/test_explorer.py",
    "tests/test_explorer_views.py",
    "tests/test_explorer_callbacks.py",
    "rmsprop_jax/explorer/",
    # the typed formulas' evaluator, compiled once per process
    "tests/test_landscapes.py",
    "rmsprop_jax/landscapes.py",
)


def _work_unit(nodeid: str) -> str:
    """The unit of ``--dist loadgroup`` a test belongs to: its file, the
    explorer's group, or the test alone."""
    path = nodeid.split("::", 1)[0]
    if path.startswith(_EXPLORER):
        return "explorer"
    return path if pathlib.PurePath(path).name in _ONE_WORKER_FILES else nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log) -> object | None:
    """``--dist loadgroup`` (pyproject.toml's addopts) with the units of
    :func:`_work_unit`; the largest units are sent first (xdist's scope
    reorder), so no group is left alone on one worker at the end.

    pytest-xdist's own loadgroup renames each marked test's node id in the
    worker (``item._nodeid``), which pytest 9 no longer reads: its
    ``xdist_group`` marks grouped nothing there, and each worker rebuilt the
    module fixtures of the files above. Grouping in the scheduler works on
    every pytest."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Groups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid)

    return Groups(config, log)


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """chex's eager variants (``..._without_jit``) run in the full suite only:
    the README's quick selection keeps the jitted variant of every test, the
    same checks on the same transformations (op by op, the eager ones cost
    3-5x more)."""
    for item in items:
        if item.name.endswith("__without_jit"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(
    params=[pytest.param(False, marks=pytest.mark.slow), True], ids=["eager", "jit"]
)
def maybe_jit(request) -> Callable:
    """Runs a test body both eagerly and under ``jax.jit``; as chex's
    variants, the eager one runs in the full suite only."""
    return jax.jit if request.param else (lambda f: f)


@pytest.fixture
def x64():
    """Enables float64 for one test only."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def calls(monkeypatch) -> list[tuple]:
    """The (program, *args) of every sweep call (a spy on the sweep's runner)."""
    from rmsprop_jax.sweep import _program

    seen = []
    run = _program.run

    def spy(program, *args):
        seen.append((program, *args))
        return run(program, *args)

    monkeypatch.setattr(_program, "run", spy)
    return seen
