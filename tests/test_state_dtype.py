"""``state_dtype=``: 16- and 8-bit optimizer states, exact to their storage rule.

The reference for every low-precision step is the library's own float32 step
(tested against independent formulas elsewhere) run on the stored state
converted to float32: a ``state_dtype`` step must give the same updates and,
stored, the same new state, bit for bit. Then the state must survive what a
float32 state survives: jit, scan, donation, vmap over hyperparameters,
inject_hyperparams, MultiSteps, skip_nonfinite, per-group settings, Orbax.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import PRESET_FACTORIES, regression_loss, regression_problem, scanned_steps

import rmsprop_jax as rj
from rmsprop_jax import _blockwise, _state_dtype, presets

FACTORIES = {
    "rmsprop": lambda sd: rj.rmsprop(0.01, state_dtype=sd),
    "rmsprop_centered_momentum": lambda sd: rj.rmsprop(
        0.01, centered=True, momentum=0.9, state_dtype=sd
    ),
    "adagrad": lambda sd: rj.adagrad(0.1, state_dtype=sd),
    "sgd_momentum": lambda sd: rj.sgd(0.05, momentum=0.9, state_dtype=sd),
    "adam": lambda sd: rj.adam(0.01, state_dtype=sd),
    "laprop": lambda sd: rj.laprop(0.01, state_dtype=sd),
    "rprop-": lambda sd: rj.rprop(0.001, variant="rprop-", state_dtype=sd),
    "rprop+": lambda sd: rj.rprop(0.001, variant="rprop+", state_dtype=sd),
    "amsgrad": lambda sd: rj.amsgrad(0.01, state_dtype=sd),
    "adadelta": lambda sd: rj.adadelta(1.0, state_dtype=sd),
}
NAMES = sorted(FACTORIES)


def _some_quick(names, quick) -> list:
    """``names`` as test parameters: those in ``quick`` run in the quick
    selection, the rest are marked slow (the full suite runs every one)."""
    return [n if n in quick else pytest.param(n, marks=pytest.mark.slow) for n in names]


# The presets (and the converters) with every float accumulator they keep:
# torch's AMSGrad and Keras's (the maximum of the uncorrected moment), the
# centred RMSprops with momentum, Rprop, Adadelta, TF1's s0 = 1.
PRESETS = {
    # (Not centred: eps outside the root of a variance near 0 turns an ulp of
    # fusion difference into percents; keras_rmsprop is centred, eps inside.)
    "torch_rmsprop": lambda sd: presets.torch_rmsprop(
        0.01, momentum=0.9, weight_decay=0.01, state_dtype=sd
    ),
    "torch_rprop": lambda sd: presets.torch_rprop(0.001, state_dtype=sd),
    "torch_adagrad": lambda sd: presets.torch_adagrad(0.1, state_dtype=sd),
    "torch_sgd": lambda sd: presets.torch_sgd(
        0.05, momentum=0.9, dampening=0.1, state_dtype=sd
    ),
    "torch_adam_amsgrad": lambda sd: presets.torch_adam(
        0.01, amsgrad=True, state_dtype=sd
    ),
    "torch_adamw": lambda sd: presets.torch_adamw(0.01, state_dtype=sd),
    "torch_adadelta": lambda sd: presets.torch_adadelta(state_dtype=sd),
    "keras_rmsprop": lambda sd: presets.keras_rmsprop(
        0.01, momentum=0.5, centered=True, state_dtype=sd
    ),
    "keras_adagrad": lambda sd: presets.keras_adagrad(0.1, state_dtype=sd),
    "keras_adam_amsgrad": lambda sd: presets.keras_adam(
        0.01, amsgrad=True, use_ema=True, state_dtype=sd
    ),
    "keras_sgd": lambda sd: presets.keras_sgd(
        0.05, momentum=0.9, nesterov=True, state_dtype=sd
    ),
    "keras_adadelta": lambda sd: presets.keras_adadelta(1.0, state_dtype=sd),
    "tf1_rmsprop": lambda sd: presets.tf1_rmsprop(0.01, momentum=0.9, state_dtype=sd),
    "from_keras_adam": lambda sd: presets.from_keras(
        {"learning_rate": 0.01, "amsgrad": True}, "Adam", state_dtype=sd
    ),
}
PRESET_NAMES = sorted(PRESETS)


def _is_blocks(x) -> bool:
    return isinstance(x, _blockwise.UnsignedBlocks | _blockwise.SignedBlocks)


_problem, _loss = regression_problem, regression_loss


def _to_float32(state):
    """A stored state as the float32 state the same optimizer would keep."""
    decoded = _state_dtype.decoded(state)
    return jax.tree.map(
        lambda a: a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else a,
        decoded,
    )


def _store_like(stored, new_float):
    """A float32 state stored as ``stored`` is: encoded or cast."""

    def leaf(old, new):
        if _is_blocks(old):
            return _blockwise.encode(new, isinstance(old, _blockwise.SignedBlocks))
        return new.astype(old.dtype)

    return jax.tree.map(leaf, stored, new_float, is_leaf=_is_blocks)


def _assert_close(a, b):
    """Equal to float32 rounding: XLA fuses the decoded and the plain float32
    step differently (a few ulp), and a value that moved by an ulp across the
    midpoint of two codes takes the neighbouring code (rare, never further)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(
        jax.tree.leaves(a, is_leaf=_is_blocks),
        jax.tree.leaves(b, is_leaf=_is_blocks),
        strict=True,
    ):
        if _is_blocks(x):
            np.testing.assert_allclose(x.scales, y.scales, rtol=1e-6)
            diff = np.abs(np.asarray(x.codes, np.int32) - np.asarray(y.codes, np.int32))
            assert diff.max() <= 1 and np.count_nonzero(diff) <= 0.002 * diff.size
        elif jnp.issubdtype(x.dtype, jnp.floating):
            assert x.dtype == y.dtype
            # atol: ulps of the larger terms where an EMA cancels
            scale = float(np.max(np.abs(np.asarray(y, np.float64)), initial=0))
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6 * scale)
        else:
            np.testing.assert_array_equal(x, y)


