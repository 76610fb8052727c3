"""The compiled part of a sweep: ``jit(vmap over configs (vmap over restarts
(scan over steps)))``, with divergence detection and freezing.

One :class:`Program` (static) plus the traced hyperparameter columns gives one
XLA program; ``jax.jit`` caches it, so repeating a sweep with new values of the
same shape does not trace again.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rmsprop_jax import _tree


@dataclasses.dataclass(frozen=True)
class Program:
    """Everything static about one group of configurations (hashable)."""

    make_tx: Callable[..., optax.GradientTransformation]
    loss_fn: Callable[..., jax.Array]
    static: tuple[tuple[str, Any], ...]  # switches passed as Python values
    steps: int
    batch_size: int | None  # None: every step sees all of `data`
    restarts: int
    init_params: Callable[[jax.Array], Any] | None  # None: fixed params
    chunk_size: int | None  # None: one vmap over every configuration
    threshold: float | None  # loss > threshold * |loss_0| counts as divergence
    shape: tuple[int, ...]  # the leading axes of the outputs (configurations)


def float_dtype() -> jnp.dtype:
    """The dtype hyperparameters and recorded losses use: float32, or float64
    under ``jax_enable_x64``; never the parameters' dtype."""
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64))


def int_dtype() -> jnp.dtype:
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.int64))


def batch_plan(
    key: jax.Array, restarts: int, n: int, steps: int, batch_size: int
) -> np.ndarray:
    """``(restarts, steps, batch_size)`` int32 sample indices, made on the host.

    Restart ``r`` draws a fresh permutation of the ``n`` samples every epoch
    (NumPy's ``default_rng`` seeded with the key's bits and ``r``) and cuts it
    into batches; the last partial batch of an epoch is dropped. Host-side, so
    the compiled program holds no sort and no PRNG: it compiles in a fraction
    of the time, and the batches are the same on every backend.
    """
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    bits = [int(b) for b in np.asarray(key).ravel()]
    per_epoch = n // batch_size
    epochs = -(-steps // per_epoch)
    plans = []
    for r in range(restarts):
        rng = np.random.default_rng([*bits, r])
        perms = np.stack([rng.permutation(n) for _ in range(epochs)])
        plans.append(perms[:, : per_epoch * batch_size].reshape(-1, batch_size)[:steps])
    return np.stack(plans).astype(np.int32)


def _like(new: Any, old: Any) -> Any:
    """``new`` cast leaf by leaf to the dtypes of ``old`` (a fixed scan carry)."""
    return jax.tree.map(
        lambda a, b: jnp.asarray(a).astype(jnp.asarray(b).dtype), new, old
    )


def _loss_args(data: Any, idx: jax.Array | None) -> tuple[Any, ...]:
    if data is None:
        return ()
    if idx is None:
        return (data,)
    return (jax.tree.map(lambda x: x[idx], data),)


def train(
    program: Program,
    hyper: dict[str, jax.Array],
    key: jax.Array | None,
    idx: jax.Array | None,
    params: Any,
    data: Any,
) -> dict[str, Any]:
    """One configuration, one restart: ``steps`` updates under ``lax.scan``.

    ``key`` initialises the params (with ``init_params``); ``idx`` holds the
    ``(steps, batch_size)`` sample indices (with ``batch_size``).
    """
    if program.init_params is not None:
        params = program.init_params(key)
    tx = program.make_tx(**dict(program.static), **hyper)  # traced hyperparameters
    tx = optax.with_extra_args_support(tx)
    value_and_grad = jax.value_and_grad(program.loss_fn)

    def step(carry, xs):
        params, state, alive, loss0, diverged_at = carry
        t, batch_idx = xs
        loss, grads = value_and_grad(params, *_loss_args(data, batch_idx))
        updates, new_state = tx.update(grads, state, params, value=loss)
        new_params = _like(optax.apply_updates(params, updates), params)
        loss = jnp.asarray(loss, float_dtype())
        loss0 = jnp.where(t == 0, loss, loss0)
        ok = alive & jnp.isfinite(loss) & _tree.all_finite(new_params)
        if program.threshold is not None:
            ok &= ~(loss > program.threshold * jnp.abs(loss0))
        diverged_at = jnp.where(alive & ~ok, t, diverged_at)
        params = _tree.select(ok, new_params, params)
        state = _tree.select(ok, _like(new_state, state), state)
        recorded = jnp.where(alive, loss, jnp.nan)
        return (params, state, ok, loss0, diverged_at), recorded

    carry = (
        params,
        tx.init(params),
        jnp.array(True),
        jnp.zeros((), float_dtype()),
        jnp.array(-1, jnp.int32),
    )
    steps = jnp.arange(program.steps, dtype=jnp.int32)
    carry, losses = jax.lax.scan(step, carry, (steps, idx))
    params, state, alive, _, diverged_at = carry
    final = jnp.asarray(program.loss_fn(params, *_loss_args(data, None)), float_dtype())
    return {
        "losses": losses,
        "final_loss": jnp.where(alive, final, jnp.nan),
        "diverged": ~alive,
        "diverged_at": diverged_at,
        "final_params": params,
        "final_state": state,
    }


@functools.partial(jax.jit, static_argnums=0)
def run(
    program: Program,
    hyper: dict[str, jax.Array],
    keys: jax.Array | None,
    plans: jax.Array | None,
    params: Any,
    data: Any,
) -> dict[str, Any]:
    """Every configuration of one group: leading axes (*shape, [restarts]).

    ``keys`` ``(restarts,)`` and ``plans`` ``(restarts, steps, batch_size)``
    are None when not needed.
    """

    def one_config(hyper_row: dict[str, jax.Array]) -> dict[str, Any]:
        hyper_row = {k: v for k, v in hyper_row.items() if k != "__index__"}

        def one_restart(key: jax.Array | None, idx: jax.Array | None) -> dict:
            return train(program, hyper_row, key, idx, params, data)

        if program.restarts == 1:
            first = [None if x is None else x[0] for x in (keys, plans)]
            return one_restart(*first)
        return jax.vmap(one_restart)(keys, plans)

    if program.chunk_size is None:
        out = jax.vmap(one_config)(hyper)
    else:
        out = jax.lax.map(one_config, hyper, batch_size=program.chunk_size)
    return jax.tree.map(lambda x: x.reshape(*program.shape, *x.shape[1:]), out)
