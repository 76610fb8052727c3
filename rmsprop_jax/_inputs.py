r"""What every public factory does with its inputs before its own arithmetic.

The decorators :func:`optimizer` and :func:`primitive` wrap a factory so that
the transformation it returns

* accepts Python numbers and NumPy arrays as parameters and gradients (as 0-d
  or n-d jax arrays);
* rejects, at ``init``, parameters that are not floating point or complex
  (an integer leaf would get garbage or zero updates without a word), naming
  the leaf's key path and dtype and how to exclude it;
* treats a complex leaf as a pair of real weights, its real and imaginary
  parts, as ``torch.optim`` does through ``torch.view_as_real``: every
  accumulator, sign and step size is kept per part (the state has a trailing
  axis of 2 for such a leaf), and the update is put back together as a
  complex number;
* says which optimizer a state belongs to when ``update`` is given the state
  of another one;
* (optimizers and presets only) returns updates in the gradients' dtype,
  cast once at the end: the links of a chain pass values to each other in
  the compute dtype (at least float32).

Each decorator also attaches the factory's declaration of how its state is
read (:mod:`rmsprop_jax.declarations`) to every transformation it builds,
and renders the factory's docstring with the shared texts of
:mod:`rmsprop_jax._docstrings` (``{{state_dtype_choices}}`` ...).

An unknown keyword to the factory raises a TypeError with "did you mean" and
the valid names (:func:`rmsprop_jax._checks.keywords`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from rmsprop_jax import _checks, _docstrings, _tree, declarations

# The states' NamedTuple types, in order, -> the factories whose init made them
# (several factories can make the same layout: adagrad and torch_adagrad).
_OWNERS: dict[tuple[str, ...], list[str]] = {}


def _as_array(x: Any) -> Any:
    return x if isinstance(x, jax.Array) else jnp.asarray(x)


def _as_arrays(tree: Any) -> Any:
    return None if tree is None else jax.tree.map(_as_array, tree)


def _is_complex(x: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.complexfloating)


def _to_real(tree: Any) -> Any:
    """Complex leaves as real arrays with a trailing axis (real, imaginary)."""
    if tree is None:
        return None
    return jax.tree.map(
        lambda x: jnp.stack([x.real, x.imag], axis=-1) if _is_complex(x) else x, tree
    )


def _from_real(updates: Any, like: Any) -> Any:
    """Undoes :func:`_to_real` on the leaves that were complex in ``like``."""

    def leaf(u: jax.Array, g: jax.Array) -> jax.Array:
        if not _is_complex(g):
            return u
        return jax.lax.complex(u[..., 0], u[..., 1])

    return jax.tree.map(leaf, updates, like)


def _check_params(owner: str, params: Any) -> None:
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    for path, leaf in flat:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.inexact):
            keys = jax.tree_util.keystr(path)
            where = f"the parameter at {keys}" if keys else "the parameter array"
            raise TypeError(
                f"{owner}: {where} has dtype {dtype}; only "
                f"floating-point and complex parameters can be optimized. Leave "
                f"it out of the optimizer with optax.masked(tx, mask) (mask False "
                f"there) or optax.multi_transform({{'train': tx, 'frozen': "
                f"optax.set_to_zero()}}, labels), or cast it to a float dtype."
            )


def _wrap(
    owner: str, tx: optax.GradientTransformation, cast_output: bool
) -> optax.GradientTransformationExtraArgs:
    inner = optax.with_extra_args_support(tx)
    own: set[tuple[str, ...]] = set()  # signatures of states this instance made

    def remember(state: Any) -> tuple[str, ...]:
        signature = _tree.state_type_names(state)
        own.add(signature)
        owners = _OWNERS.setdefault(signature, [])
        if owner not in owners:
            owners.append(owner)
        return signature

    def init_fn(params: optax.Params) -> optax.OptState:
        params = _as_arrays(params)
        _check_params(owner, params)
        state = inner.init(_to_real(params))
        remember(state)
        return state

    def check_state(state: Any, grads: Any) -> None:
        given = _tree.state_type_names(state)
        if given in own or owner in _OWNERS.get(given, ()):
            # Made by this instance, or by another instance of this factory
            # (as inject_hyperparams makes one per step): no trace of init.
            return
        expected = remember(jax.eval_shape(inner.init, grads))
        if given != expected:
            belongs = _OWNERS.get(given)
            whose = (
                f"the state of {' or '.join(belongs)}" if belongs else "another state"
            )
            raise TypeError(
                f"{owner}(...).update was given {whose} (made of "
                f"{', '.join(given) or 'no optimizer state'}), not a state of "
                f"{owner} (made of {', '.join(expected)}): pass the state that "
                f"this optimizer's init returned."
            )

    def update_fn(updates, state, params=None, **extra_args):
        updates, params = _as_arrays(updates), _as_arrays(params)
        real = _to_real(updates)
        check_state(state, real)
        new, state = inner.update(real, state, _to_real(params), **extra_args)
        new = _from_real(new, updates)
        if cast_output:
            new = jax.tree.map(lambda u, g: u.astype(jnp.result_type(g)), new, updates)
        return new, state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _decorate(factory: Any, cast_output: bool, declared: dict[str, Any]) -> Any:
    factory.__doc__ = _docstrings.render(factory.__doc__)
    checked = _checks.keywords(factory)

    @functools.wraps(factory)
    def wrapped(*args: Any, **kwargs: Any) -> optax.GradientTransformationExtraArgs:
        return _wrap(factory.__name__, checked(*args, **kwargs), cast_output)

    return declarations.declare(**declared)(wrapped)


def _no_bare(kind: str, args: tuple[Any, ...]) -> None:
    if args:
        raise TypeError(
            f"@_inputs.{kind} takes the factory's declaration as keywords "
            f"(@_inputs.{kind}(learning_rate=..., eps=..., eps_placement=..., "
            f"decay=...), or @_inputs.{kind}() for a factory without them): "
            "every factory says how its state is read "
            "(rmsprop_jax.declarations.declare)."
        )


def optimizer(*args: Any, **declared: Any) -> Callable[[Any], Any]:
    """Decorates an optimizer or preset factory (output in the gradients' dtype).

    ``declared`` is how its state is read, the arguments of
    :func:`rmsprop_jax.declarations.declare`: every transformation the factory
    builds carries that :class:`~rmsprop_jax.declarations.Declaration`.
    """
    _no_bare("optimizer", args)
    return lambda factory: _decorate(factory, True, declared)


def primitive(*args: Any, **declared: Any) -> Callable[[Any], Any]:
    """Decorates a primitive's factory (output in the compute dtype);
    ``declared`` as for :func:`optimizer`."""
    _no_bare("primitive", args)
    return lambda factory: _decorate(factory, False, declared)


def flag(name: str) -> Callable[[Any], bool]:
    """A declared flag that is the factory's boolean argument ``name``."""
    return lambda arguments: bool(arguments[name])


def eps_placement(arguments: Any) -> str:
    """The placement of eps decided by the argument ``eps_in_sqrt``."""
    return "inside" if arguments["eps_in_sqrt"] else "outside"
