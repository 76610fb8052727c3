"""The replayed public bug reports (issue 21), each as it was reported; the
kinds they belong to are tested on every factory in ``test_every_factory``."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rmsprop_jax as rj
from rmsprop_jax import presets


def test_donating_a_fresh_guarded_state():
    """skip_nonfinite's two counters shared one zeros buffer."""
    tx = rj.skip_nonfinite(rj.adam(0.1))
    params = jnp.ones(3)

    def step(p, s):
        u, s = tx.update(p, s, p)
        return optax.apply_updates(p, u), s

    params, state = jax.jit(step, donate_argnums=(0, 1))(params, tx.init(params))
    assert int(state.total_skipped) == 0


def test_bfloat16_inject_hyperparams_names_the_rounding_and_the_fix():
    params = jnp.array([1.0, -2.0], jnp.bfloat16)
    tx = optax.inject_hyperparams(rj.adam)(learning_rate=0.01)
    with pytest.warns(UserWarning, match="hyperparam_dtype=jnp.float32"):
        with pytest.raises(ValueError, match="rounding of the value passed"):
            tx.init(params)
    fixed = optax.inject_hyperparams(rj.adam, hyperparam_dtype=jnp.float32)(
        learning_rate=0.01
    )
    updates, _ = jax.jit(fixed.update)(params, fixed.init(params), params)
    np.testing.assert_allclose(np.asarray(updates, np.float32), [-0.01, 0.01], 1e-2)


def test_bfloat16_rates_warn_under_jit_too():
    """Traced, the value is unknown but the dtype is not."""

    def make(decay):
        return rj.rmsprop(0.01, decay)

    with pytest.warns(UserWarning, match="arrived as a bfloat16 array"):
        jax.jit(lambda d: make(d).init(jnp.zeros(2))).lower(jnp.bfloat16(0.9))


@pytest.mark.parametrize(
    "factory", [rj.rprop, presets.torch_rprop], ids=["rprop", "torch_rprop"]
)
def test_rprop_on_a_group_without_parameters(factory):
    params = {"w": jnp.ones(2)}
    labels = {"w": "sgd"}
    tx = optax.multi_transform({"sgd": optax.sgd(0.1), "rprop": factory()}, labels)
    updates, _ = tx.update(params, tx.init(params), params)
    assert updates["w"].shape == (2,)


@pytest.mark.slow  # the jitted meta-gradient is in test_unrolled_jit's quick cases
def test_centered_rmsprop_meta_gradient_with_a_zero_gradient(x64):
    """jax.grad of the loss after k steps w.r.t. the learning rate was NaN
    where one weight's gradient is exactly 0; optax agrees with the finite
    difference."""
    w0 = jnp.array([1.0, -2.0, 0.0])
    loss = lambda w: 3 * w[0] ** 2 + 10 * w[1] ** 2 + jnp.sin(w[0])  # noqa: E731

    def final(lr, make):
        tx = make(lr)
        state, w = tx.init(w0), w0
        for _ in range(5):
            u, state = tx.update(jax.grad(loss)(w), state, w)
            w = optax.apply_updates(w, u)
        return loss(w)

    for make in (
        lambda lr: rj.rmsprop(lr, centered=True),
        lambda lr: presets.torch_rmsprop(lr, centered=True),
        lambda lr: presets.keras_rmsprop(lr, centered=True),
        lambda lr: presets.tf1_rmsprop(lr, centered=True),
    ):
        got = jax.grad(final)(0.01, make)
        h = 1e-7
        expected = (final(0.01 + h, make) - final(0.01 - h, make)) / (2 * h)
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    ours = jax.grad(final)(0.01, lambda lr: rj.rmsprop(lr, centered=True))
    theirs = jax.grad(final)(0.01, lambda lr: optax.rmsprop(lr, centered=True))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)


