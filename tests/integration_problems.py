"""The small problem and optimizer table shared by the integration tests.

A full-batch linear regression (so that Rprop, a full-batch method, applies)
with a kernel and a bias, whose minimum loss is 0, and every optimizer of the
library with hyperparameters that reach :data:`TARGET` within :data:`STEPS`
steps from zero parameters.
"""

from __future__ import annotations

import importlib.util
import pathlib
from collections.abc import Callable
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np
import optax
from helpers import assert_trees_close as assert_trees_close  # the one closeness check

import rmsprop_jax as rj

STEPS = 200
TARGET = 1e-2  # the initial loss is 2.31

# name -> (factory, keyword arguments); rprop is iRprop+, which needs value=.
OPTIMIZERS: dict[str, tuple[Callable, dict]] = {
    "rmsprop": (rj.rmsprop, {"learning_rate": 0.02, "decay": 0.9}),
    "rprop": (rj.rprop, {"learning_rate": 0.01, "variant": "irprop+"}),
    "adagrad": (rj.adagrad, {"learning_rate": 0.3}),
    "sgd": (rj.sgd, {"learning_rate": 0.1, "momentum": 0.9}),
    "sign_sgd": (rj.sign_sgd, {"learning_rate": 0.02}),
    "adam": (rj.adam, {"learning_rate": 0.03}),
    "laprop": (rj.laprop, {"learning_rate": 0.03}),
}


def make(name: str, **overrides) -> optax.GradientTransformation:
    factory, kwargs = OPTIMIZERS[name]
    return factory(**{**kwargs, **overrides})


def data(dtype=jnp.float32, rows: int = 64) -> tuple[jax.Array, jax.Array]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4))
    w = np.random.default_rng(1).normal(size=(4, 2))
    y = x @ w + np.array([0.5, -1.0])
    return jnp.asarray(x, dtype), jnp.asarray(y, dtype)


def init_params(dtype=jnp.float32) -> dict:
    return {"kernel": jnp.zeros((4, 2), dtype), "bias": jnp.zeros(2, dtype)}


def loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    return 0.5 * jnp.mean((x @ params["kernel"] + params["bias"] - y) ** 2)


def train(
    tx: optax.GradientTransformation,
    params: dict,
    steps: int,
    batch: tuple[jax.Array, jax.Array] | None = None,
    state=None,
    loss_fn: Callable = loss,
    value_fn: Callable | None = None,
    grads_hook: Callable | None = None,
) -> tuple[dict, object, jax.Array]:
    """``steps`` full-batch steps in one ``lax.scan``; returns params, state, losses.

    The loss (or ``value_fn`` if given) is passed as ``value=`` to every
    optimizer (iRprop+ needs it, the others ignore it); ``grads_hook`` maps the
    gradients before the update. Call it under ``jax.jit``.
    """
    x, y = data() if batch is None else batch
    state = tx.init(params) if state is None else state

    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(loss_fn)(params, x, y)
        if value_fn is not None:
            value = value_fn(params, x, y)
        if grads_hook is not None:
            grads = grads_hook(grads)
        updates, state = tx.update(grads, state, params, value=value)
        return (optax.apply_updates(params, updates), state), value

    (params, state), losses = jax.lax.scan(step, (params, state), length=steps)
    return params, state, losses


def load_example(name: str) -> ModuleType:
    """Imports ``examples/<name>.py`` (the examples are scripts, not a package)."""
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"examples.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
