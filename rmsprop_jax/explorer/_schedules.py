r"""Learning-rate schedules the page applies to every optimizer that takes one.

A schedule multiplies the learning rate :math:`\eta` by a factor
:math:`f(t)` at update :math:`t = 0, 1, \dots` over the view's :math:`T`
steps:

* ``constant``: :math:`f(t) = 1`;
* ``cosine``: :math:`f(t) = \tfrac12\,(1 + \cos(\pi \min(t, T) / T))`, from 1
  to 0 at the last step (optax's ``cosine_decay_schedule`` with
  ``alpha = 0``);
* ``step``: :math:`f(t) = 0.1^{[t \ge T/2] + [t \ge 3T/4]}`, a tenth after half
  of the steps and a hundredth after three quarters;
* ``warmup``: :math:`f(t) = \min(1, (t + 1) / W)` with :math:`W = \max(1,
  \lceil T/10 \rceil)`, a linear warm-up over the first tenth of the steps,
  then constant.

The kind is a traced index, so switching schedules (or moving the steps
slider) reuses the compiled program. Rprop takes no schedule: its
:math:`\eta` is the initial step size :math:`\Delta_0`, read once, and it
adapts its step sizes itself.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

SCHEDULES: tuple[str, ...] = ("constant", "cosine", "step", "warmup")
"""The schedules the page offers, in the order of their traced index."""


def factor(kind: Any, horizon: Any, count: Any) -> jax.Array:
    """The factor :math:`f(t)` of schedule number ``kind`` (an index into
    :data:`SCHEDULES`, possibly traced) over ``horizon`` steps at update
    ``count``."""
    t = jnp.asarray(count, jnp.float32)
    steps = jnp.maximum(jnp.asarray(horizon, jnp.float32), 1.0)
    one = jnp.ones_like(t)
    cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * jnp.minimum(t, steps) / steps))
    step = jnp.where(t >= 0.5 * steps, 0.1, 1.0) * jnp.where(
        t >= 0.75 * steps, 0.1, 1.0
    )
    warm = jnp.minimum(1.0, (t + 1.0) / jnp.maximum(jnp.ceil(0.1 * steps), 1.0))
    return jnp.stack([one, cosine, step, warm])[kind]


def schedule(kind: str, learning_rate: Any, steps: Any) -> Any:
    r"""The optax schedule :math:`t \mapsto \eta\, f(t)` of ``kind`` (see the
    module's formulas) over ``steps`` steps, as the explorer runs it.

    Args:
      kind: one of :data:`SCHEDULES`.
      learning_rate: :math:`\eta` (a float or a traced array).
      steps: the horizon :math:`T` (an int or a traced array).

    Returns:
      A callable ``count -> learning rate`` for any optimizer's
      ``learning_rate``.

    Raises:
      ValueError: an unknown ``kind``.

    Examples:
      >>> lr = schedule("step", 0.1, 100)
      >>> [round(float(lr(t)), 6) for t in (0, 49, 50, 75)]
      [0.1, 0.1, 0.01, 0.001]
      >>> round(float(schedule("cosine", 1.0, 100)(50)), 6)
      0.5
    """
    if kind not in SCHEDULES:
        raise ValueError(
            f"`schedule` must be one of {', '.join(SCHEDULES)}; got {kind!r}."
        )
    return scheduled(learning_rate, SCHEDULES.index(kind), steps)


def scheduled(learning_rate: Any, kind: Any, horizon: Any) -> Any:
    """:func:`schedule` with the kind as an index (a traced one in a sweep)."""

    def rate(count: Any) -> jax.Array:
        return learning_rate * factor(kind, horizon, count)

    return rate
