"""rmsprop_jax.diagnostics against NumPy and against the updates themselves."""

from __future__ import annotations

import csv
import dataclasses
import functools
import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import PRESET_FACTORIES
from integration_problems import (
    assert_trees_close,
    data,
    init_params,
    load_example,
    loss,
)

import rmsprop_jax as rj
from rmsprop_jax import declarations, diagnostics

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
    tx = rj.rmsprop(LR, decay, EPS)
    grads, updates, state = _history(tx)
    rates = diagnostics.effective_learning_rates(state, optimizer=tx)
    rms = diagnostics.gradient_rms(state, optimizer=tx)
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
    tx = rj.adagrad(LR, eps=EPS)
    grads, updates, state = _history(tx)
    rates = diagnostics.effective_learning_rates(state, optimizer=tx)
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
    row = diagnostics.report(state, optimizer=rj.adagrad, statistics=("max",))
    for key in ("kernel", "bias"):
        total = np.sum(_stack(grads, key) ** 2, axis=0)
        want = np.sqrt(total / STEPS)
        np.testing.assert_allclose(rms["inner_state/0"][key], want, rtol=1e-12)
        got = row[f"gradient_rms/adagrad/{key}/max"]
        np.testing.assert_allclose(got, want.max(), rtol=1e-12)


def test_adam_rate_times_corrected_momentum_is_the_update(x64):
    b1, b2 = 0.9, 0.99
    tx = optax.inject_hyperparams(rj.adam, hyperparam_dtype=jnp.float64)(
        learning_rate=LR, b1=b1, b2=b2, eps=EPS
    )
    grads, updates, state = _history(tx)
    # learning_rate and eps come from the state under adam's declared names.
    rates = diagnostics.effective_learning_rates(state, optimizer=rj.adam)
    assert list(rates) == ["inner_state/0/rms"]
    for key in ("kernel", "bias"):
        m = 0.0
        for g in _stack(grads, key):
            m = b1 * m + (1 - b1) * g
        m_hat = m / (1 - b1**STEPS)
        np.testing.assert_allclose(
            updates[-1][key], -rates["inner_state/0/rms"][key] * m_hat, rtol=1e-12
        )


def test_laprop_declares_its_eps_outside(x64):
    """LaProp's scale_by_rms puts eps outside (its declaration says so); it
    corrects bias, and its state keeps the corrected moment, so no decay is
    needed to read it."""
    b2 = 0.99
    tx = rj.laprop(LR, b2=b2, eps=EPS)
    grads, updates, state = _history(tx, steps=1)
    rates = diagnostics.effective_learning_rates(state, optimizer=tx)
    for key in ("kernel", "bias"):  # one step: momentum of one normalised gradient
        np.testing.assert_allclose(
            updates[0][key], -rates["0"][key] * grads[0][key], rtol=1e-12
        )
    explicit = diagnostics.effective_learning_rates(
        state, LR, EPS, eps_in_sqrt=False, decay=b2
    )
    chex.assert_trees_all_equal(explicit, rates)
    eps_inside = diagnostics.effective_learning_rates(
        state, optimizer=tx, eps_in_sqrt=True
    )
    assert not np.allclose(eps_inside["0"]["kernel"], rates["0"]["kernel"])
    with pytest.raises(ValueError, match="`eps_in_sqrt` is needed.*optimizer="):
        diagnostics.effective_learning_rates(state, LR, EPS)  # nothing declares it
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
    optimizer = rj.rmsprop if wrapper == "inject" else base
    rates = diagnostics.effective_learning_rates(state, optimizer=optimizer)[path]
    expected = diagnostics.effective_learning_rates(plain, optimizer=base)["0"]
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
    with pytest.raises(ValueError, match="`learning_rate` is needed.*optimizer="):
        diagnostics.effective_learning_rates(state)
    # The factory declares the name, not the value of its call: pass the
    # transformation.
    with pytest.raises(ValueError, match="`learning_rate` is needed.*not known"):
        diagnostics.effective_learning_rates(state, optimizer=rj.rmsprop)
    with pytest.raises(ValueError, match="`decay` is needed"):
        diagnostics.gradient_rms(state, bias_correction=True)
    with pytest.raises(TypeError, match="`optimizer` declares nothing"):
        diagnostics.effective_learning_rates(state, optimizer=optax.adam(LR))
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
        row = diagnostics.report(state, optimizer=rj.rmsprop(LR))
        return optax.apply_updates(params, updates), state, row

    state = tx.init(params)
    params, state, row = step(params, state)
    params, state, row2 = step(params, state)
    assert step._cache_size() == 1
    assert (
        list(row)
        == list(row2)
        == [
            *(
                f"effective_learning_rate/rmsprop/kernel/{stat}"
                for stat in ("max", "max_without_gradient", "median", "min")
            ),
            *(
                f"gradient_rms/rmsprop/kernel/{stat}"
                for stat in ("max", "median", "min")
            ),
        ]
    )
    eager = diagnostics.report(state, optimizer=rj.rmsprop(LR))
    assert list(eager) == list(row)
    for key in row2:
        np.testing.assert_allclose(row2[key], eager[key], rtol=1e-6)
    assert all(np.shape(v) == () for v in row2.values())
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
    # 4 leaves x (3 + 1 apart) rate statistics, 4 x 3 RMS statistics, plus
    # step, learning rate and loss.
    assert len(rows[0]) == 4 * 4 + 4 * 3 + 3
    key = "effective_learning_rate/rmsprop/hidden/kernel/median"
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
    with pytest.raises(ValueError, match="nothing declares how this state is read"):
        diagnostics.effective_learning_rates(state)
    rates = diagnostics.effective_learning_rates(state, optimizer=factory)
    (path,) = rates
    for key in ("kernel", "bias"):
        np.testing.assert_allclose(
            updates[-1][key], -rates[path][key] * grads[-1][key], rtol=1e-12
        )
    row = diagnostics.report(state, optimizer=factory, statistics=("max",), steps=STEPS)
    assert sorted(row) == sorted(
        [f"gradient_rms/{name}/{key}/max" for key in ("bias", "kernel")]
        + [
            f"effective_learning_rate/{name}/{key}/{stat}"
            for key in ("bias", "kernel")
            for stat in ("max", "max_without_gradient")
        ]
    )


