"""Rprop's step-size rule, bit for bit, on edge values and mixed dtypes.

``scale_by_rprop`` computes ``clip(step * factor, min_step, max_step)`` as a
select between the three clipped candidates (so that XLA stores the new step
sizes once instead of recomputing them from the old ones). These tests pin
that form to the direct formula, bit for bit, where rounding, clipping, NaN,
infinities and dtype promotion could tell them apart.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmsprop_jax as rj

# Old step sizes: inside, below and above [min_step, max_step] = [1e-3, 2.0],
# exactly on the bounds, zero, infinite and NaN.
STEPS = [0.3, 1e-4, 7.0, 1e-3, 2.0, 1.7, 0.0, np.inf, np.nan, 0.0011, 1.9999]
PREV_SIGNS = [-1, 0, 1]
GRADS = [2.5, -1e-30, 0.0, -0.0, np.inf, -np.inf, np.nan]


def _grid(dtype):
    steps, signs, grads = np.meshgrid(
        np.asarray(STEPS), np.asarray(PREV_SIGNS), np.asarray(GRADS), indexing="ij"
    )
    return (
        jnp.asarray(steps.ravel(), dtype),
        jnp.asarray(signs.ravel(), jnp.int8),
        jnp.asarray(grads.ravel(), dtype),
    )


def _direct(step, prev_sign, g, eta_minus, eta_plus, min_step, max_step):
    """The rule as written in the docstring: one factor, one clip; a NaN
    gradient makes the step size NaN."""
    agree = jnp.sign(g).astype(jnp.int8) * prev_sign
    factor = jnp.where(agree > 0, eta_plus, jnp.where(agree < 0, eta_minus, 1.0))
    new = jnp.clip(step * factor, min_step, max_step).astype(step.dtype)
    return jnp.where(jnp.isnan(g), jnp.nan, new).astype(step.dtype)


F32, F64 = jnp.float32, jnp.float64


@pytest.mark.parametrize("variant", ["rprop+", "rprop-", "irprop+", "irprop-"])
@pytest.mark.parametrize(
    "dtype, hyper_dtypes",
    [
        # dtypes of (eta_minus, eta_plus, min_step, max_step); None: Python float
        (F32, (None, None, None, None)),
        (F32, (F32, F32, F32, F32)),  # traced arrays
        (F32, (F64, F64, F64, F64)),  # wider hyperparameters
        (F32, (None, F64, None, None)),  # one wide factor widens both
        (F32, (F64, None, F32, None)),
        (F64, (None, None, None, None)),
        (F64, (F32, None, F32, F32)),
    ],
)
def test_new_step_sizes_equal_the_direct_formula(variant, dtype, hyper_dtypes):
    with jax.enable_x64(True):
        step, prev_sign, g = _grid(dtype)
        # eta_minus, eta_plus, min_step, max_step; 0.3 and 1.3 are not exact
        # in binary, so the dtype each is rounded to shows in the result.
        hyper = (0.3, 1.3, 1e-3, 2.0)
        hyper = tuple(
            h if d is None else jnp.asarray(h, d)
            for h, d in zip(hyper, hyper_dtypes, strict=True)
        )

        @jax.jit
        def new_step_sizes(step, prev_sign, g, hyper):
            eta_minus, eta_plus, min_step, max_step = hyper
            tx = rj.scale_by_rprop(
                0.1, eta_minus, eta_plus, min_step, max_step, variant=variant
            )
            state = tx.init(g)._replace(step_size=step, prev_sign=prev_sign)
            _, state = tx.update(g, state, value=jnp.asarray(1.0))
            return state.step_size

        got = new_step_sizes(step, prev_sign, g, hyper)
        want = jax.jit(_direct)(step, prev_sign, g, *hyper)
        assert got.dtype == want.dtype == dtype
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
