"""The explorer's conditioning, schedules and network landscape (``condition``,
``schedule``, ``mlp-digits``), without Dash: each against a plain loop or an
independent computation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import plain_loop, snippet_paths

import rmsprop_jax as rj
from rmsprop_jax import landscapes
from rmsprop_jax.explorer import _catalog, _compute, _digits, _state
from rmsprop_jax.explorer import schedule as explorer_schedule
from rmsprop_jax.explorer._prose_views import (
    explain_condition,
    explain_mlp,
    explain_schedule,
    sign_flips,
)
from rmsprop_jax.explorer._state import WORKED_EXAMPLE, State
from rmsprop_jax.sweep import compilations

# --- condition ------------------------------------------------------------------


def test_condition_sets_the_valleys_curvature_ratio():
    # Default: exactly the worked example's 3 w1^2 + 10 w2^2.
    surf = _compute.surface(WORKED_EXAMPLE)
    assert surf.param == 3.0
    w = jnp.asarray([[-15.0, 1.5], [20.0, -2.0]])
    np.testing.assert_array_equal(surf.loss(w), landscapes.valley(w))
    # kappa = 100: curvature 20 along w2, 0.2 along w1 (Hessian from JAX).
    state = WORKED_EXAMPLE.replace(condition=100.0)
    hessian = jax.hessian(_compute.surface(state).loss)(jnp.zeros(2))
    np.testing.assert_allclose(np.diag(hessian), [0.2, 20.0], rtol=1e-6)
    assert _compute.surface(state.replace(landscape="bowl")).param == 0.0


def test_conditioned_paths_are_a_plain_loop_on_that_valley():
    state = WORKED_EXAMPLE.replace(
        condition=50.0, sgd_learning_rate=0.08, optimizers=("sgd", "rmsprop")
    )
    p = _compute.paths(state)

    def valley(w):
        return np.float32(10.0 / 50.0) * w[0] ** 2 + 10 * w[1] ** 2

    for i, name in enumerate(p.optimizers):
        tx = _catalog.make_optimizer(**_compute.hyperparameters(state, name))
        expected = plain_loop(valley, tx, state.start, 40)
        np.testing.assert_allclose(
            p.params[i, :41], expected, rtol=2e-5, atol=1e-5, err_msg=name
        )
    # eta = 0.08 > 1/20: gradient descent's w2 flips sign every step; RMSprop's
    # does not; the paragraph says both counts.
    sgd, rms = (sign_flips(p.params[i, :41]) for i in range(2))
    assert sgd == 40 and rms < 10
    text = explain_condition(state.replace(steps=40), p)
    assert "κ = 50" in text and f"SGD {sgd}" in text and f"RMSprop {rms}" in text
    assert explain_condition(state.replace(landscape="bowl"), p) == ""


# --- schedules ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["cosine", "step", "warmup"])
def test_schedule_factors(kind):
    lr = explorer_schedule(kind, 0.5, 40)
    got = np.array([float(lr(t)) for t in range(50)])
    t = np.arange(50, dtype=np.float64)
    expected = {
        "cosine": 0.5 * (1 + np.cos(np.pi * np.minimum(t, 40) / 40)),
        "step": np.where(t >= 20, 0.1, 1.0) * np.where(t >= 30, 0.1, 1.0),
        "warmup": np.minimum(1.0, (t + 1) / 4),
    }[kind]
    np.testing.assert_allclose(got, 0.5 * expected, rtol=1e-6, atol=1e-7)  # float32
    with pytest.raises(ValueError, match="`schedule` must be one of"):
        explorer_schedule("linear", 0.5, 40)


def test_a_schedule_applies_to_every_optimizer_but_rprop():
    state = WORKED_EXAMPLE.replace(
        schedule="cosine",
        steps=30,
        optimizers=("sgd", "rmsprop", "adam", "rprop+"),
    )
    p = _compute.paths(state)
    fn = _compute.surface(state).loss
    for i, name in enumerate(p.optimizers):
        function, kwargs = _catalog.arguments(**_compute.hyperparameters(state, name))
        if name != "rprop+":
            kwargs["learning_rate"] = explorer_schedule(
                "cosine", kwargs["learning_rate"], 30
            )
        expected = plain_loop(fn, getattr(rj, function)(**kwargs), state.start, 30)
        np.testing.assert_allclose(
            p.params[i, :31], expected, rtol=2e-5, atol=1e-5, err_msg=name
        )
    # The effective learning rate of gradient descent is eta f(t).
    factors = [float(explorer_schedule("cosine", 1.0, 30)(t)) for t in range(30)]
    np.testing.assert_allclose(
        p.effective_lr[0, :30, 0], 0.001 * np.asarray(factors), rtol=1e-6
    )
    text = explain_schedule(state)
    assert "cosine" in text and "1 at step 0" in text and "Rprop" in text
    assert explain_schedule(state.replace(schedule="constant")) == ""


def test_condition_schedule_and_noise_compile_nothing():
    base = WORKED_EXAMPLE.replace(optimizers=("sgd", "rmsprop"))
    _compute.paths(base)
    _compute.contour_grid(_compute.surface(base))
    before = compilations()
    for change in (
        {"condition": 100.0},
        {"condition": 1.0, "schedule": "step", "steps": 300},
        {"schedule": "warmup", "noise": 0.3},
        {"landscape": "rosenbrock", "start": (-1.2, 1.0), "schedule": "cosine"},
    ):
        state = base.replace(**change)
        _compute.paths(state)
    assert compilations() == before


@pytest.mark.slow  # compiles programs of their own
def test_noise_reaches_the_secondary_plots():
    state = WORKED_EXAMPLE.replace(noise=0.5, optimizers=("rmsprop", "rprop+"))
    clean = state.replace(noise=0.0)
    assert not np.array_equal(
        _compute.compare_decay(state), _compute.compare_decay(clean)
    )
    _, noisy = _compute.sensitivity(state)
    _, exact = _compute.sensitivity(clean)
    assert not np.array_equal(noisy, exact)


def test_snippet_reproduces_a_conditioned_scheduled_view():
    state = WORKED_EXAMPLE.replace(
        condition=20.0,
        schedule="step",
        noise=0.2,
        steps=30,
        optimizers=("sgd", "rmsprop", "irprop-"),
    )
    paths = snippet_paths(state)
    p = _compute.paths(state)
    for i, name in enumerate(p.optimizers):
        np.testing.assert_allclose(paths[name], p.params[i, :31], rtol=2e-5, atol=1e-5)


def test_decay_slider_steps_land_on_round_values():
    # Every 0.1 of the slider (a drag step, an arrow key) is a beta with one
    # more nine or one more last digit: 0.1 .. 0.9, 0.91 .. 0.99, 0.991 .. 0.999.
    lo, hi, step = _state.SLIDERS["decay"]
    positions = np.round(np.arange(lo, hi + step / 2, step), 6)
    values = [_state.from_slider("decay", float(p)) for p in positions]
    assert values == sorted(set(values)) and len(values) == 28
    for v in values:
        assert round(v, 3) == v, v
    for v in (0.9, 0.95, 0.99, 0.995, 0.999, *_compute.SWEEP_DECAYS):
        assert _state.to_slider("decay", v) in positions


# --- mlp-digits -------------------------------------------------------------------


def mlp_loss_float64(theta: np.ndarray) -> float:
    """Independent reference: scikit-learn's loader, a NumPy float64 forward
    pass, the penalty on the flat weights."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = x[: _digits.SAMPLES] / 16.0, y[: _digits.SAMPLES]
    h = _digits.HIDDEN
    w1 = theta[: 64 * h].reshape(64, h)
    b1 = theta[64 * h : 64 * h + h]
    w2 = theta[64 * h + h : 64 * h + h + 10 * h].reshape(h, 10)
    b2 = theta[64 * h + h + 10 * h :]
    logits = np.tanh(x @ w1 + b1) @ w2 + b2
    top = logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    ce = np.mean(log_z - logits[np.arange(len(y)), y])
    return float(ce + 0.5 * _digits.WEIGHT_DECAY * np.sum(theta**2))


