r"""Per-parameter diagnostics read from optimizer states.

An optimizer of this library keeps, per parameter, what it needs to scale the
gradient: RMSprop an EMA :math:`s` of squared gradients, Adagrad the sum
:math:`G`, Rprop the step sizes :math:`\Delta`. This module reads them from
any state -- a state of this library, or one nested in ``optax.chain``,
``optax.inject_hyperparams``, ``optax.MultiSteps``, ``optax.masked``,
``optax.multi_transform`` or :func:`rmsprop_jax.skip_nonfinite` -- and turns
them into

* the per-parameter **effective learning rate**: the factor the gradient was
  multiplied by in the last update, :math:`\eta/\sqrt{s+\epsilon}` (RMSprop),
  :math:`\eta/\sqrt{G+\epsilon}` (Adagrad), :math:`\eta/(\sqrt{\hat s}+\epsilon)`
  (Adam's preconditioner), or the step size :math:`\Delta` (Rprop, where the
  step does not depend on the gradient's size); for an optimizer without a
  preconditioner (:func:`~rmsprop_jax.sgd` with or without momentum,
  :func:`~rmsprop_jax.sign_sgd`, :func:`~rmsprop_jax.presets.torch_sgd`,
  :func:`~rmsprop_jax.presets.keras_sgd`) the learning rate :math:`\eta`
  itself, the same for every parameter;
* the per-parameter **gradient RMS**, :math:`\sqrt{s}` (and
  :math:`\sqrt{G/t}` for Adagrad);
* summary statistics (min, median, max of every leaf), a flat dict of
  scalars to log every step; all of it is jit-able.

States never store hyperparameters, so the learning rate and :math:`\epsilon`
are arguments. When the optimizer is wrapped in ``optax.inject_hyperparams``
they are read from its state unless given explicitly, under this library's
names or the frameworks' names that :mod:`rmsprop_jax.presets` keep: the
learning rate as ``learning_rate`` or ``lr``, :math:`\epsilon` as ``eps`` or
``epsilon``, and the decay :math:`\beta` (for bias correction) as ``decay``,
``b2``, ``beta2``, ``beta_2``, ``alpha``, ``rho`` or ``betas[1]`` (PyTorch's
Adam: ``inject_hyperparams`` keeps the pair out of its state, but the sweep's
records read it from the factory's arguments); PyTorch Adagrad's ``lr_decay``
divides the learning rate as in :func:`~rmsprop_jax.presets.torch_adagrad`.
Keras's Adam is recognised by its name ``beta_2`` (see
:func:`effective_learning_rates`); its ``amsgrad`` state is not read. The placement
of :math:`\epsilon` is not stored either; it defaults to each primitive's
default (inside the root for :func:`~rmsprop_jax.scale_by_rms` and
:func:`~rmsprop_jax.accumulate_squares`, outside for
:func:`~rmsprop_jax.precondition_by_rms`), outside where the enclosing
``inject_hyperparams`` names the learning rate ``lr`` (PyTorch's name: its
RMSprop and Adagrad, and so the ``torch_*`` presets, add :math:`\epsilon`
after the root), and can be overridden, e.g. for :func:`~rmsprop_jax.laprop`.
The default :math:`\epsilon` and the bias correction are the primitives' own
(read from their signatures and from :mod:`rmsprop_jax.transforms`). Bias
correction follows the state: a state keeps a step count exactly when it was
built with ``bias_correction=True``, and then keeps the corrected moments, so
reading them needs no decay (only ``bias_correction=False`` on such a state,
or ``True`` on an uncorrected one, does). Where a state keeps no count (Adagrad's,
uncorrected RMS) and the number of updates is needed, it comes from an
enclosing ``inject_hyperparams`` state or from the ``steps`` argument.

States are found by type with a ``jax.tree_util`` traversal that stops at
``ScaleByRmsState``, ``AccumulateSquaresState``, ``ScaleByRpropState``,
``PreconditionByRmsState`` and optax's ``InjectHyperparamsState``; every other
NamedTuple, tuple and dict is a node to descend into. A state with none of
them is read as an optimizer without a preconditioner when it is made of
nothing but this library's ``MomentumState``, step counts and the containers
around them (chains, ``optax.masked``, ``optax.multi_transform``,
``optax.MultiSteps``, :func:`~rmsprop_jax.skip_nonfinite`); any other state
(optax's ``adam`` or ``lars``, say) is not this library's, and nothing is
reported for it. A *stateless* transformation chained in (a trust ratio, a
normalisation) leaves no trace in a state, so its factor is not seen.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _tree
from rmsprop_jax._guard import SkipNonfiniteState
from rmsprop_jax._learning_rate import decayed_lr
from rmsprop_jax.transforms import (
    AccumulateSquaresState,
    MomentumState,
    PreconditionByRmsState,
    ScaleByRmsState,
    ScaleByRpropState,
    accumulate_squares,
    precondition_by_rms,
    scale_by_rms,
)
from rmsprop_jax.transforms._corrections import one_minus_power
from rmsprop_jax.transforms._roots import root

__all__ = [
    "STATISTICS",
    "MissingHyperparameterError",
    "effective_learning_rates",
    "find_states",
    "gradient_rms",
    "report",
    "summarize",
]

STATISTICS: tuple[str, ...] = ("min", "median", "max", "mean")
"""The statistics :func:`summarize` can compute."""

_OURS = (ScaleByRmsState, AccumulateSquaresState, ScaleByRpropState)
_INJECT = (optax.InjectHyperparamsState, optax.InjectStatefulHyperparamsState)
# The one table of hyperparameter names, read from an enclosing
# inject_hyperparams and from the sweep's factory arguments: this library's
# names, then the frameworks' names the presets keep (Keras's learning_rate,
# epsilon, beta_2; PyTorch's lr, eps, alpha, rho and betas).
_NAMES = {
    "learning_rate": ("learning_rate", "lr"),
    "eps": ("eps", "epsilon"),
    "decay": ("decay", "b2", "beta2", "beta_2", "betas", "alpha", "rho"),
}
_PAIRS = {"betas": 1}  # PyTorch's Adam keeps (beta_1, beta_2): decay is betas[1]
_PYTORCH_LR = "lr"  # PyTorch's name: its RMSprop and Adagrad add eps after the root
# Keras's name for Adam's beta_2. Keras's Adam folds sqrt(1 - beta_2**t) /
# (1 - beta_1**t) into its step size and adds eps to the uncorrected root.
_KERAS_BETA_2 = "beta_2"
# The other arguments the diagnostics read: PyTorch Adagrad's learning-rate
# decay and the placement of eps.
_SWITCHES = ("lr_decay", "eps_in_sqrt")
_ALL_NAMES = frozenset({*(n for names in _NAMES.values() for n in names), *_SWITCHES})


class MissingHyperparameterError(ValueError):
    """A hyperparameter a diagnostic needs (the learning rate, ``eps``, the
    decay, the step count) is neither an argument nor held by an enclosing
    ``optax.inject_hyperparams`` state. A ``ValueError``; ``role`` is the
    hyperparameter (``"learning_rate"``, ``"decay"``, ...), ``names`` the
    names it was looked up under."""

    def __init__(self, message: str, role: str, names: Sequence[str]) -> None:
        super().__init__(message)
        self.role = role
        self.names = tuple(names)


def _primitive(state: Any, preconditioner: bool) -> Callable[..., Any]:
    """The primitive that built ``state``: its defaults are the diagnostics'."""
    if preconditioner:
        return precondition_by_rms
    if isinstance(state, AccumulateSquaresState):
        return accumulate_squares
    return scale_by_rms


