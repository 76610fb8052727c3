"""Checks of the decay rates shared by the primitives (concrete values only)."""

from __future__ import annotations

import numpy as np
from jax.typing import ArrayLike

from rmsprop_jax import _checks


def check_decay(name: str, decay: ArrayLike, *, bias_correction: bool) -> None:
    """An EMA rate in [0, 1], or in [0, 1) where ``1 - decay**t`` divides."""
    if bias_correction:
        # The formula in the caller's name (b2, rho, ...), not the primitives'.
        why = f" with bias correction (1 - {name}**t must not vanish)"
        _checks.check_range(name, decay, 0.0, 1.0, hi_open=True, why=why)
    else:
        _checks.check_range(name, decay, 0.0, 1.0)


def check_not_frozen(
    name: str, decay: ArrayLike, initial: str, value: ArrayLike
) -> None:
    """Rejects ``decay = 1`` with a zero initial accumulator: the second moment
    would stay 0 and every step be ``g / sqrt(eps)``, whatever the gradients."""
    rate = _checks.concrete_values(name, decay)
    start = _checks.concrete_values(initial, value)
    if rate is None or start is None:
        return
    if np.any((rate == 1) & (start <= 0)):
        raise ValueError(
            f"`{name}=1` keeps the second moment at its initial value, and "
            f"`{initial}={value!r}` makes that 0: every update would be "
            f"g / sqrt(eps), ignoring the gradients' scale. Use {name} < 1, or "
            f"{initial} > 0 for a fixed preconditioner."
        )
