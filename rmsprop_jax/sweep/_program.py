"""The compiled part of a sweep: one ``jax.jit`` program for every group of
every optimizer, each group ``vmap over runs (vmap over starts (vmap over
restarts (scan over steps)))``, with divergence detection, freezing and
per-step records.

One :class:`Program` (static, hashable) plus the traced hyperparameter
columns gives one XLA program; ``jax.jit`` caches it, so repeating a sweep
with new values of the same shapes does not trace again.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rmsprop_jax import _tree
from rmsprop_jax.sweep import _records

try:  # both in jax 0.10; without them every program compiles as it is
    from jax.experimental.xla_metadata import set_xla_metadata
    from jax.extend.core import jaxprs_in_params
except ImportError:  # pragma: no cover
    set_xla_metadata = jaxprs_in_params = None  # type: ignore[assignment]

_traces = 0  # how many times the program was traced (= compiled) in this process


def traces() -> int:
    return _traces


def _key(fn: Any) -> Any:
    """A structural key for a callable: ``functools.partial`` objects built
    anew with the same function and arguments compare equal."""
    if isinstance(fn, functools.partial):
        try:
            keywords = tuple(sorted(fn.keywords.items()))
            key = ("partial", _key(fn.func), fn.args, keywords)
            hash(key)
            return key
        except TypeError:  # unhashable arguments: identity
            return fn
    return fn


class Fn:
    """A callable compared by :func:`_key` (a static argument of ``jit``)."""

    __slots__ = ("fn", "_key")

    def __init__(self, fn: Callable) -> None:
        self.fn, self._key = fn, _key(fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fn) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)


@dataclasses.dataclass(frozen=True)
class GroupSpec:
    """One optimizer with one set of static switches (hashable)."""

    make_tx: Fn
    static: tuple[tuple[str, Any], ...]  # switches passed as Python values
    size: int  # number of runs (configurations x landscapes) in the group


@dataclasses.dataclass(frozen=True)
class Program:
    """Everything static about one sweep call (hashable)."""

    groups: tuple[GroupSpec, ...]
    losses: tuple[Fn, ...]  # the landscapes; one for a plain loss function
    per_run_landscape: bool  # a landscape index per run, else one for all
    order: tuple[int, ...] | None  # concatenated group runs -> output order
    shape: tuple[int, ...]  # leading output axes (optimizer, landscape, grid)
    steps: int
    batch_size: int | None  # None: every step sees all of `data`
    restarts: int
    starts: bool  # params carry a leading axis of start points
    init_params: Fn | None  # None: fixed params
    chunk_size: int | None  # None: one vmap over every run of a group
    threshold: float | None  # loss > threshold * |loss_0| counts as divergence
    record: tuple[str, ...]
    record_every: int


def float_dtype() -> jnp.dtype:
    """The dtype hyperparameters and recorded losses use: float32, or float64
    under ``jax_enable_x64``; never the parameters' dtype."""
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64))


def int_dtype() -> jnp.dtype:
    return jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.int64))


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


def _nan_unless(keep: jax.Array, tree: Any) -> Any:
    return jax.tree.map(lambda x: jnp.where(keep, x, jnp.nan).astype(x.dtype), tree)


def _landscape(program: Program, grad: bool) -> Callable:
    """``f(index, params, *args)``: the loss (and gradient) of landscape
    ``index``; a ``lax.switch`` over the landscapes when there are several."""

    def branch(fn: Fn) -> Callable:
        def value(params: Any, *args: Any) -> jax.Array:
            return jnp.asarray(fn(params, *args), float_dtype())

        return jax.value_and_grad(value) if grad else value

    branches = [branch(fn) for fn in program.losses]
    if len(branches) == 1:
        return lambda index, params, *args: branches[0](params, *args)
    return lambda index, params, *args: jax.lax.switch(index, branches, params, *args)


