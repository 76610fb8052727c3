"""Every number the explorer shows, computed by the library.

The paths come from one call of the trajectory engine
:func:`rmsprop_jax.sweep.sweep` per view: a mapping of the selected optimizers
(the catalogue's factories, :data:`._catalog.FACTORIES`), the built-in landscapes as a
mapping selected by a ``landscape`` grid axis (a traced index into
``lax.switch``: switching landscapes reuses the program), the start point and
every hyperparameter as traced arrays, always :data:`MAX_STEPS` steps (the
``steps`` control only cuts the view), and ``record=`` for the per-step
params, gradients, updates and diagnostics. All paths of a view are one
compiled program; moving a slider or the start never recompiles.

The amplification map uses :func:`rmsprop_jax.scale_by_rms`, vmapped over a
grid of gradient pairs; the (beta, eta) map is one ``sweep`` call.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import rmsprop_jax as rj
from rmsprop_jax import landscapes
from rmsprop_jax.explorer._catalog import FACTORIES, FIELDS, GRID_NAMES
from rmsprop_jax.explorer._state import CUSTOM, MAX_STEPS, State
from rmsprop_jax.sweep import grid, sweep

CUSTOM_BOX = (-5.0, 5.0, -5.0, 5.0)
"""The plot box of a typed formula."""

CUSTOM_START = (-4.0, 3.0)
"""The start a typed formula gets when the current start lies outside its box."""

AMPLIFICATION_BETAS = (0.0, 0.5, 0.9, 0.99)
"""The small multiples of the amplification map."""

SWEEP_DECAYS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999)
SWEEP_LEARNING_RATES = tuple(float(f"{x:.3g}") for x in np.logspace(-4, 0, 13))
"""The (beta, eta) grid of the final-loss map (values the sliders can take)."""

DIVERGENCE_THRESHOLD = 1e6
"""A run diverges when its loss exceeds this factor times its initial loss."""

QUANTITIES = (
    "params",
    "grads",
    "updates",
    "effective_lr",
    "gradient_rms",
    "second_moment",
)
"""What :func:`paths` records at each step, each of shape (steps, 2)."""


class Surface(NamedTuple):
    """The landscape of a view."""

    name: str  # a key of LANDSCAPES, or CUSTOM
    fns: tuple[Callable[[jax.Array], jax.Array], ...]  # the set the program holds
    selected: int  # which of ``fns`` this view uses
    box: tuple[float, float, float, float]
    minima: tuple[tuple[float, float], ...]  # estimated for a typed formula
    minimum_value: float


_BUILTIN = tuple(lands.fn for lands in landscapes.LANDSCAPES.values())
_NAMES = tuple(landscapes.LANDSCAPES)


@functools.lru_cache(maxsize=32)
def formula(text: str) -> landscapes.Landscape:
    """The typed formula's landscape over :data:`CUSTOM_BOX`, made once per text
    by :func:`rmsprop_jax.landscapes.from_formula` (which parses it with
    ``from_expression`` and estimates its minima).

    Raises:
      ValueError: the parser's message with the column of the problem, or a
        formula not finite over the box or with no minimum inside it.
    """
    return landscapes.from_formula(text, box=CUSTOM_BOX, start=CUSTOM_START)


def surface(state: State) -> Surface:
    """The landscape ``state`` shows.

    Raises:
      ValueError: a typed formula the parser rejects.
    """
    if state.landscape == CUSTOM:
        lands = formula(state.formula)
        return Surface(
            CUSTOM, (lands.fn,), 0, lands.box, lands.minima, lands.minimum_value
        )
    lands = landscapes.LANDSCAPES[state.landscape]
    return Surface(
        lands.name,
        _BUILTIN,
        _NAMES.index(lands.name),
        lands.box,
        lands.minima,
        lands.minimum_value,
    )


def _grid_values(state: State, landscape: str) -> dict[str, list[Any]]:
    """The single configuration of a view, by the engine's grid names (each
    factory takes those its optimizer reads)."""
    values = {"landscape": [landscape]}
    for field in FIELDS:
        values[GRID_NAMES.get(field, field)] = [getattr(state, field)]
    return values


def _taken(factories: Any) -> set[str]:
    names = {"landscape"}
    for factory in factories:
        names |= set(inspect.signature(factory).parameters)
    return names


def _mapping(surf: Surface) -> dict[str, Callable]:
    names = _NAMES if surf.name != CUSTOM else ("formula",)
    return dict(zip(names, surf.fns, strict=True))


def _landscape_name(surf: Surface) -> str:
    return _NAMES[surf.selected] if surf.name != CUSTOM else "formula"


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


def paths(state: State) -> Paths:
    """Runs every optimizer of ``state`` from its start, with one ``sweep`` call.

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
    surf = surface(state)
    names = state.optimizers
    if not names:
        empty = np.zeros((0, MAX_STEPS, 2), np.float32)
        return Paths(
            optimizers=(),
            params=np.zeros((0, MAX_STEPS + 1, 2), np.float32),
            loss=np.zeros((0, MAX_STEPS + 1), np.float32),
            grads=empty,
            updates=empty,
            effective_lr=empty,
            gradient_rms=empty,
            second_moment=empty,
            diverged_at=np.zeros((0,), np.int64),
        )
    factories = {name: FACTORIES[name] for name in names}
    taken = _taken(factories.values())
    values = _grid_values(state, _landscape_name(surf))
    result = sweep(
        factories,
        _mapping(surf),
        np.asarray(state.start, np.float32),
        grid(**{n: v for n, v in values.items() if n in taken}),
        steps=MAX_STEPS,
        record=("loss", *QUANTITIES),
        divergence_threshold=DIVERGENCE_THRESHOLD,
    )
    n = len(names)
    records, final_loss, final_params, diverged_at = jax.device_get(
        (result.records, result.final_loss, result.final_params, result.diverged_at)
    )
    out = {q: np.asarray(records[q]).reshape(n, MAX_STEPS, 2) for q in QUANTITIES}
    final_params = np.asarray(final_params).reshape(n, 2)
    diverged_at = np.asarray(diverged_at, np.int64).reshape(n)
    params = np.concatenate([out.pop("params"), final_params[:, None]], axis=1)
    loss = np.concatenate(
        [
            np.asarray(records["loss"]).reshape(n, MAX_STEPS),
            np.asarray(final_loss).reshape(n, 1),
        ],
        axis=1,
    )
    for i, k in enumerate(diverged_at):
        if k >= 0:  # w(k) is the last finite point (the update there was refused)
            params[i, k] = final_params[i]
            params[i, k + 1 :] = np.nan
            loss[i, k + 1 :] = np.nan
    return Paths(
        optimizers=names,
        params=params,
        loss=loss,
        grads=out["grads"],
        updates=out["updates"],
        effective_lr=out["effective_lr"],
        gradient_rms=out["gradient_rms"],
        second_moment=out["second_moment"],
        diverged_at=diverged_at,
    )


