"""Sweeps: one compiled program equals the configurations run one at a time."""

from __future__ import annotations

import csv
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import nonlinear_loss, nonlinear_params

import rmsprop_jax as rj
from rmsprop_jax.sweep import RECORDABLE, _batches, grid, sweep, table, zipped


def rosenbrock(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


W0 = (-1.5, 2.0)


def rosenbrock_records(factory, steps: int, *names: str) -> dict:
    """The records ``names`` of ``factory`` at learning rate 1e-3 from W0."""
    g = grid(learning_rate=[1e-3])
    return sweep(
        factory, rosenbrock, jnp.array(W0), g, steps=steps, record=names
    ).records


@functools.cache
def _value_and_grad(loss_fn):
    return jax.jit(jax.value_and_grad(loss_fn))


def one_at_a_time(make_tx, loss_fn, params, config, steps, batches=None):
    """The plain loop a user writes for one configuration (Python floats)."""
    tx = optax.with_extra_args_support(make_tx(**config))
    state = tx.init(params)
    losses = []
    for t in range(steps):
        args = () if batches is None else (batches[t],)
        loss, grads = _value_and_grad(loss_fn)(params, *args)
        updates, state = tx.update(grads, state, params, value=loss)
        params = optax.apply_updates(params, updates)
        losses.append(loss)
    return np.asarray(losses), params, state


def assert_close(a, b, rtol=1e-6, atol=0.0):
    jax.tree.map(
        lambda x, y: np.testing.assert_allclose(
            np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=rtol, atol=atol
        ),
        a,
        b,
    )


def assert_matches_loop(
    result, make_tx, loss_fn, params, steps, rtol=1e-6, batches=None, tail=(), atol=0
):
    for i, config in enumerate(result.grid.configs()):
        losses, final_params, final_state = one_at_a_time(
            make_tx, loss_fn, params, config, steps, batches
        )
        got = result[i]
        assert_close(got.losses, losses, rtol, atol)
        assert_close(got.final_params, final_params, rtol, atol)
        assert_close(got.final_state, final_state, rtol, atol)
        assert_close(got.final_loss, loss_fn(final_params, *tail), rtol, atol)


# --- equivalence with one run per configuration ------------------------------


def test_product_grid_equals_one_at_a_time(x64):
    params = nonlinear_params()
    g = grid(decay=[0.0, 0.99], learning_rate=[0.003, 0.03])
    result = sweep(rj.rmsprop, nonlinear_loss, params, g, steps=20)
    assert result.losses.shape == (2, 2, 20)
    assert result.final_params["a"].shape == (2, 2, 3, 4)
    assert result.losses.dtype == jnp.float64
    assert not np.any(result.diverged)
    assert_matches_loop(result, rj.rmsprop, nonlinear_loss, params, 20)


def test_float32_equals_one_at_a_time():
    w0 = jnp.array(W0, jnp.float32)
    g = grid(learning_rate=[0.001, 0.003, 0.01])
    result = sweep(rj.rmsprop, rosenbrock, w0, g, steps=30)
    assert result.losses.shape == (3, 30)
    assert result.final_params.dtype == jnp.float32
    assert_matches_loop(result, rj.rmsprop, rosenbrock, w0, 30, rtol=1e-6, atol=1e-6)


def test_irprop_plus_receives_the_loss(x64):
    make = functools.partial(rj.rprop, variant="irprop+")
    g = grid(learning_rate=[0.01, 0.1], eta_plus=[1.1, 1.2, 1.5])
    result = sweep(make, rosenbrock, jnp.array(W0), g, steps=60)
    assert result.losses.shape == (2, 3, 60)
    assert_matches_loop(result, make, rosenbrock, jnp.array(W0), 60)


@pytest.mark.slow
def test_zipped_table_and_product_of_grids(x64):
    w0 = jnp.array(W0)
    z = zipped(decay=[0.5, 0.9, 0.99], learning_rate=[0.1, 0.01, 0.001])
    t = table(
        [{"decay": 0.5, "learning_rate": 0.1}, {"decay": 0.99, "learning_rate": 0.001}]
    )
    rz = sweep(rj.rmsprop, rosenbrock, w0, z, steps=25)
    rt = sweep(rj.rmsprop, rosenbrock, w0, t, steps=25)
    assert rz.losses.shape == (3, 25) and rt.losses.shape == (2, 25)
    assert_close(rt.losses, rz.losses[jnp.array([0, 2])], rtol=1e-12)
    assert_matches_loop(rz, rj.rmsprop, rosenbrock, w0, 25)
    product = grid(eps=[1e-8, 1e-4]) * z
    assert product.shape == (2, 3) and len(product) == 6
    rp = sweep(rj.rmsprop, rosenbrock, w0, product, steps=25)
    assert rp.losses.shape == (2, 3, 25)
    assert_close(rp.losses[0], rz.losses, rtol=1e-12)
    # A plain mapping is a product grid, a list of dicts a table.
    rm = sweep(rj.rmsprop, rosenbrock, w0, {"decay": [0.5, 0.99]}, steps=25)
    assert rm.losses.shape == (2, 25)


@pytest.mark.parametrize("chunk_size", [1, 3, 16])
def test_chunked_equals_unchunked(x64, chunk_size):
    g = grid(decay=[0.0, 0.5, 0.9, 0.99], learning_rate=[1e-3, 1e-2])  # 8 = 2*3 + 2
    full = sweep(rj.rmsprop, rosenbrock, jnp.array(W0), g, steps=50)
    chunked = sweep(
        rj.rmsprop, rosenbrock, jnp.array(W0), g, steps=50, chunk_size=chunk_size
    )
    assert_close(chunked.losses, full.losses, rtol=1e-12)
    assert_close(chunked.final_states, full.final_states, rtol=1e-12)


# --- divergence ---------------------------------------------------------------


def test_divergence_is_marked_frozen_and_isolated():
    w0 = jnp.array(W0)
    both = sweep(rj.sgd, rosenbrock, w0, grid(learning_rate=[1e-4, 0.05]), steps=30)
    alone = sweep(rj.sgd, rosenbrock, w0, grid(learning_rate=[1e-4]), steps=30)
    np.testing.assert_array_equal(both.diverged, [False, True])
    at = int(both.diverged_at[1])
    assert 0 < at < 30 and int(both.diverged_at[0]) == -1
    assert np.all(np.isnan(both.losses[1, at + 1 :]))
    assert np.all(np.isfinite(both.losses[1, : at + 1]))
    assert np.isnan(both.final_loss[1]) and np.all(np.isfinite(both.final_params))
    np.testing.assert_array_equal(both.losses[0], alone.losses[0])
    np.testing.assert_array_equal(both.final_params[0], alone.final_params[0])
    assert both.best().config == {"learning_rate": 1e-4}
    assert both.rows()[1]["diverged"] is True


def test_nan_loss_and_blow_up_threshold():
    def log_barrier(w):  # NaN once w leaves (0, inf)
        return jnp.sum(w**2 - jnp.log(w))

    w0 = jnp.array([0.5, 2.0])
    g = grid(learning_rate=[0.1, 3.0])
    result = sweep(rj.sgd, log_barrier, w0, g, steps=20)
    np.testing.assert_array_equal(result.diverged, [False, True])
    assert np.all(np.isfinite(result.final_params))
    # Loss blow-up without NaN: gradient descent overshooting w^2, w <- -2w.
    square = lambda w: jnp.sum(w**2)  # noqa: E731
    r = sweep(
        rj.sgd,
        square,
        jnp.array([1.0]),
        grid(learning_rate=[0.1, 1.5]),
        steps=6,
        divergence_threshold=100.0,
    )
    np.testing.assert_array_equal(r.diverged, [False, True])
    assert int(r.diverged_at[1]) == 4  # loss 4**4 = 256 > 100 * 1
    np.testing.assert_allclose(r.losses[1, :5], [1, 4, 16, 64, 256])
    r = sweep(
        rj.sgd,
        square,
        jnp.array([1.0]),
        grid(learning_rate=[1.5]),
        steps=6,
        divergence_threshold=None,
    )
    assert not r.diverged[0]


def test_every_config_diverged_has_no_best():
    result = sweep(
        rj.sgd, rosenbrock, jnp.array(W0), grid(learning_rate=[1.0]), steps=10
    )
    assert result.diverged[0]
    with pytest.raises(ValueError, match="Every configuration diverged"):
        result.best()


# --- restarts and data ------------------------------------------------------


def init_mlp(key):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (3, 4)) * 0.5,
        "w2": jax.random.normal(k2, (4,)) * 0.5,
    }