@pytest.mark.slow  # compiles programs of their own
def test_mlp_digits_is_the_networks_loss_on_the_plane():
    plane = _digits.plane()
    d = plane.directions.astype(np.float64)
    np.testing.assert_allclose(d @ d.T, np.eye(2), atol=1e-6)  # orthonormal
    assert plane.explained[0] > plane.explained[1] > 0
    centre = plane.centre.astype(np.float64)
    for a, b in [(0.0, 0.0), plane.start, (1.5, -2.0), plane.minima[0]]:
        theta = centre + a * d[0] + b * d[1]
        got = float(plane.fn(jnp.asarray([a, b], jnp.float32), 0.0))
        np.testing.assert_allclose(got, mlp_loss_float64(theta), rtol=2e-4)
    # A grid evaluates the same function; the minimum is inside the box and
    # no grid point is lower; the start is where the training began.
    x, y, z = _compute.contour_grid(_compute.surface(State(landscape="mlp-digits")))
    lo1, hi1, lo2, hi2 = plane.box
    (m1, m2), low = plane.minima[0], plane.minimum_value
    assert lo1 < m1 < hi1 and lo2 < m2 < hi2
    assert low <= np.min(z) + 1e-6
    np.testing.assert_allclose(plane.trajectory[0], plane.start, atol=1e-3)
    assert mlp_loss_float64(centre) < float(plane.fn(jnp.asarray(plane.start), 0.0))


