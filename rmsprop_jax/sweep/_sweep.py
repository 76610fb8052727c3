"""The sweep itself: check the arguments, lay out the runs, group them by
static structure, run them as one compiled program, and shape the results."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from rmsprop_jax import _checks
from rmsprop_jax.sweep import _arguments, _batches, _devices, _program, _records
from rmsprop_jax.sweep._grid import Grid, as_grid, check_against, grid, is_static
from rmsprop_jax.sweep._result import Group, SweepResult
from rmsprop_jax.sweep._spec import (
    Fn,
    GroupSpec,
    Options,
    Program,
    float_dtype,
    int_dtype,
)

_TRACED = object()  # marks a traced (swept as an array) value in a group key
OPTIMIZER, LANDSCAPE = "optimizer", "landscape"


def compilations() -> int:
    """How many sweep programs this process has traced and compiled so far.

    A sweep compiles one program per static structure (optimizers, static
    switches, landscapes, steps, shapes of the grid, of the params and of the
    start points, what is recorded); calls that change only numbers reuse it.

    Examples:
      >>> import jax.numpy as jnp
      >>> import rmsprop_jax as rj
      >>> from rmsprop_jax.sweep import compilations, grid, sweep
      >>> loss = lambda w: jnp.sum(w**2)
      >>> _ = sweep(rj.sgd, loss, jnp.ones(2), grid(learning_rate=[0.1]), steps=3)
      >>> before = compilations()
      >>> _ = sweep(rj.sgd, loss, jnp.ones(2), grid(learning_rate=[0.2]), steps=3)
      >>> compilations() - before
      0
    """
    return _program.traces()


# --- phase 2: the runs and their groups ----------------------------------------------


def _layout(
    g: Grid, factories: dict[str, Callable], landscapes: dict[str, Callable]
) -> Grid:
    """The grid of all runs: ``[optimizer] [landscape] *g``, with ``optimizer``
    and ``landscape`` columns for the axes that exist."""
    full = g
    if len(landscapes) > 1 or "" not in landscapes:
        if LANDSCAPE in g.names:
            for value in set(g.column(LANDSCAPE)):
                if value not in landscapes:
                    hint = _checks.did_you_mean(value, list(landscapes))
                    raise ValueError(
                        f"`landscape` got {value!r}, which is not a landscape of "
                        f"`loss_fn`; choose from {', '.join(map(repr, landscapes))}."
                        f"{hint}"
                    )
        else:
            full = grid(landscape=list(landscapes)) * full
    elif LANDSCAPE in g.names:
        raise ValueError(
            "A `landscape` axis in the grid needs `loss_fn` as a mapping of named "
            "landscapes."
        )
    if "" not in factories:
        if OPTIMIZER in g.names:
            raise ValueError(
                "`optimizer` names the axis of a mapping of optimizers; it cannot "
                "be a grid axis too."
            )
        full = grid(optimizer=list(factories)) * full
    return full


class _GroupPlan(NamedTuple):
    optimizer: str
    static: tuple[tuple[str, Any], ...]
    traced: tuple[str, ...]
    indices: np.ndarray  # flat indices of its runs in the full grid


def _groups(
    full: Grid, kinds: dict[str, dict[str, set[Any] | None]]
) -> list[_GroupPlan]:
    """Runs grouped by optimizer and static switches, in order of appearance.

    Column by column: only the names that hold a static value somewhere
    split a group, so a grid of numbers is one group at the cost of a look
    at each distinct value.
    """
    runs = np.arange(len(full))
    # The optimizer axis of a mapping of factories; a single factory ("") may
    # take an argument of its own named `optimizer` (a grid axis like any other).
    mapping = "" not in kinds and OPTIMIZER in full.names
    optimizers = np.asarray(full.column(OPTIMIZER)) if mapping else None
    plans = []
    for name, own in kinds.items():
        indices = runs if optimizers is None else runs[optimizers == name]
        splitting = []  # names whose value decides the group
        for n, n_kinds in own.items():
            distinct = {(type(v), v) for v in full.column(n)}
            if any(is_static(n_kinds, v) for _, v in distinct):
                splitting.append(n)
        groups: dict[tuple, list[int]] = {}
        columns = [full.column(n) for n in splitting]
        for i in indices.tolist() if splitting else ():
            key = tuple(
                v if is_static(own[n], v) else _TRACED
                for n, v in zip(splitting, (c[i] for c in columns), strict=True)
            )
            groups.setdefault(key, []).append(i)
        for key, members in groups.items() if splitting else [((), indices)]:
            static = dict(zip(splitting, key, strict=True))
            plans.append(
                _GroupPlan(
                    name,
                    tuple(
                        (n, static[n])
                        for n in own
                        if static.get(n, _TRACED) is not _TRACED
                    ),
                    tuple(n for n in own if static.get(n, _TRACED) is _TRACED),
                    np.asarray(members, np.int64),
                )
            )
    return plans


def _validate(
    make_tx: Callable,
    plan: _GroupPlan,
    columns: dict[str, list[Any]],
    full: Grid,
) -> None:
    """Runs the factory's own checks on concrete values (traced ones cannot be
    checked): one call with the columns as NumPy arrays (this library's checks
    are element-wise), or, where that call is refused, one call per
    configuration to name the one at fault."""
    try:
        make_tx(**dict(plan.static), **{n: np.asarray(v) for n, v in columns.items()})
        return
    except (TypeError, ValueError):
        pass  # not element-wise, or a bad value: the calls below tell which
    names = [n for n, _ in plan.static] + list(plan.traced)
    for i in plan.indices.tolist():
        config = {n: full.column(n)[i] for n in full.names if n in names}
        try:
            make_tx(**config)
        except (TypeError, ValueError) as err:
            raise ValueError(f"Configuration {i} {config} is invalid: {err}") from err


def _column(values: list[Any]) -> np.ndarray:
    """Traced values keep their own precision: float32 (float64 under x64), or
    int for all-int columns; never the parameters' dtype."""
    if all(isinstance(v, int) for v in values):
        return np.asarray(values, int_dtype())
    # Rounded once, on the host, from the Python floats (no device conversion).
    return np.asarray(values, float_dtype())


