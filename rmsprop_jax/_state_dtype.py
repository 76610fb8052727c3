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
  default dtype. The codes are rounded stochastically with no key
  (``StochasticRounding("int8", key=None)``, below): rounded to nearest, an
  8-bit second moment stalls wherever its step is below half a code step.
  :func:`blockwise` wraps a primitive so that every update decodes those
  fields, runs the primitive's own float arithmetic and encodes the result
  again, all in one traced function that XLA fuses.
* :class:`NearestRounding` (``NearestRounding("int8")``): the same storage
  rounded to nearest, ties to even (for a floating dtype the same as the
  plain dtype).

* :class:`StochasticRounding` (``StochasticRounding("bfloat16", key=0)``,
  also ``"float16"`` or ``"int8"``): the same storage, rounded
  stochastically (:mod:`rmsprop_jax._rounding`) with random bits drawn from
  a key kept next to each stored leaf (:class:`RoundedLeaf`), split at every
  step: a pure function of the state, the same run twice gives the same bits.
  ``StochasticRounding(dtype, key=None)``: keyless, the bits hashed from each
  new value, its position and its field; the state laid out as the plain
  storage's.

Integer step counts, Rprop's int8 signs and scalars are never affected.
"""

from __future__ import annotations

import dataclasses
import difflib
import zlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rmsprop_jax import _blockwise, _rounding

INT8 = "int8"
_STOCHASTIC = ("bfloat16", "float16", INT8)


@dataclasses.dataclass(frozen=True, eq=False)
class StochasticRounding:
    r"""``state_dtype=StochasticRounding(dtype, key)``: store the float
    accumulators in ``dtype``, rounded stochastically.

    A value :math:`x` between two neighbouring stored values :math:`a < x < b`
    is stored as :math:`b` with probability :math:`(x-a)/(b-a)`, else as
    :math:`a`: :math:`x` in expectation. Rounded to nearest (a plain
    ``state_dtype="bfloat16"``), an update below half the gap is lost every
    step, so an EMA at decay 0.999 stops moving once :math:`(1-eta)|g^2 -
    s|` is below :math:`2^{-9}s`; rounded stochastically it follows the
    float32 EMA up to a random error of a few gaps (measured in
    ``docs/low_precision_states.md``).

    Each stored leaf keeps its own PRNG key (two uint32, the raw data of
    ``jax.random.key``), derived at ``init`` from ``key`` and the leaf's
    position and split at every ``update``: the transformation stays a pure
    function of its state (jit, scan, vmap, checkpoints, resuming all give
    the same bits). For ``"int8"`` only the leaves stored in 8 bits (at least
    4096 elements) round stochastically; smaller ones stay in float.

    ``key=None`` is *keyless*: the random bits are a hash of each new
    float32 value's bit pattern, its flat position, its field, and four
    entries of the step's gradients (:func:`rmsprop_jax._rounding.hashed_noise`,
    :func:`~rmsprop_jax._rounding.fingerprint`), so the state is laid out
    exactly as with the plain storage name (no key, no extra bytes) and the
    run is as deterministic and resumable as rounding to nearest. The bits
    change whenever the gradients do, as in training; constant gradients at
    a fixed point of the stored state draw the same bits again and may stall
    as rounding to nearest does.
    The plain ``state_dtype="int8"`` is ``StochasticRounding("int8",
    key=None)``; :class:`NearestRounding` spells the rounding to nearest.
    Measured in ``docs/low_precision_states.md``.

    Args:
      dtype: ``"bfloat16"`` (or ``jnp.bfloat16``), ``"float16"`` or
        ``"int8"`` (block-wise 8-bit codes).
      key: an ``int`` seed, a ``jax.random.key``, or None (keyless).
        Default 0.

    Raises:
      ValueError: (when a factory resolves it) another ``dtype``.

    Examples:
      >>> import jax.numpy as jnp
      >>> import rmsprop_jax as rj
      >>> tx = rj.rmsprop(0.01, state_dtype=rj.StochasticRounding("bfloat16", key=0))
      >>> rms_state, _ = tx.init(jnp.zeros(3))  # scale_by_rms's, then the rate's
      >>> rms_state.rms.value.dtype, rms_state.rms.key.dtype  # a key per leaf
      (dtype(bfloat16), dtype('uint32'))
      >>> keyless = rj.StochasticRounding("bfloat16", key=None)
      >>> tx = rj.rmsprop(0.01, state_dtype=keyless)
      >>> tx.init(jnp.zeros(3))[0].rms.dtype  # laid out as "bfloat16"
      dtype(bfloat16)
    """

    dtype: Any
    key: Any = 0


@dataclasses.dataclass(frozen=True)
class NearestRounding:
    r"""``state_dtype=NearestRounding(dtype)``: store the float accumulators
    in ``dtype``, rounded to the nearest stored value, ties to even.

    The counterpart of :class:`StochasticRounding`. For a floating ``dtype``
    it is the plain name (``NearestRounding("bfloat16")`` is
    ``state_dtype="bfloat16"``). For ``"int8"`` it is the explicit spelling
    of block-wise 8-bit codes rounded to nearest: the plain ``"int8"``
    rounds its codes stochastically with no key
    (``StochasticRounding("int8", key=None)``, the same state layout and
    bytes), because rounded to nearest an 8-bit second moment whose step is
    below half a code step (1.6-3 % of its value) does not move, which
    costs several percent of final loss in training (measured in
    ``docs/low_precision_states.md``). Rounding to nearest is deterministic
    in each value alone: a stored value is a function of the float32 step's
    value, whatever the rest of the step.

    Args:
      dtype: ``"int8"`` (block-wise 8-bit codes) or a floating dtype
        (``"bfloat16"``, ``jnp.bfloat16``, ``"float16"``, ...).

    Raises:
      ValueError: (when a factory resolves it) another ``dtype``, with the
        closest allowed names.

    Examples:
      >>> import jax.numpy as jnp
      >>> import rmsprop_jax as rj
      >>> tx = rj.rmsprop(0.01, state_dtype=rj.NearestRounding("int8"))
      >>> state = tx.init(jnp.zeros((64, 64)))  # 4096 elements: stored in 8 bits
      >>> state[0].rms.codes.dtype, state[0].rms.scales.shape  # 16 blocks of 256
      (dtype('uint8'), (16,))
    """

    dtype: Any


class RoundedLeaf(NamedTuple):
    """A stored accumulator leaf rounded stochastically: its ``value`` (a
    bfloat16/float16 array or 8-bit blocks) and the raw PRNG ``key`` data
    (uint32) its next rounding draws from."""

    value: Any
    key: jax.Array


NAMES = ("bfloat16", "float16", "float32", "float64", INT8)
_ALLOWED = (
    "None, a floating dtype (jnp.bfloat16, 'bfloat16', jnp.float16, "
    "jnp.float32, ...: rounded to nearest), 'int8' (block-wise 8-bit, rounded "
    "stochastically with no key), NearestRounding(dtype) or "
    "StochasticRounding(dtype, key)"
)
_NEAREST_WORDS = ("near", "rtn", "rn", "round", "det")


def _error(value: Any, hint: str) -> ValueError:
    if isinstance(value, str):  # 'int8_nearest', 'int8-rn', ...
        low = value.lower()
        if "int" in low and "8" in low and any(w in low for w in _NEAREST_WORDS):
            hint = "; did you mean NearestRounding('int8') (8-bit, to nearest)?"
    end = "" if hint.endswith("?") else "."
    return ValueError(f"`state_dtype` must be {_ALLOWED}; got {value!r}{hint}{end}")


def spelling_hint(value: Any, names: tuple[str, ...]) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the (at most two) storage names
    spelled closest to ``value``, or ``""`` where none is close."""
    close = difflib.get_close_matches(str(value), names, n=2, cutoff=0.5)
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else ""


