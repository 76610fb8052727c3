"""The memoised dtype helpers give what ``jnp.result_type`` / ``astype`` give.

``compute_dtype`` promotes the arrays' *own* dtypes (a weakly typed float64
gradient is computed in float64, not demoted as a weak type would be) and
gives the real dtype of a complex one (complex leaves are split into real
pairs before any arithmetic)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import pytest

from rmsprop_jax import _dtypes

DTYPES = [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64, jnp.int32, jnp.int8]


# Weakly typed arrays, as jnp.asarray of a Python number makes them.
WEAK = [2.0, 2]


@pytest.mark.parametrize("x64", [False, True])
def test_compute_dtype_equals_result_type(x64):
    with jax.enable_x64(x64):
        dtypes = [d for d in DTYPES if x64 or d != jnp.float64]
        arrays = [jnp.ones(3, d) for d in dtypes] + [jnp.asarray(w) for w in WEAK]
        for a, b in itertools.product(arrays, repeat=2):
            assert jax.typeof(a).weak_type == (a.ndim == 0)
            want = jnp.result_type(jnp.float32, a.dtype, b.dtype)
            assert _dtypes.compute_dtype(a, b) == want, (a.dtype, b.dtype)
            assert _dtypes.compute_dtype(a) == jnp.result_type(jnp.float32, a.dtype)


def test_compute_dtype_of_complex_and_weak_float64():
    assert _dtypes.compute_dtype(jnp.ones(2, jnp.complex64)) == jnp.float32
    with jax.enable_x64(True):
        weak = jnp.asarray(2.0)
        assert jax.typeof(weak).weak_type and weak.dtype == jnp.float64
        assert _dtypes.compute_dtype(weak) == jnp.float64
        assert _dtypes.compute_dtype(jnp.ones(2, jnp.complex128)) == jnp.float64


def test_compute_dtype_follows_the_promotion_mode():
    a, b = jnp.ones(2, jnp.float16), jnp.ones(2, jnp.bfloat16)
    assert _dtypes.compute_dtype(a, b) == jnp.float32
    with (
        jax.numpy_dtype_promotion("strict"),
        pytest.raises(jax.dtypes.TypePromotionError),
    ):
        _dtypes.compute_dtype(a, b)


def test_cast_skips_only_true_no_ops():
    x = jnp.ones(3, jnp.float32)
    assert _dtypes.cast(x, jnp.float32) is x
    y = _dtypes.cast(x, jnp.float16)
    assert y.dtype == jnp.float16
    weak = jnp.asarray(2.0)
    assert jax.typeof(weak).weak_type
    strong = _dtypes.cast(weak, weak.dtype)
    assert strong.dtype == weak.dtype and not jax.typeof(strong).weak_type
