"""The validation every preset shares: the frameworks' rules, said once.

Each rule names the argument, its value and the framework rule it follows
(``why``), as :mod:`rmsprop_jax._checks` words it; learning-rate schedules
pass the range checks (they are read at every step, not here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import optax

from rmsprop_jax import _checks

# The frameworks' names of the learning rate: a schedule there is allowed.
LEARNING_RATES = ("lr", "learning_rate")


def check_nonnegative(rule: str, **values: Any) -> None:
    """``value >= 0`` for each named value; learning-rate schedules pass."""
    for name, value in values.items():
        if name in LEARNING_RATES and _checks.is_schedule(value):
            continue
        _checks.check_range(name, value, 0.0, why=f" ({rule})")


def check_unit(rule: str, **values: Any) -> None:
    """``value`` in [0, 1], a rule stricter than (or absent from) ``rule``."""
    for name, value in values.items():
        _checks.check_range(name, value, 0.0, 1.0, why=f" ({rule})")


def check_flag(name: str, value: Any) -> None:
    """``value`` is a bool (Python's or NumPy's)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"`{name}` must be True or False, got {value!r}.")


def pair(name: str, value: Any) -> tuple[Any, Any]:
    """The two numbers of ``value`` (torch's ``betas``, ``etas``, ...)."""
    if not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"`{name}` must be a pair of two numbers, got {value!r}.")
    return value[0], value[1]


def negate(maximize: bool) -> tuple[optax.GradientTransformation, ...]:
    """torch's ``maximize``: the gradient is negated first, before weight decay."""
    check_flag("maximize", maximize)
    return (optax.scale(-1.0),) if maximize else ()
