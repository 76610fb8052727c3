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
    test_explorer_callbacks.py test_integrations_flax_orbax.py
    test_integrations_guard.py test_integrations_optax.py
    test_integrations_orbax.py test_integrations_sharding.py
    test_multiprocess.py test_presets.py test_state_dtype_sharding.py""".split()
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log) -> object | None:
    """``--dist loadgroup`` (pyproject.toml's addopts) with the groups named
    here: each file of ``_ONE_WORKER_FILES`` is one work unit, every other
    test its own; the largest units are sent first (xdist's scope reorder).

    pytest-xdist's own loadgroup renames each marked test's node id in the
    worker (``item._nodeid``), which pytest 9 no longer reads: the
    ``xdist_group`` marks grouped nothing there, and each worker rebuilt the
    module fixtures of the files above. Grouping by file name in the
    scheduler works on every pytest."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            grouped = pathlib.PurePath(path).name in _ONE_WORKER_FILES
            return path if grouped else nodeid

    return FileGroups(config, log)


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """chex's eager variants (``..._without_jit``) run in the full suite only:
    the README's quick selection keeps the jitted variant of every test, the
    same checks on the same transformations (op by op, the eager ones cost
    3-5x more)."""
    for item in items:
        if item.name.endswith("__without_jit"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(params=[False, True], ids=["eager", "jit"])
def maybe_jit(request) -> Callable:
    """Runs a test body both eagerly and under ``jax.jit``."""
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
