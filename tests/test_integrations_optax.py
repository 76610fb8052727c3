"""Every optimizer of the library inside optax's wrappers.

Each wrapper is checked against an independent construction of what it should
compute (a penalty in the loss, a manual split of the parameters, gradients
clipped by hand, a full-batch run, optimizers rebuilt mid-run, ...), on the
shared regression problem, in float64 so that the comparisons are tight.

To keep compilation cheap, each module-scoped fixture trains every optimizer
in every construction it compares through the library's trajectory engine
(:func:`integration_problems.train`: one compiled program); the tests, one per
optimizer, read its results. Two training loops stay in this module because
they are the subject: the user's own jitted loop that edits
``inject_hyperparams``' state between calls, and ``MultiSteps`` fed
micro-batches with the full batch's loss as ``value=``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from integration_problems import (
    NAMES,
    OPTIMIZERS,
    STEPS,
    TARGET,
    assert_trees_close,
    data,
    init_params,
    loss,
    make,
    train,
    train_all,
)

import rmsprop_jax as rj

SCHEDULABLE = [name for name in NAMES if name != "rprop"]
STEPS_COMPARED = 30

# Hyperparameters changed mid-training under inject_hyperparams. Rprop's
# learning_rate is its *initial* step size, read only by init: changing it
# later has no effect, which the reference (a fresh rprop continuing from the
# same state) shows too.
CHANGES = {
    "rmsprop": {"learning_rate": 0.005, "decay": 0.5},
    "rprop": {"learning_rate": 1.0, "eta_plus": 1.1, "max_step": 0.05},
    "adagrad": {"learning_rate": 0.05, "eps": 1e-3},
    "sgd": {"learning_rate": 0.02, "momentum": 0.5},
    "sign_sgd": {"learning_rate": 0.001},
    "adam": {"learning_rate": 0.001, "b2": 0.9},
    "laprop": {"learning_rate": 0.001, "b2": 0.9},
}


def _batch64():
    return data(jnp.float64)


def _params64():
    return init_params(jnp.float64)


def _final_params(runs: dict, how: str, names) -> dict:
    """``{name: final params}`` of the runs keyed ``"<how> <name>"``."""
    return {n: runs[f"{how} {n}"].final_params for n in names}


@pytest.fixture(scope="module")
def to_target():
    return train_all(STEPS, dtype=jnp.float32)


@pytest.mark.parametrize("name", NAMES)
def test_every_optimizer_reaches_the_target(to_target, name):
    run = to_target[name]
    assert float(loss(run.final_params, *data())) < TARGET < float(run.losses[0])


def _steps(tx, params, state, steps, batch):
    """``steps`` full-batch steps of ``tx`` from ``(params, state)`` in one
    ``lax.scan``. The loop under test (a user's own step, fed a state edited
    between calls), so not the engine, which starts from ``tx.init``."""

    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(loss)(params, *batch)
        updates, state = tx.update(grads, state, params, value=value)
        return (optax.apply_updates(params, updates), state), None

    return jax.lax.scan(step, (params, state), length=steps)[0]


def _rebuilt_after(steps: int, before, after):
    """``before`` for ``steps`` updates, then ``after`` continuing from its
    state: an optimizer rebuilt by hand mid-run (the two share a state layout)."""

    def init(params):
        return jnp.zeros([], jnp.int32), before.init(params)

    def update(grads, state, params=None, **extra):
        count, inner = state
        first = before.update(grads, inner, params, **extra)
        then = after.update(grads, inner, params, **extra)
        pick = lambda a, b: jnp.where(count < steps, a, b)  # noqa: E731
        updates, inner = jax.tree.map(pick, first, then)
        return updates, (count + 1, inner)

    return optax.GradientTransformationExtraArgs(init, update)


@pytest.fixture(scope="module")
def injected():
    """20 steps, then new hyperparameters written into the state, 10 more."""
    traces = []
    with jax.enable_x64(True):
        txs = {
            n: optax.inject_hyperparams(OPTIMIZERS[n][0])(**OPTIMIZERS[n][1])
            for n in NAMES
        }
        batch = _batch64()

        @jax.jit
        def chunk(params, states):
            traces.append(None)
            out = {n: _steps(txs[n], params[n], states[n], 10, batch) for n in NAMES}
            return {n: o[0] for n, o in out.items()}, {n: o[1] for n, o in out.items()}

        params = {n: _params64() for n in NAMES}
        params, states = chunk(params, {n: txs[n].init(_params64()) for n in NAMES})
        params, states = chunk(params, states)
        # A state straight from init differs from one returned by update in
        # weak types (rprop's prev_value), which costs one extra trace on the
        # second call; what matters is that new hyperparameters compile nothing.
        compiled = chunk._cache_size()
        for n in NAMES:
            old = states[n].hyperparams
            new = {k: jnp.asarray(v, old[k].dtype) for k, v in CHANGES[n].items()}
            states[n] = states[n]._replace(hyperparams={**old, **new})
        params, states = chunk(params, states)
        counts = (compiled, chunk._cache_size(), len(traces))

    def reference(name):
        factory, kwargs = OPTIMIZERS[name]
        after = factory(**{**kwargs, **CHANGES[name]})
        return _rebuilt_after(20, factory(**kwargs), after)

    runs = train({n: partial(reference, n) for n in NAMES}, 30)
    return params, {n: runs[n].final_params for n in NAMES}, counts


def test_inject_hyperparams_compiles_once(injected):
    compiled_before, compiled_after, traces = injected[2]
    assert compiled_after == compiled_before == traces <= 2


@pytest.mark.parametrize("name", NAMES)
def test_inject_hyperparams_changes_mid_training(injected, name):
    params, expected, _ = injected
    assert_trees_close(params[name], expected[name], rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def accumulated():
    """MultiSteps over 4 micro-batches vs the full-batch optimizer."""
    micro, steps = 4, 20

    # The loop under test: MultiSteps fed micro-batches, with the full batch's
    # loss as value= (the engine passes each batch's own loss).
    def multisteps(name):
        x, y = _batch64()
        tx = optax.MultiSteps(make(name), micro, accumulator_dtype=jnp.float64)

        def step(carry, i):
            params, state = carry
            rows = jax.lax.dynamic_slice_in_dim(jnp.arange(64), (i % micro) * 16, 16)
            grads = jax.grad(loss)(params, x[rows], y[rows])
            # iRprop+ compares full-batch losses: pass the loss of the whole
            # batch at the current params (what the accumulated gradient is of).
            updates, state = tx.update(grads, state, params, value=loss(params, x, y))
            return (optax.apply_updates(params, updates), state), None

        carry = (_params64(), tx.init(_params64()))
        return jax.lax.scan(step, carry, jnp.arange(micro * steps))[0][0]

    with jax.enable_x64(True):
        actual = jax.jit(lambda: {n: multisteps(n) for n in NAMES})()
    full_batch = train_all(steps)
    return actual, {n: full_batch[n].final_params for n in NAMES}


@pytest.mark.slow  # a training run per optimizer (the quick selection: to_target, injected)
@pytest.mark.parametrize("name", NAMES)
def test_multisteps_accumulation_equals_full_batch(accumulated, name):
    actual, expected = accumulated
    assert_trees_close(actual[name], expected[name], rtol=1e-9, atol=1e-12)


MASK = {"kernel": True, "bias": False}
WD = 0.1


def _penalty(params):
    return 0.5 * WD * jnp.sum(params["kernel"] ** 2)


def _penalised(params, x, y):
    return loss(params, x, y) + _penalty(params)


def _valued_as_penalised(params, x, y):
    """The penalised loss's value with the plain loss's gradient: the decay
    comes from the wrapper alone, while iRprop+ (which compares losses) sees
    the penalised loss in every run."""
    return loss(params, x, y) + jax.lax.stop_gradient(_penalty(params))


@pytest.fixture(scope="module")
def decayed():
    """masked(add_decayed_weights) vs an L2 penalty on the kernel in the loss."""

    def masked(name):
        return optax.chain(
            optax.masked(optax.add_decayed_weights(WD), MASK), make(name)
        )

    def everywhere(name):
        return optax.chain(optax.add_decayed_weights(WD), make(name))

    wrapped = train(
        {
            **{f"masked {n}": partial(masked, n) for n in NAMES},
            **{f"everywhere {n}": partial(everywhere, n) for n in NAMES},
        },
        STEPS_COMPARED,
        loss_fn=_valued_as_penalised,
    )
    penalty = train_all(STEPS_COMPARED, loss_fn=_penalised)
    return (
        _final_params(wrapped, "masked", NAMES),
        _final_params(wrapped, "everywhere", NAMES),
        {n: penalty[n].final_params for n in NAMES},
    )


@pytest.mark.slow  # a training run per optimizer (the quick selection: to_target, injected)
@pytest.mark.parametrize("name", NAMES)
def test_masked_weight_decay_spares_the_biases(decayed, name):
    masked, everywhere, penalty = (d[name] for d in decayed)
    assert_trees_close(masked, penalty, rtol=1e-9, atol=1e-12)
    # Decaying the biases too gives another trajectory: the mask does act.
    assert not np.allclose(everywhere["bias"], penalty["bias"], rtol=1e-3)


@pytest.fixture(scope="module")
def partitioned():
    """multi_transform vs each optimizer applied by hand to its own group."""
    plain = rj.sgd(0.05)
    labels = {"kernel": "adaptive", "bias": "plain"}

    def transformed(name):
        return optax.multi_transform({"adaptive": make(name), "plain": plain}, labels)

    def by_hand(name):
        """Each group's optimizer applied to its own leaves, written out."""
        adaptive = make(name)

        def init(params):
            return adaptive.init({"kernel": params["kernel"]}), plain.init(
                params["bias"]
            )

        def update(grads, state, params, *, value):
            s_kernel, s_bias = state
            kernel = {"kernel": params["kernel"]}
            u_kernel, s_kernel = adaptive.update(
                {"kernel": grads["kernel"]}, s_kernel, kernel, value=value
            )
            u_bias, s_bias = plain.update(grads["bias"], s_bias, params["bias"])
            updates = {"kernel": u_kernel["kernel"], "bias": u_bias}
            return updates, (s_kernel, s_bias)

        return optax.GradientTransformationExtraArgs(init, update)

    runs = train(
        {
            **{f"transformed {n}": partial(transformed, n) for n in NAMES},
            **{f"by_hand {n}": partial(by_hand, n) for n in NAMES},
        },
        STEPS_COMPARED,
    )
    return _final_params(runs, "transformed", NAMES), _final_params(
        runs, "by_hand", NAMES
    )


