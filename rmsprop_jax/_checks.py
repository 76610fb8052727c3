"""Construction-time validation of hyperparameters.

Validators look only at *concrete* values (Python numbers, NumPy arrays, concrete
jax arrays). Traced values -- hyperparameters being swept under ``jax.vmap`` or
passed into a jitted function -- pass through unchecked, so that validation
never breaks tracing.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def concrete_values(name: str, value: Any) -> np.ndarray | None:
    """Returns ``value`` as a float NumPy array, or None if it is traced."""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, numbers.Real | np.ndarray | jax.Array
    ):
        raise TypeError(
            f"`{name}` must be a real number or an array of real numbers, "
            f"got {value!r} of type {type(value).__name__}."
        )
    array = np.asarray(value)
    if not (
        jnp.issubdtype(array.dtype, jnp.floating)
        or jnp.issubdtype(array.dtype, jnp.integer)
    ):
        raise TypeError(
            f"`{name}` must have a real (integer or floating) dtype, got {array.dtype}."
        )
    return array.astype(np.float64)


def _interval(lo: float, hi: float, lo_open: bool, hi_open: bool) -> str:
    return f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def check_range(
    name: str,
    value: Any,
    lo: float = -np.inf,
    hi: float = np.inf,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    why: str = "",
) -> None:
    """Raises ValueError if a concrete ``value`` lies outside the interval.

    NaN is always out of range. Arrays are checked element-wise. A rate (an
    interval within [0, 1]) given as a 16-bit float array, traced or not, is
    reported as a rounding (:func:`_rounded_rate`).
    """
    rounded = _rounded_rate(name, value, hi)
    array = concrete_values(name, value)
    if array is None:
        return
    above = array > lo if lo_open else array >= lo
    below = array < hi if hi_open else array <= hi
    if not np.all(above & below):
        shown = value if array.ndim == 0 else array[~(above & below)].tolist()
        raise ValueError(
            f"`{name}` must be in {_interval(lo, hi, lo_open, hi_open)}{why}, "
            f"got {shown!r}.{rounded}"
        )


def _rounded_rate(name: str, value: Any, hi: float) -> str:
    """For a rate (``hi <= 1``) held as a float16/bfloat16 array: warns that it
    is a rounding of what the user passed and returns the sentence that an
    error adds; else "".

    optax.inject_hyperparams stores hyperparameters in the parameters' dtype
    unless told otherwise: bfloat16 keeps 8 significant bits, so ``b2=0.999``
    arrives as 1.0 (Adam's 1 - b2**t is then 0 and its update NaN) and
    ``decay=0.99`` as 0.988. The dtype is known even under ``jit``, where the
    value is not.
    """
    dtype = getattr(value, "dtype", None)
    if hi > 1 or dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        return ""
    if jnp.finfo(dtype).bits >= 32:
        return ""
    sentence = (
        f" `{name}` arrived as a {jnp.dtype(dtype).name} array, a rounding of "
        f"the value passed (optax.inject_hyperparams stores hyperparameters in "
        f"the parameters' dtype; {jnp.dtype(dtype).name} rounds 0.999 to 1.0): "
        f"use optax.inject_hyperparams(..., hyperparam_dtype=jnp.float32)."
    )
    warnings.warn(sentence.strip(), UserWarning, stacklevel=4)
    return sentence


def is_schedule(value: Any) -> bool:
    """A callable that is not an array: an optax schedule of the step count."""
    return callable(value) and not isinstance(value, np.ndarray | jax.Array)


def check_learning_rate(name: str, value: Any) -> None:
    """A learning rate is a schedule (not checked) or a concrete value >= 0."""
    if is_schedule(value):
        return
    check_range(name, value, 0.0)


def check_not_schedule(name: str, value: Any, meaning: str) -> None:
    """Raises TypeError for a callable where only a number makes sense: a
    value read once, when the state is created (``meaning`` says what it is)."""
    if is_schedule(value):
        raise TypeError(
            f"`{name}` is {meaning}, read once when the state is created (the "
            "step sizes then adapt on their own, so a schedule's later values "
            f"could never take effect): it must be a number or an array, not a "
            f"schedule ({value!r}). Pass its first value, `{name}=schedule(0)`, "
            "to start from it; to scale the steps over time, chain "
            "optax.scale_by_schedule after the optimizer."
        )


def check_ordered(lo_name: str, lo_value: Any, hi_name: str, hi_value: Any) -> None:
    """Raises ValueError if concrete ``lo_value > hi_value``."""
    lo = concrete_values(lo_name, lo_value)
    hi = concrete_values(hi_name, hi_value)
    if lo is not None and hi is not None and np.any(lo > hi):
        raise ValueError(
            f"`{lo_name}` must be <= `{hi_name}`, got {lo_name}={lo_value!r} > "
            f"{hi_name}={hi_value!r}."
        )


def alias(
    name: str,
    value: Any,
    default: Any,
    alias_name: str,
    alias_value: Any,
) -> Any:
    """``value``, or ``alias_value`` where optax's spelling ``alias_name`` was
    used instead of ``name`` (one behaviour, two spellings); both given (the
    first one not at its default) is a TypeError."""
    if alias_value is None:
        return value
    given = concrete_values(name, value)
    if given is not None and not (given == default).all():
        raise TypeError(
            f"`{name}` and `{alias_name}` are the same argument (`{alias_name}` "
            f"is optax's spelling); pass one of them, got {name}={value!r} and "
            f"{alias_name}={alias_value!r}."
        )
    return alias_value


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    """Raises ValueError if ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(repr, allowed))}; got {value!r}."
        )


