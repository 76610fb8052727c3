"""A safe parser from a formula in ``w1, w2`` to a jittable ``jax.numpy`` function.

Nothing here evaluates user text as Python: a hand-written tokenizer feeds a
recursive-descent parser over a whitelist grammar, which emits a flat program
in reverse Polish notation; the returned closure runs that program on jnp
values with a stack (so evaluation never recurses). Every rejection is a
``ValueError`` that says what is wrong and at which column (1-based).

Grammar (``^`` is accepted as a synonym of ``**``)::

    expression := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := ("+" | "-") unary | power
    power      := atom (("**" | "^") unary)?          # right-associative
    atom       := NUMBER | VARIABLE | CONSTANT | FUNCTION "(" arguments ")"
                | "(" expression ")"
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

MAX_LENGTH = 500
MAX_DEPTH = 50
MAX_EXPONENT = 100.0

VARIABLES = {"w1": 0, "w2": 1}
CONSTANTS = {"pi": math.pi, "e": math.e}
# name -> (number of arguments, jnp function, NumPy function for constant folding)
FUNCTIONS: dict[str, tuple[int, Callable, Callable]] = {
    "sin": (1, jnp.sin, np.sin),
    "cos": (1, jnp.cos, np.cos),
    "tan": (1, jnp.tan, np.tan),
    "arcsin": (1, jnp.arcsin, np.arcsin),
    "arccos": (1, jnp.arccos, np.arccos),
    "arctan": (1, jnp.arctan, np.arctan),
    "sinh": (1, jnp.sinh, np.sinh),
    "cosh": (1, jnp.cosh, np.cosh),
    "tanh": (1, jnp.tanh, np.tanh),
    "exp": (1, jnp.exp, np.exp),
    "log": (1, jnp.log, np.log),
    "log10": (1, jnp.log10, np.log10),
    "log1p": (1, jnp.log1p, np.log1p),
    "sqrt": (1, jnp.sqrt, np.sqrt),
    "abs": (1, jnp.abs, np.abs),
    "square": (1, jnp.square, np.square),
    "sign": (1, jnp.sign, np.sign),
    "arctan2": (2, jnp.arctan2, np.arctan2),
    "hypot": (2, jnp.hypot, np.hypot),
    "minimum": (2, jnp.minimum, np.minimum),
    "maximum": (2, jnp.maximum, np.maximum),
}
ALIASES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2"}
ALIASES |= {"ln": "log", "min": "minimum", "max": "maximum"}

_PYTHON_KEYWORDS = frozenset(
    "and as assert async await break class continue def del elif else except "
    "finally for from global if import in is lambda nonlocal not or pass raise "
    "return try while with yield None True False".split()
)
_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("**", "+", "-", "*", "/", "^", "(", ")", ",")
_WHITESPACE = " \t\r\n"
# The left-associative binary operators, loosest first (``**`` binds tighter
# than a sign and to the right: ``_Parser._parse_power``).
_BINARY_LEVELS = (("+", "-"), ("*", "/"))
_FORBIDDEN = {
    ".": "attribute access ('.') is not allowed",
    "[": "brackets are not allowed (no indexing, lists or comprehensions)",
    "]": "brackets are not allowed (no indexing, lists or comprehensions)",
    "{": "braces are not allowed (no sets, dicts or comprehensions)",
    "}": "braces are not allowed (no sets, dicts or comprehensions)",
    "=": "'=' is not allowed (no assignments, comparisons or keyword arguments)",
    ":": "':' is not allowed (no lambdas, slices or annotations)",
    "@": "'@' is not allowed (no decorators or matrix products)",
    "'": "quotes are not allowed (no strings)",
    '"': "quotes are not allowed (no strings)",
}


class _Token(NamedTuple):
    kind: str  # "number", "name", "op" or "end"
    text: str
    column: int  # 1-based


def _error(text: str, column: int, message: str) -> ValueError:
    """A ValueError naming the problem and pointing at its column."""
    start = max(0, column - 1 - 30)
    excerpt = text[start : column - 1 + 30].replace("\n", " ").replace("\t", " ")
    caret = " " * (column - 1 - start) + "^"
    return ValueError(f"{message} at column {column}:\n  {excerpt}\n  {caret}")


def _tokenize(text: str) -> list[_Token]:
    tokens, i = [], 0
    while i < len(text):
        char = text[i]
        if char in _WHITESPACE:
            i += 1
            continue
        number, name = _NUMBER.match(text, i), _NAME.match(text, i)
        match = number or name
        if match:
            token = _Token("number" if number else "name", match.group(), i + 1)
            _check_name(text, token)
            tokens.append(token)
            i += len(token.text)
            continue
        op = next((op for op in _OPERATORS if text.startswith(op, i)), None)
        if op is None:
            reason = _FORBIDDEN.get(char, f"unexpected character {char!r}")
            raise _error(text, i + 1, reason)
        tokens.append(_Token("op", op, i + 1))
        i += len(op)
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def _check_name(text: str, token: _Token) -> None:
    if token.kind != "name":
        return
    if token.text.startswith("_"):
        raise _error(text, token.column, f"name {token.text!r} is not allowed")
    if token.text in _PYTHON_KEYWORDS:
        reason = f"Python keyword {token.text!r} is not allowed"
        raise _error(text, token.column, reason)


class _Parser:
    """Recursive descent; each ``_parse_*`` appends to ``program`` and returns
    the subexpression's value if it is a constant (else None)."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.position = 0
        self.depth = 0
        self.program: list[tuple] = []

    @property
    def token(self) -> _Token:
        return self.tokens[self.position]

    def _fail(self, message: str, token: _Token | None = None) -> ValueError:
        return _error(self.text, (token or self.token).column, message)

    def _take(self, *ops: str) -> _Token | None:
        if self.token.kind == "op" and self.token.text in ops:
            self.position += 1
            return self.tokens[self.position - 1]
        return None

    def _expect(self, op: str, context: str) -> None:
        if self._take(op) is None:
            raise self._fail(f"expected '{op}' {context}, found {self._describe()}")

    def _describe(self) -> str:
        token = self.token
        return "the end of the input" if token.kind == "end" else repr(token.text)

    def parse(self) -> list[tuple]:
        if self.token.kind == "end":
            raise self._fail("empty expression")
        self._parse_expression()
        if self.token.kind != "end":
            hint = " (write '*' for a product)" if self.token.kind != "op" else ""
            raise self._fail(f"unexpected {self._describe()}{hint}")
        return self.program

    def _parse_expression(self, level: int = 0) -> float | None:
        """Operands joined by the operators of ``_BINARY_LEVELS[level]``, left
        to right: a sum of terms (level 0), a term of unary operands (1)."""
        if level == len(_BINARY_LEVELS):
            return self._parse_unary()
        value = self._parse_expression(level + 1)
        while token := self._take(*_BINARY_LEVELS[level]):
            right = self._parse_expression(level + 1)
            value = self._emit_binary(token.text, value, right)
        return value

    def _parse_unary(self) -> float | None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._fail(f"expression nested deeper than {MAX_DEPTH} levels")
        if token := self._take("-", "+"):
            value = self._parse_unary()
            if token.text == "-":
                self.program.append(("negate",))
                value = None if value is None else -value
        else:
            value = self._parse_power()
        self.depth -= 1
        return value

    def _parse_power(self) -> float | None:
        base = self._parse_atom()
        token = self._take("**", "^")
        if token is None:
            return base
        start = len(self.program)
        exponent = self._parse_unary()
        if exponent is not None:
            if not abs(exponent) <= MAX_EXPONENT:  # also rejects nan
                raise self._fail(
                    f"constant exponent {exponent:g} is out of range (the limit "
                    f"is |exponent| <= {MAX_EXPONENT:g})",
                    token,
                )
            if float(exponent).is_integer():  # exact integer powers, any sign
                del self.program[start:]
                self.program.append(("integer_power", int(exponent)))
                return None if base is None else _fold(np.power, base, exponent)
        return self._emit_binary("**", base, exponent)

    def _parse_atom(self) -> float | None:
        token = self.token
        if token.kind == "number":
            self.position += 1
            value = float(token.text)
            if not math.isfinite(value):
                raise self._fail(f"number {token.text} is not finite", token)
            self.program.append(("constant", value))
            return value
        if token.kind == "name":
            self.position += 1
            return self._parse_name(token)
        if self._take("("):
            inner = self._parse_expression()
            self._expect(")", f"to close the '(' at column {token.column}")
            return inner
        raise self._fail(f"expected a number, a name or '(', found {self._describe()}")

    def _parse_name(self, token: _Token) -> float | None:
        name = token.text
        called = self.token.kind == "op" and self.token.text == "("
        if called and (name in VARIABLES or name in CONSTANTS):
            raise self._fail(f"{name!r} is not a function", token)
        if name in VARIABLES:
            self.program.append(("variable", VARIABLES[name]))
            return None
        if name in CONSTANTS:
            self.program.append(("constant", CONSTANTS[name]))
            return CONSTANTS[name]
        canonical = ALIASES.get(name, name)
        if canonical not in FUNCTIONS:
            if called:
                allowed = ", ".join([*FUNCTIONS, *ALIASES])
                raise self._fail(
                    f"unknown function {name!r} (allowed: {allowed})", token
                )
            allowed = ", ".join([*VARIABLES, *CONSTANTS])
            raise self._fail(f"unknown name {name!r} (allowed: {allowed})", token)
        if not called:
            raise self._fail(f"function {name!r} must be called: {name}(...)", token)
        return self._parse_call(canonical, token)

    def _parse_call(self, name: str, token: _Token) -> float | None:
        arity, _, numpy_fn = FUNCTIONS[name]
        self._expect("(", "after a function name")
        arguments = [self._parse_expression()]
        while self._take(","):
            arguments.append(self._parse_expression())
        self._expect(")", f"to close the call of {token.text!r}")
        if len(arguments) != arity:
            raise self._fail(
                f"{token.text!r} takes {arity} argument(s), got {len(arguments)}",
                token,
            )
        self.program.append(("call", name))
        known = [argument for argument in arguments if argument is not None]
        if len(known) < len(arguments):
            return None
        return _fold(numpy_fn, *known)

    def _emit_binary(self, op: str, left, right) -> float | None:
        self.program.append(("binary", op))
        if left is None or right is None:
            return None
        return _fold(_NUMPY_BINARY[op], left, right)