def _default(primitive: Callable[..., Any], name: str) -> Any:
    return inspect.signature(primitive).parameters[name].default


class _Found(NamedTuple):
    state: Any  # ScaleByRmsState | AccumulateSquaresState | ScaleByRpropState
    preconditioner: bool  # the ScaleByRmsState of a precondition_by_rms
    hyperparams: Mapping[str, Any]  # from an enclosing inject_hyperparams
    outer_count: jax.Array | None  # the step count of that inject_hyperparams


def _key(path: Sequence[Any]) -> str:
    return jax.tree_util.keystr(tuple(path), simple=True, separator="/")


def _walk(
    tree: Any,
    prefix: tuple,
    hyperparams: Mapping[str, Any],
    outer_count: jax.Array | None = None,
):
    """Yields ``(path, _Found)`` for every state of this library in ``tree``."""
    stop = (*_OURS, PreconditionByRmsState, *_INJECT)
    flat, _ = jax.tree_util.tree_flatten_with_path(
        tree, is_leaf=lambda x: isinstance(x, stop)
    )
    for path, node in flat:
        path = prefix + tuple(path)
        if isinstance(node, _INJECT):
            inner = (*path, jax.tree_util.GetAttrKey("inner_state"))
            found = {**hyperparams, **node.hyperparams}
            yield from _walk(node.inner_state, inner, found, node.count)
        elif isinstance(node, PreconditionByRmsState):
            rms = (*path, jax.tree_util.GetAttrKey("rms"))
            yield rms, _Found(node.rms, True, hyperparams, outer_count)
            inner = (*path, jax.tree_util.GetAttrKey("inner"))
            yield from _walk(node.inner, inner, hyperparams, outer_count)
        elif isinstance(node, _OURS):
            yield path, _Found(node, False, hyperparams, outer_count)