def check_requires(flag_name: str, flag: bool, needed_name: str, needed: Any) -> None:
    """Raises ValueError if ``flag`` is set but ``needed`` is None."""
    if flag and needed is None:
        raise ValueError(f"`{flag_name}=True` requires `{needed_name}` to be set.")


# Names users bring from other libraries, mapped to this library's names where
# the spelling alone would not find them (``lr`` is not close to
# ``learning_rate`` by edit distance).
_ALIASES = {
    "lr": ("learning_rate",),
    "learning_rate": ("lr",),
    "beta": ("decay", "b1", "b2", "alpha", "rho"),
    "beta1": ("b1",),
    "beta2": ("b2",),
    "beta_1": ("b1",),
    "beta_2": ("b2",),
    "rho": ("decay", "alpha"),
    "alpha": ("decay", "rho"),
    "decay": ("alpha", "rho"),
    "epsilon": ("eps",),
    "eps": ("epsilon",),
    "step_size": ("learning_rate", "lr"),
    "etas": ("eta_minus", "eta_plus"),
    "step_sizes": ("min_step", "max_step"),
    "eta_minus": ("etas",),
    "eta_plus": ("etas",),
}


def suggest(name: str, valid: Sequence[str]) -> list[str]:
    """Valid names a misspelt or foreign ``name`` most likely means."""
    import difflib

    hits = [a for a in _ALIASES.get(name, ()) if a in valid]
    hits += difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    return list(dict.fromkeys(hits))


def did_you_mean(value: Any, choices: Sequence[str]) -> str:
    """`` Did you mean 'x'?`` for the one of ``choices`` closest to ``value`` by
    spelling, or ``""`` where none is close: the end of an error message.

    Examples:
      >>> did_you_mean("loss_", ["loss", "params"])
      " Did you mean 'loss'?"
    """
    import difflib

    close = difflib.get_close_matches(str(value), list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_keyword_message(owner: str, name: str, valid: Sequence[str]) -> str:
    """``owner() got an unexpected keyword argument 'x'; did you mean 'y'?``
    with the valid names."""
    hits = suggest(name, valid)
    hint = f"; did you mean {' or '.join(map(repr, hits))}?" if hits else "."
    return (
        f"{owner}() got an unexpected keyword argument {name!r}{hint} "
        f"Valid keywords: {', '.join(valid)}."
    )


def keywords(factory: Any) -> Any:
    """Decorates a public factory: an unknown keyword raises a TypeError that
    says what it may have meant and lists the valid names.

    The signature, docstring and module are the factory's own
    (``functools.wraps``), so ``inspect.signature``, ``inject_hyperparams``
    and doctests see the undecorated function.
    """
    import functools
    import inspect

    parameters = inspect.signature(factory).parameters
    valid = [
        p.name
        for p in parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in parameters.values())

    @functools.wraps(factory)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if not accepts_any:
            for name in kwargs:
                if name not in parameters:
                    message = unknown_keyword_message(factory.__name__, name, valid)
                    raise TypeError(message)
        return factory(*args, **kwargs)

    return checked