def mlp_loss(params, batch):
    x, y = batch
    return jnp.mean((jnp.tanh(x @ params["w1"]) @ params["w2"] - y) ** 2)


def regression_data(n=40):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 3))
    return jnp.asarray(x), jnp.asarray(np.sin(x @ np.array([1.0, -2.0, 0.5])))


@pytest.mark.slow
def test_restarts_with_random_init(x64):
    data = regression_data()
    key = jax.random.key(7)
    g = grid(learning_rate=[0.01, 0.1])
    result = sweep(
        rj.rmsprop, mlp_loss, init_mlp, g, steps=10, data=data, key=key, restarts=3
    )
    assert result.losses.shape == (2, 3, 10)
    assert result.final_params["w1"].shape == (2, 3, 3, 4)
    assert result.final_loss.shape == (2, 3)
    assert not np.allclose(result.losses[0, 0], result.losses[0, 1])
    config = g.configs()[1]
    params = init_mlp(jax.random.split(key, 3)[2])  # restart 2's initialisation
    losses, final, _ = one_at_a_time(
        rj.rmsprop, mlp_loss, params, config, 10, batches=[data] * 10
    )
    assert_close(result.losses[1, 2], losses)
    assert_close(jax.tree.map(lambda x: x[1, 2], result.final_params), final)
    rows = result.rows()
    assert rows[0]["final_loss"] == pytest.approx(float(np.mean(result.final_loss[0])))
    assert len(result.rows(per_restart=True)) == 6 and "final_loss_std" in rows[0]


