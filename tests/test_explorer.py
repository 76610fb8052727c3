"""The explorer's computation, state, snippet and CSV, without Dash."""

from __future__ import annotations

import csv
import inspect
import io
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import count_compilations, plain_loop, snippet_paths

import rmsprop_jax as rj
from rmsprop_jax import explorer, landscapes
from rmsprop_jax.explorer import (
    _catalog,
    _compute,
    _csv,
    _figures,
    _state,
    _surface,
)
from rmsprop_jax.explorer._state import WORKED_EXAMPLE, InvalidValue, State
from rmsprop_jax.sweep import compilations, grid, sweep

ROOT = Path(__file__).resolve().parents[1]


def reference_path(state: State, name: str, steps: int) -> np.ndarray:
    """w(0) .. w(steps) from a plain optax loop with the library's optimizer."""
    tx = _catalog.make_optimizer(**_compute.hyperparameters(state, name))
    return plain_loop(_compute.surface(state).loss, tx, state.start, steps)


def test_worked_example_first_two_steps():
    p = _compute.paths(WORKED_EXAMPLE)
    sgd, rms = p.optimizers.index("sgd"), p.optimizers.index("rmsprop")
    np.testing.assert_allclose(p.params[sgd, 1], [-14.91, 19.6], rtol=1e-6)
    np.testing.assert_allclose(p.params[sgd, 2], [-14.82, 19.21], atol=6e-3)
    np.testing.assert_allclose(p.params[rms, 1], [-14.84, 19.84], atol=5e-3)
    np.testing.assert_allclose(p.params[rms, 2], [-14.73, 19.73], atol=5e-3)
    np.testing.assert_allclose(p.grads[rms, 0], [-90, 400], rtol=1e-6)
    np.testing.assert_allclose(p.second_moment[rms, 0], [810, 16000], rtol=1e-5)
    # s(2) = 0.9 s(1) + 0.1 g(1)^2 with g(1) = 6 w1(1), 20 w2(1)
    g1 = np.array([6, 20]) * p.params[rms, 1]
    np.testing.assert_allclose(
        p.second_moment[rms, 1], 0.9 * np.array([810, 16000]) + 0.1 * g1**2, rtol=1e-5
    )
    np.testing.assert_allclose(
        p.effective_lr[rms, 0], 0.05 / np.sqrt([810 + 1e-8, 16000 + 1e-8]), rtol=1e-5
    )
    # Gradient descent has no preconditioner: its rate is its learning rate.
    assert p.effective_lr[sgd].shape == (_state.MAX_STEPS, 2)
    np.testing.assert_allclose(p.effective_lr[sgd], 0.001, rtol=1e-7)
    np.testing.assert_allclose(p.gradient_rms[rms, 0], np.sqrt([810, 16000]), rtol=1e-5)
    rows = _figures.first_steps(p)
    assert rows[4]["w1"].startswith("-14.84") and rows[4]["w2"].startswith("19.84")
    assert rows[1]["w1"] == "-14.91" and rows[1]["w2"] == "19.6"


@pytest.mark.slow  # compiles every optimizer of the catalogue, and a loop for each
def test_every_optimizer_matches_a_plain_loop():
    landscape = "saddle"
    lands = landscapes.LANDSCAPES[landscape]
    state = State(
        landscape=landscape,
        optimizers=tuple(_catalog.OPTIMIZERS),
        learning_rate=0.01,
        sgd_learning_rate=0.001,
        decay=0.9,
        momentum=0.5,
        start=lands.start,
        eps_in_sqrt=False,
    )
    p = _compute.paths(state)
    steps = 20
    for i, name in enumerate(p.optimizers):
        expected = reference_path(state, name, steps)
        np.testing.assert_allclose(
            p.params[i, : steps + 1], expected, rtol=2e-5, atol=1e-6, err_msg=name
        )
        np.testing.assert_allclose(
            p.loss[i, :steps],
            jax.vmap(lands.fn)(jnp.asarray(expected[:-1])),
            rtol=1e-5,
            err_msg=name,
        )
        np.testing.assert_allclose(
            p.updates[i, :steps],
            np.diff(expected, axis=0),
            rtol=1e-4,
            atol=1e-6,
            err_msg=name,
        )
    irprop = p.optimizers.index("irprop+")  # Rprop's effective rate is its step size
    assert np.all(p.effective_lr[irprop, :steps] >= 1e-6)
    # Without a preconditioner the rate is the learning rate; every optimizer
    # has one to draw.
    for name, lr in [("sgd", 0.001), ("momentum", 0.001), ("nesterov", 0.001)]:
        rate = p.effective_lr[p.optimizers.index(name), :steps]
        np.testing.assert_allclose(rate, lr, rtol=1e-7, err_msg=name)
    rate = p.effective_lr[p.optimizers.index("sign"), :steps]
    np.testing.assert_allclose(rate, 0.01, rtol=1e-7)
    assert np.all(np.isfinite(p.effective_lr[:, :steps]))
    assert np.all(np.isnan(p.second_moment[irprop]))


