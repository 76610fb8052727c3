"""The shape of the sweep's compiled program: the loss row of every run is
written as one ``dynamic_update_slice`` of the batched buffer (no
``scatter``, whose index and bounds checks XLA:CPU compiles as kernels of
their own) under every number of enclosing vmaps, with the values of the
plain vmapped write."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmsprop_jax as rj
from rmsprop_jax.sweep import _program, _train, grid, sweep


def primitives(jaxpr) -> set[str]:
    from jax.extend.core import jaxprs_in_params

    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for sub in jaxprs_in_params(eqn.params):
            names |= primitives(sub)
    return names


def plain_write(row, value, t):
    return jax.lax.dynamic_update_slice(row, value[None], (t,))


def nested(fn, levels: int, axes: tuple):
    for _ in range(levels):
        fn = jax.vmap(fn, in_axes=axes)
    return fn


@pytest.mark.parametrize(
    "levels, value_batched, t_batched",
    [
        (lv, v, t)
        for lv, v, t in itertools.product((1, 2, 3), (True, False), (False, True))
    ],
)
def test_row_writer_writes_what_vmap_writes(levels, value_batched, t_batched):
    rng = np.random.default_rng(levels)
    sizes = (3, 2, 4)[:levels]
    row = jnp.asarray(rng.normal(size=(*sizes, 7)), jnp.float32)
    value = jnp.asarray(rng.normal(size=sizes if value_batched else ()), jnp.float32)
    t = jnp.asarray(rng.integers(0, 7, size=sizes if t_batched else ()), jnp.int32)
    axes = (0, 0 if value_batched else None, 0 if t_batched else None)
    ours = jax.jit(nested(_train._row_writer(levels), levels, axes))
    expected = nested(plain_write, levels, axes)(row, value, t)
    np.testing.assert_array_equal(np.asarray(ours(row, value, t)), expected)
    names = primitives(ours.trace(row, value, t).jaxpr.jaxpr)
    assert ("scatter" in names) == t_batched  # a shared step: no scatter


compiler = _program.run  # the sweep's compiler (conftest's `calls` spy replaces run)


def rosenbrock(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


@pytest.mark.parametrize("layout", ["runs", "starts", "restarts"])
def test_the_sweep_program_writes_its_loss_rows_without_a_scatter(calls, layout):
    """One vmap (runs), two (runs, start points) or two (runs, restarts)."""
    steps = 6
    kwargs: dict = {}
    params = jnp.array([-1.5, 2.0])
    if layout == "starts":
        params, kwargs["starts"] = None, jnp.array([[-1.5, 2.0], [0.5, 0.5]])
    if layout == "restarts":  # each restart from its own random point
        params = lambda key: jax.random.normal(key, (2,))  # noqa: E731
        kwargs.update(restarts=2, key=jax.random.key(0))
    g = grid(learning_rate=[1e-3, 1e-2, 1e4])
    result = sweep(rj.rmsprop, rosenbrock, params, g, steps=steps, **kwargs)
    program, *args = calls[-1]
    names = primitives(compiler.jit.trace(program, False, *args).jaxpr.jaxpr)
    assert "scatter" not in names
    assert "dynamic_update_slice" in names
    # every row: finite before its run's divergence step, NaN after it
    losses = np.asarray(result.losses).reshape(-1, steps)
    at = np.asarray(result.diverged_at).ravel()
    assert np.any(at >= 0) and np.any(at < 0)
    for row, d in zip(losses, at, strict=True):
        end = steps if d < 0 else d
        assert np.all(np.isfinite(row[:end]))
        assert np.all(np.isnan(row[end + 1 :]))
