"""The page's state: defaults, validation of every value the browser sends,
and the URL query string that stores it.

Nothing from the browser is trusted: :func:`validate` checks each value's type
and range and raises :class:`InvalidValue` (a ValueError) naming the control,
the value and what is allowed; the callbacks turn it into a message on the page.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
import urllib.parse
from collections.abc import Mapping
from typing import Any

from rmsprop_jax import landscapes
from rmsprop_jax.explorer._catalog import OPTIMIZERS, SWEEPABLE
from rmsprop_jax.explorer._schedules import SCHEDULES

CUSTOM = "custom"
"""The ``landscape`` value of a typed formula."""

MLP = "mlp-digits"
"""The ``landscape`` value of the small network's loss on scikit-learn's digits."""


VALLEY_CONDITION = 10.0 / 3.0
"""The worked example's valley 3 w1^2 + 10 w2^2: curvatures 6 and 20."""

MAX_STEPS = 1000
"""The most steps a view shows; every path is computed this long."""

RANGES: dict[str, tuple[float, float]] = {
    "learning_rate": (1e-4, 1.0),
    "sgd_learning_rate": (1e-5, 1.0),
    "decay": (0.0, 0.999),
    "eps": (1e-12, 1.0),
    "momentum": (0.0, 0.99),
    "steps": (1, MAX_STEPS),
    "noise": (0.0, 1.0),
    "condition": (1.0, 1000.0),
}
"""Allowed ranges of the numeric controls (the sliders' ends)."""

START_LIMIT = 1e4
"""The largest allowed ``|w1|``, ``|w2|`` of a start point."""

CONTROL_IDS = {
    "learning_rate": "learning-rate",
    "sgd_learning_rate": "sgd-learning-rate",
    "decay": "decay",
    "eps": "eps",
    "momentum": "momentum",
    "steps": "steps",
    "noise": "noise",
    "condition": "condition",
}


class InvalidValue(ValueError):
    """A value from the browser (or the URL) that the page does not accept."""


@dataclasses.dataclass(frozen=True)
class State:
    """Everything a view depends on."""

    landscape: str = "valley"
    formula: str = "sin(w1) + cos(w2)"
    optimizers: tuple[str, ...] = ("sgd", "rmsprop")
    learning_rate: float = 0.2
    sgd_learning_rate: float = 0.001
    decay: float = 0.9
    eps: float = 1e-8
    momentum: float = 0.9
    steps: int = 200
    eps_in_sqrt: bool = True
    start: tuple[float, float] = (-15.0, 20.0)
    sweep_optimizer: str = "rmsprop"
    noise: float = 0.0
    condition: float = VALLEY_CONDITION
    schedule: str = "constant"

    def replace(self, **changes: Any) -> State:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["optimizers"] = list(self.optimizers)
        out["start"] = list(self.start)
        return out


DEFAULT = State()
"""The first view: the worked example's valley, start and gradient descent,
RMSprop with eta = 0.2 for 200 steps, long enough to see its sign-like first
steps at 45 degrees, its arrival at the minimum and its small oscillation
there while gradient descent is still on its way."""

WORKED_EXAMPLE = State(
    landscape="valley",
    optimizers=("sgd", "rmsprop"),
    learning_rate=0.05,
    sgd_learning_rate=0.001,
    decay=0.9,
    eps=1e-8,
    eps_in_sqrt=True,
    start=(-15.0, 20.0),
    steps=100,
)
"""Hinton's worked example: the valley from (-15, 20), RMSprop eta = 0.05,
beta = 0.9, eps = 1e-8 next to gradient descent eta = 0.001."""


def _number(name: str, value: Any, *, integer: bool = False) -> float:
    """A finite number within ``RANGES[name]``, or :class:`InvalidValue`."""
    control = CONTROL_IDS.get(name, name)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidValue(
                f"`{control}` must be a number, got {value!r}."
            ) from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidValue(f"`{control}` must be a number, got {value!r}.")
    value = float(value)
    lo, hi = RANGES[name]
    if not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidValue(f"`{control}` must lie in [{lo:g}, {hi:g}], got {value!r}.")
    if integer:
        if value != int(value):
            raise InvalidValue(f"`{control}` must be a whole number, got {value!r}.")
        return int(value)
    return value


