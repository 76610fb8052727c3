"""skip_nonfinite: skipped steps leave no trace; where optax.apply_if_finite fails.

The explicit-sharding case runs on 8 simulated devices in
``test_integrations_sharding.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from integration_problems import (
    NAMES,
    assert_trees_close,
    data,
    init_params,
    loss,
    make,
    train_all,
)

import rmsprop_jax as rj

BAD_STEPS = (3, 7, 8)  # NaN, Inf, NaN gradients at these steps
STEPS = 30


def _poison(grads, step):
    """NaN at BAD_STEPS[0] and [2], +Inf in one entry at BAD_STEPS[1]."""
    nan = jnp.isin(step, jnp.array([BAD_STEPS[0], BAD_STEPS[2]]))
    grads = jax.tree.map(lambda g: jnp.where(nan, jnp.nan, g), grads)
    inf = step == BAD_STEPS[1]
    kernel = (
        grads["kernel"].at[0, 0].set(jnp.where(inf, jnp.inf, grads["kernel"][0, 0]))
    )
    return {**grads, "kernel": kernel}


def _run_poisoned(tx):
    """``STEPS`` steps of ``tx`` with the gradients of BAD_STEPS corrupted. Its
    own loop: the engine cannot corrupt chosen gradients, and treats a
    non-finite value as the run's divergence by design."""
    x, y = data(jnp.float64)

    def step(carry, t):
        params, state = carry
        value, grads = jax.value_and_grad(loss)(params, x, y)
        updates, state = tx.update(_poison(grads, t), state, params, value=value)
        return (optax.apply_updates(params, updates), state), None

    carry = (init_params(jnp.float64), tx.init(init_params(jnp.float64)))
    return jax.lax.scan(step, carry, jnp.arange(STEPS))[0]


@pytest.fixture(scope="module")
def guarded():
    """Every optimizer, guarded both ways, and unguarded with the bad steps removed."""
    with jax.enable_x64(True):

        def guarded_runs():
            return {
                n: (
                    _run_poisoned(rj.skip_nonfinite(make(n))),
                    _run_poisoned(optax.apply_if_finite(make(n), 100)),
                )
                for n in NAMES
            }

        guarded = jax.jit(guarded_runs)()
    clean = train_all(STEPS - len(BAD_STEPS))
    return {n: (*guarded[n], clean[n].final_params) for n in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_skipped_steps_leave_no_trace(guarded, name):
    (params, state), _, expected = guarded[name]
    assert_trees_close(params, expected, rtol=1e-12, atol=1e-14)
    assert int(state.total_skipped) == len(BAD_STEPS)
    assert int(state.consecutive_nonfinite) == 0


@pytest.mark.parametrize("name", NAMES)
def test_agrees_with_optax_apply_if_finite_where_that_works(guarded, name):
    (params, state), (their_params, their_state), _ = guarded[name]
    assert_trees_close(params, their_params, rtol=1e-12, atol=1e-14)
    assert int(state.total_skipped) == int(their_state.total_notfinite)


def test_after_max_consecutive_bad_steps_the_update_is_applied():
    tx = rj.skip_nonfinite(rj.sgd(0.1), max_consecutive=2)
    reference = optax.apply_if_finite(rj.sgd(0.1), max_consecutive_errors=2)
    w = jnp.array([1.0, 2.0])
    state, ref_state = tx.init(w), reference.init(w)
    bad, good = jnp.array([jnp.nan, 1.0]), jnp.array([1.0, 1.0])
    applied = []
    for g in (bad, bad, bad, bad, good, bad):
        updates, state = tx.update(g, state, w)
        ref_updates, ref_state = reference.update(g, ref_state, w)
        np.testing.assert_array_equal(updates, ref_updates)
        applied.append(bool(jnp.any(updates != 0) | jnp.any(jnp.isnan(updates))))
    # Two bad steps skipped, the third and fourth applied (the NaN surfaces),
    # a good step resets the run, and the next bad step is skipped again.
    assert applied == [False, False, True, True, True, False]
    assert int(state.total_skipped) == 3
    assert int(state.consecutive_nonfinite) == int(ref_state.notfinite_count) == 1


def test_max_consecutive_may_be_traced():
    def skips(limit):
        tx = rj.skip_nonfinite(rj.sign_sgd(0.1), max_consecutive=limit)
        w = jnp.zeros(2)
        state = tx.init(w)
        for _ in range(4):
            _, state = tx.update(jnp.full(2, jnp.nan), state, w)
        return state.total_skipped

    np.testing.assert_array_equal(jax.vmap(skips)(jnp.arange(4)), [0, 1, 2, 3])


def test_negative_max_consecutive_is_rejected():
    with pytest.raises(ValueError, match="max_consecutive"):
        rj.skip_nonfinite(rj.sgd(0.1), max_consecutive=-1)


def _decoupled_decay_rmsprop():
    """RMSprop with decoupled (AdamW-style) weight decay: a link that promotes."""
    return optax.chain(
        rj.scale_by_rms(0.9), optax.add_decayed_weights(1e-4), optax.scale(-0.05)
    )


def _mixed_precision_step(tx):
    """float32 params, bfloat16 gradients (a bf16 backward pass)."""
    x, y = data()

    @jax.jit
    def step(params, state, poison):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        grads = jax.tree.map(
            lambda g: jnp.where(poison, jnp.nan, g).astype(jnp.bfloat16), grads
        )
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    return step


def test_optax_apply_if_finite_fails_with_bfloat16_gradients():
    tx = optax.apply_if_finite(_decoupled_decay_rmsprop(), 3)
    step = _mixed_precision_step(tx)
    params = init_params()
    with pytest.raises(TypeError, match="cond branches must have equal output types"):
        step(params, tx.init(params), False)


def test_skip_nonfinite_works_with_bfloat16_gradients():
    tx = rj.skip_nonfinite(_decoupled_decay_rmsprop())
    step = _mixed_precision_step(tx)
    params = init_params()
    state = tx.init(params)
    losses = []
    for t in range(40):
        params, state, value = step(params, state, t == 5)
        losses.append(float(value))
        assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
    assert int(state.total_skipped) == 1
    assert losses[6] == losses[5]  # the poisoned step did not move the params
    assert losses[-1] < 0.2 * losses[0]


def test_optax_apply_if_finite_works_with_this_librarys_optimizers_in_bfloat16():
    """Our optimizers return updates in the gradient's dtype, so cond agrees;
    only a promoting link (such as the decoupled decay above) breaks it."""
    tx = optax.apply_if_finite(rj.rmsprop(0.01), 3)
    step = _mixed_precision_step(tx)
    params = init_params()
    params, state, _ = step(params, tx.init(params), True)
    assert int(state.total_notfinite) == 1
