"""The primitives' states, dtypes, closed forms and errors.

Their trajectories against the NumPy references, eagerly, under jit and
under pmap (chex's variants, as optax tests its transforms), are in
``tests/test_transforms_variants.py``, which reads the cases below."""

from __future__ import annotations

import pickle
import re
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import references as ref
from helpers import (
    nonlinear_loss,
)

import rmsprop_jax as rj

# (id, factory, kwargs, reference) -- each primitive with each of its flags.
PRIMITIVES = [
    ("rms", rj.scale_by_rms, dict(decay=0.9, eps=1e-8), ref.Rms(0.9, 1e-8)),
    (
        "rms_eps_outside",
        rj.scale_by_rms,
        dict(decay=0.99, eps=1e-6, eps_in_sqrt=False),
        ref.Rms(0.99, 1e-6, eps_in_sqrt=False),
    ),
    (
        "rms_centered",
        rj.scale_by_rms,
        dict(decay=0.8, eps=1e-4, centered=True),
        ref.Rms(0.8, 1e-4, centered=True),
    ),
    (
        "rms_initial_scale",
        rj.scale_by_rms,
        dict(decay=0.9, eps=1e-10, initial_scale=1.0),
        ref.Rms(0.9, 1e-10, initial_scale=1.0),
    ),
    (
        "rms_bias_corrected_centered",
        rj.scale_by_rms,
        dict(decay=0.95, eps=1e-2, bias_correction=True, centered=True),
        ref.Rms(0.95, 1e-2, bias_correction=True, centered=True),
    ),
    # Bias-corrected states keep the corrected moments: a nonzero initial
    # value, decay = 0 and eps outside must still follow the raw formula.
    (
        "rms_bias_corrected_initial_scale",
        rj.scale_by_rms,
        dict(decay=0.9, eps=1e-6, initial_scale=0.5, bias_correction=True),
        ref.Rms(0.9, 1e-6, initial_scale=0.5, bias_correction=True),
    ),
    (
        "rms_bias_corrected_decay_0",
        rj.scale_by_rms,
        dict(decay=0.0, eps=1e-6, eps_in_sqrt=False, bias_correction=True),
        ref.Rms(0.0, 1e-6, eps_in_sqrt=False, bias_correction=True),
    ),
    ("squares", rj.accumulate_squares, dict(), ref.Squares(0.0, 1e-10)),
    (
        "squares_keras",
        rj.accumulate_squares,
        dict(initial_accumulator_value=0.1, eps=1e-7),
        ref.Squares(0.1, 1e-7),
    ),
    (
        "squares_eps_outside",
        rj.accumulate_squares,
        dict(eps=1e-3, eps_in_sqrt=False),
        ref.Squares(0.0, 1e-3, eps_in_sqrt=False),
    ),
    ("sign", rj.scale_by_sign, dict(), ref.Sign()),
    ("momentum", rj.momentum, dict(decay=0.9), ref.Momentum(0.9)),
    (
        "momentum_nesterov",
        rj.momentum,
        dict(decay=0.8, nesterov=True),
        ref.Momentum(0.8, nesterov=True),
    ),
    (
        "momentum_ema",
        rj.momentum,
        dict(decay=0.9, dampening=0.9, bias_correction=True),
        ref.Momentum(0.9, dampening=0.9, bias_correction=True),
    ),
    (
        "momentum_corrected_nesterov_dampening",
        rj.momentum,
        dict(decay=0.8, nesterov=True, dampening=0.3, bias_correction=True),
        ref.Momentum(0.8, nesterov=True, dampening=0.3, bias_correction=True),
    ),
    (
        "momentum_corrected_undamped_first_step",
        rj.momentum,
        dict(decay=0.7, dampening=0.3, bias_correction=True, undamped_first_step=True),
        ref.Momentum(
            0.7, dampening=0.3, bias_correction=True, undamped_first_step=True
        ),
    ),
    (
        "momentum_torch_dampening",
        rj.momentum,
        dict(decay=0.7, dampening=0.3, undamped_first_step=True),
        ref.Momentum(0.7, dampening=0.3, undamped_first_step=True),
    ),
]


# --- Rprop: the four variants against the paper's pseudo-code ------------------

RPROP_CASES = {
    # A steep loss and a large first step: sign changes and both bounds are hit.
    "bounds": dict(
        initial_step=0.3, eta_minus=0.5, eta_plus=1.2, min_step=1e-3, max_step=0.4
    ),
    "defaults": dict(
        initial_step=0.01, eta_minus=0.5, eta_plus=1.2, min_step=1e-6, max_step=50.0
    ),
}


