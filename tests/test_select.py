"""rmsprop_jax._select: jnp.where's values and dtypes, without a nested call."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmsprop_jax._select import isinf, where


def _cases():
    x = jnp.array([-1.0, 0.0, 2.0, jnp.inf])
    return [
        (x, 0),
        (1, x),
        (x, 2 * x),
        (0.5, x),
        (x, jnp.nan),
        (jnp.arange(4), 7),
        (jnp.arange(4), 0.5),  # promotes: jnp.where itself
        (x.astype(jnp.bfloat16), 1),
        (True, x),
        (x.astype(jnp.float16), x),  # two dtypes: jnp.where itself
    ]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_where_equals_jnp_where(x64, dtype):
    for a, b in _cases():
        a = a.astype(dtype) if getattr(a, "dtype", None) == jnp.float32 else a
        condition = jnp.array([True, False, True, False])
        ours, theirs = where(condition, a, b), jnp.where(condition, a, b)
        assert ours.dtype == theirs.dtype, (a, b)
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    assert isinf(jnp.array([1.0, -jnp.inf, jnp.nan])).tolist() == [False, True, False]


def test_where_is_one_select_in_the_traced_program():
    x = jnp.ones(3)
    text = str(jax.make_jaxpr(lambda x: where(x > 1, x, 0.0) + isinf(x))(x))
    assert "select_n" in text and "jit" not in text
