"""rmsprop_jax.diagnostics against NumPy and against the updates themselves."""

from __future__ import annotations

import csv

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from integration_problems import (
    assert_trees_close,
    data,
    init_params,
    load_example,
    loss,
)

import rmsprop_jax as rj
from rmsprop_jax import diagnostics

STEPS = 5
LR, EPS = 0.01, 1e-3  # a large eps, so that misplacing it would show


def _history(tx, steps=STEPS, wrap_grads=lambda g: g):
    """Runs ``tx`` eagerly; returns the gradients, updates and final state."""
    params, batch = init_params(jnp.float64), data(jnp.float64)
    state = tx.init(params)
    grads_seen, updates_seen = [], []
    for _ in range(steps):
        value, grads = jax.value_and_grad(loss)(params, *batch)
        updates, state = tx.update(wrap_grads(grads), state, params, value=value)
        params = optax.apply_updates(params, updates)
        grads_seen.append(grads)
        updates_seen.append(updates)
    return grads_seen, updates_seen, state


def _stack(trees, key):
    return np.stack([np.asarray(t[key]) for t in trees])


def test_rmsprop_effective_rate_and_rms_against_numpy(x64):
    decay = 0.8
    grads, updates, state = _history(rj.rmsprop(LR, decay, EPS))
    rates = diagnostics.effective_learning_rates(state, learning_rate=LR, eps=EPS)
    rms = diagnostics.gradient_rms(state)
    assert list(rates) == list(rms) == ["0"]
    for key in ("kernel", "bias"):
        s = 0.0
        for g in _stack(grads, key):
            s = decay * s + (1 - decay) * g**2
        np.testing.assert_allclose(rates["0"][key], LR / np.sqrt(s + EPS), rtol=1e-12)
        np.testing.assert_allclose(rms["0"][key], np.sqrt(s), rtol=1e-12)
        # The defining property: the last update was -rate * gradient.
        np.testing.assert_allclose(
            updates[-1][key], -rates["0"][key] * grads[-1][key], rtol=1e-12
        )


def test_adagrad_effective_rate_and_rms_against_numpy(x64):
    grads, updates, state = _history(rj.adagrad(LR, eps=EPS))
    rates = diagnostics.effective_learning_rates(state, learning_rate=LR, eps=EPS)
    rms = diagnostics.gradient_rms(state, steps=STEPS)
    with pytest.raises(ValueError, match="`steps`.*keeps no step count"):
        diagnostics.gradient_rms(state)  # the mean needs t; Adagrad keeps no count
    for key in ("kernel", "bias"):
        total = np.sum(_stack(grads, key) ** 2, axis=0)
        np.testing.assert_allclose(
            rates["0"][key], LR / np.sqrt(total + EPS), rtol=1e-12
        )
        np.testing.assert_allclose(rms["0"][key], np.sqrt(total / STEPS), rtol=1e-12)
        np.testing.assert_allclose(
            updates[-1][key], -rates["0"][key] * grads[-1][key], rtol=1e-12
        )


def test_adagrad_rms_counts_steps_from_inject_hyperparams(x64):
    tx = optax.inject_hyperparams(rj.adagrad, hyperparam_dtype=jnp.float64)(
        learning_rate=LR, eps=EPS
    )
    grads, _, state = _history(tx)
    rms = diagnostics.gradient_rms(state)  # t from the inject_hyperparams count
    row = diagnostics.report(state, statistics=("max",))
    for key in ("kernel", "bias"):
        total = np.sum(_stack(grads, key) ** 2, axis=0)
        want = np.sqrt(total / STEPS)
        np.testing.assert_allclose(rms["inner_state/0"][key], want, rtol=1e-12)
        got = row[f"gradient_rms/inner_state/0/{key}/max"]
        np.testing.assert_allclose(got, want.max(), rtol=1e-12)