def test_one_call_for_all_optimizers_equals_one_call_each():
    state = WORKED_EXAMPLE.replace(optimizers=("momentum", "adam"), steps=1000)
    p = _compute.paths(state)
    for i, name in enumerate(p.optimizers):
        factory = _compute.FACTORIES[name]
        values = _compute._grid_values(state, "valley")
        taken = set(inspect.signature(factory).parameters)
        result = sweep(
            factory,
            landscapes.valley,
            jnp.asarray(state.start),
            grid(**{n: v for n, v in values.items() if n in taken}),
            steps=_state.MAX_STEPS,
            divergence_threshold=_compute.DIVERGENCE_THRESHOLD,
        )
        np.testing.assert_allclose(
            p.params[i, -1], np.ravel(result.final_params), rtol=1e-5
        )
        np.testing.assert_allclose(p.loss[i, :-1], np.ravel(result.losses), rtol=1e-5)


def test_diverging_path_is_cut_at_its_last_finite_point():
    state = WORKED_EXAMPLE.replace(sgd_learning_rate=0.2, optimizers=("sgd", "rmsprop"))
    p = _compute.paths(state)
    k = int(p.diverged_at[0])
    assert k > 0 and p.diverged_at[1] == -1
    assert np.isfinite(p.params[0, : k + 1]).all()
    assert np.isnan(p.params[0, k + 1 :]).all()
    # w(k) is what gradient descent reaches after k steps (|1 - 0.2 * 20| = 3).
    np.testing.assert_allclose(
        p.params[0, : k + 1], reference_path(state, "sgd", k), rtol=1e-5
    )
    assert _figures.label(p, 0) == f"SGD (diverged at step {k})"
    trace = _figures.path_trace(p, 0, state.steps)
    assert len(trace["x"]) == k + 1 and np.isfinite(trace["x"]).all()


def test_amplification_is_the_two_step_formula():
    betas = (0.0, 0.5, 0.9, 0.99, 0.999)
    g, maps = _compute.amplification(betas, size=41)
    g1, g2 = np.meshgrid(g.astype(np.float64), g.astype(np.float64))
    for beta, c in zip(betas, maps, strict=True):
        s2 = (1 - beta) * (beta * g1**2 + g2**2)
        expected = np.abs(g2) / np.sqrt(s2 + 1e-8) - np.abs(g2)
        np.testing.assert_allclose(c, expected, rtol=1e-4, atol=1e-4, err_msg=beta)
    assert maps[0][np.abs(g1) > 0.5].max() <= 1.0  # beta = 0: |v(2)| ~ 1


def test_final_loss_map_matches_single_runs():
    state = State(landscape="bowl", start=(-4.0, 3.0), steps=40)
    result = _compute.final_loss_map(state)
    assert result.loss.shape == (len(result.decays), len(result.learning_rates))
    for i, j in ((3, 5), (8, 12), (0, 0)):
        single = _compute.paths(
            state.replace(
                optimizers=("rmsprop",),
                decay=result.decays[i],
                learning_rate=result.learning_rates[j],
            )
        )
        np.testing.assert_allclose(result.loss[i, j], single.loss[0, 40], rtol=1e-5)


