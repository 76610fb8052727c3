"""The optimizers the explorer offers: one catalogue row per optimizer.

A row (:class:`Optimizer`) names the library function that builds it, which of
the page's values it reads under which of the function's argument names, and
its static switches. The page's shared values are ``learning_rate``
(:math:`\\eta` of the sign-like and adaptive methods, Rprop's initial step
:math:`\\Delta_0`), ``sgd_learning_rate`` (:math:`\\eta` of gradient descent
with and without momentum, whose step scales with the gradient), ``decay``
(:math:`\\beta`, Adam's :math:`\\beta_2`), ``eps``, ``momentum`` (Adam's
:math:`\\beta_1`) and ``eps_in_sqrt`` (RMSprop's family only). Every number
stays a traced array; the row's switches are static.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any

import optax

import rmsprop_jax as rj
from rmsprop_jax.explorer._schedules import scheduled

FIELDS = (
    "learning_rate",
    "sgd_learning_rate",
    "decay",
    "eps",
    "momentum",
    "eps_in_sqrt",
)
"""The page's values an optimizer can read."""


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """One optimizer of the page."""

    label: str  # legend and checklist label
    colour: str  # base colour of its path (hex)
    function: str  # the rmsprop_jax function that builds it
    reads: tuple[tuple[str, str], ...]  # (function argument, page value)
    switches: tuple[tuple[str, Any], ...] = ()  # static arguments

    @property
    def takes_schedule(self) -> bool:
        """Whether its learning rate may be a schedule (not Rprop's, whose
        eta is the initial step size, read once)."""
        return self.function != "rprop"

    @property
    def uses(self) -> tuple[str, ...]:
        """The page values it reads."""
        return tuple(field for _, field in self.reads)

    def arguments(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The library function's keyword arguments for the page's ``values``."""
        kwargs = {arg: values[field] for arg, field in self.reads}
        kwargs.update(self.switches)
        return kwargs


def _rmsprop(label: str, colour: str, *extra: tuple[str, str], **switches: Any):
    reads = (("learning_rate", "learning_rate"), ("decay", "decay"), ("eps", "eps"))
    return Optimizer(
        label,
        colour,
        "rmsprop",
        (*reads, *extra, ("eps_in_sqrt", "eps_in_sqrt")),
        tuple(switches.items()),
    )


_SGD = (("learning_rate", "sgd_learning_rate"),)
_SGD_MOMENTUM = (*_SGD, ("momentum", "momentum"))
_LR = (("learning_rate", "learning_rate"),)

OPTIMIZERS: dict[str, Optimizer] = {
    "sgd": Optimizer("SGD", "#1f77b4", "sgd", _SGD),
    "momentum": Optimizer("momentum", "#17becf", "sgd", _SGD_MOMENTUM),
    "nesterov": Optimizer(
        "Nesterov", "#b15928", "sgd", _SGD_MOMENTUM, (("nesterov", True),)
    ),
    "rmsprop": _rmsprop("RMSprop", "#d62728"),
    "centered": _rmsprop("centered RMSprop", "#e377c2", centered=True),
    "rmsprop-momentum": _rmsprop(
        "RMSprop + momentum", "#ff7f0e", ("momentum", "momentum")
    ),
    "adagrad": Optimizer("Adagrad", "#2ca02c", "adagrad", (*_LR, ("eps", "eps"))),
    "adam": Optimizer(
        "Adam",
        "#6a3d9a",
        "adam",
        (*_LR, ("b1", "momentum"), ("b2", "decay"), ("eps", "eps")),
    ),
    "sign": Optimizer("sign descent", "#636363", "sign_sgd", _LR),
    **{
        variant: Optimizer(label, colour, "rprop", _LR, (("variant", variant),))
        for variant, label, colour in (
            ("rprop+", "Rprop+", "#e6ab02"),
            ("rprop-", "Rprop-", "#a6761d"),
            ("irprop+", "iRprop+", "#1b9e77"),
            ("irprop-", "iRprop-", "#66a61e"),
        )
    },
}
"""Every optimizer of the page, by the key used in URLs and the checklist."""

SCHEDULED = ("schedule", "horizon")
"""The engine's names of the schedule's kind (an index into
:data:`._schedules.SCHEDULES`) and its horizon, which every factory whose
optimizer takes a schedule accepts."""

SWEEPABLE: tuple[str, ...] = ("rmsprop", "centered", "rmsprop-momentum", "adam")
"""The optimizers with both a learning rate and a decay: the (beta, eta) sweep's."""


def _row(optimizer: str) -> Optimizer:
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"`optimizer` must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}."
        )
    return OPTIMIZERS[optimizer]


