"""Grids of hyperparameter configurations, and their checks against a factory.

A :class:`Grid` is a list of configurations (dicts of keyword arguments for an
optimizer factory) laid out with a shape: ``grid(decay=[...], learning_rate=[...])``
has shape ``(len(decay), len(learning_rate))``; zipped lists and explicit tables
are one-dimensional. Values are Python scalars: numbers (swept as traced arrays)
and bools, strings or None (static switches: one compiled program each), as are
the numbers of a parameter annotated ``int`` only (``gradient_accumulation_steps:
int | None``: a count that fixes the program's structure, never an array).
"""

from __future__ import annotations

import inspect
import itertools
import math
import numbers
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from rmsprop_jax import _checks

Value = bool | int | float | str | None
_NUMBER, _BOOL, _STR, _NONE, _ANY = "number", "bool", "str", "none", "any"
_INT = "int"  # a parameter annotated int (not float): static


class Grid:
    """Named hyperparameter configurations with a shape (see :func:`grid`).

    ``len(g)`` is the number of configurations, ``g.shape`` their layout (one
    axis per product axis), ``g.configs()`` the list of keyword-argument dicts in
    row-major order. ``g1 * g2`` is the product of two grids (shapes concatenate).
    """

    __slots__ = ("_columns", "_shape")

    def __init__(self, columns: Mapping[str, Sequence[Value]], shape: Sequence[int]):
        self._columns = {name: tuple(col) for name, col in columns.items()}
        self._shape = tuple(int(n) for n in shape)
        for name, col in self._columns.items():
            if len(col) != len(self):
                raise ValueError(
                    f"Column `{name}` has {len(col)} values for {len(self)} "
                    "configurations."
                )

    @property
    def names(self) -> tuple[str, ...]:
        """The hyperparameter names, in the order they were given."""
        return tuple(self._columns)

    @property
    def shape(self) -> tuple[int, ...]:
        """The layout of the configurations: one entry per axis."""
        return self._shape

    def column(self, name: str) -> tuple[Value, ...]:
        """The values of ``name``, one per configuration (row-major)."""
        return self._columns[name]

    def configs(self) -> list[dict[str, Value]]:
        """One keyword-argument dict per configuration, in row-major order."""
        names = self.names
        if not names:  # the single configuration of no hyperparameters
            return [{} for _ in range(len(self))]
        return [dict(zip(names, row, strict=True)) for row in self._rows()]

    def _rows(self) -> Iterator[tuple[Value, ...]]:
        return zip(*self._columns.values(), strict=True)

    def __len__(self) -> int:
        return math.prod(self._shape)

    def __iter__(self) -> Iterator[dict[str, Value]]:
        return iter(self.configs())

    def __mul__(self, other: Grid) -> Grid:
        if not isinstance(other, Grid):
            return NotImplemented
        if not other.names and not other.shape:
            return self
        if not self.names and not self.shape:
            return other
        shared = sorted(set(self.names) & set(other.names))
        if shared:
            raise ValueError(f"Cannot multiply grids that share names: {shared}.")
        pairs = list(itertools.product(range(len(self)), range(len(other))))
        columns = {n: [c[i] for i, _ in pairs] for n, c in self._columns.items()}
        columns |= {n: [c[j] for _, j in pairs] for n, c in other._columns.items()}
        return Grid(columns, self.shape + other.shape)

    def __repr__(self) -> str:
        return f"Grid(names={self.names}, shape={self.shape})"