@pytest.mark.slow  # a training run per optimizer (the quick selection: to_target, injected)
@pytest.mark.parametrize("name", NAMES)
def test_multi_transform_trains_each_group_with_its_optimizer(partitioned, name):
    actual, expected = partitioned
    assert_trees_close(actual[name], expected[name], rtol=1e-9, atol=1e-12)


MAX_NORM = 0.2


@pytest.fixture(scope="module")
def clipped():
    """chain(clip_by_global_norm, opt) vs opt on gradients clipped by hand."""

    def clip(grads):
        factor = jnp.minimum(1.0, MAX_NORM / optax.tree.norm(grads))
        return jax.tree.map(lambda g: g * factor, grads)

    def chained(name):
        return optax.chain(optax.clip_by_global_norm(MAX_NORM), make(name))

    def by_hand(name):
        """The optimizer fed gradients clipped by hand."""
        tx = make(name)

        def update(grads, state, params=None, **extra):
            return tx.update(clip(grads), state, params, **extra)

        return optax.GradientTransformationExtraArgs(tx.init, update)

    runs = train(
        {
            **{f"chained {n}": partial(chained, n) for n in NAMES},
            **{f"by_hand {n}": partial(by_hand, n) for n in NAMES},
        },
        STEPS_COMPARED,
    )
    return _final_params(runs, "chained", NAMES), _final_params(runs, "by_hand", NAMES)


