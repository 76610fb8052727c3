"""Every number the explorer shows, computed by the library.

The paths come from one call of the trajectory engine
:func:`rmsprop_jax.sweep.sweep` per view: a mapping of every optimizer of the
catalogue (:data:`._catalog.FACTORIES`; the page only selects which to show),
the built-in landscapes as a mapping selected by a ``landscape`` grid axis (a
traced index into ``lax.switch``: switching landscapes reuses the program), the
start point and every hyperparameter as traced arrays, always
:data:`MAX_STEPS` steps (the ``steps`` control only cuts the view), and
``record=`` for the per-step params, gradients, updates and diagnostics. All
paths of a view are one compiled program; moving a slider or the start,
showing or hiding an optimizer never recompiles. A typed formula's program
is data for one compiled evaluator (the sweep's data, with the noise): a new
formula compiles nothing either; :func:`formula` keeps the last
:data:`FORMULAS_KEPT` parsed.

The amplification map uses :func:`rmsprop_jax.scale_by_rms`, vmapped over a
grid of gradient pairs; the (beta, eta) map, the beta = 0 / 0.9 comparison
and the learning-rate sensitivity are one ``sweep`` call each.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import rmsprop_jax as rj
from rmsprop_jax.explorer._catalog import FACTORIES, FIELDS, OPTIMIZERS
from rmsprop_jax.explorer._state import MAX_STEPS, MLP, SCHEDULES, State
from rmsprop_jax.explorer._surface import CUSTOM_BOX as CUSTOM_BOX
from rmsprop_jax.explorer._surface import CUSTOM_START as CUSTOM_START
from rmsprop_jax.explorer._surface import FORMULAS_KEPT as FORMULAS_KEPT
from rmsprop_jax.explorer._surface import Surface as Surface
from rmsprop_jax.explorer._surface import contour_grid as contour_grid
from rmsprop_jax.explorer._surface import formula as formula
from rmsprop_jax.explorer._surface import formulas_kept as formulas_kept
from rmsprop_jax.explorer._surface import gradient_scale as gradient_scale
from rmsprop_jax.explorer._surface import landscape_data as landscape_data
from rmsprop_jax.explorer._surface import program_names, selected_name, values
from rmsprop_jax.explorer._surface import start_of as start_of
from rmsprop_jax.explorer._surface import surface as surface
from rmsprop_jax.sweep import RECORDABLE, grid, sweep, zipped

AMPLIFICATION_BETAS = (0.0, 0.5, 0.9, 0.99)
"""The small multiples of the amplification map."""

SWEEP_DECAYS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999)
SWEEP_LEARNING_RATES = tuple(float(f"{x:.3g}") for x in np.logspace(-4, 0, 13))
"""The (beta, eta) grid of the final-loss map (values the sliders can take)."""

DIVERGENCE_THRESHOLD = 1e6
"""A run diverges when its loss exceeds this factor times its initial loss."""

QUANTITIES = tuple(q for q in RECORDABLE if q not in ("loss", "step_size"))
"""What :func:`paths` records at each step, each of shape (steps, 2): the
engine's recordable quantities but the loss and Rprop's step size (its
effective learning rate)."""


def _grid_values(state: State, landscape: str) -> dict[str, list[Any]]:
    """The single configuration of a view, by the page's names (each factory
    takes those its optimizer reads), with the schedule's index and horizon
    (the steps shown)."""
    out: dict[str, list[Any]] = {"landscape": [landscape]}
    for field in FIELDS:
        out[field] = [getattr(state, field)]
    out["schedule"] = [SCHEDULES.index(state.schedule)]
    out["horizon"] = [state.steps]
    return out


def _taken(factories: Any) -> set[str]:
    names = {"landscape"}
    for factory in factories:
        names |= set(inspect.signature(factory).parameters)
    return names


def _mapping(surf: Surface) -> dict[str, Callable]:
    """The program's landscapes, each ``loss(w, batch)`` of the sweep's data
    (see :func:`step_data`)."""
    return {
        name: _noisy(fn) for name, fn in zip(program_names(surf), surf.fns, strict=True)
    }


def _landscape_name(surf: Surface) -> str:
    return selected_name(surf)


class Paths(NamedTuple):
    """Every optimizer's run of one view, over :data:`MAX_STEPS` steps.

    ``params[i, t]`` is :math:`w(t)` (``t = 0 .. MAX_STEPS``), ``loss[i, t]``
    the loss there; ``grads``, ``updates``, ``effective_lr``, ``gradient_rms``
    and ``second_moment`` ``[i, t]`` belong to update ``t`` (from :math:`w(t)`
    to :math:`w(t+1)`). After a divergence at step ``k`` (``diverged_at[i]``;
    -1 if none) everything is NaN except ``params[i, k]`` and ``loss[i, k]``,
    the last finite point.
    """

    optimizers: tuple[str, ...]
    params: np.ndarray  # (n, MAX_STEPS + 1, 2)
    loss: np.ndarray  # (n, MAX_STEPS + 1)
    grads: np.ndarray  # (n, MAX_STEPS, 2)
    updates: np.ndarray
    effective_lr: np.ndarray
    gradient_rms: np.ndarray
    second_moment: np.ndarray
    diverged_at: np.ndarray  # (n,) int


def hyperparameters(state: State, optimizer: str) -> dict[str, Any]:
    """The factory arguments of ``optimizer`` in ``state`` (all of them)."""
    return {
        "optimizer": optimizer,
        "learning_rate": state.learning_rate,
        "sgd_learning_rate": state.sgd_learning_rate,
        "decay": state.decay,
        "eps": state.eps,
        "momentum": state.momentum,
        "eps_in_sqrt": state.eps_in_sqrt,
    }


NOISE_SEED = 0
"""The seed of the gradient noise (the same noise for every view)."""


@functools.lru_cache(maxsize=64)
def _noisy(fn: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    """``fn(w, data)`` plus the linear term ``n . w`` of this step's noise
    sample ``n``: its gradient is the exact one plus ``n`` (exactly it for
    ``n = 0``). The step's batch is ``(n, data)``, each with a leading axis
    of one (see :func:`step_data`).

    The function is a ``jax.jit`` of its own: a view's program holds every
    landscape in a ``lax.switch`` in each of the 13 optimizers' runs, and a
    jitted landscape is traced, differentiated and batched once, not once per
    optimizer (the default view's program: 2.7 s of CPU to trace and load
    from the persistent cache, against 5.5 s; the same values, bit for bit:
    XLA inlines the call)."""

    def loss(w: jax.Array, batch: tuple[jax.Array, Any]) -> jax.Array:
        noise, data = batch
        data = jax.tree.map(lambda x: x[0], data)
        return fn(w, data) + jnp.vdot(noise[0], w)

    loss.__name__ = loss.__qualname__ = f"noisy_{getattr(fn, '__name__', 'loss')}"
    return jax.jit(loss)


def noise_samples(state: State, surf: Surface) -> np.ndarray:
    """The gradient noise of each step, ``(MAX_STEPS, 2)`` float32: ``noise``
    times :func:`gradient_scale` times standard normals of seed
    :data:`NOISE_SEED` (zeros for ``noise = 0``)."""
    normal = np.random.default_rng(NOISE_SEED).standard_normal((MAX_STEPS, 2))
    scale = state.noise * gradient_scale(surf) if state.noise else 0.0
    return (scale * normal).astype(np.float32)


def step_data(state: State, surf: Surface) -> tuple[np.ndarray, Any]:
    """The sweep's data, one sample per step: the gradient noise
    :func:`noise_samples` ``(MAX_STEPS, 2)`` and the landscape's data
    :func:`landscape_data` repeated (``c``, the valley's coefficient of
    :math:`w_1^2`, ``(MAX_STEPS,)``; or a typed formula's program, each
    array with a leading ``MAX_STEPS`` axis): none of it changes the program."""
    data = jax.tree.map(
        lambda x: np.broadcast_to(x, (MAX_STEPS, *np.shape(x))), landscape_data(surf)
    )
    return noise_samples(state, surf), data


MLP_STEPS = (200, MAX_STEPS)
"""The run lengths of the ``mlp-digits`` views: the shortest that covers the
steps shown (each step of the network's loss costs what a thousand of a
2-D formula do; the runs beyond the shown steps are not computed)."""


def computed_steps(state: State) -> int:
    """How many steps the runs of ``state`` are computed for: :data:`MAX_STEPS`
    (the ``steps`` control only cuts the view), on ``mlp-digits`` the first of
    :data:`MLP_STEPS` that covers ``state.steps``."""
    if state.landscape != MLP:
        return MAX_STEPS
    return next(n for n in MLP_STEPS if n >= state.steps)


def _padded(x: np.ndarray, axis: int, length: int) -> np.ndarray:
    """``x`` with NaN appended along ``axis`` up to ``length``."""
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, length - x.shape[axis])
    return np.pad(x.astype(np.float32), widths, constant_values=np.nan)


def _view_sweep(
    factories: Any, state: State, surf: Surface, configurations: Any, **record: Any
) -> Any:
    """One ``sweep`` of ``factories`` over ``configurations`` on the view's
    landscape, start and gradient noise, for :func:`computed_steps` steps."""
    return sweep(
        factories,
        _mapping(surf),
        np.asarray(state.start, np.float32),
        configurations,
        steps=computed_steps(state),
        divergence_threshold=DIVERGENCE_THRESHOLD,
        data=step_data(state, surf),
        batch_size=1,  # one data row per step, in order
        shuffle=False,
        **record,
    )


def _run_all(state: State) -> Paths:
    """Every optimizer of the catalogue on ``state``'s landscape, start and
    hyperparameters: one ``sweep`` call, one compiled program per landscape
    set (whichever optimizers the page shows). The gradient noise is the
    sweep's data, one sample per step: another level changes no program."""
    surf = surface(state)
    names = tuple(FACTORIES)
    steps = computed_steps(state)
    result = _view_sweep(
        dict(FACTORIES),
        state,
        surf,
        grid(**_grid_values(state, _landscape_name(surf))),
        record=("loss", *QUANTITIES),
    )
    n = len(names)
    records, final_loss, final_params, diverged_at = jax.device_get(
        (result.records, result.final_loss, result.final_params, result.diverged_at)
    )
    out = {q: np.asarray(records[q]).reshape(n, steps, 2) for q in QUANTITIES}
    final_params = np.asarray(final_params).reshape(n, 2)
    diverged_at = np.asarray(diverged_at, np.int64).reshape(n)
    params = np.concatenate([out.pop("params"), final_params[:, None]], axis=1)
    loss = np.concatenate(
        [
            np.asarray(records["loss"]).reshape(n, steps),
            np.asarray(final_loss).reshape(n, 1),
        ],
        axis=1,
    )
    if state.noise:  # the recorded loss holds the noise term: the true one
        loss = _true_loss(surf, params)
    for i, k in enumerate(diverged_at):
        if k >= 0:  # w(k) is the last finite point (the update there was refused)
            params[i, k] = final_params[i]
            params[i, k + 1 :] = np.nan
            loss[i, k + 1 :] = np.nan
    if steps < MAX_STEPS:  # not computed: NaN
        params, loss = (
            _padded(params, 1, MAX_STEPS + 1),
            _padded(loss, 1, MAX_STEPS + 1),
        )
        out = {q: _padded(x, 1, MAX_STEPS) for q, x in out.items()}
    return Paths(names, params, loss, diverged_at=diverged_at, **out)