def _rprop_loss(params):
    return nonlinear_loss(params) + 5.0 * jnp.sum(jnp.square(params["b"]))


def test_irprop_plus_backtracks_only_when_loss_rose():
    tx = rj.scale_by_rprop(initial_step=1.0, variant="irprop+")
    state = tx.init(jnp.zeros(1))
    u1, state = tx.update(jnp.array([1.0]), state, value=10.0)
    # Sign change, loss went down: no move.
    u2, state_down = tx.update(jnp.array([-1.0]), state, value=5.0)
    # Sign change, loss went up: undo the previous step.
    u3, _ = tx.update(jnp.array([-1.0]), state, value=20.0)
    np.testing.assert_array_equal(u1, [1.0])
    np.testing.assert_array_equal(u2, [0.0])
    np.testing.assert_array_equal(u3, [-1.0])
    np.testing.assert_array_equal(state_down.prev_sign, [0])
    np.testing.assert_allclose(state_down.step_size, [0.5])


def test_irprop_plus_without_value_is_a_clear_error():
    tx = rj.scale_by_rprop(variant="irprop+")
    with pytest.raises(TypeError, match="value=loss"):
        tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.float32])
def test_rprop_detects_sign_changes_of_tiny_gradients(dtype):
    # g * g_prev underflows to 0 here; sign(g) * sign(g_prev) does not.
    tiny = float(np.sqrt(float(jnp.finfo(dtype).smallest_subnormal)) / 4)
    assert float(jnp.asarray(tiny, dtype) * jnp.asarray(-tiny, dtype)) == 0.0
    tx = rj.scale_by_rprop(initial_step=0.1, variant="rprop-")
    state = tx.init(jnp.zeros(1, dtype))
    _, state = tx.update(jnp.array([tiny], dtype), state)
    _, state = tx.update(jnp.array([-tiny], dtype), state)
    np.testing.assert_allclose(state.step_size, [0.05], rtol=1e-3)


def test_rprop_first_update_moves_by_initial_step():
    tx = rj.scale_by_rprop(initial_step=0.25)
    g = jnp.array([3.0, -1e-3, 0.0])
    updates, _ = tx.update(g, tx.init(g))
    np.testing.assert_array_equal(updates, [0.25, -0.25, 0.0])


def test_rprop_clips_initial_step_on_first_update():
    tx = rj.scale_by_rprop(initial_step=100.0, max_step=2.0)
    updates, state = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
    np.testing.assert_array_equal(updates, [2.0, 2.0])
    np.testing.assert_array_equal(state.step_size, [2.0, 2.0])


# --- closed forms -----------------------------------------------------------


def test_scale_by_rms_beta_zero_is_sign_descent():
    tx = rj.scale_by_rms(decay=0.0, eps=0.0)
    state = tx.init(jnp.zeros(3))
    for g in ([1e-3, -5.0, 2.0], [7.0, 0.1, -3.0]):
        u, state = tx.update(jnp.array(g), state)
        np.testing.assert_allclose(u, np.sign(g), rtol=1e-6)


def test_centered_variance_is_clamped_at_zero():
    # A constant gradient makes s - m^2 round to a tiny negative number.
    tx = rj.scale_by_rms(decay=0.9, eps=1e-12, centered=True)
    g = jnp.full((64,), 0.3, jnp.float32) * jnp.linspace(0.9, 1.1, 64)
    state = tx.init(g)
    update = jax.jit(tx.update)
    for _ in range(300):
        u, state = update(g, state)
    chex.assert_tree_all_finite(u)


# --- states -----------------------------------------------------------------

# A state keeps a step count only where the update reads it (bias correction,
# PyTorch's undamped first step): each extra leaf is one more kernel per step.
STATE_CASES = [
    (rj.scale_by_rms(), rj.ScaleByRmsState, dict(count=None, mu=None)),
    (rj.scale_by_rms(centered=True), rj.ScaleByRmsState, dict(count=None)),
    (rj.scale_by_rms(bias_correction=True), rj.ScaleByRmsState, dict(mu=None)),
    (rj.accumulate_squares(), rj.AccumulateSquaresState, dict()),
    (rj.momentum(), rj.MomentumState, dict(count=None)),
    (rj.momentum(bias_correction=True), rj.MomentumState, dict()),
    (rj.momentum(undamped_first_step=True), rj.MomentumState, dict()),
    (
        rj.scale_by_rprop(),
        rj.ScaleByRpropState,
        dict(prev_update=None, prev_value=None),
    ),
    (rj.scale_by_rprop(variant="rprop+"), rj.ScaleByRpropState, dict(prev_value=None)),
    (rj.scale_by_rprop(variant="irprop+"), rj.ScaleByRpropState, dict()),
]