_NUMPY_BINARY: dict[str, Callable[..., Any]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "**": np.power,
}
BINARY_OPERATIONS: dict[str, Callable[..., Any]] = {
    "+": jnp.add,
    "-": jnp.subtract,
    "*": jnp.multiply,
    "/": jnp.divide,
    "**": jnp.power,
}


def _fold(fn: Callable, *args: float) -> float:
    """A constant subexpression's value, in float64 (inf/nan instead of errors)."""
    with np.errstate(all="ignore"):
        return float(fn(*(np.float64(a) for a in args)))


def _constant(value: float, dtype) -> np.ndarray:
    """A constant in the evaluation dtype; too large for it becomes inf, silently."""
    with np.errstate(over="ignore"):
        return np.asarray(value, dtype)


def _run(program: list[tuple], w: jax.Array) -> jax.Array:
    stack: list = []
    for instruction in program:
        kind = instruction[0]
        if kind == "constant":
            stack.append(_constant(instruction[1], w.dtype))
        elif kind == "variable":
            stack.append(w[instruction[1]])
        elif kind == "negate":
            stack.append(-stack.pop())
        elif kind == "integer_power":
            stack.append(jax.lax.integer_pow(jnp.asarray(stack.pop()), instruction[1]))
        elif kind == "call":
            arity, fn, _ = FUNCTIONS[instruction[1]]
            arguments = stack[len(stack) - arity :]
            del stack[len(stack) - arity :]
            stack.append(fn(*arguments))
        else:  # binary
            right, left = stack.pop(), stack.pop()
            stack.append(BINARY_OPERATIONS[instruction[1]](left, right))
    return stack.pop()


