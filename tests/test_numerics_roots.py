"""The root EMA step and hypot at the edges of the range, against a reference
computed with wider range (float64 for float32, long double for float64).

The root second moment is scaled into range before squaring, so zero, flushed
subnormals, the largest finite number, 1e30 / 1e300 and huge and tiny values
in one leaf must all give the formula ``sqrt(r**2 + a (g**2 - r**2))`` to 2
ulp, whatever scaling computes it (today a power of two taken from the
exponent bits).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmsprop_jax as rj
from rmsprop_jax.transforms._ema import EmaRates
from rmsprop_jax.transforms._roots import hypot, root_ema_step


def _wide(dtype):
    """A type whose squares of the dtype's largest finite number are finite."""
    return np.float64 if dtype == jnp.float32 else np.longdouble


def _values(dtype):
    """(r, g) pairs: zeros, flushed subnormals, the largest finite number,
    1e30 (float32) / 1e300 (float64), equal and far-apart magnitudes."""
    info = jnp.finfo(dtype)
    big = 1e30 if dtype == jnp.float32 else 1e300
    top, tiny = float(info.max), float(info.tiny)
    pairs = [
        (0.0, 0.0),
        (0.0, -big),
        (big, 0.0),
        (big, big),
        (big, -top),
        (top, top),
        (top, -top),
        (top, 1.0),
        (1.0, -top),
        (tiny, tiny),
        (tiny, 0.0),
        (0.0, 3 * tiny),
        (big, 1 / big),
        (1 / big, -big),
        (2.5, -1.5),
        (1e-20, 3e-20),
    ]
    r, g = (np.array(v, dtype) for v in zip(*pairs, strict=True))
    return r, g


def _reference(r, g, a, wide):
    r, g = r.astype(wide), g.astype(wide)
    return np.sqrt(r * r + wide(a) * (g * g - r * r))


def _within(got, want, dtype, ulps):
    got = np.asarray(got, want.dtype)
    _, exponent = np.frexp(want)  # want = f 2**exponent, f in [0.5, 1)
    spacing = np.ldexp(want.dtype.type(1), exponent - (jnp.finfo(dtype).nmant + 1))
    floor = float(jnp.finfo(dtype).tiny)
    err = np.abs(got - want)
    assert np.all(np.isfinite(got)), got
    assert np.all((err <= ulps * spacing) | (err <= floor)), (got, want, err / spacing)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("a", [1.0, 0.9, 0.1, 1e-5])
def test_root_ema_step_at_the_edges_follows_the_formula(dtype, a, x64):
    r, g = _values(dtype)
    step = jax.jit(lambda r, g, a: root_ema_step(r, g, EmaRates(a, None, None)))
    got = step(jnp.asarray(r), jnp.asarray(g), jnp.asarray(a, dtype))
    _within(got, _reference(r, g, a, _wide(dtype)), dtype, ulps=2)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_hypot_at_the_edges_follows_the_formula(dtype, x64):
    r, g = _values(dtype)
    got = jax.jit(hypot)(jnp.asarray(r), jnp.asarray(g))
    wide = _wide(dtype)
    want = np.sqrt(r.astype(wide) ** 2 + g.astype(wide) ** 2)
    with np.errstate(over="ignore"):  # sqrt(2) max overflows, rightly
        finite = np.isfinite(want.astype(dtype))
    assert np.all(np.isinf(np.asarray(got)[~finite]))
    _within(np.asarray(got)[finite], want[finite], dtype, ulps=2)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_exact_first_step_and_fixed_point(dtype, x64):
    # From a zero root at rate 1 the new root is |g| to the last bit; a
    # constant input (r = |g|) is a fixed point: both ratios are 1/2.
    info = jnp.finfo(dtype)
    g = np.array([1.0, -3.0, 1e-30, 7e30, float(info.tiny), -float(info.max)], dtype)
    step = jax.jit(lambda r, g, a: root_ema_step(r, g, EmaRates(a, None, None)))
    first = step(jnp.zeros_like(g), jnp.asarray(g), jnp.asarray(1.0, dtype))
    np.testing.assert_array_equal(first, np.abs(g))
    below = np.abs(g[:-1])  # m = 2r stays finite below max / 2
    for a in (0.1, 1e-5):
        again = step(jnp.asarray(below), jnp.asarray(-below), jnp.asarray(a, dtype))
        np.testing.assert_array_equal(again, below)


def test_nan_in_nan_out_and_an_infinite_gradient_gives_inf():
    step = jax.jit(lambda r, g: root_ema_step(r, g, EmaRates(0.1, None, None)))
    r = jnp.array([np.nan, 1.0, 1.0, 0.0], jnp.float32)
    g = jnp.array([1.0, np.nan, np.inf, -np.inf], jnp.float32)
    out = np.asarray(step(r, g))
    assert np.isnan(out[:2]).all() and np.isposinf(out[2:]).all()
    h = np.asarray(jax.jit(hypot)(r, g))
    assert np.isnan(h[:2]).all() and np.isposinf(h[2:]).all()


def test_huge_and_tiny_gradients_in_one_leaf_follow_float64():
    # One float32 leaf holding the largest finite gradient, 1e30, a normal
    # one, 1e-30, the smallest normal and 0, five RMSprop steps: every weight
    # follows the float64 formula u = -lr g / (sqrt(s) + eps).
    top, tiny = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)
    g = np.array([top, -1e30, 2.0, 1e-30, -tiny, 0.0], np.float32)
    tx = rj.rmsprop(0.01, decay=0.9, eps=1e-30, eps_in_sqrt=False)
    state = tx.init(jnp.zeros(6, jnp.float32))
    update = jax.jit(tx.update)
    s = np.zeros(6)
    g64 = g.astype(np.float64)
    for _ in range(5):
        u, state = update(jnp.asarray(g), state)
        s = 0.9 * s + 0.1 * g64 * g64
        want = -0.01 * g64 / (np.sqrt(s) + 1e-30)
        np.testing.assert_allclose(np.asarray(u, np.float64), want, rtol=1e-6)
        assert np.all(np.isfinite(np.asarray(state[0].rms)))
