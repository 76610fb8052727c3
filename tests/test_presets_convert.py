"""``presets.from_torch`` / ``presets.from_keras`` against live optimizers, and
the live checks of round 2 that need more than a golden case: the moving
average Keras keeps, torch's multi-tensor (``foreach``) code, Keras's
learning-rate schedules against their optax counterparts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from golden import generate
from test_presets import (
    CASES,
    HEADER,
    _golden,
    assert_paths_close,
    build,
    import_keras_jax,
    preset_path,
    trajectory,
)

from rmsprop_jax import presets


@pytest.fixture
def keras_jax(x64):
    return import_keras_jax()


_TORCH_CLASSES = {
    "torch_rmsprop": "RMSprop",
    "torch_rprop": "Rprop",
    "torch_adagrad": "Adagrad",
    "torch_sgd": "SGD",
    "torch_adam": "Adam",
    "torch_adamw": "AdamW",
    "torch_adadelta": "Adadelta",
}


def _torch_optimizer(torch, case, **extra):
    cls = getattr(torch.optim, _TORCH_CLASSES[case["preset"]])
    w = [torch.zeros(3, dtype=torch.float64, requires_grad=True)]
    return cls(w, **generate._framework_kwargs(case), **extra)


FIXED_TORCH = sorted(
    n for n, c in CASES.items() if c["framework"] == "torch" and not c["schedule"]
)


# The quick selection: the first case of each preset; every case in the full suite.
_FIRST_OF_EACH = {
    min(n for n in FIXED_TORCH if CASES[n]["preset"] == preset)
    for preset in {CASES[n]["preset"] for n in FIXED_TORCH}
}


@pytest.mark.parametrize(
    "name",
    [
        n if n in _FIRST_OF_EACH else pytest.param(n, marks=pytest.mark.slow)
        for n in FIXED_TORCH
    ],
)
def test_from_torch_equals_the_preset_of_the_same_arguments(x64, name):
    torch = pytest.importorskip("torch")
    tx = presets.from_torch(_torch_optimizer(torch, CASES[name]))
    got = trajectory(tx, 4, jit=False)
    assert_paths_close(
        got, trajectory(build(CASES[name]), 4, jit=False), rtol=0, atol=0
    )


def test_from_torch_follows_torch_for_fifty_steps(x64):
    torch = pytest.importorskip("torch")
    name = "torch_adamw-amsgrad-maximize"
    tx = presets.from_torch(_torch_optimizer(torch, CASES[name]))
    assert_paths_close(trajectory(tx, HEADER["steps"]), _golden(name))


def test_from_torch_adam_with_decoupled_weight_decay_is_adamw(x64):
    torch = pytest.importorskip("torch")
    w = [torch.zeros(3, requires_grad=True)]
    opt = torch.optim.Adam(w, lr=0.05, weight_decay=0.5, decoupled_weight_decay=True)
    got = trajectory(presets.from_torch(opt), 5, jit=False)
    want = trajectory(presets.torch_adamw(lr=0.05, weight_decay=0.5), 5, jit=False)
    assert_paths_close(got, want, rtol=0, atol=0)


def test_from_torch_reads_the_current_learning_rate_and_tensor_values(x64):
    torch = pytest.importorskip("torch")
    w = [torch.zeros(3, requires_grad=True)]
    opt = torch.optim.SGD(w, lr=torch.tensor(0.4), momentum=0.5)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.25)
    w[0].grad = torch.ones(3)
    opt.step()
    scheduler.step()  # lr is now 0.1
    with pytest.warns(UserWarning, match="current lr"):
        tx = presets.from_torch(opt)
    got = trajectory(tx, 3, jit=False)
    want = trajectory(presets.torch_sgd(lr=0.1, momentum=0.5), 3, jit=False)
    assert_paths_close(got, want, rtol=1e-7, atol=0)  # 0.4 * 0.25 from a float32 tensor


_SCHEDULERS = {
    "StepLR": lambda s, o: s.StepLR(o, step_size=2, gamma=0.5),
    "LambdaLR": lambda s, o: s.LambdaLR(o, lambda t: 1 / (1 + t)),
    "CosineAnnealingLR": lambda s, o: s.CosineAnnealingLR(o, T_max=10),
    "LinearLR": lambda s, o: s.LinearLR(o, 0.5, 1.0, total_iters=4),
    "OneCycleLR": lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=10),
}


@pytest.mark.parametrize("scheduler", sorted(_SCHEDULERS))
def test_from_torch_warns_of_an_attached_scheduler(scheduler):
    """Issue 21 §3: the scheduler is not converted; the warning says so and
    where the conversion table is. Also before any step (the scheduler's
    constructor already marks the optimizer)."""
    torch = pytest.importorskip("torch")
    w = [torch.zeros(2, requires_grad=True)]
    opt = torch.optim.RMSprop(w, lr=0.01)
    from_torch_plain = presets.from_torch(opt)  # no scheduler: no warning
    _SCHEDULERS[scheduler](torch.optim.lr_scheduler, opt)
    lr = opt.param_groups[0]["lr"]
    with pytest.warns(UserWarning) as record:
        tx = presets.from_torch(opt)
    (message,) = [str(r.message) for r in record]
    assert f"current lr ({lr!r}) only" in message
    assert "docs/porting.md" in message and "optax.exponential_decay" in message
    assert "presets.torch_rmsprop(lr=schedule" in message
    g = jnp.array([1.0, -2.0])
    same = presets.torch_rmsprop(lr=lr)
    u, _ = tx.update(g, tx.init(g), g)
    np.testing.assert_array_equal(u, same.update(g, same.init(g), g)[0])
    assert from_torch_plain is not None


def test_from_torch_several_groups():
    torch = pytest.importorskip("torch")
    a, b = (torch.zeros(2, requires_grad=True) for _ in range(2))
    same = torch.optim.RMSprop([{"params": [a]}, {"params": [b]}], lr=0.1)
    assert presets.from_torch(same) is not None
    differ = torch.optim.RMSprop(
        [{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1
    )
    with pytest.raises(ValueError, match="optax.multi_transform") as info:
        presets.from_torch(differ)
    assert "lr: 0.1 vs 0.5" in str(info.value)
    assert "momentum: 0 vs 0.9" in str(info.value)


def test_from_torch_rejects_what_it_cannot_map():
    torch = pytest.importorskip("torch")
    w = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(TypeError, match="Adamax"):
        presets.from_torch(torch.optim.Adamax(w))
    with pytest.raises(TypeError, match="from_torch takes a torch.optim"):
        presets.from_torch(object())
    opt = torch.optim.SGD(w, lr=0.1)
    opt.param_groups[0]["warmup"] = 3
    with pytest.raises(ValueError, match=r"param-group key\(s\) \['warmup'\]"):
        presets.from_torch(opt)
    del opt.param_groups[0]["warmup"]
    opt.param_groups[0]["momentun"] = 0.9
    with pytest.raises(ValueError, match="did you mean 'momentun' -> 'momentum'"):
        presets.from_torch(opt)


@pytest.mark.parametrize(
    "name", ["torch_adam-weight_decay-schedule", "torch_adamw-defaults"]
)
def test_live_torch_foreach_matches_the_preset(name):
    """torch's multi-tensor Adam/AdamW (``foreach=True``) takes the same path."""
    pytest.importorskip("torch")
    live, _ = generate.run_torch(CASES[name], foreach=True)
    assert_paths_close(preset_path(name), live)