def _assert_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


# 8-bit codes rounded to nearest: the explicit spelling (the plain "int8"
# rounds stochastically with no key; tests/test_state_dtype_default.py).
NEAREST = rj.NearestRounding("int8")


@pytest.mark.parametrize(
    "name", _some_quick(NAMES, {"rmsprop", "adam", "sgd_momentum", "rprop+"})
)
def test_int8_step_is_the_float32_step_on_the_decoded_state(name):
    _check_int8_step(FACTORIES[name])


def _check_int8_step(factory, steps=6):
    """``NearestRounding("int8")``: each step is the float32 step on the
    decoded state, encoded to nearest (the codec is checked against
    independent references in ``tests/test_blockwise.py``)."""
    params, x, y = _problem()
    low, ref = factory(NEAREST), factory(None)
    state = low.init(params)
    assert _is_blocks(jax.tree.leaves(state, is_leaf=_is_blocks)[0]) or any(
        _is_blocks(s) for s in jax.tree.leaves(state, is_leaf=_is_blocks)
    )
    update, ref_update = jax.jit(low.update), jax.jit(ref.update)
    for _ in range(steps):
        grads = jax.grad(_loss)(params, x, y)
        u, new = update(grads, state, params)
        ref_u, ref_new = ref_update(grads, _to_float32(state), params)
        _assert_close(u, ref_u)
        _assert_close(new, _store_like(state, ref_new))
        state = new
        params = optax.apply_updates(params, u)


@pytest.mark.parametrize(
    "name",
    _some_quick(
        ["rmsprop", "adagrad", "sgd_momentum", "rprop-", "amsgrad", "adadelta"],
        {"rmsprop", "adadelta"},
    ),
)
def test_bfloat16_state_is_the_float32_step_rounded_once(name):
    _check_bfloat16_step(FACTORIES[name])