def test_adam_rate_times_corrected_momentum_is_the_update(x64):
    b1, b2 = 0.9, 0.99
    tx = optax.inject_hyperparams(rj.adam, hyperparam_dtype=jnp.float64)(
        learning_rate=LR, b1=b1, b2=b2, eps=EPS
    )
    grads, updates, state = _history(tx)
    # learning_rate, eps and b2 (for the bias correction) come from the state.
    rates = diagnostics.effective_learning_rates(state)
    assert list(rates) == ["inner_state/0/rms"]
    for key in ("kernel", "bias"):
        m = 0.0
        for g in _stack(grads, key):
            m = b1 * m + (1 - b1) * g
        m_hat = m / (1 - b1**STEPS)
        np.testing.assert_allclose(
            updates[-1][key], -rates["inner_state/0/rms"][key] * m_hat, rtol=1e-12
        )


def test_laprop_needs_its_eps_flag(x64):
    """LaProp's scale_by_rms puts eps outside (say so); it corrects bias, and
    its state keeps the corrected moment, so no decay is needed to read it."""
    b2 = 0.99
    grads, updates, state = _history(rj.laprop(LR, b2=b2, eps=EPS), steps=1)
    rates = diagnostics.effective_learning_rates(state, LR, EPS, eps_in_sqrt=False)
    for key in ("kernel", "bias"):  # one step: momentum of one normalised gradient
        np.testing.assert_allclose(
            updates[0][key], -rates["0"][key] * grads[0][key], rtol=1e-12
        )
    with_decay = diagnostics.effective_learning_rates(
        state, LR, EPS, eps_in_sqrt=False, decay=b2
    )
    chex.assert_trees_all_equal(with_decay, rates)
    eps_inside = diagnostics.effective_learning_rates(state, LR, EPS)
    assert not np.allclose(eps_inside["0"]["kernel"], rates["0"]["kernel"])
    # The uncorrected moment needs the decay (and gives sqrt(1 - b2) |g|).
    with pytest.raises(ValueError, match="`decay` is needed"):
        diagnostics.gradient_rms(state, bias_correction=False)
    raw = diagnostics.gradient_rms(state, bias_correction=False, decay=b2)
    for key in ("kernel", "bias"):
        np.testing.assert_allclose(
            raw["0"][key], np.sqrt(1 - b2) * np.abs(grads[0][key]), rtol=1e-12
        )


def test_bias_correction_of_an_uncorrected_state_needs_steps(x64):
    decay, steps = 0.9, 3
    tx = rj.rmsprop(LR, decay=decay, eps=EPS)
    _, _, state = _history(tx, steps=steps)
    plain = diagnostics.gradient_rms(state)
    with pytest.raises(ValueError, match="`steps`.*ScaleByRmsState"):
        diagnostics.gradient_rms(state, bias_correction=True, decay=decay)
    corrected = diagnostics.gradient_rms(
        state, bias_correction=True, decay=decay, steps=steps
    )
    for key in ("kernel", "bias"):
        np.testing.assert_allclose(
            corrected["0"][key],
            plain["0"][key] / np.sqrt(1 - decay**steps),
            rtol=1e-12,
        )


@pytest.mark.parametrize("variant", ["rprop-", "irprop+"])
def test_rprop_rates_are_the_step_sizes(variant, x64):
    tx = rj.rprop(0.01, variant=variant)
    grads, updates, state = _history(tx)
    rates = diagnostics.effective_learning_rates(state)  # no learning rate needed
    assert_trees_close(rates["0"], state[0].step_size, rtol=0)
    assert diagnostics.gradient_rms(state) == {}
    if variant == "rprop-":  # never zeroes a step: u = -sign(g) * step size
        for key in ("kernel", "bias"):
            np.testing.assert_allclose(
                updates[-1][key], -np.sign(grads[-1][key]) * rates["0"][key], rtol=1e-12
            )


