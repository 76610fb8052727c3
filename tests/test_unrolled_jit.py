"""Several optimizer steps unrolled in one ``jax.jit`` program equal the same
steps taken eagerly: values and meta-gradients, with a weight whose gradient
is exactly 0 and with gradients whose squares overflow.

In such a program one step's divide squares the root that the next step
rescales by a power of two k; XLA's simplifier rewrote ``(r k)(r k)`` as
``(r r)(k k)``: inf times 0 (NaN) where r = 0, and overflow where r**2 does
(every root-keeping optimizer returned NaN for a zero-gradient weight after
two jitted steps, and ``jax.jit(jax.grad(...))`` through them was NaN). The
roots are now squared behind an optimization barrier.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rmsprop_jax as rj
from rmsprop_jax import presets

FACTORIES = {
    "rmsprop": lambda lr: rj.rmsprop(lr),
    "rmsprop-centered": lambda lr: rj.rmsprop(lr, centered=True, momentum=0.5),
    "rmsprop-corrected": lambda lr: rj.rmsprop(lr, bias_correction=True),
    "adam": lambda lr: rj.adam(lr),
    "amsgrad": lambda lr: rj.amsgrad(lr),
    "laprop": lambda lr: rj.laprop(lr),
    "adagrad": lambda lr: rj.adagrad(lr),
    "adadelta": lambda lr: rj.adadelta(lr),
    "torch_rmsprop-centered": lambda lr: presets.torch_rmsprop(lr, centered=True),
    "keras_rmsprop-centered": lambda lr: presets.keras_rmsprop(lr, centered=True),
    "torch_adam": lambda lr: presets.torch_adam(lr),
    "torch_adagrad": lambda lr: presets.torch_adagrad(lr),
}


def _final(lr, make, w0, loss, steps=4):
    tx = make(lr)
    state, w = tx.init(w0), w0
    for _ in range(steps):
        u, state = tx.update(jax.grad(loss)(w), state, w)
        w = optax.apply_updates(w, u)
    return w


# rmsprop-centered and adagrad (the root EMA step, the centred spread, hypot)
# in the quick selection; every factory in the full suite.
QUICK = ("rmsprop-centered", "adagrad")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=() if n in QUICK else pytest.mark.slow)
        for n in sorted(FACTORIES)
    ],
)
def test_a_zero_gradient_weight_unrolled_under_jit(name, x64):
    make = FACTORIES[name]
    w0 = jnp.array([1.0, -2.0, 0.0])  # the third weight's gradient is always 0

    def loss(w):
        return 3 * w[0] ** 2 + 10 * w[1] ** 2 + jnp.sin(w[0])

    eager = _final(0.01, make, w0, loss)
    jitted = jax.jit(lambda lr: _final(lr, make, w0, loss))(0.01)
    np.testing.assert_allclose(jitted, eager, rtol=1e-12)
    assert float(jitted[2]) == 0.0

    def meta(lr):
        return loss(_final(lr, make, w0, loss))

    got = jax.jit(jax.grad(meta))(0.01)
    np.testing.assert_allclose(got, jax.grad(meta)(0.01), rtol=1e-9)
    assert np.isfinite(got)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["rmsprop", "rmsprop-centered", "adam", "adagrad", "adadelta"]
)
def test_gradients_whose_squares_overflow_unrolled_under_jit(name):
    """float32 gradients of 1e30 (squares 1e60): the jitted unrolled run is
    finite and equals the eager one."""
    make = FACTORIES[name]
    w0 = jnp.array([1.0, -1.0, 0.0], jnp.float32)

    def loss(w):
        return 1e30 * (w[0] - w[1])

    eager = _final(jnp.float32(0.01), make, w0, loss)
    jitted = jax.jit(lambda lr: _final(lr, make, w0, loss))(jnp.float32(0.01))
    assert np.all(np.isfinite(jitted))
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)
