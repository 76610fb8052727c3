"""The sweep itself: a grid, grouped by static switches, run as compiled programs."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rmsprop_jax.sweep import _program
from rmsprop_jax.sweep._grid import Grid, as_grid, check_against, is_static
from rmsprop_jax.sweep._result import Group, SweepResult

_TRACED = object()  # marks a traced (swept as an array) value in a group key


def _check_count(name: str, value: Any, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}.")


def _is_init_fn(params: Any) -> bool:
    """A callable with no array leaves is an initialiser ``key -> params``."""
    leaves = jax.tree.leaves(params)
    return callable(params) and not any(
        isinstance(x, jax.Array | np.ndarray) for x in leaves
    )


def _validate(
    make_tx: Callable,
    static: dict[str, Any],
    columns: dict[str, list[Any]],
    configs: list[dict],
    indices: list[int],
) -> None:
    """Runs the factory's own checks on concrete values (traced ones cannot be
    checked): one call with the columns as NumPy arrays (this library's checks
    are element-wise), or, if that fails, one call per configuration to name
    the one at fault."""
    try:
        make_tx(**static, **{n: np.asarray(v) for n, v in columns.items()})
        return
    except Exception:  # the per-configuration calls below explain it
        pass
    for i in indices:
        try:
            make_tx(**configs[i])
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"Configuration {i} {configs[i]} is invalid: {err}"
            ) from err


def _data_size(data: Any, batch_size: int | None) -> int | None:
    if data is None:
        if batch_size is not None:
            raise ValueError("`batch_size` needs `data` to draw batches from.")
        return None
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree.leaves(data)}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            "Every leaf of `data` must be an array with the same leading (sample) "
            f"axis; got leading sizes {sorted(map(str, sizes))}."
        )
    n = sizes.pop()
    if batch_size is not None and batch_size > n:
        raise ValueError(f"`batch_size` {batch_size} exceeds the {n} samples.")
    return n


def _column(values: list[Any]) -> jax.Array:
    """Traced values keep their own precision: float32 (float64 under x64), or
    int for all-int columns; never the parameters' dtype."""
    if all(isinstance(v, int) for v in values):
        return jnp.asarray(np.asarray(values, _program.int_dtype()))
    # Rounded once, on the host, from the Python floats (no device conversion).
    return jnp.asarray(np.asarray(values, _program.float_dtype()))


def _shaped(shape: tuple[int, ...]) -> Callable[[jax.Array], jax.Array]:
    return lambda x: x.reshape(*shape, *x.shape[1:])


def _merge(parts: list[Any], order: np.ndarray) -> Any:
    inverse = jnp.asarray(np.argsort(order))
    return jax.tree.map(lambda *xs: jnp.concatenate(xs)[inverse], *parts)


def _same_layout(trees: list[Any]) -> bool:
    def layout(tree):
        leaves, treedef = jax.tree.flatten(tree)
        return treedef, [(x.shape[1:], x.dtype) for x in leaves]

    return all(layout(t) == layout(trees[0]) for t in trees[1:])