def test_eps_and_its_placement_are_the_declarations(x64):
    """eps and where it sits come from the transformation's declaration: the
    call's eps (its default here), inside or outside as the factory builds."""
    for tx, eps, inside in (
        (rj.rmsprop(LR), 1e-8, True),  # scale_by_rms
        (rj.rmsprop(LR, eps=EPS, eps_in_sqrt=False), EPS, False),
        (rj.adagrad(LR), 1e-10, True),  # accumulate_squares
        (rj.adam(LR), 1e-8, False),  # precondition_by_rms
        (rj.presets.torch_rmsprop(lr=LR, eps=EPS), EPS, False),
        (rj.presets.keras_rmsprop(learning_rate=LR, epsilon=EPS), EPS, True),
    ):
        grads, updates, state = _history(tx, steps=1)
        (rates,) = diagnostics.effective_learning_rates(state, optimizer=tx).values()
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
    with pytest.raises(ValueError, match="inject_hyperparams holds eps, rate\\)"):
        diagnostics.effective_learning_rates(state)
    with pytest.raises(ValueError, match="holds eps, rate, not `learning_rate`"):
        diagnostics.effective_learning_rates(state, optimizer=rj.rmsprop)
    # The explicit value; eps from the state under rmsprop's declared name.
    assert diagnostics.report(state, learning_rate=LR, optimizer=rj.rmsprop)


