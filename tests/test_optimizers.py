"""The optimizers: worked example, references, optax equivalences, sweeps."""

from __future__ import annotations

import copy

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import references as ref
from helpers import (
    assert_paths_close,
    nonlinear_loss,
    nonlinear_params,
    run,
    run_reference,
    trajectory,
)

import rmsprop_jax as rj
from rmsprop_jax.sweep import grid


def valley(w):
    """The digest's elongated valley E(w) = 3 w1^2 + 10 w2^2."""
    return 3 * w[0] ** 2 + 10 * w[1] ** 2


W0 = (-15.0, 20.0)


# --- the worked example -------------------------------------------------------


def test_worked_example_rmsprop(x64, maybe_jit):
    tx = rj.rmsprop(learning_rate=0.05, decay=0.9, eps=1e-8)
    w = jnp.array(W0)
    state = tx.init(w)
    update = maybe_jit(tx.update)
    # The digest rounds w(1) to 2 decimals before computing g(1) and s(2), so
    # those are compared at the digest's precision; the exact values are
    # g(1) = (-89.0513, 396.8377) and s(2) = (1522.01, 30149.94).
    expected = [
        # g(t), s(t+1), w(t+1)
        ((-90.0, 400.0), (810.0, 16000.0), (-14.84, 19.84)),
        ((-89.04, 396.8), (1521.81, 30145.02), (-14.73, 19.73)),
    ]
    for g_want, s_want, w_want in expected:
        g = jax.grad(valley)(w)
        np.testing.assert_allclose(g, g_want, rtol=2e-4)
        updates, state = update(g, state, w)
        w = optax.apply_updates(w, updates)
        np.testing.assert_allclose(state[0].rms ** 2, s_want, rtol=2e-4)  # sqrt(s)
        np.testing.assert_allclose(w, w_want, atol=0.005)
    # Step 1 moves both components by eta / sqrt(1 - beta) ~ 0.158.
    first = np.abs(np.array(expected[0][2]) - np.array(W0))
    np.testing.assert_allclose(first, 0.05 / np.sqrt(0.1), atol=0.005)


def test_worked_example_sgd(x64, maybe_jit):
    tx = rj.sgd(0.001)
    path = run(tx, valley, jnp.array(W0), 2, wrap=maybe_jit)
    np.testing.assert_allclose(path[1], (-14.91, 19.6), rtol=1e-12)
    np.testing.assert_allclose(path[2], (-14.82, 19.21), atol=0.005)
    np.testing.assert_allclose(path[2], (-14.82054, 19.208), rtol=1e-12)


# --- each optimizer against a NumPy reference chain (float64) -----------------

OPTIMIZERS = [
    (
        "rmsprop",
        rj.rmsprop,
        dict(learning_rate=0.01),
        ref.Chain(ref.Rms(0.9, 1e-8)),
        0.01,
    ),
    (
        "rmsprop_momentum_centered",
        rj.rmsprop,
        dict(learning_rate=0.003, decay=0.95, eps=1e-4, centered=True, momentum=0.9),
        ref.Chain(ref.Rms(0.95, 1e-4, centered=True), ref.Momentum(0.9)),
        0.003,
    ),
    (
        "rmsprop_nesterov_torch_eps",
        rj.rmsprop,
        dict(
            learning_rate=0.003,
            decay=0.99,
            momentum=0.5,
            nesterov=True,
            eps_in_sqrt=False,
            initial_scale=0.5,
        ),
        ref.Chain(
            ref.Rms(0.99, 1e-8, eps_in_sqrt=False, initial_scale=0.5),
            ref.Momentum(0.5, nesterov=True),
        ),
        0.003,
    ),
    (
        "adagrad",
        rj.adagrad,
        dict(learning_rate=0.1, initial_accumulator_value=0.1),
        ref.Chain(ref.Squares(0.1, 1e-10)),
        0.1,
    ),
    ("sgd", rj.sgd, dict(learning_rate=0.01), ref.Chain(), 0.01),
    (
        "sgd_momentum",
        rj.sgd,
        dict(learning_rate=0.01, momentum=0.9),
        ref.Chain(ref.Momentum(0.9)),
        0.01,
    ),
    (
        "sgd_nesterov",
        rj.sgd,
        dict(learning_rate=0.01, momentum=0.9, nesterov=True),
        ref.Chain(ref.Momentum(0.9, nesterov=True)),
        0.01,
    ),
    ("sign_sgd", rj.sign_sgd, dict(learning_rate=0.01), ref.Chain(ref.Sign()), 0.01),
    ("adam", rj.adam, dict(learning_rate=0.01), ref.Adam(0.9, 0.999, 1e-8), 0.01),
    (
        "laprop",
        rj.laprop,
        dict(learning_rate=0.01),
        ref.Chain(
            ref.Rms(0.999, 1e-15, eps_in_sqrt=False, bias_correction=True),
            ref.Momentum(0.9, dampening=0.9, bias_correction=True),
        ),
        0.01,
    ),
]


