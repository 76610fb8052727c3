r"""Two-dimensional test landscapes for optimizers, and a safe formula parser.

Each landscape is a pure ``jax.numpy`` function of ``w`` with ``w.shape ==
(2, ...)``: ``w[0]`` is :math:`w_1` and ``w[1]`` is :math:`w_2`, so the same
function takes one point (shape ``(2,)``, scalar result) or a whole grid
(shape ``(2, H, W)``, result ``(H, W)``) for contour plots. :data:`LANDSCAPES`
holds each one with its minima, the value there, a recommended start and a plot
box. :func:`from_expression` turns a user's formula such as
``"sin(w1) + cos(w2)"`` into such a function without evaluating any Python.

Examples:
  >>> import jax, jax.numpy as jnp
  >>> from rmsprop_jax import landscapes
  >>> valley = landscapes.LANDSCAPES["valley"]
  >>> w0 = jnp.array(valley.start)
  >>> print(valley.fn(w0), jax.grad(valley.fn)(w0), valley.minima)
  4675.0 [-90. 400.] ((0.0, 0.0),)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rmsprop_jax import _expression, _formula, _formula_machine

__all__ = [
    "FORMULA_LENGTH",
    "LANDSCAPES",
    "FormulaProgram",
    "Landscape",
    "ackley",
    "bowl",
    "formula_program",
    "from_expression",
    "from_formula",
    "plateau",
    "rosenbrock",
    "run_formula",
    "saddle",
    "steep_bowl",
    "valley",
]


class Landscape(NamedTuple):
    """A test function with what is known about it."""

    name: str
    fn: Callable[[jax.Array], jax.Array]  # w of shape (2, ...) -> loss of shape (...)
    minima: tuple[tuple[float, float], ...]  # every global minimiser
    minimum_value: float  # fn at each of `minima`
    start: tuple[float, float]  # recommended initial point
    box: tuple[float, float, float, float]  # plot box (w1_min, w1_max, w2_min, w2_max)
    description: str


def bowl(w: jax.Array) -> jax.Array:
    r"""Isotropic quadratic bowl :math:`w_1^2 + w_2^2`; minimum 0 at the origin.

    Every gradient points at the minimum, so plain gradient descent goes straight
    there and sign-like methods (RMSprop's first steps) do not.

    Examples:
      >>> import jax.numpy as jnp
      >>> print(bowl(jnp.array([3.0, 4.0])))
      25.0
    """
    return w[0] ** 2 + w[1] ** 2


def valley(w: jax.Array) -> jax.Array:
    r"""Elongated valley :math:`3 w_1^2 + 10 w_2^2`; minimum 0 at the origin.

    The error function of the worked example of Hinton's RMSprop lecture, with
    curvatures 6 and 20: gradient descent zig-zags across :math:`w_2`.

    Examples:
      >>> import jax.numpy as jnp
      >>> print(valley(jnp.array([-15.0, 20.0])))
      4675.0
    """
    return 3 * w[0] ** 2 + 10 * w[1] ** 2


def rosenbrock(w: jax.Array) -> jax.Array:
    r"""Rosenbrock's banana :math:`(1 - w_1)^2 + 100 (w_2 - w_1^2)^2`; 0 at (1, 1).

    A narrow curved valley: easy to reach, slow to follow.

    Examples:
      >>> import jax.numpy as jnp
      >>> print(rosenbrock(jnp.array([1.0, 1.0])))
      0.0

    References:
      Rosenbrock, *An automatic method for finding the greatest or least value
      of a function*, The Computer Journal 3(3), 1960.
    """
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def _safe_sqrt(x: jax.Array) -> jax.Array:
    """sqrt with gradient 0 (a subgradient) at 0 instead of nan."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def ackley(w: jax.Array) -> jax.Array:
    r"""Ackley's multi-modal function; global minimum 0 at the origin.

    .. math::
        -20 \exp\!\big(-0.2\sqrt{(w_1^2+w_2^2)/2}\big)
        - \exp\!\big((\cos 2\pi w_1 + \cos 2\pi w_2)/2\big) + e + 20

    A local minimum near every integer point. The origin is a cone point; its
    gradient is taken as 0 (a subgradient) rather than nan.

    Examples:
      >>> import jax.numpy as jnp
      >>> print(ackley(jnp.array([0.0, 0.0])).round(6))
      0.0

    References:
      Ackley, *A connectionist machine for genetic hillclimbing*, Kluwer, 1987.
    """
    radius = _safe_sqrt(0.5 * (w[0] ** 2 + w[1] ** 2))
    waves = 0.5 * (jnp.cos(2 * jnp.pi * w[0]) + jnp.cos(2 * jnp.pi * w[1]))
    return -20 * jnp.exp(-0.2 * radius) - jnp.exp(waves) + math.e + 20


def saddle(w: jax.Array) -> jax.Array:
    r"""A saddle with a floor: :math:`w_1^2 - w_2^2 + w_2^4/2`.

    A saddle point at the origin (Hessian diag(2, -2)) and two global minima
    (0, ±1) of value -1/2; the quartic term bounds the usual :math:`w_1^2 -
    w_2^2` from below. Started near the :math:`w_1` axis, an optimizer must
    leave the saddle along :math:`w_2`, where the gradient starts tiny.

    Examples:
      >>> import jax.numpy as jnp
      >>> print(saddle(jnp.array([0.0, 1.0])))
      -0.5
    """
    return w[0] ** 2 - w[1] ** 2 + 0.5 * w[1] ** 4


def plateau(w: jax.Array) -> jax.Array:
    r"""An inverted Gaussian well :math:`1 - \exp(-(w_1^2 + 2 w_2^2)/2)`; 0 at 0.

    Far from the origin the surface is flat within :math:`e^{-r^2/2}`: the
    gradients vanish and gradient descent barely moves.

    Examples:
      >>> import jax.numpy as jnp
      >>> print(plateau(jnp.array([0.0, 0.0])))
      0.0
    """
    return 1 - jnp.exp(-0.5 * (w[0] ** 2 + 2 * w[1] ** 2))


def steep_bowl(w: jax.Array) -> jax.Array:
    r"""A bowl with quartic walls: :math:`(w_1^2 + 2 w_2^2)/2 + (w_1^4 + w_2^4)/20`.

    From the recommended start (6, -8) the gradient is about (49, -118) and the
    curvature about 20 times that at the minimum (0 at the origin): a step size
    that is stable at the start is slow near the minimum.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> print(jax.grad(steep_bowl)(jnp.array([6.0, -8.0])).round(1))
      [  49.2 -118.4]
    """
    return 0.5 * (w[0] ** 2 + 2 * w[1] ** 2) + 0.05 * (w[0] ** 4 + w[1] ** 4)


def from_expression(text: str) -> Callable[[jax.Array], jax.Array]:
    r"""Turns a formula in ``w1`` and ``w2`` into a jittable, differentiable ``f(w)``.

    The text is parsed by a whitelist grammar -- never by ``eval``, ``exec`` or
    ``compile`` -- into a program of ``jax.numpy`` operations::

        expression := term (("+" | "-") term)*
        term       := unary (("*" | "/") unary)*
        unary      := ("+" | "-") unary | atom (("**" | "^") unary)?
        atom       := number | w1 | w2 | pi | e | function "(" args ")"
                    | "(" expression ")"

    Powers bind tighter than a unary minus and associate to the right, as in
    Python (``-w1**2`` is :math:`-(w_1^2)`); ``^`` means ``**``. Functions:
    sin, cos, tan, arcsin, arccos, arctan, sinh, cosh, tanh, exp, log, log10,
    log1p, sqrt, abs, square, sign (one argument); arctan2, hypot, minimum,
    maximum (two); aliases asin, acos, atan, atan2, ln, min, max.

    Args:
      text: the formula, at most 500 characters.

    Returns:
      ``f(w)`` for ``w`` of shape ``(2, ...)``, returning shape ``(...)`` in
      ``w``'s floating dtype (at least float32).

    Raises:
      ValueError: the text is too long, nested deeper than 50 levels, holds an
        unknown name or character, an attribute access, a private or dunder
        name, a Python keyword (``lambda``, ``for``, ...), brackets, ``=``
        (keyword arguments), a call of anything but a listed function, a wrong
        number of arguments, a non-finite number, a constant exponent with
        absolute value over 100, or is not well formed. The message names the
        problem and its 1-based column.
      TypeError: ``text`` is not a str.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> f = from_expression("sin(w1) + cos(w2)")
      >>> w = jnp.array([0.0, 0.0])
      >>> print(f(w), jax.jit(jax.grad(f))(w))
      1.0 [1. 0.]
      >>> from_expression("__import__('os')")
      Traceback (most recent call last):
        ...
      ValueError: name '__import__' is not allowed at column 1:
        __import__('os')
        ^
    """
    return _expression.parse(text)


FORMULA_LENGTH = _formula_machine.LENGTH
"""The instructions a :class:`FormulaProgram` holds (512): every formula the
parser accepts fits."""


class FormulaProgram(NamedTuple):
    """A typed formula as data for :func:`run_formula` (a pytree of arrays).

    The first ``length`` instructions are the formula's program in reverse
    Polish notation, the rest no-ops: ``codes[i]`` is the operation of
    instruction ``i`` and ``numbers[i]`` its number (a constant's value, an
    integer power's exponent; 0 for other operations).
    """

    codes: np.ndarray  # (FORMULA_LENGTH,) int32
    numbers: np.ndarray  # (FORMULA_LENGTH,) float32, or float64 under x64
    length: np.ndarray  # () int32: the formula's instructions


def formula_program(text: str) -> FormulaProgram:
    r"""Parses a formula in ``w1`` and ``w2`` into data for :func:`run_formula`.

    The parser, grammar, checks and messages are :func:`from_expression`'s;
    the program it makes (at most 500 instructions) is written into arrays of
    :data:`FORMULA_LENGTH` instructions instead of traced.

    Args:
      text: the formula, at most 500 characters (see :func:`from_expression`).

    Returns:
      A :class:`FormulaProgram`: ``codes`` ``(FORMULA_LENGTH,)`` int32,
      ``numbers`` ``(FORMULA_LENGTH,)`` in JAX's default float dtype
      (float32, or float64 under ``jax_enable_x64``: a constant too large
      for float32 is inf there, as in :func:`from_expression`'s function),
      ``length`` ``()`` int32.

    Raises:
      ValueError: whatever :func:`from_expression` rejects, with its message
        and column.
      TypeError: ``text`` is not a str.

    Examples:
      >>> program = formula_program("(w1 - 1)**2 + w2**2")
      >>> program.codes.shape, int(program.length)  # w1 1 - ^2 w2 ^2 +
      ((512,), 7)
      >>> formula_program("w1 +* 2")
      Traceback (most recent call last):
        ...
      ValueError: expected a number, a name or '(', found '*' at column 5:
        w1 +* 2
            ^
    """
    codes, numbers, length = _formula_machine.encode(text)
    with np.errstate(over="ignore"):
        numbers = numbers.astype(jax.dtypes.canonicalize_dtype(np.float64))
    return FormulaProgram(codes, numbers, length)


def run_formula(program: FormulaProgram, w: jax.Array) -> jax.Array:
    r"""The value of a :func:`formula_program` at ``w``, by one compiled evaluator.

    A stack machine: a ``lax.fori_loop`` over the program's ``length``
    instructions whose body is a ``lax.switch`` over the operations. Under
    ``jax.jit`` (or inside a compiled sweep) ``program`` is an argument like
    ``w``: every formula is new data for the same compiled program, where the
    function of :func:`from_expression` is a new program per formula. Each
    operation is the one :func:`from_expression` traces, so values and
    gradients equal its function's up to rounding (a few ulp). Differentiable
    in ``w`` by ``jax.grad`` and ``jax.jvp`` (forward mode through the loop,
    one pass per variable); not in the program's constants.

    Args:
      program: from :func:`formula_program`; its arrays may be traced.
      w: shape ``(2, ...)``; ``w[0]`` is :math:`w_1`, ``w[1]`` is :math:`w_2`.

    Returns:
      Shape ``w.shape[1:]``, in ``w``'s floating dtype (at least float32).
      Grids of over 4096 points are evaluated 4096 at a time (the stack holds
      512 values a point).

    Raises:
      ValueError: ``w`` is not of shape ``(2, ...)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> f = jax.jit(run_formula)  # compiled once, on the first call
      >>> w = jnp.array([0.0, 0.0])
      >>> print(f(formula_program("sin(w1) + cos(w2)"), w))
      1.0
      >>> print(f(formula_program("(w1 - 1)**2 + 3*w2"), w))  # no new compilation
      1.0
      >>> print(jax.grad(run_formula, argnums=1)(formula_program("sin(w1) + w2"), w))
      [1. 1.]
    """
    return _formula_machine.evaluate(program.codes, program.numbers, program.length, w)


_run_formula = jax.jit(run_formula)


def from_formula(
    text: str,
    *,
    box: tuple[float, float, float, float] = (-4.0, 4.0, -4.0, 4.0),
    start: tuple[float, float] = (1.0, 1.0),
) -> Landscape:
    r"""A :class:`Landscape` from a typed formula, checked over ``box``.

    The formula is parsed by :func:`from_expression`, evaluated in float64 on a
    401 x 401 grid over ``box`` (by :func:`run_formula`, compiled once for
    every formula), and checked before any optimizer runs on it.
    Its global minima are the grid's local minima within 1e-3 of the value
    range of the lowest one, each refined by zooming (eight finer 41 x 41
    grids around it, in float64) to about 1e-13 of the box, so gaps
    ``f(w) - minimum_value`` of a run are not negative beyond rounding.

    Args:
      text: the formula in ``w1`` and ``w2`` (see :func:`from_expression`).
      box: the region ``(w1_min, w1_max, w2_min, w2_max)`` searched and plotted.
      start: the recommended initial point; must lie inside ``box``.

    Returns:
      A :class:`Landscape` named ``"formula"`` whose ``fn`` is the parsed
      formula (float32 in, float32 out; float64 under x64).

    Raises:
      ValueError: a parse error (with its column), a ``box`` that is not
        ordered and finite, a ``start`` outside it, or a formula that is not
        finite over part of the box (``log(w1)``), constant (``1``), or lowest
        on the box's edge (``w1*w2``: no minimum inside it). Each message says
        what to change.

    Examples:
      >>> from rmsprop_jax.landscapes import from_formula
      >>> land = from_formula("(w1 - 1)**2 + 2*(w2 + 0.5)**2 + 3")
      >>> [tuple(round(x, 9) for x in m) for m in land.minima], land.minimum_value
      ([(1.0, -0.5)], 3.0)
      >>> from_formula("w1*w2")  # doctest: +ELLIPSIS
      Traceback (most recent call last):
        ...
      ValueError: the formula 'w1*w2' has no minimum inside the box ...
    """
    fn = from_expression(text)
    lo1, hi1, lo2, hi2 = (float(b) for b in box)
    if not (math.isfinite(lo1 + hi1 + lo2 + hi2) and lo1 < hi1 and lo2 < hi2):
        raise ValueError(
            f"`box` must be finite (w1_min, w1_max, w2_min, w2_max) with each "
            f"min < max, got {box!r}."
        )
    box = (lo1, hi1, lo2, hi2)
    if not (lo1 < start[0] < hi1 and lo2 < start[1] < hi2):
        raise ValueError(f"`start` {tuple(start)!r} must lie inside `box` {box!r}.")
    with jax.enable_x64(True):
        program = formula_program(text)  # float64 constants
    minima, value = _formula.minima(
        lambda w: np.asarray(_run_formula(program, w)), text, box
    )
    return Landscape(
        name="formula",
        fn=fn,
        minima=minima,
        minimum_value=value,
        start=(float(start[0]), float(start[1])),
        box=box,
        description=f"typed formula {text} (minimum estimated on a refined grid)",
    )


def _landscape(fn, *, minima, value, start, box, description) -> Landscape:
    return Landscape(fn.__name__, fn, minima, value, start, box, description)


LANDSCAPES: dict[str, Landscape] = {
    lands.name: lands
    for lands in (
        _landscape(
            bowl,
            minima=((0.0, 0.0),),
            value=0.0,
            start=(-4.0, 3.0),
            box=(-5.0, 5.0, -5.0, 5.0),
            description="isotropic quadratic bowl w1^2 + w2^2",
        ),
        # The worked example of Hinton's lecture 6e: 3 w1^2 + 10 w2^2, w0 = (-15, 20).
        _landscape(
            valley,
            minima=((0.0, 0.0),),
            value=0.0,
            start=(-15.0, 20.0),
            box=(-20.0, 20.0, -24.0, 24.0),
            description="elongated valley 3 w1^2 + 10 w2^2 (the worked example)",
        ),
        # Rosenbrock (1960); start (-1.2, 1) is the classic one of that paper.
        _landscape(
            rosenbrock,
            minima=((1.0, 1.0),),
            value=0.0,
            start=(-1.2, 1.0),
            box=(-2.0, 2.0, -1.0, 3.0),
            description="Rosenbrock's curved valley (1 - w1)^2 + 100 (w2 - w1^2)^2",
        ),
        # Ackley (1987), 2-D form with a = 20, b = 0.2, c = 2 pi.
        _landscape(
            ackley,
            minima=((0.0, 0.0),),
            value=0.0,
            start=(-3.3, 2.6),
            box=(-4.0, 4.0, -4.0, 4.0),
            description="Ackley's function: a local minimum near every integer point",
        ),
        # The textbook saddle w1^2 - w2^2 with a quartic floor; start on the w1 axis,
        # offset by 1e-3 in w2 so that the escape direction is defined.
        _landscape(
            saddle,
            minima=((0.0, 1.0), (0.0, -1.0)),
            value=-0.5,
            start=(-2.0, 1e-3),
            box=(-2.5, 2.5, -1.6, 1.6),
            description="saddle at the origin: w1^2 - w2^2 + w2^4/2, minima (0, +-1)",
        ),
        # A Gaussian well: vanishing gradients far from the centre.
        _landscape(
            plateau,
            minima=((0.0, 0.0),),
            value=0.0,
            start=(2.5, 2.0),
            box=(-3.5, 3.5, -3.0, 3.0),
            description="plateau: inverted Gaussian well 1 - exp(-(w1^2 + 2 w2^2)/2)",
        ),
        # A start with very large initial gradients, curvature 20x that at the minimum.
        _landscape(
            steep_bowl,
            minima=((0.0, 0.0),),
            value=0.0,
            start=(6.0, -8.0),
            box=(-9.0, 9.0, -10.0, 10.0),
            description="large initial gradients: (w1^2 + 2 w2^2)/2 + (w1^4 + w2^4)/20",
        ),
    )
}
