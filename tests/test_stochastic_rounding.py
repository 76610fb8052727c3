"""``state_dtype=StochasticRounding(...)``: unbiased rounding of stored states.

References: the two neighbours of a value in the storage format (from
``ml_dtypes`` through NumPy's ``nextafter``), their mean over many draws (the
value itself, the definition of stochastic rounding), and a float64 run of
the same EMA.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax
import pytest
from helpers import regression_loss, regression_problem

import rmsprop_jax as rj
from rmsprop_jax import _blockwise, _rounding, _state_dtype

SR = rj.StochasticRounding


def _neighbours(x: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    """The largest value of ``dtype`` <= x and the smallest >= x (float64)."""
    near = x.astype(dtype)
    up = np.where(
        near.astype(np.float64) < x, np.nextafter(near, np.array(np.inf, dtype)), near
    )
    down = np.where(
        near.astype(np.float64) > x,
        np.nextafter(near, np.array(-np.inf, dtype)),
        near,
    )
    return down.astype(np.float64), up.astype(np.float64)


@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, np.float16])
def test_rounds_to_a_neighbour_and_is_unbiased(dtype) -> None:
    rng = np.random.default_rng(0)
    # magnitudes over many binades, both signs; float16 subnormals included
    x = rng.choice([-1, 1], 512) * 10 ** rng.uniform(-6, 4, 512)
    x = x.astype(np.float32)
    down, up = _neighbours(x.astype(np.float64), dtype)
    draws = 2000
    keys = jax.random.split(jax.random.key(0), draws)

    @jax.jit
    def one(key):
        bits = _rounding.noise(key, x.shape)
        return _rounding.to_float(jnp.asarray(x), jnp.dtype(dtype), bits)

    out = np.asarray(jax.vmap(one)(keys), np.float64)
    assert ((out == down) | (out == up)).all()
    gap = np.where(up > down, up - down, 1.0)
    p_up = (x - down) / gap
    # the mean of `draws` Bernoulli(p) is within 5 standard deviations
    mean_up = ((out == up) & (up > down)).mean(axis=0)
    sd = np.sqrt(np.maximum(p_up * (1 - p_up), 1e-12) / draws)
    assert np.all(np.abs(mean_up - p_up) <= 5 * sd + 2.0**-16)


def test_bfloat16_keeps_signs_infinities_and_nans() -> None:
    x = jnp.array([jnp.inf, -jnp.inf, jnp.nan, 0.0, -0.0, 3.0], jnp.float32)
    bits = jnp.full(x.shape, 2**16 - 1, jnp.uint32)
    out = np.asarray(_rounding.to_float(x, jnp.bfloat16, bits), np.float32)
    np.testing.assert_array_equal(out[:2], [np.inf, -np.inf])
    assert np.isnan(out[2])
    assert out[3] == 0 and out[4] == 0 and np.signbit(out[4])
    assert out[5] == 3.0  # exact values never move


@pytest.mark.parametrize("signed", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_8_bit_codes_round_to_a_neighbour_and_are_unbiased(signed: bool) -> None:
    rng = np.random.default_rng(1)
    x = 10 ** rng.uniform(-5, 0, 4096)
    if signed:
        x = x * rng.choice([-1, 1], x.size)
    x = jnp.asarray(x, jnp.float32)
    nearest = _blockwise.decode(_blockwise.encode(x, signed))

    @jax.jit
    def one(key):
        noise = _rounding.noise(key, x.shape)
        return _blockwise.decode(_blockwise.encode(x, signed, noise=noise))

    draws = 400
    out = np.asarray(
        jax.vmap(one)(jax.random.split(jax.random.key(2), draws)), np.float64
    )
    near = np.asarray(nearest, np.float64)
    xs = np.asarray(x, np.float64)
    scale = np.abs(xs).reshape(-1, 256).max(axis=1).repeat(256)

    # Every draw is one of the two codes around x: all noise bits 0 rounds
    # down (truncates), all 1 up; the nearest code is one of them.
    def fixed(bits):
        noise = jnp.full(x.shape, bits, jnp.uint32)
        return np.asarray(_blockwise.decode(_blockwise.encode(x, signed, noise=noise)))

    down, up = fixed(0), fixed(2**16 - 1)
    assert ((out == down) | (out == up)).all()
    assert ((near == down) | (near == up)).all()
    gap = np.abs(up - down)
    p = np.clip(
        np.where(gap > 0, np.abs(xs - down) / np.where(gap > 0, gap, 1), 0), 0, 1
    )
    mean = out.mean(axis=0)
    sd = gap * np.sqrt(p * (1 - p) / draws)
    ok = np.abs(xs) > scale * 2.0**-14
    assert np.all((np.abs(mean - xs) <= 5 * sd + gap * 2.0**-15 + 1e-6 * scale)[ok])
    # rounded to nearest, each value is off by a quarter of a step on average;
    # the mean of the stochastic draws by some hundredths (their noise)
    g = ok & (gap > 0)
    nearest_bias = np.mean(np.abs(near - xs)[g] / gap[g])
    assert nearest_bias > 0.2
    assert np.mean(np.abs(mean - xs)[g] / gap[g]) < nearest_bias / 10


def _ema_roots(state_dtype, c, steps):
    tx = rj.scale_by_rms(0.999, state_dtype=state_dtype)

    def step(state, _):
        return tx.update(c, state)[1], None

    state = jax.jit(lambda s: jax.lax.scan(step, s, length=steps)[0])(tx.init(c))
    return np.asarray(rj.diagnostics.find_states(state)[""].rms, np.float64)


@pytest.mark.parametrize(
    ("dtype", "frozen", "tolerance"),
    [
        pytest.param("bfloat16", 0.5, 0.03, marks=pytest.mark.slow),
        ("float16", 0.15, 0.01),
        ("int8", None, 0.08),
    ],
)
def test_an_ema_at_decay_0999_no_longer_freezes(dtype, frozen, tolerance) -> None:
    """The EMA of a constant's square at decay 0.999 over 6000 steps: the
    float64 run reaches the constant (to 0.25 %); rounded to nearest in 16
    bits the root stops where 0.1 % of the gap is below half an ulp (bfloat16
    at ~0.4 of it); stochastically rounded, 95 % of the weights are within
    the issue's 3 % of float64 in 16 bits (5 % in 8 bits, whose gap is 3-6 %
    of a value), all within ``tolerance``, and the median within a tenth of
    it."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        c = jnp.asarray(10 ** rng.uniform(-2, 0, 4096), jnp.float32)
        steps = 6000
        reference = _ema_roots(jnp.float64, c, steps)
        rounded = _ema_roots(SR(dtype, key=3), c, steps) / reference - 1
        assert np.percentile(np.abs(rounded), 95) < (0.05 if dtype == "int8" else 0.03)
        assert np.abs(rounded).max() < tolerance
        assert abs(np.median(rounded)) < tolerance / 10
        if frozen is not None:
            nearest = _ema_roots(dtype, c, steps) / reference - 1
            assert np.median(nearest) < -frozen