# Each dtype and each clip in the quick selection; every pair in the full suite.
@pytest.mark.parametrize(
    "dtype, big, clip",
    [
        ("float32", 1e30, "clipnorm"),
        ("float64", 1e300, "global_clipnorm"),
        ("float16", 6e4, "clipnorm"),
        pytest.param("float32", 1e30, "global_clipnorm", marks=pytest.mark.slow),
        pytest.param("float64", 1e300, "clipnorm", marks=pytest.mark.slow),
        pytest.param("float16", 6e4, "global_clipnorm", marks=pytest.mark.slow),
    ],
)
def test_keras_clip_by_norm_does_not_overflow(dtype, big, clip):
    """keras_adam with clipnorm and a huge gradient gave NaN: the norm is
    computed scaled. Reference: g * c / ||g|| in float64 NumPy, on the
    gradient as stored (the norm itself overflows float32 / float64)."""
    with jax.enable_x64(dtype == "float64"):
        g = np.array([big, -big / 2, 3.0], dtype)
        tx = presets.keras_sgd(1.0, **{clip: 2.0})
        params = jnp.zeros(3, dtype)
        updates, _ = tx.update(jnp.asarray(g), tx.init(params), params)
        scaled = g.astype(np.float64) / big  # the norm of g is big * ||g / big||
        expected = -2.0 * scaled / np.linalg.norm(scaled)
        assert updates.dtype == jnp.dtype(dtype)
        np.testing.assert_allclose(
            np.asarray(updates, np.float64), expected, rtol=2e-3, atol=1e-30
        )
        adam = presets.keras_adam(0.1, **{clip: 1.0})
        updates, _ = adam.update(jnp.asarray(g), adam.init(params), params)
        assert np.all(np.isfinite(np.asarray(updates, np.float64)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: presets.torch_sgd(1e-3, momentum=0.9, weight_decay=0.5),
        lambda: presets.torch_rmsprop(1e-3, weight_decay=0.5),
        lambda: presets.torch_adagrad(1e-3, weight_decay=0.5),
        lambda: presets.torch_adam(1e-3, weight_decay=0.5),
        lambda: presets.torch_adadelta(1e-3, weight_decay=0.5),
        lambda: rj.adadelta(1e-3, weight_decay=0.5),
    ],
    ids=[
        "torch_sgd",
        "torch_rmsprop",
        "torch_adagrad",
        "torch_adam",
        "torch_adadelta",
        "adadelta",
    ],
)
def test_float16_weight_decay_follows_the_accumulator_policy(make):
    """float16 torch_sgd with momentum and weight decay: g + wd * w overflowed
    float16 (6e4 + 0.5 * 3e4) before the float32 buffer saw it."""
    tx = make()
    params = jnp.array([3e4, -2.0], jnp.float16)
    grads = jnp.array([6e4, -6e4], jnp.float16)
    state = tx.init(params)
    for _ in range(3):
        updates, state = tx.update(grads, state, params)
        assert np.all(np.isfinite(np.asarray(updates, np.float32)))
        for leaf in jax.tree.leaves(state):
            assert np.all(np.isfinite(np.asarray(leaf, np.float64)))


def test_centered_bias_corrected_rmsprop_warns_and_keeps_its_formula():
    with pytest.warns(UserWarning, match=r"g / sqrt\(eps\)"):
        tx = rj.rmsprop(0.01, centered=True, bias_correction=True)
    g = jnp.array([1.0, -2.0])
    updates, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(updates, [-100.0, 200.0], rtol=1e-5)


_KERAS = ["keras_rmsprop", "keras_adam", "keras_sgd", "keras_adagrad", "keras_adadelta"]
_STATIC = [
    {"gradient_accumulation_steps": 2},
    {"use_ema": True, "ema_overwrite_frequency": 2},
]


@pytest.mark.parametrize("options", _STATIC, ids=lambda o: next(reversed(o)))
@pytest.mark.parametrize("name", _KERAS)
def test_keras_static_arguments_under_inject_hyperparams(name, options):
    """Bug 5: the integer arguments arrived as arrays ("must be an integer ...
    got Array(2)"). Without ``static_args`` the error names the fix; with it,
    the steps equal the preset's own."""
    factory = getattr(presets, name)
    params = jnp.array([1.0, -2.0])
    grads = [jnp.array([0.5, -1.0]), jnp.array([-0.25, 2.0]), jnp.array([1.0, 1.0])]
    with pytest.raises(TypeError, match=r"static_args=\('gradient_accumulation_st"):
        optax.inject_hyperparams(factory)(learning_rate=0.1, **options).init(params)

    injected = optax.inject_hyperparams(
        factory, static_args=("gradient_accumulation_steps", "ema_overwrite_frequency")
    )(learning_rate=0.1, **options)
    plain = factory(learning_rate=0.1, **options)
    p, q = params, params
    s, t = injected.init(params), plain.init(params)
    for g in grads * 2:
        u, s = jax.jit(injected.update)(g, s, p)
        v, t = plain.update(g, t, q)
        p, q = optax.apply_updates(p, u), optax.apply_updates(q, v)
        np.testing.assert_allclose(p, q, rtol=1e-6)
    assert not np.allclose(p, params)


def _loss(w):
    return jnp.sum((w - jnp.array([1.0, -1.0])) ** 2)