def test_mini_batches_follow_epoch_permutations(x64):
    plan = _batches.batch_plan(jax.random.key(0), 2, 10, 7, 3)
    assert plan.shape == (2, 7, 3)  # 3 batches of 3 per epoch (1 sample dropped)
    for epoch in (plan[0, :3], plan[0, 3:6], plan[1, :3]):
        assert len(set(epoch.ravel().tolist())) == 9
    assert not np.array_equal(plan[0], plan[1])
    np.testing.assert_array_equal(
        plan, _batches.batch_plan(jax.random.PRNGKey(0), 2, 10, 7, 3)
    )
    x, y = regression_data(20)
    key = jax.random.key(3)
    g = zipped(learning_rate=[0.01, 0.05], decay=[0.9, 0.5])
    params = init_mlp(jax.random.key(1))
    result = sweep(
        rj.rmsprop, mlp_loss, params, g, steps=12, data=(x, y), batch_size=6, key=key
    )
    order = _batches.batch_plan(key, 1, 20, 12, 6)[0]
    batches = [(x[i], y[i]) for i in order]
    assert_matches_loop(
        result, rj.rmsprop, mlp_loss, params, 12, batches=batches, tail=((x, y),)
    )


def test_batches_in_stored_order_replay_a_gradient_sequence():
    # shuffle=False: step t sees batch t mod (n // batch_size), no key needed, so a
    # data set of gradients g_t with loss sum(g_t * w) feeds the optimizer g_t.
    plan = _batches.batch_plan(None, 2, 5, 6, 2, shuffle=False)
    np.testing.assert_array_equal(plan[1], [[0, 1], [2, 3]] * 3)  # sample 4 dropped
    grads = np.array([[0.1], [0.1], [-0.3]], np.float32)
    result = sweep(
        rj.sgd,
        lambda w, g: jnp.sum(g * w),
        jnp.zeros(1),
        grid(learning_rate=[0.5, 1.0]),
        steps=7,
        data=grads,
        batch_size=1,
        shuffle=False,
        divergence_threshold=None,
        record="updates",
    )
    expected = -np.tile(grads[:, 0], 3)[:7]
    np.testing.assert_allclose(result.records["updates"][1, :, 0], expected)
    np.testing.assert_allclose(result.records["updates"][0, :, 0], 0.5 * expected)
    with pytest.raises(ValueError, match="`shuffle` must be a bool"):
        sweep(
            rj.sgd,
            lambda w, g: jnp.sum(g * w),
            jnp.zeros(1),
            steps=2,
            data=grads,
            batch_size=1,
            shuffle=1,
        )


# --- static switches ------------------------------------------------------------


@pytest.mark.slow
def test_static_switches_one_program_per_combination(x64):
    w0 = jnp.array(W0)
    g = grid(centered=[False, True], momentum=[None, 0.5, 0.9], decay=[0.8, 0.95])
    result = sweep(rj.rmsprop, rosenbrock, w0, g, steps=20)
    assert result.losses.shape == (2, 3, 2, 20)
    # centered x (momentum None or traced): 4 programs, 4 state structures.
    assert len(result.groups) == 4 and result.states_by_group
    assert {tuple(sorted(gr.static.items())) for gr in result.groups} == {
        (("centered", c), ("momentum", None)) for c in (False, True)
    } | {(("centered", c),) for c in (False, True)}
    assert_matches_loop(result, rj.rmsprop, rosenbrock, w0, 20)


def test_rprop_variants(x64):
    w0 = jnp.array(W0)
    variants = ("rprop+", "irprop+")  # backtracking, and the one that reads the loss
    t = table(
        [{"variant": v, "learning_rate": lr} for v in variants for lr in (0.01, 0.1)]
    )
    result = sweep(rj.rprop, rosenbrock, w0, t, steps=20)
    assert len(result.groups) == 2 and result.states_by_group  # prev_value: None or not
    assert_matches_loop(result, rj.rprop, rosenbrock, w0, 20)


# --- precision --------------------------------------------------------------


