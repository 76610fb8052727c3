"""Shared fixtures: eager/jit variants, float64, and a spy on the sweep's runs."""

from __future__ import annotations

from collections.abc import Callable

import jax
import pytest


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