@pytest.mark.parametrize("tx, state_type, none_fields", STATE_CASES)
def test_state_structure(tx, state_type, none_fields):
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    state = tx.init(params)
    assert type(state) is state_type
    for field in state._fields:
        value = getattr(state, field)
        assert (value is None) == (field in none_fields), field
    if "count" in state._fields and "count" not in none_fields:
        assert state.count.dtype == jnp.int32 and state.count.shape == ()
    restored = pickle.loads(pickle.dumps(state))
    chex.assert_trees_all_equal(restored, state)
    tx = optax.with_extra_args_support(tx)
    _, new_state = tx.update(params, state, params, value=1.0)
    chex.assert_trees_all_equal_structs(new_state, state)
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)


@pytest.mark.parametrize(
    "bias_correction, inner_decay", [(False, None), (True, None), (True, 0.0)]
)
def test_precondition_by_rms_counts_only_when_correcting(bias_correction, inner_decay):
    tx = rj.precondition_by_rms(
        rj.momentum(), bias_correction=bias_correction, inner_decay=inner_decay
    )
    state = tx.init(jnp.ones(3))
    assert (state.rms.count is not None) == bias_correction
    assert state.inner.count is None


def test_inner_decay_needs_bias_correction():
    with pytest.raises(ValueError, match="`inner_decay` requires `bias_correction"):
        rj.precondition_by_rms(rj.momentum(), bias_correction=False, inner_decay=0.9)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_inner_decay_is_the_inner_bias_correction_with_one_count(x64, dtype):
    """``inner_decay=b1`` gives the values of a bias-corrected inner momentum
    (to one rounding: the shared count folds both corrections into one
    factor), with one step count in the state instead of two."""
    b1 = 0.8
    shared = rj.precondition_by_rms(rj.momentum(b1, dampening=b1), inner_decay=b1)
    separate = rj.precondition_by_rms(
        rj.momentum(b1, dampening=b1, bias_correction=True)
    )
    rng = np.random.default_rng(0)
    params = jnp.zeros(5, dtype)
    states = [tx.init(params) for tx in (shared, separate)]
    for _ in range(40):
        g = jnp.asarray(rng.normal(size=5), dtype)
        (u1, states[0]), (u2, states[1]) = (
            tx.update(g, s) for tx, s in zip((shared, separate), states, strict=True)
        )
        # The corrected momentum keeps v / (1 - b1^t), the shared count
        # divides v at the end: roundings of the size of the largest update,
        # not of each element (a momentum near cancellation is small).
        eps = jnp.finfo(dtype).eps
        atol = 4 * eps * float(jnp.max(jnp.abs(u2)))
        np.testing.assert_allclose(u1, u2, rtol=4 * eps, atol=atol)
    counts = [sum(x.shape == () for x in jax.tree.leaves(s)) for s in states]
    assert counts == [1, 2]


def test_scale_by_sign_is_stateless():
    tx = rj.scale_by_sign()
    assert tx.init(jnp.ones(3)) == optax.EmptyState()


class Pair(NamedTuple):
    left: jax.Array
    right: jax.Array


ALL_PRIMITIVES = [
    ("rms", lambda: rj.scale_by_rms()),
    ("rms_centered", lambda: rj.scale_by_rms(centered=True, bias_correction=True)),
    ("squares", lambda: rj.accumulate_squares()),
    ("sign", lambda: rj.scale_by_sign()),
    ("momentum", lambda: rj.momentum(nesterov=True)),
    (
        "adam_parts",
        lambda: rj.precondition_by_rms(
            rj.momentum(0.9, dampening=0.9), inner_decay=0.9
        ),
    ),
    ("rprop+", lambda: rj.scale_by_rprop(variant="rprop+")),
    ("irprop+", lambda: rj.scale_by_rprop(variant="irprop+")),
    ("irprop-", lambda: rj.scale_by_rprop()),
    ("adadelta", lambda: rj.scale_by_adadelta()),
]