def weighted_quadratic(w):
    return jnp.sum((w.astype(jnp.float32) - 1.0) ** 2 * jnp.arange(1.0, 5.0))


@pytest.mark.slow
def test_bfloat16_params_keep_float32_hyperparameters():
    w0 = jnp.zeros(4, jnp.bfloat16)
    g = grid(decay=[0.999], learning_rate=[0.01])
    result = sweep(rj.rmsprop, weighted_quadratic, w0, g, steps=200)
    state0 = rj.rmsprop(0.01, 0.999).init(w0)
    assert result.final_params.dtype == jnp.bfloat16
    assert jax.tree.map(lambda a: a.dtype, result[0].final_state) == jax.tree.map(
        lambda a: a.dtype, state0
    )
    # Same trajectory class as float32 params: it trains, to bfloat16 resolution.
    reference = sweep(
        rj.rmsprop, weighted_quadratic, w0.astype(jnp.float32), g, steps=200
    )
    np.testing.assert_allclose(
        result.losses[0, 0, :8], reference.losses[0, 0, :8], rtol=0.05
    )
    for r in (result, reference):
        assert float(r.final_loss[0, 0]) < 1e-3 * float(r.losses[0, 0, 0])
    # The loop with Python floats on bfloat16 params gives the same trajectory.
    losses, _, _ = one_at_a_time(
        rj.rmsprop, weighted_quadratic, w0, g.configs()[0], 200
    )
    np.testing.assert_allclose(result.losses[0, 0], losses, rtol=1e-2, atol=1e-3)


def test_inject_hyperparams_rounds_decay_to_one_in_bfloat16():
    """The failure the sweep avoids: optax casts hyperparameters to the params'
    dtype, where 0.999 rounds to 1.0: the second moment never leaves 0, so
    optax.rmsprop divides by sqrt(eps) and every step is 1e4 times too long."""
    w0 = jnp.zeros(4, jnp.bfloat16)
    tx = optax.inject_hyperparams(optax.rmsprop)(learning_rate=0.01, decay=0.999)
    state = tx.init(w0)
    assert state.hyperparams["decay"].dtype == jnp.bfloat16
    assert float(state.hyperparams["decay"]) == 1.0
    updates, state = tx.update(jax.grad(weighted_quadratic)(w0), state, w0)
    np.testing.assert_array_equal(state.inner_state[0].nu, 0.0)
    np.testing.assert_allclose(np.asarray(updates, np.float32), [200, 400, 600, 800])
    result = sweep(
        optax.rmsprop,
        weighted_quadratic,
        w0,
        grid(decay=[0.999], learning_rate=[0.01]),
        steps=50,
    )
    assert not result.diverged[0, 0]  # traced float32 decay: optax.rmsprop trains


def test_hyperparameters_are_float64_under_x64(x64):
    seen = []

    def make(decay):
        if isinstance(decay, jax.core.Tracer):
            seen.append(decay.dtype)
        return rj.rmsprop(0.01, decay)

    sweep(make, rosenbrock, jnp.array(W0, jnp.float32), grid(decay=[0.9]), steps=2)
    assert seen == [jnp.float64]


def test_arbitrary_optax_factory_with_state_promotion(x64):
    """optax.adam's moments are promoted by float64 hyperparameters; the sweep
    casts the state back so that the scan carry keeps its dtype."""
    w0 = jnp.array(W0, jnp.float32)
    g = grid(b1=[0.0, 0.9], learning_rate=[0.01])
    result = sweep(optax.adam, rosenbrock, w0, g, steps=20)
    state0 = optax.adam(0.01).init(w0)
    assert jax.tree.map(lambda a: a.dtype, result[0].final_state) == jax.tree.map(
        lambda a: a.dtype, state0
    )
    assert_matches_loop(result, optax.adam, rosenbrock, w0, 20, rtol=1e-5)


# --- one compilation ---------------------------------------------------------


def test_no_retrace_across_configs_and_repeated_sweeps():
    traces = []

    def loss(w):
        traces.append(type(w).__name__)
        return rosenbrock(w)

    w0 = jnp.array(W0)
    sweep(
        rj.rmsprop,
        loss,
        w0,
        grid(decay=[0.9, 0.5], learning_rate=[1e-3, 1e-2]),
        steps=5,
    )
    per_trace = len(traces)  # the scan body and the final loss
    assert per_trace == 2
    sweep(
        rj.rmsprop, loss, w0, grid(decay=[0.1, 0.2], learning_rate=[0.3, 0.4]), steps=5
    )
    assert len(traces) == per_trace  # new values, same shapes: no trace at all
    sweep(
        rj.rmsprop,
        loss,
        w0,
        grid(decay=np.linspace(0, 0.99, 16), learning_rate=[1e-3, 1e-2, 0.1]),
        steps=5,
    )
    # 48 configurations: a new program, whose landscape (a jitted switch over
    # the landscapes, kept per landscape tuple) is batched anew, not traced.
    assert len(traces) == per_trace