def train(
    program: Program,
    spec: GroupSpec,
    hyper: dict[str, jax.Array],
    landscape: jax.Array,
    key: jax.Array | None,
    idx: jax.Array | None,
    params: Any,
    data: Any,
) -> dict[str, Any]:
    """One run: ``steps`` updates under ``lax.scan``.

    ``key`` initialises the params (with ``init_params``); ``idx`` holds the
    ``(steps, batch_size)`` sample indices (with ``batch_size``).
    """
    if program.init_params is not None:
        params = program.init_params(key)
    made = spec.make_tx(**dict(spec.static), **hyper)  # traced hyperparameters
    tx = optax.with_extra_args_support(made)
    value_and_grad = _landscape(program, grad=True)
    every = program.record_every
    n_records = _records.record_count(program.steps, every)

    def step(carry, batch_idx):
        params, state, alive, loss0, diverged_at, buffer, t, curve = carry
        loss, grads = value_and_grad(landscape, params, *_loss_args(data, batch_idx))
        updates, new_state = tx.update(grads, state, params, value=loss)
        new_params = _like(optax.apply_updates(params, updates), params)
        loss0 = jnp.where(t == 0, loss, loss0)
        ok = alive & jnp.isfinite(loss) & _tree.all_finite(new_params)
        if program.threshold is not None:
            ok &= ~(loss > program.threshold * jnp.abs(loss0))
        diverged_at = jnp.where(alive & ~ok, t, diverged_at)
        recorded = {}
        if program.record:
            recorded = _records.record_step(
                program.record,
                loss=loss,
                params=params,
                grads=grads,
                updates=updates,
                state=new_state,
                optimizer=made,
                updates_so_far=t + 1,
            )
            recorded = {
                name: _nan_unless(ok if _records.is_post_update(name) else alive, x)
                for name, x in recorded.items()
            }
        params = _tree.select(ok, new_params, params)
        state = _tree.select(ok, _like(new_state, state), state)
        if every > 1 and program.record:  # slot n_records: a discarded row
            slot = jnp.where(t % every == 0, t // every, n_records)
            buffer = jax.tree.map(
                lambda b, x: jax.lax.dynamic_update_index_in_dim(b, x, slot, 0),
                buffer,
                recorded,
            )
            recorded = {}
        curve = jax.lax.dynamic_update_index_in_dim(
            curve, jnp.where(alive, loss, jnp.nan), t, 0
        )
        carry = (params, state, ok, loss0, diverged_at, buffer, t + 1, curve)
        return carry, recorded

    state = tx.init(params)
    buffer = {}
    if every > 1 and program.record:
        shapes = jax.eval_shape(
            lambda: _records.record_step(
                program.record,
                loss=jnp.zeros((), float_dtype()),
                params=params,
                grads=params,
                updates=params,
                state=state,
                optimizer=made,
                updates_so_far=jnp.ones((), jnp.int32),
            )
        )
        buffer = jax.tree.map(
            lambda s: jnp.full((n_records + 1, *s.shape), jnp.nan, s.dtype), shapes
        )
    carry = (
        params,
        state,
        jnp.array(True),
        jnp.zeros((), float_dtype()),
        jnp.array(-1, jnp.int32),
        buffer,
        jnp.zeros((), jnp.int32),
        jnp.zeros(program.steps, float_dtype()),
    )
    carry, records = jax.lax.scan(step, carry, idx, length=program.steps)
    params, state, alive, _, diverged_at, buffer, _, losses = carry
    if every > 1 and program.record:
        records = jax.tree.map(lambda b: b[:n_records], buffer)
    final = _landscape(program, grad=False)(landscape, params, *_loss_args(data, None))
    return {
        "losses": losses,
        "final_loss": jnp.where(alive, final, jnp.nan),
        "diverged": ~alive,
        "diverged_at": diverged_at,
        "final_params": params,
        "records": records,
        "final_state": state,
    }


def _run_group(
    program: Program,
    spec: GroupSpec,
    hyper: dict[str, jax.Array],
    landscapes: jax.Array,
    keys: jax.Array | None,
    plans: jax.Array | None,
    params: Any,
    data: Any,
) -> dict[str, Any]:
    """Every run of one group: leading axes (runs, [starts], [restarts])."""

    def one_run(row: tuple[dict[str, jax.Array], jax.Array]) -> dict[str, Any]:
        hyper_row, landscape = row
        if not program.per_run_landscape:
            landscape = landscapes

        def one_start(start: Any) -> dict[str, Any]:
            def one_restart(key: jax.Array | None, idx: jax.Array | None) -> dict:
                return train(program, spec, hyper_row, landscape, key, idx, start, data)

            if program.restarts == 1:
                first = [None if x is None else x[0] for x in (keys, plans)]
                return one_restart(*first)
            return jax.vmap(one_restart)(keys, plans)

        if program.starts:
            return jax.vmap(one_start)(params)
        return one_start(params)

    column = landscapes if program.per_run_landscape else jnp.zeros(spec.size)
    if program.chunk_size is None:
        return jax.vmap(one_run)((hyper, column))
    return jax.lax.map(one_run, (hyper, column), batch_size=program.chunk_size)


def _same_layout(trees: list[Any]) -> bool:
    def layout(tree):
        leaves, treedef = jax.tree.flatten(tree)
        return treedef, [(x.shape[1:], x.dtype) for x in leaves]

    return all(layout(t) == layout(trees[0]) for t in trees[1:])


def _merge(program: Program, parts: list[Any]) -> Any:
    """Concatenated group outputs in output order, shaped ``program.shape``."""

    def merge(*xs: jax.Array) -> jax.Array:
        x = xs[0] if len(xs) == 1 else jnp.concatenate(xs)
        if program.order is not None:
            x = x[np.asarray(program.order)]
        return x.reshape(*program.shape, *x.shape[1:])

    return jax.tree.map(merge, *parts)


def _run(
    program: Program,
    hyper: tuple[dict[str, jax.Array], ...],
    landscapes: tuple[jax.Array, ...] | jax.Array,
    keys: jax.Array | None,
    plans: jax.Array | None,
    params: Any,
    data: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every group of every optimizer, merged into the output order.

    ``hyper`` holds one dict of traced columns per group; ``landscapes`` one
    int32 column of landscape indices per group (``per_run_landscape``) or
    one scalar index for all. ``keys`` ``(restarts,)`` and ``plans``
    ``(restarts, steps, batch_size)`` are None when not needed.

    Returns ``(outputs, states)``: ``states`` is ``{"merged": tree}`` when
    every group's state has the same layout, else ``{"by_group": tuple}``.
    """
    global _traces
    _traces += 1
    outputs = []
    for i, spec in enumerate(program.groups):
        # per_run_landscape: one column per group, else one index for all.
        column = cast(
            jax.Array, landscapes[i] if program.per_run_landscape else landscapes
        )
        outputs.append(
            _run_group(program, spec, hyper[i], column, keys, plans, params, data)
        )
    states = [out.pop("final_state") for out in outputs]
    merged = _merge(program, outputs)
    if _same_layout(states):
        return merged, {"merged": _merge(program, states)}
    return merged, {"by_group": tuple(states)}


# XLA:CPU's LLVM pipeline at level 1 instead of its default 3: 30% less
# compile time for a batched scan on Rosenbrock (13% for the MLP), the same run
# time (benchmarks/RESULTS_sweep.md). Other backends keep their defaults.
CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}

# XLA:CPU compiles every fusion of a program as a kernel of its own, at a fixed
# 12-16 ms of CPU each; a sweep of a small element-wise problem (a 2-D landscape)
# has about 25 of them, so its compilation costs several times the run. XLA:CPU
# also knows how to emit a whole called computation as one kernel -- the form
# its own small-while-loop pass gives to small loops: a `call` tagged
# `xla_cpu_small_call`, kept from inlining by `inlineable="false"`. The sweep
# asks for that form where every operation of the program is one this emitter
# handles (below) and every array of the program is small; the values are the
# same up to rounding (the arithmetic is fused differently), the compilation
# 3-4x cheaper and the run no slower (benchmarks/RESULTS_sweep.md). Level 2:
# the one kernel's loops vectorised.
ONE_KERNEL_COMPILER_OPTIONS = {"xla_backend_optimization_level": 2}
_ONE_KERNEL_TAGS = {"inlineable": "false", "xla_cpu_small_call": "true"}

# Primitives the one-kernel emitter handles: element-wise arithmetic and
# comparisons, shapes and slices, control flow, nested calls; reductions and
# scatters only in the small forms XLA:CPU rewrites before emitting (below).
_ELEMENTWISE = frozenset(
    """abs acos acosh add add_any and asin asinh atan atan2 atanh cbrt ceil clamp
    convert_element_type copy copy_p cos cosh div eq exp exp2 expm1 floor ge gt
    integer_pow is_finite le log log1p logistic lt max min mul ne neg not or pow
    rem round rsqrt select_n sign sin sinh sqrt square sub tan tanh xor""".split()
)
_STRUCTURAL = frozenset(
    """broadcast_in_dim concatenate dynamic_slice dynamic_update_slice
    expand_dims iota pad reshape rev slice split squeeze stack transpose""".split()
)
_CONTROL = frozenset(
    """closed_call cond custom_jvp_call custom_vjp_call jit pjit scan while""".split()
)
_REDUCTIONS = frozenset(
    "reduce_and reduce_max reduce_min reduce_or reduce_prod reduce_sum".split()
)
# A reduction over more elements becomes a reduction fusion, which the one
# kernel cannot hold (measured: sums over 4 elements pass, over 8 fail).
_MAX_REDUCED = 4
# Largest result (elements) of an element-wise operation in a one-kernel
# program; beyond it the thunk runtime's multi-threaded kernels may win on a
# many-core machine.
_MAX_ELEMENTS = 1 << 16


def _one_kernel_ok(jaxpr: Any) -> bool:
    """Whether every equation of ``jaxpr`` (recursively) fits one kernel."""
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name in _REDUCTIONS:
            shape = eqn.invars[0].aval.shape
            if math.prod(shape[a] for a in eqn.params["axes"]) > _MAX_REDUCED:
                return False
        elif name == "scatter":  # one window: a batched dynamic_update_slice
            indices = eqn.invars[1].aval.shape
            if math.prod(indices[:-1]) != 1:
                return False
        elif name in _ELEMENTWISE:  # the work of a step (buffers may be larger)
            if any(math.prod(v.aval.shape) > _MAX_ELEMENTS for v in eqn.outvars):
                return False
        elif not (name in _STRUCTURAL or name in _CONTROL):
            return False
        if not all(_one_kernel_ok(sub) for sub in jaxprs_in_params(eqn.params)):
            return False
    return True


_run_jit = jax.jit(_run, static_argnums=0)


def _run_untagged(program: Program, *args: Any) -> Any:
    return _run_jit(program, *args)  # inlined by XLA: the program as it is


def _run_tagged(program: Program, *args: Any) -> Any:
    return set_xla_metadata(_run_jit(program, *args), **_ONE_KERNEL_TAGS)


_run_cpu = jax.jit(
    _run_untagged, static_argnums=0, compiler_options=CPU_COMPILER_OPTIONS
)
_run_cpu_one_kernel = jax.jit(
    _run_tagged, static_argnums=0, compiler_options=ONE_KERNEL_COMPILER_OPTIONS
)
# The choice made for each program and argument shapes (which the eligibility
# depends on), most recent last; bounded, since a key holds the user's loss
# function and factories alive (jax's own caches hold them until cleared).
_one_kernel: collections.OrderedDict[Any, bool] = collections.OrderedDict()
_ONE_KERNEL_CHOICES_KEPT = 64


def _signature(program: Program, args: tuple) -> Any:
    leaves, treedef = jax.tree.flatten(args)
    shapes = tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves)
    return program, treedef, shapes


def _remember(key: Any, choice: bool) -> bool:
    _one_kernel[key] = choice
    _one_kernel.move_to_end(key)
    while len(_one_kernel) > _ONE_KERNEL_CHOICES_KEPT:
        _one_kernel.popitem(last=False)
    return choice


def run(program: Program, *args: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`_run`, jitted with the compile options of the default backend;
    on the CPU as one kernel where the program allows (traced once to see)."""
    if jax.default_backend() != "cpu":
        return _run_jit(program, *args)
    if set_xla_metadata is None:
        return _run_cpu(program, *args)
    key = _signature(program, args)
    one = _one_kernel.get(key)
    if one is None:  # the trace is cached: the calls below do not repeat it
        jaxpr = _run_jit.trace(program, *args).jaxpr.jaxpr
        one = _remember(key, _one_kernel_ok(jaxpr))
    if one:
        try:
            return _run_cpu_one_kernel(program, *args)
        except jax.errors.JaxRuntimeError as err:
            if "UNIMPLEMENTED" not in str(err):
                raise
            _remember(key, False)  # an operation the emitter lacks
    return _run_cpu(program, *args)


def batch_plan(
    key: jax.Array | None,
    restarts: int,
    n: int,
    steps: int,
    batch_size: int,
    shuffle: bool = True,
) -> np.ndarray:
    """``(restarts, steps, batch_size)`` int32 sample indices, made on the host.

    Restart ``r`` draws a fresh permutation of the ``n`` samples every epoch
    (NumPy's ``default_rng`` seeded with the key's bits and ``r``) and cuts it
    into batches; the last partial batch of an epoch is dropped. Host-side, so
    the compiled program holds no sort and no PRNG: it compiles in a fraction
    of the time, and the batches are the same on every backend. With
    ``shuffle=False`` every epoch takes the samples in their stored order
    (batch ``t`` of an epoch is samples ``t * batch_size`` to ``(t + 1) *
    batch_size - 1``) and ``key`` may be None: a data set that *is* a
    sequence (of gradients, say) is replayed as it stands, cycle after cycle.

    Examples:
      >>> import jax
      >>> from rmsprop_jax.sweep import batch_plan
      >>> batch_plan(jax.random.key(0), 2, 10, 7, 3).shape
      (2, 7, 3)
      >>> batch_plan(None, 1, 5, 6, 2, shuffle=False)[0].tolist()
      [[0, 1], [2, 3], [0, 1], [2, 3], [0, 1], [2, 3]]
    """
    per_epoch = n // batch_size
    epochs = -(-steps // per_epoch)
    if not shuffle:
        order = np.tile(np.arange(n), (epochs, 1))[:, : per_epoch * batch_size]
        plan = order.reshape(-1, batch_size)[:steps]
        return np.broadcast_to(plan, (restarts, *plan.shape)).astype(np.int32)
    if key is None:
        raise ValueError("shuffled batches need `key`; or pass `shuffle=False`.")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    bits = [int(b) for b in np.asarray(key).ravel()]
    plans = []
    for r in range(restarts):
        rng = np.random.default_rng([*bits, r])
        perms = np.stack([rng.permutation(n) for _ in range(epochs)])
        plans.append(perms[:, : per_epoch * batch_size].reshape(-1, batch_size)[:steps])
    return np.stack(plans).astype(np.int32)
