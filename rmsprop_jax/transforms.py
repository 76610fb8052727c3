r"""The primitives: element-wise gradient transformations with NamedTuple states.

Every primitive returns updates in the *gradient's direction*, like optax's own
``scale_by_*`` transformations; the optimizers in :mod:`rmsprop_jax.optimizers`
append the sign flip and learning rate as their last link.

All arithmetic runs in at least float32 and updates are cast back to the
gradient's dtype; accumulators are float32 for float16/bfloat16 parameters
unless ``accumulator_dtype`` says otherwise (see ``_dtypes.py``).

Every numeric hyperparameter may be a Python number or a (traced) jax array:
nothing branches on a hyperparameter's value, so ``jax.vmap`` over ``decay`` or
``eps`` works. Concrete values are validated when the transformation is built;
traced values cannot be and are not.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes
from rmsprop_jax._rprop import RpropVariant as RpropVariant
from rmsprop_jax._rprop import ScaleByRpropState as ScaleByRpropState
from rmsprop_jax._rprop import scale_by_rprop as scale_by_rprop

__all__ = [
    "AccumulateSquaresState",
    "MomentumState",
    "PreconditionByRmsState",
    "RpropVariant",
    "ScaleByRmsState",
    "ScaleByRpropState",
    "accumulate_squares",
    "momentum",
    "precondition_by_rms",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_sign",
]


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms` (and the second moments of
    :func:`precondition_by_rms`)."""

    count: jax.Array | None  # int32 scalar: updates so far; bias correction only.
    nu: optax.Updates  # EMA of squared gradients, s.
    mu: optax.Updates | None  # EMA of gradients, m; None unless centered.


class AccumulateSquaresState(NamedTuple):
    """State of :func:`accumulate_squares`."""

    sum_of_squares: optax.Updates  # G, the running sum of squared gradients.


class MomentumState(NamedTuple):
    """State of :func:`momentum`."""

    # int32 scalar: updates so far; only with bias_correction or
    # undamped_first_step, the options that read it.
    count: jax.Array | None
    trace: optax.Updates  # v, the momentum buffer.


class PreconditionByRmsState(NamedTuple):
    """State of :func:`precondition_by_rms`."""

    rms: ScaleByRmsState  # second moments of the raw gradients.
    inner: optax.OptState  # state of the preconditioned transformation.


def _root(variance: jax.Array, eps: ArrayLike, eps_in_sqrt: bool) -> jax.Array:
    return jnp.sqrt(variance + eps) if eps_in_sqrt else jnp.sqrt(variance) + eps


def _new_count(needed: bool) -> jax.Array | None:
    """A step count of 0, or None where nothing reads it.

    A state keeps a count only where the update reads it (as optax's states
    do): every extra state leaf is one more kernel and output buffer of a
    jitted step, which shows on small models.
    """
    return jnp.zeros([], jnp.int32) if needed else None


def _increment(count: jax.Array | None) -> jax.Array | None:
    return None if count is None else optax.safe_increment(count)


def _bias_correction(
    decay: ArrayLike, count: jax.Array, enabled: bool
) -> jax.Array | None:
    """``1 - decay**count`` if enabled, else None (no correction)."""
    return 1 - decay**count if enabled else None


def _times(factor: Any, x: jax.Array) -> jax.Array:
    """``factor * x``; no operation at all when ``factor`` is the literal 1.

    ``x * 1 == x`` for every float (NaN and infinities included), so skipping
    it changes no result, only the time it takes to trace. Anything but a
    Python int or float (a traced or NumPy factor, whose dtype could promote
    ``x``) is always multiplied.
    """
    if type(factor) in (int, float) and factor == 1:
        return x
    return factor * x


def _unbias(x: jax.Array, correction: jax.Array | None) -> jax.Array:
    """``x / correction``; no operation at all without a correction."""
    return x if correction is None else x / correction


def _check_decay(name: str, decay: ArrayLike, bias_correction: bool) -> None:
    if bias_correction:
        why = " with bias correction (1 - decay**t must not vanish)"
        _checks.check_range(name, decay, 0.0, 1.0, hi_open=True, why=why)
    else:
        _checks.check_range(name, decay, 0.0, 1.0)


def _rms_init(
    params: optax.Params,
    initial_scale: ArrayLike,
    centered: bool,
    counted: bool,
    dtype: Any,
) -> ScaleByRmsState:
    return ScaleByRmsState(
        count=_new_count(counted),
        nu=_dtypes.full_like_accumulator(params, initial_scale, dtype),
        mu=_dtypes.zeros_like_accumulator(params, dtype) if centered else None,
    )


