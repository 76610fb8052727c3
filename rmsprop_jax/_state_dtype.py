r"""``state_dtype=``: the storage of the float accumulators of a state.

* ``None``: the default rule of ``_dtypes.py`` (float32 for 16-bit
  parameters, the parameters' dtype otherwise).
* a floating dtype (``jnp.bfloat16``, ``"bfloat16"``, ``jnp.float16``, ...):
  every float accumulator is stored in it; the primitives compute in at least
  float32 and round the result once when they store it (round to nearest,
  ties to even: the ``astype`` of ``_dtypes.cast``).
* ``"int8"``: every float accumulator leaf with at least
  :data:`~rmsprop_jax._blockwise.MIN_QUANTIZED_SIZE` elements is stored
  block-wise in 8 bits (:mod:`rmsprop_jax._blockwise`), unsigned codes for
  non-negative fields, signed ones for moments; smaller leaves keep the
  default dtype. :func:`blockwise` wraps a primitive so that every update
  decodes those fields, runs the primitive's own float arithmetic and encodes
  the result again, all in one traced function that XLA fuses.

Integer step counts, Rprop's int8 signs and scalars are never affected.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from rmsprop_jax import _blockwise

INT8 = "int8"
NAMES = ("bfloat16", "float16", "float32", "float64", INT8)
_ALLOWED = (
    "None, a floating dtype (jnp.bfloat16, 'bfloat16', jnp.float16, "
    "jnp.float32, ...) or 'int8' (block-wise 8-bit)"
)


def _error(value: Any, hint: str) -> ValueError:
    return ValueError(f"`state_dtype` must be {_ALLOWED}; got {value!r}{hint}.")


def resolve(state_dtype: Any, accumulator_dtype: Any | None = None) -> Any:
    """``state_dtype`` checked and normalised: None, a float ``jnp.dtype`` or
    ``"int8"``. A primitive's older ``accumulator_dtype`` is the same setting
    for floats; giving both (different) is an error.

    Raises:
      ValueError: an unknown name, a non-float dtype, or both arguments.
    """
    if state_dtype is None:
        return None if accumulator_dtype is None else jnp.dtype(accumulator_dtype)
    if isinstance(state_dtype, str) and state_dtype == INT8:
        resolved: Any = INT8
    else:
        try:
            dtype = jnp.dtype(state_dtype)
        except TypeError:
            name = str(state_dtype)
            close = difflib.get_close_matches(name, NAMES, n=2, cutoff=0.5)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise _error(state_dtype, hint) from None
        if not jnp.issubdtype(dtype, jnp.floating):
            hint = (
                "; did you mean 'int8' (the string, block-wise 8-bit storage)?"
                if jnp.issubdtype(dtype, jnp.integer) and dtype.itemsize == 1
                else f" (a {dtype.name} state cannot hold a moment)"
            )
            raise _error(state_dtype, hint)
        resolved = dtype
    if accumulator_dtype is not None and (
        resolved == INT8 or jnp.dtype(accumulator_dtype) != resolved
    ):
        raise ValueError(
            f"`state_dtype={state_dtype!r}` and `accumulator_dtype="
            f"{accumulator_dtype!r}` both set the accumulators' storage: pass "
            f"only `state_dtype`."
        )
    return resolved


def float_dtype(resolved: Any) -> Any:
    """The ``accumulator_dtype`` the float arithmetic stores in: the dtype
    itself, or None (the default rule) for ``"int8"`` and None."""
    return None if resolved is None or resolved == INT8 else resolved


def check_has_accumulator(owner: str, state_dtype: Any, why: str) -> None:
    """``state_dtype`` set on a factory whose state keeps no float accumulator."""
    if state_dtype is not None:
        raise ValueError(
            f"{owner}: `state_dtype={state_dtype!r}` has nothing to store: {why} "
            f"keeps no float accumulator. Allowed here: None."
        )


def _is_blocks(x: Any) -> bool:
    return isinstance(x, _blockwise.UnsignedBlocks | _blockwise.SignedBlocks)


def _encode_tree(tree: Any, signed: bool) -> Any:
    def leaf(x: Any) -> Any:
        small = x is None or x.size < _blockwise.MIN_QUANTIZED_SIZE
        if small or not jnp.issubdtype(x.dtype, jnp.floating):
            return x
        return _blockwise.encode(x, signed)

    return jax.tree.map(leaf, tree)


def _decode_tree(tree: Any) -> Any:
    return jax.tree.map(
        lambda x: _blockwise.decode(x) if _is_blocks(x) else x,
        tree,
        is_leaf=_is_blocks,
    )


def decoded(state: Any) -> Any:
    """``state`` with every block-wise 8-bit leaf decoded to float32 (a
    float state unchanged): how diagnostics and tools read a state."""
    return _decode_tree(state)


def _map_fields(state: Any, fields: Mapping[str, bool], f: Any) -> Any:
    changes = {
        name: f(getattr(state, name), signed)
        for name, signed in fields.items()
        if getattr(state, name) is not None
    }
    return state._replace(**changes)


def blockwise(
    tx: optax.GradientTransformation, resolved: Any, fields: Mapping[str, bool]
) -> Any:
    """``tx`` whose state fields ``fields`` (name -> signed) are stored in
    8 bits when ``resolved == "int8"``; ``tx`` itself otherwise.

    The state is a NamedTuple; each named field holds a tree of float leaves
    (or None). ``update`` decodes them, runs ``tx.update`` on float32 values
    and encodes its new state; ``init`` encodes ``tx.init``'s.
    """
    if resolved != INT8:
        return tx
    inner = optax.with_extra_args_support(tx)

    def init_fn(params: optax.Params) -> Any:
        # The barrier keeps XLA from constant-folding the encoding of a
        # constant initial state under jit (seconds of compile time per leaf).
        def encode(tree: Any, signed: bool) -> Any:
            return _encode_tree(jax.lax.optimization_barrier(tree), signed)

        return _map_fields(inner.init(params), fields, encode)

    def update_fn(updates, state, params=None, **extra_args):
        floats = _map_fields(state, fields, lambda tree, _: _decode_tree(tree))
        updates, new = inner.update(updates, floats, params, **extra_args)
        return updates, _map_fields(new, fields, _encode_tree)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
