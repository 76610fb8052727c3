"""Inputs a new user brings: ints, Python floats, weak float64, schedules,
zero gradients with eps = 0, degenerate flags, foreign states, misspelt
keywords, complex parameters, and the guard inside gradient accumulation."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import PRESET_FACTORIES

import rmsprop_jax as rj
from rmsprop_jax import optimizers, presets, transforms

torch = pytest.importorskip("torch")

_NEEDS = {"sgd": dict(learning_rate=0.1), "sign_sgd": dict(learning_rate=0.1)}


def _all_factories():
    out = {n: getattr(optimizers, n) for n in optimizers.__all__}
    out |= {f"presets.{n}": getattr(presets, n) for n in PRESET_FACTORIES}
    return out


FACTORIES = _all_factories()


def _make(name, **kwargs):
    fn = FACTORIES[name]
    required = {
        p.name: 0.1
        for p in inspect.signature(fn).parameters.values()
        if p.default is inspect.Parameter.empty
    }
    return fn(**(required | _NEEDS.get(name, {}) | kwargs))


def _update(tx, g, state, params):
    extra = {}
    if "irprop+" in repr(getattr(tx, "_variant", "")):
        extra["value"] = 0.0
    return tx.update(g, state, params, **extra)


# --- int parameters, Python numbers, weak float64 ----------------------------


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_integer_params_are_refused_at_init_by_key_path(name):
    tx = _make(name)
    params = {"w": jnp.zeros(2), "layer": {"steps": jnp.array([1, 2], jnp.int32)}}
    with pytest.raises(TypeError) as info:
        tx.init(params)
    message = str(info.value)
    assert "['layer']['steps']" in message and "int32" in message
    assert "optax.masked" in message and "multi_transform" in message


def test_an_integer_parameter_array_is_named_as_such():
    with pytest.raises(TypeError, match=r"^rmsprop: the parameter array has dtype"):
        rj.rmsprop().init(jnp.zeros(2, jnp.int32))


@pytest.mark.parametrize(
    "primitive",
    [
        transforms.scale_by_rms,
        transforms.accumulate_squares,
        transforms.momentum,
        transforms.scale_by_rprop,
    ],
)
def test_primitives_refuse_integer_params_too(primitive):
    with pytest.raises(TypeError, match="dtype bool"):
        primitive().init({"mask": jnp.array([True])})


def test_masked_integer_leaves_are_fine():
    params = {"w": jnp.ones(2), "steps": jnp.array(3, jnp.int32)}
    tx = optax.masked(rj.adam(0.1), {"w": True, "steps": False})
    updates, _ = tx.update(params, tx.init(params), params)
    assert updates["w"].dtype == jnp.float32


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_python_floats_as_params_and_gradients(name):
    tx = _make(name)
    state = tx.init(1.5)
    extra = {"value": 1.0} if name == "rprop" else {}
    u, _ = tx.update(0.5, state, 1.5, **extra)
    assert jnp.shape(u) == () and bool(jnp.isfinite(u)) and float(u) < 0


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_weak_float64_is_computed_in_float64(x64, name):
    w = 2.89 / 2
    weak = jax.grad(lambda x: x * x)(w)  # the gradient of a Python scalar
    assert weak.dtype == jnp.float64 and jax.typeof(weak).weak_type
    strong = jnp.asarray(weak, jnp.float64)
    runs = []
    for g in (weak, strong):
        tx = _make(name)
        params = jnp.asarray(w, jnp.float64)
        state = tx.init(params)
        out = []
        for _ in range(3):
            u, state = tx.update(g, state, params)
            out.append(u)
        runs.append(out)
    for a, b in zip(*runs, strict=True):
        assert a.dtype == jnp.float64
        assert float(a) == float(b)


def test_sgd_on_a_weak_float64_gradient(x64):
    g = jax.grad(lambda x: x * x)(1.445)
    u, _ = rj.sgd(0.1).update(g, rj.sgd(0.1).init(g))
    assert float(u) == -0.1 * 2.89
    u, _ = rj.sign_sgd(0.1).update(g, rj.sign_sgd(0.1).init(g))
    assert u.dtype == jnp.float64 and float(u) == -0.1


# --- schedules in float64, against torch.optim.lr_scheduler ------------------

LR = 0.1
SCHEDULERS = {
    "StepLR": (
        lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5),
        optax.exponential_decay(LR, 4, 0.5, staircase=True),
    ),
    "MultiStepLR": (
        lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, [3, 7], gamma=0.3),
        optax.piecewise_constant_schedule(LR, {3: 0.3, 7: 0.3}),
    ),
    "ExponentialLR": (
        lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9),
        optax.exponential_decay(LR, 1, 0.9),
    ),
    "CosineAnnealingLR": (
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=10, eta_min=0.01
        ),
        optax.cosine_decay_schedule(LR, 10, alpha=0.01 / LR),
    ),
    "LinearLR": (
        lambda opt: torch.optim.lr_scheduler.LinearLR(
            opt, start_factor=0.25, end_factor=1.0, total_iters=6
        ),
        optax.linear_schedule(0.25 * LR, LR, 6),
    ),
}


def _quadratic_grad(w):
    return np.array([3.0, -10.0]) * w + np.array([0.5, -1.0])


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
@pytest.mark.parametrize("preset", ["torch_sgd", "torch_rmsprop"])
def test_torch_schedulers_have_an_optax_twin(x64, scheduler, preset):
    make_scheduler, schedule = SCHEDULERS[scheduler]
    steps = 10  # CosineAnnealingLR is periodic after T_max; optax stays flat
    kwargs = dict(momentum=0.9)
    w_t = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    cls = {"torch_sgd": torch.optim.SGD, "torch_rmsprop": torch.optim.RMSprop}
    opt = cls[preset]([w_t], lr=LR, **kwargs)
    sched = make_scheduler(opt)
    tx = getattr(presets, preset)(lr=schedule, **kwargs)
    w = jnp.array([1.0, -2.0], jnp.float64)
    state = tx.init(w)
    for _ in range(steps):
        w_t.grad = torch.tensor(_quadratic_grad(w_t.detach().numpy()))
        opt.step()
        sched.step()
        u, state = tx.update(jnp.asarray(_quadratic_grad(np.asarray(w))), state, w)
        w = optax.apply_updates(w, u)
        assert w.dtype == jnp.float64
        np.testing.assert_allclose(w, w_t.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_readme_porting_example_stays_float64(x64):
    schedule = optax.exponential_decay(1e-3, 1000, 0.9)
    tx = presets.torch_rmsprop(lr=schedule, momentum=0.9, centered=True)
    w = jnp.array([1.0, -2.0])
    w_t = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.RMSprop([w_t], lr=1e-3, momentum=0.9, centered=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.9 ** (t / 1000))
    state = tx.init(w)
    for _ in range(30):
        w_t.grad = torch.tensor(_quadratic_grad(w_t.detach().numpy()))
        opt.step()
        sched.step()
        u, state = tx.update(jnp.asarray(_quadratic_grad(np.asarray(w))), state, w)
        w = optax.apply_updates(w, u)
    np.testing.assert_allclose(w, w_t.detach().numpy(), rtol=1e-12)


# --- zero gradients, degenerate flags ----------------------------------------

EPS_ZERO = {
    "rmsprop": dict(eps=0.0),
    "rmsprop-outside": dict(eps=0.0, eps_in_sqrt=False),
    "rmsprop-centered": dict(eps=0.0, centered=True),
    "adagrad": dict(eps=0.0),
    "adam": dict(eps=0.0),
    "laprop": dict(eps=0.0),
    "presets.torch_rmsprop": dict(eps=0.0),
    "presets.torch_adagrad": dict(eps=0.0),
    "presets.keras_rmsprop": dict(epsilon=0.0),
    "presets.keras_adagrad": dict(epsilon=0.0, initial_accumulator_value=0.0),
    "presets.tf1_rmsprop": dict(epsilon=0.0),
}


@pytest.mark.parametrize("case", sorted(EPS_ZERO))
@pytest.mark.parametrize("jit", [False, True])
def test_zero_gradient_zero_update_with_eps_zero(case, jit):
    tx = _make(case.split("-")[0], **EPS_ZERO[case])
    p = jnp.zeros(3)
    update = jax.jit(tx.update) if jit else tx.update
    state = tx.init(p)
    for g in ([0.0, 0.0, 1.0], [0.0, 2.0, -1.0]):
        u, state = update(jnp.array(g), state, p)
        assert bool(jnp.all(jnp.isfinite(u)))
        assert float(u[0]) == 0.0
    assert float(u[1]) < 0


def test_decay_one_needs_a_positive_initial_accumulator():
    with pytest.raises(ValueError, match="`decay=1` keeps the second moment"):
        rj.rmsprop(decay=1.0)
    with pytest.raises(ValueError, match="initial_scale > 0"):
        rj.scale_by_rms(decay=1.0, initial_scale=0.0)
    tx = rj.rmsprop(0.1, decay=1.0, initial_scale=4.0, eps=0.0)  # fixed scale
    u, _ = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
    np.testing.assert_allclose(u, [-0.1])
    presets.tf1_rmsprop(0.1, decay=1.0)  # TF1 starts at s = 1: allowed


def test_irprop_plus_value_must_be_a_scalar():
    tx = rj.rprop(variant="irprop+")
    state = tx.init(jnp.zeros(2))
    with pytest.raises(ValueError, match="scalar loss"):
        tx.update(jnp.ones(2), state, value=jnp.ones(2))


@pytest.mark.parametrize(
    "mine, theirs, owner",
    [
        (lambda: rj.rmsprop(), lambda: rj.adam(), "adam"),
        (lambda: rj.adam(), lambda: rj.rmsprop(), "rmsprop"),
        (lambda: rj.rprop(), lambda: rj.adagrad(), "adagrad"),
        (lambda: presets.torch_rmsprop(), lambda: rj.sgd(0.1, 0.9), "sgd"),
    ],
)
def test_a_foreign_state_is_named(mine, theirs, owner):
    p = jnp.zeros(2)
    state = theirs().init(p)
    # Several factories may make the same layout (adagrad, torch_adagrad): the
    # message names every one this process has seen, this one among them.
    with pytest.raises(TypeError, match=rf"given the state of (\w+ or )*{owner}[ (]"):
        mine().update(jnp.ones(2), state, p)


# --- misspelt keywords --------------------------------------------------------

PUBLIC = {n: getattr(rj, n) for n in rj.__all__ if inspect.isfunction(getattr(rj, n))}
PUBLIC |= {f"presets.{n}": getattr(presets, n) for n in presets.__all__}


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_factory_suggests_keywords(name):
    fn = PUBLIC[name]
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus_kw'"):
        fn(bogus_kw=1)


@pytest.mark.parametrize(
    "call, hint",
    [
        (lambda: rj.rmsprop(lr=0.1), "did you mean 'learning_rate'"),
        (lambda: rj.rmsprop(rho=0.9), "did you mean 'decay'"),
        (lambda: rj.rmsprop(beta=0.9), "did you mean 'decay'"),
        (lambda: rj.adam(beta1=0.9), "did you mean 'b1'"),
        (lambda: rj.adam(beta=0.9), "'b1' or 'b2'"),
        (lambda: presets.torch_rmsprop(learning_rate=0.1), "did you mean 'lr'"),
        (lambda: presets.keras_rmsprop(lr=0.1), "did you mean 'learning_rate'"),
        (lambda: rj.scale_by_rms(epsilon=1e-3), "did you mean 'eps'"),
        (lambda: rj.skip_nonfinite(rj.sgd(0.1), max_consecutiv=1), "max_consecutive"),
    ],
)
def test_did_you_mean(call, hint):
    with pytest.raises(TypeError, match=hint) as info:
        call()
    assert "Valid keywords:" in str(info.value)


# --- complex parameters: pairs of real weights --------------------------------


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_complex_params_are_pairs_of_real_params(name):
    kwargs = {"value": 0.0} if name == "rprop" else {}
    rng = np.random.default_rng(1)
    z = jnp.asarray(rng.normal(size=3) + 1j * rng.normal(size=3), jnp.complex64)
    pairs = jnp.stack([z.real, z.imag], -1)
    tx_c, tx_r = _make(name), _make(name)
    sc, sr = tx_c.init(z), tx_r.init(pairs)
    wc, wr = z, pairs
    for t in range(4):
        gz = jnp.asarray(
            rng.normal(size=3) + 1j * rng.normal(size=3), jnp.complex64
        ) * (t + 1)
        uc, sc = tx_c.update(gz, sc, wc, **kwargs)
        ur, sr = tx_r.update(jnp.stack([gz.real, gz.imag], -1), sr, wr, **kwargs)
        assert uc.dtype == jnp.complex64
        np.testing.assert_allclose(uc.real, ur[:, 0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(uc.imag, ur[:, 1], rtol=1e-6, atol=1e-7)
        wc, wr = optax.apply_updates(wc, uc), optax.apply_updates(wr, ur)


def test_rmsprop_on_gradient_1j_moves_the_imaginary_part():
    u, _ = rj.rmsprop(0.1).update(
        jnp.array([1j]), rj.rmsprop().init(jnp.zeros(1, complex))
    )
    np.testing.assert_allclose(u, [-0.1j / np.sqrt(0.1)], rtol=1e-6)


TORCH_COMPLEX = {
    "torch_rmsprop": (torch.optim.RMSprop, dict(lr=0.01, momentum=0.9, centered=True)),
    "torch_adagrad": (torch.optim.Adagrad, dict(lr=0.1)),
    "torch_sgd": (torch.optim.SGD, dict(lr=0.01, momentum=0.9, nesterov=True)),
    "torch_rprop": (torch.optim.Rprop, dict(lr=0.01)),
}


@pytest.mark.parametrize("name", sorted(TORCH_COMPLEX))
def test_complex_presets_match_torch(x64, name):
    cls, kwargs = TORCH_COMPLEX[name]
    z0 = np.array([1.0 - 2.0j, -0.5 + 0.3j])
    w_t = torch.tensor(z0, dtype=torch.complex128, requires_grad=True)
    opt = cls([w_t], **kwargs)
    tx = getattr(presets, name)(**kwargs)
    w = jnp.asarray(z0, jnp.complex128)
    state = tx.init(w)
    target = np.array([0.3 + 0.1j, -1.0 - 1.0j])
    for _ in range(12):
        g = (w_t.detach().numpy() - target) * np.array([3.0, 10.0])
        w_t.grad = torch.tensor(g)
        opt.step()
        g = (np.asarray(w) - target) * np.array([3.0, 10.0])
        u, state = tx.update(jnp.asarray(g), state, w)
        w = optax.apply_updates(w, u)
    np.testing.assert_allclose(w, w_t.detach().numpy(), rtol=1e-10, atol=1e-12)


# --- the guard and gradient accumulation -------------------------------------


def test_skip_nonfinite_goes_outside_multi_steps():
    with pytest.raises(ValueError, match="Put the guard outside"):
        optax.MultiSteps(rj.skip_nonfinite(rj.adam(0.1)), 2).init(jnp.zeros(2))
    tx = rj.skip_nonfinite(optax.MultiSteps(rj.adam(0.1), every_k_schedule=2))
    p = jnp.zeros(2)
    state = tx.init(p)
    moved = []
    for g in ([1.0, 1.0], [jnp.nan, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0]):
        u, state = tx.update(jnp.array(g), state, p)
        p = optax.apply_updates(p, u)
        moved.append(bool(jnp.any(u != 0)))
        assert bool(jnp.all(jnp.isfinite(p)))
    # The NaN micro-batch is skipped whole; accumulation goes on after it.
    assert moved == [False, False, True, False, True]
    assert int(state.total_skipped) == 1
