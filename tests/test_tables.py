"""The tables of optimizers and primitives under test cover every public factory.

A new public optimizer or primitive fails here until it is in each table (or,
for a table, named in its EXCUSED entry with the test that covers it instead).
Factories are found in the tables by object (``rj.rmsprop``) or by the names a
``lambda`` or ``functools.partial`` calls (``lambda: rj.rprop(0.1)``).
"""

from __future__ import annotations

import functools
import inspect
import types

import integration_problems
import pytest
import test_api
import test_optimizers
import test_transforms

import rmsprop_jax as rj
from rmsprop_jax import optimizers as _optimizers
from rmsprop_jax import transforms as _transforms


def _public(module_prefix: str) -> set[str]:
    """Public factories of ``rmsprop_jax`` defined under ``module_prefix``."""
    return {
        name
        for name in rj.__all__
        if inspect.isfunction(obj := getattr(rj, name))
        and obj.__module__.startswith(module_prefix)
    }


OPTIMIZERS = _public(_optimizers.__name__)
PRIMITIVES = _public(_transforms.__name__)


def _names_in_code(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_in_code(const)
    return names


def _factories(entry, public: set[str]) -> set[str]:
    """The public factories an entry of a table (a tuple, dict, function,
    lambda or partial, nested) refers to."""
    if isinstance(entry, tuple | list):
        return set().union(*(_factories(x, public) for x in entry))
    if isinstance(entry, dict):
        return set().union(*(_factories(x, public) for x in entry.values()))
    if isinstance(entry, functools.partial):
        return _factories(entry.func, public)
    if inspect.isfunction(entry):
        if entry.__name__ in public and getattr(rj, entry.__name__) is entry:
            return {entry.__name__}
        return _names_in_code(entry.__code__) & public
    return set()


# table -> (its rows, the factories it must hold, excused factories: the test that
# covers each instead)
TABLES = {
    "test_optimizers.OPTIMIZERS (NumPy reference chains)": (
        test_optimizers.OPTIMIZERS,
        OPTIMIZERS,
        {
            "rprop": "test_rprop_optimizer_matches_reference (all four variants)",
            "amsgrad": "test_amsgrad_and_adadelta_equal_optax_in_float64",
            "adadelta": "test_amsgrad_and_adadelta_equal_optax_in_float64",
        },
    ),
    "test_optimizers.FACTORIES_WITH_ARRAYS (traced hyperparameters)": (
        test_optimizers.FACTORIES_WITH_ARRAYS,
        OPTIMIZERS,
        {},
    ),
    "test_optimizers.CONVERGENCE": (test_optimizers.CONVERGENCE, OPTIMIZERS, {}),
    "integration_problems.OPTIMIZERS (frameworks)": (
        integration_problems.OPTIMIZERS,
        OPTIMIZERS,
        {
            "amsgrad": "tests/test_every_factory.py (the optax wrappers, donation, "
            "empty trees, meta-gradients of every factory)",
            "adadelta": "tests/test_every_factory.py (the optax wrappers, donation, "
            "empty trees, meta-gradients of every factory)",
        },
    ),
    "test_transforms.PRIMITIVES (NumPy references)": (
        test_transforms.PRIMITIVES,
        PRIMITIVES,
        {
            "scale_by_rprop": "test_transforms.RPROP_CASES (the paper's pseudo-code)",
            "precondition_by_rms": "test_optimizers.OPTIMIZERS: adam and laprop "
            "against NumPy references",
            "scale_by_adadelta": "test_presets: torch_adadelta and keras_adadelta "
            "golden trajectories of real torch and Keras runs",
        },
    ),
    "test_transforms.ALL_PRIMITIVES (state, dtypes, jit)": (
        test_transforms.ALL_PRIMITIVES,
        PRIMITIVES,
        {},
    ),
}


def test_the_public_factories_are_found():
    assert {"rmsprop", "rprop", "adagrad", "sgd", "sign_sgd", "adam"} <= OPTIMIZERS
    assert {"scale_by_rms", "scale_by_rprop", "momentum"} <= PRIMITIVES
    assert not OPTIMIZERS & PRIMITIVES


@pytest.mark.parametrize("table", list(TABLES))
def test_table_covers_every_public_factory(table):
    rows, required, excused = TABLES[table]
    covered = _factories(
        list(rows.values()) if isinstance(rows, dict) else rows, required
    )
    missing = required - covered - set(excused)
    assert not missing, f"{table} has no row for {sorted(missing)}"
    stale = set(excused) & covered
    assert not stale, f"{table} excuses {sorted(stale)}, which it now holds"
    assert set(excused) <= required, f"{table} excuses unknown {set(excused)}"


def test_api_contract_names_every_public_factory():
    missing = (OPTIMIZERS | PRIMITIVES) - set(test_api.CONTRACT)
    assert not missing, f"test_api.CONTRACT has no signature for {sorted(missing)}"