@pytest.mark.parametrize(
    "factory, kwargs, reference, lr",
    [o[1:] for o in OPTIMIZERS],
    ids=[o[0] for o in OPTIMIZERS],
)
def test_optimizer_matches_numpy_reference(
    x64, maybe_jit, factory, kwargs, reference, lr
):
    params = nonlinear_params()
    path = run(factory(**kwargs), nonlinear_loss, params, 50, wrap=maybe_jit)
    expected = run_reference(
        copy.deepcopy(reference), nonlinear_loss, params, 50, lr=lr
    )
    assert_paths_close(path, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("variant", ["rprop+", "rprop-", "irprop+", "irprop-"])
def test_rprop_optimizer_matches_reference(x64, variant):
    params = nonlinear_params()
    tx = rj.rprop(0.05, 0.5, 1.2, 1e-4, 1.0, variant=variant)
    path = run(tx, nonlinear_loss, params, 50, wrap=jax.jit, pass_value=True)
    expected = run_reference(
        ref.Rprop(variant, 0.05, 0.5, 1.2, 1e-4, 1.0),
        nonlinear_loss,
        params,
        50,
        pass_value=True,
    )
    assert_paths_close(path, expected, rtol=1e-12, atol=1e-12)


# --- equivalences with optax --------------------------------------------------


def _optax_pair_paths(ours, theirs, dtype=jnp.float32, steps=100):
    params = nonlinear_params(dtype)
    return (
        run(ours, nonlinear_loss, params, steps, wrap=jax.jit),
        run(theirs, nonlinear_loss, params, steps, wrap=jax.jit),
    )


@pytest.mark.parametrize(
    "kwargs",
    [dict(learning_rate=1e-2), dict(learning_rate=3e-3, b1=0.5, b2=0.99, eps=1e-6)],
)
def test_adam_equals_optax_adam(kwargs):
    # float32: equal to rounding (the second moment is kept as its root and
    # 1 - b is formed from b rounded to float32); float64 below: to 1e-13.
    ours, theirs = _optax_pair_paths(rj.adam(**kwargs), optax.adam(**kwargs))
    assert_paths_close(ours, theirs, rtol=2e-5, atol=1e-6)


def test_adam_equals_optax_adam_float64(x64):
    ours, theirs = _optax_pair_paths(rj.adam(0.01), optax.adam(0.01), jnp.float64)
    assert_paths_close(ours, theirs, rtol=1e-13, atol=1e-14)


def test_bias_corrected_rms_equals_adam_without_momentum(x64):
    ours = rj.rmsprop(
        0.01, decay=0.999, eps=1e-8, eps_in_sqrt=False, bias_correction=True
    )
    theirs = optax.adam(0.01, b1=0.0, b2=0.999, eps=1e-8)
    assert_paths_close(
        *_optax_pair_paths(ours, theirs, jnp.float64), rtol=1e-13, atol=1e-14
    )


def test_rmsprop_equals_optax_rmsprop(x64):
    ours = rj.rmsprop(0.01, decay=0.9, eps=1e-8, centered=True, momentum=0.9)
    theirs = optax.rmsprop(0.01, decay=0.9, eps=1e-8, centered=True, momentum=0.9)
    assert_paths_close(
        *_optax_pair_paths(ours, theirs, jnp.float64), rtol=1e-10, atol=1e-12
    )


def test_adagrad_equals_optax_adagrad(x64):
    ours = rj.adagrad(0.1, initial_accumulator_value=0.1, eps=1e-7)
    theirs = optax.adagrad(0.1, initial_accumulator_value=0.1, eps=1e-7)
    assert_paths_close(
        *_optax_pair_paths(ours, theirs, jnp.float64), rtol=1e-12, atol=1e-13
    )


def test_sequential_chain_is_laprop_not_adam():
    params = nonlinear_params(jnp.float32)
    lap = run(rj.laprop(0.01, eps=1e-8), nonlinear_loss, params, 20, wrap=jax.jit)
    adm = run(rj.adam(0.01), nonlinear_loss, params, 20, wrap=jax.jit)
    diff = np.abs(
        jax.flatten_util.ravel_pytree(lap[-1])[0]
        - jax.flatten_util.ravel_pytree(adm[-1])[0]
    )
    assert diff.max() > 1e-3


# --- traced hyperparameters: vmap grids, no retracing ------------------------


def test_vmapped_grid_equals_separate_runs():
    decays, lrs = [0.0, 0.5, 0.9, 0.99], [1e-3, 1e-2, 5e-2]
    w0 = jnp.array(W0)
    swept = trajectory(
        rj.rmsprop, valley, w0, 30, grid=grid(decay=decays, learning_rate=lrs)
    )  # (decays, lrs, steps + 1, 2), one compiled program
    for i, d in enumerate(decays):
        for j, lr in enumerate(lrs):
            alone = run(rj.rmsprop(learning_rate=lr, decay=d), valley, w0, 30)
            assert_paths_close(swept[i, j], alone, rtol=1e-5, atol=1e-6)


FACTORIES_WITH_ARRAYS = [
    (
        "rmsprop",
        lambda h: rj.rmsprop(h["lr"], h["decay"], h["eps"], momentum=h["decay"]),
    ),
    ("adagrad", lambda h: rj.adagrad(h["lr"], h["eps"], h["eps"])),
    ("sgd", lambda h: rj.sgd(h["lr"], h["decay"], nesterov=True)),
    ("sign_sgd", lambda h: rj.sign_sgd(h["lr"])),
    ("adam", lambda h: rj.adam(h["lr"], h["decay"], h["decay"], h["eps"])),
    ("laprop", lambda h: rj.laprop(h["lr"], h["decay"], h["decay"], h["eps"])),
    ("amsgrad", lambda h: rj.amsgrad(h["lr"], h["decay"], h["decay"], h["eps"])),
    ("adadelta", lambda h: rj.adadelta(h["lr"], h["decay"], h["eps"])),
    (
        "rprop",
        lambda h: rj.rprop(
            h["lr"], h["decay"], 1 + h["decay"], h["eps"], variant="irprop+"
        ),
    ),
]


@pytest.mark.parametrize(
    "make",
    [f for _, f in FACTORIES_WITH_ARRAYS],
    ids=[n for n, _ in FACTORIES_WITH_ARRAYS],
)
def test_no_retrace_when_hyperparameters_change(make):
    chex.clear_trace_counter()
    w0 = jnp.array(W0)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def train(h):
        tx = make(h)
        state = tx.init(w0)
        value, g = jax.value_and_grad(valley)(w0)
        updates, state = tx.update(g, state, w0, value=value)
        return optax.apply_updates(w0, updates)

    for scale in (1.0, 0.5, 0.25):
        h = {
            k: jnp.asarray(v * scale)
            for k, v in dict(lr=0.01, decay=0.9, eps=1e-8).items()
        }
        chex.assert_tree_all_finite(train(h))


# --- convergence, schedules, wrappers -----------------------------------------

CONVERGENCE = [
    ("rmsprop", lambda: rj.rmsprop(optax.cosine_decay_schedule(0.1, 600)), 600),
    ("rmsprop_momentum", lambda: rj.rmsprop(0.01, momentum=0.9), 400),
    ("adagrad", lambda: rj.adagrad(2.0), 400),
    ("sgd", lambda: rj.sgd(0.02), 400),
    ("sgd_nesterov", lambda: rj.sgd(0.01, momentum=0.9, nesterov=True), 400),
    ("sign_sgd", lambda: rj.sign_sgd(optax.exponential_decay(0.5, 20, 0.8)), 400),
    ("adam", lambda: rj.adam(0.5), 400),
    ("laprop", lambda: rj.laprop(0.3), 600),
    ("amsgrad", lambda: rj.amsgrad(0.5), 400),
    ("adadelta", lambda: rj.adadelta(1.0, 0.95, 0.1), 600),
    ("rprop-", lambda: rj.rprop(0.1, variant="rprop-"), 200),
    ("rprop+", lambda: rj.rprop(0.1, variant="rprop+"), 200),
    ("irprop+", lambda: rj.rprop(0.1, variant="irprop+"), 200),
    ("irprop-", lambda: rj.rprop(0.1, variant="irprop-"), 200),
]


@pytest.mark.parametrize(
    "make, steps", [c[1:] for c in CONVERGENCE], ids=[c[0] for c in CONVERGENCE]
)
def test_converges_on_the_valley(make, steps):
    w = trajectory(make(), valley, jnp.array(W0), steps)[-1]
    assert float(valley(w)) < 1e-3, (w, valley(w))


def test_schedules_are_accepted():
    schedule = optax.linear_schedule(0.1, 0.0, 10)
    for tx in (
        rj.rmsprop(schedule),
        rj.adagrad(schedule),
        rj.sgd(schedule, 0.9),
        rj.sign_sgd(schedule),
        rj.adam(schedule),
        rj.laprop(schedule),
    ):
        state = tx.init(jnp.zeros(2))
        for _ in range(12):
            updates, state = tx.update(jnp.ones(2), state)
        np.testing.assert_array_equal(updates, jnp.zeros(2))  # schedule reached 0


def test_inject_hyperparams_changes_learning_rate():
    tx = optax.inject_hyperparams(rj.rmsprop)(learning_rate=0.1, decay=0.9)
    state = tx.init(jnp.zeros(2))
    u1, state = tx.update(jnp.ones(2), state)
    state.hyperparams["learning_rate"] = jnp.asarray(0.0)
    u2, state = tx.update(jnp.ones(2), state)
    assert float(jnp.abs(u1).sum()) > 0 and float(jnp.abs(u2).sum()) == 0


def test_extra_args_are_ignored():
    tx = rj.rmsprop(0.1)
    g = jnp.ones(2)
    updates, _ = tx.update(g, tx.init(g), g, value=1.0, unknown_argument="x")
    chex.assert_tree_all_finite(updates)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize(
    "make",
    [
        lambda: rj.rmsprop(0.01, momentum=0.9),
        lambda: rj.adagrad(),
        lambda: rj.sgd(0.1, 0.9),
        lambda: rj.sign_sgd(0.1),
        lambda: rj.adam(),
        lambda: rj.laprop(),
        lambda: rj.rprop(variant="irprop+"),
    ],
)
def test_optimizers_keep_dtype(make, dtype):
    tx = make()
    params = {"w": jnp.ones((3, 2), dtype), "b": jnp.zeros(2, dtype)}
    grads = jax.tree.map(lambda p: p + 0.5, params)
    updates, state = jax.jit(lambda g, s: tx.update(g, s, params, value=1.0))(
        grads, tx.init(params)
    )
    chex.assert_trees_all_equal_dtypes(updates, params)
    chex.assert_trees_all_equal_dtypes(optax.apply_updates(params, updates), params)


# --- bad arguments ---------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: rj.rmsprop(-0.1), ValueError, "`learning_rate` must be in [0, inf]"),
        (
            lambda: rj.rmsprop(nesterov=True),
            ValueError,
            "`nesterov=True` requires `momentum`",
        ),
        (lambda: rj.sgd(0.1, nesterov=True), ValueError, "requires `momentum`"),
        (lambda: rj.sgd(0.1, momentum=1.5), ValueError, "`momentum` must be in [0, 1]"),
        (lambda: rj.rmsprop(momentum=-0.5), ValueError, "`momentum` must be in"),
        (lambda: rj.adam(b1=1.0), ValueError, "`b1` must be in [0, 1)"),
        (lambda: rj.adam(b2=-0.1), ValueError, "`b2` must be in [0, 1)"),
        (lambda: rj.laprop(b1=1.0), ValueError, "`b1` must be in [0, 1)"),
        (lambda: rj.laprop(eps=-1.0), ValueError, "`eps` must be in [0, inf]"),
        (lambda: rj.adam(eps=-1.0), ValueError, "`eps` must be in [0, inf]"),
        (lambda: rj.adagrad(-1.0), ValueError, "`learning_rate` must be in [0, inf]"),
        (lambda: rj.sign_sgd(-1.0), ValueError, "`learning_rate`"),
        (
            lambda: rj.rprop(optax.constant_schedule(0.1)),
            TypeError,
            "`learning_rate` is Rprop's initial step size",
        ),
        (lambda: rj.rprop(variant="rprop"), ValueError, "`variant` must be one of"),
    ],
)
def test_bad_arguments(call, error, message):
    import re

    with pytest.raises(error, match=re.escape(message)):
        call()


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda: rj.amsgrad(0.1), lambda: optax.amsgrad(0.1)),
        (
            lambda: rj.amsgrad(0.1, eps_root=1e-3),
            lambda: optax.amsgrad(0.1, eps_root=1e-3),
        ),
        (
            lambda: rj.adadelta(0.5, 0.8, 1e-4, weight_decay=0.01),
            lambda: optax.adadelta(0.5, 0.8, 1e-4, weight_decay=0.01),
        ),
    ],
    ids=["amsgrad", "amsgrad_eps_root", "adadelta"],
)
def test_amsgrad_and_adadelta_equal_optax_in_float64(x64, ours, theirs):
    # optax's own implementations as the independent reference, over steps
    # whose gradients shrink and change sign (AMSGrad's maximum then differs
    # from the moment).
    rng = np.random.default_rng(0)
    params = jnp.asarray(rng.normal(size=5))
    grads = [jnp.asarray(rng.normal(size=5) * 2.0**-k) for k in range(8)]
    a, b = ours(), theirs()
    sa, sb = a.init(params), b.init(params)
    for g in grads:
        ua, sa = a.update(g, sa, params)
        ub, sb = b.update(g, sb, params)
        np.testing.assert_allclose(ua, ub, rtol=1e-12, atol=1e-15)
        params = optax.apply_updates(params, ua)
