"""The compiled part of a sweep: one ``jax.jit`` program for every group of
every optimizer, each group ``vmap over runs (vmap over starts (vmap over
restarts (scan over steps)))`` of :func:`rmsprop_jax.sweep._train.train`,
merged back into the output order inside the program.

With a mesh, each group's runs axis is split over the mesh's devices with
``shard_map`` (every device runs its block of runs, ``chunk_size`` at a time
where asked), the padding rows are dropped and the outputs are replicated on
every device (an all-gather), so every process holds the whole result.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from rmsprop_jax.sweep import _compile
from rmsprop_jax.sweep._spec import GroupSpec, Program
from rmsprop_jax.sweep._train import train

_traces = 0  # how many times the program was traced (= compiled) in this process


def traces() -> int:
    return _traces


def _run_group(
    program: Program,
    spec: GroupSpec,
    hyper: dict[str, jax.Array],
    column: jax.Array,
    shared: jax.Array,
    keys: jax.Array | None,
    plans: jax.Array | None,
    params: Any,
    data: Any,
) -> dict[str, Any]:
    """Every run of one group (or of one device's block of it): leading axes
    (runs, [starts], [restarts]). ``column`` holds each run's landscape index
    (used with ``per_run_landscape``, else ``shared`` is)."""
    options = program.options

    def one_run(row: tuple[dict[str, jax.Array], jax.Array, jax.Array]) -> dict:
        hyper_row, index, witness = row
        if not program.per_run_landscape:
            index = shared

        def one_start(start: Any, witness: jax.Array) -> dict[str, Any]:
            def one_restart(
                key: jax.Array | None, idx: jax.Array | None, witness: jax.Array
            ) -> dict:
                return train(
                    options,
                    program.losses,
                    spec,
                    hyper_row,
                    index,
                    key,
                    idx,
                    start,
                    data,
                    witness,
                )

            if options.restarts == 1:
                key, idx = (None if x is None else x[0] for x in (keys, plans))
                return one_restart(key, idx, witness)
            return jax.vmap(one_restart)(keys, plans, witness)

        if options.starts:
            return jax.vmap(one_start)(params, witness)
        return one_start(params, witness)

    # batched by every vmap below: see _train.train
    n_starts = jax.tree.leaves(params)[0].shape[:1] if options.starts else ()
    n_restarts = (options.restarts,) if options.restarts > 1 else ()
    witness = jnp.zeros((column.shape[0], *n_starts, *n_restarts), jnp.bool_)
    rows = (hyper, column, witness)
    if options.chunk_size is None:
        return jax.vmap(one_run)(rows)
    return jax.lax.map(one_run, rows, batch_size=options.chunk_size)


def _sharded_group(
    program: Program, one_kernel: bool, spec: GroupSpec, *args: Any
) -> dict[str, Any]:
    """:func:`_run_group` over the mesh: each device its block of runs (as one
    XLA:CPU kernel with ``one_kernel``: see :mod:`._compile`)."""
    mesh = program.options.mesh
    if mesh is None:
        return _run_group(program, spec, *args)
    (axis,) = mesh.axis_names
    runs, replicated = P(axis), P()

    def block(*a: Any) -> dict[str, Any]:
        if one_kernel:  # each device's block of runs as one kernel
            return _compile.one_kernel_call(_run_group, program, spec, *a)
        return _run_group(program, spec, *a)

    body = jax.shard_map(
        block,
        mesh=mesh,
        in_specs=(runs, runs, *(replicated,) * 5),
        out_specs=runs,
        check_vma=False,
    )
    out = body(*args)
    return jax.tree.map(lambda x: x[: spec.size], out)  # the padding dropped


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


def _replicated(program: Program, tree: Any) -> Any:
    mesh = program.options.mesh
    if mesh is None:
        return tree
    return jax.lax.with_sharding_constraint(tree, NamedSharding(mesh, P()))


def _run(
    program: Program,
    one_kernel: bool,
    hyper: tuple[dict[str, jax.Array], ...],
    columns: tuple[jax.Array, ...],
    shared: jax.Array,
    keys: jax.Array | None,
    plans: jax.Array | None,
    params: Any,
    data: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every group of every optimizer, merged into the output order.

    ``hyper`` holds one dict of traced columns per group, ``columns`` one
    int32 column of landscape indices per group (padded to a multiple of the
    mesh's size, like ``hyper``); ``shared`` is the one landscape index of
    every run without ``per_run_landscape``. ``keys`` ``(restarts,)`` and
    ``plans`` ``(restarts, steps, batch_size)`` are None when not needed.

    ``one_kernel`` (static) compiles each device's block of runs as one
    XLA:CPU kernel, where the runs are split over a mesh; without a mesh the
    compiler tags the whole program instead (:mod:`._compile`).

    Returns ``(outputs, states)``: ``states`` is ``{"merged": tree}`` when
    every group's state has the same layout, else ``{"by_group": tuple}``.
    """
    global _traces
    _traces += 1
    outputs = [
        _sharded_group(
            program,
            one_kernel,
            spec,
            hyper[i],
            columns[i],
            shared,
            keys,
            plans,
            params,
            data,
        )
        for i, spec in enumerate(program.groups)
    ]
    states = [out.pop("final_state") for out in outputs]
    merged = _replicated(program, _merge(program, outputs))
    if _same_layout(states):
        return merged, {"merged": _replicated(program, _merge(program, states))}
    by_group = tuple(
        s
        if spec.expand is None
        else jax.tree.map(lambda x, e=spec.expand: x[np.asarray(e)], s)
        for spec, s in zip(program.groups, states, strict=True)
    )
    return merged, {"by_group": _replicated(program, by_group)}


run = _compile.Compiler(_run)
"""``run(program, *args)``: :func:`_run` compiled by the sweep's compiler
policy (:mod:`rmsprop_jax.sweep._compile`)."""
