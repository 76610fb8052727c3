"""The sweep's one-kernel compilation on XLA:CPU: the values of the
kernel-per-fusion program up to rounding (XLA fuses the arithmetic
differently), chosen only for programs and shapes it can hold, and a refusal
by the compiler falls back to the usual program."""

from __future__ import annotations

import collections

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
    monkeypatch.setattr(_program, "_one_kernel", collections.OrderedDict())
    return seen


def choice(call) -> bool:
    """The one-kernel choice made for a recorded ``(program, *args)``."""
    program, *args = call
    return _program._one_kernel[_program._signature(program, tuple(args))]


def assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_one_kernel_equals_one_kernel_per_fusion_to_rounding(calls):
    # Every optimizer family, records thinned, on settings that do not
    # amplify a last-bit difference (XLA fuses the arithmetic differently, so
    # a chaotic or diverging run may part after a few steps).
    optimizers = {
        "rmsprop": lambda learning_rate: rj.rmsprop(
            learning_rate, centered=True, bias_correction=True, momentum=0.5
        ),
        "adam": rj.adam,
        "laprop": rj.laprop,
        "sgd": lambda learning_rate: rj.sgd(learning_rate, 0.9, nesterov=True),
        "adagrad": rj.adagrad,
        "sign": rj.sign_sgd,
        "rprop": rj.rprop,
    }
    sweep(
        optimizers,
        rosenbrock,
        jnp.array([-1.5, 2.0]),
        grid(learning_rate=[1e-4, 1e-3]),
        steps=30,
        record=("loss", "params", "effective_lr"),
        record_every=4,
    )
    groups = [c for c in calls if choice(c)]
    assert groups  # every group took the one-kernel form
    for program, *args in groups:
        one = _program._run_cpu_one_kernel(program, *args)
        per_fusion = _program._run_cpu(program, *args)
        for x, y in zip(jax.tree.leaves(one), jax.tree.leaves(per_fusion), strict=True):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=2e-5)


def test_diverging_runs_diverge_in_both_forms(calls):
    sweep(
        rj.rmsprop,
        rosenbrock,
        jnp.array([-1.5, 2.0]),
        grid(decay=[0.0, 0.9], learning_rate=[1e-3, 10.0]),
        steps=30,
    )
    (program, *args) = calls[-1]
    assert choice(calls[-1]) is True
    one = _program._run_cpu_one_kernel(program, *args)
    per_fusion = _program._run_cpu(program, *args)
    np.testing.assert_array_equal(one[0]["diverged"], per_fusion[0]["diverged"])
    assert bool(np.any(one[0]["diverged"])) and not bool(np.all(one[0]["diverged"]))


def test_the_choice_is_made_per_argument_shapes(calls):
    # The same program (factory, loss, steps) at another parameter count is
    # checked again: 4 parameters fit one kernel, 8 do not (a reduction).
    for n, holds in ((4, True), (8, False), (4, True)):
        sweep(rj.rmsprop, chained, jnp.zeros(n), grid(learning_rate=[0.01]), steps=5)
        assert choice(calls[-1]) is holds
    assert len(_program._one_kernel) == 2


def test_the_choices_kept_are_bounded(monkeypatch):
    monkeypatch.setattr(_program, "_one_kernel", collections.OrderedDict())
    for i in range(_program._ONE_KERNEL_CHOICES_KEPT + 10):
        _program._remember(("key", i), True)
    assert len(_program._one_kernel) == _program._ONE_KERNEL_CHOICES_KEPT
    assert ("key", 0) not in _program._one_kernel  # the oldest went first


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
    assert choice(calls[-1]) is holds
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

    monkeypatch.setattr(_program, "_one_kernel", collections.OrderedDict())
    monkeypatch.setattr(_program, "_run_cpu_one_kernel", refuse)
    assert_same(call().losses, expected.losses)
    assert list(_program._one_kernel.values()) == [False]  # not asked again
    assert_same(call().final_loss, expected.final_loss)

    def fail(program, *args):
        raise jax.errors.JaxRuntimeError("INTERNAL: something else")

    monkeypatch.setattr(_program, "_one_kernel", collections.OrderedDict())
    monkeypatch.setattr(_program, "_run_cpu_one_kernel", fail)
    with pytest.raises(jax.errors.JaxRuntimeError, match="INTERNAL"):
        call()