def _true_loss(surf: Surface, params: np.ndarray) -> np.ndarray:
    w = np.moveaxis(np.nan_to_num(params, nan=0.0), -1, 0)
    loss = values(surf, w)
    return np.where(np.isfinite(params).all(axis=-1), loss, np.nan)


def run_key(state: State) -> State:
    """What the paths depend on: ``state`` without what only selects or cuts
    (the optimizers shown, the steps shown unless a schedule spans them --
    beyond :func:`computed_steps` --, the map's optimizer, the condition of a
    landscape other than the valley)."""
    return state.replace(
        optimizers=(),
        steps=state.steps if state.schedule != "constant" else computed_steps(state),
        sweep_optimizer="rmsprop",
        condition=state.condition if state.landscape == "valley" else 1.0,
    )


_run_all_cached = functools.lru_cache(maxsize=16)(_run_all)


def _select(every: Paths, names: tuple[str, ...]) -> Paths:
    rows = [every.optimizers.index(name) for name in names]
    arrays = (np.asarray(a)[rows] for a in every[1:])
    return Paths(names, *arrays)


def paths(state: State) -> Paths:
    """The runs of the optimizers ``state`` shows, from its start.

    Every optimizer of the catalogue is computed at once (one ``sweep`` call,
    the last 16 views kept), so showing or hiding one computes nothing.

    Raises:
      ValueError: a typed formula the parser rejects.

    Examples:
      >>> from rmsprop_jax.explorer._state import WORKED_EXAMPLE
      >>> p = paths(WORKED_EXAMPLE)
      >>> p.optimizers
      ('sgd', 'rmsprop')
      >>> print(p.params[:, 1].round(2))  # w(1): gradient descent, RMSprop
      [[-14.91  19.6 ]
       [-14.84  19.84]]
    """
    return _select(_run_all_cached(run_key(state)), state.optimizers)


