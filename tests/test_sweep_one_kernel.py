"""The sweep's one-kernel compilation on XLA:CPU: the same values as the
kernel-per-fusion program, chosen only for programs it can hold, and a
refusal by the compiler falls back to the usual program."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmsprop_jax as rj
from rmsprop_jax.sweep import _program, grid, sweep

pytestmark = pytest.mark.skipif(
    jax.default_backend() != "cpu", reason="the one-kernel form is XLA:CPU's"
)


def rosenbrock(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def chained(w):  # a sum over the parameters: a reduction over w.size elements
    return jnp.sum((1 - w[:-1]) ** 2 + 10 * (w[1:] - w[:-1] ** 2) ** 2)


@pytest.fixture
def calls(monkeypatch):
    """The (program, *args) of every sweep call, with a fresh choice cache."""
    seen = []
    run = _program.run

    def spy(program, *args):
        seen.append((program, *args))
        return run(program, *args)

    monkeypatch.setattr(_program, "run", spy)
    monkeypatch.setattr(_program, "_one_kernel", {})
    return seen


def assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_one_kernel_equals_one_kernel_per_fusion(calls):
    # Diverging runs (learning rate 10), records thinned, several optimizers.
    sweep(
        {"rmsprop": rj.rmsprop, "rprop": rj.rprop},
        rosenbrock,
        jnp.array([-1.5, 2.0]),
        grid(decay=[0.0, 0.9], learning_rate=[1e-3, 0.1, 10.0]),
        steps=30,
        record=("loss", "params", "effective_lr"),
        record_every=4,
    )
    (program, *args) = calls[-1]
    assert _program._one_kernel[program] is True
    one = _program._run_cpu_one_kernel(program, *args)
    per_fusion = _program._run_cpu(program, *args)
    assert_same(one, per_fusion)
    assert bool(np.any(one[0]["diverged"])) and not bool(np.all(one[0]["diverged"]))


@pytest.mark.parametrize(
    "loss, params, holds",
    [
        (rosenbrock, jnp.array([-1.5, 2.0]), True),
        (chained, jnp.zeros(4), True),  # sums over 4 elements
        (chained, jnp.zeros(8), False),  # a reduction fusion
        (lambda w: jnp.sum((jnp.eye(3) @ w) ** 2), jnp.ones(3), False),  # a dot
    ],
)
def test_the_choice_follows_what_one_kernel_can_hold(calls, loss, params, holds):
    result = sweep(rj.rmsprop, loss, params, grid(learning_rate=[0.01]), steps=5)
    assert _program._one_kernel[calls[-1][0]] is holds
    assert np.all(np.isfinite(result.losses))


def test_a_refused_one_kernel_falls_back(calls, monkeypatch):
    def call():
        return sweep(
            rj.rmsprop,
            rosenbrock,
            jnp.array([-1.5, 2.0]),
            grid(learning_rate=[1e-3, 0.1]),
            steps=10,
        )

    expected = call()

    def refuse(program, *args):
        raise jax.errors.JaxRuntimeError("UNIMPLEMENTED: an operation")

    monkeypatch.setattr(_program, "_one_kernel", {})
    monkeypatch.setattr(_program, "_run_cpu_one_kernel", refuse)
    assert_same(call().losses, expected.losses)
    assert list(_program._one_kernel.values()) == [False]  # not asked again
    assert_same(call().final_loss, expected.final_loss)

    def fail(program, *args):
        raise jax.errors.JaxRuntimeError("INTERNAL: something else")

    monkeypatch.setattr(_program, "_one_kernel", {})
    monkeypatch.setattr(_program, "_run_cpu_one_kernel", fail)
    with pytest.raises(jax.errors.JaxRuntimeError, match="INTERNAL"):
        call()
