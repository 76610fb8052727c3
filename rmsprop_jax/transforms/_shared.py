"""Private helpers shared by the primitives of :mod:`rmsprop_jax.transforms`.

Step counts, bias corrections, the root of a second moment and the EMA engine
that :func:`~rmsprop_jax.scale_by_rms` and
:func:`~rmsprop_jax.precondition_by_rms` both run on. Imported by name.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes


def root(variance: jax.Array, eps: ArrayLike, eps_in_sqrt: bool) -> jax.Array:
    """``sqrt(variance + eps)``, or ``sqrt(variance) + eps`` with eps outside."""
    return jnp.sqrt(variance + eps) if eps_in_sqrt else jnp.sqrt(variance) + eps


def new_count(needed: bool) -> jax.Array | None:
    """A step count of 0, or None where nothing reads it.

    A state keeps a count only where the update reads it (as optax's states
    do): every extra state leaf is one more kernel and output buffer of a
    jitted step, which shows on small models.
    """
    return jnp.zeros([], jnp.int32) if needed else None


def increment(count: jax.Array | None) -> jax.Array | None:
    return None if count is None else optax.safe_increment(count)


def bias_correction_factor(
    decay: ArrayLike, count: jax.Array, enabled: bool
) -> jax.Array | None:
    """``1 - decay**count`` if enabled, else None (no correction)."""
    return 1 - decay**count if enabled else None


def times(factor: Any, x: jax.Array) -> jax.Array:
    """``factor * x``; no operation at all when ``factor`` is the literal 1.

    ``x * 1 == x`` for every float (NaN and infinities included), so skipping
    it changes no result, only the time it takes to trace. Anything but a
    Python int or float (a traced or NumPy factor, whose dtype could promote
    ``x``) is always multiplied.
    """
    if type(factor) in (int, float) and factor == 1:
        return x
    return factor * x


def unbias(x: jax.Array, correction: jax.Array | None) -> jax.Array:
    """``x / correction``; no operation at all without a correction."""
    return x if correction is None else x / correction


def check_decay(name: str, decay: ArrayLike, bias_correction: bool) -> None:
    """An EMA rate in [0, 1], or in [0, 1) where ``1 - decay**t`` divides."""
    if bias_correction:
        why = " with bias correction (1 - decay**t must not vanish)"
        _checks.check_range(name, decay, 0.0, 1.0, hi_open=True, why=why)
    else:
        _checks.check_range(name, decay, 0.0, 1.0)


def rms_init(
    params: optax.Params,
    initial_scale: ArrayLike,
    centered: bool,
    counted: bool,
    dtype: Any,
) -> tuple[jax.Array | None, optax.Updates, optax.Updates | None]:
    """``(count, nu, mu)`` of a fresh second-moment state."""
    return (
        new_count(counted),
        _dtypes.full_like_accumulator(params, initial_scale, dtype),
        _dtypes.zeros_like_accumulator(params, dtype) if centered else None,
    )


def rms_accumulate(grads: optax.Updates, state: Any, decay: ArrayLike) -> Any:
    """One EMA step of the second (and, if kept, first) moments of a state with
    fields ``count``, ``nu`` and ``mu`` (a :class:`ScaleByRmsState`)."""

    def ema(g: jax.Array, old: jax.Array, power: int) -> jax.Array:
        g = _dtypes.cast(g, _dtypes.compute_dtype(g, old))
        return _dtypes.cast(decay * old + (1 - decay) * g**power, old.dtype)

    nu = jax.tree.map(lambda g, n: ema(g, n, 2), grads, state.nu)
    mu = None
    if state.mu is not None:
        mu = jax.tree.map(lambda g, m: ema(g, m, 1), grads, state.mu)
    return state._replace(count=increment(state.count), nu=nu, mu=mu)


def rms_divide(
    numerators: optax.Updates,
    state: Any,
    decay: ArrayLike,
    eps: ArrayLike,
    eps_in_sqrt: bool,
    bias_correction: bool,
    numerator_decay: ArrayLike | None = None,
) -> optax.Updates:
    """``numerators_hat / root(nu_hat - mu_hat**2 + eps)``, leaf by leaf;
    ``numerators_hat`` is ``numerators / (1 - numerator_decay**t)`` if a
    ``numerator_decay`` is given."""
    correction = bias_correction_factor(decay, state.count, bias_correction)
    numerator_correction = None
    if numerator_decay is not None:
        numerator_correction = bias_correction_factor(
            numerator_decay, state.count, True
        )

    def divide(x: jax.Array, nu: jax.Array, mu: jax.Array | None = None) -> jax.Array:
        dtype = _dtypes.compute_dtype(x, nu)
        variance = unbias(_dtypes.cast(nu, dtype), correction)
        if mu is not None:
            mean = unbias(_dtypes.cast(mu, dtype), correction)
            variance = jnp.maximum(variance - mean**2, 0)
        numerator = unbias(_dtypes.cast(x, dtype), numerator_correction)
        return _dtypes.cast(numerator / root(variance, eps, eps_in_sqrt), x.dtype)

    if state.mu is None:
        return jax.tree.map(divide, numerators, state.nu)
    return jax.tree.map(divide, numerators, state.nu, state.mu)
