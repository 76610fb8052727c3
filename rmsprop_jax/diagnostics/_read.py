"""Reading a found state's hyperparameters through its declaration.

Each value a diagnostic needs comes, in this order, from

1. the diagnostic's own argument (``learning_rate=``, ``eps=``, ...);
2. the enclosing ``optax.inject_hyperparams`` state, under the name the
   declaration gives it (``lr`` for :func:`~rmsprop_jax.presets.torch_rmsprop`);
3. the declaration's own known arguments (a transformation's call; a
   partial's keywords) -- never a factory's default for a hyperparameter:
   ``inject_hyperparams`` keeps static and non-numeric arguments (torch's
   ``betas`` pair) out of its state, so a value it does not hold is unknown;

and otherwise a :class:`MissingHyperparameterError` says what to pass. No
name is ever read without a declaration that names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from rmsprop_jax import _checks, declarations
from rmsprop_jax.diagnostics._find import Found


class MissingHyperparameterError(ValueError):
    """A value a diagnostic needs (the learning rate, ``eps``, where ``eps``
    sits, the decay, the step count) is neither an argument nor declared by
    the optimizer. A ``ValueError``; ``role`` is the value (``"learning_rate"``,
    ``"eps_placement"``, ...), ``names`` the argument names it was looked up
    under."""

    def __init__(self, message: str, role: str, names: Sequence[str]) -> None:
        super().__init__(message)
        self.role = role
        self.names = tuple(names)


_TO_PASS = (
    "pass optimizer= the transformation built by one of this library's "
    "factories (or the factory itself, or a functools.partial of it, for a "
    "state of optax.inject_hyperparams(factory)), or decorate your own "
    "factory with rmsprop_jax.declarations.declare"
)


def _missing(
    role: str,
    argument: str,
    found: Found,
    declaration: declarations.Declaration | None,
    name: str | None,
) -> MissingHyperparameterError:
    """The error for a ``role`` that nothing gives, saying what to pass."""
    if declaration is None:
        where = (
            f"nothing declares how this state is read ({_TO_PASS}). Without "
            "a declaration no hyperparameter name is interpreted"
        )
        if found.injected:
            held = ", ".join(sorted(found.hyperparams)) or "nothing"
            where += f" (the enclosing optax.inject_hyperparams holds {held})"
    elif name is None:
        where = f"{declaration.factory} declares no {role}"
    elif found.injected:
        held = ", ".join(sorted(found.hyperparams)) or "nothing"
        where = (
            f"{declaration.factory} names it `{name}`, and the enclosing "
            f"optax.inject_hyperparams holds {held}, not `{name}` (it keeps "
            "static and non-numeric arguments, such as a pair, out of its "
            f"state: pass {argument}={name}, or optimizer=functools.partial("
            f"{declaration.factory}, {name.split('[')[0]}=...))"
        )
    else:
        where = (
            f"{declaration.factory} names it `{name}`, but its value is not "
            "known: the optimizer= given is the factory, not the "
            "transformation it built (pass that), and no optax."
            "inject_hyperparams holds it"
        )
    return MissingHyperparameterError(
        f"`{argument}` is needed and not stored in optimizer states: pass "
        f"{argument}=..., or see why it is not found: {where}.",
        role,
        () if name is None else (name,),
    )


def _from_injected(found: Found, name: str) -> tuple[bool, Any]:
    """``(True, value)`` if the enclosing inject_hyperparams holds ``name``
    (``"betas[1]"``: the second entry of ``betas``)."""
    base, _, rest = name.partition("[")
    value = found.hyperparams.get(base)
    if value is None:
        return False, None
    return True, value if not rest else value[int(rest.rstrip("]"))]


def steps(found: Found, given: ArrayLike | None, why: str) -> jax.Array:
    """``given`` if not None, else the state's own step count, else the count
    of an enclosing ``inject_hyperparams``."""
    if given is not None:
        _checks.check_range("steps", given, 0.0)
        return jnp.asarray(given)
    state, fields = found.state, found.fields
    for name in () if fields is None else fields.counts:
        count = getattr(state, name)
        if count is not None:
            return count
    if found.outer_count is not None:
        return found.outer_count
    kind = "this state" if state is None else f"this {type(state).__name__}"
    raise MissingHyperparameterError(
        f"`steps` (the number of updates so far) is needed for {why}, and "
        f"{kind} keeps no step count: pass steps=..., or wrap the optimizer "
        "in optax.inject_hyperparams (whose state counts steps).",
        "steps",
        ("steps",),
    )


def value(
    role: str,
    given: Any,
    found: Found,
    declaration: declarations.Declaration | None,
    *,
    argument: str | None = None,
    required: bool = True,
    steps_given: ArrayLike | None = None,
) -> Any:
    """The value of ``role`` (an attribute of the declaration naming an
    argument: ``"learning_rate"``, ``"eps"``, ``"decay"``,
    ``"learning_rate_decay"``); a schedule is read at the last update.

    Returns None where nothing gives it and ``required`` is False.
    """
    argument = argument or role
    if given is not None:
        return given
    name = None if declaration is None else getattr(declaration, role)
    if name is not None and declaration is not None:
        held, out = _from_injected(found, name)
        if not held and declaration.has(name):
            held, out = True, declaration.value(name)
        if held:
            if _checks.is_schedule(out):
                t = steps(found, steps_given, f"the schedule `{name}`")
                out = out(jnp.maximum(t, 1) - 1)  # the count of the last update
            return out
    if not required:
        return None
    raise _missing(role, argument, found, declaration, name)


def placement(
    eps_in_sqrt: bool | None,
    found: Found,
    declaration: declarations.Declaration | None,
) -> str:
    """Where eps sits: ``eps_in_sqrt`` if given, else as declared."""
    if eps_in_sqrt is not None:
        return "inside" if eps_in_sqrt else "outside"
    if declaration is not None and declaration.eps_placement is not None:
        return declaration.eps_placement
    raise _missing("eps_placement", "eps_in_sqrt", found, declaration, None)
