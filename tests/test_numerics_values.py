"""Right values at the edges: huge gradients, 16-bit chains, bias correction.

Each case was wrong once (a weight frozen by g*g overflowing, a momentum trace
rounded to float16 between links, 1 - b rounded apart from 1 - b**t); the
values here are the exact ones, from float64 NumPy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rmsprop_jax as rj
from benchmarks import numerics_bounds
from rmsprop_jax import presets


def _updates(tx, grads, steps, params=None, **extra):
    params = jnp.zeros_like(grads[0]) if params is None else params
    state = tx.init(params)
    out = []
    for t in range(steps):
        u, state = tx.update(grads[t % len(grads)], state, params, **extra)
        out.append(np.asarray(u, np.float64))
    return np.array(out), state


def _rmsprop_reference(g, steps, lr, decay, eps, centered=False):
    """Float64 RMSprop on gradients scaled to 1 (the update is scale-free up
    to eps, which is negligible at these magnitudes)."""
    s = m = 0.0
    out = []
    for _ in range(steps):
        s = decay * s + (1 - decay) * g * g
        m = decay * m + (1 - decay) * g
        var = s - m * m if centered else s
        out.append(-lr * g / np.sqrt(var + eps))
    return np.array(out)


# --- 1. huge finite gradients -------------------------------------------------


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("centered", [False, True])
def test_huge_float32_gradient_moves_every_step(jit, centered):
    tx = rj.rmsprop(0.01, centered=centered)
    g = jnp.array([1e30, -3e37], jnp.float32)
    state = tx.init(jnp.zeros(2))
    update = jax.jit(tx.update) if jit else tx.update
    want = np.stack(
        [_rmsprop_reference(x, 5, 0.01, 0.9, 0.0, centered) for x in (1.0, -1.0)], 1
    )
    for t in range(5):
        u, state = update(g, state)
        np.testing.assert_allclose(u, want[t], rtol=2e-6)
    assert bool(jnp.all(jnp.isfinite(state[0].rms)))
    if not centered:  # the exact first update: -lr / sqrt(1 - decay)
        assert abs(want[0][0] + 0.0316227766) < 1e-9


def test_huge_gradient_first_updates_of_every_adaptive_optimizer():
    g = jnp.array([1e30, -1e30], jnp.float32)
    cases = {
        "adagrad": (rj.adagrad(0.1), 0.1),
        "adam": (rj.adam(0.1), 0.1),
        "laprop": (rj.laprop(0.1), 0.1),
        "rmsprop-bias": (rj.rmsprop(0.1, bias_correction=True), 0.1),
        "torch_rmsprop": (presets.torch_rmsprop(lr=0.1), 0.1 / np.sqrt(0.01)),
        "torch_adagrad": (presets.torch_adagrad(lr=0.1), 0.1),
        "keras_rmsprop": (presets.keras_rmsprop(0.1), 0.1 / np.sqrt(0.1)),
        "keras_adagrad": (presets.keras_adagrad(0.1), 0.1),
        "tf1_rmsprop": (presets.tf1_rmsprop(0.1), 0.1 / np.sqrt(0.1)),
    }
    for name, (tx, first) in cases.items():
        u, _ = _updates(tx, [g], 3)
        np.testing.assert_allclose(u[0], [-first, first], rtol=1e-5, err_msg=name)
        assert np.all(np.abs(u[1:]) > 0.01 * first), name  # not frozen later


def test_bfloat16_params_with_float32_accumulators_at_1e30():
    tx = rj.rmsprop(0.01)
    g = jnp.full((3,), 1e30, jnp.bfloat16)
    u, state = _updates(tx, [g], 4)
    assert state[0].rms.dtype == jnp.float32
    want = _rmsprop_reference(1.0, 4, 0.01, 0.9, 0.0)
    np.testing.assert_allclose(u[:, 0], want, rtol=1e-2)  # bfloat16 output


def test_float64_at_1e300_follows_the_formula(x64):
    for tx, centered in (
        (rj.rmsprop(0.01), False),
        (rj.rmsprop(0.01, centered=True), True),
    ):
        u, _ = _updates(tx, [jnp.array([1e300, -1e300])], 6)
        want = _rmsprop_reference(1.0, 6, 0.01, 0.9, 0.0, centered)
        np.testing.assert_allclose(u[:, 0], want, rtol=1e-13)
        np.testing.assert_allclose(u[:, 1], -want, rtol=1e-13)


def test_the_root_moment_is_the_same_trajectory_in_float64(x64):
    # A generic float64 run (small and large gradients, eps mattering) against
    # the textbook formula s = b s + (1-b) g^2, u = g / sqrt(s + eps).
    rng = np.random.default_rng(0)
    g = rng.normal(size=(40, 5)) * np.array([1e-5, 1e-3, 1.0, 1e3, 1e150])
    tx = rj.rmsprop(0.01, decay=0.95, eps=1e-8)
    state = tx.init(jnp.zeros(5))
    s = np.zeros(5)
    for t in range(40):
        u, state = tx.update(jnp.asarray(g[t]), state)
        s = 0.95 * s + 0.05 * g[t] ** 2
        np.testing.assert_allclose(u, -0.01 * g[t] / np.sqrt(s + 1e-8), rtol=1e-14)


# --- 2. 16-bit chains ---------------------------------------------------------


def test_float16_sgd_momentum_keeps_the_trace_unrounded():
    g = jnp.array([6e4], jnp.float16)
    u, _ = _updates(rj.sgd(0.01, momentum=0.9), [g], 3)
    np.testing.assert_allclose(u[:, 0], [-600.0, -1140.0, -1626.0], rtol=1e-3)
    u, _ = _updates(rj.sgd(0.01, momentum=0.9, nesterov=True), [g], 3)
    np.testing.assert_allclose(u[:, 0], [-1140.0, -1626.0, -2063.4], rtol=1e-3)


def test_float16_adam_tiny_gradient_every_step():
    g = jnp.array([1e-7], jnp.float16)  # a float16 subnormal, ~1.19e-7
    u, _ = _updates(rj.adam(0.01), [g], 4)
    gf = float(g[0])
    want = -0.01 * gf / (gf + 1e-8)  # ~ -0.00922 at every step
    np.testing.assert_allclose(u[:, 0], want, rtol=1e-3)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_optimizer_output_is_cast_once(dtype):
    # Primitives pass the compute dtype along; the optimizer casts at the end.
    g = jnp.array([3.0, -1e-3], dtype)
    assert rj.scale_by_rms().update(g, rj.scale_by_rms().init(g))[0].dtype == (
        jnp.float32
    )
    for tx in (rj.rmsprop(), rj.adam(), rj.sgd(0.1, 0.9), rj.rprop(), rj.laprop()):
        u, _ = tx.update(g, tx.init(g), g)
        assert u.dtype == dtype


# --- 3. bias correction in float32 -------------------------------------------

GRID = np.concatenate([np.geomspace(1e-4, 1e7, 23), -np.geomspace(1.3e-4, 0.9e7, 23)])
# And 2000 magnitudes drawn log-uniformly from the same range, either sign.
_DRAWN = np.random.default_rng(1)
GRID = np.concatenate(
    [GRID, _DRAWN.choice([-1, 1], 2000) * 10 ** _DRAWN.uniform(-4, 7, 2000)]
)


def _ulp_error(u, lr):
    g = GRID.astype(np.float32).astype(np.float64)
    exact = -lr * g / (np.abs(g) + 1e-8)
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    return np.max(np.abs(np.asarray(u, np.float64) - exact) / ulp)


# The ends and a common decay in the quick selection; all seven in the full suite.
@pytest.mark.parametrize(
    "b",
    [
        0.0,
        pytest.param(0.5, marks=pytest.mark.slow),
        0.9,
        pytest.param(0.99, marks=pytest.mark.slow),
        pytest.param(0.999, marks=pytest.mark.slow),
        pytest.param(0.9999, marks=pytest.mark.slow),
        0.99999,
    ],
)
def test_first_bias_corrected_update_is_exact_to_rounding(b):
    # Within 2 ulp of -lr g / (|g| + eps) (exact lr = 0.1, so float32(0.1)'s
    # own 0.2 ulp counts too). The states keep the corrected moments, so
    # r_hat_1 = |g| (and LaProp's m_hat_1) exactly, and Adam's one count puts
    # 1 - b1 into the denominator, rounded as the momentum (1 - b1) g was:
    # the sum with eps, the quotient and the learning rate are left, 1.55 ulp
    # at most on this grid (Adam 1.66). The
    # arrangement of torch.optim.Adam (step = lr / (1 - b1^t), denominator
    # sqrt(v) / sqrt(1 - b2^t) + eps) reaches 2.8 ulp here, and so did this
    # library when it divided rounded raw moments by the corrections.
    g = jnp.asarray(GRID, jnp.float32)
    cases = [
        rj.adam(0.1, b2=b),
        rj.adam(0.1, b1=min(b, 0.999), b2=0.999),
        optax.inject_hyperparams(rj.adam)(0.1, b2=b),
        rj.rmsprop(0.1, decay=b, eps_in_sqrt=False, bias_correction=True),
        rj.laprop(0.1, b2=b, eps=1e-8),
        rj.laprop(0.1, b1=min(b, 0.999), eps=1e-8),
    ]
    for tx in cases:
        u, _ = jax.jit(tx.update)(g, tx.init(g))
        assert _ulp_error(u, 0.1) <= 2


def test_the_first_update_that_was_off_by_7e_4():
    u, _ = rj.adam(0.1, b2=0.99999).update(
        jnp.array([1.0, -2.0]), rj.adam().init(jnp.zeros(2))
    )
    np.testing.assert_allclose(u, [-0.1, 0.1], rtol=2e-7)


@pytest.mark.parametrize(
    "factory, kwargs",
    [
        (rj.adam, dict(learning_rate=0.01, b1=0.9, b2=0.99999)),
        (rj.laprop, dict(learning_rate=0.01, b1=0.8, b2=0.999)),
        (rj.rmsprop, dict(learning_rate=0.01, decay=0.99, bias_correction=True)),
        (rj.sgd, dict(learning_rate=0.01, momentum=0.9)),
    ],
)
def test_inject_hyperparams_equals_the_plain_optimizer(factory, kwargs):
    plain = factory(**kwargs)
    static = ("bias_correction",) if "bias_correction" in kwargs else ()
    injected = optax.inject_hyperparams(factory, static_args=static)(**kwargs)
    p = jnp.array([1.0, -2.0, 3.0])
    a, b = plain.init(p), injected.init(p)
    for t in range(12):
        g = jnp.sin(p * (t + 1)) * 10.0 ** (t % 5 - 2)
        ua, a = plain.update(g, a, p)
        ub, b = injected.update(g, b, p)
        np.testing.assert_array_equal(ua, ub)


# --- 4. AMSGrad presets: the same root moments as Adam ------------------------

_AMSGRAD = {
    "torch_adam": lambda b2, eps: presets.torch_adam(
        lr=0.1, betas=(0.9, b2), eps=eps, amsgrad=True
    ),
    "torch_adamw": lambda b2, eps: presets.torch_adamw(
        lr=0.1, betas=(0.9, b2), eps=eps, amsgrad=True
    ),
    "keras_adam": lambda b2, eps: presets.keras_adam(
        0.1, beta_2=b2, epsilon=eps, amsgrad=True
    ),
}


def _amsgrad_reference(g, lr, b1, b2, eps, torch_eps):
    """Float64 AMSGrad of torch (eps outside the corrected root) or Keras
    (eps outside the uncorrected root), steps along the leading axis."""
    m = v = v_max = np.zeros_like(g[0])
    out = []
    for t, gt in enumerate(g, start=1):
        m = b1 * m + (1 - b1) * gt
        v = b2 * v + (1 - b2) * gt * gt
        v_max = np.maximum(v_max, v)
        c1, c2 = 1 - b1**t, 1 - b2**t
        if torch_eps:
            out.append(-lr * (m / c1) / (np.sqrt(v_max) / np.sqrt(c2) + eps))
        else:
            out.append(-lr * np.sqrt(c2) / c1 * m / (np.sqrt(v_max) + eps))
    return np.array(out)


@pytest.mark.parametrize("name", sorted(_AMSGRAD))
@pytest.mark.parametrize("b2", [0.999, 0.99999])
def test_amsgrad_first_update_is_exact_to_rounding(name, b2):
    # Was [-0.10006788, 0.10006788] for torch_adam(betas=(0.9, 0.99999)): the
    # correction 1 - b2**t rounded apart from the moment's 1 - b2.
    tx = _AMSGRAD[name](b2, 0.0)
    g = jnp.asarray(GRID, jnp.float32)
    u, _ = tx.update(g, tx.init(g), jnp.zeros_like(g))
    exact = -0.1 * np.sign(GRID)
    ulp = np.spacing(np.float32(0.1)).astype(np.float64)
    assert np.max(np.abs(np.asarray(u, np.float64) - exact)) / ulp <= 3, name


@pytest.mark.parametrize("name", sorted(_AMSGRAD))
def test_amsgrad_huge_float32_gradient_follows_the_float64_formula(name):
    # g*g overflowed float32 above 1.8e19: the maximum became inf and every
    # update -0.0 from then on (a frozen weight).
    scale = np.array([1e30, -3e37])
    factors = np.array([1.0, 0.3, 2.0, 0.5, 1.5, 0.1])[:, None]  # max matters
    g = factors * scale
    tx = _AMSGRAD[name](0.99, 0.0)
    state = tx.init(jnp.zeros(2))
    want = _amsgrad_reference(factors * np.sign(scale), 0.1, 0.9, 0.99, 0.0, True)
    for t in range(len(g)):
        u, state = tx.update(jnp.asarray(g[t], jnp.float32), state, jnp.zeros(2))
        np.testing.assert_allclose(u, want[t], rtol=1e-5, err_msg=f"{name}, {t}")


@pytest.mark.parametrize("name", sorted(_AMSGRAD))
def test_amsgrad_float64_trajectory_follows_the_formula(x64, name):
    rng = np.random.default_rng(1)
    g = rng.normal(size=(30, 4)) * np.array([1e-5, 1.0, 1e3, 1e150])
    tx = _AMSGRAD[name](0.995, 1e-8)
    u, _ = _updates(tx, list(jnp.asarray(g)), len(g))
    want = _amsgrad_reference(g, 0.1, 0.9, 0.995, 1e-8, name.startswith("torch"))
    np.testing.assert_allclose(u, want, rtol=1e-13)


@pytest.mark.parametrize("name", sorted(_AMSGRAD))
def test_amsgrad_zero_gradient_with_eps_0_gives_0(name):
    # 0 / (sqrt(0) + 0) was NaN; a zero second moment means only zero
    # gradients so far, whose update is 0 (as without amsgrad).
    tx = _AMSGRAD[name](0.999, 0.0)
    grads = [jnp.zeros(2)] * 3 + [jnp.array([1.0, -2.0])]
    u, state = _updates(tx, grads, 4)
    np.testing.assert_array_equal(u[:3], 0.0)
    assert np.all(np.isfinite(u[3])) and np.all(np.sign(u[3]) == [-1, 1]), u[3]
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state))


# --- 5. schedules see a float64 count under jax_enable_x64 --------------------


def test_keras_weight_decay_schedule_is_float64(x64):
    # The decayed weights read the schedule at an int32 count: optax's
    # exponential_decay then returned float32 (3e-8 relative error).
    schedule = optax.exponential_decay(0.1, 3, 0.7)
    tx = presets.keras_sgd(schedule, weight_decay=0.3)
    w = jnp.array([1.0, -2.5, 1e-3])
    state = tx.init(w)
    want = np.asarray(w)
    for t in range(7):
        g = jnp.sin(w) + 0.5
        u, state = tx.update(g, state, w)
        w = optax.apply_updates(w, u)
        lr = 0.1 * 0.7 ** (t / 3)
        want = want - want * 0.3 * lr - lr * (np.sin(want) + 0.5)
        assert w.dtype == jnp.float64
        np.testing.assert_allclose(w, want, rtol=1e-15, atol=1e-17)


# --- 5. long float32 runs: the kept roots do not drift ---------------------------


def _float32_drift(make, b=0.9999, steps=20_000):
    """Largest relative difference of the float32 updates of ``make(b)`` from
    the float64 ones of ``make(float32(b))``, over a constant and a noisy
    gradient (seeded): the benchmark's own measure, shorter."""
    return numerics_bounds.drift(make, b, steps)