def test_clipping_acts_on_this_problem():
    grads = jax.grad(loss)(init_params(), *data())
    assert float(optax.tree.norm(grads)) > 4 * MAX_NORM


@pytest.mark.slow  # a training run per optimizer (the quick selection: to_target, injected)
@pytest.mark.parametrize("name", NAMES)
def test_clip_by_global_norm_before_the_optimizer(clipped, name):
    actual, expected = clipped
    assert_trees_close(actual[name], expected[name], rtol=1e-9, atol=1e-12)


def _lr(name: str) -> Callable:
    peak = OPTIMIZERS[name][1]["learning_rate"]
    schedule = optax.warmup_cosine_decay_schedule(0.0, peak, 10, 60, 0.1 * peak)
    return schedule


@pytest.fixture(scope="module")
def scheduled():
    """opt(schedule) and inject_hyperparams(opt)(schedule) vs schedule(t) * opt(1)."""

    def build(name, how):
        factory, kwargs = OPTIMIZERS[name]
        lr = _lr(name)
        if how == "scheduled":
            tx = factory(**{**kwargs, "learning_rate": lr})
        elif how == "injected":
            tx = optax.inject_hyperparams(factory)(**{**kwargs, "learning_rate": lr})
        else:  # the unit-learning-rate optimizer, scaled by hand each step
            # The optimizers evaluate a schedule at a count in the default
            # integer dtype (int64 here: float64 learning rates);
            # inject_hyperparams evaluates it itself, at its int32 count
            # (float32 learning rates, optax's own rule).
            count_dtype = jnp.int32 if how == "by_hand_int32" else int
            by_hand = optax.scale_by_schedule(lambda c: lr(c.astype(count_dtype)))
            tx = optax.chain(factory(**{**kwargs, "learning_rate": 1.0}), by_hand)
        return tx

    hows = ("scheduled", "injected", "by_hand", "by_hand_int32")
    runs = train(
        {f"{how} {n}": partial(build, n, how) for how in hows for n in SCHEDULABLE},
        60,
    )
    return {how: _final_params(runs, how, SCHEDULABLE) for how in hows}


