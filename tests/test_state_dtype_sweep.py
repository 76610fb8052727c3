"""The sweep with 16- and 8-bit optimizer states.

``state_dtype`` is a static option of the factories: fixed with
``functools.partial`` (as every non-grid option of a sweep) or swept as a grid
axis of strings, each value its own vmapped group. A sweep of rmsprop or adam
over (learning rate, decay) with an ``"int8"`` or ``"bfloat16"`` state must be
the plain training loop with the same optimizer, vmapped over the same
hyperparameters or run alone, to float32 rounding: not bit for bit, as with a
float32 state (the sweep's program, with its divergence guard, fuses
differently: 6-9 of 48 losses differ in the last bits for a float32 state
too), and an ulp across the midpoint of two 8-bit codes moves a code by one
(``NearestRounding("int8")``: losses within 2.5e-5 relative after 8 steps;
the 8-bit leaves within a code step). The plain ``"int8"`` rounds
stochastically with bits hashed from each value, so an ulp draws other bits:
its losses agree to 1e-2 (3.4e-3 measured). A grid axis of storages gives each storage's run bit for bit. The
records read an 8-bit state as its float32 values.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import regression_loss, regression_problem

import rmsprop_jax as rj
from rmsprop_jax import _blockwise, _state_dtype
from rmsprop_jax.sweep import grid, sweep

STEPS = 8
RATES = [0.003, 0.01, 0.03]
DECAYS = [0.9, 0.99]
FACTORIES = {"rmsprop": rj.rmsprop, "adam": rj.adam}
DECAY_NAME = {"rmsprop": "decay", "adam": "b2"}


def _stored(x) -> bool:
    return isinstance(
        x, rj.RoundedLeaf | _blockwise.UnsignedBlocks | _blockwise.SignedBlocks
    )


@pytest.fixture(scope="module")
def problem():
    params, x, y = regression_problem()
    return params, functools.partial(_loss, x=x, y=y)


def _loss(params, x, y):
    return regression_loss(params, x, y)


def _plain(factory, decay_name, state_dtype, loss, params, rate, decay):
    """The training loop the sweep documents, for one configuration."""
    tx = factory(rate, state_dtype=state_dtype, **{decay_name: decay})

    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(loss)(params)
        updates, state = tx.update(grads, state, params, value=value)
        return (optax.apply_updates(params, updates), state), value

    (params, state), losses = jax.lax.scan(
        step, (params, tx.init(params)), length=STEPS
    )
    return losses, params, state


def _grid_columns():
    rates, decays = np.meshgrid(RATES, DECAYS, indexing="ij")
    return (
        jnp.asarray(rates.ravel(), jnp.float32),
        jnp.asarray(decays.ravel(), jnp.float32),
    )


def _leaves(tree):
    return jax.tree.leaves(tree)


def _assert_identical(a, b) -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


def _close(x, y, rtol: float, atol: float, stray: float) -> None:
    """``x`` within ``rtol``/``atol`` of ``y`` element by element; or, given
    ``stray``, as a whole: ``|x - y| <= stray |y|`` (Euclidean norms)."""
    if not stray:
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)
        return
    difference, size = np.linalg.norm(x - y), np.linalg.norm(y)
    assert difference <= stray * size, (difference, size, stray)


def _assert_close(a, b, narrow: bool = False, stray: float = 0.0) -> None:
    """Equal to float32 rounding: float leaves to 2e-5, bfloat16 ones to one
    bfloat16 ulp, 8-bit leaves decoded to one code step (2^-3 of the value:
    3 mantissa bits), integers exactly. In a run with a narrow state
    (``narrow``) a stored value that took its neighbour moves the parameters
    and through them the float leaves too: those to 2e-3 (atol 2^-5 of the
    leaf's largest magnitude). ``stray``: each leaf to that fraction of its
    norm instead (see ``_STRAY``)."""
    assert jax.tree.structure(a, is_leaf=_stored) == jax.tree.structure(
        b, is_leaf=_stored
    )
    pairs = zip(
        jax.tree.leaves(a, is_leaf=_stored),
        jax.tree.leaves(b, is_leaf=_stored),
        strict=True,
    )
    for x, y in pairs:
        rtol, atol = (2e-3, 2.0**-5) if narrow else (2e-5, 1e-6)
        if _stored(x):
            rtol = 2.0**-3
        elif x.dtype == jnp.bfloat16:
            rtol = 2.0**-7
        x, y = _state_dtype.decoded(x), _state_dtype.decoded(y)
        assert x.dtype == y.dtype
        if not jnp.issubdtype(x.dtype, jnp.floating):
            np.testing.assert_array_equal(x, y)
            continue
        x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
        scale = float(np.max(np.abs(y64), initial=0))
        _close(x64, y64, rtol, atol * scale, stray)


def _assert_params_close(a, b, rate, stray: float = 0.0) -> None:
    """Parameters of two runs with a narrow state that round alike but for an
    ulp somewhere: a stored value that took its neighbour moves a parameter
    by part of a step, within the learning rate (the losses, checked to 1e-4,
    say the runs are the same run)."""
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
        _close(x64, y64, 0.0, float(rate), stray)


def _coded(tree) -> bool:
    return any(_stored(s) for s in jax.tree.leaves(tree, is_leaf=_stored))


# The losses' tolerance: 1e-4 where a stored value is a function of its own
# float32 value (rounded to nearest); 1e-2 for the plain "int8", rounded
# stochastically with bits hashed from the value: a value an ulp apart in the
# two programs draws other bits and may take its other neighbour, a code step
# of 3-6 % (measured: 3.4e-3 relative after 8 steps).
# The parameters: within a learning rate, two for the plain "int8" (a root
# that took its other neighbour early changes a step by several percent).
_LOSS_RTOL = {"int8": 1e-2, "int8+rn": 1e-4, "bfloat16": 1e-4}
_RATES = {"int8": 2, "int8+rn": 1, "bfloat16": 1}
# The plain "int8": a value that took its other neighbour moves its weight
# and, through the loss, others further than one code step (0.6-7 % of a
# leaf's elements outside the tolerances above, measured): each leaf of the
# parameters is held to 10 % of its norm instead, of the decoded state
# (small moments near zero, where a code step is relatively large) to 25 %
# (measured: up to 6 % and 11 %).
_STRAY = {"int8": 0.1, "int8+rn": 0.0, "bfloat16": 0.0}
_STATE_STRAY = {"int8": 0.25, "int8+rn": 0.0, "bfloat16": 0.0}
_STORAGE = {
    "int8": "int8",
    "int8+rn": rj.NearestRounding("int8"),
    "bfloat16": "bfloat16",
}


@pytest.mark.slow  # three compilations of an 8-step scan: 4-10 s on 2 cores
@pytest.mark.parametrize("storage", list(_STORAGE))
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_sweep_is_the_plain_loop_with_the_same_state_dtype(problem, name, storage):
    state_dtype, loss_rtol = _STORAGE[storage], _LOSS_RTOL[storage]
    within = _RATES[storage]
    params, loss = problem
    factory = FACTORIES[name]
    result = sweep(
        functools.partial(factory, state_dtype=state_dtype),
        loss,
        params,
        grid(learning_rate=RATES, **{DECAY_NAME[name]: DECAYS}),
        steps=STEPS,
    )
    assert result.losses.shape == (len(RATES), len(DECAYS), STEPS)
    assert not np.any(result.diverged)
    rates, decays = _grid_columns()
    plain = functools.partial(
        _plain, factory, DECAY_NAME[name], state_dtype, loss, params
    )
    losses, final_params, final_state = jax.jit(jax.vmap(plain))(rates, decays)
    # the sweep is that loop vmapped over the grid, to rounding
    np.testing.assert_allclose(
        np.asarray(result.losses).reshape(-1, STEPS), losses, rtol=loss_rtol
    )
    flat = functools.partial(jax.tree.map, lambda a: a.reshape(-1, *a.shape[2:]))
    for i in range(len(rates)):
        row = functools.partial(jax.tree.map, lambda a, i=i: a[i])
        _assert_params_close(
            row(flat(result.final_params)),
            row(final_params),
            within * rates[i],
            _STRAY[storage],
        )
        _assert_close(
            row(flat(result.final_states)),
            row(final_state),
            narrow=True,
            stray=_STATE_STRAY[storage],
        )
    stored = result[0, 0].final_state
    if storage != "bfloat16":
        assert _coded(stored)
    else:
        assert jnp.dtype(jnp.bfloat16) in {leaf.dtype for leaf in _leaves(stored)}
    # and each configuration run alone, to rounding
    alone = jax.jit(plain)
    for i, (rate, decay) in enumerate(zip(rates, decays, strict=True)):
        one = result[np.unravel_index(i, result.grid.shape)]
        losses_i, params_i, state_i = alone(rate, decay)
        np.testing.assert_allclose(one.losses, losses_i, rtol=loss_rtol)
        _assert_params_close(one.final_params, params_i, within * rate, _STRAY[storage])
        _assert_close(
            one.final_state, state_i, narrow=True, stray=_STATE_STRAY[storage]
        )


@pytest.mark.slow  # four sweeps, one of three groups: about 10 s on 2 cores
def test_state_dtype_as_a_grid_axis_runs_each_storage_as_its_own_group(problem):
    """``grid(state_dtype=[None, "bfloat16", "int8"])``: one vmapped group per
    storage in one program, each run the run of its storage alone."""
    params, loss = problem
    storages = [None, "bfloat16", "int8"]
    result = sweep(
        rj.rmsprop,
        loss,
        params,
        grid(state_dtype=storages, learning_rate=[0.003, 0.01]),
        steps=STEPS,
        record="second_moment",
    )
    assert len(result.groups) == 3
    assert [g.static for g in result.groups] == [{"state_dtype": s} for s in storages]
    for i, storage in enumerate(storages):
        state = result[i, 1].final_state
        rms = state[0].rms["w"]
        if storage == "int8":
            assert isinstance(rms, _blockwise.UnsignedBlocks)
        else:
            assert rms.dtype == (jnp.bfloat16 if storage else jnp.float32)
        alone = sweep(
            functools.partial(rj.rmsprop, state_dtype=storage),
            loss,
            params,
            grid(learning_rate=[0.003, 0.01]),
            steps=STEPS,
        )
        np.testing.assert_array_equal(result.losses[i], alone.losses)
        _assert_identical(result[i, 1].final_params, alone[1].final_params)
        _assert_identical(state, alone[1].final_state)
        # the last record is the final state's second moment, decoded
        recorded = result[i, 1].records["second_moment"]["w"][-1]
        decoded = _state_dtype.decoded(state)[0].rms["w"].astype(jnp.float32)
        np.testing.assert_array_equal(recorded, jnp.square(decoded))
    # a narrower state moves the run, but not far in 8 steps
    np.testing.assert_allclose(result.losses[2], result.losses[0], rtol=0.05)
    assert not np.array_equal(result.losses[2], result.losses[0])