@jax.jit
def _amplification(betas: jax.Array, g: jax.Array) -> jax.Array:
    def c_a(beta, g1, g2):
        tx = rj.scale_by_rms(decay=beta, eps=1e-8)
        state = tx.init(jnp.zeros(()))
        _, state = tx.update(g1, state)
        v2, _ = tx.update(g2, state)  # eta = 1
        return jnp.abs(v2) - jnp.abs(g2)

    rows = jax.vmap(c_a, in_axes=(None, None, 0))  # g2 along rows
    plane = jax.vmap(rows, in_axes=(None, 0, None))  # g1 along columns
    return jax.vmap(lambda b: plane(b, g, g).T)(betas)


def amplification(
    betas: tuple[float, ...], limit: float = 2.0, size: int = 101
) -> tuple[np.ndarray, np.ndarray]:
    r"""The amplification :math:`C_a(g_1, g_2) = |v(2)| - |\eta g_2|` for each beta.

    :math:`v(2)` is the second update of :func:`rmsprop_jax.scale_by_rms`
    (:math:`\eta = 1`, :math:`\epsilon = 10^{-8}`, :math:`s_0 = 0`) after the
    gradients :math:`g_1`, then :math:`g_2`. Returns the gradient axis
    ``(size,)`` over ``[-limit, limit]`` and the maps ``(len(betas), size,
    size)``, indexed ``[beta, g2, g1]``.

    Examples:
      >>> g, maps = amplification((0.0, 0.9), size=5)
      >>> print(g, maps[1, 4, 4].round(4))  # g1 = g2 = 2: 2/sqrt(0.1 (0.9 + 1) 4) - 2
      [-2. -1.  0.  1.  2.] 0.2942
    """
    g = np.linspace(-limit, limit, size, dtype=np.float32)
    betas_ = np.asarray(betas, np.float32)
    return g, np.asarray(_amplification(betas_, g))