def resolve(state_dtype: Any, accumulator_dtype: Any | None = None) -> Any:
    """``state_dtype`` checked and normalised: None, a float ``jnp.dtype`` or
    ``"int8"``. A primitive's older ``accumulator_dtype`` is the same setting
    for floats; giving both (different) is an error.

    Raises:
      ValueError: an unknown name, a non-float dtype, or both arguments.
    """
    if state_dtype is None:
        return None if accumulator_dtype is None else jnp.dtype(accumulator_dtype)
    if isinstance(state_dtype, StochasticRounding):
        return _resolve_stochastic(state_dtype, accumulator_dtype)
    if isinstance(state_dtype, str) and state_dtype == INT8:
        # the default rounding of 8-bit codes: stochastic, keyless
        return _resolve_stochastic(StochasticRounding(INT8, None), accumulator_dtype)
    if isinstance(state_dtype, NearestRounding):
        return _resolve_nearest(state_dtype, accumulator_dtype)
    return _resolve_plain(state_dtype, accumulator_dtype)


def _resolve_plain(state_dtype: Any, accumulator_dtype: Any) -> Any:
    """A floating dtype (or the nearest-rounded ``INT8``) checked alone and
    against ``accumulator_dtype``."""
    if isinstance(state_dtype, str) and state_dtype == INT8:
        resolved: Any = INT8
    else:
        try:
            dtype = jnp.dtype(state_dtype)
        except TypeError:
            raise _error(state_dtype, spelling_hint(state_dtype, NAMES)) from None
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


