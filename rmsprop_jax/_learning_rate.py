"""The last link of every optimizer: multiply by minus the learning rate.

Like ``optax.scale_by_learning_rate``, but the product is formed in the
update's compute dtype (at least float32, float64 for float64 updates, weakly
typed or not), so a float32 (possibly traced) learning rate is not first
rounded to bfloat16, and a schedule is evaluated at a count in the default
integer dtype (float64 schedules under ``jax_enable_x64``). The product stays
in the compute dtype: the optimizer casts its output once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes


def _scale(factor: jax.Array, updates: optax.Updates) -> optax.Updates:
    """``factor * u`` for every leaf, in u's compute dtype (at least float32).

    The factor is converted once per compute dtype, not once per leaf.
    """
    factors: dict = {}

    def scale_leaf(u: jax.Array) -> jax.Array:
        dtype = _dtypes.compute_dtype(u)
        if dtype not in factors:
            factors[dtype] = _dtypes.cast(factor, dtype)
        return factors[dtype] * _dtypes.cast(u, dtype)

    return jax.tree.map(scale_leaf, updates)


def schedule_count(count: jax.Array) -> jax.Array:
    """The step count as a schedule should see it: in the default integer
    dtype, so that a schedule's arithmetic (``count / steps``, ``rate **
    p``) runs in float64 under ``jax_enable_x64``; an int32 count makes
    optax's schedules return float32 there."""
    return count.astype(jnp.result_type(int))


def schedule_value(learning_rate: optax.ScalarOrSchedule, count: Any) -> Any:
    """``learning_rate(count)`` for a schedule, else ``learning_rate`` itself.

    The count is converted as :func:`schedule_count` converts the main step's
    (the default integer dtype: a float64 schedule under ``jax_enable_x64``).
    """
    if not _checks.is_schedule(learning_rate):
        return learning_rate
    return learning_rate(schedule_count(jnp.asarray(count)))


def scale_by_learning_rate(
    learning_rate: optax.ScalarOrSchedule, *, flip_sign: bool = True
) -> optax.GradientTransformation:
    """``-learning_rate * updates`` (or ``+`` without ``flip_sign``).

    A callable ``learning_rate`` is a schedule of the step count (0 at the first
    update), with state ``optax.ScaleByScheduleState``.
    """
    sign = -1 if flip_sign else 1

    if callable(learning_rate):

        def init_fn(params):
            del params
            return optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

        def schedule_update_fn(updates, state, params=None):
            del params
            factor = jnp.asarray(sign * learning_rate(schedule_count(state.count)))
            updates = _scale(factor, updates)
            count = optax.safe_increment(state.count)
            return updates, optax.ScaleByScheduleState(count=count)

        return optax.GradientTransformation(init_fn, schedule_update_fn)

    def update_fn(updates, state, params=None):
        del params
        factor = jnp.asarray(sign * learning_rate)
        return _scale(factor, updates), state

    return optax.GradientTransformation(optax.init_empty_state, update_fn)


def decayed_lr(lr: optax.ScalarOrSchedule, lr_decay: ArrayLike) -> Callable[[Any], Any]:
    """torch Adagrad's ``lr / (1 + (step - 1) * lr_decay)`` as a schedule."""

    def schedule(count):
        base = lr(count) if _checks.is_schedule(lr) else lr
        return base / (1 + count * lr_decay)

    return schedule
