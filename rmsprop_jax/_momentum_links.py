"""The momentum links the optimizers append: heavy ball where asked for,
Adam's first moment, and NAdam's numerator (optax's
``scale_by_adam(nesterov=True)``)."""

from __future__ import annotations

from typing import Any

import jax
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes, transforms
from rmsprop_jax.transforms._corrections import one_minus_power


def optional_momentum(
    decay: ArrayLike | None,
    nesterov: bool,
    accumulator_dtype: Any | None = None,
    state_dtype: Any | None = None,
) -> tuple[optax.GradientTransformation, ...]:
    _checks.check_requires("nesterov", nesterov, "momentum", decay)
    if decay is None:
        return ()
    _checks.check_range("momentum", decay, 0.0, 1.0)  # named as the caller knows it
    return (
        transforms.momentum(
            decay,
            nesterov=nesterov,
            accumulator_dtype=accumulator_dtype,
            state_dtype=state_dtype,
        ),
    )


def first_moment(
    b1: ArrayLike,
    mu_dtype: Any | None = None,
    state_dtype: Any | None = None,
    *,
    bias_correction: bool = False,
) -> optax.GradientTransformation:
    r"""Adam's first moment :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`
    (``momentum(b1, dampening=b1)``), stored in ``mu_dtype`` (optax's
    argument) or by ``state_dtype``."""
    return transforms.momentum(
        b1,
        dampening=b1,
        bias_correction=bias_correction,
        accumulator_dtype=mu_dtype,
        state_dtype=state_dtype,
    )


def nesterov_moment(
    b1: ArrayLike, mu_dtype: Any | None, state_dtype: Any | None = None
) -> optax.GradientTransformation:
    r"""NAdam's numerator (optax's ``scale_by_adam(nesterov=True)``),
    :math:`\beta_1 m_t/(1-\beta_1^{t+1}) + (1-\beta_1) g_t/(1-\beta_1^t)`,
    from the bias-corrected momentum :math:`\hat m_t = m_t/(1-\beta_1^t)`."""
    trace = first_moment(b1, mu_dtype, state_dtype, bias_correction=True)

    def update_fn(updates, state, params=None):
        corrected, state = trace.update(updates, state, params)

        def leaf(m_hat: jax.Array, g: jax.Array) -> jax.Array:
            dtype = m_hat.dtype
            c = one_minus_power(b1, state.count, dtype)
            c_next = one_minus_power(b1, state.count + 1, dtype)
            beta = _dtypes.cast(jax.numpy.asarray(b1), dtype)
            g = _dtypes.cast(g, dtype)
            return beta * (m_hat * (c / c_next)) + (1 - beta) * (g / c)

        return jax.tree.map(leaf, corrected, updates), state

    return optax.GradientTransformation(trace.init, update_fn)