# The states an optimizer without a preconditioner is made of: this library's
# momentum, and the containers and count-only states around it. Any other
# state type (optax's TraceState of LARS, AddNoiseState, ...) belongs to an
# optimizer that is not one of these, and nothing is reported for it.
_PLAIN = (
    optax.EmptyState,
    optax.ScaleByScheduleState,
    optax.MaskedState,
    optax.MultiTransformState,
    SkipNonfiniteState,
)


def _without_preconditioner(
    tree: Any,
    hyperparams: Mapping[str, Any],
    outer_count: jax.Array | None = None,
) -> _Found | None:
    """The state of an optimizer without a preconditioner: made only of this
    library's ``MomentumState``, step counts and the containers around them
    (``optax.MultiSteps``' accumulated gradients aside), as a ``_Found``
    carrying the hyperparameters of an enclosing ``inject_hyperparams``; None
    for any other state."""
    found = _Found(None, False, hyperparams, outer_count)

    def visit(node: Any) -> bool:
        nonlocal found
        if node is None or isinstance(node, MomentumState):
            return True
        if isinstance(node, _INJECT):
            merged = {**hyperparams, **node.hyperparams}
            inner = _without_preconditioner(node.inner_state, merged, node.count)
        elif isinstance(node, optax.MultiStepsState):
            inner = _without_preconditioner(
                node.inner_opt_state, hyperparams, outer_count
            )
        elif isinstance(node, _PLAIN) or type(node) in (tuple, list):
            return all(visit(child) for child in node)
        elif isinstance(node, dict):
            return all(visit(child) for child in node.values())
        elif isinstance(node, (jax.Array, np.ndarray)):
            return not jnp.issubdtype(node.dtype, jnp.inexact)  # a step count
        else:
            return False  # another optimizer's state
        if inner is None:
            return False
        found = inner
        return True

    return found if visit(tree) else None


def find_states(opt_state: optax.OptState) -> dict[str, Any]:
    """The states of this library's primitives in ``opt_state``, by key path.

    Args:
      opt_state: any optimizer state, possibly nested in optax wrappers.

    Returns:
      A dict from the key path of each ``ScaleByRmsState``,
      ``AccumulateSquaresState`` and ``ScaleByRpropState`` (including the
      second moments of a ``PreconditionByRmsState``, at ``.../rms``) to the
      state, in traversal order.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> from rmsprop_jax import rmsprop
      >>> from rmsprop_jax.diagnostics import find_states
      >>> state = optax.chain(optax.clip(1.0), rmsprop()).init(jnp.zeros(3))
      >>> list(find_states(state))
      ['1/0']
    """
    return {_key(path): found.state for path, found in _walk(opt_state, (), {})}


