"""The small problem and optimizer table shared by the integration tests.

A full-batch linear regression (so that Rprop, a full-batch method, applies)
with a kernel and a bias, whose minimum loss is 0, and every optimizer of the
library with hyperparameters that reach :data:`TARGET` within :data:`STEPS`
steps from zero parameters. :func:`train` runs them on it through the
library's trajectory engine.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib
from collections.abc import Callable, Mapping
from functools import partial
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np
import optax
from helpers import assert_trees_close as assert_trees_close  # the one closeness check

import rmsprop_jax as rj
from rmsprop_jax.sweep import ConfigResult, sweep

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
NAMES = sorted(OPTIMIZERS)


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
    optimizers: Mapping[str, Callable[[], optax.GradientTransformation]],
    steps: int,
    *,
    loss_fn: Callable = loss,
    dtype=jnp.float64,
) -> dict[str, ConfigResult]:
    """Every optimizer of ``optimizers`` (name -> factory of no arguments) for
    ``steps`` full-batch steps from :func:`init_params`, through the library's
    trajectory engine :func:`rmsprop_jax.sweep.sweep`: one compiled program.

    ``loss_fn(params, x, y)``'s value is passed as ``value=`` (iRprop+ needs
    it, the others ignore it). No divergence threshold: a run is frozen only
    if it leaves the finite numbers. Returns ``{name: ConfigResult}`` (final
    params and state, the losses before each step).
    """
    with jax.enable_x64(jnp.dtype(dtype) == jnp.float64):
        result = sweep(
            dict(optimizers),
            lambda params, batch: loss_fn(params, *batch),
            init_params(dtype),
            steps=steps,
            data=data(dtype),
            divergence_threshold=None,
        )
    # On the host, so that picking each run out compiles nothing.
    fields = ("losses", "final_loss", "diverged", "diverged_at")
    fields += ("final_params", "final_states")
    host = jax.device_get({f: getattr(result, f) for f in fields})
    result = dataclasses.replace(result, **host)
    return {name: result[i] for i, name in enumerate(result.optimizers)}


def train_all(steps: int, **options) -> dict[str, ConfigResult]:
    """Every optimizer of :data:`OPTIMIZERS` as :func:`make` builds it, for
    ``steps`` steps through :func:`train` (``options``: its keywords)."""
    return train({name: partial(make, name) for name in NAMES}, steps, **options)


def load_example(name: str) -> ModuleType:
    """Imports ``examples/<name>.py`` (the examples are scripts, not a package)."""
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"examples.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def join_on_loopback(
    example: ModuleType,
    process_id: int,
    port: int,
    processes: int,
    local_devices: int,
    *,
    heartbeat: int = 10,
) -> None:
    """Joins JAX's distributed runtime on 127.0.0.1 through
    ``examples/multiprocess.py`` (``example``), after saying which copy of
    the library this process runs; the multi-process test workers' start."""
    import rmsprop_jax

    print(f"process {process_id}: rmsprop_jax from {rmsprop_jax.__file__}", flush=True)
    example.check_loopback()
    example.initialize(
        process_id,
        processes,
        f"{example.LOOPBACK}:{port}",
        local_devices=local_devices,
        heartbeat_timeout_seconds=heartbeat,
        initialization_timeout=60,
    )
