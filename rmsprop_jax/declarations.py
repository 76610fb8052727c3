r"""How each factory's state is read: the declarations every factory attaches.

A state says nothing about how it was built: a ``ScaleByRmsState`` made by
:func:`~rmsprop_jax.rmsprop` (:math:`\epsilon` inside the root) and one made by
:func:`~rmsprop_jax.presets.torch_rmsprop` (outside) are the same pytree. The
knowledge of a convention therefore lives with the factory that creates it,
in two declarations:

* :class:`StateFields`, per state type: the role of every field of a state
  ``NamedTuple`` -- second moments (kept as roots), first moments, step sizes,
  the previous step's memory, step counts, nested states. Declared next to the
  type with the class decorator :func:`state_fields`; read with
  :func:`fields_of`. These roles do not depend on any argument: a
  ``ScaleByRmsState``'s ``rms`` is always :math:`\sqrt{s}`.
* :class:`Declaration`, per built transformation: which argument is the
  learning rate, :math:`\epsilon`, the decay of the second moment (and
  torch Adagrad's learning-rate decay), where :math:`\epsilon` sits, whether
  the second moment is bias-corrected and centered, and the arguments of the
  call. Every public factory declares it through the decorator it already
  wears (``_inputs.optimizer`` / ``_inputs.primitive``, the presets' too);
  read it with :func:`declaration_of` from the transformation, from the
  factory itself (then the arguments are its defaults and
  no hyperparameter value is known), or from a ``functools.partial`` of it.

:mod:`rmsprop_jax.diagnostics` reads only these declarations (it never infers
a convention from a hyperparameter's name), and the low-bit states find their
second moments, first moments and step sizes through :func:`fields_of`.

Examples:
  >>> import jax.numpy as jnp
  >>> from rmsprop_jax import declarations, presets, rmsprop
  >>> declarations.declaration_of(presets.torch_rmsprop(lr=0.1)).eps_placement
  'outside'
  >>> d = declarations.declaration_of(rmsprop(0.1, eps_in_sqrt=False))
  >>> d.learning_rate, d.value("learning_rate"), d.eps_placement
  ('learning_rate', 0.1, 'outside')
  >>> state = rmsprop().init(jnp.zeros(2))
  >>> declarations.fields_of(state[0]).second_moments
  ('rms',)
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

__all__ = [
    "ROLES",
    "Declaration",
    "EpsPlacement",
    "StateFields",
    "declaration_of",
    "declare",
    "fields_of",
    "state_fields",
]

EpsPlacement = Literal["inside", "outside", "outside_uncorrected"]
"""Where :math:`\\epsilon` sits in the denominator: ``"inside"`` the root,
:math:`\\sqrt{\\hat s + \\epsilon}`; ``"outside"`` the (bias-corrected, if
corrected) root, :math:`\\sqrt{\\hat s} + \\epsilon`; ``"outside_uncorrected"``:
outside the *uncorrected* root, with the correction folded into the step size
(Keras's Adam), :math:`\\sqrt{\\hat s} + \\epsilon/\\sqrt{1-\\beta^t}`."""

_PLACEMENTS = ("inside", "outside", "outside_uncorrected")

ROLES: tuple[str, ...] = (
    "second_moments",
    "first_moments",
    "step_sizes",
    "previous",
    "counts",
    "inner",
)
"""The roles a state field can have (the fields of :class:`StateFields`)."""


@dataclasses.dataclass(frozen=True)
class StateFields:
    """The role of every field of one state ``NamedTuple`` type.

    Attributes:
      second_moments: float fields holding roots of second moments,
        :math:`\\sqrt{s}` (non-negative, e.g. ``ScaleByRmsState.rms``).
      first_moments: float fields holding first moments or momentum buffers
        (signed).
      step_sizes: float fields holding per-weight step sizes (positive,
        Rprop's :math:`\\Delta`).
      previous: fields remembering the last step (Rprop's stored sign,
        update and loss).
      counts: integer step counts (or None where the state keeps none).
      inner: fields holding the state of a nested transformation.
      divisor: the field the update divides by, one of ``second_moments``
        (``rms_max`` for AMSGrad), or None.
      numerator: the field the last update multiplied by, one of
        ``second_moments``, or None: the root of a mean square that the
        update scales by before dividing (Adadelta's
        :math:`\\sqrt{E[\\Delta^2]_{t-1}}`, the RMS of the updates before
        the last one), under the same :math:`\\epsilon` as the divisor.
      corrected_when_counted: the moments are stored bias-corrected exactly
        when the state keeps a count (not None).
      running_sum: the second moment is a running sum of squares
        (Adagrad's :math:`G`), not an average.
    """

    second_moments: tuple[str, ...] = ()
    first_moments: tuple[str, ...] = ()
    step_sizes: tuple[str, ...] = ()
    previous: tuple[str, ...] = ()
    counts: tuple[str, ...] = ()
    inner: tuple[str, ...] = ()
    divisor: str | None = None
    numerator: str | None = None
    corrected_when_counted: bool = False
    running_sum: bool = False

    def role(self, field: str) -> str:
        """The role (one of :data:`ROLES`) of ``field``."""
        for name in ROLES:
            if field in getattr(self, name):
                return name
        raise KeyError(field)


_FIELDS: dict[type, StateFields] = {}
_State = TypeVar("_State", bound=type)


def state_fields(**roles: Any) -> Callable[[_State], _State]:
    """Class decorator: declares the role of every field of a state type.

    Args:
      **roles: the arguments of :class:`StateFields`.

    Raises:
      TypeError: a field with no role or two, or a role naming no field.
    """
    declared = StateFields(**roles)

    def register(cls: _State) -> _State:
        fields = tuple(getattr(cls, "_fields", ()))
        named = [f for role in ROLES for f in getattr(declared, role)]
        missing = sorted(set(fields) - set(named))
        unknown = sorted(set(named) - set(fields))
        twice = sorted({f for f in named if named.count(f) > 1})
        divisor, numerator = declared.divisor, declared.numerator
        roots = (None, *declared.second_moments)
        if (
            missing
            or unknown
            or twice
            or divisor not in roots
            or numerator not in roots
            or (numerator is not None and divisor is None)
        ):
            raise TypeError(
                f"state_fields of {cls.__name__}: every field needs exactly one "
                f"role of {ROLES} (no role: {missing}, not a field: {unknown}, "
                f"twice: {twice}); divisor {divisor!r} must be a second moment, "
                f"and numerator {numerator!r} a second moment beside a divisor."
            )
        _FIELDS[cls] = declared
        return cls

    return register


def fields_of(state: Any) -> StateFields | None:
    """The :class:`StateFields` of a state (or state type); None if undeclared.

    Examples:
      >>> from rmsprop_jax import ScaleByRpropState
      >>> from rmsprop_jax.declarations import fields_of
      >>> fields_of(ScaleByRpropState).step_sizes
      ('step_size',)
    """
    cls = state if isinstance(state, type) else type(state)
    return _FIELDS.get(cls)


@dataclasses.dataclass(frozen=True)
class Declaration:
    r"""How the state of one factory's transformation is read.

    Each name is the factory's own argument (``"lr"``, ``"alpha"``,
    ``"betas[1]"`` for the second entry of a pair), or None where the factory
    has no such hyperparameter.

    Attributes:
      factory: the factory's name (``"torch_rmsprop"``).
      learning_rate: the argument that multiplies the preconditioned
        direction, :math:`\eta` (None for primitives, and for Rprop, whose
        step sizes are in the state).
      eps: the argument :math:`\epsilon` of the denominator.
      eps_placement: where :math:`\epsilon` sits (:data:`EpsPlacement`).
      decay: the decay :math:`\beta` of the second moment.
      bias_correction: the update divides the second moment by
        :math:`1-\beta^t` (Keras's Adam: in its step size).
      centered: the update divides by the root of the variance,
        :math:`s - m^2` (the state's first moment :math:`m`).
      learning_rate_decay: torch Adagrad's ``lr_decay`` :math:`d`: the rate
        of update :math:`t` is :math:`\eta / (1 + (t-1) d)`.
      eps_root: the argument :math:`\epsilon_r` under the root of the
        divisor, :math:`\sqrt{\hat s + \epsilon_r} + \epsilon` (optax's
        ``eps_root``), or None.
      stored_corrected: the states keep their second moments bias-corrected
        whatever their type's :class:`StateFields` say (AMSGrad's running
        maximum of the *corrected* moment, :func:`~rmsprop_jax.amsgrad`).
      arguments: the arguments of the call, defaults applied (for a
        factory's own declaration: its defaults, and a partial's keywords).
      known: the arguments whose values are the call's (all of them for a
        transformation; a partial's keywords; none for a factory): only
        these are read as hyperparameter values.
    """

    factory: str
    learning_rate: str | None = None
    eps: str | None = None
    eps_placement: EpsPlacement | None = None
    decay: str | None = None
    bias_correction: bool = False
    centered: bool = False
    learning_rate_decay: str | None = None
    eps_root: str | None = None
    stored_corrected: bool = False
    arguments: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    known: frozenset[str] = frozenset()

    def has(self, name: str) -> bool:
        """Whether the value of argument ``name`` is known and not None."""
        base, _ = _split(name)
        return base in self.known and self.arguments.get(base) is not None

    def value(self, name: str) -> Any:
        """The value of argument ``name`` (``"betas[1]"``: an entry of a pair).

        Raises:
          KeyError: the value is not known (a factory's declaration, or no
            such argument).
        """
        base, index = _split(name)
        if base not in self.known:
            raise KeyError(name)
        value = self.arguments[base]
        return value if index is None else value[index]


def _split(name: str) -> tuple[str, int | None]:
    """``"betas[1]"`` -> ``("betas", 1)``; ``"lr"`` -> ``("lr", None)``."""
    match = re.fullmatch(r"(\w+)\[(\d+)\]", name)
    return (match[1], int(match[2])) if match else (name, None)


# A declared field that depends on the call: a function of its arguments.
Rule = Callable[[Mapping[str, Any]], Any]


@dataclasses.dataclass(frozen=True)
class _Rules:
    """What a factory declares, before a call: constants, argument names, or
    functions of the call's arguments (for ``eps_placement``,
    ``bias_correction``, ``centered``, ``stored_corrected``)."""

    learning_rate: str | None
    eps: str | None
    eps_placement: EpsPlacement | Rule | None
    decay: str | None
    bias_correction: bool | Rule
    centered: bool | Rule
    learning_rate_decay: str | None
    eps_root: str | None = None
    stored_corrected: bool | Rule = False

    def bind(
        self, factory: str, arguments: Mapping[str, Any], known: frozenset[str]
    ) -> Declaration:
        def resolve(rule: Any) -> Any:
            return rule(arguments) if callable(rule) else rule

        placement = resolve(self.eps_placement)
        if placement is not None and placement not in _PLACEMENTS:
            raise ValueError(
                f"{factory}: eps_placement {placement!r} not in {_PLACEMENTS}."
            )
        return Declaration(
            factory=factory,
            learning_rate=self.learning_rate,
            eps=self.eps,
            eps_placement=placement,
            decay=self.decay,
            bias_correction=bool(resolve(self.bias_correction)),
            centered=bool(resolve(self.centered)),
            learning_rate_decay=self.learning_rate_decay,
            eps_root=self.eps_root,
            stored_corrected=bool(resolve(self.stored_corrected)),
            arguments=dict(arguments),
            known=known,
        )


_ATTRIBUTE = "__rmsprop_jax_declaration__"  # on a transformation's update
_RULES = "__rmsprop_jax_rules__"  # on a decorated factory


def declare(
    *,
    learning_rate: str | None = None,
    eps: str | None = None,
    eps_placement: EpsPlacement | Rule | None = None,
    decay: str | None = None,
    bias_correction: bool | Rule = False,
    centered: bool | Rule = False,
    learning_rate_decay: str | None = None,
    eps_root: str | None = None,
    stored_corrected: bool | Rule = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorates a factory: every transformation it builds carries its
    :class:`Declaration`.

    The arguments are those of :class:`Declaration`; ``eps_placement``,
    ``bias_correction``, ``centered`` and ``stored_corrected`` may be
    functions of the call's arguments (a dict, defaults applied), for
    factories where a flag decides them (``rmsprop(eps_in_sqrt=...)``). This is how
    ``rmsprop_jax._inputs.optimizer`` and ``primitive`` attach declarations;
    a user's own factory can wear it too.

    Raises:
      TypeError: a named argument that the factory does not take.

    Examples:
      >>> import rmsprop_jax as rj
      >>> from rmsprop_jax.declarations import declaration_of, declare
      >>> @declare(learning_rate="lr", eps="eps", eps_placement="inside",
      ...          decay="rho")
      ... def mine(lr=0.01, eps=1e-2, rho=0.9):
      ...     return rj.rmsprop(learning_rate=lr, decay=rho, eps=eps)
      >>> declaration_of(mine(lr=0.5)).value("lr")
      0.5
    """
    rules = _Rules(
        learning_rate,
        eps,
        eps_placement,
        decay,
        bias_correction,
        centered,
        learning_rate_decay,
        eps_root,
        stored_corrected,
    )

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(factory)
        for name in (learning_rate, eps, decay, learning_rate_decay, eps_root):
            if name is not None and _split(name)[0] not in signature.parameters:
                raise TypeError(
                    f"declare: {factory.__name__} takes no argument {name!r}."
                )

        @functools.wraps(factory)
        def declared(*args: Any, **kwargs: Any) -> Any:
            tx = factory(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            known = frozenset(bound.arguments)
            attach(tx, rules.bind(factory.__name__, bound.arguments, known))
            return tx

        setattr(declared, _RULES, (factory.__name__, signature, rules))
        return declared

    return decorate


def attach(tx: Any, declaration: Declaration) -> Any:
    """Attaches ``declaration`` to the transformation ``tx`` (to its update
    function) and returns ``tx``."""
    setattr(tx.update, _ATTRIBUTE, declaration)
    return tx


def declaration_of(obj: Any) -> Declaration | None:
    """The :class:`Declaration` of a transformation, factory or partial.

    Args:
      obj: a transformation built by a declared factory (bound to its call);
        a declared factory (its defaults; no value known); a
        ``functools.partial`` of one (its keywords known); or a
        :class:`Declaration` (returned as is).

    Returns:
      The declaration, or None when ``obj`` declares nothing (optax's own
      transformations and wrappers, ``optax.inject_hyperparams(...)(...)``, a
      user's undecorated factory).
    """
    if isinstance(obj, Declaration):
        return obj
    update = getattr(obj, "update", None)
    if update is not None and hasattr(update, _ATTRIBUTE):
        found: Declaration = getattr(update, _ATTRIBUTE)
        return found
    keywords: dict[str, Any] = {}
    while isinstance(obj, functools.partial):
        if obj.args:
            return None
        keywords = {**obj.keywords, **keywords}
        obj = obj.func
    rules = getattr(obj, _RULES, None)
    if rules is None:
        return None
    name, signature, spec = rules
    defaults = {
        p.name: p.default
        for p in signature.parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    return spec.bind(name, {**defaults, **keywords}, frozenset(keywords))
