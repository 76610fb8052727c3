"""optax's storage arguments beside ``state_dtype=``, checked under the names
the caller typed.

optax's ``adam``/``amsgrad`` take ``mu_dtype`` (the first moment's storage)
and ``sgd`` takes ``accumulator_dtype`` (the momentum's); this library's
``state_dtype`` sets the storage of every float accumulator. An optimizer
passes both down to its primitives, whose own check would name the
primitive's argument (``accumulator_dtype``) in place of the one the user
typed: :func:`check` runs first, in the optimizer, and names the optimizer's.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from rmsprop_jax import _state_dtype

_FLOATS = tuple(n for n in _state_dtype.NAMES if n != _state_dtype.INT8)


def _show(value: Any) -> str:
    """A dtype argument as the user would write it: ``'int8'``, ``float32``."""
    if isinstance(value, str):
        return repr(value)
    try:
        return jnp.dtype(value).name
    except (TypeError, ValueError):  # StochasticRounding(...), a wrong value
        return repr(value)


def _float_dtype(name: str, value: Any) -> Any:
    """``value`` as a floating ``jnp.dtype``, or a ValueError naming ``name``."""
    allowed = (
        f"`{name}` must be None or a floating dtype (jnp.bfloat16, 'bfloat16', "
        f"jnp.float16, jnp.float32, ...)"
    )
    if isinstance(value, str) and value == _state_dtype.INT8:
        raise ValueError(
            f"{allowed}; got {value!r}: block-wise 8-bit storage is "
            f"`state_dtype='int8'` (every float accumulator)."
        )
    try:
        dtype = jnp.dtype(value)
    except TypeError:
        hint = _state_dtype.spelling_hint(value, _FLOATS) or "."
        raise ValueError(f"{allowed}; got {value!r}{hint}") from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(
            f"{allowed}; got {_show(value)} (an integer, boolean or complex "
            f"dtype cannot hold a moment)."
        )
    return dtype


def check(owner: str, name: str, value: Any, state_dtype: Any, field: str) -> None:
    """``owner``'s argument ``name`` (``value``, storing ``field``) checked
    alone and against ``state_dtype``: both may be given only when they say
    the same floating dtype.

    Raises:
      ValueError: ``value`` not None or a floating dtype; ``state_dtype``
        invalid (its own message); or both given and different.
    """
    if value is None:
        return
    dtype = _float_dtype(name, value)
    if state_dtype is None:
        return
    storage = _state_dtype.resolve(state_dtype)
    if not isinstance(storage, str) and storage == dtype:
        return
    raise ValueError(
        f"{owner}({name}={_show(value)}, state_dtype={_show(state_dtype)}): both "
        f"set the storage of {field} and they differ. Pass `state_dtype` alone (every "
        f"float accumulator, {field} included), or `{name}` alone ({field} "
        f"only, as in optax), or the same floating dtype to both; for another "
        f"storage per parameter group, use optax.multi_transform "
        f"(docs/low_precision_states.md)."
    )
