"""Step counts and the bias corrections :math:`1-\\beta^t` read from them."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax.transforms._scalars import scalar


def new_count(*, needed: bool) -> jax.Array | None:
    """A step count of 0, or None where nothing reads it.

    A state keeps a count only where the update reads it (as optax's states
    do): every extra state leaf is one more kernel and output buffer of a
    jitted step, which shows on small models.
    """
    return jnp.zeros([], jnp.int32) if needed else None


def increment(count: jax.Array | None) -> jax.Array | None:
    """``count + 1`` (saturating, as optax's), or None without a count."""
    return None if count is None else optax.safe_increment(count)


def one_minus_power(decay: ArrayLike, count: jax.Array, dtype: Any) -> jax.Array:
    r"""``1 - decay**count`` in ``dtype``, accurate to a few ulp.

    Computed as :math:`-\mathrm{expm1}(t\, \mathrm{log1p}(-(1-\beta)))` from
    :math:`1-\beta` (exact for :math:`\beta \ge 0.5` once :math:`\beta` is
    rounded to ``dtype``): ``1 - decay**t`` itself loses most digits for
    :math:`\beta` near 1 (float32 ``0.99999**2`` has an error of 3e-3
    relative to ``1 - 0.99999**2``). At :math:`t = 1` it is exactly
    :math:`1-\beta`, the factor the moment was scaled by, so the first
    bias-corrected step cancels exactly.
    """
    one_minus = 1 - scalar(decay, dtype)
    t = count.astype(dtype)
    general = -jnp.expm1(t * jnp.log1p(-one_minus))
    # t = 0 gives 0 (also for decay = 0, where t log1p(-1) is 0 * -inf).
    return jnp.where(count == 1, one_minus, jnp.where(count == 0, 0, general))


class Corrections:
    """Scalar bias corrections, converted once per compute dtype (not per leaf).

    ``enabled=False``, or no ``decay`` or no ``count``: no correction (every
    method returns None).
    """

    def __init__(
        self, decay: ArrayLike | None, count: jax.Array | None, *, enabled: bool
    ):
        self.decay, self.count = decay, count
        self.enabled = enabled and count is not None and decay is not None
        self._cache: dict = {}

    def factor(self, dtype: Any) -> jax.Array | None:
        """``1 - decay**t`` in ``dtype``, or None without correction."""
        if not self.enabled or self.count is None or self.decay is None:
            return None
        key = ("factor", jnp.dtype(dtype))
        if key not in self._cache:
            self._cache[key] = one_minus_power(self.decay, self.count, dtype)
        return self._cache[key]

    def root(self, dtype: Any) -> jax.Array | None:
        """``sqrt(1 - decay**t)`` in ``dtype``, or None without correction."""
        factor = self.factor(dtype)
        if factor is None:
            return None
        key = ("root", jnp.dtype(dtype))
        if key not in self._cache:
            self._cache[key] = jnp.sqrt(factor)
        return self._cache[key]