# --- the table ---------------------------------------------------------------


def test_table_rows_and_csv(tmp_path):
    g = grid(decay=[0.5, 0.9], learning_rate=[0.001, 1.0])
    result = sweep(
        rj.sgd, rosenbrock, jnp.array(W0), grid(learning_rate=[1e-4, 1.0]), steps=10
    )
    text = result.table()
    assert text.splitlines()[0].split() == [
        "learning_rate",
        "final_loss",
        "min_loss",
        "diverged",
        "diverged_at",
    ]
    assert len(text.splitlines()) == 3 and "True" in text
    assert str(result) == text
    result = sweep(rj.rmsprop, rosenbrock, jnp.array(W0), g, steps=10)
    best = result.table(sort=True, limit=1).splitlines()[1].split()[:2]
    assert [float(v) for v in best] == list(result.best().config.values())
    path = tmp_path / "sweep.csv"
    result.to_csv(path)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and rows[3]["decay"] == "0.9"
    for row in result.rows():  # the lowest loss seen includes the final one
        assert row["min_loss"] <= row["final_loss"] or np.isnan(row["final_loss"])
    np.testing.assert_allclose(
        [float(r["final_loss"]) for r in rows], np.ravel(result.final_loss), rtol=1e-6
    )
    assert (
        result[1, 1].config == result[3].config == {"decay": 0.9, "learning_rate": 1.0}
    )
    assert result[(0, 1)].index == (0, 1)


# --- bad grids and arguments -------------------------------------------------


@pytest.mark.parametrize(
    "make_grid, match",
    [
        (
            lambda: grid(decya=[0.9]),
            r"`decya` is not a parameter of rmsprop; its parameters are: learning_rate, decay, eps, centered",
        ),
        (lambda: grid(decay=[]), "`decay` is empty"),
        (lambda: grid(), "at least one axis"),
        (lambda: grid(decay=0.9), "must be a sequence of values"),
        (lambda: grid(decay=np.zeros((2, 2))), "one-dimensional"),
        (lambda: zipped(decay=[0.9, 0.5], learning_rate=[0.1]), "equal length"),
        (lambda: table([{"decay": 0.9}, {"eps": 1e-8}]), "same names"),
        (lambda: table([]), "at least one configuration"),
        (lambda: grid(decay=["fast"]), "`decay` got the non-numeric value 'fast'"),
        (lambda: grid(decay=[[0.9, 0.5]]), "every value must be a real number"),
        (
            lambda: grid(decay=[1.5]),
            r"Configuration 0 \{'decay': 1.5\} is invalid: `decay` must be in \[0, 1\]",
        ),
        (
            lambda: grid(centered=["yes"]),
            "`centered` got the non-numeric value 'yes', but rmsprop does not declare",
        ),
    ],
)
def test_bad_grids_raise(make_grid, match):
    with pytest.raises(ValueError, match=match):
        sweep(rj.rmsprop, rosenbrock, jnp.array(W0), make_grid(), steps=3)


def test_bad_literal_lists_allowed_values():
    with pytest.raises(
        ValueError, match=r"one of 'irprop\+', 'irprop-', 'rprop\+', 'rprop-'"
    ):
        sweep(rj.rprop, rosenbrock, jnp.array(W0), grid(variant=["iprop"]), steps=3)