# --- dtypes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [m for _, m in ALL_PRIMITIVES], ids=[n for n, _ in ALL_PRIMITIVES]
)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_dtypes(make, dtype):
    tx = optax.with_extra_args_support(make())
    params = jnp.zeros(4, dtype)
    state = tx.init(params)
    for leaf in jax.tree.leaves(state):
        if jnp.issubdtype(leaf.dtype, jnp.floating) and leaf.ndim:
            assert leaf.dtype == jnp.float32, leaf.dtype  # float32 accumulators
    update = jax.jit(lambda g, s: tx.update(g, s, params, value=1.0))
    for g in ([300.0, 0.0, 1e-4, -2.0], [-300.0, 0.0, 1e-4, 3.0]):
        u, new_state = update(jnp.array(g, dtype), state)
        # Primitives return the compute dtype (float32 for 16-bit gradients):
        # a chain's links pass unrounded values; optimizers cast once.
        assert u.dtype == jnp.float32
        chex.assert_tree_all_finite(u)
        assert float(u[1]) == 0.0  # zero gradient: zero update, not NaN
        chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
        state = new_state


def test_accumulator_dtype_override():
    tx = rj.scale_by_rms(accumulator_dtype=jnp.bfloat16)
    state = tx.init(jnp.zeros(3, jnp.float32))
    assert state.rms.dtype == jnp.bfloat16
    u, new_state = tx.update(jnp.ones(3), state)
    assert u.dtype == jnp.float32 and new_state.rms.dtype == jnp.bfloat16


@pytest.mark.parametrize(
    "param_dtype, hyper_dtype",
    [
        (jnp.float32, jnp.float64),
        (jnp.float64, jnp.float32),
        (jnp.bfloat16, jnp.float64),
    ],
)
@pytest.mark.parametrize(
    "make",
    [
        lambda h: rj.scale_by_rms(
            decay=h, eps=h * 1e-6, centered=True, bias_correction=True
        ),
        lambda h: rj.accumulate_squares(h, h * 1e-6),
        lambda h: rj.momentum(h, dampening=h, bias_correction=True),
        lambda h: rj.scale_by_rprop(h * 0.01, h * 0.5, 1 + h, h * 1e-6, h * 50),
    ],
)
def test_array_hyperparameters_keep_state_dtype_in_scan(
    x64, make, param_dtype, hyper_dtype
):
    tx = make(jnp.asarray(0.9, hyper_dtype))
    params = jnp.ones(3, param_dtype)

    def step(state, g):
        _, state = tx.update(g, state, params)
        return state, None

    state0 = tx.init(params)
    grads = jnp.linspace(-1, 1, 15, dtype=param_dtype).reshape(5, 3)
    state, _ = jax.lax.scan(step, state0, grads)  # fails if the carry type changes
    chex.assert_trees_all_equal_shapes_and_dtypes(state, state0)


# --- hyperparameters: validation and tracing -----------------------------------

BAD = [
    (rj.scale_by_rms, dict(decay=1.5), "`decay` must be in [0, 1]"),
    (rj.scale_by_rms, dict(decay=-0.1), "`decay` must be in [0, 1]"),
    (
        rj.scale_by_rms,
        dict(decay=1.0, bias_correction=True),
        "`decay` must be in [0, 1)",
    ),
    (rj.scale_by_rms, dict(decay=float("nan")), "`decay` must be in"),
    (rj.scale_by_rms, dict(eps=-1.0), "`eps` must be in [0, inf]"),
    (rj.scale_by_rms, dict(initial_scale=-1.0), "`initial_scale`"),
    (rj.scale_by_rms, dict(decay=np.array([0.5, 2.0])), "got [2.0]"),
    (rj.accumulate_squares, dict(eps=-1e-3), "`eps` must be in"),
    (
        rj.accumulate_squares,
        dict(initial_accumulator_value=-0.1),
        "`initial_accumulator_value`",
    ),
    (rj.momentum, dict(decay=1.1), "`decay` must be in [0, 1]"),
    (rj.momentum, dict(dampening=-0.5), "`dampening` must be in [0, 1]"),
    (rj.scale_by_rprop, dict(eta_minus=1.0), "`eta_minus` must be in (0, 1)"),
    (rj.scale_by_rprop, dict(eta_minus=0.0), "`eta_minus` must be in (0, 1)"),
    (rj.scale_by_rprop, dict(eta_plus=1.0), "`eta_plus` must be in (1, inf]"),
    (rj.scale_by_rprop, dict(min_step=0.0), "`min_step` must be in (0, inf]"),
    (
        rj.scale_by_rprop,
        dict(min_step=2.0, max_step=1.0),
        "`min_step` must be <= `max_step`",
    ),
    (rj.scale_by_rprop, dict(initial_step=-0.1), "`initial_step`"),
    # Every name in a message is one the caller typed (b2, not the primitive's decay).
    (rj.adam, dict(b2=1.0), "`b2` must be in [0, 1) with bias correction (1 - b2**t"),
    # optax's spellings are named as the caller typed them.
    (rj.scale_by_rprop, dict(learning_rate=-1.0), "`learning_rate` must be in"),
    (rj.scale_by_rprop, dict(min_step_size=0.0), "`min_step_size` must be in"),
    (
        rj.scale_by_rprop,
        dict(min_step_size=2.0, max_step_size=1.0),
        "`min_step_size` must be <= `max_step_size`",
    ),
    (rj.rprop, dict(learning_rate=-1.0), "`learning_rate` must be in [0, inf]"),
    (
        rj.rprop,
        dict(max_step_size=1e-9),
        "`min_step` must be <= `max_step_size`",
    ),
    (
        rj.scale_by_rprop,
        dict(variant="irprop"),
        "'rprop+', 'rprop-', 'irprop+', 'irprop-'",
    ),
]