_problem, _loss = regression_problem, regression_loss


def _run(tx, steps, params=None, state=None):
    p0, x, y = _problem()
    params = p0 if params is None else params
    state = tx.init(params) if state is None else state

    def step(carry, _):
        params, state = carry
        updates, state = tx.update(jax.grad(_loss)(params, x, y), state, params)
        return (optax.apply_updates(params, updates), state), None

    return jax.jit(lambda c: jax.lax.scan(step, c, length=steps)[0])((params, state))


def _is_rounded(x) -> bool:
    return isinstance(x, rj.RoundedLeaf)


def _bound(x, dtype, signed, bits) -> np.ndarray:
    """``x`` stored with every noise value ``bits``: 0 rounds down, 2**16-1 up."""
    noise = jnp.full(x.shape, bits, jnp.uint32)
    if dtype == "int8":
        stored = _blockwise.decode(_blockwise.encode(x, signed, noise=noise))
    else:
        stored = _rounding.to_float(x, jnp.dtype(dtype), noise)
    return np.asarray(stored, np.float64)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["bfloat16", "int8"])
def test_adam_step_is_the_float32_step_rounded_to_a_neighbour(dtype) -> None:
    params, x, y = _problem()
    low, ref = rj.adam(0.01, state_dtype=SR(dtype)), rj.adam(0.01)
    state = low.init(params)
    for _ in range(4):
        grads = jax.grad(_loss)(params, x, y)
        u, new = jax.jit(low.update)(grads, state, params)
        floats = jax.tree.map(
            lambda a: (
                a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else a
            ),
            _state_dtype.decoded(state),
        )
        ref_u, ref_new = ref.update(grads, floats, params)
        for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(ref_u), strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
        # each stored leaf is one of the two values of its storage around the
        # float32 step's (all noise bits 0 rounds down, all 1 up)
        for old, got, want in zip(
            jax.tree.leaves(state, is_leaf=_is_rounded),
            jax.tree.leaves(new, is_leaf=_is_rounded),
            jax.tree.leaves(ref_new),
            strict=True,
        ):
            if not isinstance(old, rj.RoundedLeaf):
                np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
                continue
            value = np.asarray(_state_dtype.decoded(got), np.float64)
            signed = isinstance(old.value, _blockwise.SignedBlocks)
            down, up = (_bound(want, dtype, signed, b) for b in (0, 2**16 - 1))
            # (inclusive, up to float32 ulps of the scales: XLA fuses the
            # two steps differently, and a value a few ulps across a code
            # may take the next one, rarely)
            lo, hi = np.minimum(down, up), np.maximum(down, up)
            inside = (value >= lo - 1e-5 * np.abs(lo)) & (
                value <= hi + 1e-5 * np.abs(hi)
            )
            assert np.mean(~inside) <= 0.002
        state, params = new, optax.apply_updates(params, u)