def _wrapped(base):
    labels = {"kernel": "a", "bias": "b"}
    return {
        "chain": (optax.chain(optax.clip(1e3), base), "1/0"),
        "inject": (
            optax.inject_hyperparams(rj.rmsprop, hyperparam_dtype=jnp.float64)(
                LR, 0.8, EPS
            ),
            "inner_state/0",
        ),
        "multisteps": (optax.MultiSteps(base, 1), "inner_opt_state/0"),
        "skip_nonfinite": (rj.skip_nonfinite(base), "inner/0"),
        "masked": (
            optax.masked(base, {"kernel": True, "bias": False}),
            "inner_state/0",
        ),
        "multi_transform": (
            optax.multi_transform({"a": base, "b": optax.sgd(0.1)}, labels),
            "inner_states/a/inner_state/0",
        ),
    }


WRAPPERS = [
    "chain",
    "inject",
    "masked",
    "multi_transform",
    "multisteps",
    "skip_nonfinite",
]


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_states_are_found_inside_optax_wrappers(wrapper, x64):
    base = rj.rmsprop(LR, 0.8, EPS)
    tx, path = _wrapped(base)[wrapper]
    grads, _, plain = _history(base)
    params = init_params(jnp.float64)
    state = tx.init(params)
    for g in grads:  # the same gradients as the plain run
        _, state = tx.update(g, state, params)
    assert list(diagnostics.find_states(state)) == [path]
    kwargs = {} if wrapper == "inject" else {"learning_rate": LR, "eps": EPS}
    rates = diagnostics.effective_learning_rates(state, **kwargs)[path]
    expected = diagnostics.effective_learning_rates(plain, LR, EPS)["0"]
    if wrapper in ("masked", "multi_transform"):  # biases are not ours there
        assert isinstance(rates["bias"], optax.MaskedNode)
        rates, expected = rates["kernel"], expected["kernel"]
    assert_trees_close(rates, expected, rtol=1e-12)


def test_several_states_each_get_their_key():
    tx = optax.multi_transform(
        {"a": rj.rmsprop(LR), "b": rj.rprop(0.01), "c": rj.adam(LR)},
        {"kernel": "a", "bias": "b", "extra": "c"},
    )
    params = {**init_params(), "extra": jnp.ones(3)}
    states = diagnostics.find_states(tx.init(params))
    assert list(states) == [
        "inner_states/a/inner_state/0",
        "inner_states/b/inner_state/0",
        "inner_states/c/inner_state/0/rms",
    ]


def test_a_missing_learning_rate_is_an_error():
    tx = rj.rmsprop(LR)
    state = tx.init(init_params())
    with pytest.raises(ValueError, match="`learning_rate` is needed"):
        diagnostics.effective_learning_rates(state)
    with pytest.raises(ValueError, match="`decay` is needed"):
        diagnostics.gradient_rms(state, bias_correction=True)
    with pytest.raises(ValueError, match="`learning_rate` must be in"):
        diagnostics.effective_learning_rates(state, learning_rate=-1.0)


def test_summarize_against_numpy():
    rng = np.random.default_rng(0)
    tree = {"w": rng.normal(size=(5, 7)), "b": rng.normal(size=4)}
    stats = diagnostics.summarize({"0": tree}, ("min", "median", "max", "mean"))
    for leaf in ("b", "w"):
        values = tree[leaf]
        expected = [values.min(), np.median(values), values.max(), values.mean()]
        got = [stats[f"0/{leaf}/{s}"] for s in ("min", "median", "max", "mean")]
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="statistics"):
        diagnostics.summarize({"0": tree}, ("p99",))