# ----------------------------------------------------------------------- Keras

_KERAS_CLASSES = {
    "keras_rmsprop": "RMSprop",
    "keras_adagrad": "Adagrad",
    "keras_adam": "Adam",
    "keras_sgd": "SGD",
    "keras_adadelta": "Adadelta",
}
FIXED_KERAS = sorted(
    n for n, c in CASES.items() if c["framework"] == "keras" and not c["schedule"]
)


def _keras_optimizer(keras, case):
    cls = getattr(keras.optimizers, _KERAS_CLASSES[case["preset"]])
    return cls(**generate._framework_kwargs(case))


@pytest.mark.parametrize("name", FIXED_KERAS)
def test_from_keras_equals_the_preset_of_the_same_arguments(keras_jax, name):
    opt = _keras_optimizer(keras_jax, CASES[name])
    case = dict(CASES[name])
    # Keras keeps a float learning rate in a float32 variable (floatx)
    case["lr"] = opt.get_config()["learning_rate"]
    for tx in (
        presets.from_keras(opt),
        presets.from_keras(keras_jax.optimizers.serialize(opt)),
        presets.from_keras(opt.get_config(), class_name=_KERAS_CLASSES[case["preset"]]),
    ):
        got = trajectory(tx, 4, jit=False)
        assert_paths_close(got, trajectory(build(case), 4, jit=False), rtol=0, atol=0)