def program(text: str) -> list[tuple]:
    """``text``'s program in reverse Polish notation, one tuple an
    instruction: ``("constant", value)``, ``("variable", 0 | 1)``,
    ``("negate",)``, ``("integer_power", n)``, ``("call", name)`` or
    ``("binary", op)``; see ``landscapes.from_expression`` for what it
    raises."""
    if not isinstance(text, str):
        raise TypeError(f"the expression must be a str, got {type(text).__name__}.")
    if len(text) > MAX_LENGTH:
        raise ValueError(
            f"the expression is {len(text)} characters long; the limit is {MAX_LENGTH}."
        )
    return _Parser(text).parse()


def parse(text: str) -> Callable[[jax.Array], jax.Array]:
    """Compiles ``text`` into ``f(w)``; see ``landscapes.from_expression``."""
    instructions = program(text)

    def fn(w: jax.Array) -> jax.Array:
        w = jnp.asarray(w)
        if w.ndim < 1 or w.shape[0] != 2:
            raise ValueError(f"`w` must have shape (2, ...), got {w.shape}.")
        dtype = jnp.result_type(w.dtype, jnp.float32)
        w = w.astype(dtype)
        return jnp.broadcast_to(_run(instructions, w), w.shape[1:]).astype(dtype)

    return fn