class SweepMap(NamedTuple):
    """Final loss over the (beta, eta) grid of one optimizer."""

    decays: tuple[float, ...]
    learning_rates: tuple[float, ...]
    loss: np.ndarray  # (len(decays), len(learning_rates)); NaN where diverged
    diverged_at: np.ndarray  # same shape; -1 where not


def final_loss_map(state: State) -> SweepMap:
    """The loss after ``state.steps`` steps of ``state.sweep_optimizer`` for each
    (beta, eta) of :data:`SWEEP_DECAYS` x :data:`SWEEP_LEARNING_RATES`: one
    ``sweep`` call.

    Raises:
      ValueError: a typed formula the parser rejects.
    """
    surf = surface(state)
    factory = FACTORIES[state.sweep_optimizer]
    fixed = {
        n: v
        for n, v in _grid_values(state, _landscape_name(surf)).items()
        if n in _taken([factory]) - {"decay", "learning_rate"}
    }
    configurations = grid(
        **fixed, decay=list(SWEEP_DECAYS), learning_rate=list(SWEEP_LEARNING_RATES)
    )
    result = _view_sweep(factory, state, surf, configurations)
    shape = (len(SWEEP_DECAYS), len(SWEEP_LEARNING_RATES))
    losses, final = jax.device_get((result.losses, result.final_loss))
    losses = np.asarray(losses).reshape(*shape, computed_steps(state))
    final = np.asarray(final).reshape(shape)
    loss = final if state.steps == computed_steps(state) else losses[..., state.steps]
    diverged_at = np.asarray(result.diverged_at).reshape(shape)
    diverged_at = np.where(diverged_at < state.steps, diverged_at, -1)
    return SweepMap(SWEEP_DECAYS, SWEEP_LEARNING_RATES, loss, diverged_at)


COMPARED_DECAYS = (0.0, 0.9)
"""The decays drawn side by side (``compare-decay``): the chapter's two paths."""


def _compare_decay(key: State) -> np.ndarray:
    surf = surface(key)
    given = _grid_values(key, _landscape_name(surf))
    names = ("landscape", "learning_rate", "eps", "eps_in_sqrt", "schedule", "horizon")
    fixed = {n: given[n] for n in names}
    configurations = grid(**fixed, decay=list(COMPARED_DECAYS))
    result = _view_sweep(
        FACTORIES["rmsprop"], key, surf, configurations, record=("params",)
    )
    n = len(COMPARED_DECAYS)
    records, final, diverged = jax.device_get(
        (result.records["params"], result.final_params, result.diverged_at)
    )
    final = np.asarray(final).reshape(n, 1, 2)
    steps = computed_steps(key)
    params = np.concatenate([np.asarray(records).reshape(n, steps, 2), final], 1)
    for i, k in enumerate(np.asarray(diverged).reshape(n)):
        if k >= 0:
            params[i, k] = final[i, 0]
            params[i, k + 1 :] = np.nan
    return _padded(params, 1, MAX_STEPS + 1)


