"""The state of a root second moment: a fresh one, and one EMA step of it.

A state with fields ``count``, ``rms`` and ``mu`` (a
:class:`~rmsprop_jax.ScaleByRmsState`): ``rms`` holds the root of the EMA
of squared gradients (:mod:`._roots`), ``mu`` the EMA of gradients where
the variance is read (centred RMSprop).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes
from rmsprop_jax.transforms._corrections import increment, new_count
from rmsprop_jax.transforms._ema import EmaRates, ema_rates, ema_step
from rmsprop_jax.transforms._roots import root_ema_step


def rms_init(
    params: optax.Params,
    *,
    initial_scale: ArrayLike,
    centered: bool,
    counted: bool,
    dtype: Any,
) -> tuple[jax.Array | None, optax.Updates, optax.Updates | None]:
    """``(count, rms, mu)`` of a fresh second-moment state; ``rms`` holds
    ``sqrt(initial_scale)``, ``mu`` zeros (None unless ``centered``), the
    count 0 (None unless ``counted``)."""
    concrete = _checks.concrete_values("initial_scale", initial_scale)
    start = jnp.sqrt(initial_scale) if concrete is None else float(np.sqrt(concrete))
    return (
        new_count(needed=counted),
        _dtypes.full_like_accumulator(params, start, dtype),
        _dtypes.zeros_like_accumulator(params, dtype) if centered else None,
    )


def raw_rms_init(
    params: optax.Params, *, counted: bool, dtype: Any
) -> tuple[jax.Array | None, optax.Updates]:
    """``(count, rms)`` of a fresh second moment of the raw gradients, as the
    preconditioners (``precondition_by_rms``, ``precondition_by_max_rms``)
    keep it: zeros, not centered, the count 0 (None unless ``counted``)."""
    count, rms, _ = rms_init(
        params, initial_scale=0.0, centered=False, counted=counted, dtype=dtype
    )
    return count, rms


def rms_accumulate(
    grads: optax.Updates,
    state: Any,
    decay: ArrayLike,
    *,
    corrected: bool,
    zero_start: bool = False,
) -> Any:
    """One EMA step of the root second moment (and, if kept, the first moment)
    of a state with fields ``count``, ``rms`` and ``mu`` (a
    :class:`ScaleByRmsState`), with :func:`root_ema_step` and
    :func:`ema_step`.

    ``corrected=True`` (for a state with a count) keeps the bias-corrected
    moments, with the rates of :func:`ema_rates`. The first moment always
    starts at 0, and so does the second with ``zero_start=True`` (a state
    from ``rms_init`` with ``initial_scale`` 0): the weight that the first
    corrected step gives the initial value (``EmaRates.extra``) multiplies
    a 0 there, and is left out (one multiply-add per element fewer).
    """
    count = increment(state.count)
    rates: dict = {}

    def rates_in(dtype: Any, *, from_zero: bool) -> EmaRates:
        if dtype not in rates:
            rates[dtype] = ema_rates(decay, count, dtype, corrected=corrected)
        return rates[dtype]._replace(extra=None) if from_zero else rates[dtype]

    def stepped(step: Callable[..., jax.Array], *, from_zero: bool) -> Callable:
        """``step`` of one leaf in the compute dtype, stored back in its own."""

        def leaf(g: jax.Array, old: jax.Array) -> jax.Array:
            dtype = _dtypes.compute_dtype(g, old)
            new = step(
                _dtypes.cast(old, dtype),
                _dtypes.cast(g, dtype),
                rates_in(dtype, from_zero=from_zero),
            )
            return _dtypes.cast(new, old.dtype)

        return leaf

    rms = jax.tree.map(stepped(root_ema_step, from_zero=zero_start), grads, state.rms)
    mu = None
    if state.mu is not None:
        mu = jax.tree.map(stepped(ema_step, from_zero=True), grads, state.mu)
    return state._replace(count=count, rms=rms, mu=mu)