def _keras_schedules(keras):
    s = keras.optimizers.schedules
    return {
        "exponential": s.ExponentialDecay(0.1, 7, 0.6),
        "exponential-staircase": s.ExponentialDecay(0.1, 7, 0.6, staircase=True),
        "polynomial": s.PolynomialDecay(0.1, 30, 0.01, power=2.0),
        "cosine": s.CosineDecay(0.1, 30, alpha=0.1),
        "cosine-warmup": s.CosineDecay(
            0.01, 25, alpha=0.2, warmup_target=0.1, warmup_steps=10
        ),
    }


@pytest.mark.slow  # over 8 s; the full suite runs it
def test_keras_schedules_equal_their_optax_counterparts(keras_jax):
    """At steps 0-59 around the boundaries. Measured: exponential and polynomial bit for bit;
    cosine within 1.6e-7 relative, as Keras computes its cosine in float32
    (``keras.ops.cos`` on the JAX backend) even with ``floatx="float64"``."""
    from rmsprop_jax.presets._convert import _keras_schedule

    keras = keras_jax
    steps = [0, 1, 2, 6, 7, 8, 9, 10, 11, 13, 14, 20, 24, 25, 29, 30, 31, 35, 41, 59]
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")  # Keras computes in floatx
    try:
        for name, schedule in _keras_schedules(keras).items():
            serialized = keras.optimizers.schedules.serialize(schedule)
            ours = _keras_schedule(serialized)
            want = np.array([float(schedule(t)) for t in steps])
            got = np.array([float(ours(jnp.asarray(t))) for t in steps])
            # keras.ops.cos returns float32 on the JAX backend, float64 in or not
            rtol = 3e-7 if name.startswith("cosine") else 1e-14
            np.testing.assert_allclose(got, want, rtol=rtol, atol=0, err_msg=name)
    finally:
        keras.config.set_floatx(floatx)


# measured over 30 steps: 6.7e-16 and 3.5e-9 (Keras's float32 cosine) absolute
@pytest.mark.parametrize(
    "schedule, rtol", [("exponential", 1e-10), ("cosine-warmup", 1e-6)]
)
def test_from_keras_with_a_schedule_follows_keras(keras_jax, schedule, rtol):
    def make(keras):
        lr = _keras_schedules(keras)[schedule]
        return keras.optimizers.Adam(lr, beta_1=0.8, clipnorm=2.0, weight_decay=0.1)

    live, _ = generate.run_keras_optimizer(make, 30)
    ours = trajectory(presets.from_keras(make(keras_jax)), 30)
    assert_paths_close(ours, live, rtol=rtol)


def test_from_keras_rejects_what_it_cannot_map(keras_jax):
    s = keras_jax.optimizers.schedules
    for schedule, name in [
        (s.InverseTimeDecay(0.1, 10, 0.5), "InverseTimeDecay"),
        (s.PiecewiseConstantDecay([10], [0.1, 0.01]), "PiecewiseConstantDecay"),
        (s.PolynomialDecay(0.1, 10, cycle=True), "PolynomialDecay"),
        (s.CosineDecayRestarts(0.1, 10), "CosineDecayRestarts"),
    ]:
        with pytest.raises(ValueError, match=f"'{name}'.*pass it as `learning_rate`"):
            presets.from_keras(keras_jax.optimizers.SGD(schedule))
    with pytest.raises(TypeError, match="Adamax"):
        presets.from_keras(keras_jax.optimizers.Adamax())
    with pytest.raises(TypeError, match="class_name=None"):
        presets.from_keras({"learning_rate": 0.1})
    with pytest.raises(ValueError, match=r"config key\(s\) \['rho'\]"):
        presets.from_keras({"learning_rate": 0.1, "rho": 0.9}, class_name="SGD")
    with pytest.raises(ValueError, match="'beta1' -> 'beta_1'"):
        presets.from_keras({"beta1": 0.9}, class_name="Adam")