def _check_bfloat16_step(factory, to_one_ulp=False):
    """The bfloat16 state is the float32 step on it, rounded once when stored.

    ``to_one_ulp``: to one bfloat16 ulp of the leaf's largest value instead
    of bit for bit. A preset's later link reads updates divided by the
    first link's *stored* (rounded) root, and a value the two programs
    compute an ulp apart (XLA fuses them differently) may round to the
    neighbouring bfloat16 number."""
    params, x, y = _problem()
    low, ref = factory("bfloat16"), factory(None)
    state = low.init(params)
    # Keras's moving average is a copy of the weights, not an accumulator.
    own = state.inner if isinstance(state, presets.KerasState) else state
    floats = [a for a in jax.tree.leaves(own) if jnp.issubdtype(a.dtype, jnp.floating)]
    assert floats and all(a.dtype == jnp.bfloat16 for a in floats)
    for _ in range(6):
        grads = jax.grad(_loss)(params, x, y)
        u, new = jax.jit(low.update)(grads, state, params)
        _, ref_new = jax.jit(ref.update)(grads, _to_float32(state), params)
        stored = _store_like(state, ref_new)
        if to_one_ulp:
            for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(stored), strict=True):
                assert a.dtype == b.dtype
                b = np.asarray(b, np.float64)
                ulp = 2**-7 * float(np.max(np.abs(b), initial=0))
                np.testing.assert_allclose(np.asarray(a, np.float64), b, atol=ulp)
        else:
            _assert_close(new, stored)
        assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(u))
        state = new
        params = optax.apply_updates(params, u)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("state_dtype", ["int8", "bfloat16", jnp.float16])
def test_state_keeps_its_types_and_only_large_float_leaves_are_8_bit(name, state_dtype):
    params, x, y = _problem()
    tx = FACTORIES[name](state_dtype)
    state = tx.init(params)
    grads = jax.grad(_loss)(params, x, y)
    after = jax.eval_shape(tx.update, grads, state, params)[1]
    assert jax.tree.structure(after) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(state), strict=True):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)
    for leaf in jax.tree.leaves(state, is_leaf=_is_blocks):
        if _is_blocks(leaf):
            assert state_dtype == "int8" and leaf.codes.size >= 4096
        elif jnp.issubdtype(leaf.dtype, jnp.floating) and leaf.ndim:
            expected = jnp.float32 if state_dtype == "int8" else jnp.dtype(state_dtype)
            assert leaf.dtype == expected


# The quick selection: one torch, one Keras preset and a converter (each with
# the most accumulators: AMSGrad's maximum); the full suite every preset.
_QUICK_PRESETS = {"keras_adam_amsgrad"}


@pytest.mark.parametrize(
    "name",
    [
        n if n in _QUICK_PRESETS else pytest.param(n, marks=pytest.mark.slow)
        for n in PRESET_NAMES
    ],
)
def test_presets_int8_and_bfloat16_states_are_the_float32_step_stored(name):
    """Each preset's 8-bit step is its float32 step on the decoded state,
    stored; its bfloat16 step the float32 step rounded (to one ulp, see
    :func:`_check_bfloat16_step`); every float accumulator of the optimizer
    is stored so, not Keras's moving average of the weights (a copy of
    them, kept in their dtype)."""
    _check_int8_step(PRESETS[name], steps=3)
    _check_bfloat16_step(PRESETS[name], to_one_ulp=True)
    state = PRESETS[name]("bfloat16").init(_problem()[0])
    if isinstance(state, presets.KerasState):
        assert jax.tree.leaves(state.average)[0].dtype == jnp.float32


@pytest.mark.parametrize(
    "value, fragment", [("int 8", "did you mean"), (jnp.int32, "int32")]
)
def test_presets_and_converters_check_state_dtype(value, fragment):
    factories = [getattr(presets, n) for n in PRESET_FACTORIES]
    factories.append(functools.partial(presets.from_keras, {}, "SGD"))
    for factory in factories:
        required = {"learning_rate": 0.1} if factory is presets.tf1_rmsprop else {}
        with pytest.raises(ValueError, match="`state_dtype` must be") as error:
            factory(**required, state_dtype=value)
        assert fragment in str(error.value)


def _bytes_per_param(tx, params) -> float:
    shapes = jax.eval_shape(tx.init, params)
    total = sum(a.size * a.dtype.itemsize for a in jax.tree.leaves(shapes))
    return total / sum(p.size for p in jax.tree.leaves(params))