@pytest.mark.slow
def test_no_recompilation_for_sliders_starts_and_builtin_landscapes():
    base = State(optimizers=("sgd", "rmsprop", "adam"), steps=200)
    _compute.paths(base)
    _compute.contour_grid(_compute.surface(base))
    changes = [
        {"decay": 0.5},
        {"learning_rate": 0.2, "sgd_learning_rate": 0.01},
        {"eps": 1e-4, "momentum": 0.3, "steps": 1000},
        {"start": (3.0, -2.5)},
        {"landscape": "rosenbrock", "start": (-1.2, 1.0)},
        {"landscape": "ackley", "start": (-3.3, 2.6)},
    ]
    before = compilations()
    with count_compilations() as compiled:
        state = base
        for change in changes:
            state = state.replace(**change)
            _compute.paths(state)
            _compute.contour_grid(_compute.surface(state))
    assert compiled == []
    assert compilations() == before


def test_showing_or_hiding_optimizers_computes_nothing():
    # Every optimizer is in the one program of a view: a toggle only selects.
    state = State(start=(3.0, -4.0), optimizers=("sgd",))
    first = _compute.paths(state)
    every = tuple(_catalog.OPTIMIZERS)
    before = compilations()
    with count_compilations() as compiled:
        for shown in [every, ("adam", "rprop+"), (), ("sgd", "rmsprop")]:
            p = _compute.paths(state.replace(optimizers=shown, steps=37))
            assert p.optimizers == shown and p.params.shape == (len(shown), 1001, 2)
    assert compiled == [] and compilations() == before
    all_paths = _compute.paths(state.replace(optimizers=every))
    np.testing.assert_array_equal(all_paths.params[0], first.params[0])
    assert _compute.run_key(state) == _compute.run_key(
        state.replace(optimizers=every, steps=5, sweep_optimizer="adam")
    )


@pytest.mark.slow
def test_a_new_formula_compiles_nothing_and_memory_stays_bounded(monkeypatch):
    # A typed formula is data for the one compiled evaluator: after the first,
    # a new formula's paths, contour, beta comparison and learning-rate sweep
    # compile nothing, and only the last few formulas are kept.
    monkeypatch.setattr(_surface, "FORMULAS_KEPT", 2)

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    def view(i: int) -> State:
        text = f"(w1 - {i / 10})**2 + 2*(w2 + {i / 20})**2 + 0.1*sin({i}*w1)"
        return State(landscape="custom", formula=text, start=(-4.0, 3.0))

    def compute(state: State) -> None:
        p = _compute.paths(state)
        np.testing.assert_allclose(p.params[:, 0], [[-4.0, 3.0]] * len(p.params))
        _compute.contour_grid(_compute.surface(state))
        _compute.compare_decay(state)
        _compute.sensitivity(state)

    compute(view(0))
    before = compilations()
    sizes = []
    with count_compilations() as compiled:
        for i in range(1, 9):
            compute(view(i))
            assert _compute.formulas_kept() == (view(i - 1).formula, view(i).formula)
            sizes.append(rss_mb())
    assert compiled == [] and compilations() == before
    # Each formula once compiled programs of ~6-18 MB; now it adds its views'
    # results (~2 MB, in caches of bounded size) and nothing compiled.
    assert (sizes[-1] - sizes[2]) / 5 < 4, sizes


def test_the_default_view_shows_rmsprop_at_work():
    # Its 45-degree first steps, its arrival at the valley's minimum while
    # gradient descent (the worked example's eta) is still on its way.
    p = _compute.paths(_state.DEFAULT)
    rms, sgd = p.optimizers.index("rmsprop"), p.optimizers.index("sgd")
    step = p.params[rms, 1] - p.params[rms, 0]
    assert abs(step[0]) == pytest.approx(abs(step[1]), rel=1e-5)
    steps = _state.DEFAULT.steps
    assert p.loss[rms, steps] < 0.01 < 10 < p.loss[sgd, steps]
    assert np.hypot(*p.params[rms, steps]) < 0.1


@pytest.mark.slow  # compiles the formulas' evaluator into the 13 optimizers' program
def test_typed_formula_goes_through_the_parser():
    state = State(
        landscape="custom", formula="(w1 - 1)**2 + 3*(w2 + 2)**2", start=(-4.0, 3.0)
    )
    surf = _compute.surface(state)
    np.testing.assert_allclose(surf.minima, [(1.0, -2.0)], atol=1e-6)
    p = _compute.paths(state.replace(optimizers=("irprop-",), steps=1000))
    np.testing.assert_allclose(p.params[0, -1], [1.0, -2.0], atol=1e-3)
    with pytest.raises(ValueError, match="column 5"):
        _compute.surface(state.replace(formula="w1 +* 2"))
    with pytest.raises(ValueError, match="not allowed"):
        _compute.surface(state.replace(formula="__import__('os')"))