@functools.partial(jax.jit, static_argnames="fns")
def _surface_values(index: jax.Array, w: jax.Array, *, fns: tuple) -> jax.Array:
    return jax.lax.switch(index, fns, w)


def contour_grid(
    surf: Surface, size: int = 121
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(w1, w2, loss)`` of ``surf`` on a ``size`` x ``size`` grid of its box."""
    x = np.linspace(surf.box[0], surf.box[1], size, dtype=np.float32)
    y = np.linspace(surf.box[2], surf.box[3], size, dtype=np.float32)
    w = np.stack(np.meshgrid(x, y))
    z = _surface_values(np.int32(surf.selected), w, fns=surf.fns)
    return x, y, np.asarray(z)


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
    result = sweep(
        factory,
        _mapping(surf),
        np.asarray(state.start, np.float32),
        grid(
            **fixed,
            decay=list(SWEEP_DECAYS),
            learning_rate=list(SWEEP_LEARNING_RATES),
        ),
        steps=MAX_STEPS,
        divergence_threshold=DIVERGENCE_THRESHOLD,
    )
    shape = (len(SWEEP_DECAYS), len(SWEEP_LEARNING_RATES))
    losses, final = jax.device_get((result.losses, result.final_loss))
    losses = np.asarray(losses).reshape(*shape, MAX_STEPS)
    final = np.asarray(final).reshape(shape)
    loss = final if state.steps == MAX_STEPS else losses[..., state.steps]
    diverged_at = np.asarray(result.diverged_at).reshape(shape)
    diverged_at = np.where(diverged_at < state.steps, diverged_at, -1)
    return SweepMap(SWEEP_DECAYS, SWEEP_LEARNING_RATES, loss, diverged_at)