def test_a_long_float32_run_stays_as_close_to_float64_as_optax(x64):
    # The root was once updated as hypot(sqrt(b) r, sqrt(1-b) g): the rounded
    # weights sqrt(b)^2 + sqrt(1-b)^2 != 1 and 1 + q^2 rounded before the
    # root made 2e5 float32 steps at b = 0.99999 drift by 3e-3 (optax: 5e-4)
    # and Adagrad's root sum by 3e-3. The EMA now takes weights that sum to
    # 1 and keeps each step's change apart.
    optax_adam = _float32_drift(lambda b: optax.adam(1.0, b2=b))
    optax_rms = _float32_drift(lambda b: optax.scale_by_rms(b, 1e-8, eps_in_sqrt=False))
    for make in (
        lambda b: rj.adam(1.0, b2=b),
        lambda b: rj.laprop(1.0, b2=b),
        lambda b: rj.scale_by_rms(b, 1e-8, eps_in_sqrt=False, bias_correction=True),
        lambda b: rj.scale_by_rms(b, 1e-8, eps_in_sqrt=False),
    ):
        assert _float32_drift(make) <= min(optax_adam, optax_rms)
    # A root of a growing sum has half the relative resolution of the sum:
    # within 3x of optax's Adagrad.
    ours = _float32_drift(lambda _: rj.adagrad(1.0))
    theirs = _float32_drift(
        lambda _: optax.adagrad(1.0, initial_accumulator_value=0.0, eps=1e-10)
    )
    assert ours <= 3 * theirs