# Adam three ways, each wrapped under its own names: the rate is the factor of
# the bias-corrected first moment, u_t = -rate * m_hat_t, at every step --
# including Keras's, whose step size folds in sqrt(1 - b2^t) / (1 - b1^t) and
# whose eps sits outside the uncorrected root.
ADAMS = {
    "rj.adam": (rj.adam, dict(learning_rate=LR, b1=0.9, b2=0.99, eps=EPS), {}),
    "torch_adam_partial": (  # betas fixed by a partial: known to the declaration
        functools.partial(rj.presets.torch_adam, betas=(0.9, 0.99)),
        dict(lr=LR, eps=EPS),
        {},
    ),
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
        (rate,) = diagnostics.effective_learning_rates(
            state, optimizer=factory, **given
        ).values()
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
    (rate,) = diagnostics.effective_learning_rates(
        state, optimizer=rj.presets.keras_adam
    ).values()
    np.testing.assert_allclose(rate, 0.01 / (np.abs(g) + 1e-7 / np.sqrt(1e-3)))


def test_torch_adam_betas_outside_the_state_is_named():
    tx = optax.inject_hyperparams(rj.presets.torch_adam)(lr=LR)
    w = jnp.zeros(2)
    _, state = tx.update(jnp.ones(2), tx.init(w), w)
    # The state keeps the corrected moment: the rates need no decay, the
    # uncorrected moment does.
    torch_adam = rj.presets.torch_adam
    assert diagnostics.effective_learning_rates(state, optimizer=torch_adam)
    with pytest.raises(ValueError, match=r"`betas\[1\]`.*pass decay=betas\[1\]"):
        diagnostics.gradient_rms(state, optimizer=torch_adam, bias_correction=False)
    assert diagnostics.gradient_rms(
        state, optimizer=torch_adam, bias_correction=False, decay=0.999
    )


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
    direct = factory(**kwargs)
    for tx, given in (
        (direct, {"learning_rate": LR}),  # the explicit value
        (direct, {"optimizer": direct}),  # the declared one
        (injected, {"optimizer": functools.partial(factory, **static)}),
    ):
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
        name = factory.__name__ if "optimizer" in given else ""
        assert row == {
            "/".join(filter(None, ("effective_learning_rate", name, "max"))): LR
        }
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
        "laprop": "test_laprop_declares_its_eps_outside",
        "rprop": "test_rprop_rates_are_the_step_sizes",
        "torch_rprop": "test_torch_rprop_rates_are_the_step_sizes",
    }
    assert all(callable(globals().get(test)) for test in by_hand.values())
    tested = {
        *by_hand,
        *(f.__name__ for f, _ in PRESETS_INJECTED.values()),
        *(getattr(f, "func", f).__name__ for f, _, _ in ADAMS.values()),
        *(f.__name__ for f, _, _ in WITHOUT_PRECONDITIONER.values()),
        *(f.__name__ for f, _, _, _ in MAXIMUM_AND_NUMERATOR.values()),
    }
    assert set(optimizers.__all__) | set(PRESET_FACTORIES) <= tested


# ---------------------------------------------------------------- issue 19, §1
# Each case: exact against -update/g of one step from zero parameters, or a
# clear error that says what to pass. g = [1e-3, 1]: a gradient near sqrt(eps)
# and one far above it, so that misplacing eps shows.
G = np.array([1e-3, 1.0])


def _one_step(tx):
    w = jnp.zeros(2)  # float64 under the x64 fixture
    updates, state = tx.update(jnp.asarray(G), tx.init(w), w)
    return np.asarray(-updates / G), state


def test_the_issues_own_factory_is_exact_or_an_error(x64):
    """The user's factory of issue 19: eps inside the root (rj.rmsprop) under
    the names lr and eps. The true rate is [0.09999, 0.03015]; the names alone
    once gave torch's eps-outside value [0.9693, 0.0307]."""

    def my(lr, eps):
        return rj.rmsprop(learning_rate=lr, decay=0.9, eps=eps)

    tx = optax.inject_hyperparams(my)(lr=0.01, eps=1e-2)
    true, state = _one_step(tx)
    np.testing.assert_allclose(true, [0.09999, 0.03015], rtol=1e-4)
    with pytest.raises(diagnostics.MissingHyperparameterError, match="optimizer="):
        diagnostics.effective_learning_rates(state)
    with pytest.raises(ValueError, match="holds eps, lr, not `learning_rate`"):
        diagnostics.effective_learning_rates(state, optimizer=rj.rmsprop)
    # Saying what it is: rmsprop (eps from the state), with the learning rate.
    (rate,) = diagnostics.effective_learning_rates(
        state, learning_rate=0.01, optimizer=rj.rmsprop
    ).values()
    np.testing.assert_allclose(rate, true, rtol=1e-12)
    # Or the factory declares itself.
    declared = declarations.declare(
        learning_rate="lr", eps="eps", eps_placement="inside", decay=None
    )(my)
    tx = optax.inject_hyperparams(declared)(lr=0.01, eps=1e-2)
    true, state = _one_step(tx)
    (rate,) = diagnostics.effective_learning_rates(state, optimizer=declared).values()
    np.testing.assert_allclose(rate, true, rtol=1e-12)