def _choice(control: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidValue(
            f"`{control}` must be one of {', '.join(allowed)}; got {value!r}."
        )
    return value


def _start(value: Any) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise InvalidValue(f"`start` must be two numbers w1, w2; got {value!r}.")
    out = []
    for v in value:
        if isinstance(v, str):
            try:
                v = float(v.strip())
            except ValueError:
                raise InvalidValue(f"`start` must be numbers, got {value!r}.") from None
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise InvalidValue(f"`start` must be numbers, got {value!r}.")
        if not math.isfinite(float(v)) or abs(float(v)) > START_LIMIT:
            raise InvalidValue(
                f"`start` coordinates must be finite with |w| <= {START_LIMIT:g}; "
                f"got {value!r}."
            )
        out.append(float(v))
    return out[0], out[1]


def _optimizers(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidValue(f"`optimizers` must be a list of names, got {value!r}.")
    for v in value:
        _choice("optimizers", v, tuple(OPTIMIZERS))
    return tuple(k for k in OPTIMIZERS if k in value)  # catalogue order, no repeats


def _formula(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidValue(f"`formula` must be text, got {value!r}.")
    return value


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("inside", "outside"):
        return value == "inside"
    raise InvalidValue(f"`{name}` must be 'inside' or 'outside', got {value!r}.")


_FIELDS = {
    "landscape": lambda v: _choice(
        "landscape", v, (*landscapes.LANDSCAPES, MLP, CUSTOM)
    ),
    "formula": _formula,
    "optimizers": _optimizers,
    "learning_rate": lambda v: _number("learning_rate", v),
    "sgd_learning_rate": lambda v: _number("sgd_learning_rate", v),
    "decay": lambda v: _number("decay", v),
    "eps": lambda v: _number("eps", v),
    "momentum": lambda v: _number("momentum", v),
    "steps": lambda v: _number("steps", v, integer=True),
    "noise": lambda v: _number("noise", v),
    "condition": lambda v: _number("condition", v),
    "schedule": lambda v: _choice("schedule", v, SCHEDULES),
    "eps_in_sqrt": lambda v: _flag("eps-placement", v),
    "start": _start,
    "sweep_optimizer": lambda v: _choice("sweep-optimizer", v, SWEEPABLE),
}


def validate(values: Mapping[str, Any], base: State = DEFAULT) -> State:
    """``base`` with ``values`` (field name -> raw value) checked and applied.

    Raises:
      InvalidValue: an unknown field, or a value of the wrong type or range.

    Examples:
      >>> validate({"decay": 0.5, "steps": "20"}).decay
      0.5
      >>> validate({"decay": 2})
      Traceback (most recent call last):
        ...
      rmsprop_jax.explorer._state.InvalidValue: `decay` must lie in [0, 0.999], got 2.0.
    """
    changes = {}
    for name, value in values.items():
        if name not in _FIELDS:
            raise InvalidValue(f"Unknown setting {name!r}.")
        changes[name] = _FIELDS[name](value)
    return base.replace(**changes)


_QUERY = {  # query key -> field
    "landscape": "landscape",
    "formula": "formula",
    "opt": "optimizers",
    "lr": "learning_rate",
    "sgd_lr": "sgd_learning_rate",
    "decay": "decay",
    "eps": "eps",
    "momentum": "momentum",
    "steps": "steps",
    "eps_in": "eps_in_sqrt",
    "start": "start",
    "sweep": "sweep_optimizer",
    "noise": "noise",
    "condition": "condition",
    "schedule": "schedule",
}


def to_query(state: State) -> str:
    """The URL query string (with its ``?``) that restores ``state``.

    Examples:
      >>> q = to_query(DEFAULT)
      >>> from_query(q) == DEFAULT
      True
    """
    values = {
        "landscape": state.landscape,
        "opt": ",".join(state.optimizers),
        "lr": repr(state.learning_rate),
        "sgd_lr": repr(state.sgd_learning_rate),
        "decay": repr(state.decay),
        "eps": repr(state.eps),
        "momentum": repr(state.momentum),
        "steps": str(state.steps),
        "eps_in": "inside" if state.eps_in_sqrt else "outside",
        "start": f"{state.start[0]!r},{state.start[1]!r}",
        "sweep": state.sweep_optimizer,
    }
    if state.noise:
        values["noise"] = repr(state.noise)
    if state.condition != VALLEY_CONDITION:
        values["condition"] = repr(state.condition)
    if state.schedule != "constant":
        values["schedule"] = state.schedule
    if state.landscape == CUSTOM:
        values["formula"] = state.formula
    return "?" + urllib.parse.urlencode(values)


def from_query(search: Any) -> State:
    """The state a URL query string describes; defaults for what it omits.

    Raises:
      InvalidValue: an unknown key, a repeated key, or a bad value.
    """
    if search is None or search == "":
        return DEFAULT
    if not isinstance(search, str):
        raise InvalidValue(f"The URL query must be text, got {search!r}.")
    pairs = urllib.parse.parse_qsl(search.lstrip("?"), keep_blank_values=True)
    values: dict[str, Any] = {}
    for key, value in pairs:
        if key not in _QUERY:
            raise InvalidValue(
                f"Unknown URL parameter {key!r}; allowed: {', '.join(_QUERY)}."
            )
        if _QUERY[key] in values:
            raise InvalidValue(f"URL parameter {key!r} is given twice.")
        parsed: Any = value
        if key == "opt":
            parsed = [v for v in value.split(",") if v]
        elif key == "start":
            parsed = value.split(",")
        values[_QUERY[key]] = parsed
    return validate(values)


# The sliders' positions: learning rates, eps and the condition number on a
# log10 scale; decay piecewise linear through 0, 0.9, 0.99 and 0.999 at
# positions 0, 0.9, 1.8 and 2.7, so that each step of 0.1 (a drag step, an
# arrow key) changes the last digit of beta: 0.1, 0.2 .. 0.9, 0.91 .. 0.99,
# 0.991 .. 0.999. The readouts show the values themselves.
DECAY_KNOTS = ((0.0, 0.0), (0.9, 0.9), (1.8, 0.99), (2.7, 0.999))
"""(slider position, decay) at the ends of the decay slider's linear pieces."""
SLIDERS: dict[str, tuple[float, float, float]] = {  # field -> (min, max, step)
    "learning_rate": (-4.0, 0.0, 0.01),
    "sgd_learning_rate": (-5.0, 0.0, 0.01),
    "decay": (0.0, 2.7, 0.1),
    "eps": (-12.0, 0.0, 0.1),
    "momentum": (0.0, 0.99, 0.01),
    "steps": (1, MAX_STEPS, 1),
    "noise": (0.0, 1.0, 0.05),
    "condition": (0.0, 3.0, 0.01),
}


_LOG_SLIDERS = ("learning_rate", "sgd_learning_rate", "eps", "condition")


def to_slider(name: str, value: float) -> float:
    """The slider position of a value of field ``name``.

    Examples:
      >>> to_slider("decay", 0.99), to_slider("decay", 0.95), to_slider("eps", 1e-8)
      (1.8, 1.4, -8.0)
    """
    if name in _LOG_SLIDERS:
        return round(math.log10(value), 6)
    if name == "decay":
        for (p0, lo), (p1, hi) in itertools.pairwise(DECAY_KNOTS):
            if value <= hi:
                return round(p0 + (value - lo) / (hi - lo) * (p1 - p0), 6)
        return DECAY_KNOTS[-1][0]
    return value


def from_slider(name: str, position: Any) -> float:
    """The value of field ``name`` at slider ``position`` (3 significant digits
    on log scales, decay to its step's last digit), validated.

    Raises:
      InvalidValue: a position that is not a number or lies off the slider.

    Examples:
      >>> from_slider("decay", 0.9), from_slider("decay", 2.3)
      (0.9, 0.995)
      >>> from_slider("learning_rate", -1.3)
      0.0501
    """
    control = CONTROL_IDS.get(name, name)
    lo, hi, _ = SLIDERS[name]
    if isinstance(position, bool) or not isinstance(position, numbers.Real):
        raise InvalidValue(f"`{control}` must be a number, got {position!r}.")
    position = float(position)
    if not math.isfinite(position) or not lo <= position <= hi:
        raise InvalidValue(
            f"`{control}` slider position must lie in [{lo:g}, {hi:g}], "
            f"got {position!r}."
        )
    if name in _LOG_SLIDERS:
        value = float(f"{10.0**position:.3g}")
    elif name == "decay":
        pieces = list(itertools.pairwise(DECAY_KNOTS))
        (p0, lo), (p1, hi) = next(
            (piece for piece in pieces if position <= piece[1][0]), pieces[-1]
        )
        value = round(lo + (position - p0) / (p1 - p0) * (hi - lo), 6)
    else:
        value = round(position, 6)  # no float noise from the slider's steps
    return validate({name: value}).__getattribute__(name)