@pytest.mark.slow  # compiles programs of their own
def test_mlp_digits_paths_are_the_librarys():
    state = State(
        landscape="mlp-digits",
        optimizers=("sgd", "rmsprop", "adam"),
        start=_digits.plane().start,
        learning_rate=0.05,
        sgd_learning_rate=0.5,
        steps=15,
    )
    p = _compute.paths(state)
    fn = _compute.surface(state).loss
    for i, name in enumerate(p.optimizers):
        tx = _catalog.make_optimizer(**_compute.hyperparameters(state, name))
        np.testing.assert_allclose(
            p.params[i, :16],
            plain_loop(fn, tx, state.start, 15),
            rtol=1e-4,
            atol=1e-4,
            err_msg=name,
        )
    assert p.loss[1, 15] < p.loss[1, 0]  # RMSprop goes down the real loss
    assert "64-16-10" in explain_mlp(state) and "%" in explain_mlp(state)
    assert _state.from_query(_state.to_query(state)) == state


@pytest.mark.slow  # compiles the network's programs for both run lengths
def test_mlp_digits_runs_only_the_steps_shown():
    # Its runs stop at the first of MLP_STEPS that covers the view (each step
    # is a network's loss): the same path as the longer run, NaN after it.
    state = State(landscape="mlp-digits", start=_digits.plane().start, steps=150)
    assert _compute.computed_steps(state) == 200
    assert _compute.computed_steps(state.replace(steps=201)) == 1000
    assert _compute.computed_steps(state.replace(landscape="valley")) == 1000
    assert _compute.run_key(state) == _compute.run_key(state.replace(steps=37))
    short = _compute.paths(state.replace(optimizers=tuple(_catalog.OPTIMIZERS)))
    long = _compute.paths(state.replace(optimizers=short.optimizers, steps=1000))
    assert short.params.shape == long.params.shape == (13, 1001, 2)
    np.testing.assert_allclose(short.params[:, :201], long.params[:, :201], rtol=1e-5)
    assert (
        np.isnan(short.params[:, 201:]).all() and np.isnan(short.grads[:, 200:]).all()
    )
    _, sensitivity = _compute.sensitivity(state.replace(optimizers=("rmsprop",)))
    assert sensitivity.shape == (1, len(_compute.SENSITIVITY_RATES))
    assert np.isfinite(sensitivity).any()
    compared = _compute.compare_decay(state)
    assert compared.shape == (2, 1001, 2) and np.isnan(compared[:, 201:]).all()
