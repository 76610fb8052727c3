r"""The optimizers: each an ``optax.chain`` of primitives, ending in the step.

Every optimizer returns updates in the *descent* direction, to be applied with
``optax.apply_updates``. ``learning_rate`` is a float, a (traced) array or an
optax schedule, except for :func:`rprop`, where it is the initial step size.
The formulas live on the primitives in :mod:`rmsprop_jax.transforms`.
"""

from __future__ import annotations

import warnings
from typing import Any

import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _inputs, _state_dtype, _storage_args, transforms
from rmsprop_jax._learning_rate import scale_by_learning_rate
from rmsprop_jax._momentum_links import (
    first_moment,
    nesterov_moment,
    optional_momentum,
)
from rmsprop_jax._weight_decay import add_decayed_weights
from rmsprop_jax.transforms._validation import check_decay
from rmsprop_jax.transforms.max_rms import precondition_by_max_rms
from rmsprop_jax.transforms.rms import RMS_DECLARATION

__all__ = [
    "adadelta",
    "adagrad",
    "adam",
    "amsgrad",
    "laprop",
    "rmsprop",
    "rprop",
    "sgd",
    "sign_sgd",
]


def _check_betas(b1: ArrayLike, b2: ArrayLike) -> None:
    """Adam's and LaProp's betas, named as their callers know them (the
    primitives would call both ``decay``)."""
    check_decay("b1", b1, bias_correction=True)
    check_decay("b2", b2, bias_correction=True)