def _pick(role: str, given: Any, found: _Found) -> Any:
    """``given`` if not None, else the hyperparameter of the enclosing
    ``inject_hyperparams`` under one of the names of ``role``."""
    if given is not None:
        return given
    names = _NAMES[role]
    for key in names:
        if found.hyperparams.get(key) is not None:
            value = found.hyperparams[key]
            return value[_PAIRS[key]] if key in _PAIRS else value
    if found.outer_count is None:
        where = "wrap the optimizer in optax.inject_hyperparams"
    else:
        held = ", ".join(sorted(found.hyperparams)) or "no numeric hyperparameter"
        where = (
            f"the enclosing optax.inject_hyperparams holds {held}, none of them "
            f"named {' or '.join(names)}"
        )
    hint = ""
    if role == "decay" and _PYTORCH_LR in found.hyperparams:
        hint = (
            " PyTorch's Adam keeps beta_2 in `betas`, a pair that "
            "optax.inject_hyperparams holds as a static argument, outside its "
            "state: pass decay=betas[1]."
        )
    raise MissingHyperparameterError(
        f"`{role}` is needed and is not stored in optimizer states: pass "
        f"{role}=..., or {where}.{hint}",
        role,
        names,
    )


def _steps(found: _Found, steps: ArrayLike | None, why: str) -> jax.Array:
    """``steps`` if given, else the state's own step count, else the count of
    an enclosing ``inject_hyperparams``."""
    if steps is not None:
        _checks.check_range("steps", steps, 0.0)
        return jnp.asarray(steps)
    state = found.state
    # ("count" in _fields: a NamedTuple without the field still has tuple.count)
    if "count" in state._fields and state.count is not None:
        return state.count
    if found.outer_count is not None:
        return found.outer_count
    raise ValueError(
        f"`steps` (the number of updates so far) is needed for {why}, and this "
        f"{type(state).__name__} keeps no step count: pass steps=..., or wrap "
        f"the optimizer in optax.inject_hyperparams (whose state counts steps)."
    )


def _second_moment(
    found: _Found,
    bias_correction: bool | None,
    decay: ArrayLike | None,
    steps: ArrayLike | None,
) -> Any:
    r"""The root of the (bias-corrected) second moment tree of an RMS or Adagrad
    state (the states keep the roots, :math:`\sqrt{s}` and :math:`\sqrt{G}`)."""
    state = found.state
    if isinstance(state, AccumulateSquaresState):
        return state.root_sum_of_squares
    # A state that counts steps keeps the corrected root (bias_correction=True).
    stored = state.count is not None
    correct = stored if bias_correction is None else bias_correction
    if correct == stored:
        return state.rms
    beta = jnp.asarray(_pick("decay", decay, found))
    # Before the first update (t = 0) the moment is still its initial value.
    t = jnp.maximum(_steps(found, steps, "bias correction"), 1)

    def convert(r: jax.Array) -> jax.Array:
        root_c = jnp.sqrt(one_minus_power(beta, t, r.dtype))
        return r / root_c if correct else r * root_c

    return jax.tree.map(convert, state.rms)


def _has(role: str, found: _Found) -> bool:
    return any(found.hyperparams.get(key) is not None for key in _NAMES[role])


def _keras_adam(found: _Found, bias_correction: bool | None) -> bool:
    """Keras's Adam: an uncorrected preconditioner under Keras's names."""
    return (
        found.preconditioner
        and found.state.count is None
        and bias_correction is None
        and found.hyperparams.get(_KERAS_BETA_2) is not None
    )


def _learning_rate(found: _Found, given: Any, steps: ArrayLike | None) -> Any:
    """The learning rate of the last update; PyTorch Adagrad's ``lr_decay``
    (from an enclosing ``inject_hyperparams``) divides it as the preset does."""
    lr = _pick("learning_rate", given, found)
    if given is None and found.hyperparams.get("lr_decay") is not None:
        t = _steps(found, steps, "PyTorch Adagrad's decayed learning rate")
        schedule = decayed_lr(lr, found.hyperparams["lr_decay"])
        lr = schedule(jnp.maximum(t, 1) - 1)  # the count of the last update
    return lr