def test_report_is_cheap_to_log_under_jit():
    tx = optax.masked(rj.rmsprop(LR), {"kernel": True, "bias": False})
    params, batch = init_params(), data()

    @jax.jit
    def step(params, state):
        grads = jax.grad(loss)(params, *batch)
        updates, state = tx.update(grads, state, params)
        row = diagnostics.report(state, learning_rate=LR)
        return optax.apply_updates(params, updates), state, row

    state = tx.init(params)
    params, state, row = step(params, state)
    params, state, row2 = step(params, state)
    assert step._cache_size() == 1
    assert (
        list(row)
        == list(row2)
        == [
            f"{kind}/inner_state/0/kernel/{stat}"
            for kind in ("effective_learning_rate", "gradient_rms")
            for stat in ("max", "median", "min")
        ]
    )
    assert list(diagnostics.report(state, learning_rate=LR)) == list(row)
    eager = diagnostics.report(state, learning_rate=LR)
    for key in row2:
        np.testing.assert_allclose(row2[key], eager[key], rtol=1e-6)
    assert all(np.shape(v) == () for v in row2.values())


@pytest.mark.slow
def test_csv_logging_example(tmp_path):
    path = tmp_path / "diagnostics.csv"
    rows = load_example("log_diagnostics").train(steps=40, path=str(path))
    with open(path, newline="") as f:
        written = list(csv.DictReader(f))
    assert len(written) == 40 and list(written[0]) == list(rows[0])
    # 4 leaves x 3 statistics x 2 quantities, plus step, learning rate and loss.
    assert len(rows[0]) == 4 * 3 * 2 + 3
    key = "effective_learning_rate/inner_state/0/hidden/kernel/median"
    assert float(written[0][key]) == 0.0  # the warmup starts at learning rate 0
    assert all(float(r[key]) >= 0 for r in written) and float(written[-1][key]) > 0
    assert rows[-1]["loss"] < rows[0]["loss"]


# Each preset with a second moment, inside inject_hyperparams under the
# framework's own names (lr, epsilon, alpha, rho, lr_decay): with no momentum
# and no weight decay, the last update is exactly -rate * gradient, which
# checks the learning rate, eps, its placement and PyTorch Adagrad's lr_decay.
PRESETS_INJECTED = {
    "torch_rmsprop": (rj.presets.torch_rmsprop, dict(lr=LR, alpha=0.8, eps=EPS)),
    "torch_adagrad": (
        rj.presets.torch_adagrad,
        dict(lr=LR, lr_decay=0.3, eps=EPS),
    ),
    "keras_rmsprop": (
        rj.presets.keras_rmsprop,
        dict(learning_rate=LR, rho=0.8, epsilon=EPS),
    ),
    "keras_adagrad": (rj.presets.keras_adagrad, dict(learning_rate=LR, epsilon=EPS)),
    "tf1_rmsprop": (
        rj.presets.tf1_rmsprop,
        dict(learning_rate=LR, decay=0.8, epsilon=EPS),
    ),
}


@pytest.mark.parametrize("name", sorted(PRESETS_INJECTED))
def test_presets_inside_inject_hyperparams(name, x64):
    factory, kwargs = PRESETS_INJECTED[name]
    tx = optax.inject_hyperparams(factory, hyperparam_dtype=jnp.float64)(**kwargs)
    grads, updates, state = _history(tx)
    rates = diagnostics.effective_learning_rates(state)
    (path,) = rates
    for key in ("kernel", "bias"):
        np.testing.assert_allclose(
            updates[-1][key], -rates[path][key] * grads[-1][key], rtol=1e-12
        )
    row = diagnostics.report(state, statistics=("max",), steps=STEPS)
    assert sorted(row) == [
        f"{kind}/{path}/{key}/max"
        for kind in ("effective_learning_rate", "gradient_rms")
        for key in ("bias", "kernel")
    ]