def _resolve_nearest(spec: NearestRounding, accumulator_dtype: Any) -> Any:
    """``NearestRounding(dtype)``: ``INT8`` (the 8-bit codes rounded to
    nearest) or the floating dtype itself."""
    inner = spec.dtype
    if isinstance(inner, str) and inner == INT8:
        return _resolve_plain(INT8, accumulator_dtype)
    dtype = None
    rounding = isinstance(inner, NearestRounding | StochasticRounding)
    if inner is not None and not rounding:
        try:
            dtype = jnp.dtype(inner)
        except TypeError:
            dtype = None
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        hint = spelling_hint(inner, NAMES) if isinstance(inner, str) else ""
        if dtype is not None and jnp.issubdtype(dtype, jnp.integer):
            hint = "; did you mean 'int8' (the string, block-wise 8-bit)?"
        raise ValueError(
            f"`state_dtype=NearestRounding({inner!r})`: rounding to nearest "
            f"stores in 'int8' (block-wise 8-bit) or a floating dtype "
            f"('bfloat16', 'float16', jnp.bfloat16, ...); got {inner!r}"
            f"{hint or '.'}"
        )
    return _resolve_plain(dtype, accumulator_dtype)


def _resolve_stochastic(spec: StochasticRounding, accumulator_dtype: Any) -> Any:
    if accumulator_dtype is not None:
        raise ValueError(
            f"`state_dtype={spec!r}` and `accumulator_dtype={accumulator_dtype!r}` "
            f"both set the accumulators' storage: pass only `state_dtype`."
        )
    if isinstance(spec.dtype, str) and spec.dtype == INT8:
        inner: Any = INT8
    elif isinstance(spec.dtype, NearestRounding | StochasticRounding):
        inner = None  # refused below
    else:
        inner = resolve(spec.dtype)
    name = inner if inner == INT8 else getattr(inner, "name", None)
    if name not in _STOCHASTIC:
        raise ValueError(
            f"`state_dtype=StochasticRounding({spec.dtype!r}, ...)`: stochastic "
            f"rounding stores in one of {', '.join(map(repr, _STOCHASTIC))}; "
            f"got {spec.dtype!r}."
        )
    key = spec.key
    if key is None:  # keyless: bits hashed from the values themselves
        return StochasticRounding(name, None)
    if isinstance(key, int) and not isinstance(key, bool):
        key = jax.random.key(key)
    elif not (
        isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    ):
        raise ValueError(
            f"`state_dtype=StochasticRounding(..., key={key!r})`: the key must "
            f"be an int seed, a jax.random.key(...) or None (keyless)."
        )
    return StochasticRounding(name, key)


def float_dtype(resolved: Any) -> Any:
    """The ``accumulator_dtype`` the float arithmetic stores in: the dtype
    itself, or None (the default rule) for ``"int8"``, None and stochastic
    rounding (whose wrapper stores)."""
    if resolved is None or resolved == INT8 or isinstance(resolved, StochasticRounding):
        return None
    return resolved