def effective_learning_rates(
    opt_state: optax.OptState,
    learning_rate: ArrayLike | None = None,
    eps: ArrayLike | None = None,
    *,
    eps_in_sqrt: bool | None = None,
    bias_correction: bool | None = None,
    decay: ArrayLike | None = None,
    steps: ArrayLike | None = None,
) -> dict[str, Any]:
    r"""The per-parameter effective learning rate of every state found.

    .. math::
        \frac{\eta}{\sqrt{s+\epsilon}}\ \text{(RMSprop)},\qquad
        \frac{\eta}{\sqrt{G+\epsilon}}\ \text{(Adagrad)},\qquad
        \frac{\eta}{\sqrt{\hat s}+\epsilon}\ \text{(Adam)},\qquad
        \Delta\ \text{(Rprop)},

    computed from the accumulators as they are after the last update: for
    RMSprop and Adagrad the last update was exactly
    :math:`u_t = -\text{rate} \odot g_t`, for Adam
    :math:`u_t = -\text{rate} \odot \hat m_t`, for Rprop
    :math:`u_t = -\mathrm{sign}(g_t)\,\Delta_t` except where a sign flipped.
    Keras's Adam (:func:`~rmsprop_jax.presets.keras_adam`, recognised by its
    name ``beta_2`` in an enclosing ``inject_hyperparams``) folds
    :math:`\sqrt{1-\beta_2^t}/(1-\beta_1^t)` into its step size and adds
    :math:`\epsilon` to the uncorrected root; its rate, in the same sense
    (:math:`u_t = -\text{rate} \odot \hat m_t`), is
    :math:`\eta/(\sqrt{\hat v_t} + \epsilon/\sqrt{1-\beta_2^t})`.
    Centering (``centered=True``) is not reflected: :math:`s` is the second
    moment.

    An optimizer without a preconditioner (:func:`~rmsprop_jax.sgd`,
    :func:`~rmsprop_jax.sign_sgd`, :func:`~rmsprop_jax.presets.torch_sgd`,
    :func:`~rmsprop_jax.presets.keras_sgd`: a state with no RMS, Adagrad or
    Rprop state, keeping nothing but step counts and momentum) multiplies its
    direction by :math:`\eta` alone, :math:`u_t = -\eta\, d_t` with
    :math:`d_t` the gradient, its momentum :math:`v_t` or its sign: its rate
    is :math:`\eta`, the same for every parameter, reported as a scalar under
    the key ``""``. With momentum that is the rate of the last update, not
    the long-run amplification :math:`\eta/(1-\alpha)` of a steady
    gradient, as Adam's rate leaves out its first moment.

    Args:
      opt_state: any optimizer state, possibly nested in optax wrappers.
      learning_rate: :math:`\eta` (a number or array; for a schedule, its value
        at the step of interest). Default: ``learning_rate`` (or ``lr``) from
        an enclosing ``inject_hyperparams`` state; required otherwise, unless
        only Rprop states are found (or none of this library's states, in a
        state that is not one of an optimizer without a preconditioner).
      eps: :math:`\epsilon`. Default: ``eps`` from an enclosing
        ``inject_hyperparams`` state, else the primitive's default (1e-8 for
        RMS states, 1e-10 for Adagrad).
      eps_in_sqrt: where ``eps`` goes. Default: the primitive's default (inside
        for ``scale_by_rms`` and ``accumulate_squares``, outside for
        ``precondition_by_rms``).
      bias_correction: divide :math:`s` by :math:`1-\beta^t`. Default: as
        the state was built (``bias_correction=True`` states keep a step count,
        the others do not; ``precondition_by_rms`` corrects by default,
        ``scale_by_rms`` does not).
      decay: :math:`\beta`, needed for bias correction. Default: ``decay``,
        ``b2``, ``beta2``, ``beta_2``, ``alpha`` or ``rho`` from an enclosing
        ``inject_hyperparams`` state. PyTorch's Adam keeps it in ``betas``, a
        pair that ``inject_hyperparams`` does not put in its state: pass
        ``decay=betas[1]``.
      steps: :math:`t`, the number of updates so far, used for every state
        found. Default: each state's own step count, else the count of an
        enclosing ``inject_hyperparams``; needed only to bias-correct a state
        built without bias correction (which keeps no count). Under
        ``skip_nonfinite`` or ``MultiSteps`` pass the optimizer's own number of
        updates, which can differ from the training loop's step.

    Returns:
      A dict from the key path of each state (see :func:`find_states`) to a
      tree shaped like the parameters; ``{"": scalar}`` for an optimizer
      without a preconditioner; ``{}`` for a state of none of this library's
      optimizers.

    Raises:
      MissingHyperparameterError: ``learning_rate`` (or ``decay`` or
        ``steps``) is needed and not found (a ``ValueError``).
      ValueError: ``opt_state`` holds no state of this library's optimizers
        (an optimizer of another library: ``optax.adam``, say).

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import rmsprop, sgd
      >>> from rmsprop_jax.diagnostics import effective_learning_rates
      >>> tx = rmsprop(learning_rate=0.01, decay=0.9, eps=1e-8)
      >>> w = jnp.zeros(2)
      >>> _, state = tx.update(jnp.array([0.1, 10.0]), tx.init(w), w)
      >>> lrs = effective_learning_rates(state, learning_rate=0.01, eps=1e-8)
      >>> print(lrs["0"].round(4))  # 0.01 / sqrt(0.1 * g**2)
      [0.3162 0.0032]
      >>> state = sgd(0.01, momentum=0.9).init(w)
      >>> print(effective_learning_rates(state, learning_rate=0.01)[""])
      0.01
    """
    for value, name in ((learning_rate, "learning_rate"), (eps, "eps")):
        if value is not None:
            _checks.check_range(name, value, 0.0)
    out = _effective_learning_rates(
        opt_state,
        {},
        learning_rate,
        eps,
        eps_in_sqrt=eps_in_sqrt,
        bias_correction=bias_correction,
        decay=decay,
        steps=steps,
    )
    if not out:
        names = ", ".join(dict.fromkeys(_tree.state_type_names(opt_state))) or "none"
        raise ValueError(
            "`opt_state` holds no state of this library's optimizers (its "
            f"states: {names}). The diagnostics read the "
            "states of rmsprop_jax's optimizers, primitives and presets; "
            "another library's optimizer keeps its moments under its own names."
        )
    return out