@pytest.mark.parametrize("decay_name", ["beta_2", "rho"])
def test_a_decay_named_beta_2_or_rho_is_exact_or_an_error(decay_name, x64):
    """beta_2 once meant "Keras's Adam" to the diagnostics and rho "decay":
    here beta_2 is rj.adam's b2 and rho rj.rmsprop's decay."""
    if decay_name == "beta_2":

        def mine(learning_rate, beta_2, eps):
            return rj.adam(learning_rate, b2=beta_2, eps=eps)

        optimizer = rj.adam
        kwargs = dict(learning_rate=0.01, beta_2=0.9, eps=1e-2)
    else:

        def mine(learning_rate, rho, eps):
            return rj.rmsprop(learning_rate, decay=rho, eps=eps)

        optimizer = rj.rmsprop
        kwargs = dict(learning_rate=0.01, rho=0.9, eps=1e-2)
    true, state = _one_step(optax.inject_hyperparams(mine)(**kwargs))
    with pytest.raises(ValueError, match="nothing declares how this state is read"):
        diagnostics.effective_learning_rates(state)
    (rate,) = diagnostics.effective_learning_rates(state, optimizer=optimizer).values()
    np.testing.assert_allclose(rate, true, rtol=1e-12)


def test_torchs_convention_under_another_name_is_exact_or_an_error(x64):
    """torch_rmsprop (eps outside) built by a factory that calls its learning
    rate `rate`: the name is no clue; the declaration is."""

    def mine(rate, eps):
        return rj.presets.torch_rmsprop(lr=rate, alpha=0.9, eps=eps)

    true, state = _one_step(optax.inject_hyperparams(mine)(rate=0.01, eps=1e-2))
    with pytest.raises(ValueError, match="nothing declares"):
        diagnostics.effective_learning_rates(state, learning_rate=0.01)
    with pytest.raises(ValueError, match="holds eps, rate, not `lr`"):
        diagnostics.effective_learning_rates(state, optimizer=rj.presets.torch_rmsprop)
    (rate,) = diagnostics.effective_learning_rates(
        state, learning_rate=0.01, optimizer=rj.presets.torch_rmsprop
    ).values()
    np.testing.assert_allclose(rate, true, rtol=1e-12)
    inside = diagnostics.effective_learning_rates(
        state, learning_rate=0.01, optimizer=rj.rmsprop
    )
    assert not np.allclose(next(iter(inside.values())), true, rtol=1e-3)


def _learning_rate_name(preset):
    import inspect

    return next(iter(inspect.signature(preset).parameters))  # lr / learning_rate


@pytest.mark.parametrize("name", sorted(PRESET_FACTORIES))
def test_every_preset_under_inject_hyperparams_is_exact_or_an_error(name, x64):
    preset = getattr(rj.presets, name)
    tx = optax.inject_hyperparams(preset)(**{_learning_rate_name(preset): 0.01})
    true, state = _one_step(tx)
    if "rprop" not in name:  # (Rprop's step sizes are declared by their state)
        with pytest.raises(ValueError, match="optimizer="):
            diagnostics.effective_learning_rates(state)
    rates = diagnostics.effective_learning_rates(state, optimizer=preset)
    (rate,) = rates.values()
    if "rprop" in name:  # the rate is the step size: u = -sign(g) * rate
        np.testing.assert_allclose(true * np.abs(G), rate, rtol=1e-12)
    else:
        np.testing.assert_allclose(rate * np.ones(2), true, rtol=1e-12)
    assert diagnostics.report(state, optimizer=preset)


def test_a_zero_size_leaf_is_reported_not_a_crash(x64):
    """A zero-size leaf, which the optimizers accept, gives NaN statistics."""
    tx = rj.rmsprop(LR)
    params = {"w": jnp.zeros(3), "empty": jnp.zeros((0, 4))}
    grads = {"w": jnp.array([1.0, 2.0, 3.0]), "empty": jnp.zeros((0, 4))}
    _, state = tx.update(grads, tx.init(params), params)
    rates = diagnostics.effective_learning_rates(state, optimizer=tx)
    assert rates["0"]["empty"].shape == (0, 4)
    row = jax.jit(lambda s: diagnostics.report(s, optimizer=tx))(state)
    for stat in ("min", "median", "max", "max_without_gradient"):
        assert np.isnan(row[f"effective_learning_rate/rmsprop/empty/{stat}"])
    assert np.isnan(row["gradient_rms/rmsprop/empty/max"])
    stats = diagnostics.summarize(rates, ("min", "mean"))
    assert np.isnan(stats["0/empty/min"]) and np.isnan(stats["0/empty/mean"])
    assert stats["0/w/min"] == pytest.approx(LR / np.sqrt(0.1 * 9 + 1e-8))