@pytest.mark.parametrize(
    "factory, kwargs, message", BAD, ids=[f"{f.__name__}-{k}" for f, k, _ in BAD]
)
def test_bad_hyperparameters_raise_at_construction(factory, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        factory(**kwargs)


@pytest.mark.parametrize(
    "factory, kwargs",
    [
        (rj.scale_by_rms, dict(decay="0.9")),
        (rj.scale_by_rms, dict(eps=True)),
        (rj.scale_by_rprop, dict(initial_step=optax.constant_schedule(0.1))),
    ],
)
def test_wrong_types_raise_type_error(factory, kwargs):
    with pytest.raises(TypeError, match=next(iter(kwargs))):
        factory(**kwargs)


@pytest.mark.parametrize(
    "make",
    [
        lambda h: rj.scale_by_rms(
            decay=h, eps=h, initial_scale=h, bias_correction=True
        ),
        lambda h: rj.accumulate_squares(h, h),
        lambda h: rj.momentum(h, dampening=h),
        lambda h: rj.scale_by_rprop(h, h, 1 + h, h, 1 + h),
    ],
)
def test_traced_hyperparameters_are_not_checked(make):
    # Out-of-range when traced: no error at construction, as documented.
    g = jnp.ones(2)

    def f(h):
        tx = make(h)
        return tx.update(g, tx.init(g))[0]

    jax.jit(f)(jnp.asarray(-1.0))
    jax.vmap(f)(jnp.array([0.1, 0.5]))


def test_low_precision_array_hyperparameters_are_validated():
    # bfloat16 arrays (NumPy dtype kind 'V') are real numbers too, as under
    # optax.inject_hyperparams with bfloat16 params.
    # A 16-bit decay is a rounding of what the user passed: it warns.
    with pytest.warns(UserWarning, match="arrived as a bfloat16 array"):
        rj.scale_by_rms(decay=jnp.asarray(0.9, jnp.bfloat16))
    with (
        pytest.raises(ValueError, match="`decay` must be in"),
        pytest.warns(UserWarning, match="arrived as a bfloat16 array"),
    ):
        rj.scale_by_rms(decay=jnp.asarray(1.5, jnp.bfloat16))
    tx = optax.inject_hyperparams(rj.rmsprop)(learning_rate=0.1)
    params = jnp.ones(3, jnp.bfloat16)
    with pytest.warns(UserWarning, match="hyperparam_dtype=jnp.float32"):
        updates, _ = tx.update(params, tx.init(params))
    assert updates.dtype == jnp.bfloat16


@pytest.mark.parametrize(
    "make", [m for _, m in ALL_PRIMITIVES], ids=[n for n, _ in ALL_PRIMITIVES]
)
def test_state_type_is_the_same_after_an_update(make):
    # Same dtypes *and* weak types: a jitted step then traces once, whether it
    # gets the state from init or from a previous update.
    tx = optax.with_extra_args_support(make())
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    state = tx.init(params)
    _, new_state = tx.update(params, state, params, value=1.0)

    def types(tree):
        return jax.tree.map(lambda x: (x.dtype, x.weak_type), tree)

    assert types(new_state) == types(state)