@pytest.mark.parametrize(
    "name,int8_bound,bf16_bound",
    [
        ("rmsprop", 1.10, 2.05),
        ("adagrad", 1.10, 2.05),
        ("sgd_momentum", 1.10, 2.05),
        ("adam", 2.20, 4.10),
        ("laprop", 2.20, 4.10),
        ("rprop-", 2.20, 4.10),
        ("rprop+", 3.10, None),
        ("amsgrad", 3.10, 6.10),  # m, the root and its maximum
        ("adadelta", 3.10, 6.10),  # three roots
    ],
)
def test_bytes_of_state_per_parameter(name, int8_bound, bf16_bound):
    params = {
        "w1": jax.ShapeDtypeStruct((1024, 1024), jnp.float32),
        "w2": jax.ShapeDtypeStruct((1024, 300), jnp.float32),
        "b": jax.ShapeDtypeStruct((1024,), jnp.float32),
    }
    full = _bytes_per_param(FACTORIES[name](None), params)
    int8 = _bytes_per_param(FACTORIES[name]("int8"), params)
    assert int8 <= int8_bound
    # Rprop's int8 signs are 1 byte per parameter either way.
    fixed = 1.0 if name.startswith("rprop") else 0.0
    assert int8 - fixed < (full - fixed) / 3.8
    if bf16_bound is not None:
        assert _bytes_per_param(FACTORIES[name]("bfloat16"), params) <= bf16_bound


@pytest.mark.parametrize(
    "value,fragment",
    [
        (jnp.int32, "int32"),
        ("int32", "int32"),
        (jnp.int8, "did you mean 'int8' (the string"),
        ("bfloat61", "did you mean 'bfloat16'"),
        ("int 8", "did you mean 'int8'"),
        (jnp.complex64, "complex64"),
        (jnp.bool_, "bool"),
    ],
)
def test_bad_state_dtype_names_the_argument_value_and_allowed(value, fragment):
    for factory in (rj.rmsprop, rj.adam, rj.scale_by_rms, rj.momentum):
        with pytest.raises(ValueError) as error:
            factory(state_dtype=value)
        message = str(error.value)
        assert "state_dtype" in message and fragment in message
        assert "'int8'" in message and "bfloat16" in message


def test_state_dtype_without_a_float_accumulator_is_refused():
    with pytest.raises(ValueError, match=r"state_dtype='int8'.*sgd\(momentum=None\)"):
        rj.sgd(0.1, state_dtype="int8")
    with pytest.raises(ValueError, match="Allowed here: None"):
        rj.sgd(0.1, state_dtype=jnp.bfloat16)


@pytest.mark.parametrize(
    "factory, name, field",
    [
        (rj.adam, "mu_dtype", "first moment"),
        (rj.amsgrad, "mu_dtype", "first moment"),
        (functools.partial(rj.sgd, momentum=0.9), "accumulator_dtype", "momentum"),
    ],
)
def test_optax_storage_arguments_beside_state_dtype_are_named_as_passed(
    factory, name, field
):
    """optax's ``mu_dtype`` / ``accumulator_dtype`` with a different
    ``state_dtype``: the error names the optimizer's arguments (not its
    primitives' ``accumulator_dtype``) and says what is allowed."""
    kwargs = {"learning_rate": 0.1} if factory is not rj.adam else {}
    for storage in ["int8", jnp.bfloat16]:
        with pytest.raises(ValueError) as error:
            factory(**kwargs, **{name: jnp.float32}, state_dtype=storage)
        message = str(error.value)
        assert f"{name}=float32" in message and "state_dtype=" in message
        assert field in message and "alone" in message
        assert "multi_transform" in message
        if name != "accumulator_dtype":
            assert "accumulator_dtype" not in message
    # Stochastic rounding of every accumulator is another storage than the
    # optax argument's round-to-nearest.
    stochastic = rj.StochasticRounding("bfloat16", key=0)
    with pytest.raises(ValueError, match=f"{name}=bfloat16, state_dtype=Stoch"):
        factory(**kwargs, **{name: jnp.bfloat16}, state_dtype=stochastic)
    # Both the same floating dtype: allowed, one storage.
    tx = factory(**kwargs, **{name: "bfloat16"}, state_dtype=jnp.bfloat16)
    floats = [
        a
        for a in jax.tree.leaves(tx.init(jnp.zeros(4)))
        if jnp.issubdtype(a.dtype, jnp.floating)
    ]
    assert floats and all(a.dtype == jnp.bfloat16 for a in floats)
    for bad, fragment in [
        ("bfloat61", "did you mean 'bfloat16'"),
        (jnp.int32, "int32"),
        ("int8", "state_dtype='int8'"),
    ]:
        with pytest.raises(ValueError, match=f"`{name}` must be None or a floating"):
            factory(**kwargs, **{name: bad})
        with pytest.raises(ValueError, match=fragment):
            factory(**kwargs, **{name: bad})


