"""Shared fixtures: eager/jit variants, float64, and a spy on the sweep's runs."""

from __future__ import annotations

from collections.abc import Callable

import jax
import pytest

# Files whose module-scoped fixtures train or build something costly (a
# training run per optimizer, a checkpoint, the docs site): under -n 2 each
# runs whole in one worker (``--dist loadgroup``), so the fixture is made once;
# every other test goes to whichever worker is free (the long browser file
# too: two warm servers finish sooner than one).
_ONE_WORKER_FILES = frozenset(
    """test_docs_site.py test_experiments.py test_experiments_libfann.py
    test_explorer_callbacks.py test_integrations_flax_orbax.py
    test_integrations_guard.py test_integrations_optax.py
    test_integrations_orbax.py test_integrations_sharding.py
    test_multiprocess.py test_state_dtype_sharding.py""".split()
)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups the files above for ``--dist loadgroup``; and chex's eager
    variants (``..._without_jit``) run in the full suite only: the README's
    quick selection keeps the jitted variant of every test, the same checks
    on the same transformations (op by op, the eager ones cost 3-5x more)."""
    for item in items:
        if item.path.name in _ONE_WORKER_FILES:
            item.add_marker(pytest.mark.xdist_group(item.path.name))
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