@pytest.mark.slow  # a training run per optimizer (the quick selection: to_target, injected)
@pytest.mark.parametrize("name", SCHEDULABLE)
def test_schedules_scale_each_step(scheduled, name):
    expected = scheduled["by_hand"][name]
    assert_trees_close(scheduled["scheduled"][name], expected, rtol=1e-9, atol=1e-12)
    expected = scheduled["by_hand_int32"][name]
    assert_trees_close(scheduled["injected"][name], expected, rtol=1e-9, atol=1e-12)


def test_rprop_rejects_a_schedule():
    with pytest.raises(TypeError, match="initial step size"):
        rj.rprop(learning_rate=_lr("rmsprop"))


# optax.contrib: the *wrappers* (taking any optimizer) are reduce_on_plateau
# (chained after the optimizer; reads value=) and schedule_free (wraps a base
# optimizer without momentum). The rest of optax.contrib are optimizers of
# their own (prodigy, dog, cocob, muon, ...) or need a second optimizer and
# gradient (sam), and are left out. Rprop is not a schedule-free base: it
# adapts its steps from gradient sign changes between consecutive iterates,
# while schedule-free evaluates gradients at an interpolation of two sequences.
PLATEAU = {"factor": 0.5, "patience": 5, "accumulation_size": 1}
SCHEDULE_FREE_BASES = {  # name -> (base without momentum, learning rate)
    "rmsprop": (rj.rmsprop, 0.02),
    "adagrad": (rj.adagrad, 0.3),
    "sgd": (rj.sgd, 0.1),
    "sign_sgd": (rj.sign_sgd, 0.02),
    "adam_b1_0": (lambda lr: rj.adam(lr, b1=0.0), 0.03),
}


@pytest.fixture(scope="module")
def contrib():
    def plateau(name):
        return optax.chain(make(name), optax.contrib.reduce_on_plateau(**PLATEAU))

    def schedule_free(name):
        factory, lr = SCHEDULE_FREE_BASES[name]
        return optax.contrib.schedule_free(factory(lr), lr)

    runs = train(
        {
            **{f"plateau {n}": partial(plateau, n) for n in NAMES},
            **{
                f"schedule_free {n}": partial(schedule_free, n)
                for n in SCHEDULE_FREE_BASES
            },
            "plain sign_sgd": partial(make, "sign_sgd"),
        },
        STEPS,
        dtype=jnp.float32,
    )
    plateaus = {}
    for n in NAMES:
        run = runs[f"plateau {n}"]
        final = loss(run.final_params, *data())
        plateaus[n] = final, run.losses[0], run.final_state[1].scale
    schedule_free_runs = {}
    for n in SCHEDULE_FREE_BASES:
        run = runs[f"schedule_free {n}"]
        evaluated = optax.contrib.schedule_free_eval_params(
            run.final_state, run.final_params
        )
        schedule_free_runs[n] = loss(evaluated, *data()), run.losses[0]
    return plateaus, schedule_free_runs, runs["plain sign_sgd"].losses[-1]


@pytest.mark.slow  # a training run per optimizer (the quick selection: to_target, injected)
@pytest.mark.parametrize("name", NAMES)
def test_reduce_on_plateau_after_every_optimizer(contrib, name):
    final, first, _ = contrib[0][name]
    assert float(final) < TARGET < float(first)


@pytest.mark.slow  # a training run per optimizer (the quick selection: to_target, injected)
def test_reduce_on_plateau_lowers_the_floor_of_sign_descent(contrib):
    """Sign descent with a fixed step oscillates around the minimum; the
    plateau detector halves the step and the loss goes well below that floor."""
    final, _, scale = contrib[0]["sign_sgd"]
    assert float(scale) < 1.0
    assert float(final) < 0.1 * float(contrib[2])


@pytest.mark.slow  # a training run per optimizer (the quick selection: to_target, injected)
@pytest.mark.parametrize("name", sorted(SCHEDULE_FREE_BASES))
def test_schedule_free_around_each_base(contrib, name):
    final, first = contrib[1][name]
    assert float(final) < TARGET < float(first)


def test_schedule_free_rmsprop_equals_optax_schedule_free_adamw(x64):
    """schedule_free_adamw's base is RMSprop with eps outside the root and bias
    correction (no momentum): built from this library, the runs agree."""
    lr, b1, b2, eps = 0.03, 0.9, 0.99, 1e-6
    base = rj.rmsprop(lr, b2, eps, eps_in_sqrt=False, bias_correction=True)
    ours = optax.contrib.schedule_free(base, lr, b1)
    theirs = optax.contrib.schedule_free_adamw(lr, b1=b1, b2=b2, eps=eps)
    runs = train({"ours": lambda: ours, "theirs": lambda: theirs}, 40)
    assert_trees_close(
        runs["ours"].final_params, runs["theirs"].final_params, rtol=1e-9, atol=1e-12
    )