def test_state_dtype_and_a_different_accumulator_dtype_are_refused():
    with pytest.raises(ValueError, match="only `state_dtype`"):
        rj.scale_by_rms(state_dtype="int8", accumulator_dtype=jnp.float32)
    same = rj.momentum(0.9, state_dtype="bfloat16", accumulator_dtype=jnp.bfloat16)
    assert jax.tree.leaves(same.init(jnp.zeros(3)))[0].dtype == jnp.bfloat16


def _run(tx, params, x, y, steps):
    def step(carry, _):
        params, state = carry
        grads = jax.grad(_loss)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), _loss(params, x, y)

    return jax.lax.scan(step, (params, tx.init(params)), length=steps)


@pytest.mark.parametrize(
    "name",
    _some_quick(
        [
            "adam",
            "rprop+",
            "rmsprop_centered_momentum",
            "amsgrad",  # a root and its maximum, both zeros at init
            "adadelta",  # three roots, all zeros at init
            "keras_adam_amsgrad",  # and Keras's moving average beside them
        ],
        {"adam", "keras_adam_amsgrad"},
    ),
)
def test_scan_equals_a_loop_of_jitted_steps_and_donation_works(name):
    params, x, y = _problem()
    tx = {**FACTORIES, **PRESETS}[name]("int8")
    (scanned, scanned_state), _ = jax.jit(functools.partial(_run, tx, steps=5))(
        params, x, y
    )

    def one(params, state):
        grads = jax.grad(_loss)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    donating = jax.jit(one, donate_argnums=(0, 1))
    p, s = jax.tree.map(jnp.copy, params), tx.init(params)  # a fresh state
    for _ in range(5):
        p, s = donating(p, s)
    _assert_equal(p, scanned)
    _assert_equal(s, scanned_state)


def test_vmap_over_hyperparameters_equals_separate_runs():
    params, x, y = _problem()
    rates = jnp.asarray([0.01, 0.003, 0.03])
    decays = jnp.asarray([0.9, 0.99, 0.999])

    def final(rate, decay):
        tx = rj.rmsprop(rate, decay, momentum=0.5, state_dtype="int8")
        (p, _), losses = _run(tx, params, x, y, steps=8)
        return p, losses

    batched = jax.jit(jax.vmap(final))(rates, decays)
    for i in range(3):
        alone = jax.jit(final)(rates[i], decays[i])
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(batched), strict=True):
            np.testing.assert_allclose(a, b[i], rtol=1e-6, atol=1e-7)