def test_report_names_the_optimizer_and_sets_weights_without_gradient_apart(x64):
    """Keys name the optimizer and the parameter; a weight that never had a
    gradient (rate lr / sqrt(eps)) does not make the maximum."""
    tx = optax.chain(optax.clip(1e3), rj.rmsprop(LR, decay=0.9, eps=1e-8))
    inner = rj.rmsprop(LR, decay=0.9, eps=1e-8)
    params = {"layer": {"kernel": jnp.zeros(3)}}
    g = {"layer": {"kernel": jnp.array([1.0, 0.0, 4.0])}}
    _, state = tx.update(g, tx.init(params), params)
    row = diagnostics.report(state, optimizer=inner, statistics=("min", "max"))
    prefix = "effective_learning_rate/rmsprop/layer/kernel"
    assert sorted(row) == sorted(
        [f"{prefix}/min", f"{prefix}/max", f"{prefix}/max_without_gradient"]
        + [f"gradient_rms/rmsprop/layer/kernel/{s}" for s in ("min", "max")]
    )
    seen = LR / np.sqrt(0.1 * np.array([1.0, 16.0]) + 1e-8)
    np.testing.assert_allclose(row[f"{prefix}/max"], seen.max(), rtol=1e-12)
    np.testing.assert_allclose(row[f"{prefix}/min"], seen.min(), rtol=1e-12)
    np.testing.assert_allclose(
        row[f"{prefix}/max_without_gradient"], LR / np.sqrt(1e-8), rtol=1e-12
    )
    # Two states under one name: the state's key path tells them apart.
    two = optax.multi_transform({"a": inner, "b": inner}, {"x": "a", "y": "b"})
    p2 = {"x": jnp.zeros(2), "y": jnp.zeros(2)}
    _, s2 = two.update({"x": jnp.ones(2), "y": jnp.ones(2)}, two.init(p2), p2)
    keys = diagnostics.report(s2, optimizer=inner, statistics=("max",))
    assert "effective_learning_rate/rmsprop[inner_states/a/inner_state/0]/x/max" in keys


# ------------------------------------- AMSGrad's maximum, Adadelta's numerator
# Gradients whose second moment falls after the first step, so that the running
# maximum differs from the moment; b1 = 0, so that the Adams' rate (which
# multiplies m_hat) multiplies the gradient itself and -update/g is the rate.
GS = np.array([[3.0, -0.02, 1.0], [0.5, -4.0, 1e-3], [0.1, 2.0, -1.5]])
B2, RHO = 0.8, 0.7


def _amsgrad_reference(decay, eps, lr, corrected_max, eps_root=0.0, running=True):
    """NumPy: per step, (rate, gradient RMS) of Adam with the running maximum
    (of the corrected moment if ``corrected_max``, else of the raw one; no
    maximum, Adam itself, without ``running``)."""
    s, peak, out = 0.0, 0.0, []
    for t, g in enumerate(GS, 1):
        s = decay * s + (1 - decay) * g**2
        c = 1 - decay**t
        if not running:
            peak = s / c
            rate = lr / (np.sqrt(peak + eps_root) + eps)
        elif corrected_max:
            peak = np.maximum(peak, s / c)
            rate = lr / (np.sqrt(peak + eps_root) + eps)
        else:
            peak = np.maximum(peak, s)
            rate = lr / (np.sqrt(peak / c) + eps)
        out.append((rate, np.sqrt(s / c)))
    return out


def _keras_amsgrad_reference(decay, eps, lr):
    """NumPy: Keras's step lr sqrt(1-b2^t) m_hat / (sqrt(max v) + eps), as a
    rate on m_hat (with the corrected gradient RMS)."""
    s, peak, out = 0.0, 0.0, []
    for t, g in enumerate(GS, 1):
        s = decay * s + (1 - decay) * g**2
        peak = np.maximum(peak, s)
        c = 1 - decay**t
        out.append((lr * np.sqrt(c) / (np.sqrt(peak) + eps), np.sqrt(s / c)))
    return out


def _adadelta_reference(rho, eps, lr):
    """NumPy: per step, (rate, gradient RMS) of Adadelta (Zeiler's eq.)."""
    eg, edx, out = 0.0, 0.0, []
    for g in GS:
        eg = rho * eg + (1 - rho) * g**2
        rate = lr * np.sqrt(edx + eps) / np.sqrt(eg + eps)
        edx = rho * edx + (1 - rho) * (rate / lr * g) ** 2  # before lr
        out.append((rate, np.sqrt(eg)))
    return out