def _one_at_a_time(fn: Callable[[State], Any], size: int) -> Callable[[State], Any]:
    """``fn`` with its last ``size`` results kept, one call at a time: a
    second caller of the same view (the server's warm-up and the page's
    callback, say) waits for the first one's result instead of tracing the
    same program beside it on the same cores."""
    cached = functools.lru_cache(maxsize=size)(fn)
    lock = threading.Lock()

    def call(key: State) -> Any:
        with lock:
            return cached(key)

    return call


_compare_decay_cached = _one_at_a_time(_compare_decay, 16)


def compare_decay(state: State) -> np.ndarray:
    """RMSprop's paths for each of :data:`COMPARED_DECAYS` with the view's
    eta, eps and start, ``(len(COMPARED_DECAYS), MAX_STEPS + 1, 2)``; NaN
    after a divergence's last finite point.

    Examples:
      >>> from rmsprop_jax.explorer._state import WORKED_EXAMPLE
      >>> p = compare_decay(WORKED_EXAMPLE)
      >>> print(p[:, 1].round(4))  # beta = 0: eta sign(g); beta = 0.9: / sqrt(0.1)
      [[-14.95    19.95  ]
       [-14.8419  19.8419]]
    """
    return _compare_decay_cached(run_key(state).replace(decay=0.0))


SENSITIVITY_RATES = tuple(float(f"{x:.3g}") for x in np.logspace(-4, 0, 17))
"""The learning rates of the sensitivity plot (sign-like and adaptive methods)."""

SENSITIVITY_SGD_RATES = tuple(float(f"{x:.3g}") for x in np.logspace(-5, 0, 17))
"""Gradient descent's (with and without momentum), paired with the above."""


def _sensitivity(key: State) -> np.ndarray:
    surf = surface(key)
    given = _grid_values(key, _landscape_name(surf))
    swept = {"learning_rate", "sgd_learning_rate"}
    fixed = grid(**{n: v for n, v in given.items() if n not in swept})
    rates = zipped(
        learning_rate=list(SENSITIVITY_RATES),
        sgd_learning_rate=list(SENSITIVITY_SGD_RATES),
    )
    result = _view_sweep(dict(FACTORIES), key, surf, fixed * rates)
    losses, final, diverged = jax.device_get(
        (result.losses, result.final_loss, result.diverged_at)
    )
    shape = (len(FACTORIES), len(SENSITIVITY_RATES))
    steps = computed_steps(key)
    loss = np.concatenate(
        [np.asarray(losses).reshape(*shape, steps), np.reshape(final, (*shape, 1))],
        axis=-1,
    )
    diverged = np.asarray(diverged).reshape(shape)
    t = np.arange(steps + 1)
    after = (diverged[..., None] >= 0) & (t >= diverged[..., None])
    return _padded(np.where(after, np.nan, loss), -1, MAX_STEPS + 1)


_sensitivity_cached = _one_at_a_time(_sensitivity, 8)


def sensitivity(state: State) -> tuple[tuple[str, ...], np.ndarray]:
    """The loss after ``state.steps`` steps of each optimizer ``state`` shows
    for each learning rate of :data:`SENSITIVITY_RATES` (gradient descent's:
    :data:`SENSITIVITY_SGD_RATES`), every other value as in ``state``: one
    ``sweep`` of every optimizer, ``(len(state.optimizers), 17)``, NaN where
    a run diverged."""
    every = _sensitivity_cached(
        run_key(state).replace(learning_rate=0.01, sgd_learning_rate=0.001)
    )
    rows = [tuple(FACTORIES).index(name) for name in state.optimizers]
    return state.optimizers, every[rows, :, state.steps]


def rates_of(optimizer: str) -> tuple[float, ...]:
    """The learning rates ``optimizer`` runs with in :func:`sensitivity`."""
    uses_sgd_rate = "sgd_learning_rate" in OPTIMIZERS[optimizer].uses
    return SENSITIVITY_SGD_RATES if uses_sgd_rate else SENSITIVITY_RATES