def test_defaults_are_the_primitives_own(x64):
    """Without inject_hyperparams or eps=, eps and its placement are the
    defaults of the primitive that built the state."""
    for tx, eps, inside in (
        (rj.rmsprop(LR), 1e-8, True),  # scale_by_rms
        (rj.adagrad(LR), 1e-10, True),  # accumulate_squares
        (rj.adam(LR), 1e-8, False),  # precondition_by_rms
    ):
        grads, updates, state = _history(tx, steps=1)
        (rates,) = diagnostics.effective_learning_rates(
            state, learning_rate=LR, decay=0.999
        ).values()
        (moment,) = diagnostics.find_states(state).values()
        root = getattr(moment, "rms", getattr(moment, "root_sum_of_squares", None))
        s = jax.tree.map(np.square, root)  # Adam's state keeps s / (1 - b2^t)
        for key in ("kernel", "bias"):
            want = LR / (np.sqrt(s[key] + eps) if inside else np.sqrt(s[key]) + eps)
            np.testing.assert_allclose(rates[key], want, rtol=1e-12)


def test_missing_hyperparameter_inside_inject_hyperparams_names_what_it_holds():
    tx = optax.inject_hyperparams(lambda rate, eps: rj.rmsprop(rate, eps=eps))(
        rate=LR, eps=EPS
    )
    state = tx.init(init_params())
    with pytest.raises(ValueError, match="holds eps, rate, none of them named"):
        diagnostics.effective_learning_rates(state)
    assert diagnostics.report(state, learning_rate=LR)  # the explicit value


# Adam three ways, each wrapped under its own names: the rate is the factor of
# the bias-corrected first moment, u_t = -rate * m_hat_t, at every step --
# including Keras's, whose step size folds in sqrt(1 - b2^t) / (1 - b1^t) and
# whose eps sits outside the uncorrected root.
ADAMS = {
    "rj.adam": (rj.adam, dict(learning_rate=LR, b1=0.9, b2=0.99, eps=EPS), {}),
    "torch_adam": (
        rj.presets.torch_adam,
        dict(lr=LR, betas=(0.9, 0.99), eps=EPS),
        dict(decay=0.99),  # betas is a pair: inject_hyperparams keeps it static
    ),
    "keras_adam": (
        rj.presets.keras_adam,
        dict(learning_rate=LR, beta_1=0.9, beta_2=0.99, epsilon=EPS),
        {},
    ),
    "torch_adamw": (  # without its decoupled decay, which is no part of the rate
        rj.presets.torch_adamw,
        dict(lr=LR, betas=(0.9, 0.99), eps=EPS, weight_decay=0.0),
        dict(decay=0.99),
    ),
}


@pytest.mark.parametrize("name", sorted(ADAMS))
def test_adam_presets_rate_times_corrected_momentum_is_the_update(name, x64):
    factory, kwargs, given = ADAMS[name]
    tx = optax.inject_hyperparams(factory, hyperparam_dtype=jnp.float64)(**kwargs)
    params, batch = init_params(jnp.float64), data(jnp.float64)
    state, m = tx.init(params), jax.tree.map(jnp.zeros_like, params)
    for t in range(1, 5):
        grads = jax.grad(loss)(params, *batch)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        m = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, m, grads)
        (rate,) = diagnostics.effective_learning_rates(state, **given).values()
        for key in ("kernel", "bias"):
            m_hat = m[key] / (1 - 0.9**t)
            np.testing.assert_allclose(
                updates[key], -rate[key] * m_hat, rtol=1e-10, err_msg=f"t={t}"
            )


def test_keras_adam_first_step_rate_is_lr_over_abs_gradient(x64):
    """At t = 1, m_hat = g and v_hat = g^2: the rate is lr / (|g| + eps/sqrt(1-b2))."""
    tx = optax.inject_hyperparams(rj.presets.keras_adam)(learning_rate=0.01)
    w, g = jnp.zeros(2), jnp.array([-0.1, -10.0])
    updates, state = tx.update(g, tx.init(w), w)
    np.testing.assert_allclose(updates, [0.01, 0.01], rtol=1e-4)
    (rate,) = diagnostics.effective_learning_rates(state).values()
    np.testing.assert_allclose(rate, 0.01 / (np.abs(g) + 1e-7 / np.sqrt(1e-3)))