# name -> (factory, call, the NumPy reference per step, diagnostics' arguments
# under inject_hyperparams)
MAXIMUM_AND_NUMERATOR = {
    "amsgrad": (
        rj.amsgrad,
        dict(learning_rate=LR, b1=0.0, b2=B2, eps=EPS),
        _amsgrad_reference(B2, EPS, LR, corrected_max=True),
        {},
    ),
    "amsgrad_eps_root": (
        rj.amsgrad,
        dict(learning_rate=LR, b1=0.0, b2=B2, eps=EPS, eps_root=0.3),
        _amsgrad_reference(B2, EPS, LR, corrected_max=True, eps_root=0.3),
        {},
    ),
    "adam_eps_root": (  # no maximum: optax's eps_root under Adam's root
        rj.adam,
        dict(learning_rate=LR, b1=0.0, b2=B2, eps=EPS, eps_root=0.3),
        _amsgrad_reference(B2, EPS, LR, False, eps_root=0.3, running=False),
        {},
    ),
    "torch_adam": (
        rj.presets.torch_adam,
        dict(lr=LR, betas=(0.0, B2), eps=EPS, amsgrad=True),
        _amsgrad_reference(B2, EPS, LR, corrected_max=False),
        dict(decay=B2),  # betas is a pair: inject_hyperparams keeps it static
    ),
    "keras_adam": (
        rj.presets.keras_adam,
        dict(learning_rate=LR, beta_1=0.0, beta_2=B2, epsilon=EPS, amsgrad=True),
        _keras_amsgrad_reference(B2, EPS, LR),
        {},
    ),
    "adadelta": (
        rj.adadelta,
        dict(learning_rate=0.5, rho=RHO, eps=EPS),
        _adadelta_reference(RHO, EPS, 0.5),
        {},
    ),
    "torch_adadelta": (
        rj.presets.torch_adadelta,
        dict(lr=0.5, rho=RHO, eps=EPS),
        _adadelta_reference(RHO, EPS, 0.5),
        {},
    ),
    "keras_adadelta": (
        rj.presets.keras_adadelta,
        dict(learning_rate=0.5, rho=RHO, epsilon=EPS),
        _adadelta_reference(RHO, EPS, 0.5),
        {},
    ),
}


@pytest.mark.parametrize("injected", [False, True], ids=["direct", "injected"])
@pytest.mark.parametrize("name", sorted(MAXIMUM_AND_NUMERATOR))
def test_amsgrad_and_adadelta_rates_are_minus_update_over_gradient(name, injected, x64):
    """The rate of every step (1 to 3) is -update/g and the gradient RMS the
    NumPy one: AMSGrad's corrected maximum is not corrected twice, PyTorch's
    and Keras's raw maximum is corrected once, and Adadelta's rate carries its
    numerator sqrt(E[dx^2]_{t-1} + eps)."""
    factory, kwargs, reference, given = MAXIMUM_AND_NUMERATOR[name]
    if injected:
        tx = optax.inject_hyperparams(factory, hyperparam_dtype=jnp.float64)(**kwargs)
        optimizer = factory
    else:
        tx = factory(**kwargs)
        optimizer, given = tx, {}  # the call is known: betas too
    w = jnp.zeros(3)
    state = tx.init(w)
    for t, (g, (rate_np, rms_np)) in enumerate(zip(GS, reference, strict=True), 1):
        updates, state = tx.update(jnp.asarray(g), state, w)
        assert updates.dtype == jnp.float64
        counted = dict(given)
        if name == "keras_adam" and not injected:  # its state keeps no count
            with pytest.raises(
                diagnostics.MissingHyperparameterError, match="pass steps="
            ):
                diagnostics.effective_learning_rates(state, optimizer=optimizer)
            counted["steps"] = t
        (rate,) = diagnostics.effective_learning_rates(
            state, optimizer=optimizer, **counted
        ).values()
        (rms,) = diagnostics.gradient_rms(
            state, optimizer=optimizer, **counted
        ).values()
        np.testing.assert_allclose(rate, -np.asarray(updates) / g, rtol=1e-12)
        np.testing.assert_allclose(rate, rate_np, rtol=1e-12, err_msg=f"t={t}")
        np.testing.assert_allclose(rms, rms_np, rtol=1e-12, err_msg=f"t={t}")
    row = diagnostics.report(state, optimizer=optimizer, statistics=("max",), **counted)
    np.testing.assert_allclose(
        [v for k, v in row.items() if k.startswith("gradient_rms")], [rms_np.max()]
    )