def _distinct(
    full: Grid, plan: _GroupPlan, values: dict[str, list[Any]], landscape: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """The group's distinct runs where the grid has names its factory does
    not take (Adagrad in a grid over ``decay``): ``(first, inverse)``, the
    first run of each distinct configuration (in order of appearance) and
    each run's distinct one; ``(None, _)`` when every run is distinct."""
    taken = {n for n, _ in plan.static} | set(plan.traced) | {OPTIMIZER, LANDSCAPE}
    if not set(full.names) - taken:
        return None, landscape
    table = np.stack(
        [np.asarray(v, np.float64) for v in values.values()]
        + [landscape.astype(np.float64)],
        axis=1,
    )
    _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    if len(first) == len(landscape):
        return None, landscape
    appearance = np.argsort(first)
    rank = np.empty_like(appearance)
    rank[appearance] = np.arange(len(appearance))
    return first[appearance], rank[inverse.ravel()]


# --- phase 3: one program ------------------------------------------------------------


class _Call(NamedTuple):
    program: Program
    hyper: tuple[dict[str, Any], ...]  # per group, padded to the mesh
    columns: tuple[np.ndarray, ...]  # per group: landscape indices, padded
    shared: np.ndarray  # the landscape index of all runs (int32 scalar)
    groups: tuple[Group, ...]


def _build(
    full: Grid,
    plans: list[_GroupPlan],
    factories: dict[str, Callable],
    landscapes: dict[str, Callable],
    options: Options,
) -> _Call:
    names = {name: i for i, name in enumerate(landscapes)}
    if LANDSCAPE in full.names:
        index = np.asarray([names[str(v)] for v in full.column(LANDSCAPE)], np.int32)
    else:
        index = np.zeros(len(full), np.int32)
    per_run = bool(np.any(index != index[0]))
    specs, hyper, columns, groups = [], [], [], []
    position = np.empty(len(full), np.int64)  # output run -> concatenated run
    offset = 0
    for plan in plans:
        make_tx = factories[plan.optimizer]
        everything = len(plan.indices) == len(full)
        values = {
            n: list(full.column(n))
            if everything
            else [full.column(n)[i] for i in plan.indices.tolist()]
            for n in plan.traced
        }
        column = index[plan.indices]
        first, inverse = _distinct(full, plan, values, column)
        if first is not None:  # configurations that differ only in ignored names
            values = {n: [v[i] for i in first.tolist()] for n, v in values.items()}
            column = column[first]
        _validate(make_tx, plan, values, full)
        size = len(column)
        specs.append(
            GroupSpec(
                make_tx=Fn(make_tx),
                static=plan.static,
                size=size,
                expand=None if first is None else tuple(inverse.tolist()),
            )
        )
        mesh = options.mesh
        hyper.append({n: _devices.pad(_column(v), mesh) for n, v in values.items()})
        columns.append(_devices.pad(column, mesh))
        groups.append(Group(dict(plan.static), plan.indices, plan.optimizer or None))
        position[plan.indices] = offset + (
            np.arange(size) if first is None else inverse
        )
        offset += size
    identity = offset == len(full) and np.array_equal(position, np.arange(len(full)))
    program = Program(
        groups=tuple(specs),
        losses=tuple(Fn(f) for f in landscapes.values()),
        per_run_landscape=per_run,
        order=None if identity else tuple(position.tolist()),
        shape=full.shape,
        options=options,
    )
    shared = np.asarray(index[0], np.int32)
    return _Call(program, tuple(hyper), tuple(columns), shared, tuple(groups))


# --- the public function --------------------------------------------------------------


def sweep(
    make_tx: Callable[..., optax.GradientTransformation]
    | Mapping[str, Callable[..., optax.GradientTransformation]],
    loss_fn: Callable[..., jax.Array] | Mapping[str, Callable[..., jax.Array]],
    params: Any = None,
    grid: Grid
    | Mapping[str, Sequence[Any]]
    | Sequence[Mapping[str, Any]]
    | None = None,
    *,
    steps: int,
    starts: Any = None,
    record: Sequence[str] | str = (),
    record_every: int = 1,
    data: Any = None,
    batch_size: int | None = None,
    shuffle: bool = True,
    key: jax.Array | None = None,
    restarts: int = 1,
    chunk_size: int | None = None,
    divergence_threshold: float | None = 1e3,
    memory_limit: int | None = None,
    devices: Sequence[jax.Device] | jax.sharding.Mesh | None = None,
) -> SweepResult:
    r"""Trains every configuration of ``grid`` for ``steps`` steps, at once.

    For each optimizer, landscape, configuration ``c``, start point and
    restart: ``tx = make_tx(**c)``; ``steps`` times: ``loss, g =
    value_and_grad(loss_fn)(params[, batch])``, ``u, state = tx.update(g,
    state, params, value=loss)``, ``params = optax.apply_updates(params, u)``.
    All of it is one ``jax.jit`` program: each group of runs that share an
    optimizer and its static switches is a ``vmap`` of a ``lax.scan`` over the
    steps, and the groups are merged back in order inside the program.
    Numeric hyperparameters are traced arrays of their own precision (float32,
    or float64 under x64), independent of the parameters' dtype, so with
    bfloat16 parameters ``decay=0.999`` stays 0.999. A call that changes only
    numbers (hyperparameters, start points, data of the same shapes, the
    chosen landscape of the same mapping) reuses the compiled program (see
    :func:`compilations`). On the CPU, a program made only of small
    element-wise steps (a 2-D landscape, say) is compiled as one XLA kernel
    instead of one per fusion: the same values up to rounding (XLA fuses
    the arithmetic differently), 3-4x less compile time. It relies on XLA
    frontend attributes no XLA document names, so it is used only with jax
    0.10.2 up to (not including) 0.11, where a test reads the compiled module;
    with other versions, or after ``use_one_kernel(False)``, every program is
    compiled the usual way (see :func:`use_one_kernel`). To
    reuse compilations across processes, enable JAX's persistent cache
    (``jax.config.update("jax_compilation_cache_dir", path)``; it keeps only
    programs that took over ``jax_persistent_cache_min_compile_time_secs``,
    1 s by default, to compile).

    A run *diverges* at the first step whose loss is NaN/Inf or exceeds
    ``divergence_threshold * |loss_0|``, or whose update would make a
    parameter non-finite. Its parameters and state then stop updating (they
    stay finite: an update that would make them non-finite is discarded), its
    later losses and records are NaN, and nothing of it reaches the other
    runs: they equal what each gives on its own.

    With ``devices``, the runs (the flattened grid x starts x restarts) are
    split over the devices: each device trains its block of runs (padded to
    a multiple of the device count with copies of a run, which never show
    in the results) in the same one program, and every device -- every
    process, under ``jax.distributed`` -- receives the whole result. The
    values equal one device's where XLA compiles the runs alike (tested to
    rounding: XLA may fuse a block of another size differently).

    Args:
      make_tx: an optimizer factory (any of this library's, ``optax.adam``, or
        any callable returning a gradient transformation) whose keyword
        arguments are the grid's names; or a mapping ``{name: factory}`` of
        several, each receiving the grid names its signature accepts (a
        leading ``optimizer`` axis in the results). Fix other arguments with
        ``functools.partial`` (partials built anew with equal arguments do not
        recompile).
      loss_fn: ``loss_fn(params)``, or ``loss_fn(params, batch)`` with
        ``data``; returns a scalar. Or a mapping ``{name: loss_fn}`` of
        several landscapes: a grid axis named ``landscape`` (values: names of
        the mapping) selects among them, otherwise all of them form a leading
        ``landscape`` axis (after ``optimizer``). Selecting is a traced index
        into ``lax.switch``: another landscape of the same mapping does not
        recompile.
      params: the initial parameter pytree, or a function ``key -> params``
        (called once per restart with its own key); None with ``starts``.
      grid: a :class:`Grid` from :func:`grid`, :func:`zipped` or
        :func:`table` (or ``*`` of them); a mapping means :func:`grid`, a list
        of dicts :func:`table`; None one configuration of the factory's
        defaults (no grid axes). Numbers are swept as traced arrays; bools,
        strings and None are static switches, as are the numbers of a
        parameter annotated ``int`` only (``gradient_accumulation_steps``).
      steps: number of updates.
      starts: a batch of initial params, leaves ``(n_starts, *leaf.shape)``:
        a vmapped ``start`` axis after the grid axes.
      record: names of per-step quantities to keep (see :data:`RECORDABLE`):
        ``"loss"``, ``"params"``, ``"grads"`` (at the params before the
        update), ``"updates"``, and from :mod:`rmsprop_jax.diagnostics` on
        the state after the update: ``"effective_lr"`` (per parameter; Rprop's
        step sizes; the learning rate of ``sgd`` and ``sign_sgd``, which have
        no preconditioner), ``"gradient_rms"``, ``"second_moment"`` (the
        accumulator :math:`s` -- :math:`\hat s` where the optimizer corrects
        bias, the square of ``"gradient_rms"`` -- or :math:`G`),
        ``"step_size"`` (Rprop's :math:`\Delta`).
        Params-shaped quantities keep the params' pytree, NaN where an
        optimizer keeps no such quantity. ``"effective_lr"`` reads the state
        through the declaration of the transformation ``make_tx`` returns
        (:mod:`rmsprop_jax.declarations`): a factory returning one of this
        library's transformations, or decorated with
        :func:`~rmsprop_jax.declarations.declare`.
      record_every: keep steps ``0, k, 2k, ...`` (``ceil(steps / k)`` of them).
      data: optional pytree of arrays sharing a leading sample axis, passed to
        ``loss_fn``: whole, or in batches with ``batch_size``.
      batch_size: draw batches of this size from ``data``, without replacement
        within each epoch (a fresh permutation per epoch; the last partial
        batch is dropped), planned on the host by :func:`batch_plan`, seeded
        by ``key`` and the restart number: configurations are compared on the
        same batches.
      shuffle: with ``batch_size``, False takes the samples in their stored
        order, epoch after epoch (step ``t`` sees batch ``t mod (n //
        batch_size)``), and needs no ``key``: for data that is a sequence,
        such as a fixed cycle of mini-batch gradients (``loss_fn = lambda w,
        g: jnp.sum(g * w)`` makes ``g`` the gradient).
      key: PRNG key; needed when ``params`` is a function or with
        ``batch_size``. Restart ``r`` initialises with
        ``params(jax.random.split(key, restarts)[r])``.
      restarts: number of random restarts per configuration (vmapped too); a
        restart axis follows the grid (and start) axes when > 1.
      chunk_size: run the configurations of each group ``chunk_size`` at a
        time (``lax.map(..., batch_size=chunk_size)``: still one program) to
        bound memory; None runs them side by side (or chunks as needed to
        keep a recording within ``memory_limit``).
      divergence_threshold: the blow-up factor over the initial loss; None
        detects only non-finite values.
      memory_limit: bytes a recording may take on each device (the records
        of every run plus one chunk in flight). Default: half the device's
        memory when it reports it, else 4 GiB.
      devices: None for the default device; or a sequence of devices (e.g.
        ``jax.devices()``, which under ``jax.distributed`` spans every
        process) or a one-axis ``jax.sharding.Mesh``, over which the runs are
        split (``chunk_size`` and ``memory_limit`` then apply per device).
        Every process must make the same call.

    Returns:
      A :class:`SweepResult` with leading axes ``[optimizer] [landscape]
      *grid.shape [start] [restart]``: ``losses`` ``(..., steps)``,
      ``final_loss``, ``diverged``, ``diverged_at``, ``final_params``,
      ``final_states``, ``records[name]`` ``(..., ceil(steps / record_every),
      *quantity shape)``, ``devices``, ``path()``, ``best()``, ``table()``,
      ``to_csv()``.

    Raises:
      ValueError: a grid name no factory takes (with the closest names), an
        empty axis, zipped lists of unequal length, a non-numeric value for a
        numeric parameter, a configuration a factory rejects, an unknown
        landscape or record name, a recording that does not fit
        ``memory_limit``, bad ``steps``/``batch_size``/``restarts``/
        ``key``/``starts``, or ``devices`` that is empty, holds something
        other than devices, or is a mesh of more than one axis.

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

      Several optimizers and start points, recording the path:

      >>> paths = sweep({"sgd": rj.sgd, "rmsprop": rj.rmsprop}, loss, None,
      ...               grid(learning_rate=[0.01, 0.1]), steps=50,
      ...               starts=jnp.array([[1.0, 1.0], [-2.0, 0.5], [0.0, 3.0]]),
      ...               record=("params", "effective_lr"), record_every=10)
      >>> paths.optimizers, paths.records["params"].shape
      (('sgd', 'rmsprop'), (2, 2, 3, 5, 2))
    """
    _arguments.check_options(steps, restarts, batch_size, chunk_size, memory_limit)
    _arguments.check_threshold(divergence_threshold)
    mesh = _devices.mesh_of(devices)
    record = _records.check_record(record)
    record_every = _records.check_record_every(record_every, steps)
    factories = _arguments.named("optimizer", make_tx)
    landscapes = _arguments.named("landscape", loss_fn)
    g = as_grid(grid)
    kinds = check_against(factories, g, reserved=(LANDSCAPE,))
    initial = _arguments.initial(params, starts)
    samples = _arguments.check_randomness(
        initial, data, batch_size, shuffle, key, restarts
    )
    full = _layout(g, factories, landscapes)
    groups = _groups(full, kinds)
    if record:
        chunk_size = _bound_memory(
            record,
            record_every,
            initial,
            full,
            steps,
            restarts,
            chunk_size,
            memory_limit,
            _devices.size(mesh),
        )
    options = Options(
        steps=int(steps),
        batch_size=batch_size,
        restarts=int(restarts),
        starts=initial.starts is not None,
        init_params=None if initial.init_fn is None else Fn(initial.init_fn),
        chunk_size=chunk_size,
        threshold=None if divergence_threshold is None else float(divergence_threshold),
        record=record,
        record_every=record_every,
        mesh=mesh,
    )
    call = _build(full, groups, factories, landscapes, options)
    keys, plans = _random_inputs(
        initial, key, restarts, samples, steps, batch_size, shuffle
    )
    with _devices.scope(mesh):
        (hyper, columns), replicated = _devices.place(
            mesh,
            (call.hyper, call.columns),
            (call.shared, keys, plans, initial.params, data),
        )
        outputs, states = _program.run(call.program, hyper, columns, *replicated)
    return _result(full, call, outputs, states, factories, landscapes, initial)


# --- the phases sweep() is made of, in order ---------------------------------------


def _bound_memory(
    record: tuple[str, ...],
    record_every: int,
    initial: _arguments.Initial,
    full: Grid,
    steps: int,
    restarts: int,
    chunk_size: int | None,
    memory_limit: int | None,
    n_devices: int,
) -> int | None:
    """The chunk size that keeps the recording within ``memory_limit`` on
    each device (every device holds every run's records at the end, and its
    own chunk in flight)."""
    if initial.init_fn is not None:
        one = jax.eval_shape(initial.init_fn, jax.random.key(0))
    elif initial.starts:
        one = jax.tree.map(lambda x: x[0], initial.params)
    else:
        one = initial.params
    per_record = _records.bytes_per_record(record, one, float_dtype())
    replicas = (initial.starts or 1) * restarts
    return _records.plan_memory(
        {n: b * replicas for n, b in per_record.items()},
        runs=len(full),
        per_device=-(-len(full) // n_devices),
        records=_records.record_count(steps, record_every),
        steps=steps,
        record_every=record_every,
        memory_limit=memory_limit or _records.default_memory_limit(),
        chunk_size=chunk_size,
    )


def _random_inputs(
    initial: _arguments.Initial,
    key: Any,
    restarts: int,
    samples: int | None,
    steps: int,
    batch_size: int | None,
    shuffle: bool,
) -> tuple[Any, Any]:
    """The restarts' initialisation keys and batch plans (None when unused)."""
    keys = jax.random.split(key, restarts) if initial.init_fn is not None else None
    plans = None
    if batch_size is not None:
        assert samples is not None  # phase 1 checked the data
        plans = _batches.batch_plan(
            key, restarts, samples, steps, batch_size, shuffle=shuffle
        )
    return keys, plans


def _result(
    full: Grid,
    call: _Call,
    outputs: dict[str, Any],
    states: dict[str, Any],
    factories: dict[str, Callable],
    landscapes: dict[str, Callable],
    initial: _arguments.Initial,
) -> SweepResult:
    options = call.program.options
    return SweepResult(
        grid=full,
        losses=outputs["losses"],
        final_loss=outputs["final_loss"],
        diverged=outputs["diverged"],
        diverged_at=outputs["diverged_at"],
        final_params=outputs["final_params"],
        final_states=states.get("merged", states.get("by_group")),
        groups=call.groups,
        restarts=options.restarts,
        states_by_group="by_group" in states,
        records=outputs["records"],
        optimizers=tuple(n for n in factories if n),
        landscapes=tuple(n for n in landscapes if n),
        starts=initial.starts,
        record_every=options.record_every,
        devices=_devices.used(options.mesh, outputs["losses"]),
    )