def _rms_accumulate(
    grads: optax.Updates, state: ScaleByRmsState, decay: ArrayLike
) -> ScaleByRmsState:
    """One EMA step of the second (and, if kept, first) moments."""

    def ema(g: jax.Array, old: jax.Array, power: int) -> jax.Array:
        g = _dtypes.cast(g, _dtypes.compute_dtype(g, old))
        return _dtypes.cast(decay * old + (1 - decay) * g**power, old.dtype)

    nu = jax.tree.map(lambda g, n: ema(g, n, 2), grads, state.nu)
    mu = None
    if state.mu is not None:
        mu = jax.tree.map(lambda g, m: ema(g, m, 1), grads, state.mu)
    return ScaleByRmsState(_increment(state.count), nu, mu)


def _rms_divide(
    numerators: optax.Updates,
    state: ScaleByRmsState,
    decay: ArrayLike,
    eps: ArrayLike,
    eps_in_sqrt: bool,
    bias_correction: bool,
    numerator_decay: ArrayLike | None = None,
) -> optax.Updates:
    """``numerators_hat / root(nu_hat - mu_hat**2 + eps)``, leaf by leaf;
    ``numerators_hat`` is ``numerators / (1 - numerator_decay**t)`` if a
    ``numerator_decay`` is given."""
    correction = _bias_correction(decay, state.count, bias_correction)
    numerator_correction = None
    if numerator_decay is not None:
        numerator_correction = _bias_correction(numerator_decay, state.count, True)

    def divide(x: jax.Array, nu: jax.Array, mu: jax.Array | None = None) -> jax.Array:
        dtype = _dtypes.compute_dtype(x, nu)
        variance = _unbias(_dtypes.cast(nu, dtype), correction)
        if mu is not None:
            mean = _unbias(_dtypes.cast(mu, dtype), correction)
            variance = jnp.maximum(variance - mean**2, 0)
        numerator = _unbias(_dtypes.cast(x, dtype), numerator_correction)
        return _dtypes.cast(numerator / _root(variance, eps, eps_in_sqrt), x.dtype)

    if state.mu is None:
        return jax.tree.map(divide, numerators, state.nu)
    return jax.tree.map(divide, numerators, state.nu, state.mu)