def test_adadelta_keeps_the_root_its_last_update_used(x64):
    """The state keeps sqrt(E[dx^2]_{t-1}) beside sqrt(E[dx^2]_t): the rate
    of the last update needs the former, the next update the latter."""
    tx = rj.scale_by_adadelta(rho=RHO, eps=EPS)
    state = tx.init(jnp.zeros(3))
    previous = np.zeros(3)
    for g in GS:
        _, state = tx.update(jnp.asarray(g), state)
        np.testing.assert_array_equal(state.previous_update_rms, previous)
        previous = np.asarray(state.update_rms)
    fields = declarations.fields_of(state)
    assert (fields.divisor, fields.numerator) == ("grad_rms", "previous_update_rms")


@pytest.mark.parametrize("name", sorted(MAXIMUM_AND_NUMERATOR))
def test_a_sweep_records_their_true_rates(name, x64):
    """sweep(record=("effective_lr", "gradient_rms")) reads the diagnostics'
    public API with the run's traced hyperparameters: every recorded rate is
    -update/g and every gradient RMS the NumPy one."""
    from rmsprop_jax.sweep import grid, sweep

    factory, kwargs, _, _ = MAXIMUM_AND_NUMERATOR[name]
    lr_name = next(iter(inspect.signature(factory).parameters))
    fixed = {k: v for k, v in kwargs.items() if k != lr_name}
    curvature = np.array([1.0, 3.0])

    def loss(w):
        return jnp.sum(jnp.asarray(curvature) * w**2) / 2

    result = sweep(
        functools.partial(factory, **fixed),
        loss,
        jnp.array([1.0, -2.0]),
        grid(**{lr_name: [kwargs[lr_name]]}),
        steps=3,
        record=("params", "updates", "effective_lr", "gradient_rms"),
    )
    params, updates, rates, rms = (
        np.asarray(result.records[k])[0]
        for k in ("params", "updates", "effective_lr", "gradient_rms")
    )
    grads = curvature * params  # the params recorded before each update
    np.testing.assert_allclose(params[1:], params[:-1] + updates[:-1], rtol=1e-12)
    np.testing.assert_allclose(rates, -updates / grads, rtol=1e-10)
    decay = fixed.get("b2", fixed.get("beta_2", fixed.get("betas", (0, None))[1]))
    if decay is None:  # Adadelta: the root of the uncorrected EMA
        decay = fixed.get("rho")
        corrections = np.ones(3)
    else:
        corrections = 1 - decay ** np.arange(1, 4)
    s = np.zeros(2)
    for t, g in enumerate(grads):
        s = decay * s + (1 - decay) * g**2
        np.testing.assert_allclose(rms[t], np.sqrt(s / corrections[t]), rtol=1e-10)


def test_a_numerator_or_eps_root_it_cannot_read_exactly_is_an_error(x64):
    """Combinations no factory builds are refused, not approximated: a
    numerator beside Keras's eps outside the raw root, eps_root beside a
    centered moment."""
    tx = rj.adadelta(0.5)
    w = jnp.zeros(3)
    _, state = tx.update(jnp.asarray(GS[0]), tx.init(w), w)
    keras_like = declarations.Declaration(
        factory="mine",
        learning_rate="learning_rate",
        eps="eps",
        eps_placement="outside_uncorrected",
        decay="rho",
        arguments=dict(learning_rate=0.5, eps=1e-6, rho=0.9),
        known=frozenset({"learning_rate", "eps", "rho"}),
    )
    with pytest.raises(ValueError, match="mine: a numerator with a centered or"):
        diagnostics.effective_learning_rates(state, optimizer=keras_like, steps=1)
    tx = rj.rmsprop(0.1, centered=True)
    _, state = tx.update(jnp.asarray(GS[0]), tx.init(w), w)
    centered = dataclasses.replace(
        declarations.declaration_of(tx),
        eps_root="eps",  # any declared argument under the root
    )
    with pytest.raises(ValueError, match="eps_root with a centered"):
        diagnostics.effective_learning_rates(state, optimizer=centered)