def check_has_accumulator(owner: str, state_dtype: Any, why: str) -> None:
    """``state_dtype`` set on a factory whose state keeps no float accumulator."""
    if state_dtype is not None:
        raise ValueError(
            f"{owner}: `state_dtype={state_dtype!r}` has nothing to store: {why} "
            f"keeps no float accumulator. Allowed here: None."
        )


def _is_blocks(x: Any) -> bool:
    return isinstance(x, _blockwise.UnsignedBlocks | _blockwise.SignedBlocks)


def _is_stored(x: Any) -> bool:
    return _is_blocks(x) or isinstance(x, RoundedLeaf)


def _decode_leaf(x: Any) -> Any:
    if isinstance(x, RoundedLeaf):  # float32, as the arithmetic stores it
        x = x.value if _is_blocks(x.value) else x.value.astype(jnp.float32)
    return _blockwise.decode(x) if _is_blocks(x) else x


def _encode_tree(tree: Any, signed: bool) -> Any:
    def leaf(x: Any) -> Any:
        small = x is None or x.size < _blockwise.MIN_QUANTIZED_SIZE
        if small or not jnp.issubdtype(x.dtype, jnp.floating):
            return x
        return _blockwise.encode(x, signed)

    return jax.tree.map(leaf, tree)


def _decode_tree(tree: Any) -> Any:
    return jax.tree.map(_decode_leaf, tree, is_leaf=_is_stored)


def decoded(state: Any) -> Any:
    """``state`` with every block-wise 8-bit or stochastically rounded leaf
    decoded to float32 (a float state unchanged): how diagnostics and tools
    read a state."""
    return _decode_tree(state)


def _rounds(x: Any, spec: StochasticRounding) -> bool:
    """Whether a leaf of an accumulator field is stored stochastically."""
    if x is None or not jnp.issubdtype(x.dtype, jnp.floating):
        return False
    return spec.dtype != INT8 or x.size >= _blockwise.MIN_QUANTIZED_SIZE


def _store(
    x: jax.Array, signed: bool, spec: StochasticRounding, bits: jax.Array
) -> Any:
    """``x`` rounded stochastically with ``bits`` (:mod:`._rounding`'s)."""
    if spec.dtype == INT8:
        return _blockwise.encode(x, signed, noise=bits)
    return _rounding.to_float(x, spec.dtype, bits)


def _store_initial(x: jax.Array, signed: bool, spec: StochasticRounding) -> Any:
    """An initial value stored in ``spec.dtype``, rounded to nearest (behind
    a barrier, as ``blockwise``'s init: no constant folding of the encoding)."""
    x = jax.lax.optimization_barrier(x)
    if spec.dtype == INT8:
        return _blockwise.encode(x, signed)
    return x.astype(spec.dtype)


def _stochastic(tx: Any, spec: StochasticRounding, fields: Mapping[str, bool]) -> Any:
    def init_fn(params: optax.Params) -> Any:
        state = tx.init(params)

        def wrap(name: str, tree: Any, signed: bool) -> Any:
            # a key per field (by name: Adam's two primitives share `spec`)
            # and leaf
            field_key = jax.random.fold_in(spec.key, zlib.crc32(name.encode()))
            count = 0

            def leaf(x: Any) -> Any:
                nonlocal count
                if not _rounds(x, spec):
                    return x
                count += 1
                key = jax.random.fold_in(field_key, count)
                value = _store_initial(x, signed, spec)
                return RoundedLeaf(value, jax.random.key_data(key))

            return jax.tree.map(leaf, tree)

        changes = {
            name: wrap(name, getattr(state, name), signed)
            for name, signed in fields.items()
            if getattr(state, name) is not None
        }
        return state._replace(**changes)

    def update_fn(updates, state, params=None, **extra_args):
        floats = _map_fields(state, fields, lambda tree, _: _decode_tree(tree))
        updates, new = tx.update(updates, floats, params, **extra_args)

        def store(old_tree: Any, signed: bool, new_tree: Any) -> Any:
            def leaf(old: Any, x: Any) -> Any:
                if not isinstance(old, RoundedLeaf):
                    return x
                key, now = jax.random.split(jax.random.wrap_key_data(old.key))
                bits = _rounding.noise(now, x.shape)
                return RoundedLeaf(
                    _store(x, signed, spec, bits), jax.random.key_data(key)
                )

            return jax.tree.map(leaf, old_tree, new_tree, is_leaf=_is_stored)

        changes = {
            name: store(getattr(state, name), signed, getattr(new, name))
            for name, signed in fields.items()
            if getattr(state, name) is not None
        }
        return updates, new._replace(**changes)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _map_fields(state: Any, fields: Mapping[str, bool], f: Any) -> Any:
    changes = {
        name: f(getattr(state, name), signed)
        for name, signed in fields.items()
        if getattr(state, name) is not None
    }
    return state._replace(**changes)