def test_torch_adam_betas_outside_the_state_is_named():
    tx = optax.inject_hyperparams(rj.presets.torch_adam)(lr=LR)
    w = jnp.zeros(2)
    _, state = tx.update(jnp.ones(2), tx.init(w), w)
    # The state keeps the corrected moment: the rates need no decay, the
    # uncorrected moment does.
    assert diagnostics.effective_learning_rates(state)
    with pytest.raises(ValueError, match=r"`betas`.*pass decay=betas\[1\]"):
        diagnostics.gradient_rms(state, bias_correction=False)
    assert diagnostics.gradient_rms(state, bias_correction=False, decay=0.999)


def test_torch_rprop_rates_are_the_step_sizes(x64):
    """torch's Rprop (Rprop- with its zeroed gradient after a sign change):
    u = -sign(g) * step size wherever the sign held."""
    tx = optax.inject_hyperparams(rj.presets.torch_rprop)(lr=0.01)
    grads, updates, state = _history(tx, steps=8)
    (path,) = rates = diagnostics.effective_learning_rates(state)
    assert_trees_close(rates[path], state.inner_state[0].step_size, rtol=0)
    for key in ("kernel", "bias"):
        g, before = grads[-1][key], grads[-2][key]
        held = np.sign(g) * np.sign(before) >= 0
        expected = np.where(held, -np.sign(g) * rates[path][key], 0.0)
        np.testing.assert_allclose(updates[-1][key], expected, rtol=1e-12)


def _heavy_ball(alpha, dampening=0.0, nesterov=False, undamped_first=False):
    """The direction d_t of a momentum optimizer (u_t = -lr d_t), in NumPy:
    v_t = alpha v_{t-1} + (1 - dampening) g_t, d_t = v_t or g_t + alpha v_t."""

    def directions(gs):
        v, out = 0.0, []
        for t, g in enumerate(gs):
            damp = 0.0 if (undamped_first and t == 0) else dampening
            v = alpha * v + (1 - damp) * g
            out.append(g + alpha * v if nesterov else v)
        return out

    return directions


# Every optimizer and preset without a preconditioner: its factory, arguments
# (the learning rate under the factory's own name) and its direction d_t by
# hand. The effective learning rate is lr itself: u_t = -lr * d_t.
WITHOUT_PRECONDITIONER = {
    "sgd": (rj.sgd, dict(learning_rate=LR), lambda gs: list(gs)),
    "sgd_momentum": (rj.sgd, dict(learning_rate=LR, momentum=0.9), _heavy_ball(0.9)),
    "sgd_nesterov": (
        rj.sgd,
        dict(learning_rate=LR, momentum=0.9, nesterov=True),
        _heavy_ball(0.9, nesterov=True),
    ),
    "sign_sgd": (
        rj.sign_sgd,
        dict(learning_rate=LR),
        lambda gs: list(map(np.sign, gs)),
    ),
    "torch_sgd": (
        rj.presets.torch_sgd,
        dict(lr=LR, momentum=0.9, dampening=0.3),
        _heavy_ball(0.9, dampening=0.3, undamped_first=True),
    ),
    "torch_sgd_nesterov": (
        rj.presets.torch_sgd,
        dict(lr=LR, momentum=0.9, nesterov=True),
        _heavy_ball(0.9, nesterov=True, undamped_first=True),
    ),
    "keras_sgd": (
        rj.presets.keras_sgd,
        dict(learning_rate=LR, momentum=0.9),
        _heavy_ball(0.9),
    ),
    "keras_sgd_nesterov": (
        rj.presets.keras_sgd,
        dict(learning_rate=LR, momentum=0.9, nesterov=True),
        _heavy_ball(0.9, nesterov=True),
    ),
}