def test_sweep_over_keras_static_arguments():
    """Bug 5: a sweep over ``gradient_accumulation_steps`` raised TypeError
    while tracing; it is a static switch (one program per value), and a value
    the preset rejects is the sweep's documented ValueError."""
    from rmsprop_jax.sweep import grid, sweep

    w0 = jnp.array([0.5, 0.5])
    with pytest.raises(ValueError, match=r"Configuration 0 .* integer >= 2"):
        sweep(
            presets.keras_rmsprop,
            _loss,
            w0,
            grid(gradient_accumulation_steps=[1, 2]),
            steps=3,
        )
    configs = [
        {"gradient_accumulation_steps": k, "use_ema": e, "ema_overwrite_frequency": f}
        for k, e, f in [
            (None, False, None),
            (2, False, None),
            (3, True, 1),
            (2, True, 3),
        ]
    ]
    result = sweep(presets.keras_rmsprop, _loss, w0, configs, steps=7)
    for i, config in enumerate(configs):
        tx = presets.keras_rmsprop(**config)
        w, state = w0, tx.init(w0)
        for _ in range(7):
            u, state = tx.update(jax.grad(_loss)(w), state, w)
            w = optax.apply_updates(w, u)
        np.testing.assert_allclose(result.final_params[i], w, rtol=1e-6)


def test_a_schedule_where_a_number_is_read_once():
    """Issue 21 §3: ``torch_rprop(lr=schedule)`` used the schedule's first
    value silently; like ``rprop``'s ``learning_rate`` it now raises, saying
    what the value is and the fix."""
    sched = optax.linear_schedule(0.5, 0.05, 10)
    match = r"read once.*not a schedule.*schedule\(0\)"
    with pytest.raises(TypeError, match=r"`lr` is torch.optim.Rprop's .*" + match):
        presets.torch_rprop(lr=sched)
    with pytest.raises(TypeError, match=r"`learning_rate` is Rprop's .*" + match):
        rj.rprop(learning_rate=sched)
    with pytest.raises(TypeError, match=r"`initial_step` is .*" + match):
        rj.transforms.scale_by_rprop(initial_step=sched)
    # optax's spelling: the error names the argument the caller passed
    with pytest.raises(TypeError, match=r"`learning_rate` is .*" + match):
        rj.transforms.scale_by_rprop(learning_rate=sched)
    # The fix the message names: the schedule's first value.
    g = jnp.array([3.0, -0.01])
    tx = presets.torch_rprop(lr=sched(0), step_sizes=(1e-6, 0.4))
    updates, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(updates, [-0.4, 0.4], rtol=1e-7)


def _numbers_besides_the_learning_rate():
    names = [n for n in presets.__all__ if n.startswith(("torch_", "keras_", "tf1_"))]
    factories = [(n, getattr(presets, n)) for n in names]
    factories += [(n, getattr(rj, n)) for n in rj.optimizers.__all__]
    cases = []
    for name, factory in factories:
        for p in inspect.signature(factory).parameters.values():
            number = isinstance(p.default, int | float) and not isinstance(
                p.default, bool
            )
            if number and p.name not in ("lr", "learning_rate"):
                cases.append(pytest.param(factory, p.name, id=f"{name}-{p.name}"))
    return cases


@pytest.mark.parametrize("factory, name", _numbers_besides_the_learning_rate())
def test_a_schedule_for_any_other_number_raises_type_error(factory, name):
    """The kind of §3's first item: only learning rates take a schedule."""
    base = (
        {}
        if "learning_rate" not in inspect.signature(factory).parameters
        else {"learning_rate": 0.1}
    )
    with pytest.raises(TypeError, match=f"`{name}`"):
        factory(**base, **{name: optax.constant_schedule(0.5)})


def test_the_integrations_bfloat16_snippet():
    """Issue 21 bug 2's documentation: the snippet of docs/integrations.md runs
    as written; its first update is finite and equals the float32-hyperparameter
    result (the optimizer called directly, which keeps its rates in float32)."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).parents[1] / "docs" / "integrations.md").read_text()
    section = text.split("### bfloat16 parameters under `inject_hyperparams`")[1]
    (code,) = re.findall(r"```python\n(.*?)```", section.split("\n## ")[0], re.S)
    names: dict = {}
    exec(compile(code, "integrations.md", "exec"), names)
    updates, state = names["updates"], names["state"]
    assert updates.dtype == jnp.bfloat16
    assert np.all(np.isfinite(np.asarray(updates, np.float32)))
    assert state.hyperparams["b2"].dtype == jnp.float32
    assert state.hyperparams["b2"] == np.float32(0.999)
    params, grads = names["params"], names["grads"]
    direct = rj.adam(0.01)
    want, _ = jax.jit(direct.update)(grads, direct.init(params), params)
    np.testing.assert_array_equal(
        np.asarray(updates, np.float32), np.asarray(want, np.float32)
    )
    np.testing.assert_allclose(np.asarray(updates, np.float32), [-0.01, 0.01], 1e-2)