def _effective_learning_rates(
    opt_state: optax.OptState,
    hyperparams: Mapping[str, Any],
    learning_rate: ArrayLike | None,
    eps: ArrayLike | None,
    *,
    eps_in_sqrt: bool | None,
    bias_correction: bool | None,
    decay: ArrayLike | None,
    steps: ArrayLike | None,
) -> dict[str, Any]:
    """:func:`effective_learning_rates`, with ``hyperparams`` (names of
    ``_NAMES``, e.g. a factory's arguments) read as if an enclosing
    ``inject_hyperparams`` held them."""
    out = {}
    for path, found in _walk(opt_state, (), hyperparams):
        state = found.state
        if isinstance(state, ScaleByRpropState):
            out[_key(path)] = state.step_size
            continue
        lr = _learning_rate(found, learning_rate, steps)
        primitive = _primitive(state, found.preconditioner)
        if eps is not None or _has("eps", found):
            e = _pick("eps", eps, found)
        else:
            e = _default(primitive, "eps")
        inside = eps_in_sqrt
        if inside is None:
            pytorch = _PYTORCH_LR in found.hyperparams
            inside = False if pytorch else _default(primitive, "eps_in_sqrt")
        moment = _second_moment(found, bias_correction, decay, steps)
        keras: tuple[jax.Array, jax.Array] | None = None  # Keras's Adam: b2, t
        if _keras_adam(found, bias_correction):
            # lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps)
            #   = lr m_hat / (sqrt(v_hat) + eps / sqrt(1-b2^t))
            beta = jnp.asarray(_pick("decay", decay, found))
            keras = beta, jnp.maximum(_steps(found, steps, "Keras's Adam"), 1)

        def rate(s: jax.Array, lr=lr, e=e, inside=inside, k=keras) -> jax.Array:
            factor = (
                1.0 if k is None else jnp.sqrt(one_minus_power(k[0], k[1], s.dtype))
            )
            return (lr * factor / root(s, e, eps_in_sqrt=inside)).astype(s.dtype)

        out[_key(path)] = jax.tree.map(rate, moment)
    if not out:
        plain = _without_preconditioner(opt_state, hyperparams)
        if plain is not None:
            out[""] = jnp.asarray(_learning_rate(plain, learning_rate, steps))
    return out