def _scalar(name: str, value: Any) -> Value:
    """A grid value as a plain Python scalar, or ValueError."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray | jax.Array | np.generic) and not isinstance(
        value, jax.core.Tracer
    ):
        if np.ndim(value) == 0 and np.asarray(value).dtype.kind in "biuf":
            return np.asarray(value).item()
    elif isinstance(value, numbers.Integral):
        return int(value)
    elif isinstance(value, numbers.Real):
        return float(value)
    raise ValueError(
        f"`{name}`: every value must be a real number, a bool, a string or None "
        f"(a concrete scalar); got {value!r} of type {type(value).__name__}."
    )


def _axis(name: str, values: Any) -> list[Value]:
    """The values of one axis as a list of scalars, or ValueError."""
    if isinstance(values, str | bytes) or np.ndim(values) == 0:
        raise ValueError(
            f"`{name}` must be a sequence of values (an axis), got {values!r}; "
            f"write `{name}=[{values!r}]` for a single value, or fix it in the "
            "factory with functools.partial."
        )
    if isinstance(values, np.ndarray | jax.Array) and np.ndim(values) != 1:
        raise ValueError(
            f"`{name}` must be one-dimensional, got shape {np.shape(values)}."
        )
    out = [_scalar(name, v) for v in values]
    if not out:
        raise ValueError(f"`{name}` is empty: every axis needs at least one value.")
    return out


def grid(**axes: Iterable[Any]) -> Grid:
    """The product of named axes, shaped ``(len(axis_1), len(axis_2), ...)``.

    Args:
      **axes: hyperparameter name -> sequence of values (numbers, or bools,
        strings or None for static switches).

    Returns:
      A :class:`Grid` with one axis per keyword, in the order given.

    Raises:
      ValueError: no axis, an empty axis, or a value that is not a scalar.

    Examples:
      >>> from rmsprop_jax.sweep import grid
      >>> g = grid(decay=[0.9, 0.99], learning_rate=[0.1, 0.01, 0.001])
      >>> g.shape, g.configs()[1]
      ((2, 3), {'decay': 0.9, 'learning_rate': 0.01})
    """
    if not axes:
        raise ValueError("grid() needs at least one axis, e.g. grid(decay=[0.9]).")
    lists = {name: _axis(name, values) for name, values in axes.items()}
    rows = list(itertools.product(*lists.values()))
    columns = {name: [r[i] for r in rows] for i, name in enumerate(lists)}
    return Grid(columns, [len(v) for v in lists.values()])


def zipped(**lists: Iterable[Any]) -> Grid:
    """Configurations taken side by side from equal-length lists (one axis).

    Examples:
      >>> from rmsprop_jax.sweep import zipped
      >>> zipped(decay=[0.9, 0.99], learning_rate=[0.1, 0.01]).configs()
      [{'decay': 0.9, 'learning_rate': 0.1}, {'decay': 0.99, 'learning_rate': 0.01}]
    """
    if not lists:
        raise ValueError("zipped() needs at least one list.")
    columns = {name: _axis(name, values) for name, values in lists.items()}
    lengths = {name: len(col) for name, col in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"zipped() needs lists of equal length, got {lengths}.")
    return Grid(columns, [next(iter(lengths.values()))])


def table(rows: Sequence[Mapping[str, Any]]) -> Grid:
    """An explicit list of configurations (one axis), all with the same names.

    Examples:
      >>> from rmsprop_jax.sweep import table
      >>> table([{"decay": 0.9, "centered": False}, {"decay": 0.5, "centered": True}])
      Grid(names=('decay', 'centered'), shape=(2,))
    """
    rows = list(rows)
    if not rows:
        raise ValueError("table() needs at least one configuration.")
    names = list(rows[0])
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"table() row {i} is not a mapping: {row!r}.")
        if set(row) != set(names):
            raise ValueError(
                f"table() rows must all have the same names: row 0 has "
                f"{sorted(names)}, row {i} has {sorted(row)}. Give every row "
                "every name (the factory's default where a row does not care)."
            )
    if not names:
        raise ValueError("table() rows must name at least one hyperparameter.")
    columns = {n: [_scalar(n, row[n]) for row in rows] for n in names}
    return Grid(columns, [len(rows)])


def as_grid(
    spec: Grid | Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
) -> Grid:
    """A :class:`Grid`; a mapping is a product grid, a list of dicts a table,
    None the single configuration of no hyperparameters (shape ``()``)."""
    if spec is None:
        return Grid({}, ())
    if isinstance(spec, Grid):
        return spec
    if isinstance(spec, Mapping):
        return grid(**spec)
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        return table(spec)
    raise ValueError(
        "`grid` must be a Grid (from grid(), zipped() or table()), a mapping of "
        f"axes or a list of configuration dicts, got {type(spec).__name__}."
    )


def _kinds(annotation: Any) -> set[Any]:
    """What a parameter annotation admits: kind names and Literal values."""
    if annotation in (inspect.Parameter.empty, Any):
        return {_ANY}
    if annotation is None or annotation is type(None):
        return {_NONE}
    if annotation is bool:
        return {_BOOL}
    if annotation is str:
        return {_STR}
    if annotation is int:
        return {_INT}
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return {("literal", v) for v in typing.get_args(annotation)}
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_kinds(a) for a in typing.get_args(annotation)))
    return {_NUMBER}


def factory_parameters(make_tx: Callable) -> dict[str, set[Any]] | None:
    """Keyword parameters of ``make_tx`` and their kinds; None if it takes any."""
    try:
        signature = inspect.signature(make_tx, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        try:
            signature = inspect.signature(make_tx)
        except (TypeError, ValueError):
            return None
    except ValueError:
        return None
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    annotations = {p.name: p.annotation for p in params if p.kind in named}
    if any(isinstance(a, str) for a in annotations.values()):
        return {name: {_ANY} for name in annotations}  # unresolved annotations
    return {name: _kinds(a) for name, a in annotations.items()}


def _describe(make_tx: Callable) -> str:
    return getattr(make_tx, "__qualname__", None) or type(make_tx).__name__


def is_static(kinds: set[Any] | None, value: Value) -> bool:
    """True if ``value`` is a static switch (Python value), not a traced number."""
    if value is None or isinstance(value, bool | str):
        return True
    if kinds is None or _ANY in kinds or _NUMBER in kinds:
        return False
    # A number for an int (count), bool, str or Literal parameter stays Python.
    return True


def _check_strings(make_tx: Callable, name: str, kinds: set[Any] | None, g: Grid):
    literals = {k[1] for k in kinds or () if isinstance(k, tuple)}
    for value in set(g.column(name)) - {None}:
        if not isinstance(value, str) or kinds is None:
            continue
        if _ANY in kinds or _STR in kinds or value in literals:
            continue
        allowed = f"; it must be one of {', '.join(sorted(map(repr, literals)))}"
        raise ValueError(
            f"`{name}` got the non-numeric value {value!r}, but "
            f"{_describe(make_tx)} does not declare `{name}` as str (or a "
            f"Literal with that value){allowed if literals else ''}. Only "
            "static switches take strings; numbers are swept as arrays."
        )


def check_against(
    factories: Mapping[str, Callable] | Callable,
    g: Grid,
    reserved: Sequence[str] = (),
) -> dict[str, dict[str, set[Any] | None]]:
    """ValueError for grid names no factory takes, or strings it does not.

    ``factories`` is one factory or a mapping of named ones; names in
    ``reserved`` (``"landscape"``) are the sweep's own. Returns, per factory
    name (``""`` for a single factory), the kinds of each grid name it takes
    (None when the factory says nothing about a name).
    """
    if not isinstance(factories, Mapping):
        factories = {"": factories}
    taken: dict[str, dict[str, set[Any] | None]] = {}
    signatures = {n: factory_parameters(f) for n, f in factories.items()}
    for name in g.names:
        if name in reserved:
            continue
        takers = [
            n for n, params in signatures.items() if params is None or name in params
        ]
        if not takers:
            known = sorted({p for params in signatures.values() for p in params or ()})
            hint = _checks.did_you_mean(name, known)
            if len(factories) == 1:
                make_tx = next(iter(factories.values()))
                first = next(iter(signatures.values()))
                own = ", ".join(first or ())
                raise ValueError(
                    f"`{name}` is not a parameter of {_describe(make_tx)}; its "
                    f"parameters are: {own or '(none)'}.{hint}"
                )
            raise ValueError(
                f"`{name}` is not a parameter of any of the optimizers "
                f"{', '.join(factories)}; their parameters are: "
                f"{', '.join(known)}.{hint}"
            )
    for fname, make_tx in factories.items():
        params = signatures[fname]
        kinds: dict[str, set[Any] | None] = {}
        for name in g.names:
            if name in reserved or (params is not None and name not in params):
                continue
            kinds[name] = None if params is None else params[name]
            _check_strings(make_tx, name, kinds[name], g)
        taken[fname] = kinds
    return taken
