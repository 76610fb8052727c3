"""A parsed formula as data for one compiled evaluator: a stack machine.

:mod:`._expression` turns a formula into a program in reverse Polish notation
and runs it by tracing its ``jax.numpy`` operations, so each formula is a new
program for XLA. Here the same program is *encoded* as arrays -- an opcode
and a number per instruction, padded with no-ops to :data:`LENGTH`, and the
count of instructions -- and run by :func:`evaluate`: a ``lax.fori_loop``
over the instructions whose body is a ``lax.switch`` over the operations.
Under ``jax.jit`` the arrays are arguments, so every formula is new data for
one compiled program. Each branch applies the operation :mod:`._expression`
traces (integer powers by the products ``lax.integer_pow`` forms, with its
derivative), so values and gradients equal the traced formula's up to XLA's
rounding.

An instruction reads the top ``a`` of the stack and the value ``b`` below
it, computes one value and moves the stack's top by its effect: +1 for a
push (constant, variable: the value lands above ``a``), 0 for a unary
operation (it replaces ``a``), -1 for a binary one (it replaces ``b``).

The loop runs as many times as the formula has instructions (a traced
count), which reverse mode cannot differentiate through; the gradient is
forward mode through the loop, one pass per variable (:func:`_machine_jvp`),
and the tangent it returns is linear in ``w``'s, so ``jax.grad`` transposes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rmsprop_jax import _expression

LENGTH = 512
"""The instructions an encoded program holds: every formula the parser
accepts (at most 500 characters) has at most 500."""

DEPTH = 160
"""The values the stack holds. The parser bounds what a formula needs: each
of its at most 50 nested levels leaves at most 3 values waiting (``a + b *
f(c, ...``), the top level 2, so at most 153; :func:`encode` checks it.
A deeper stack is slower: every instruction moves it."""

CHUNK = 1024
"""Points evaluated side by side: a larger grid is evaluated this many points
at a time (``lax.map``)."""

_EXPONENT_BITS = 7  # |exponent - 1| <= 101 < 2**7 (_expression.MAX_EXPONENT)


def _powers(x: jax.Array, n: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(x ** n, x ** (n - 1))`` for a traced integer ``|n| <= 100``, each by
    the products ``lax.integer_pow`` forms for a static exponent, in its order
    (a loop over the exponent's bits, so the program stays small)."""
    axes = (2, *([1] * jnp.ndim(x)))
    signed = jnp.stack([n, n - 1]).reshape(axes)
    exponents = jnp.abs(signed)

    def bit(i: jax.Array, carry: tuple) -> tuple:
        acc, power = carry
        take = (exponents >> i) & 1 == 1
        acc = jnp.where(take, acc * power, acc)  # 1 * x is x: the first product
        return acc, power * power

    ones = jnp.ones((2, *jnp.shape(x)), x.dtype)
    acc, _ = jax.lax.fori_loop(0, _EXPONENT_BITS, bit, (ones, x))
    acc = jnp.where(signed < 0, 1 / acc, acc)
    return acc[0], acc[1]


@jax.custom_jvp
def _integer_power(x: jax.Array, n: jax.Array) -> jax.Array:
    return _powers(x, n)[0]


@_integer_power.defjvp
def _integer_power_jvp(primals: tuple, tangents: tuple) -> tuple:
    # lax.integer_pow's rule: d(x**n) = g * (n * x**(n - 1)), 0 for n = 0.
    x, n = primals
    g, _ = tangents
    power, lower = _powers(x, n)
    return power, g * jnp.where(n == 0, 0, n.astype(x.dtype) * lower)


def _unary(fn: Callable) -> Callable:
    return lambda a, b, number, w: fn(a)


def _binary(fn: Callable) -> Callable:
    return lambda a, b, number, w: fn(b, a)  # b is the left operand


def _constant(a, b, number, w):
    return jnp.broadcast_to(number, a.shape)


def _power(a, b, number, w):
    return _integer_power(a, number.astype(jnp.int32))


# (name, effect on the stack's top, f(a, b, number, w)); opcode 0 does nothing
_OPERATIONS: list[tuple[str, int, Callable[..., jax.Array]]] = [
    ("noop", 0, lambda a, b, number, w: a),
    ("constant", 1, _constant),
    ("w1", 1, lambda a, b, number, w: w[0]),
    ("w2", 1, lambda a, b, number, w: w[1]),
    ("negate", 0, lambda a, b, number, w: -a),
    ("integer_power", 0, _power),
]
_OPERATIONS += [
    (name, 1 - arity, (_unary if arity == 1 else _binary)(fn))
    for name, (arity, fn, _) in _expression.FUNCTIONS.items()
]
_OPERATIONS += [
    (op, -1, _binary(fn)) for op, fn in _expression.BINARY_OPERATIONS.items()
]
_CODES = {name: i for i, (name, _, _) in enumerate(_OPERATIONS)}
_EFFECTS = np.asarray([effect for _, effect, _ in _OPERATIONS], np.int32)
_BRANCHES = [fn for _, _, fn in _OPERATIONS]


def _instruction(instruction: tuple) -> tuple[int, float]:
    kind = instruction[0]
    if kind in ("constant", "integer_power"):
        return _CODES[kind], float(instruction[1])
    if kind == "variable":
        return _CODES[("w1", "w2")[instruction[1]]], 0.0
    if kind == "negate":
        return _CODES[kind], 0.0
    return _CODES[instruction[1]], 0.0  # a call or a binary operator, by name


def encode(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``text``'s program as ``(codes, numbers, length)``: int32 opcodes and
    float64 numbers (a constant's value, an integer power's exponent), each
    of :data:`LENGTH` (padded with no-ops), and the int32 count of
    instructions.

    Raises:
      ValueError, TypeError: as :func:`._expression.program`.
    """
    instructions = [_instruction(i) for i in _expression.program(text)]
    codes = np.zeros(LENGTH, np.int32)
    numbers = np.zeros(LENGTH, np.float64)
    codes[: len(instructions)] = [code for code, _ in instructions]
    numbers[: len(instructions)] = [number for _, number in instructions]
    needed = depth(codes)
    if needed > DEPTH:  # not for a formula of this parser (see DEPTH)
        raise ValueError(
            f"the formula needs a stack of {needed} values; the evaluator holds "
            f"{DEPTH}: nest it less deeply."
        )
    return codes, numbers, np.asarray(len(instructions), np.int32)


def depth(codes: np.ndarray) -> int:
    """The most values the stack of an encoded program holds."""
    return int(np.max(np.cumsum(_EFFECTS[codes])))


def _run(codes: jax.Array, numbers: jax.Array, length: jax.Array, w: jax.Array):
    effects = jnp.asarray(_EFFECTS)

    def step(i: jax.Array, carry: tuple) -> tuple:
        stack, top = carry  # top: how many values the stack holds
        code, number = codes[i], numbers[i]
        a = jax.lax.dynamic_index_in_dim(stack, top - 1, keepdims=False)
        b = jax.lax.dynamic_index_in_dim(stack, top - 2, keepdims=False)
        value = jax.lax.switch(code, _BRANCHES, a, b, number, w)
        top = top + effects[code]
        stack = jax.lax.dynamic_update_index_in_dim(stack, value, top - 1, 0)
        return stack, top

    stack = jnp.zeros((DEPTH, *w.shape[1:]), w.dtype)
    stack, _ = jax.lax.fori_loop(0, length, step, (stack, jnp.int32(0)))
    return stack[0]


def _tangent_branch(name: str, effect: int, fn: Callable) -> Callable:
    """``fn`` with the tangents of the stack's values along w1 and along w2
    (``ta``, ``tb``: shape ``(2, ...)``) and whether each value depends on
    that variable (``ma``, ``mb``: shape ``(2,)``): a tangent of a value that
    does not depend on a variable is zero, so an infinite or undefined slope
    never multiplies it (JAX's symbolic zeros do the same for a traced
    formula)."""

    def masked(m: jax.Array, t: jax.Array) -> jax.Array:
        return jnp.where(m.reshape(2, *([1] * (t.ndim - 1))), t, 0)

    def along(f: Callable, x: jax.Array, t: jax.Array) -> tuple:
        return jax.vmap(lambda d: jax.jvp(f, (x,), (d,)), out_axes=(None, 0))(t)

    def branch(a, b, ta, tb, ma, mb, number, w):
        if name == "noop":
            return a, ta, ma
        value = fn(a, b, number, w)
        if effect == 1:  # a constant or a variable
            which = {"w1": 0, "w2": 1}.get(name)
            depends = jnp.arange(2) == (-1 if which is None else which)
            tangent = jnp.broadcast_to(
                depends.astype(value.dtype).reshape(2, *([1] * value.ndim)),
                ta.shape,
            )
            return value, tangent, depends
        value, from_a = along(lambda x: fn(x, b, number, w), a, ta)
        if effect == 0:
            depends = ma & (number != 0) if name == "integer_power" else ma
            return value, masked(depends, from_a), depends
        _, from_b = along(lambda x: fn(a, x, number, w), b, tb)
        return value, masked(ma, from_a) + masked(mb, from_b), ma | mb

    return branch


_TANGENT_BRANCHES = [_tangent_branch(*operation) for operation in _OPERATIONS]


def _run_with_tangents(codes, numbers, length, w):
    """The value and its partial derivatives ``(2, ...)`` along w1 and w2."""
    effects = jnp.asarray(_EFFECTS)
    shape = w.shape[1:]

    def step(i: jax.Array, carry: tuple) -> tuple:
        stack, tangents, masks, top = carry
        code, number = codes[i], numbers[i]

        def read(k: int) -> tuple:
            at = top - k
            return (
                jax.lax.dynamic_index_in_dim(stack, at, keepdims=False),
                jax.lax.dynamic_index_in_dim(tangents, at, axis=1, keepdims=False),
                jax.lax.dynamic_index_in_dim(masks, at, axis=1, keepdims=False),
            )

        (a, ta, ma), (b, tb, mb) = read(1), read(2)
        value, tangent, mask = jax.lax.switch(
            code, _TANGENT_BRANCHES, a, b, ta, tb, ma, mb, number, w
        )
        top = top + effects[code]
        stack = jax.lax.dynamic_update_index_in_dim(stack, value, top - 1, 0)
        tangents = jax.lax.dynamic_update_index_in_dim(tangents, tangent, top - 1, 1)
        masks = jax.lax.dynamic_update_index_in_dim(masks, mask, top - 1, 1)
        return stack, tangents, masks, top

    start = (
        jnp.zeros((DEPTH, *shape), w.dtype),
        jnp.zeros((2, DEPTH, *shape), w.dtype),
        jnp.zeros((2, DEPTH), bool),
        jnp.int32(0),
    )
    stack, tangents, _, _ = jax.lax.fori_loop(0, length, step, start)
    return stack[0], tangents[:, 0]


@jax.custom_jvp
def _machine(codes, numbers, length, w):
    return _run(codes, numbers, length, w)


@_machine.defjvp
def _machine_jvp(primals: tuple, tangents: tuple) -> tuple:
    # The formula is point-wise: its partial derivatives at each point, by
    # forward mode through the loop, times w's tangent; linear in it, so
    # reverse mode transposes it. Constants are not differentiated.
    value, slopes = _run_with_tangents(*primals)
    dw = tangents[3]
    return value, slopes[0] * dw[0] + slopes[1] * dw[1]


def evaluate(codes: Any, numbers: Any, length: Any, w: Any) -> jax.Array:
    """Runs an encoded program (:func:`encode`) on ``w`` of shape ``(2, ...)``:
    the formula's value, shape ``w.shape[1:]``, in ``w``'s floating dtype (at
    least float32), differentiable in ``w``; more than :data:`CHUNK` points
    :data:`CHUNK` at a time. The program's arrays may be traced."""
    w = jnp.asarray(w)
    if w.ndim < 1 or w.shape[0] != 2:
        raise ValueError(f"`w` must have shape (2, ...), got {w.shape}.")
    dtype = jnp.result_type(w.dtype, jnp.float32)
    w = w.astype(dtype)
    codes = jnp.asarray(codes, jnp.int32)
    with np.errstate(over="ignore"):  # a constant too large for dtype: inf
        numbers = jnp.asarray(numbers).astype(dtype)
    length = jnp.asarray(length, jnp.int32)
    if math.prod(w.shape[1:]) <= CHUNK:
        return _machine(codes, numbers, length, w)
    points = w.reshape(2, -1).T
    values = jax.lax.map(
        lambda p: _machine(codes, numbers, length, p), points, batch_size=CHUNK
    )
    return values.reshape(w.shape[1:])