@pytest.mark.parametrize("name", sorted(WITHOUT_PRECONDITIONER))
def test_without_a_preconditioner_the_rate_is_the_learning_rate(name, x64):
    factory, kwargs, directions = WITHOUT_PRECONDITIONER[name]
    static = {k: v for k, v in kwargs.items() if isinstance(v, bool)}
    numeric = {k: v for k, v in kwargs.items() if k not in static}
    injected = optax.inject_hyperparams(
        factory, static_args=tuple(static), hyperparam_dtype=jnp.float64
    )(**kwargs)
    for tx, given in ((factory(**kwargs), {"learning_rate": LR}), (injected, {})):
        grads, updates, state = _history(tx)
        rates = diagnostics.effective_learning_rates(state, **given)
        assert list(rates) == [""] and float(rates[""]) == LR, rates
        for key in ("kernel", "bias"):
            expected = directions(_stack(grads, key))
            for t, (u, d) in enumerate(
                zip(_stack(updates, key), expected, strict=True)
            ):
                np.testing.assert_allclose(
                    u, -rates[""] * d, rtol=1e-12, err_msg=f"{key} t={t}"
                )
        # Nothing of the gradients' size is kept.
        assert diagnostics.gradient_rms(state, steps=STEPS) == {}
        row = diagnostics.report(state, statistics=("max",), **given)
        assert row == {"effective_learning_rate/max": LR}
    assert set(numeric) <= set(injected.init(init_params()).hyperparams)


def test_without_a_preconditioner_the_learning_rate_is_needed():
    state = rj.sgd(LR, momentum=0.9).init(init_params())
    with pytest.raises(ValueError, match="`learning_rate` is needed"):
        diagnostics.effective_learning_rates(state)
    with pytest.raises(ValueError, match="`learning_rate` is needed"):
        diagnostics.report(state)


def test_a_foreign_optimizer_is_named_not_made_up():
    """optax's own Adam keeps moments the diagnostics do not read: no rate is
    made up for it (not the learning rate of an optimizer without one); nor
    for LARS (a trust ratio, then optax's momentum: its u/g is not lr), optax's
    SGD or noisy SGD, whose states hold no momentum of this library."""
    for tx in (
        optax.adam(LR),
        optax.chain(optax.clip(1.0), optax.adafactor(LR)),
        optax.lars(LR),
        optax.sgd(LR, momentum=0.9),
        optax.noisy_sgd(LR, key=jax.random.key(0)),
    ):
        state = tx.init(init_params())
        with pytest.raises(ValueError, match="no state of this library's"):
            diagnostics.effective_learning_rates(state, learning_rate=LR)
        with pytest.raises(ValueError, match="no state of this library's"):
            diagnostics.report(state, learning_rate=LR)
        # What a sweep records for it: nothing found, NaN there.
        assert not diagnostics.find_states(state)


def test_every_optimizer_and_preset_has_its_rate_tested():
    """The tests above cover every public optimizer and preset factory."""
    from helpers import PRESET_FACTORIES

    from rmsprop_jax import optimizers

    by_hand = {  # factory -> the test of this module that checks its rate
        "rmsprop": "test_rmsprop_effective_rate_and_rms_against_numpy",
        "adagrad": "test_adagrad_effective_rate_and_rms_against_numpy",
        "laprop": "test_laprop_needs_its_eps_flag",
        "rprop": "test_rprop_rates_are_the_step_sizes",
        "torch_rprop": "test_torch_rprop_rates_are_the_step_sizes",
    }
    assert all(callable(globals().get(test)) for test in by_hand.values())
    tested = {
        *by_hand,
        *(f.__name__ for f, _ in PRESETS_INJECTED.values()),
        *(f.__name__ for f, _, _ in ADAMS.values()),
        *(f.__name__ for f, _, _ in WITHOUT_PRECONDITIONER.values()),
    }
    assert set(optimizers.__all__) | set(PRESET_FACTORIES) <= tested