@_inputs.optimizer(learning_rate="learning_rate", **RMS_DECLARATION)
def rmsprop(
    learning_rate: optax.ScalarOrSchedule = 0.01,
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    *,
    centered: bool = False,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    eps_in_sqrt: bool = True,
    initial_scale: ArrayLike = 0.0,
    bias_correction: bool = False,
    state_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""RMSprop: ``chain(scale_by_rms, [momentum], scale_by_learning_rate)``.

    .. math::
        s_t = \beta s_{t-1} + (1-\beta) g_t^2, \qquad
        w_t = w_{t-1} - \eta\, g_t / \sqrt{s_t + \epsilon}

    (with ``momentum``, the preconditioned gradients feed a heavy-ball trace
    before the learning rate, as in PyTorch). See
    :func:`rmsprop_jax.scale_by_rms` for every flag.

    .. warning::
       The defaults follow Hinton's lecture (eps inside the root, :math:`s_0=0`).
       PyTorch puts eps outside the root and defaults to ``decay=0.99``;
       :mod:`rmsprop_jax.presets` reproduces each framework exactly.

    Args:
      learning_rate: :math:`\eta` >= 0, or a schedule. Default 0.01.
      decay: :math:`\beta` in [0, 1]. Default 0.9.
      eps: :math:`\epsilon` >= 0. Default 1e-8.
      centered: divide by the root of the gradient variance.
      momentum: heavy-ball decay in [0, 1], or None for no momentum.
      nesterov: Nesterov momentum (needs ``momentum``).
      eps_in_sqrt: eps inside (True) or outside the root.
      initial_scale: :math:`s_0` >= 0.
      bias_correction: divide the moments by :math:`1-\beta^t`.
      {{state_dtype_optimizer}}

    Returns:
      An ``optax.GradientTransformation``.

    Warns:
      UserWarning: ``centered`` and ``bias_correction`` together. The
        corrected mean and mean square of the first step are :math:`g_1` and
        :math:`g_1^2`, so the variance is 0 and the first update is
        :math:`\eta\, g_1/\sqrt{\epsilon}` (``g = [1, -2]`` at ``lr=0.01``,
        ``eps=1e-8`` gives ``[-100, 200]``): the formula, kept as it is.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from rmsprop_jax import rmsprop
      >>> loss = lambda w: 3 * w[0] ** 2 + 10 * w[1] ** 2
      >>> w = jnp.array([-15.0, 20.0])
      >>> tx = rmsprop(learning_rate=0.05, decay=0.9, eps=1e-8)
      >>> state = tx.init(w)
      >>> for _ in range(2):
      ...     updates, state = tx.update(jax.grad(loss)(w), state, w)
      ...     w = optax.apply_updates(w, updates)
      >>> print(w.round(2))  # the worked example
      [-14.73  19.73]

    References:
      Hinton, Srivastava, Swersky, *Neural Networks for Machine Learning*,
      lecture 6e, 2012.
    """
    _checks.check_learning_rate("learning_rate", learning_rate)
    if centered and bias_correction:
        warnings.warn(
            "rmsprop(centered=True, bias_correction=True): the bias-corrected "
            "variance of the first step is exactly 0, so the first update is "
            "learning_rate * g / sqrt(eps) (1e4 * learning_rate * g at "
            "eps=1e-8). Use one of the two, or a larger eps.",
            UserWarning,
            stacklevel=3,
        )
    return optax.chain(
        transforms.scale_by_rms(
            decay,
            eps,
            eps_in_sqrt=eps_in_sqrt,
            initial_scale=initial_scale,
            centered=centered,
            bias_correction=bias_correction,
            state_dtype=state_dtype,
        ),
        *optional_momentum(momentum, nesterov, state_dtype=state_dtype),
        scale_by_learning_rate(learning_rate),
    )


@_inputs.optimizer()
def rprop(
    learning_rate: ArrayLike = 0.01,
    eta_minus: ArrayLike = 0.5,
    eta_plus: ArrayLike = 1.2,
    min_step: ArrayLike = 1e-6,
    max_step: ArrayLike = 50.0,
    *,
    variant: transforms.RpropVariant = "irprop-",
    state_dtype: Any | None = None,
    min_step_size: ArrayLike | None = None,
    max_step_size: ArrayLike | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Rprop: ``chain(scale_by_rprop, scale(-1))``.

    ``learning_rate`` is the *initial* step size :math:`\Delta_0`; Rprop adapts
    each weight's step from there, so a schedule has no meaning here and is
    rejected. See :func:`rmsprop_jax.scale_by_rprop` for the rule and the four
    variants. ``variant="irprop+"`` needs ``update(..., value=loss)``.

    Args:
      learning_rate: :math:`\Delta_0` >= 0. Default 0.01.
      eta_minus: shrink factor in (0, 1). Default 0.5.
      eta_plus: growth factor > 1. Default 1.2.
      min_step: smallest step, > 0. Default 1e-6.
      max_step: largest step, >= ``min_step``. Default 50.
      variant: ``"rprop+"``, ``"rprop-"``, ``"irprop+"`` or ``"irprop-"``.
      {{state_dtype_optimizer}}
      min_step_size: optax's name of ``min_step``, accepted for it.
      max_step_size: optax's name of ``max_step``, accepted for it.

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Raises:
      TypeError: ``learning_rate`` is a schedule; a step bound passed under
        both of its names.
      ValueError: a concrete hyperparameter out of range, named as passed
        (``min_step_size`` where that spelling was used).

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from rmsprop_jax import rprop
      >>> loss = lambda w: 3 * w[0] ** 2 + 10 * w[1] ** 2
      >>> w = jnp.array([-15.0, 20.0])
      >>> tx = rprop(learning_rate=0.5, variant="irprop+")
      >>> state = tx.init(w)
      >>> for _ in range(60):
      ...     value, grad = jax.value_and_grad(loss)(w)
      ...     updates, state = tx.update(grad, state, w, value=value)
      ...     w = optax.apply_updates(w, updates)
      >>> print(bool(loss(w) < 1e-6))
      True

    References:
      Igel, Hüsken, *Improving the Rprop Learning Algorithm*, NC 2000.
    """
    _checks.check_not_schedule(
        "learning_rate", learning_rate, "Rprop's initial step size"
    )
    min_step = _checks.alias("min_step", min_step, 1e-6, "min_step_size", min_step_size)
    max_step = _checks.alias("max_step", max_step, 50.0, "max_step_size", max_step_size)
    # Checked here under the names the caller typed (the primitive would say
    # `initial_step`, `min_step`, `max_step`).
    _checks.check_range("learning_rate", learning_rate, 0.0)
    min_name = "min_step" if min_step_size is None else "min_step_size"
    max_name = "max_step" if max_step_size is None else "max_step_size"
    _checks.check_range(min_name, min_step, 0.0, lo_open=True)
    _checks.check_ordered(min_name, min_step, max_name, max_step)
    return optax.chain(
        transforms.scale_by_rprop(
            learning_rate,
            eta_minus,
            eta_plus,
            min_step,
            max_step,
            variant=variant,
            state_dtype=state_dtype,
        ),
        optax.scale(-1.0),
    )


@_inputs.optimizer(learning_rate="learning_rate", eps="eps", eps_placement="inside")
def adagrad(
    learning_rate: optax.ScalarOrSchedule = 0.01,
    initial_accumulator_value: ArrayLike = 0.0,
    eps: ArrayLike = 1e-10,
    *,
    state_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""Adagrad: ``chain(accumulate_squares, scale_by_learning_rate)``.

    .. math::
        G_t = G_{t-1} + g_t^2, \qquad w_t = w_{t-1} - \eta\, g_t/\sqrt{G_t + \epsilon}

    See :func:`rmsprop_jax.accumulate_squares`.

    Args:
      learning_rate: :math:`\eta` >= 0, or a schedule. Default 0.01.
      initial_accumulator_value: :math:`G_0` >= 0. Default 0.
      eps: :math:`\epsilon` >= 0, inside the root. Default 1e-10.
      {{state_dtype_optimizer}}

    Returns:
      An ``optax.GradientTransformation``.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> from rmsprop_jax import adagrad
      >>> tx = adagrad(learning_rate=0.1)
      >>> w = jnp.array([1.0, -1.0])
      >>> updates, _ = tx.update(jnp.array([4.0, -0.5]), tx.init(w))
      >>> print(updates.round(3))  # -lr * sign(g) on the first step
      [-0.1  0.1]

    References:
      Duchi, Hazan, Singer, JMLR 12, 2011.
    """
    _checks.check_learning_rate("learning_rate", learning_rate)
    return optax.chain(
        transforms.accumulate_squares(
            initial_accumulator_value, eps, state_dtype=state_dtype
        ),
        scale_by_learning_rate(learning_rate),
    )


@_inputs.optimizer(learning_rate="learning_rate")
def sgd(
    learning_rate: optax.ScalarOrSchedule,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any | None = None,
    *,
    state_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""Gradient descent, optionally with heavy-ball or Nesterov momentum.

    .. math::
        v_t = \alpha v_{t-1} + g_t, \qquad w_t = w_{t-1} - \eta\, v_t

    (:math:`v_t = g_t` without momentum). ``chain([momentum],
    scale_by_learning_rate)``.

    Args:
      learning_rate: :math:`\eta` >= 0, or a schedule.
      momentum: :math:`\alpha` in [0, 1], or None for plain gradient descent.
      nesterov: use Nesterov momentum (needs ``momentum``).
      accumulator_dtype: storage dtype of :math:`v` (optax's argument);
        default float32 for float16/bfloat16 parameters, else the
        parameters' dtype (optax: the parameters' dtype). Unused without
        ``momentum``. With ``state_dtype``, only the same floating dtype is
        accepted.
      {{state_dtype_optimizer}}

    Returns:
      An ``optax.GradientTransformation``.

    Raises:
      ValueError: ``state_dtype`` without ``momentum`` (nothing to store);
        ``accumulator_dtype`` not None or a floating dtype, or given with a
        different ``state_dtype``.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from rmsprop_jax import sgd
      >>> loss = lambda w: 3 * w[0] ** 2 + 10 * w[1] ** 2
      >>> w = jnp.array([-15.0, 20.0])
      >>> tx = sgd(learning_rate=0.001)
      >>> updates, _ = tx.update(jax.grad(loss)(w), tx.init(w))
      >>> print(optax.apply_updates(w, updates))  # the worked example
      [-14.91  19.6 ]
    """
    _checks.check_learning_rate("learning_rate", learning_rate)
    if momentum is None:
        _state_dtype.check_has_accumulator("sgd", state_dtype, "sgd(momentum=None)")
    _storage_args.check(
        "sgd", "accumulator_dtype", accumulator_dtype, state_dtype, "the momentum"
    )
    return optax.chain(
        *optional_momentum(momentum, nesterov, accumulator_dtype, state_dtype),
        scale_by_learning_rate(learning_rate),
    )


@_inputs.optimizer(learning_rate="learning_rate")
def sign_sgd(learning_rate: optax.ScalarOrSchedule) -> optax.GradientTransformation:
    r"""Sign descent: ``chain(scale_by_sign, scale_by_learning_rate)``.

    .. math:: w_t = w_{t-1} - \eta\, \mathrm{sign}(g_t)

    Args:
      learning_rate: :math:`\eta` >= 0, or a schedule.

    Returns:
      An ``optax.GradientTransformation``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import sign_sgd
      >>> tx = sign_sgd(0.1)
      >>> updates, _ = tx.update(jnp.array([3.0, -1e-6]), tx.init(jnp.zeros(2)))
      >>> print(updates)
      [-0.1  0.1]

    References:
      Bernstein et al., *signSGD*, ICML 2018.
    """
    _checks.check_learning_rate("learning_rate", learning_rate)
    return optax.chain(
        transforms.scale_by_sign(), scale_by_learning_rate(learning_rate)
    )


# How Adam's and LaProp's states are read: eps outside the corrected root.
_ADAM_LIKE = dict(
    learning_rate="learning_rate",
    eps="eps",
    eps_placement="outside",
    decay="b2",
    bias_correction=True,
)


@_inputs.optimizer(**_ADAM_LIKE, eps_root="eps_root")
def adam(
    learning_rate: optax.ScalarOrSchedule = 1e-3,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    state_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Adam = RMSprop's second moment preconditioning a bias-corrected momentum.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        s_t = \beta_2 s_{t-1} + (1-\beta_2) g_t^2, \quad
        w_t = w_{t-1} - \eta\,
        \frac{m_t/(1-\beta_1^t)}{\sqrt{s_t/(1-\beta_2^t)} + \epsilon}

    Built as ``chain(precondition_by_rms(momentum(b1, dampening=b1), b2, eps,
    inner_decay=b1), scale_by_learning_rate)``: both moments see the *raw*
    gradients, and one step count serves both bias corrections. Its
    trajectory equals ``optax.adam``'s; the first update is
    :math:`-\eta\, g_1/(|g_1| + \epsilon)` to within 2 ulp for every
    :math:`\beta` (see :func:`~rmsprop_jax.precondition_by_rms`). Compare
    :func:`laprop`, which chains the same parts sequentially.

    Args:
      learning_rate: :math:`\eta` >= 0, or a schedule. Default 1e-3.
      b1: :math:`\beta_1` in [0, 1). Default 0.9.
      b2: :math:`\beta_2` in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, outside the root. Default 1e-8.
      eps_root: :math:`\epsilon_r` >= 0 under the root,
        :math:`\sqrt{\hat s_t + \epsilon_r} + \epsilon`. Default 0.
      mu_dtype: storage dtype of the first moment (optax's argument):
        {{mu_dtype_choices}}
      nesterov: NAdam (Dozat 2016) as optax computes it: the numerator is
        :math:`\beta_1 m_t/(1-\beta_1^{t+1}) + (1-\beta_1) g_t/(1-\beta_1^t)`.
        Default False.
      {{state_dtype_optimizer}}

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Raises:
      {{adam_raises}}

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import adam
      >>> tx = adam(learning_rate=0.1)
      >>> updates, _ = tx.update(jnp.array([4.0, -0.5]), tx.init(jnp.zeros(2)))
      >>> print(updates.round(3))  # -lr * sign(g) on the first step
      [-0.1  0.1]

    References:
      Kingma, Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015.
    """
    _checks.check_learning_rate("learning_rate", learning_rate)
    _check_betas(b1, b2)
    _storage_args.check("adam", "mu_dtype", mu_dtype, state_dtype, "the first moment")
    if not isinstance(nesterov, bool):
        raise TypeError(f"`nesterov` must be True or False, got {nesterov!r}.")
    if nesterov:  # NAdam's numerator corrects itself
        numerator, inner_decay = nesterov_moment(b1, mu_dtype, state_dtype), None
    else:  # Adam's moment, corrected with the second moment's count
        numerator, inner_decay = first_moment(b1, mu_dtype, state_dtype), b1
    core = transforms.precondition_by_rms(
        numerator,
        b2,
        eps,
        eps_in_sqrt=False,
        inner_decay=inner_decay,
        eps_root=eps_root,
        state_dtype=state_dtype,
    )
    return optax.chain(core, scale_by_learning_rate(learning_rate))


@_inputs.optimizer(**_ADAM_LIKE)
def laprop(
    learning_rate: optax.ScalarOrSchedule = 4e-4,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-15,
    *,
    state_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""LaProp: momentum over RMS-preconditioned gradients (the sequential chain).

    .. math::
        s_t = \beta_2 s_{t-1} + (1-\beta_2) g_t^2, \quad
        m_t = \beta_1 m_{t-1}
        + (1-\beta_1)\frac{g_t}{\sqrt{s_t/(1-\beta_2^t)} + \epsilon},
        \quad w_t = w_{t-1} - \eta\, \frac{m_t}{1-\beta_1^t}

    ``chain(scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True),
    momentum(b1, dampening=b1, bias_correction=True), scale_by_learning_rate)``.
    Unlike :func:`adam`, the momentum averages *normalised* gradients, which
    decouples the momentum from the adaptivity.

    Args:
      learning_rate: :math:`\eta` >= 0, or a schedule. Default 4e-4.
      b1: :math:`\beta_1` in [0, 1). Default 0.9.
      b2: :math:`\beta_2` in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, outside the root. Default 1e-15.
      {{state_dtype_optimizer}}

    Returns:
      An ``optax.GradientTransformation``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import laprop
      >>> tx = laprop(learning_rate=0.1)
      >>> updates, _ = tx.update(jnp.array([4.0, -0.5]), tx.init(jnp.zeros(2)))
      >>> print(updates.round(3))
      [-0.1  0.1]

    References:
      Ziyin, Wang, Ueda, *LaProp: Separating Momentum and Adaptivity in Adam*,
      arXiv:2002.04839, 2020.
    """
    _checks.check_learning_rate("learning_rate", learning_rate)
    _check_betas(b1, b2)
    return optax.chain(
        transforms.scale_by_rms(
            b2, eps, eps_in_sqrt=False, bias_correction=True, state_dtype=state_dtype
        ),
        transforms.momentum(
            b1, dampening=b1, bias_correction=True, state_dtype=state_dtype
        ),
        scale_by_learning_rate(learning_rate),
    )


# The maximum of the *corrected* moment: the state keeps it corrected.
@_inputs.optimizer(**_ADAM_LIKE, eps_root="eps_root", stored_corrected=True)
def amsgrad(
    learning_rate: optax.ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    state_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""AMSGrad: Adam dividing by the running maximum of its second moment.

    .. math::
        \hat s_t = \max\Big(\hat s_{t-1}, \frac{s_t}{1-\beta_2^t}\Big), \quad
        w_t = w_{t-1} - \eta\,
        \frac{m_t/(1-\beta_1^t)}{\sqrt{\hat s_t + \epsilon_r} + \epsilon}

    with :math:`m_t`, :math:`s_t` Adam's moments (see :func:`adam`) and
    :math:`\hat s_0 = 0`: the maximum of the *bias-corrected* second moment,
    as ``optax.amsgrad`` keeps it (same signature and trajectory). PyTorch's
    and Keras's ``amsgrad=True`` keep the maximum of the uncorrected moment
    and correct it afterwards, another trajectory:
    ``presets.torch_adam(amsgrad=True)`` and ``presets.keras_adam(amsgrad=True)``
    reproduce those. Built from :func:`~rmsprop_jax.momentum` inside the
    second-moment machinery of :func:`~rmsprop_jax.precondition_by_rms` (the
    moments kept as roots; the maximum of roots is the root of the maximum).

    Args:
      learning_rate: :math:`\eta` >= 0, or a schedule.
      b1: :math:`\beta_1` in [0, 1). Default 0.9.
      b2: :math:`\beta_2` in [0, 1). Default 0.999.
      eps: :math:`\epsilon` >= 0, outside the root. Default 1e-8.
      eps_root: :math:`\epsilon_r` >= 0, under the root. Default 0.
      mu_dtype: storage dtype of the first moment (optax's argument):
        {{mu_dtype_choices}}
      state_dtype: storage of the optimizer's float accumulators (both
        second-moment roots and the first moment):
        {{state_dtype_choices}}

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Raises:
      {{adam_raises}}

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import amsgrad
      >>> tx = amsgrad(learning_rate=0.1)
      >>> state = tx.init(jnp.zeros(2))
      >>> _, state = tx.update(jnp.array([4.0, -0.5]), state)
      >>> updates, _ = tx.update(jnp.array([0.0, -0.5]), state)
      >>> print(updates)  # the maximum keeps the first step's 4
      [-0.0474  0.1   ]

    References:
      Reddi, Kale, Kumar, *On the Convergence of Adam and Beyond*, ICLR 2018.
    """
    _checks.check_learning_rate("learning_rate", learning_rate)
    _check_betas(b1, b2)
    _checks.check_range("eps", eps, 0.0)
    _checks.check_range("eps_root", eps_root, 0.0)
    _storage_args.check(
        "amsgrad", "mu_dtype", mu_dtype, state_dtype, "the first moment"
    )
    return optax.chain(
        precondition_by_max_rms(
            first_moment(b1, mu_dtype, state_dtype),
            b2,
            eps,
            bias_correction=True,
            inner_decay=b1,
            max_of_corrected=True,
            eps_root=eps_root,
            state_dtype=state_dtype,
        ),
        scale_by_learning_rate(learning_rate),
    )


@_inputs.optimizer(
    learning_rate="learning_rate", eps="eps", eps_placement="inside", decay="rho"
)
def adadelta(
    learning_rate: optax.ScalarOrSchedule | None = None,
    rho: ArrayLike = 0.9,
    eps: ArrayLike = 1e-6,
    weight_decay: ArrayLike = 0.0,
    weight_decay_mask: Any = None,
    *,
    state_dtype: Any | None = None,
) -> optax.GradientTransformation:
    r"""Adadelta: ``chain(add_decayed_weights, scale_by_adadelta, learning rate)``.

    .. math::
        E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2, \quad
        \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}
        {\sqrt{E[g^2]_t + \epsilon}}\, g_t, \quad
        w_t = w_{t-1} - \eta\, \Delta_t

    (:math:`g_t` including ``weight_decay * w``), RMSprop's sibling of the
    same year: the RMS of past updates over the RMS of the gradients makes the
    step carry the parameters' units. optax's signature; see
    :func:`~rmsprop_jax.scale_by_adadelta`.

    Args:
      learning_rate: :math:`\eta` >= 0, or a schedule. Default None, which
        means :math:`\eta = 1` (Zeiler's rule, no learning rate). optax's
        ``adadelta(learning_rate=None)`` instead skips its scaling link and
        with it the sign flip, so its updates *ascend*; this one descends.
      rho: :math:`\rho` in [0, 1]. Default 0.9.
      eps: :math:`\epsilon` >= 0. Default 1e-6.
      weight_decay: L2 coefficient added to the gradients, ``g + wd * w``
        (as ``torch.optim.Adadelta``'s). Default 0.
      weight_decay_mask: where to apply it, as ``optax.add_decayed_weights``'s
        ``mask``. Default None (everywhere).
      state_dtype: storage of the optimizer's float accumulators (the RMS of
        the gradients and of the updates):
        {{state_dtype_choices}}

    Returns:
      An ``optax.GradientTransformation``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import adadelta
      >>> tx = adadelta(learning_rate=1.0)
      >>> w = jnp.array([1.0, -1.0])
      >>> updates, _ = tx.update(jnp.array([1.0, -2.0]), tx.init(w), w)
      >>> print(updates.round(6))
      [-0.003162  0.003162]

    References:
      Zeiler, *ADADELTA: An Adaptive Learning Rate Method*, arXiv:1212.5701,
      2012.
    """
    if learning_rate is None:
        learning_rate = 1.0
    _checks.check_learning_rate("learning_rate", learning_rate)
    _checks.check_range("weight_decay", weight_decay, 0.0)
    return optax.chain(
        add_decayed_weights(weight_decay, mask=weight_decay_mask),
        transforms.scale_by_adadelta(rho, eps, state_dtype=state_dtype),
        scale_by_learning_rate(learning_rate),
    )