def test_from_keras_drops_what_keras_ignores(x64):
    """A clip <= 0 and an overwrite frequency without EMA change nothing in Keras."""
    config = {
        "learning_rate": 0.1,
        "clipnorm": 0.0,
        "use_ema": False,
        "ema_overwrite_frequency": 3,
    }
    got = trajectory(presets.from_keras(config, class_name="Adam"), 4, jit=False)
    want = trajectory(presets.keras_adam(0.1), 4, jit=False)
    assert_paths_close(got, want, rtol=0, atol=0)


@pytest.mark.slow  # over 8 s; the full suite runs it
def test_live_keras_moving_average_matches_the_state(keras_jax):
    """``use_ema`` without overwriting: the weights follow the plain path and
    the state's average equals Keras's ``average`` variables."""

    def make(keras):
        return keras.optimizers.SGD(
            0.01, momentum=0.9, use_ema=True, ema_momentum=0.7,
            gradient_accumulation_steps=2,
        )  # fmt: skip

    steps = 9
    live, variables = generate.run_keras_optimizer(make, steps)
    want = np.concatenate([v.ravel() for k, v in variables.items() if "average" in k])
    tx = presets.keras_sgd(
        0.01,
        momentum=0.9,
        use_ema=True,
        ema_momentum=0.7,
        gradient_accumulation_steps=2,
    )
    w = {k: jnp.asarray(v) for k, v in generate.initial_params().items()}
    state = tx.init(w)
    for _ in range(steps):
        updates, state = tx.update(jax.grad(generate.jax_loss)(w), state, w)
        w = optax.apply_updates(w, updates)
    np.testing.assert_allclose(generate.flatten(w), live[-1], rtol=1e-12, atol=1e-14)
    got = generate.flatten(state.average)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert np.abs(got - live[-1]).max() > 1e-3  # the average is not the weights


def test_live_keras_clipping_arithmetic_is_keras_own(keras_jax):
    """Bit for bit Keras's ``_clip_by_norm`` and ``clip_by_global_norm``
    (optax's ``clip_by_global_norm`` differs in the last bit and on a
    non-finite norm, where Keras returns NaN)."""
    from keras.src.optimizers.base_optimizer import clip_by_global_norm

    from rmsprop_jax.presets import _keras_common

    rng = np.random.default_rng(3)
    grads = [jnp.asarray(rng.normal(size=s) * 3) for s in [(3, 4), (4,), ()]]
    for c in [0.5, 2.0, 100.0]:
        opt = keras_jax.optimizers.SGD(clipnorm=c)
        want = [np.asarray(opt._clip_by_norm(g)) for g in grads]
        got, _ = _keras_common._clip_by_norm(c).update(grads, None)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
        want = [np.asarray(g) for g in clip_by_global_norm(grads, c)]
        got, _ = _keras_common._clip_by_global_norm(c).update(grads, None)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
    inf = [grads[0].at[0, 0].set(jnp.inf), grads[1]]
    got, _ = _keras_common._clip_by_global_norm(1.0).update(inf, None)
    assert all(np.isnan(g).all() for g in got)
    assert all(np.isnan(np.asarray(g)).all() for g in clip_by_global_norm(inf, 1.0))
    optax_clipped, _ = optax.clip_by_global_norm(1.0).update(inf, None)
    assert not np.isnan(np.asarray(optax_clipped[1])).any()


@pytest.mark.slow  # over 8 s; the full suite runs it
def test_traced_hyperparameters_of_the_new_presets(x64):
    """No Python branching on a value: vmap over them matches a loop."""
    g = jnp.array([1.0, -2.0, 0.5])

    def final(make, value):
        tx = make(value)
        state = tx.init(g)
        for _ in range(3):
            updates, state = tx.update(g, state, g)
        return updates

    makers = [
        lambda v: presets.torch_adam(lr=0.1, betas=(v, 0.99), weight_decay=v),
        lambda v: presets.torch_adamw(lr=0.1, betas=(0.9, v), amsgrad=True),
        lambda v: presets.keras_adam(0.1, beta_1=v, weight_decay=v, clipnorm=v),
        lambda v: presets.keras_sgd(
            0.1, momentum=v, use_ema=True, ema_momentum=v, ema_overwrite_frequency=2
        ),
    ]
    values = jnp.array([0.3, 0.6, 0.9])
    for make in makers:
        batched = jax.vmap(lambda v, make=make: final(make, v))(values)
        looped = jnp.stack([final(make, float(v)) for v in values])
        np.testing.assert_allclose(batched, looped, rtol=1e-14)
