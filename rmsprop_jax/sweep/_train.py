"""The traced training of one run: ``steps`` optimizer updates under
``lax.scan``, with divergence detection, freezing and per-step records.

:func:`train` is what the compiled program vmaps over runs, start points and
restarts; it sees one run's hyperparameters as traced scalars.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rmsprop_jax.sweep import _records
from rmsprop_jax.sweep._spec import Fn, GroupSpec, Options, float_dtype


class Carry(NamedTuple):
    """The state of one run between two steps (the scan's carry)."""

    params: Any
    state: Any  # the optimizer's
    alive: jax.Array  # bool: not diverged so far
    loss0: jax.Array  # the loss at step 0 (the divergence threshold's scale)
    diverged_at: jax.Array  # int32 step of divergence, -1 while alive
    buffer: dict[str, Any]  # thinned records (record_every > 1), one spare row
    t: jax.Array  # int32 step index
    losses: jax.Array  # (steps,) loss before each update, NaN once diverged


def _plain(x: Any) -> bool:
    """Whether ``x`` is an array of a NumPy dtype that is not weakly typed:
    one a cast to its own dtype or a ``select`` leaves as it is."""
    if not isinstance(x, jax.Array):
        return False
    aval = jax.typeof(x)
    return isinstance(aval.dtype, np.dtype) and not aval.weak_type


def _like(new: Any, old: Any) -> Any:
    """``new`` cast leaf by leaf to the dtypes of ``old`` (a fixed scan carry);
    a leaf already of its dtype is kept (the cast would add nothing)."""

    def leaf(a: Any, b: Any) -> Any:
        if _plain(a) and _plain(b) and a.dtype == b.dtype:
            return a
        return jnp.asarray(a).astype(jnp.asarray(b).dtype)

    return jax.tree.map(leaf, new, old)


def _select(keep: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where the scalar ``keep`` else ``old``, leaf by leaf, in
    ``new``'s dtypes: one ``select_n`` per leaf of equal dtypes (the leaves
    of a carry), ``jnp.where`` and a cast otherwise."""

    def leaf(n: Any, o: Any) -> Any:
        if _plain(n) and _plain(o) and n.dtype == o.dtype:
            return jax.lax.select(keep, n, o)
        return jnp.where(keep, n, o).astype(jnp.result_type(n))

    return jax.tree.map(leaf, new, old)


def _all_finite(tree: Any) -> jax.Array:
    """A boolean scalar: every element of every floating leaf of ``tree`` is
    finite (``lax`` reductions; other leaves through ``jnp.isfinite``)."""
    out = jnp.asarray(True)
    for x in jax.tree.leaves(tree):
        if _plain(x) and jnp.issubdtype(x.dtype, jnp.floating):
            finite = jax.lax.is_finite(x)
        else:
            finite = jnp.isfinite(x)
        out = jax.lax.bitwise_and(
            out, jax.lax.reduce_and(finite, tuple(range(jnp.ndim(x))))
        )
    return out


def _loss_args(data: Any, idx: jax.Array | None) -> tuple[Any, ...]:
    if data is None:
        return ()
    if idx is None:
        return (data,)
    return (jax.tree.map(lambda x: x[idx], data),)


def _scalar_choice(keep: jax.Array, new: jax.Array, old: Any) -> jax.Array:
    """``new`` where ``keep`` else ``old``, for the run's own scalars (``old``
    a scalar of ``new``'s dtype, or a Python number): one ``select_n``
    instead of ``jnp.where``'s nested jitted call (less to trace and lower)."""
    return jax.lax.select(keep, new, jnp.asarray(old, new.dtype))


def _nan_unless(keep: jax.Array, tree: Any) -> Any:
    return jax.tree.map(lambda x: jnp.where(keep, x, jnp.nan).astype(x.dtype), tree)


@functools.cache
def _batched_at(levels: int) -> Callable[[Any, jax.Array], Any]:
    """``lift(tree, witness)``: ``tree`` as it is, but batched under each of
    the ``levels`` enclosing vmaps (its unbatched leaves broadcast
    along the batch axis). ``witness`` is an array batched at every level:
    it is what makes each level's batching rule run."""
    if levels == 0:
        return lambda tree, witness: tree
    outer = _batched_at(levels - 1)

    @jax.custom_batching.custom_vmap
    def lift(tree: Any, witness: jax.Array) -> Any:
        del witness
        return tree

    @lift.def_vmap
    def rule(axis_size: int, in_batched: tuple, tree: Any, witness: jax.Array):
        tree = jax.tree.map(
            lambda x, b: x if b else jnp.broadcast_to(x, (axis_size, *jnp.shape(x))),
            tree,
            in_batched[0],
        )
        return outer(tree, witness), jax.tree.map(lambda _: True, tree)

    return lift


@functools.cache
def _row_writer(levels: int, lead: int = 0) -> Callable[..., jax.Array]:
    """``write(row, value, t)``: ``row`` with ``value`` at index ``t`` of its
    last axis, under the ``levels`` enclosing vmaps (``lead`` batch axes
    already in front of ``row``'s own): one ``dynamic_update_slice`` of the
    batched buffer at ``(0, ..., 0, t)``, where ``vmap`` alone makes a
    ``scatter`` of it, whose index and bounds checks XLA:CPU compiles as
    kernels of their own. The values written are the same."""

    def plain(row: jax.Array, value: jax.Array, t: jax.Array) -> jax.Array:
        start = (np.int32(0),) * lead + (t,)
        return jax.lax.dynamic_update_slice(
            row, jax.lax.expand_dims(value, (lead,)), start
        )

    if levels == 0:
        return plain
    inner = _row_writer(levels - 1, lead + 1)

    @jax.custom_batching.custom_vmap
    def write(row: jax.Array, value: jax.Array, t: jax.Array) -> jax.Array:
        return plain(row, value, t)

    @write.def_vmap
    def rule(
        axis_size: int,
        in_batched: tuple[bool, bool, bool],
        row: jax.Array,
        value: jax.Array,
        t: jax.Array,
    ) -> tuple[jax.Array, bool]:
        row_batched, value_batched, t_batched = in_batched
        if not row_batched:
            row = jnp.broadcast_to(row, (axis_size, *jnp.shape(row)))
        if not value_batched:
            value = jnp.broadcast_to(value, (axis_size, *jnp.shape(value)))
        if t_batched:  # a step per run: vmap's own form (a scatter)
            return jax.vmap(_row_writer(0, lead))(row, value, t), True
        return inner(row, value, t), True

    return write


@functools.lru_cache(maxsize=64)
def landscape(losses: tuple[Fn, ...], grad: bool) -> Callable:
    """``f(index, params, *args)``: the loss (and gradient) of landscape
    ``index``; a ``lax.switch`` over the landscapes when there are several.

    A ``jax.jit`` of its own, kept per ``(losses, grad)``: a program of many
    optimizer groups calls it once per group, and each call after the first
    batches the traced switch instead of tracing and differentiating every
    landscape again (the explorer's default view, 13 groups of 7 landscapes:
    0.77 s of tracing down to 0.5 s). XLA inlines the call: the same values,
    bit for bit. The last 64 landscape tuples are kept (and whatever their
    functions hold), beyond ``jax.clear_caches()``: ``landscape.cache_clear()``
    releases them."""

    def branch(fn: Fn) -> Callable:
        def value(params: Any, *args: Any) -> jax.Array:
            return jnp.asarray(fn(params, *args), float_dtype())

        return jax.value_and_grad(value) if grad else value

    branches = [branch(fn) for fn in losses]
    if len(branches) == 1:
        return jax.jit(lambda index, params, *args: branches[0](params, *args))
    return jax.jit(
        lambda index, params, *args: jax.lax.switch(index, branches, params, *args)
    )


def train(
    options: Options,
    losses: tuple[Fn, ...],
    spec: GroupSpec,
    hyper: dict[str, jax.Array],
    index: jax.Array,
    key: jax.Array | None,
    idx: jax.Array | None,
    params: Any,
    data: Any,
    witness: jax.Array,
) -> dict[str, Any]:
    """One run: ``steps`` updates under ``lax.scan``.

    ``index`` picks the landscape among ``losses``; ``key`` initialises the
    params (with ``init_params``); ``idx`` holds the ``(steps, batch_size)``
    sample indices (with ``batch_size``). ``train`` runs under one ``vmap``
    per axis of runs, starts and restarts; ``witness`` is a scalar batched
    by every one of them.
    """
    if options.init_params is not None:
        params = options.init_params(key)
    made = spec.make_tx(**dict(spec.static), **hyper)  # traced hyperparameters
    tx = optax.with_extra_args_support(made)
    value_and_grad = landscape(losses, grad=True)
    every, record = options.record_every, options.record
    n_records = _records.record_count(options.steps, every)
    levels = 1 + options.starts + (options.restarts > 1)  # the vmaps around

    def records_of(loss, params, grads, updates, state, t):
        return _records.record_step(
            record,
            loss=loss,
            params=params,
            grads=grads,
            updates=updates,
            state=state,
            optimizer=made,
            updates_so_far=t + 1,
        )

    def step(c: Carry, batch_idx: jax.Array | None) -> tuple[Carry, dict]:
        loss, grads = value_and_grad(index, c.params, *_loss_args(data, batch_idx))
        updates, new_state = tx.update(grads, c.state, c.params, value=loss)
        new_params = _like(optax.apply_updates(c.params, updates), c.params)
        loss0 = _scalar_choice(jax.lax.eq(c.t, np.int32(0)), loss, c.loss0)
        ok = jax.lax.bitwise_and(
            jax.lax.bitwise_and(c.alive, jax.lax.is_finite(loss)),
            _all_finite(new_params),
        )
        if options.threshold is not None:
            bound = jax.lax.mul(
                jax.lax.abs(loss0), np.asarray(options.threshold, loss0.dtype)
            )
            ok = jax.lax.bitwise_and(ok, jax.lax.bitwise_not(jax.lax.gt(loss, bound)))
        recorded = {}
        if record:
            recorded = records_of(loss, c.params, grads, updates, new_state, c.t)
            recorded = {
                name: _nan_unless(ok if _records.is_post_update(name) else c.alive, x)
                for name, x in recorded.items()
            }
        buffer = c.buffer
        if every > 1 and record:  # slot n_records: a discarded row
            slot = jnp.where(c.t % every == 0, c.t // every, n_records)
            buffer = jax.tree.map(
                lambda b, x: jax.lax.dynamic_update_index_in_dim(b, x, slot, 0),
                buffer,
                recorded,
            )
            recorded = {}
        new = Carry(
            params=_select(ok, new_params, c.params),
            state=_select(ok, _like(new_state, c.state), c.state),
            alive=ok,
            loss0=loss0,
            diverged_at=_scalar_choice(
                jax.lax.bitwise_and(c.alive, jax.lax.bitwise_not(ok)),
                c.t,
                c.diverged_at,
            ),
            buffer=buffer,
            t=jax.lax.add(c.t, np.int32(1)),
            losses=_row_writer(levels)(
                c.losses, _scalar_choice(c.alive, loss, jnp.nan), c.t
            ),
        )
        return new, recorded

    state = tx.init(params)
    buffer = {}
    if every > 1 and record:
        shapes = jax.eval_shape(
            lambda: records_of(
                jnp.zeros((), float_dtype()),
                params,
                params,
                params,
                state,
                jnp.zeros((), jnp.int32),
            )
        )
        buffer = jax.tree.map(
            lambda s: jnp.full((n_records + 1, *s.shape), jnp.nan, s.dtype), shapes
        )
    start = Carry(
        params=params,
        state=state,
        alive=jnp.array(True),
        loss0=jnp.zeros((), float_dtype()),
        diverged_at=jnp.array(-1, jnp.int32),
        buffer=buffer,
        t=jnp.zeros((), jnp.int32),
        losses=jnp.zeros(options.steps, float_dtype()),
    )
    # Every part of the carry but the step index batched from the start, as
    # the divergence freezing makes it after one step: scan's batching rule
    # then settles its carry in one round (else up to three: three retraces
    # of the step at each level).
    parts = start._asdict()
    t = parts.pop("t")
    start = Carry(**_batched_at(levels)(parts, witness), t=t)
    end, records = jax.lax.scan(step, start, idx, length=options.steps)
    if every > 1 and record:
        records = jax.tree.map(lambda b: b[:n_records], end.buffer)
    final = landscape(losses, grad=False)(index, end.params, *_loss_args(data, None))
    return {
        "losses": end.losses,
        "final_loss": _scalar_choice(end.alive, final, jnp.nan),
        "diverged": ~end.alive,
        "diverged_at": end.diverged_at,
        "final_params": end.params,
        "records": records,
        "final_state": end.state,
    }