@pytest.mark.slow
def test_snippet_reproduces_the_paths():
    state = State(
        landscape="custom",
        formula="sin(w1) + cos(w2) + 0.05*(w1**2 + w2**2)",
        optimizers=("sgd", "nesterov", "centered", "adagrad", "irprop+"),
        learning_rate=0.1,
        sgd_learning_rate=0.05,
        start=(-2.5, 1.5),
        steps=60,
        eps_in_sqrt=False,
    )
    paths = snippet_paths(state)
    p = _compute.paths(state)
    for i, name in enumerate(p.optimizers):
        np.testing.assert_allclose(
            paths[name],
            p.params[i, : state.steps + 1],
            rtol=1e-5,
            atol=1e-6,
            err_msg=name,
        )


def test_gradient_noise_is_seeded_and_added_to_the_gradient():
    # A plain loop with g + n(t) (n: seeded normals times the noise level
    # times the median gradient norm) gives the page's paths; the loss shown
    # is the landscape's own, without the noise term.
    state = WORKED_EXAMPLE.replace(
        noise=0.4, optimizers=("sgd", "rmsprop", "rprop+", "irprop+"), steps=40
    )
    surf = _compute.surface(state)
    noise = _compute.noise_samples(state, surf)
    scale = 0.4 * _compute.gradient_scale(surf)
    normal = np.random.default_rng(_compute.NOISE_SEED).standard_normal((1000, 2))
    np.testing.assert_array_equal(noise, (scale * normal).astype(np.float32))
    p = _compute.paths(state)
    fn = surf.loss
    for i, name in enumerate(p.optimizers):
        tx = _catalog.make_optimizer(**_compute.hyperparameters(state, name))
        w = jnp.asarray(state.start, jnp.float32)
        opt_state, out = tx.init(w), [w]
        for t in range(state.steps):
            n = jnp.asarray(noise[t])
            value, g = jax.value_and_grad(lambda w, n=n: fn(w) + jnp.vdot(n, w))(w)
            u, opt_state = tx.update(g, opt_state, w, value=value)
            w = optax.apply_updates(w, u)
            out.append(w)
        np.testing.assert_allclose(
            p.params[i, : state.steps + 1],
            np.stack(out),
            rtol=2e-5,
            atol=1e-5,
            err_msg=name,
        )
        np.testing.assert_allclose(
            p.loss[i, :10],
            [float(fn(jnp.asarray(w))) for w in p.params[i, :10]],
            rtol=1e-5,
        )
    again = _compute.paths(state.replace(steps=7))  # seeded: the same noise
    np.testing.assert_array_equal(again.params, p.params)
    clean = _compute.paths(state.replace(noise=0.0))
    assert not np.array_equal(clean.params[:, 5], p.params[:, 5])
    paths = snippet_paths(state)
    for i, name in enumerate(p.optimizers):
        np.testing.assert_allclose(paths[name], p.params[i, :41], rtol=2e-5, atol=1e-5)


def test_csv_holds_every_shown_point():
    state = WORKED_EXAMPLE.replace(steps=7, optimizers=("rmsprop", "irprop-"))
    p = _compute.paths(state)
    text = _csv.paths_csv(state, p)
    comment, body = text.split("\n", 1)
    assert _state.from_query(comment.split(" view ")[1]) == state  # its settings
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 2 * 8
    w1 = rows[1]["w1"]  # float32's shortest digits, no float64 noise
    assert np.float32(w1) == p.params[0, 1, 0] and len(w1.split(".")[1]) <= 7
    rms = [r for r in rows if r["optimizer"] == "rmsprop"]
    np.testing.assert_allclose(
        [[float(r["w1"]), float(r["w2"])] for r in rms], p.params[0, :8]
    )
    assert float(rms[0]["second_moment2"]) == pytest.approx(16000, rel=1e-5)
    assert rms[-1]["update1"] == ""