def gradient_rms(
    opt_state: optax.OptState,
    *,
    bias_correction: bool | None = None,
    decay: ArrayLike | None = None,
    steps: ArrayLike | None = None,
) -> dict[str, Any]:
    r"""The per-parameter root mean square of the gradients seen so far.

    :math:`\sqrt{s}` for RMS states (bias-corrected with ``bias_correction``),
    :math:`\sqrt{G/t}` for Adagrad (exact with the default
    :math:`G_0 = 0`; Adagrad's state keeps no step count, so :math:`t` is the
    ``steps`` argument). Rprop, and the optimizers without a preconditioner
    (``sgd``, ``sign_sgd``), keep no gradient magnitudes and are left out.

    Args:
      opt_state: any optimizer state, possibly nested in optax wrappers.
      bias_correction: divide :math:`s` by :math:`1-\beta^t`; defaults as in
        :func:`effective_learning_rates`.
      decay: :math:`\beta`, needed for bias correction; defaults as in
        :func:`effective_learning_rates`.
      steps: :math:`t`, the number of updates so far: needed for Adagrad
        states unless an enclosing ``inject_hyperparams`` counts them,
        otherwise as in :func:`effective_learning_rates`.

    Returns:
      A dict from the key path of each RMS or Adagrad state to a tree shaped
      like the parameters.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import adagrad
      >>> from rmsprop_jax.diagnostics import gradient_rms
      >>> tx = adagrad()
      >>> w = jnp.zeros(2)
      >>> state = tx.init(w)
      >>> _, state = tx.update(jnp.array([3.0, 1.0]), state, w)
      >>> _, state = tx.update(jnp.array([4.0, -1.0]), state, w)
      >>> print(gradient_rms(state, steps=2)["0"].round(4))  # sqrt((9+16)/2), 1
      [3.5355 1.    ]
    """
    return _gradient_rms(
        opt_state, {}, bias_correction=bias_correction, decay=decay, steps=steps
    )


def _gradient_rms(
    opt_state: optax.OptState,
    hyperparams: Mapping[str, Any],
    *,
    bias_correction: bool | None,
    decay: ArrayLike | None,
    steps: ArrayLike | None,
) -> dict[str, Any]:
    """:func:`gradient_rms`, with ``hyperparams`` as in
    :func:`_effective_learning_rates`."""
    out = {}
    for path, found in _walk(opt_state, (), hyperparams):
        state = found.state
        if isinstance(state, ScaleByRpropState):
            continue
        moment = _second_moment(found, bias_correction, decay, steps)
        if isinstance(state, AccumulateSquaresState):
            t = jnp.maximum(_steps(found, steps, "Adagrad's gradient RMS"), 1)
            moment = jax.tree.map(
                lambda r, t=t: r / jnp.sqrt(t.astype(r.dtype)), moment
            )
        out[_key(path)] = moment
    return out