def arguments(
    optimizer: str,
    learning_rate: Any,
    sgd_learning_rate: Any,
    decay: Any,
    eps: Any,
    momentum: Any,
    eps_in_sqrt: bool = True,
) -> tuple[str, dict[str, Any]]:
    """The library function that builds ``optimizer`` and its keyword arguments.

    Raises:
      ValueError: an unknown ``optimizer``.

    Examples:
      >>> arguments("adam", 0.1, 0.001, 0.99, 1e-8, 0.9)
      ('adam', {'learning_rate': 0.1, 'b1': 0.9, 'b2': 0.99, 'eps': 1e-08})
    """
    row = _row(optimizer)
    values = {
        "learning_rate": learning_rate,
        "sgd_learning_rate": sgd_learning_rate,
        "decay": decay,
        "eps": eps,
        "momentum": momentum,
        "eps_in_sqrt": eps_in_sqrt,
    }
    return row.function, row.arguments(values)


def make_optimizer(*args: Any, **kwargs: Any) -> optax.GradientTransformation:
    """Builds ``optimizer`` (a key of :data:`OPTIMIZERS`) with the page's values:
    the arguments of :func:`arguments`, whose call it makes.

    Every numeric argument may be a traced array; ``optimizer`` and
    ``eps_in_sqrt`` are static.

    Raises:
      ValueError: an unknown ``optimizer``.

    Examples:
      >>> import jax.numpy as jnp
      >>> tx = make_optimizer("rmsprop", 0.05, 0.001, 0.9, 1e-8, 0.9)
      >>> u, _ = tx.update(jnp.array([-90.0, 400.0]), tx.init(jnp.zeros(2)))
      >>> print(u.round(4))  # eta sign(g) / sqrt(1 - beta) on the first step
      [ 0.1581 -0.1581]
    """
    name, built_with = arguments(*args, **kwargs)
    return getattr(rj, name)(**built_with)


class Factory:
    """The trajectory engine's factory of one row: keyword arguments named as
    the page's values, only those the row reads. It returns the library's
    transformation, whose declaration tells the engine's diagnostics how its
    state is read. Equal for equal keys, so a new one never recompiles a
    program.

    Examples:
      >>> import inspect
      >>> list(inspect.signature(Factory("momentum")).parameters)
      ['sgd_learning_rate', 'momentum', 'schedule', 'horizon']
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.__name__ = self.__qualname__ = f"explorer_{key}"
        kind = inspect.Parameter.KEYWORD_ONLY
        self.__signature__ = inspect.Signature(
            [
                inspect.Parameter(
                    field,
                    kind,
                    annotation=bool if field == "eps_in_sqrt" else Any,
                )
                for field in (
                    *_row(key).uses,
                    *(SCHEDULED if _row(key).takes_schedule else ()),
                )
            ]
        )

    def __call__(self, **values: Any) -> optax.GradientTransformation:
        row = _row(self.key)
        page = {field: values[field] for field in FIELDS if field in values}
        kwargs = row.arguments(page)
        if "schedule" in values:
            kwargs["learning_rate"] = scheduled(
                kwargs["learning_rate"], values["schedule"], values["horizon"]
            )
        return getattr(rj, row.function)(**kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Factory) and other.key == self.key

    def __hash__(self) -> int:
        return hash((Factory, self.key))

    def __repr__(self) -> str:
        return f"Factory({self.key!r})"


FACTORIES: dict[str, Factory] = {key: Factory(key) for key in OPTIMIZERS}
"""The trajectory engine's factory of every optimizer of the page."""