def scale_by_rms(
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    *,
    eps_in_sqrt: bool = True,
    initial_scale: ArrayLike = 0.0,
    centered: bool = False,
    bias_correction: bool = False,
    accumulator_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""Divides gradients by the root of an EMA of their squares (RMSprop).

    .. math::
        s_t = \beta\, s_{t-1} + (1-\beta)\, g_t^2, \qquad
        u_t = \frac{g_t}{\sqrt{s_t + \epsilon}}
        \quad\text{or}\quad \frac{g_t}{\sqrt{s_t} + \epsilon}
        \ (\texttt{eps\_in\_sqrt=False}),

    with :math:`s_0` = ``initial_scale``. ``centered=True`` also keeps
    :math:`m_t = \beta m_{t-1} + (1-\beta) g_t` and uses the variance
    :math:`\max(s_t - m_t^2, 0)` in place of :math:`s_t`.
    ``bias_correction=True`` divides :math:`s_t` and :math:`m_t` by
    :math:`1-\beta^t`, as Adam does.

    With :math:`s_0 = 0` the first update is
    :math:`g_1/\sqrt{(1-\beta) g_1^2} = \mathrm{sign}(g_1)/\sqrt{1-\beta}`.

    Args:
      decay: :math:`\beta`, the EMA rate, in [0, 1] (in [0, 1) with
        ``bias_correction``). Default 0.9.
      eps: :math:`\epsilon` >= 0, added inside the root if ``eps_in_sqrt`` else
        after it. Default 1e-8.
      eps_in_sqrt: where ``eps`` goes. Default True (as Hinton's course and
        Keras); PyTorch puts it outside (False).
      initial_scale: :math:`s_0` >= 0. Default 0.0 (TF1 uses 1.0).
      centered: divide by the root of the variance instead of the second moment.
      bias_correction: divide the moments by :math:`1-\beta^t`.
      accumulator_dtype: storage dtype of :math:`s` and :math:`m`; default
        float32 for float16/bfloat16 parameters, else the parameters' dtype.

    Returns:
      An ``optax.GradientTransformation`` with state :class:`ScaleByRmsState`.

    Raises:
      ValueError: a concrete ``decay``, ``eps`` or ``initial_scale`` out of range.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import scale_by_rms
      >>> tx = scale_by_rms(decay=0.9)
      >>> g = jnp.array([0.5, -2.0])
      >>> updates, state = tx.update(g, tx.init(g))
      >>> print(updates.round(3))  # sign(g) / sqrt(1 - decay)
      [ 3.162 -3.162]

    References:
      Hinton, Srivastava, Swersky, *Neural Networks for Machine Learning*,
      lecture 6e, 2012.
    """
    _check_decay("decay", decay, bias_correction)
    _checks.check_range("eps", eps, 0.0)
    _checks.check_range("initial_scale", initial_scale, 0.0)

    def init_fn(params: optax.Params) -> ScaleByRmsState:
        return _rms_init(
            params, initial_scale, centered, bias_correction, accumulator_dtype
        )

    def update_fn(updates, state, params=None):
        del params
        state = _rms_accumulate(updates, state, decay)
        args = (decay, eps, eps_in_sqrt, bias_correction)
        return _rms_divide(updates, state, *args), state

    return optax.GradientTransformation(init_fn, update_fn)


def precondition_by_rms(
    inner: optax.GradientTransformation,
    decay: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    *,
    eps_in_sqrt: bool = False,
    bias_correction: bool = True,
    inner_decay: ArrayLike | None = None,
    accumulator_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Divides the output of ``inner`` by the RMS of the *raw* gradients.

    .. math::
        s_t = \beta\, s_{t-1} + (1-\beta)\, g_t^2, \qquad
        u_t = \frac{\mathrm{inner}(g)_t}{\sqrt{\hat s_t} + \epsilon},
        \qquad \hat s_t = s_t / (1 - \beta^t).

    With ``inner_decay`` :math:`\beta_1` the numerator is bias-corrected too,
    :math:`\mathrm{inner}(g)_t / (1-\beta_1^t)`, with this transformation's
    step count (so it needs ``bias_correction=True``): Adam's first moment is
    ``momentum(b1, dampening=b1)`` with ``inner_decay=b1``, the same values as
    ``momentum(b1, dampening=b1, bias_correction=True)`` for float32/float64
    parameters but one step count in the state instead of two (each count is
    one more kernel of a jitted step). For float16/bfloat16 parameters the
    correction is applied in float32 after ``inner`` has rounded its output to
    the parameters' dtype, so values can differ from the two-count form in the
    last bit.

    This is how Adam combines its two moments: ``inner`` (a momentum) and the
    second moment both see the raw gradients. The *sequential* chain
    ``chain(scale_by_rms(...), momentum(...))`` instead averages already
    preconditioned gradients; that is LaProp, a different optimizer (see
    :func:`rmsprop_jax.laprop`). ``precondition_by_rms(identity)`` equals
    :func:`scale_by_rms`.

    Args:
      inner: the transformation whose output is preconditioned; it receives the
        raw gradients, params and any extra arguments.
      decay: :math:`\beta` of the second moment (Adam's ``b2``). Default 0.999.
      eps: :math:`\epsilon` >= 0. Default 1e-8.
      eps_in_sqrt: where ``eps`` goes; default False (outside, as Adam).
      bias_correction: divide :math:`s_t` by :math:`1-\beta^t`; default True.
      inner_decay: :math:`\beta_1` in [0, 1): also divide the output of
        ``inner`` by :math:`1-\beta_1^t`; requires ``bias_correction``.
        Default None (no correction).
      accumulator_dtype: storage dtype of :math:`s`, as in :func:`scale_by_rms`.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state
      :class:`PreconditionByRmsState`.

    Raises:
      ValueError: a concrete ``decay``, ``eps`` or ``inner_decay`` out of
        range, or ``inner_decay`` without ``bias_correction``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import momentum, precondition_by_rms
      >>> tx = precondition_by_rms(momentum(0.9, dampening=0.9), inner_decay=0.9)
      >>> g = jnp.array([0.5, -2.0])
      >>> updates, state = tx.update(g, tx.init(g))
      >>> print(updates.round(3))  # Adam's first step: sign(g)
      [ 1. -1.]

    References:
      Kingma, Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015.
    """
    _check_decay("decay", decay, bias_correction)
    _checks.check_range("eps", eps, 0.0)
    if inner_decay is not None:
        # One count serves both corrections, so a state keeps a count exactly
        # when it bias-corrects its second moment (diagnostics rely on that).
        if not bias_correction:
            raise ValueError(
                "`inner_decay` requires `bias_correction=True`: it bias-corrects "
                "the inner output with the second moment's step count."
            )
        _check_decay("inner_decay", inner_decay, bias_correction=True)
    inner = optax.with_extra_args_support(inner)

    def init_fn(params: optax.Params) -> PreconditionByRmsState:
        rms = _rms_init(params, 0.0, False, bias_correction, accumulator_dtype)
        return PreconditionByRmsState(rms, inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        rms = _rms_accumulate(updates, state.rms, decay)
        numerators, inner_state = inner.update(
            updates, state.inner, params, **extra_args
        )
        args = (decay, eps, eps_in_sqrt, bias_correction, inner_decay)
        updates = _rms_divide(numerators, rms, *args)
        return updates, PreconditionByRmsState(rms, inner_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def accumulate_squares(
    initial_accumulator_value: ArrayLike = 0.0,
    eps: ArrayLike = 1e-10,
    *,
    eps_in_sqrt: bool = True,
    accumulator_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""Divides gradients by the root of the running sum of their squares (Adagrad).

    .. math::
        G_t = G_{t-1} + g_t^2, \qquad
        u_t = \frac{g_t}{\sqrt{G_t + \epsilon}}
        \quad\text{or}\quad \frac{g_t}{\sqrt{G_t} + \epsilon}
        \ (\texttt{eps\_in\_sqrt=False}),

    with :math:`G_0` = ``initial_accumulator_value``. Because :math:`G` only
    grows, the effective step size shrinks monotonically.

    Args:
      initial_accumulator_value: :math:`G_0` >= 0. Default 0.0 (Keras: 0.1).
      eps: :math:`\epsilon` >= 0. Default 1e-10.
      eps_in_sqrt: where ``eps`` goes; default True (PyTorch: False).
      accumulator_dtype: storage dtype of :math:`G`; default float32 for
        float16/bfloat16 parameters, else the parameters' dtype.

    Returns:
      An ``optax.GradientTransformation`` with state
      :class:`AccumulateSquaresState`.

    Raises:
      ValueError: a concrete ``initial_accumulator_value`` or ``eps`` < 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import accumulate_squares
      >>> tx = accumulate_squares()
      >>> g = jnp.array([3.0, -4.0])
      >>> state = tx.init(g)
      >>> _, state = tx.update(g, state)
      >>> updates, state = tx.update(g, state)
      >>> print(updates.round(4))  # g / sqrt(2 g^2)
      [ 0.7071 -0.7071]

    References:
      Duchi, Hazan, Singer, *Adaptive Subgradient Methods for Online Learning
      and Stochastic Optimization*, JMLR 12, 2011.
    """
    _checks.check_range("initial_accumulator_value", initial_accumulator_value, 0.0)
    _checks.check_range("eps", eps, 0.0)

    def init_fn(params: optax.Params) -> AccumulateSquaresState:
        sums = _dtypes.full_like_accumulator(
            params, initial_accumulator_value, accumulator_dtype
        )
        return AccumulateSquaresState(sums)

    def accumulate(g: jax.Array, total: jax.Array) -> jax.Array:
        g = _dtypes.cast(g, _dtypes.compute_dtype(g, total))
        return _dtypes.cast(total + g * g, total.dtype)

    def divide(g: jax.Array, total: jax.Array) -> jax.Array:
        dtype = _dtypes.compute_dtype(g, total)
        root = _root(_dtypes.cast(total, dtype), eps, eps_in_sqrt)
        return _dtypes.cast(_dtypes.cast(g, dtype) / root, g.dtype)

    def update_fn(updates, state, params=None):
        del params
        sums = jax.tree.map(accumulate, updates, state.sum_of_squares)
        updates = jax.tree.map(divide, updates, sums)
        return updates, AccumulateSquaresState(sums)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_sign() -> optax.GradientTransformation:
    r"""Replaces every gradient by its sign.

    .. math::
        u_t = \mathrm{sign}(g_t) \in \{-1, 0, 1\}

    This is RMSprop in the limit :math:`\beta = 0,\ \epsilon = 0` (up to the
    factor :math:`1/\sqrt{1-\beta} = 1`), and the direction Rprop steps in.
    Stateless.

    Returns:
      An ``optax.GradientTransformation`` with state ``optax.EmptyState``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import scale_by_sign
      >>> tx = scale_by_sign()
      >>> g = jnp.array([0.003, -20.0, 0.0])
      >>> updates, _ = tx.update(g, tx.init(g))
      >>> print(updates)
      [ 1. -1.  0.]

    References:
      Bernstein, Wang, Azizzadenesheli, Anandkumar, *signSGD: Compressed
      Optimisation for Non-Convex Problems*, ICML 2018.
    """

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(jnp.sign, updates), state

    return optax.GradientTransformation(optax.init_empty_state, update_fn)


def momentum(
    decay: ArrayLike = 0.9,
    *,
    nesterov: bool = False,
    dampening: ArrayLike = 0.0,
    bias_correction: bool = False,
    undamped_first_step: bool = False,
    accumulator_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""Accumulates a heavy-ball momentum trace.

    .. math::
        v_t = \alpha\, v_{t-1} + (1 - d)\, g_t, \qquad
        u_t = v_t \quad\text{or}\quad g_t + \alpha\, v_t\ (\texttt{nesterov}),

    with :math:`v_0 = 0`, :math:`\alpha` = ``decay`` and :math:`d` =
    ``dampening`` (default 0: the classic heavy ball :math:`v \leftarrow
    \alpha v + g`). ``dampening=decay`` with ``bias_correction=True`` gives
    Adam's first moment :math:`v_t / (1-\alpha^t)`, an unbiased EMA of the
    gradients. ``undamped_first_step=True`` sets :math:`v_1 = g_1`, PyTorch
    SGD's rule for its first step.

    Args:
      decay: :math:`\alpha` in [0, 1] (in [0, 1) with ``bias_correction``).
        Default 0.9. ``decay=0`` makes the transformation the identity.
      nesterov: output :math:`g_t + \alpha v_t` (Sutskever et al. 2013, as
        PyTorch) instead of :math:`v_t`.
      dampening: :math:`d` in [0, 1], the share of the gradient dropped.
      bias_correction: divide the output by :math:`1-\alpha^t`.
      undamped_first_step: no dampening on the first step (PyTorch SGD).
      accumulator_dtype: storage dtype of :math:`v`; default float32 for
        float16/bfloat16 parameters, else the parameters' dtype.

    Returns:
      An ``optax.GradientTransformation`` with state :class:`MomentumState`.

    Raises:
      ValueError: a concrete ``decay`` or ``dampening`` out of range.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import momentum
      >>> tx = momentum(0.9)
      >>> g = jnp.array([1.0, -2.0])
      >>> state = tx.init(g)
      >>> _, state = tx.update(g, state)
      >>> updates, state = tx.update(g, state)
      >>> print(updates.round(3))  # g + 0.9 g
      [ 1.9 -3.8]

    References:
      Polyak, *Some methods of speeding up the convergence of iteration
      methods*, USSR Comput. Math. & Math. Phys. 4(5), 1964.
      Sutskever, Martens, Dahl, Hinton, *On the importance of initialization
      and momentum in deep learning*, ICML 2013.
    """
    _check_decay("decay", decay, bias_correction)
    _checks.check_range("dampening", dampening, 0.0, 1.0)

    def init_fn(params: optax.Params) -> MomentumState:
        trace = _dtypes.zeros_like_accumulator(params, accumulator_dtype)
        counted = bias_correction or undamped_first_step
        return MomentumState(_new_count(counted), trace)

    def update_fn(updates, state, params=None):
        del params
        count = _increment(state.count)
        damp = (
            jnp.where(count == 1, 0.0, dampening) if undamped_first_step else dampening
        )
        correction = _bias_correction(decay, count, bias_correction)

        def accumulate(g: jax.Array, v: jax.Array) -> jax.Array:
            g = _dtypes.cast(g, _dtypes.compute_dtype(g, v))
            return _dtypes.cast(decay * v + _times(1 - damp, g), v.dtype)

        def output(g: jax.Array, v: jax.Array) -> jax.Array:
            dtype = _dtypes.compute_dtype(g, v)
            v = _dtypes.cast(v, dtype)
            u = _dtypes.cast(g, dtype) + decay * v if nesterov else v
            return _dtypes.cast(_unbias(u, correction), g.dtype)

        trace = jax.tree.map(accumulate, updates, state.trace)
        updates = jax.tree.map(output, updates, trace)
        return updates, MomentumState(count, trace)

    return optax.GradientTransformation(init_fn, update_fn)