def summarize(
    trees: Mapping[str, Any],
    statistics: Sequence[str] = ("min", "median", "max"),
) -> dict[str, jax.Array]:
    """Summary statistics of every leaf, as a flat dict of scalars.

    Cheap enough to log every step under ``jit``: min, max and mean are single
    reductions; the median sorts each leaf (drop it for very large leaves).
    Masked-out leaves (``optax.MaskedNode``) and ``None`` are skipped.

    Args:
      trees: a dict of trees, e.g. the output of
        :func:`effective_learning_rates` or :func:`gradient_rms`.
      statistics: any of ``"min"``, ``"median"``, ``"max"``, ``"mean"``.

    Returns:
      ``{"<key>/<leaf path>/<statistic>": scalar}``, keys sorted (the order in
      which a jitted function returns a dict), so CSV columns are stable.

    Raises:
      ValueError: an unknown statistic.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax.diagnostics import summarize
      >>> stats = summarize({"0": {"w": jnp.array([1.0, 2.0, 10.0])}})
      >>> {k: float(v) for k, v in stats.items()}
      {'0/w/max': 10.0, '0/w/median': 2.0, '0/w/min': 1.0}
    """
    for name in statistics:
        _checks.check_choice("statistics", name, STATISTICS)
    reduce: dict[str, Callable[[jax.Array], jax.Array]] = {
        "min": jnp.min,
        "median": jnp.median,
        "max": jnp.max,
        "mean": jnp.mean,
    }
    out = {}
    for key, tree in trees.items():
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            name = "/".join(part for part in (key, _key(path)) if part)
            for stat in statistics:
                out[f"{name}/{stat}" if name else stat] = reduce[stat](leaf)
    return dict(sorted(out.items()))


def report(
    opt_state: optax.OptState,
    learning_rate: ArrayLike | None = None,
    eps: ArrayLike | None = None,
    *,
    statistics: Sequence[str] = ("min", "median", "max"),
    eps_in_sqrt: bool | None = None,
    bias_correction: bool | None = None,
    decay: ArrayLike | None = None,
    steps: ArrayLike | None = None,
) -> dict[str, jax.Array]:
    """Summaries of the effective learning rates and gradient RMS, to log.

    ``summarize`` of :func:`effective_learning_rates` under the prefix
    ``effective_learning_rate/`` and of :func:`gradient_rms` under
    ``gradient_rms/``: a flat dict of scalars with fixed keys, ready for a CSV
    row or a TensorBoard scalar per key.

    Args:
      opt_state: any optimizer state, possibly nested in optax wrappers.
      learning_rate: as in :func:`effective_learning_rates`.
      eps: as in :func:`effective_learning_rates`.
      statistics: as in :func:`summarize`.
      eps_in_sqrt: as in :func:`effective_learning_rates`.
      bias_correction: as in :func:`effective_learning_rates`.
      decay: as in :func:`effective_learning_rates`.
      steps: as in :func:`effective_learning_rates`; needed for Adagrad outside
        ``inject_hyperparams``.

    Returns:
      ``{"effective_learning_rate/<state>/<leaf>/<statistic>": scalar, ...,
      "gradient_rms/<state>/<leaf>/<statistic>": scalar, ...}``.

    Raises:
      ValueError: as :func:`effective_learning_rates` and
        :func:`gradient_rms` (a needed hyperparameter or step count not
        found), or an unknown statistic.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import rmsprop
      >>> from rmsprop_jax.diagnostics import report
      >>> tx = rmsprop(0.01)
      >>> w = {"b": jnp.zeros(3)}
      >>> _, state = tx.update({"b": jnp.array([1.0, 2.0, 3.0])}, tx.init(w), w)
      >>> row = report(state, learning_rate=0.01, statistics=("max",))
      >>> {k: round(float(v), 4) for k, v in row.items()}
      {'effective_learning_rate/0/b/max': 0.0316, 'gradient_rms/0/b/max': 0.9487}
    """
    rates = effective_learning_rates(
        opt_state,
        learning_rate,
        eps,
        eps_in_sqrt=eps_in_sqrt,
        bias_correction=bias_correction,
        decay=decay,
        steps=steps,
    )
    rms = gradient_rms(
        opt_state, bias_correction=bias_correction, decay=decay, steps=steps
    )
    out = {}
    for prefix, trees in (("effective_learning_rate", rates), ("gradient_rms", rms)):
        stats = summarize(trees, statistics)
        out.update({f"{prefix}/{key}": value for key, value in stats.items()})
    return dict(sorted(out.items()))
