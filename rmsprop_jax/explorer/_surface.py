r"""The landscape of a view: the built-in ones (the valley with its
conditioning), a typed formula, or a small network's loss (``mlp-digits``).

Every landscape the programs hold is a function ``f(w, c)`` of the point and
one traced number ``c``, the valley's coefficient of :math:`w_1^2`: the valley
is :math:`c\, w_1^2 + 10 w_2^2`, whose curvatures :math:`2c` and 20 have the
ratio (the condition number) :math:`\kappa = 10 / c`; the page's default
:math:`\kappa = 10/3` is the worked example's :math:`3 w_1^2 + 10 w_2^2`.
Every other landscape ignores ``c``. So moving the ``condition`` slider
reuses the compiled program, as the other sliders do. A typed formula is
:func:`typed_formula` ``f(w, program)``: its parsed program
(:func:`rmsprop_jax.landscapes.formula_program`) is data for one compiled
evaluator, so a new formula compiles nothing either.
"""

from __future__ import annotations

import collections
import functools
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from rmsprop_jax import landscapes
from rmsprop_jax.explorer import _digits
from rmsprop_jax.explorer._state import CUSTOM, MLP, State

CUSTOM_BOX = (-5.0, 5.0, -5.0, 5.0)
"""The plot box of a typed formula."""

CUSTOM_START = (-4.0, 3.0)
"""The start a typed formula gets when the current start lies outside its box."""


class Surface(NamedTuple):
    """The landscape of a view."""

    name: str  # a key of LANDSCAPES, MLP or CUSTOM
    fns: tuple[Callable[..., jax.Array], ...]  # f(w, c): the set the program holds
    selected: int  # which of ``fns`` this view uses
    box: tuple[float, float, float, float]
    minima: tuple[tuple[float, float], ...]  # estimated for a typed formula
    minimum_value: float
    param: float = 0.0  # c: the valley's coefficient of w1^2 (float32-exact)
    formula: str = ""  # the typed formula's text (CUSTOM)

    def loss(self, w: Any) -> jax.Array:
        """The view's loss at ``w`` (shape ``(2, ...)``)."""
        return self.fns[self.selected](w, landscape_data(self))


def conditioned_valley(w: jax.Array, c: jax.Array) -> jax.Array:
    r"""The valley :math:`c\, w_1^2 + 10 w_2^2` (condition number
    :math:`10/c`); with ``c = 3`` exactly :func:`rmsprop_jax.landscapes.valley`.

    Examples:
      >>> import jax.numpy as jnp
      >>> print(conditioned_valley(jnp.array([-15.0, 20.0]), 3.0))
      4675.0
    """
    return c * w[0] ** 2 + 10 * w[1] ** 2


def valley_coefficient(condition: float) -> float:
    """The coefficient ``c`` of :math:`w_1^2` for the curvature ratio
    ``condition``, rounded to float32 (as the program holds it).

    Examples:
      >>> valley_coefficient(10 / 3), valley_coefficient(100.0)
      (3.0, 0.10000000149011612)
    """
    return float(np.float32(10.0 / condition))


def _plain(fn: Callable[[jax.Array], jax.Array]) -> Callable[..., jax.Array]:
    """``fn`` as a function of ``(w, c)`` that ignores ``c``."""

    def loss(w: jax.Array, c: jax.Array) -> jax.Array:
        del c
        return fn(w)

    loss.__name__ = loss.__qualname__ = getattr(fn, "__name__", "loss")
    return loss


_NAMES = tuple(landscapes.LANDSCAPES)
_BUILTIN = tuple(
    conditioned_valley if name == "valley" else _plain(lands.fn)
    for name, lands in landscapes.LANDSCAPES.items()
)


def typed_formula(w: jax.Array, program: landscapes.FormulaProgram) -> jax.Array:
    """A typed formula's loss at ``w``: its parsed ``program``, data for the one
    compiled evaluator :func:`rmsprop_jax.landscapes.run_formula`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax.landscapes import formula_program
      >>> print(typed_formula(jnp.array([2.0, 1.0]), formula_program("w1**2 - w2")))
      3.0
    """
    return landscapes.run_formula(program, w)


FORMULAS_KEPT = 24
"""How many typed formulas keep their landscape (minima, program), least
recently used first out. A formula compiles nothing (it is data for the
evaluator), so each holds a few kB."""

_formulas: collections.OrderedDict[
    str, tuple[landscapes.Landscape, landscapes.FormulaProgram]
] = collections.OrderedDict()
_formulas_lock = threading.Lock()