def test_state_validation_names_the_control():
    for values, match in [
        ({"decay": 1.5}, r"`decay` must lie in \[0, 0.999\]"),
        ({"learning_rate": "abc"}, "`learning-rate` must be a number"),
        ({"steps": 2.5}, "whole number"),
        ({"steps": True}, "must be a number"),
        ({"eps": float("nan")}, "`eps` must lie"),
        ({"optimizers": ["rmsprop", "lbfgs"]}, "`optimizers` must be one of"),
        ({"landscape": "moon"}, "`landscape` must be one of"),
        ({"start": [1, float("inf")]}, "finite"),
        ({"start": [1]}, "two numbers"),
        ({"sweep_optimizer": "sgd"}, "`sweep-optimizer`"),
        ({"nonsense": 1}, "Unknown setting"),
    ]:
        with pytest.raises(InvalidValue, match=match):
            _state.validate(values)
    with pytest.raises(InvalidValue, match="slider position"):
        _state.from_slider("decay", 4.5)
    with pytest.raises(InvalidValue, match="Unknown URL parameter"):
        _state.from_query("?lr=0.1&evil=1")
    with pytest.raises(InvalidValue, match="twice"):
        _state.from_query("?lr=0.1&lr=0.2")


def test_query_round_trip_and_sliders():
    state = State(
        landscape="custom",
        formula="w1**2 + abs(w2)",
        optimizers=("adam", "rprop+"),
        learning_rate=0.0123,
        decay=0.995,
        eps=3e-7,
        steps=321,
        eps_in_sqrt=False,
        start=(0.1 + 0.2, -1e-3),
        sweep_optimizer="adam",
    )
    assert _state.from_query(_state.to_query(state)) == state
    for beta in (0.0, 0.5, 0.9, 0.99, 0.999):
        assert _state.from_slider("decay", _state.to_slider("decay", beta)) == beta
    for lr in (1e-4, 0.001, 0.05, 1.0):
        position = _state.to_slider("learning_rate", lr)
        assert _state.from_slider("learning_rate", position) == lr


def test_importing_the_library_does_not_import_dash():
    code = (
        "import sys, rmsprop_jax, rmsprop_jax.explorer, rmsprop_jax.explorer._app\n"
        "assert 'dash' not in sys.modules and 'plotly' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('dash', 'plotly')))"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_library_optimizers_are_the_catalogue_calls():
    state = State(
        learning_rate=0.02, sgd_learning_rate=0.003, decay=0.8, eps=1e-6, momentum=0.7
    )
    w, g = jnp.array([0.5, -2.0]), jnp.array([3.0, -0.25])
    direct = {
        "sgd": rj.sgd(0.003),
        "nesterov": rj.sgd(0.003, momentum=0.7, nesterov=True),
        "rmsprop-momentum": rj.rmsprop(0.02, 0.8, 1e-6, momentum=0.7),
        "adam": rj.adam(0.02, b1=0.7, b2=0.8, eps=1e-6),
        "sign": rj.sign_sgd(0.02),
        "rprop-": rj.rprop(0.02, variant="rprop-"),
    }
    for name, tx in direct.items():
        ours = _catalog.make_optimizer(**_compute.hyperparameters(state, name))
        u1, _ = tx.update(g, tx.init(w), w, value=1.0)
        u2, _ = ours.update(g, ours.init(w), w, value=1.0)
        np.testing.assert_array_equal(u1, u2, err_msg=name)


@pytest.mark.slow  # compiles every program of the page
def test_the_warm_up_compiles_the_formulas_evaluator_and_says_when_done(capsys):
    from rmsprop_jax.explorer import __main__, _app

    _app.READY.clear()
    __main__._warm_up()
    assert _app.READY.is_set()
    assert capsys.readouterr().err.strip().endswith(explorer.WARM_LINE)
    state = State(landscape="custom", formula="w1**4 + (w2 - w1)**2", start=(2.0, 1.0))
    before = compilations()
    with count_compilations() as compiled:
        _compute.paths(state)
        _compute.contour_grid(_compute.surface(state))
    assert compiled == [] and compilations() == before


def test_a_map_asked_twice_at_once_is_computed_once():
    import threading
    import time

    calls = []

    def slow(key):
        calls.append(key)
        time.sleep(0.2)
        return key * 2

    once = _compute._one_at_a_time(slow, 4)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(once(3))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [6, 6] and calls == [3]
    assert once(4) == 8 and calls == [3, 4]
