r"""The per-parameter effective learning rate and gradient RMS of a state."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _tree, declarations
from rmsprop_jax._learning_rate import decayed_lr
from rmsprop_jax.diagnostics import _find, _read
from rmsprop_jax.transforms._corrections import one_minus_power
from rmsprop_jax.transforms._roots import hypot, root, sqrt0
from rmsprop_jax.transforms._scalars import scalar


def resolve_declaration(optimizer: Any) -> declarations.Declaration | None:
    """The declaration of ``optimizer``; TypeError for something that
    declares nothing."""
    if optimizer is None:
        return None
    found = declarations.declaration_of(optimizer)
    if found is None:
        raise TypeError(
            f"`optimizer` declares nothing: got {optimizer!r}. Pass the "
            "transformation built by one of this library's factories, the "
            "factory (or a functools.partial of it) for a state of "
            "optax.inject_hyperparams(factory), or a "
            "rmsprop_jax.declarations.Declaration. optax's own wrappers "
            "(chain, inject_hyperparams, ...) carry no declaration: pass the "
            "library's transformation inside them."
        )
    return found


def _stored_corrected(
    found: _find.Found, declaration: declarations.Declaration | None
) -> bool:
    """The state keeps bias-corrected moments: declared per state type (when
    it counts), or by the optimizer (AMSGrad's maximum of the corrected
    moment, in a state type that also serves the uncorrected maximum)."""
    fields = found.fields
    if fields is None:
        return False
    if declaration is not None and declaration.stored_corrected:
        return True
    if not fields.corrected_when_counted:
        return False
    return any(getattr(found.state, c) is not None for c in fields.counts)


def _moments(
    found: _find.Found,
    declaration: declarations.Declaration | None,
    bias_correction: bool | None,
    decay: ArrayLike | None,
    steps: ArrayLike | None,
    field: str,
) -> tuple[Any, Any]:
    r"""``(root, mean)``: the root of the second moment in ``field``,
    :math:`\sqrt{\hat s}` (bias-corrected as the update corrects it), and the
    first moment of a centered state (else None), corrected alike."""
    state, fields = found.state, found.fields
    assert fields is not None
    rms = getattr(state, field)
    mean = None
    centered = declaration is not None and declaration.centered
    if centered and fields.first_moments:
        mean = getattr(state, fields.first_moments[0])
    stored = _stored_corrected(found, declaration)
    if bias_correction is None:
        bias_correction = stored if declaration is None else declaration.bias_correction
    if bias_correction == stored:
        return rms, mean
    beta = jnp.asarray(
        _read.value("decay", decay, found, declaration, steps_given=steps)
    )
    # Before the first update (t = 0) the moment is still its initial value.
    t = jnp.maximum(_read.steps(found, steps, "bias correction"), 1)

    def convert(x: jax.Array, power: float) -> jax.Array:
        c = one_minus_power(beta, t, x.dtype) ** power
        return x / c if bias_correction else x * c

    rms = jax.tree.map(lambda r: convert(r, 0.5), rms)
    if mean is not None:
        mean = jax.tree.map(lambda m: convert(m, 1.0), mean)
    return rms, mean


def _spread(rms: jax.Array, mean: jax.Array) -> jax.Array:
    """``sqrt(rms**2 - mean**2)``, as the centered update computes it."""
    m = jnp.abs(mean)
    return jnp.sqrt(jnp.maximum(rms - m, 0)) * jnp.sqrt(rms + m)


def _learning_rate(
    found: _find.Found,
    declaration: declarations.Declaration | None,
    given: ArrayLike | None,
    steps: ArrayLike | None,
) -> Any:
    """The learning rate of the last update; torch Adagrad's declared
    learning-rate decay divides it as the preset does (not a given one)."""
    lr = _read.value("learning_rate", given, found, declaration, steps_given=steps)
    if given is not None:
        return lr
    d = _read.value("learning_rate_decay", None, found, declaration, required=False)
    concrete = None if d is None else _checks.concrete_values("lr_decay", d)
    if d is None or (concrete is not None and not concrete.any()):
        return lr  # no decay (a concrete 0 needs no step count)
    t = _read.steps(found, steps, "the decayed learning rate")
    return decayed_lr(lr, d)(jnp.maximum(t, 1) - 1)  # the last update's count


def rate_of(
    found: _find.Found,
    declaration: declarations.Declaration | None,
    learning_rate: ArrayLike | None,
    eps: ArrayLike | None,
    *,
    eps_in_sqrt: bool | None,
    bias_correction: bool | None,
    decay: ArrayLike | None,
    steps: ArrayLike | None,
) -> Any:
    """The params-shaped rate of one found state."""
    fields = found.fields
    assert fields is not None
    if fields.divisor is None:  # Rprop: the step sizes are the rate
        return getattr(found.state, fields.step_sizes[0])
    lr = _learning_rate(found, declaration, learning_rate, steps)
    e = _read.value("eps", eps, found, declaration, steps_given=steps)
    where = _read.placement(eps_in_sqrt, found, declaration)
    rms, mean = _moments(
        found, declaration, bias_correction, decay, steps, fields.divisor
    )
    # optax's eps_root, under the (corrected) root: sqrt(s_hat + eps_root)
    e_root = _read.value("eps_root", None, found, declaration, required=False)
    if e_root is not None:
        if mean is not None:
            raise ValueError(
                f"{_factory(declaration)}: eps_root with a centered second "
                "moment is not read (no factory builds it)."
            )
        rms = jax.tree.map(lambda r: hypot(r, sqrt0(scalar(e_root, r.dtype))), rms)
    if where == "outside_uncorrected":
        # lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps)
        #   = lr m_hat / (sqrt(v_hat) + eps / sqrt(1-b2^t))
        beta = jnp.asarray(
            _read.value("decay", decay, found, declaration, steps_given=steps)
        )
        t = jnp.maximum(_read.steps(found, steps, "eps outside the raw root"), 1)
        e_t = e / jnp.sqrt(one_minus_power(beta, t, jnp.result_type(float)))
    else:
        e_t = e

    def rate(r: jax.Array, m: jax.Array | None = None) -> jax.Array:
        spread = r if m is None else _spread(r, m)
        denominator = root(spread, e_t, eps_in_sqrt=where == "inside")
        return (lr / denominator).astype(r.dtype)

    if fields.numerator is not None:
        # Adadelta: lr sqrt(E[dx^2]_{t-1} + eps) / sqrt(E[g^2]_t + eps), the
        # numerator's root under the divisor's eps, as the update computes it.
        if mean is not None or where == "outside_uncorrected":
            raise ValueError(
                f"{_factory(declaration)}: a numerator with a centered or "
                f"{where!r} divisor is not read (no factory builds it)."
            )
        inside = where == "inside"

        def scaled(n: jax.Array, r: jax.Array) -> jax.Array:
            top = root(n, e_t, eps_in_sqrt=inside)
            return (lr * top / root(r, e_t, eps_in_sqrt=inside)).astype(r.dtype)

        return jax.tree.map(scaled, getattr(found.state, fields.numerator), rms)
    if mean is None:
        return jax.tree.map(rate, rms)
    return jax.tree.map(rate, rms, mean)


def _factory(declaration: declarations.Declaration | None) -> str:
    return "this state" if declaration is None else declaration.factory


def effective_learning_rates(
    opt_state: optax.OptState,
    learning_rate: ArrayLike | None = None,
    eps: ArrayLike | None = None,
    *,
    optimizer: Any = None,
    eps_in_sqrt: bool | None = None,
    bias_correction: bool | None = None,
    decay: ArrayLike | None = None,
    steps: ArrayLike | None = None,
) -> dict[str, Any]:
    r"""The per-parameter effective learning rate of every state found.

    .. math::
        \frac{\eta}{\sqrt{s+\epsilon}}\ \text{(eps inside)},\qquad
        \frac{\eta}{\sqrt{\hat s}+\epsilon}\ \text{(outside)},\qquad
        \frac{\eta}{\sqrt{\hat s}+\epsilon/\sqrt{1-\beta^t}}\
        \text{(Keras's Adam)},\qquad
        \frac{\eta\sqrt{x_{t-1}+\epsilon}}{\sqrt{s+\epsilon}}\
        \text{(Adadelta)},\qquad
        \Delta\ \text{(Rprop)},

    with :math:`s` the second moment the update divides by (Adagrad's sum
    :math:`G`, AMSGrad's running maximum, bias-corrected once whether the
    state keeps it corrected or not; :math:`s - m^2` when centered;
    :math:`\hat s + \epsilon_r` with a declared ``eps_root``), :math:`x_{t-1}`
    the mean square of Adadelta's updates before the last one,
    as it is after the last update: the last update was exactly
    :math:`u_t = -\text{rate} \odot g_t` for RMSprop and Adagrad (with
    momentum: on the first step), :math:`u_t = -\text{rate} \odot \hat m_t`
    for Adam, :math:`u_t = -\mathrm{sign}(g_t)\,\Delta_t` for Rprop except
    where a sign flipped. An optimizer without a preconditioner
    (:func:`~rmsprop_jax.sgd`, :func:`~rmsprop_jax.sign_sgd`, the SGD
    presets: a state keeping nothing but step counts and momentum) has the
    rate :math:`\eta` for every parameter, reported as a scalar under the
    key ``""`` (with momentum: the rate of the last update, not the long-run
    :math:`\eta/(1-\alpha)`).

    How the state is read -- which argument is the learning rate, where
    :math:`\epsilon` sits, the decay, bias correction, centering -- comes
    from ``optimizer``'s declaration (:mod:`rmsprop_jax.declarations`), never
    from a hyperparameter's name. Values come from the arguments here, then
    from an enclosing ``optax.inject_hyperparams`` under the declared names,
    then from the declaration's call (a schedule: its value at the last
    update).

    Args:
      opt_state: any optimizer state, possibly nested in optax wrappers.
      learning_rate: :math:`\eta` (a number or array), overriding the
        declared one.
      eps: :math:`\epsilon`, overriding the declared one.
      optimizer: what declares how the state is read: the transformation
        that made ``opt_state`` (or the library's transformation inside an
        optax wrapper), the factory or a ``functools.partial`` of it (for a
        state of ``optax.inject_hyperparams(factory)``: values are read
        from that state under the declared names, never from the factory's
        defaults; flags it keeps out of its state, such as ``centered`` or
        ``eps_in_sqrt``, are the factory's defaults unless the partial fixes
        them), or a :class:`~rmsprop_jax.declarations.Declaration`. Needed
        except for Rprop states, or where every value below is given.
      eps_in_sqrt: where :math:`\epsilon` goes, overriding the declaration.
      bias_correction: divide :math:`s` by :math:`1-\beta^t`, overriding
        the declaration (default without one: as the state keeps it).
      decay: :math:`\beta`, needed for a bias correction the state does not
        keep, overriding the declared one.
      steps: :math:`t`, the number of updates so far. Default: the state's
        own count, else that of an enclosing ``inject_hyperparams``. Under
        ``skip_nonfinite`` or ``MultiSteps`` pass the optimizer's own number
        of updates.

    Returns:
      A dict from the key path of each state (see :func:`find_states`) to a
      tree shaped like the parameters; ``{"": scalar}`` for an optimizer
      without a preconditioner.

    Raises:
      MissingHyperparameterError: a value is needed and neither given nor
        declared (a ``ValueError`` that says what to pass).
      TypeError: ``optimizer`` declares nothing.
      ValueError: ``opt_state`` holds no state of this library's optimizers.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import rmsprop, sgd
      >>> from rmsprop_jax.diagnostics import effective_learning_rates
      >>> tx = rmsprop(learning_rate=0.01, decay=0.9, eps=1e-8)
      >>> w = jnp.zeros(2)
      >>> _, state = tx.update(jnp.array([0.1, 10.0]), tx.init(w), w)
      >>> lrs = effective_learning_rates(state, optimizer=tx)
      >>> print(lrs["0"].round(4))  # 0.01 / sqrt(0.1 * g**2)
      [0.3162 0.0032]
      >>> tx = sgd(0.01, momentum=0.9)
      >>> print(effective_learning_rates(tx.init(w), optimizer=tx)[""])
      0.01
    """
    for given, name in ((learning_rate, "learning_rate"), (eps, "eps")):
        if given is not None:
            _checks.check_range(name, given, 0.0)
    declaration = resolve_declaration(optimizer)
    out = {}
    for found in _find.walk(opt_state):
        out[_find.key(found.path)] = rate_of(
            found,
            declaration,
            learning_rate,
            eps,
            eps_in_sqrt=eps_in_sqrt,
            bias_correction=bias_correction,
            decay=decay,
            steps=steps,
        )
    if not out:
        plain = _find.without_preconditioner(opt_state)
        if plain is not None:
            lr = _learning_rate(plain, declaration, learning_rate, steps)
            out[""] = jnp.asarray(lr)
    if not out:
        names = ", ".join(dict.fromkeys(_tree.state_type_names(opt_state))) or "none"
        raise ValueError(
            "`opt_state` holds no state of this library's optimizers (its "
            f"states: {names}). The diagnostics read the states of "
            "rmsprop_jax's optimizers, primitives and presets; another "
            "library's optimizer keeps its moments under its own names."
        )
    return out


def gradient_rms(
    opt_state: optax.OptState,
    *,
    optimizer: Any = None,
    bias_correction: bool | None = None,
    decay: ArrayLike | None = None,
    steps: ArrayLike | None = None,
) -> dict[str, Any]:
    r"""The per-parameter root mean square of the gradients seen so far.

    :math:`\sqrt{\hat s}` for EMA states (bias-corrected where the optimizer
    corrects), :math:`\sqrt{G/t}` for Adagrad (exact with :math:`G_0 = 0`;
    Adagrad's state keeps no count, so :math:`t` is ``steps`` or an enclosing
    ``inject_hyperparams``' count). Rprop, and the optimizers without a
    preconditioner, keep no gradient magnitudes and are left out.

    Args:
      opt_state: any optimizer state, possibly nested in optax wrappers.
      optimizer: as in :func:`effective_learning_rates`; without it the
        moments are read as the state keeps them.
      bias_correction: divide :math:`s` by :math:`1-\beta^t`, overriding the
        declaration.
      decay: :math:`\beta`, needed for a bias correction the state does not
        keep, overriding the declared one.
      steps: as in :func:`effective_learning_rates`.

    Returns:
      A dict from the key path of each EMA or Adagrad state to a tree shaped
      like the parameters.

    Raises:
      MissingHyperparameterError: ``decay`` or ``steps`` needed and not found.

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
    declaration = resolve_declaration(optimizer)
    out = {}
    for found in _find.walk(opt_state):
        fields = found.fields
        assert fields is not None
        if fields.divisor is None:
            continue
        moment, _ = _moments(
            found, declaration, bias_correction, decay, steps, fields.second_moments[0]
        )
        if fields.running_sum:  # Adagrad: the mean square is G / t
            t = jnp.maximum(_read.steps(found, steps, "Adagrad's gradient RMS"), 1)
            moment = jax.tree.map(
                lambda r, t=t: r / jnp.sqrt(t.astype(r.dtype)), moment
            )
        out[_find.key(found.path)] = moment
    return out