@pytest.mark.slow
def test_keys_live_in_the_state_so_runs_repeat_and_differ_by_key() -> None:
    tx = rj.rmsprop(0.01, state_dtype=SR("bfloat16", key=7))
    a, b = _run(tx, 20), _run(tx, 20)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    other = _run(rj.rmsprop(0.01, state_dtype=SR("bfloat16", key=8)), 20)
    assert not np.array_equal(a[1][0].rms["w"].value, other[1][0].rms["w"].value)
    # ten steps, then ten more from the stored state: the same as twenty
    half = _run(tx, 10)
    resumed = _run(tx, 10, *half)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(x, y)


def test_state_layout_and_bytes() -> None:
    params = {"w": jnp.zeros((64, 128)), "b": jnp.zeros(128)}
    state = rj.adam(0.01, state_dtype=SR("int8")).init(params)
    rms, mu = state[0].rms.rms, state[0].inner.trace  # scale_by_rms, momentum
    assert isinstance(rms["w"], rj.RoundedLeaf)
    assert isinstance(rms["w"].value, _blockwise.UnsignedBlocks)
    assert isinstance(mu["w"].value, _blockwise.SignedBlocks)
    assert rms["b"].dtype == jnp.float32  # below the 8-bit threshold
    assert rms["w"].key.dtype == jnp.uint32
    # different keys per field and leaf
    assert not np.array_equal(rms["w"].key, mu["w"].key)
    rms = rj.rmsprop(0.01, state_dtype=SR(jnp.bfloat16)).init(params)[0].rms
    assert rms["b"].value.dtype == jnp.bfloat16
    assert not np.array_equal(rms["b"].key, rms["w"].key)