def test_inject_hyperparams_with_a_static_state_dtype():
    params, x, y = _problem()
    injected = optax.inject_hyperparams(rj.adam, static_args=("state_dtype",))(
        learning_rate=0.01, state_dtype="int8"
    )
    (p, state), _ = jax.jit(functools.partial(_run, injected, steps=5))(params, x, y)
    (q, _), _ = jax.jit(
        functools.partial(_run, rj.adam(0.01, state_dtype="int8"), steps=5)
    )(params, x, y)
    assert any(_is_blocks(s) for s in jax.tree.leaves(state, is_leaf=_is_blocks))
    for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(q), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_multi_steps_averages_into_an_int8_state():
    params, x, y = _problem()
    inner = rj.adam(0.01, state_dtype="int8")
    multi = optax.MultiSteps(inner, every_k_schedule=2)
    state, ref_state = multi.init(params), inner.init(params)
    g1 = jax.grad(_loss)(params, x, y)
    g2 = jax.grad(_loss)(params, x * 0.5, y)
    u1, state = jax.jit(multi.update)(g1, state, params)
    u2, state = jax.jit(multi.update)(g2, state, params)
    mean = jax.tree.map(lambda a, b: a + (b - a) / 2, g1, g2)  # MultiSteps' mean
    ref_u, ref_state = jax.jit(inner.update)(mean, ref_state, params)
    assert all(float(jnp.max(jnp.abs(u))) == 0 for u in jax.tree.leaves(u1))
    for a, b in zip(jax.tree.leaves(u2), jax.tree.leaves(ref_u), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    _assert_equal(state.inner_opt_state, ref_state)


def test_skip_nonfinite_keeps_an_int8_state_bit_for_bit():
    params, x, y = _problem()
    tx = rj.skip_nonfinite(rj.adam(0.01, state_dtype="int8"))
    state = tx.init(params)
    grads = jax.grad(_loss)(params, x, y)
    _, state = jax.jit(tx.update)(grads, state, params)
    bad = jax.tree.map(lambda g: g.at[0].set(jnp.nan), grads)
    u, after = jax.jit(tx.update)(bad, state, params)
    _assert_equal(after.inner, state.inner)
    assert all(float(jnp.max(jnp.abs(a))) == 0 for a in jax.tree.leaves(u))


def test_a_precision_per_parameter_group_through_multi_transform():
    params, x, y = _problem()
    params = {**params, "embedding": jnp.ones((128, 64))}
    labels = {"w": "low", "b": "low", "embedding": "full"}
    tx = optax.multi_transform(
        {"low": rj.adam(0.01, state_dtype="int8"), "full": rj.adam(0.01)}, labels
    )
    state = tx.init(params)
    low = state.inner_states["low"].inner_state
    full = state.inner_states["full"].inner_state
    blocks = [s for s in jax.tree.leaves(low, is_leaf=_is_blocks) if _is_blocks(s)]
    assert len(blocks) == 2  # w's second moment and first moment
    assert not [s for s in jax.tree.leaves(full, is_leaf=_is_blocks) if _is_blocks(s)]
    grads = jax.tree.map(jnp.ones_like, params)
    u, _ = jax.jit(tx.update)(grads, state, params)
    np.testing.assert_allclose(u["embedding"], -0.01, rtol=1e-6)
    np.testing.assert_allclose(u["w"], -0.01, rtol=1e-6)


@pytest.mark.parametrize(
    "storage",
    [
        "int8",
        pytest.param(
            rj.StochasticRounding("int8", key=0), marks=pytest.mark.slow, id="int8+sr"
        ),
        pytest.param(
            rj.StochasticRounding("bfloat16", key=0),
            marks=pytest.mark.slow,
            id="bfloat16+sr",
        ),
        pytest.param(
            rj.StochasticRounding("int8", key=None),
            marks=pytest.mark.slow,
            id="int8+keyless",
        ),
    ],
)
def test_orbax_restores_an_int8_state_bit_for_bit_and_resumes_exactly(
    tmp_path, storage
):
    """Saved after 4 steps and restored: the state bit for bit (codes,
    scales, and a stochastically rounded leaf's key), and 4 more steps from
    it equal 8 steps without stopping."""
    ocp = pytest.importorskip("orbax.checkpoint")
    params, x, y = _problem()
    tx = rj.adam(0.01, state_dtype=storage)
    run = jax.jit(functools.partial(scanned_steps, _loss, tx, steps=4))
    half, half_state = run(params, tx.init(params), x, y)
    straight = run(half, half_state, x, y)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(tmp_path / "ckpt", {"p": half, "s": half_state})
    target = {"p": jax.eval_shape(lambda: params), "s": jax.eval_shape(tx.init, params)}
    with ocp.StandardCheckpointer() as checkpointer:
        restored = checkpointer.restore(tmp_path / "ckpt", target)
    _assert_equal(restored["s"], half_state)
    _assert_equal(run(restored["p"], restored["s"], x, y), straight)


@pytest.mark.parametrize(
    "name", _some_quick(["rmsprop", "adam", "adagrad", "rprop-"], {"rmsprop", "rprop-"})
)
def test_diagnostics_read_an_int8_state_as_its_float32_values(name):
    from rmsprop_jax import diagnostics

    params, x, y = _problem()
    low = FACTORIES[name]("int8")
    state = low.init(params)
    for _ in range(3):
        grads = jax.grad(_loss)(params, x, y)
        _, state = low.update(grads, state, params)
    ours = diagnostics.find_states(state)
    theirs = diagnostics.find_states(_to_float32(state))
    assert list(ours) == list(theirs)
    for key in ours:
        _assert_equal(ours[key], theirs[key])
    if name in ("rmsprop", "adam"):  # (Adagrad's needs steps=; Rprop has none)
        _assert_equal(
            diagnostics.gradient_rms(state),
            diagnostics.gradient_rms(_to_float32(state)),
        )


def test_8_bit_codes_follow_the_state_declarations():
    """Unsigned codes exactly for the declared second moments and step sizes,
    signed ones for first moments and the remembered last step."""
    from rmsprop_jax import declarations

    params, x, y = _problem()

    def declared(tree):
        for node in jax.tree.leaves(
            tree, is_leaf=lambda n: declarations.fields_of(n) is not None
        ):
            fields = declarations.fields_of(node)
            if fields is not None:
                yield node, fields
                for field in fields.inner:
                    yield from declared(getattr(node, field))

    for name in NAMES:
        state = FACTORIES[name]("int8").init(params)
        seen = 0
        for node, fields in declared(state):
            for role, kind in [
                ("second_moments", _blockwise.UnsignedBlocks),
                ("step_sizes", _blockwise.UnsignedBlocks),
                ("first_moments", _blockwise.SignedBlocks),
                ("previous", _blockwise.SignedBlocks),
            ]:
                for field in getattr(fields, role):
                    value = getattr(node, field)
                    if isinstance(value, dict) and not (
                        isinstance(value["w"], jax.Array)
                        and jnp.issubdtype(value["w"].dtype, jnp.integer)
                    ):  # (Rprop's int8 signs are previous, and stay int8)
                        assert isinstance(value["w"], kind), (name, field)
                        seen += 1
        assert seen >= 1, name


@pytest.mark.parametrize("name", ["amsgrad", "adadelta"])
@pytest.mark.parametrize(
    "storage", [pytest.param("bfloat16", marks=pytest.mark.slow), "int8"]
)
def test_new_factories_take_stochastic_rounding(name, storage):
    """``StochasticRounding`` reaches AMSGrad's maximum and Adadelta's roots
    (and the presets built on them) as it reaches the other states: the
    state keeps its structure and types through a jitted step."""
    params, x, y = _problem()
    stochastic = rj.StochasticRounding(storage, key=0)
    for tx in (
        FACTORIES[name](stochastic),
        {
            "amsgrad": PRESETS["torch_adam_amsgrad"],
            "adadelta": PRESETS["keras_adadelta"],
        }[name](stochastic),
    ):
        state = tx.init(params)
        grads = jax.grad(_loss)(params, x, y)
        u, after = jax.jit(tx.update)(grads, state, params)
        assert jax.tree.structure(after) == jax.tree.structure(state)
        for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(state), strict=True):
            assert (a.shape, a.dtype) == (b.shape, b.dtype)
        assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(u))