def _salt(name: str, count: int) -> int:
    """A leaf's salt for :func:`_rounding.hashed_noise`: its field and place."""
    return zlib.crc32(f"{name}/{count}".encode())


def _keyless(tx: Any, spec: StochasticRounding, fields: Mapping[str, bool]) -> Any:
    """``tx`` storing ``fields`` in ``spec.dtype``, rounded stochastically with
    bits hashed from each new value, its position and its field: no key, the
    state laid out as with the plain storage name."""

    def init_fn(params: optax.Params) -> Any:
        def store(tree: Any, signed: bool) -> Any:
            def leaf(x: Any) -> Any:
                return _store_initial(x, signed, spec) if _rounds(x, spec) else x

            return jax.tree.map(leaf, tree)

        return _map_fields(tx.init(params), fields, store)

    def update_fn(updates, state, params=None, **extra_args):
        def widen(tree: Any, _: bool) -> Any:
            def leaf(x: Any) -> Any:
                if _is_blocks(x):
                    return _blockwise.decode(x)
                if x is not None and jnp.issubdtype(x.dtype, jnp.floating):
                    wide = x.dtype == jnp.dtype(spec.dtype)
                    return x.astype(jnp.float32) if wide else x
                return x

            return jax.tree.map(leaf, tree, is_leaf=_is_blocks)

        floats = _map_fields(state, fields, widen)
        step = _rounding.fingerprint(updates)
        updates, new = tx.update(updates, floats, params, **extra_args)

        def store(name: str, old_tree: Any, signed: bool, new_tree: Any) -> Any:
            count = 0

            def leaf(old: Any, x: Any) -> Any:
                nonlocal count
                stored = _is_blocks(old) or (
                    old is not None
                    and spec.dtype != INT8
                    and getattr(old, "dtype", None) == jnp.dtype(spec.dtype)
                )
                if not stored:
                    return x
                count += 1
                bits = _rounding.hashed_noise(x, _salt(name, count), step)
                return _store(x, signed, spec, bits)

            return jax.tree.map(leaf, old_tree, new_tree, is_leaf=_is_blocks)

        changes = {
            name: store(name, getattr(state, name), signed, getattr(new, name))
            for name, signed in fields.items()
            if getattr(state, name) is not None
        }
        return updates, new._replace(**changes)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def blockwise(
    tx: optax.GradientTransformation, resolved: Any, fields: Mapping[str, bool]
) -> Any:
    """``tx`` whose state fields ``fields`` (name -> signed) are stored in
    8 bits when ``resolved == "int8"``, rounded stochastically when it is a
    :class:`StochasticRounding`; ``tx`` itself otherwise.

    The state is a NamedTuple; each named field holds a tree of float leaves
    (or None). ``update`` decodes them, runs ``tx.update`` on float32 values
    and encodes its new state; ``init`` encodes ``tx.init``'s.
    """
    if isinstance(resolved, StochasticRounding) and resolved.key is None:
        return _keyless(optax.with_extra_args_support(tx), resolved, fields)
    if isinstance(resolved, StochasticRounding):
        return _stochastic(optax.with_extra_args_support(tx), resolved, fields)
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