@pytest.mark.slow
def test_vmap_over_hyperparameters_and_diagnostics() -> None:
    params, x, y = _problem()
    rates = jnp.array([0.01, 0.003])

    def final(rate):
        return _run(rj.rmsprop(rate, state_dtype=SR("bfloat16")), 5)

    batched = jax.vmap(final)(rates)
    for i, rate in enumerate(rates):
        one = final(rate)
        # vmapped arithmetic differs by float32 ulps, which may flip a rare
        # rounding: the keys are equal, parameters and roots close
        params_one, state_one = one
        np.testing.assert_allclose(params_one["w"], batched[0]["w"][i], atol=1e-4)
        leaf = state_one[0].rms["w"]
        np.testing.assert_array_equal(leaf.key, batched[1][0].rms["w"].key[i])
        np.testing.assert_allclose(
            np.asarray(leaf.value, np.float32),
            np.asarray(batched[1][0].rms["w"].value[i], np.float32),
            rtol=2**-6,
        )
    (found,) = rj.diagnostics.find_states(batched[1]).values()
    assert found.rms["w"].dtype == jnp.float32


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (SR("float32"), "stochastic rounding stores in one of"),
        (SR("int4"), "did you mean"),
        (SR("bfloat16", key="seed"), "int seed, a jax.random.key(...) or None"),
    ],
)
def test_bad_stochastic_rounding_is_refused(value, fragment) -> None:
    with pytest.raises(ValueError, match="state_dtype") as info:
        rj.rmsprop(0.01, state_dtype=value)
    assert fragment in str(info.value)


def test_with_accumulator_dtype_is_refused() -> None:
    with pytest.raises(ValueError, match="pass only `state_dtype`"):
        rj.scale_by_rms(state_dtype=SR("bfloat16"), accumulator_dtype=jnp.float32)


# Keyless stochastic rounding (`key=None`): bits hashed from each new value,
# its position and its field; the state laid out as the plain storage's.


@pytest.mark.parametrize("dtype", ["bfloat16", "int8"])
def test_keyless_state_is_laid_out_as_the_plain_storage(dtype) -> None:
    params = {"w": jnp.ones((64, 128)), "b": jnp.ones(128)}
    for factory in (rj.adam, rj.rmsprop, rj.adagrad):
        keyless = factory(0.01, state_dtype=SR(dtype, key=None)).init(params)
        plain = factory(0.01, state_dtype=dtype).init(params)
        assert jax.tree.structure(keyless) == jax.tree.structure(plain)
        for a, b in zip(jax.tree.leaves(keyless), jax.tree.leaves(plain), strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)  # init rounds to nearest


@pytest.mark.slow
def test_keyless_runs_repeat_and_resume_exactly() -> None:
    tx = rj.rmsprop(0.01, state_dtype=SR("bfloat16", key=None))
    a, b = _run(tx, 20), _run(tx, 20)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    half = _run(tx, 10)
    resumed = _run(tx, 10, *half)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(x, y)
    nearest = _run(rj.rmsprop(0.01, state_dtype="bfloat16"), 20)
    assert not np.array_equal(a[1][0].rms["w"], nearest[1][0].rms["w"])


@pytest.mark.slow
def test_keyless_step_stores_a_neighbour_of_the_float32_step_unbiased() -> None:
    """One scale_by_rms step from a bfloat16 state: every stored root is one
    of the two bfloat16 neighbours of the float32 step's root, and over
    65536 weights the mean rounding error is below 2 % of the mean gap
    (the definition of stochastic rounding: the value in expectation)."""
    n = 65536
    rng = np.random.default_rng(0)
    # roots exactly representable in bfloat16, so the step from them is exact
    old = jnp.asarray(rng.uniform(1, 2, n), jnp.bfloat16).astype(jnp.float32)
    g = jnp.asarray(rng.normal(size=n), jnp.float32)
    ref = rj.scale_by_rms(0.999)
    want = np.asarray(ref.update(g, ref.init(old)._replace(rms=old))[1].rms)
    tx = rj.scale_by_rms(0.999, state_dtype=SR("bfloat16", key=None))
    state = tx.init(old)._replace(rms=old.astype(jnp.bfloat16))
    got = np.asarray(jax.jit(tx.update)(g, state)[1].rms, np.float64)
    down, up = _neighbours(want.astype(np.float64), ml_dtypes.bfloat16)
    assert np.all((got == down) | (got == up))
    gap = np.mean(up - down)
    assert abs(np.mean(got - want)) < 0.02 * gap