def test_strings_are_allowed_for_unannotated_factories():
    make = lambda learning_rate, variant: rj.rprop(learning_rate, variant=variant)  # noqa: E731
    result = sweep(
        make,
        rosenbrock,
        jnp.array(W0),
        grid(variant=["rprop-"], learning_rate=[0.01]),
        steps=3,
    )
    assert result.groups[0].static == {"variant": "rprop-"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps=0), "`steps` must be a positive int"),
        (dict(steps=3, restarts=2), "needs randomness"),
        (dict(steps=3, batch_size=2), "needs `data`"),
        (dict(steps=3, data=(jnp.zeros((4, 2)),), batch_size=2), "needs `key`"),
        (
            dict(
                steps=3, data=(jnp.zeros((4, 2)),), batch_size=8, key=jax.random.key(0)
            ),
            "exceeds the 4 samples",
        ),
        (dict(steps=3, data=(jnp.zeros((4, 2)), jnp.zeros(3))), "same leading"),
        (dict(steps=3, chunk_size=0), "`chunk_size` must be a positive int"),
        (dict(steps=3, divergence_threshold=-1.0), "divergence_threshold"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sweep(rj.rmsprop, rosenbrock, jnp.array(W0), grid(decay=[0.9]), **kwargs)


# --- records, several optimizers, start points, landscapes -------------------------


def quadratic(w):
    return 3 * w[0] ** 2 + 10 * w[1] ** 2


OPTIMIZERS = {
    "sgd": rj.sgd,
    "rmsprop": rj.rmsprop,
    "adagrad": rj.adagrad,
    "adam": rj.adam,
    "rprop": functools.partial(rj.rprop, variant="irprop+"),
}
STARTS = np.array([[-1.5, 2.0], [0.5, -0.3]])


@pytest.mark.slow
def test_records_equal_the_loop_and_the_diagnostics(x64):
    from helpers import run

    from rmsprop_jax import diagnostics

    steps, every = 7, 3
    result = sweep(
        OPTIMIZERS,
        rosenbrock,
        None,
        grid(learning_rate=[1e-3, 3e-4]),
        steps=steps,
        starts=jnp.asarray(STARTS),
        record=RECORDABLE,
        record_every=every,
    )
    assert result.optimizers == tuple(OPTIMIZERS) and not np.any(result.diverged)
    assert result.records["params"].shape == (5, 2, 2, 3, 2)  # opt, lr, start, j, w
    assert result.records["loss"].shape == (5, 2, 2, 3)
    grad = jax.jit(jax.grad(rosenbrock))
    for name, make in OPTIMIZERS.items():
        for lr, s in ((1e-3, 0), (1e-3, 1), (3e-4, 1)):
            tx = optax.with_extra_args_support(make(learning_rate=lr))
            path = run(tx, rosenbrock, jnp.asarray(STARTS[s]), steps, pass_value=True)
            got = result.path(optimizer=name, learning_rate=lr, start=s)
            kept = path[:steps:every]
            np.testing.assert_allclose(got["params"], kept, rtol=1e-12)
            np.testing.assert_allclose(got["loss"], [rosenbrock(p) for p in kept])
            np.testing.assert_allclose(got["grads"], [grad(p) for p in kept])
            if (lr, s) != (1e-3, 0):
                continue
            # The state after step t, rebuilt along the loop's path, read by
            # the diagnostics functions.
            state = tx.init(path[0])
            for t in range(steps):
                p = path[t]
                _, state = tx.update(grad(p), state, p, value=rosenbrock(p))
                if t % every:
                    continue
                j = t // every
                np.testing.assert_allclose(got["updates"][j], path[t + 1] - p)
                expect = _diagnostics_of(diagnostics, state, tx, t + 1)
                for key, value in expect.items():
                    np.testing.assert_allclose(
                        got[key][j], value, rtol=1e-12, err_msg=f"{name} {key}"
                    )


def _diagnostics_of(diagnostics, state, tx, t):
    """What the records must hold: the diagnostics functions on the loop's state,
    read through the optimizer's declaration; NaN where an optimizer keeps no
    such quantity."""
    nan = np.full(2, np.nan)
    found = list(diagnostics.find_states(state).values())
    rates = diagnostics.effective_learning_rates(state, optimizer=tx, steps=t)
    rms = diagnostics.gradient_rms(state, optimizer=tx, steps=t)
    # The states keep roots: rms = sqrt(s), root_sum_of_squares = sqrt(G).
    roots = [getattr(s, "rms", getattr(s, "root_sum_of_squares", None)) for s in found]
    moment = [np.square(r) for r in roots if r is not None]
    step = [s.step_size for s in found if hasattr(s, "step_size")]
    return {
        "effective_lr": next(iter(rates.values()), nan),
        "gradient_rms": next(iter(rms.values()), nan),
        "second_moment": moment[0] if moment else nan,
        "step_size": step[0] if step else nan,
    }


def test_landscapes_starts_and_numbers_never_recompile():
    from rmsprop_jax.sweep import compilations

    landscapes = {"rosenbrock": rosenbrock, "quadratic": quadratic}
    opts = {"sgd": rj.sgd, "rprop": functools.partial(rj.rprop, variant="rprop-")}

    def call(landscape, lr, starts):
        return sweep(
            opts,
            landscapes,
            None,
            grid(landscape=[landscape], learning_rate=lr),
            steps=20,
            starts=jnp.asarray(starts),
            record=("params", "loss", "effective_lr"),
        )

    first = call("rosenbrock", [1e-3, 1e-2], STARTS)
    before = compilations()
    second = call("quadratic", [2e-3, 3e-2], STARTS[::-1])
    third = sweep(  # a fresh partial with equal arguments is the same optimizer
        {"sgd": rj.sgd, "rprop": functools.partial(rj.rprop, variant="rprop-")},
        landscapes,
        None,
        grid(landscape=["rosenbrock"], learning_rate=[1e-3, 1e-2]),
        steps=20,
        starts=jnp.asarray(STARTS),
        record=("params", "loss", "effective_lr"),
    )
    assert compilations() == before
    np.testing.assert_array_equal(third.records["params"], first.records["params"])
    # Each landscape equals a sweep of that loss function alone.
    alone = sweep(
        rj.sgd,
        quadratic,
        None,
        grid(learning_rate=[2e-3, 3e-2]),
        steps=20,
        starts=jnp.asarray(STARTS[::-1]),
    )
    np.testing.assert_allclose(second.losses[0, 0], alone.losses, rtol=1e-6)
    # All landscapes at once: a leading landscape axis, same numbers.
    both = sweep(
        rj.sgd, landscapes, jnp.asarray(STARTS[1]), grid(learning_rate=[2e-3]), steps=20
    )
    assert both.landscapes == ("rosenbrock", "quadratic") and both.losses.shape == (
        2,
        1,
        20,
    )
    np.testing.assert_allclose(both.losses[1, 0], alone.losses[0, 0], rtol=1e-6)


def test_several_optimizers_take_only_their_names(x64):
    g = grid(learning_rate=[0.01], decay=[0.5, 0.9])
    result = sweep(
        {"sgd": rj.sgd, "rmsprop": rj.rmsprop}, rosenbrock, jnp.array(W0), g, steps=15
    )
    assert result.grid.shape == (2, 1, 2) and len(result.groups) == 2
    np.testing.assert_array_equal(result.losses[0, 0, 0], result.losses[0, 0, 1])
    alone = sweep(rj.rmsprop, rosenbrock, jnp.array(W0), g, steps=15)
    np.testing.assert_allclose(result.losses[1], alone.losses, rtol=1e-12)
    assert result.best().config["optimizer"] in ("sgd", "rmsprop")
    with pytest.raises(
        ValueError, match=r"`decya` is not a parameter of any .* Did you mean 'decay'"
    ):
        sweep(
            {"sgd": rj.sgd, "rmsprop": rj.rmsprop},
            rosenbrock,
            jnp.array(W0),
            grid(decya=[0.9]),
            steps=3,
        )


def test_divergence_makes_records_nan():
    result = sweep(
        rj.sgd,
        rosenbrock,
        jnp.array(W0),
        grid(learning_rate=[1e-4, 0.05]),
        steps=30,
        record=("params", "updates"),
    )
    at = int(result.diverged_at[1])
    params, updates = result.records["params"][1], result.records["updates"][1]
    assert np.all(np.isfinite(params[: at + 1])) and np.all(np.isnan(params[at + 1 :]))
    assert np.all(np.isnan(updates[at:])) and np.all(np.isfinite(updates[:at]))
    assert np.all(np.isfinite(result.records["params"][0]))


def test_recording_memory_is_estimated_before_running():
    w0 = jnp.zeros(1000)
    g = grid(learning_rate=[0.1, 0.2, 0.3, 0.4])
    square = lambda w: jnp.sum(w**2)  # noqa: E731
    # 4 runs x 50 records x 4 kB = 800 kB: fits in 1 MB by chunking (one run in flight).
    chunked = sweep(
        rj.sgd, square, w0, g, steps=50, record="params", memory_limit=10**6
    )
    plain = sweep(rj.sgd, square, w0, g, steps=50, record="params")
    np.testing.assert_array_equal(chunked.records["params"], plain.records["params"])
    with pytest.raises(
        ValueError, match=r"more than memory_limit=500000 .*`record_every=2`"
    ):
        sweep(rj.sgd, square, w0, g, steps=50, record="params", memory_limit=500_000)
    with pytest.raises(ValueError, match="Did you mean 'params'"):
        sweep(rj.sgd, square, w0, g, steps=5, record="param")
    with pytest.raises(ValueError, match="`record_every` must be a positive int"):
        sweep(rj.sgd, square, w0, g, steps=5, record="params", record_every=0)


@pytest.mark.parametrize(
    "factory, axes, beta_1",
    [
        (rj.presets.torch_adam, dict(lr=[1e-3, 1e-2]), 0.9),
        (rj.presets.keras_adam, dict(learning_rate=[1e-3, 1e-2]), 0.9),
        (rj.presets.torch_rmsprop, dict(lr=[1e-3], eps=[1e-2]), 0.0),
        (rj.presets.torch_adagrad, dict(lr=[1e-2], lr_decay=[0.5]), 0.0),
    ],
)
def test_effective_lr_of_framework_presets_reproduces_the_update(
    factory, axes, beta_1, x64
):
    """The sweep reads the framework's names from the factory's arguments
    (torch's betas[1], Keras's beta_2, torch's eps after the root and
    lr_decay): the recorded rate times the corrected first moment (the
    gradient without momentum) is the recorded update."""
    steps = 4
    result = sweep(
        factory,
        rosenbrock,
        jnp.array(W0),
        grid(**axes),
        steps=steps,
        record=("grads", "updates", "effective_lr"),
    )
    rec = {k: v.reshape(-1, *v.shape[-2:]) for k, v in result.records.items()}
    m = np.zeros_like(rec["grads"][:, 0])
    for t in range(steps):
        m = beta_1 * m + (1 - beta_1) * rec["grads"][:, t]
        m_hat = m / (1 - beta_1 ** (t + 1))
        np.testing.assert_allclose(
            rec["updates"][:, t], -rec["effective_lr"][:, t] * m_hat, rtol=1e-10
        )


def test_effective_lr_without_a_preconditioner_is_the_learning_rate(x64):
    """sgd, its momentum and sign descent multiply their direction by the
    learning rate alone: the record is that rate for every parameter, and the
    update is -rate * direction (the direction by hand)."""
    momentum = functools.partial(rj.sgd, momentum=0.9)
    torch_sgd = lambda learning_rate: rj.presets.torch_sgd(learning_rate, 0.9)  # noqa: E731
    steps, lrs = 4, [1e-4, 1e-3]
    result = sweep(
        {"sgd": rj.sgd, "momentum": momentum, "sign": rj.sign_sgd, "torch": torch_sgd},
        rosenbrock,
        jnp.array(W0),
        grid(learning_rate=lrs),
        steps=steps,
        record=("grads", "updates", "effective_lr"),
    )
    rates, grads, updates = (
        result.records[k] for k in ("effective_lr", "grads", "updates")
    )
    assert rates.shape == (4, 2, steps, 2)
    expected = np.broadcast_to(np.array(lrs)[:, None, None], rates.shape)
    np.testing.assert_array_equal(rates, expected)
    for i, name in enumerate(result.optimizers):
        for j in range(len(lrs)):
            v = np.zeros(2)
            for t in range(steps):
                g = grads[i, j, t]
                v = g if name == "torch" and t == 0 else 0.9 * v + g
                d = {"sgd": g, "momentum": v, "sign": np.sign(g), "torch": v}[name]
                np.testing.assert_allclose(
                    updates[i, j, t], -rates[i, j, t] * d, rtol=1e-12, err_msg=name
                )


def test_a_corrected_state_is_recorded_without_its_decay(x64):
    # Adam's state keeps the bias-corrected root sqrt(s_hat): its effective
    # learning rate needs no decay, also where the factory does not take one
    # (it once asked for `decay` here).
    def adam_without_decay(learning_rate, b1=0.9):
        return rj.adam(learning_rate, b1=b1)

    rates = rosenbrock_records(adam_without_decay, 2, "effective_lr")["effective_lr"]
    g1 = np.asarray(jax.grad(rosenbrock)(jnp.array(W0)))
    np.testing.assert_allclose(rates[0, 0], 1e-3 / (np.abs(g1) + 1e-8), rtol=1e-12)


def test_a_single_factory_may_take_an_argument_named_optimizer():
    """`optimizer` names the axis of a mapping of factories; a single factory's
    own `optimizer` argument is an ordinary (static) grid axis."""

    def make(optimizer: str, learning_rate: float):
        return {"sgd": rj.sgd, "sign": rj.sign_sgd}[optimizer](learning_rate)

    loss = lambda w: jnp.sum(w**2)  # noqa: E731
    w0 = jnp.ones(2)
    result = sweep(
        make, loss, w0, grid(optimizer=["sgd", "sign"], learning_rate=[0.1]), steps=3
    )
    assert result.optimizers == () and result.losses.shape == (2, 1, 3)
    for i, factory in enumerate((rj.sgd, rj.sign_sgd)):
        alone = sweep(factory, loss, w0, grid(learning_rate=[0.1]), steps=3)
        np.testing.assert_array_equal(result.losses[i], alone.losses)


@pytest.mark.parametrize(
    "factory",
    [rj.adam, rj.laprop, lambda learning_rate: rj.rmsprop(learning_rate, decay=0.8)],
)
def test_the_recorded_second_moment_is_the_square_of_the_gradient_rms(x64, factory):
    # Both come from the state as the optimizer uses it: bias-corrected where
    # it corrects (Adam, LaProp), raw for plain RMSprop.
    records = rosenbrock_records(factory, 4, "gradient_rms", "second_moment")
    rms, second = records["gradient_rms"], records["second_moment"]
    np.testing.assert_allclose(second, rms**2, rtol=1e-12)
    g1 = np.asarray(jax.grad(rosenbrock)(jnp.array(W0)))
    if factory in (rj.adam, rj.laprop):  # s_hat_1 = g_1^2 exactly
        np.testing.assert_allclose(second[0, 0], g1**2, rtol=1e-12)
