"""Landscapes: minima, values there, gradients against finite differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import count_compilations

import rmsprop_jax
from rmsprop_jax import landscapes
from rmsprop_jax.landscapes import LANDSCAPES

NAMES = sorted(LANDSCAPES)


def test_registry_holds_the_landscapes_of_the_digest():
    assert set(NAMES) == {
        "ackley",
        "bowl",
        "plateau",
        "rosenbrock",
        "saddle",
        "steep_bowl",
        "valley",
    }
    assert rmsprop_jax.landscapes is landscapes
    for name, land in LANDSCAPES.items():
        assert land.name == name
        assert land.fn is getattr(landscapes, name)
        assert land.description


@pytest.mark.parametrize("name", NAMES)
def test_value_and_zero_gradient_at_every_minimum(name, x64):
    land = LANDSCAPES[name]
    for minimum in land.minima:
        w = jnp.array(minimum, jnp.float64)
        np.testing.assert_allclose(land.fn(w), land.minimum_value, atol=1e-12)
        np.testing.assert_allclose(jax.grad(land.fn)(w), 0.0, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_minima_are_global_over_the_plot_box(name, x64):
    land = LANDSCAPES[name]
    lo1, hi1, lo2, hi2 = land.box
    grid = jnp.stack(
        jnp.meshgrid(jnp.linspace(lo1, hi1, 201), jnp.linspace(lo2, hi2, 201))
    )
    values = land.fn(grid)
    assert values.shape == (201, 201)
    assert float(values.min()) >= land.minimum_value - 1e-12
    for minimum in land.minima:
        assert lo1 < minimum[0] < hi1 and lo2 < minimum[1] < hi2
    assert lo1 < land.start[0] < hi1 and lo2 < land.start[1] < hi2
    assert float(land.fn(jnp.array(land.start))) > land.minimum_value


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_central_differences(name, x64):
    land = LANDSCAPES[name]
    lo1, hi1, lo2, hi2 = land.box
    rng = np.random.default_rng(0)
    points = rng.uniform([lo1, lo2], [hi1, hi2], size=(8, 2))
    points = np.vstack([points, land.start])
    h = 1e-6
    for point in points:
        w = jnp.asarray(point)
        numeric = [
            (land.fn(w + h * e) - land.fn(w - h * e)) / (2 * h) for e in jnp.eye(2)
        ]
        np.testing.assert_allclose(jax.grad(land.fn)(w), numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_grid_evaluation_equals_pointwise_and_jits(name):
    land = LANDSCAPES[name]
    rng = np.random.default_rng(1)
    grid = jnp.asarray(rng.uniform(-2, 2, size=(2, 3, 4)), jnp.float32)
    pointwise = jax.vmap(jax.vmap(land.fn, in_axes=1), in_axes=1)(grid)
    np.testing.assert_allclose(land.fn(grid), pointwise, rtol=1e-6)
    w = jnp.array(land.start, jnp.float32)
    value, grad = jax.jit(jax.value_and_grad(land.fn))(w)
    assert value.dtype == grad.dtype == jnp.float32
    assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_saddle_point_has_one_negative_curvature(x64):
    w = jnp.zeros(2, jnp.float64)
    np.testing.assert_allclose(jax.grad(landscapes.saddle)(w), 0.0, atol=0)
    hessian = jax.hessian(landscapes.saddle)(w)
    np.testing.assert_allclose(np.linalg.eigvalsh(hessian), [-2.0, 2.0])


def test_steep_bowl_start_has_large_gradients(x64):
    land = LANDSCAPES["steep_bowl"]
    start = jnp.array(land.start)
    assert float(jnp.linalg.norm(jax.grad(land.fn)(start))) > 100
    curvature_start = np.linalg.eigvalsh(jax.hessian(land.fn)(start)).max()
    curvature_min = np.linalg.eigvalsh(jax.hessian(land.fn)(jnp.zeros(2))).max()
    assert curvature_start > 15 * curvature_min


def test_plateau_start_has_vanishing_gradients(x64):
    land = LANDSCAPES["plateau"]
    grad = jax.grad(land.fn)(jnp.array(land.start))
    assert 0 < float(jnp.linalg.norm(grad)) < 1e-2


def test_valley_is_the_worked_example():
    land = LANDSCAPES["valley"]
    w0 = jnp.array(land.start)
    np.testing.assert_allclose(jax.grad(land.fn)(w0), [-90.0, 400.0])


# Typed formulas: checked over the box before anything runs, minima refined.


@pytest.mark.parametrize(
    ("text", "minima", "value"),
    [
        ("(w1 - 1)**2 + 2*(w2 + 0.5)**2 + 3", [(1.0, -0.5)], 3.0),
        ("sin(w1) + cos(w2)", [(-np.pi / 2, -np.pi), (-np.pi / 2, np.pi)], -2.0),
        # A kink at an off-grid point: zooming needs no gradient.
        ("abs(w1 - 0.3183) + abs(w2 + 1.1111)", [(0.3183, -1.1111)], 0.0),
        # The rotated saddle of the experiments: minima at +-(1/sqrt 2, -1/sqrt 2).
        (
            "2*w1*w2 + (w1 - w2)**4/8",
            [(2**-0.5, -(2**-0.5)), (-(2**-0.5), 2**-0.5)],
            -0.5,
        ),
    ],
)
def test_formula_minima_are_refined_below_the_grid_spacing(text, minima, value):
    land = landscapes.from_formula(text)
    assert land.name == "formula" and text in land.description
    np.testing.assert_allclose(land.minimum_value, value, atol=1e-12)
    got = sorted(land.minima, key=lambda m: (round(m[0], 4), round(m[1], 4)))
    assert len(got) == len(minima)
    # The search grid's spacing is 0.02; refined minimisers are within 1e-6
    # (for a smooth minimum, f is flat to float64 rounding closer than that).
    np.testing.assert_allclose(got, sorted(minima), atol=1e-6)
    # No point of a fine grid over the box lies below the estimated minimum.
    lo1, hi1, lo2, hi2 = land.box
    w = jnp.stack(
        jnp.meshgrid(jnp.linspace(lo1, hi1, 733), jnp.linspace(lo2, hi2, 733))
    )
    with jax.enable_x64(True):
        lowest = float(land.fn(jnp.asarray(w, jnp.float64)).min())
    assert lowest >= land.minimum_value - 1e-12


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("log(w1)", r"not finite on 50% of the box .* change the formula"),
        ("sqrt(w2 - 1)", r"not finite on .* of the box"),
        ("1", r"constant over the box \(every value is 1\)"),
        ("2*pi - e", r"constant over the box"),
        ("w1*w2", r"no minimum inside the box .* is on the edge at \(4, -4\)"),
        ("(w1 - 4)**2 + w2**2", r"no minimum inside the box .* Widen the box"),
        ("w1 +", r"column"),
    ],
)
def test_formulas_that_cannot_be_measured_fail_before_running(text, match):
    with pytest.raises(ValueError, match=match):
        landscapes.from_formula(text)


def test_formula_minimum_along_a_line_touching_the_edge_is_inside():
    # w1**2 is lowest on the whole line w1 = 0, which crosses the box.
    land = landscapes.from_formula("w1**2")
    assert land.minimum_value == 0.0
    assert all(abs(m[0]) < 1e-9 for m in land.minima)


def test_formula_box_and_start_are_checked():
    with pytest.raises(ValueError, match=r"`box` must be finite"):
        landscapes.from_formula("w1**2 + w2**2", box=(1.0, -1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match=r"`start` \(5.0, 0.0\) must lie inside"):
        landscapes.from_formula("w1**2 + w2**2", start=(5.0, 0.0))
    land = landscapes.from_formula(
        "(w1 - 5)**2 + w2**2", box=(0.0, 10.0, -2.0, 2.0), start=(9.0, 1.0)
    )
    np.testing.assert_allclose(land.minima, [(5.0, 0.0)], atol=1e-9)


# --- one compiled evaluator for every formula ------------------------------------

EVALUATED = [
    "(w1 - 1)**2 + 2*(w2 + 0.5)**2 + 0.1*sin(3*w1)",
    "sin(w1) + cos(w2)",
    "log(1 + w1**2) + abs(w2)**1.5 - 3/(1 + w2**-2)",
    "hypot(w1, w2) + 0.1*arctan2(w2, w1) + maximum(w1, -w2) - min(w1, w2)",
    "-w1**3 + 2*pi*e*w2**-3 + tanh(w1*w2) + w1**10 / 3 + w2**-100 - w1**-7",
    "sqrt(w1**2 + 1) + log10(2 + cos(w2)) + sign(w1)*square(w2) + exp(-w2)",
    "2 ^ 3 ^ 0.5 * w1 + --w2 + arcsin(w1/9) + arccos(w2/9) + arctan(w1)",
    "sinh(w1/3) + cosh(w2/3) + tan(w1/4) + log1p(w2**2) + w1**w1**0 + 7",
    "w1 ** 0.5 + w2 ** w1",  # nan where w1 < 0: the same nan
    "1e300 * w1 + w2",  # inf in float32
]


def _both(text: str, w: jax.Array) -> tuple[np.ndarray, ...]:
    """The value and gradient of ``text`` at every point of ``w`` (2, n), by
    the traced formula and by the evaluator."""
    direct = landscapes.from_expression(text)
    program = landscapes.formula_program(text)
    evaluate = jax.jit(landscapes.run_formula)
    grad = jax.jit(jax.vmap(jax.grad(landscapes.run_formula, 1), (None, 1), 1))
    return (
        np.asarray(jax.jit(direct)(w)),
        np.asarray(evaluate(program, w)),
        np.asarray(jax.jit(jax.vmap(jax.grad(direct), 1, 1))(w)),
        np.asarray(grad(program, w)),
    )


@pytest.mark.slow  # compiles ten traced formulas (over 2 s)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_run_formula_equals_the_traced_formula(dtype):
    with jax.enable_x64(dtype == "float64"):
        rtol = 1e-5 if dtype == "float32" else 1e-13
        w = jax.random.uniform(jax.random.key(0), (2, 64), dtype, -3.0, 3.0)
        for text in EVALUATED:
            value, got, grad, got_grad = _both(text, w)
            assert got.dtype == value.dtype == np.dtype(dtype), text
            np.testing.assert_allclose(got, value, rtol=rtol, err_msg=text)
            np.testing.assert_allclose(got_grad, grad, rtol=rtol, err_msg=text)


def test_run_formula_compiles_once_for_every_formula():
    f = jax.jit(lambda program, w: landscapes.run_formula(program, w))
    grad = jax.jit(jax.grad(lambda program, w: landscapes.run_formula(program, w), 1))
    w = jnp.array([0.5, -1.5])
    for text in EVALUATED:
        program = landscapes.formula_program(text)
        f(program, w), grad(program, w)
    assert f._cache_size() == grad._cache_size() == 1


@pytest.mark.slow  # compiles the grid evaluation's programs (over 2 s)
def test_run_formula_on_grids_and_under_forward_mode():
    # Over 4096 points a grid is evaluated in blocks; shapes and values hold.
    text = "sin(w1)*w2**2 - w1/3"
    program = landscapes.formula_program(text)
    w = jnp.stack(jnp.meshgrid(jnp.linspace(-2, 2, 70), jnp.linspace(-1, 3, 90)))
    got = landscapes.run_formula(program, w)
    assert got.shape == (90, 70) and got.dtype == jnp.float32
    np.testing.assert_allclose(
        got, landscapes.from_expression(text)(w), rtol=1e-6, atol=1e-6
    )
    assert landscapes.run_formula(program, jnp.zeros((2, 3, 1))).shape == (3, 1)
    point = jnp.array([0.3, -1.2])
    tangent = jnp.array([1.0, 2.0])
    _, slope = jax.jvp(
        lambda x: landscapes.run_formula(program, x), (point,), (tangent,)
    )
    _, expected = jax.jvp(landscapes.from_expression(text), (point,), (tangent,))
    np.testing.assert_allclose(slope, expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"`w` must have shape \(2, ...\)"):
        landscapes.run_formula(program, jnp.zeros(3))


def test_formula_program_keeps_the_parsers_checks_and_messages():
    for text in ("w1 +* 2", "__import__('os')", "w1 ** 101", "w1 + " * 100 + "w1"):
        with pytest.raises(ValueError) as direct:
            landscapes.from_expression(text)
        with pytest.raises(ValueError) as encoded:
            landscapes.formula_program(text)
        assert str(encoded.value) == str(direct.value)
    with pytest.raises(TypeError, match="must be a str"):
        landscapes.formula_program(3)
    program = landscapes.formula_program("w1 * 2")
    assert program.codes.shape == program.numbers.shape == (landscapes.FORMULA_LENGTH,)
    assert program.codes.dtype == np.int32 and int(program.length) == 3
    assert program.numbers.dtype == np.float32  # float64 under x64


def _deepest_accepted(unit: str) -> str:
    """``unit`` nested as often as the parser accepts, around ``w1``."""
    accepted = ""
    for k in range(1, 60):
        text = unit * k + "w1" + ")" * k
        try:
            landscapes.from_expression(text)
        except ValueError:
            return accepted
        accepted = text
    return accepted


@pytest.mark.slow  # compiles the longest formulas traced (over 2 s)
def test_formulas_at_the_parsers_limits_fit_the_evaluator():
    # The deepest stacks and longest programs the parser accepts (50 levels,
    # 500 characters) evaluate as the traced formula does.
    from rmsprop_jax import _formula_machine

    deepest = 0
    w = jnp.array([[0.25], [0.5]])
    for unit in ("1+1*(", "1+1*hypot(1,", "w1+w2*w1**hypot(w2,", "1+1*min(1,"):
        text = _deepest_accepted(unit)
        deepest = max(deepest, _formula_machine.depth(_formula_machine.encode(text)[0]))
        value, got, grad, got_grad = _both(text, w)
        np.testing.assert_allclose(got, value, rtol=1e-5, err_msg=text)
        np.testing.assert_allclose(got_grad, grad, rtol=1e-5, err_msg=text)
    assert 90 < deepest <= _formula_machine.DEPTH
    longest = "+".join(["w1*w2"] * 83)  # 497 characters, 331 instructions
    assert int(landscapes.formula_program(longest).length) == 331
    value, got, _, _ = _both(longest, w)
    np.testing.assert_allclose(got, value, rtol=1e-6)


@pytest.mark.slow  # compiles the formula machine's program (about 2 s of CPU)
def test_from_formula_compiles_one_program():
    """The search grid, each zoom and each refined point are evaluated in
    blocks of one shape, so the formula machine compiles one program for all
    of them (each shape would be a program of its own, about 1.7 s of CPU)."""
    jax.clear_caches()  # the machine's program, as in a new process
    with count_compilations() as compiled:
        land = landscapes.from_formula("(w1 - 0.5)**2 + abs(w2 + 0.25)")
    np.testing.assert_allclose(land.minima, [(0.5, -0.25)], atol=1e-9)
    assert len(compiled) == 1
