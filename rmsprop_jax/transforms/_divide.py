r"""Dividing by a root second moment, leaf by leaf: the update of RMSprop,
Adam and their kin from a state of :mod:`._second_moment`.

Two paths, for the two kinds of state: one that keeps the raw moments and
corrects them at the divide (:func:`divide_by_rms`), and one that keeps the
bias-corrected moments (:func:`divide_by_corrected_rms`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _dtypes
from rmsprop_jax.transforms._corrections import Corrections
from rmsprop_jax.transforms._roots import centered_root, root, spread
from rmsprop_jax.transforms._scalars import scalar


def safe_divide(x: jax.Array, denominator: jax.Array) -> jax.Array:
    """``x / denominator``, and 0 where the denominator is 0.

    A zero denominator comes from a zero second moment with ``eps = 0``: only
    zero gradients so far, whose update is zero (not ``0/0 = NaN``).
    """
    return jnp.where(denominator == 0, 0, x / denominator).astype(x.dtype)


def divide_by_rms(
    numerators: optax.Updates,
    state: Any,
    *,
    decay: ArrayLike,
    eps: ArrayLike,
    eps_in_sqrt: bool,
    bias_correction: bool,
    numerator_decay: ArrayLike | None = None,
) -> optax.Updates:
    """``numerators_hat / root(sqrt(rms_hat**2 - mu_hat**2), eps)``, leaf by
    leaf, in the compute dtype, for a state that keeps the *raw* moments:
    ``rms_hat = rms / sqrt(1 - decay**t)`` (and ``mu_hat``) with
    ``bias_correction``, else ``rms``; ``numerators_hat`` is ``numerators /
    (1 - numerator_decay**t)`` if a ``numerator_decay`` is given.
    """
    correction = Corrections(decay, state.count, enabled=bias_correction)
    numerator_correction = Corrections(
        numerator_decay, state.count, enabled=numerator_decay is not None
    )
    factors: dict = {}

    def scale(dtype: Any) -> jax.Array | None:
        """sqrt(c) / c1, the corrections as one factor (None for 1)."""
        if dtype not in factors:
            root_c = correction.root(dtype)
            c1 = numerator_correction.factor(dtype)
            if root_c is None:
                factors[dtype] = None if c1 is None else 1 / c1
            else:
                factors[dtype] = root_c if c1 is None else root_c / c1
        return factors[dtype]

    def divide(x: jax.Array, rms: jax.Array, mu: jax.Array | None = None) -> jax.Array:
        # numerator_hat / root(rms_hat, eps) with rms_hat = rms / sqrt(c) is
        # computed as (numerator / root(rms, eps')) * sqrt(c) / c1, with eps'
        # = eps sqrt(c) (outside the root) or eps c (inside): the corrections
        # become one scalar factor, three roundings fewer per element than
        # dividing by each (XLA turns a division by a scalar into a product
        # with its rounded reciprocal).
        dtype = _dtypes.compute_dtype(x, rms)
        width = _dtypes.cast(rms, dtype)
        root_c, c = correction.root(dtype), correction.factor(dtype)
        scaled_eps: Any = eps
        if root_c is not None and c is not None:
            scaled_eps = scalar(eps, dtype) * (c if eps_in_sqrt else root_c)
        if mu is None:
            denominator = root(width, scaled_eps, eps_in_sqrt=eps_in_sqrt)
        else:
            mean = jnp.abs(_dtypes.cast(mu, dtype))
            if root_c is not None:
                mean = mean / root_c
            denominator = centered_root(
                width, mean, scaled_eps, eps_in_sqrt=eps_in_sqrt
            )
        u = safe_divide(_dtypes.cast(x, dtype), denominator)
        factor = scale(dtype)
        return u if factor is None else u * factor

    if state.mu is None:
        return jax.tree.map(divide, numerators, state.rms)
    return jax.tree.map(divide, numerators, state.rms, state.mu)


def divide_by_corrected_rms(
    numerators: optax.Updates,
    state: Any,
    *,
    eps: ArrayLike,
    eps_in_sqrt: bool,
    numerator_decay: ArrayLike | None = None,
) -> optax.Updates:
    r"""``numerators_hat / root(sqrt(rms**2 - mu**2), eps)`` for a state that
    keeps the bias-corrected moments (see
    :func:`~._second_moment.rms_accumulate`); ``numerators_hat`` as in
    :func:`divide_by_rms`.

    A numerator correction :math:`1-\beta_1^t` multiplies the denominator,
    element by element, instead of dividing the numerator by a scalar (which
    XLA computes as a product with a rounded reciprocal): with eps outside the
    root the denominator is :math:`c_1 \hat r + c_1 \epsilon`, and on the first
    step :math:`c_1 \hat r_1 = c_1 |g_1|` is rounded exactly as the numerator
    :math:`c_1 g_1` was, so the quotient is :math:`\pm 1` to the last bit
    wherever :math:`\epsilon` is negligible.
    """
    correction = Corrections(
        numerator_decay, state.count, enabled=numerator_decay is not None
    )

    def divide(x: jax.Array, rms: jax.Array, mu: jax.Array | None = None) -> jax.Array:
        dtype = _dtypes.compute_dtype(x, rms)
        width = _dtypes.cast(rms, dtype)
        mean = None if mu is None else jnp.abs(_dtypes.cast(mu, dtype))

        def rooted(*, inside: bool) -> jax.Array:
            if mean is None:
                return root(width, eps, eps_in_sqrt=inside)
            return centered_root(width, mean, eps, eps_in_sqrt=inside)

        c1 = correction.factor(dtype)
        if c1 is None:
            denominator = rooted(inside=eps_in_sqrt)
        elif eps_in_sqrt:
            denominator = c1 * rooted(inside=True)
        else:
            if mean is not None:
                width = spread(width, mean)
            # abs (the identity on c1 r >= 0) keeps the product rounded on its
            # own (a fused multiply-add would round c1 r + c1 eps once, unlike
            # c1 g); one bitwise and per element, where a maximum with 0 is
            # three instructions on x86 (NaN has to win).
            product = jnp.abs(c1 * width)
            denominator = product + c1 * scalar(eps, dtype)
        return safe_divide(_dtypes.cast(x, dtype), denominator)

    if state.mu is None:
        return jax.tree.map(divide, numerators, state.rms)
    return jax.tree.map(divide, numerators, state.rms, state.mu)