@pytest.mark.slow
def test_a_sweep_over_an_int8_optimizer_equals_separate_runs():
    """``rj.sweep`` over learning rates of ``rmsprop(state_dtype="int8")`` on
    an 8192-weight quadratic (8-bit second moments): the losses of each run
    are those of a plain loop of jitted steps, and the recorded second
    moment is the decoded 8-bit state, non-negative and finite."""
    from rmsprop_jax.sweep import grid, sweep

    n = 8192
    target = jnp.linspace(-1.0, 1.0, n)
    weight = 1 + jnp.arange(n) / n

    def loss(p):
        return jnp.mean(weight * (p["w"] - target) ** 2)

    params = {"w": jnp.zeros(n)}
    make = functools.partial(rj.rmsprop, state_dtype="int8")
    rates = [1e-3, 1e-2]
    result = sweep(
        make,
        loss,
        params,
        grid(learning_rate=rates),
        steps=20,
        record=("second_moment",),
    )
    for i, rate in enumerate(rates):
        tx = make(learning_rate=rate)
        assert _is_blocks(tx.init(params)[0].rms["w"])

        @jax.jit
        def step(p, s, tx=tx):
            value, g = jax.value_and_grad(loss)(p)
            u, s = tx.update(g, s, p)
            return value, optax.apply_updates(p, u), s

        p, s, losses = params, tx.init(params), []
        for _ in range(20):
            value, p, s = step(p, s)
            losses.append(value)
        np.testing.assert_allclose(result.losses[i], losses, rtol=1e-5)
    moments = np.asarray(jax.tree.leaves(result.records["second_moment"])[0])
    assert np.all(np.isfinite(moments)) and np.all(moments >= 0)
    assert moments.shape[-1] == n
