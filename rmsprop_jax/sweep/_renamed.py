"""One grid name for parameters that factories spell differently."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import optax

from rmsprop_jax import _checks


def _signature(make_tx: Callable) -> inspect.Signature:
    try:
        return inspect.signature(make_tx, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        return inspect.signature(make_tx)


class renamed:  # noqa: N801 (used like a function: renamed(rj.adam, decay="b2"))
    r"""A factory whose parameters answer to other names in a grid.

    ``renamed(make_tx, decay="b2")`` is ``make_tx`` with its parameter ``b2``
    taken under the name ``decay``: a grid over ``decay`` then reaches
    Adam's :math:`\beta_2` as it reaches RMSprop's decay, and several
    optimizers share one axis. Each keyword maps a *grid name* to the
    factory's own parameter name; the other parameters keep theirs. Two
    ``renamed`` built anew from the same factory and names are equal, so a
    repeated sweep does not compile again.

    Args:
      make_tx: an optimizer factory taking keyword arguments.
      **names: ``grid_name="factory_name"``.

    Returns:
      A callable with the renamed signature (what :func:`sweep` reads).

    Raises:
      ValueError: a target the factory does not take (with the closest
        name), or a grid name the factory already uses for another parameter.

    Examples:
      >>> import jax.numpy as jnp
      >>> import rmsprop_jax as rj
      >>> from rmsprop_jax.sweep import grid, renamed, sweep
      >>> r = sweep({"rmsprop": rj.rmsprop, "adam": renamed(rj.adam, decay="b2")},
      ...           lambda w: jnp.sum(w**2), jnp.ones(2),
      ...           grid(decay=[0.9, 0.999], learning_rate=[0.1]), steps=3)
      >>> r.losses.shape  # optimizer, decay, learning rate, steps
      (2, 2, 1, 3)
    """

    def __init__(
        self, make_tx: Callable[..., optax.GradientTransformation], /, **names: str
    ):
        signature = _signature(make_tx)
        own = signature.parameters
        for new, old in names.items():
            if old not in own:
                hint = _checks.did_you_mean(old, list(own))
                raise ValueError(
                    f"renamed: `{new}`={old!r} names no parameter of "
                    f"{getattr(make_tx, '__name__', make_tx)!r}; it takes "
                    f"{', '.join(own)}.{hint}"
                )
            if new in own and new not in names.values():
                raise ValueError(
                    f"renamed: `{new}` is already a parameter of "
                    f"{getattr(make_tx, '__name__', make_tx)!r}; pick another "
                    "grid name."
                )
        back = {old: new for new, old in names.items()}
        self.make_tx, self.names = make_tx, dict(names)
        self.__signature__ = signature.replace(
            parameters=[p.replace(name=back.get(p.name, p.name)) for p in own.values()]
        )
        self.__name__ = getattr(make_tx, "__name__", "factory")
        self.__qualname__ = f"renamed({self.__name__})"

    def __call__(self, *args: Any, **kwargs: Any) -> optax.GradientTransformation:
        kwargs = {self.names.get(k, k): v for k, v in kwargs.items()}
        return self.make_tx(*args, **kwargs)

    def _key(self) -> tuple:
        return (self.make_tx, tuple(sorted(self.names.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, renamed) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        names = ", ".join(f"{k}={v!r}" for k, v in self.names.items())
        return f"renamed({self.__name__}, {names})"