def _parsed(text: str) -> tuple[landscapes.Landscape, landscapes.FormulaProgram]:
    with _formulas_lock:
        if text in _formulas:
            _formulas.move_to_end(text)
            return _formulas[text]
    lands = landscapes.from_formula(text, box=CUSTOM_BOX, start=CUSTOM_START)
    parsed = (lands, landscapes.formula_program(text))
    with _formulas_lock:
        _formulas[text] = parsed
        while len(_formulas) > FORMULAS_KEPT:
            _formulas.popitem(last=False)
    return parsed


def formula(text: str) -> landscapes.Landscape:
    """The typed formula's landscape over :data:`CUSTOM_BOX`, made once per text
    by :func:`rmsprop_jax.landscapes.from_formula` (which parses it and
    estimates its minima); the last :data:`FORMULAS_KEPT` are kept.

    Raises:
      ValueError: the parser's message with the column of the problem, or a
        formula not finite over the box or with no minimum inside it.
    """
    return _parsed(text)[0]


def landscape_data(surf: Surface) -> Any:
    """What the landscape function of ``surf`` takes after ``w``: the typed
    formula's :class:`~rmsprop_jax.landscapes.FormulaProgram`, else ``c``
    (float32)."""
    if surf.name == CUSTOM:
        return _parsed(surf.formula)[1]
    return np.float32(surf.param)


def formulas_kept() -> tuple[str, ...]:
    """The typed formulas whose programs are kept, least recently used first."""
    with _formulas_lock:
        return tuple(_formulas)


def start_of(landscape: str) -> tuple[float, float]:
    """The start a landscape's view gets when it is picked."""
    if landscape == CUSTOM:
        return CUSTOM_START
    if landscape == MLP:
        return _digits.plane().start
    return landscapes.LANDSCAPES[landscape].start


def surface(state: State) -> Surface:
    """The landscape ``state`` shows.

    Raises:
      ValueError: a typed formula the parser rejects.
    """
    if state.landscape == CUSTOM:
        lands = formula(state.formula)
        return Surface(
            CUSTOM,
            (typed_formula,),
            0,
            lands.box,
            lands.minima,
            lands.minimum_value,
            formula=state.formula,
        )
    if state.landscape == MLP:
        plane = _digits.plane()
        return Surface(
            MLP, (plane.fn,), 0, plane.box, plane.minima, plane.minimum_value
        )
    lands = landscapes.LANDSCAPES[state.landscape]
    return Surface(
        lands.name,
        _BUILTIN,
        _NAMES.index(lands.name),
        lands.box,
        lands.minima,
        lands.minimum_value,
        valley_coefficient(state.condition) if lands.name == "valley" else 0.0,
    )


def program_names(surf: Surface) -> tuple[str, ...]:
    """The engine's names of the landscapes of ``surf``'s program."""
    if surf.name == CUSTOM:
        return ("formula",)
    if surf.name == MLP:
        return (MLP,)
    return _NAMES


def selected_name(surf: Surface) -> str:
    """The engine's name of the landscape ``surf`` shows."""
    return program_names(surf)[surf.selected]


@functools.partial(jax.jit, static_argnames="fns")
def _values(index: jax.Array, w: jax.Array, data: Any, *, fns: tuple) -> jax.Array:
    return jax.lax.switch(index, fns, w, data)


def values(surf: Surface, w: np.ndarray) -> np.ndarray:
    """The view's loss at the points ``w`` (shape ``(2, ...)``), one program
    per landscape set (the built-in landscapes, ``c`` and a typed formula's
    program are traced)."""
    data = landscape_data(surf)
    return np.asarray(_values(np.int32(surf.selected), w, data, fns=surf.fns))


def _contour_grid(
    surf: Surface, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.linspace(surf.box[0], surf.box[1], size, dtype=np.float32)
    y = np.linspace(surf.box[2], surf.box[3], size, dtype=np.float32)
    return x, y, values(surf, np.stack(np.meshgrid(x, y)))


_contour_cached = functools.lru_cache(maxsize=32)(_contour_grid)


def contour_grid(
    surf: Surface, size: int = 121
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(w1, w2, loss)`` of ``surf`` on a ``size`` x ``size`` grid of its box
    (the last 32 kept)."""
    return _contour_cached(surf, size)


def gradient_scale(surf: Surface) -> float:
    """The median gradient norm over the landscape's box (finite differences
    of its contour grid): what the noise level is relative to."""
    x, y, z = contour_grid(surf)
    with np.errstate(invalid="ignore", over="ignore"):
        g2, g1 = np.gradient(z.astype(np.float64), y, x)
        norm = np.hypot(g1, g2)
    finite = norm[np.isfinite(norm)]
    return float(np.median(finite)) if finite.size else 1.0