def sweep(
    make_tx: Callable[..., optax.GradientTransformation],
    loss_fn: Callable[..., jax.Array],
    params: Any,
    grid: Grid | Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
    *,
    steps: int,
    data: Any = None,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    restarts: int = 1,
    chunk_size: int | None = None,
    divergence_threshold: float | None = 1e3,
) -> SweepResult:
    r"""Trains every configuration of ``grid`` for ``steps`` steps, at once.

    For each configuration ``c`` and restart ``r``:
    ``tx = make_tx(**c)``; ``steps`` times: ``loss, g = value_and_grad(loss_fn)
    (params[, batch])``, ``u, state = tx.update(g, state, params, value=loss)``,
    ``params = optax.apply_updates(params, u)``. All of it is one
    ``jax.jit(jax.vmap(...))`` per group of static switches, with
    ``lax.scan`` over the steps; numeric hyperparameters are traced arrays of
    their own precision (float32, or float64 under x64), independent of the
    parameters' dtype, so with bfloat16 parameters ``decay=0.999`` stays 0.999.

    A run *diverges* at the first step whose loss is NaN/Inf or exceeds
    ``divergence_threshold * |loss_0|``, or whose update would make a
    parameter non-finite. Its parameters and state then stop updating (they
    stay finite: an update that would make them non-finite is discarded), its
    later losses are recorded as NaN, and nothing of it reaches the other runs:
    they equal what each gives on its own.

    Args:
      make_tx: an optimizer factory (any of this library's, ``optax.adam``, or
        any callable returning a gradient transformation) whose keyword
        arguments are the grid's names. Fix other arguments with
        ``functools.partial``.
      loss_fn: ``loss_fn(params)``, or ``loss_fn(params, batch)`` with
        ``data``; returns a scalar.
      params: the initial parameter pytree, or a function ``key -> params``
        (called once per restart with its own key).
      grid: a :class:`Grid` from :func:`grid`, :func:`zipped` or
        :func:`table` (or ``*`` of them); a mapping means :func:`grid`, a list
        of dicts :func:`table`. Numbers are swept as traced arrays; bools,
        strings and None are static switches.
      steps: number of updates.
      data: optional pytree of arrays sharing a leading sample axis, passed to
        ``loss_fn``: whole, or in batches with ``batch_size``.
      batch_size: draw batches of this size from ``data``, without replacement
        within each epoch (a fresh permutation per epoch; the last partial
        batch is dropped). The batch plan is made on the host with NumPy,
        seeded by ``key`` and the restart number, so that the compiled program
        holds no PRNG. It depends on the restart, not on the configuration:
        configurations are compared on the same batches.
      key: PRNG key; needed when ``params`` is a function or with
        ``batch_size``. Restart ``r`` initialises with
        ``params(jax.random.split(key, restarts)[r])``.
      restarts: number of random restarts per configuration (vmapped too); a
        restart axis follows the grid axes in the results when > 1.
      chunk_size: run the configurations ``chunk_size`` at a time
        (``lax.map(..., batch_size=chunk_size)``: still one program) to bound
        memory; None runs them all side by side.
      divergence_threshold: the blow-up factor over the initial loss; None
        detects only non-finite values.

    Returns:
      A :class:`SweepResult`: ``losses`` ``(*grid.shape, [restarts,] steps)``,
      ``final_loss``, ``diverged``, ``final_params``, ``final_states``,
      ``best()``, ``table()``, ``to_csv()``.

    Raises:
      ValueError: a name ``make_tx`` does not take (the message lists its
        parameters), an empty axis, zipped lists of unequal length, a
        non-numeric value for a numeric parameter, a configuration the factory
        rejects, or bad ``steps``/``batch_size``/``restarts``/``key``.

    Examples:
      >>> import jax.numpy as jnp
      >>> import rmsprop_jax as rj
      >>> from rmsprop_jax.sweep import grid, sweep
      >>> loss = lambda w: 3 * w[0] ** 2 + 10 * w[1] ** 2
      >>> result = sweep(rj.rmsprop, loss, jnp.array([-15.0, 20.0]),
      ...                grid(decay=[0.5, 0.9], learning_rate=[0.5, 5.0, 1e3]),
      ...                steps=100)
      >>> result.losses.shape
      (2, 3, 100)
      >>> result.best().config
      {'decay': 0.9, 'learning_rate': 0.5}
      >>> print(result.diverged)
      [[False False  True]
       [False False  True]]
    """
    g = as_grid(grid)
    _check_count("steps", steps)
    _check_count("restarts", restarts)
    _check_count("batch_size", batch_size, optional=True)
    _check_count("chunk_size", chunk_size, optional=True)
    if divergence_threshold is not None and not divergence_threshold > 0:
        raise ValueError(
            f"`divergence_threshold` must be > 0 or None, got {divergence_threshold!r}."
        )
    kinds = check_against(make_tx, g)
    configs = g.configs()
    samples = _data_size(data, batch_size)
    init_params = params if _is_init_fn(params) else None
    random = init_params is not None or batch_size is not None
    if restarts > 1 and not random:
        raise ValueError(
            "`restarts` > 1 needs randomness: pass `params` as a function of a "
            "key, or `data` with `batch_size`."
        )
    if random and key is None:
        raise ValueError("A random initialisation or `batch_size` needs `key`.")
    keys = jax.random.split(key, restarts) if init_params is not None else None
    plans = None
    if batch_size is not None:
        plans = _program.batch_plan(key, restarts, samples, steps, batch_size)
        plans = jnp.asarray(plans)

    groups: dict[tuple, list[int]] = {}
    for i, config in enumerate(configs):
        group_key = tuple(
            (n, v if is_static(kinds[n], v) else _TRACED) for n, v in config.items()
        )
        groups.setdefault(group_key, []).append(i)

    outputs, group_info = [], []
    for group_key, indices in groups.items():
        static = tuple((n, v) for n, v in group_key if v is not _TRACED)
        columns = {
            n: [configs[i][n] for i in indices] for n, v in group_key if v is _TRACED
        }
        _validate(make_tx, dict(static), columns, configs, indices)
        hyper = {n: _column(values) for n, values in columns.items()}
        hyper["__index__"] = jnp.asarray(np.asarray(indices, np.int32))  # never empty
        program = _program.Program(
            make_tx=make_tx,
            loss_fn=loss_fn,
            static=static,
            steps=int(steps),
            batch_size=batch_size,
            restarts=int(restarts),
            init_params=init_params,
            chunk_size=chunk_size,
            threshold=None
            if divergence_threshold is None
            else float(divergence_threshold),
            shape=g.shape if len(groups) == 1 else (len(indices),),
        )
        fixed = None if init_params is not None else params
        outputs.append(_program.run(program, hyper, keys, plans, fixed, data))
        group_info.append(Group(dict(static), np.asarray(indices)))

    states = [o.pop("final_state") for o in outputs]
    by_group = not _same_layout(states)
    if len(groups) == 1:  # shaped like the grid inside the compiled program
        merged, final_states = outputs[0], states[0]
    else:
        order = np.concatenate([group.indices for group in group_info])
        merged = jax.tree.map(_shaped(g.shape), _merge(outputs, order))
        final_states = tuple(states)
        if not by_group:
            final_states = jax.tree.map(_shaped(g.shape), _merge(states, order))
    return SweepResult(
        grid=g,
        losses=merged["losses"],
        final_loss=merged["final_loss"],
        diverged=merged["diverged"],
        diverged_at=merged["diverged_at"],
        final_params=merged["final_params"],
        final_states=final_states,
        groups=tuple(group_info),
        restarts=int(restarts),
        states_by_group=by_group,
    )
