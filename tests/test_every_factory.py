"""Properties every public factory must have, checked on all of them
(:mod:`catalog`): a fresh state can be donated to a jitted step, trees without
array leaves are accepted, and gradients with respect to the learning rate and
the decay are finite and match central finite differences in float64."""

from __future__ import annotations

import catalog
import helpers
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rmsprop_jax import optimizers, transforms

IDS = sorted(catalog.ALL)


def test_catalog_covers_every_public_factory():
    names = [*optimizers.__all__, *helpers.PRESET_FACTORIES, "skip_nonfinite"]
    names += [n for n in transforms.__all__ if n[0].islower()]
    missing = [n for n in names if not any(k.startswith(n) for k in catalog.ALL)]
    assert not missing, f"add these factories to tests/catalog.py: {missing}"


def _params() -> dict:
    return {
        "w": jnp.array([1.0, -2.0, 0.5]),
        "m": jnp.array([[0.3, -0.7], [1.5, 0.2]]),
        "dead": jnp.array([0.4, -0.1]),  # no part of the loss: its gradient is 0
    }


def _loss(params: dict) -> jax.Array:
    w, m = params["w"], params["m"]
    return (
        jnp.sum(w**2 + 0.1 * w**4 + jnp.sin(w))
        + jnp.sum(m**2) * 0.5
        + jnp.sum(jnp.tanh(m @ w[:2]))
    )


def _step(tx: optax.GradientTransformation, entry: catalog.Entry):
    def step(params, state):
        value, grads = jax.value_and_grad(_loss)(params)
        extra = {"value": value} if entry.value else {}
        updates, state = tx.update(grads, state, params, **extra)
        return optax.apply_updates(params, updates), state

    return step


def _buffers(tree) -> list[int]:
    return [x.unsafe_buffer_pointer() for x in jax.tree.leaves(tree)]


@pytest.mark.slow
@pytest.mark.parametrize("jit_init", [False, True], ids=["eager_init", "jit_init"])
@pytest.mark.parametrize("name", IDS)
def test_a_fresh_state_can_be_donated(name, jit_init):
    """The README's fast path, ``jax.jit(step, donate_argnums=(0, 1))``, on
    a state straight from ``init``: no two leaves may share a buffer."""
    entry = catalog.ALL[name]
    tx = entry.make(entry.lr, entry.decay if entry.decay is not None else 0.9)
    params = _params()
    state = (jax.jit(tx.init) if jit_init else tx.init)(params)
    pointers = _buffers(state)
    assert len(pointers) == len(set(pointers)), "state leaves share a buffer"
    step = jax.jit(_step(tx, entry), donate_argnums=(0, 1))
    for _ in range(3):
        params, state = step(params, state)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))


EMPTY_TREES = {
    "dict": {},
    "tuple": (),
    "none_leaf": {"a": None},
    "nested_empty": {"a": {}, "b": [None]},
}


@pytest.mark.parametrize("tree", sorted(EMPTY_TREES))
@pytest.mark.parametrize("name", IDS)
def test_trees_without_array_leaves(name, tree):
    entry = catalog.ALL[name]
    tx = entry.make(entry.lr, entry.decay if entry.decay is not None else 0.9)
    params = EMPTY_TREES[tree]
    extra = {"value": jnp.asarray(1.0)} if entry.value else {}
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(params, state, params, **extra)
    assert jax.tree.structure(updates) == jax.tree.structure(params)


@pytest.mark.parametrize("name", IDS)
def test_an_empty_group_of_multi_transform_and_masked(name):
    """A label no parameter carries, and an all-False mask."""
    entry = catalog.ALL[name]
    tx = entry.make(entry.lr, entry.decay if entry.decay is not None else 0.9)
    params = _params()
    extra = {"value": _loss(params)} if entry.value else {}
    grads = jax.grad(_loss)(params)
    labels = jax.tree.map(lambda _: "sgd", params)
    split = optax.multi_transform({"sgd": optax.sgd(0.1), "unused": tx}, labels)
    masked = optax.masked(tx, jax.tree.map(lambda _: False, params))
    for outer in (split, masked):
        state = outer.init(params)
        updates, state = outer.update(grads, state, params, **extra)
        assert jax.tree.structure(updates) == jax.tree.structure(params)


STEPS = 4
# Compositions whose finite differences are not the reference (see below):
# the same composition over optax's own optimizer is.
OPTAX_TWINS = {
    "multi_steps": lambda lr, d: optax.MultiSteps(
        optax.adam(lr, b2=d), every_k_schedule=2
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", IDS)
def test_meta_gradients_match_finite_differences(name, x64):
    """d loss(w_k) / d lr and / d decay through k updates: finite, and equal
    to central differences in float64 (a weight whose gradient is exactly 0
    is part of the tree: centred RMSprop's square root of a zero variance
    made these NaN)."""
    entry = catalog.ALL[name]
    params = _params()

    def final_loss(lr, decay):
        tx = entry.make(lr, decay)
        step = _step(tx, entry)
        p, state = params, tx.init(params)
        for _ in range(STEPS):
            p, state = step(p, state)
        return _loss(p)

    decay = entry.decay if entry.decay is not None else 0.9
    point = (jnp.float64(entry.lr), jnp.float64(decay))
    loss = jax.jit(final_loss)
    grads = jax.jit(jax.grad(final_loss, argnums=(0, 1)))(*point)
    checked = [0] if entry.decay is None else [0, 1]
    if name in OPTAX_TWINS:
        # optax.MultiSteps' own derivative in the learning rate parts from
        # central differences (6.6e-5 relative with optax.adam inside too):
        # the reference is the same composition over optax's optimizer.
        twin = OPTAX_TWINS[name]

        def twin_loss(lr, decay):
            tx = twin(lr, decay)
            step = _step(tx, entry)
            p, state = params, tx.init(params)
            for _ in range(STEPS):
                p, state = step(p, state)
            return _loss(p)

        want = jax.jit(jax.grad(twin_loss, argnums=(0, 1)))(*point)
        for i in checked:
            assert np.isfinite(grads[i]), (name, i, grads[i])
            np.testing.assert_allclose(grads[i], want[i], rtol=1e-9)
        return
    for i in checked:
        h = 1e-6 * float(point[i])
        up = list(point)
        down = list(point)
        up[i] = point[i] + h
        down[i] = point[i] - h
        expected = (loss(*up) - loss(*down)) / (2 * h)
        got = grads[i]
        assert np.isfinite(got), (name, i, got)
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-7)
