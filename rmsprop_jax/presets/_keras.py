"""The Keras 3 and TensorFlow 1 presets: eps inside the root, lr inside the momentum.

Each Keras preset takes the optimizer's own arguments and Keras's nine common
ones (keyword-only, as Keras lists them in every optimizer's signature); the
common arguments are documented, validated and applied once, by
:func:`~rmsprop_jax.presets._keras_common.keras_optimizer`, and each preset
body builds only its ``update_step``. See :mod:`rmsprop_jax.presets` for the
table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _inputs, transforms
from rmsprop_jax._learning_rate import scale_by_learning_rate
from rmsprop_jax.presets import _keras_common, _rules
from rmsprop_jax.transforms.max_rms import precondition_by_max_rms

# How the states of :func:`_rms_inside` are read (the decay is named apart).
_RMS_INSIDE = dict(
    learning_rate="learning_rate",
    eps="epsilon",
    eps_placement="inside",
    centered=_inputs.flag("centered"),
)


def _rms_inside(
    learning_rate: optax.ScalarOrSchedule,
    decay: ArrayLike,
    momentum: ArrayLike,
    epsilon: ArrayLike,
    centered: bool,
    initial_scale: float,
    rule: str,
    state_dtype: Any,
) -> optax.GradientTransformationExtraArgs:
    """The Keras/TF1 RMSprop chain: eps inside the root, lr inside the momentum."""
    _rules.check_nonnegative(rule, learning_rate=learning_rate, epsilon=epsilon)
    _rules.check_unit(rule, momentum=momentum)
    return optax.chain(
        transforms.scale_by_rms(
            decay,
            epsilon,
            initial_scale=initial_scale,
            centered=centered,
            state_dtype=state_dtype,
        ),
        scale_by_learning_rate(learning_rate),
        transforms.momentum(momentum, state_dtype=state_dtype),
    )


@_inputs.optimizer(**_RMS_INSIDE, decay="rho")
@_keras_common.keras_optimizer
def keras_rmsprop(
    learning_rate: optax.ScalarOrSchedule = 0.001,
    rho: ArrayLike = 0.9,
    momentum: ArrayLike = 0.0,
    epsilon: ArrayLike = 1e-7,
    centered: bool = False,
    *,
    weight_decay: ArrayLike | None = None,
    clipnorm: ArrayLike | None = None,
    clipvalue: ArrayLike | None = None,
    global_clipnorm: ArrayLike | None = None,
    use_ema: bool = False,
    ema_momentum: ArrayLike = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: ArrayLike | None = None,
    gradient_accumulation_steps: int | None = None,
    state_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""``keras.optimizers.RMSprop`` (Keras 3): eps inside the root, lr inside.

    .. math::
        s_t = \rho s_{t-1} + (1-\rho) g_t^2, \quad
        \bar g_t = \rho \bar g_{t-1} + (1-\rho) g_t \ \text{(centered)}, \quad
        v_t = \mu v_{t-1} + \frac{\eta_t\, g_t}{\sqrt{s_t - \bar g_t^2 +
        \epsilon}}, \quad w_t = w_{t-1} - v_t,

    with :math:`s_0 = \bar g_0 = v_0 = 0`. Built as ``chain(scale_by_rms(rho,
    epsilon, centered=centered), scale_by_learning_rate(learning_rate),
    momentum(momentum))``: the learning rate enters the momentum buffer.

    {{keras_order}}

    .. warning::
       With a scheduled learning rate and ``momentum > 0`` this differs from
       :func:`torch_rmsprop`, which multiplies the whole buffer by the current
       rate.

    Args:
      learning_rate: :math:`\eta` >= 0, or an optax schedule (as a Keras
        ``LearningRateSchedule``, which also sees the step count from 0).
        Default 0.001.
      rho: :math:`\rho` in [0, 1]. Default 0.9.
      momentum: :math:`\mu` in [0, 1]. Default 0.
      epsilon: :math:`\epsilon` >= 0. Default 1e-7.
      centered: divide by the root of the variance estimate.
      {{keras_arguments}}
      {{state_dtype_preset}}

    Returns:
      {{keras_returns}}

    Raises:
      ValueError: ``learning_rate`` or ``epsilon`` < 0, or ``rho`` or
        ``momentum`` outside [0, 1] (Keras itself checks none of them);
        Keras's rules for the common arguments, and a clip <= 0 (which
        Keras silently ignores).

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import presets
      >>> tx = presets.keras_rmsprop(learning_rate=0.01)
      >>> g = jnp.array([1.0, -2.0])
      >>> updates, _ = tx.update(g, tx.init(g))
      >>> print(updates.round(4))  # -lr * sign(g) / sqrt(1 - rho)
      [-0.0316  0.0316]

    References:
      Keras 3, ``keras/src/optimizers/rmsprop.py`` (``update_step``) and
      ``base_optimizer.py``.
    """
    _checks.check_range("rho", rho, 0.0, 1.0, why=" (an EMA rate)")
    rule = "keras.optimizers.RMSprop does not check it"
    _rules.check_flag("centered", centered)
    return _rms_inside(
        learning_rate, rho, momentum, epsilon, centered, 0.0, rule, state_dtype
    )


@_inputs.optimizer(learning_rate="learning_rate", eps="epsilon", eps_placement="inside")
@_keras_common.keras_optimizer
def keras_adagrad(
    learning_rate: optax.ScalarOrSchedule = 0.001,
    initial_accumulator_value: ArrayLike = 0.1,
    epsilon: ArrayLike = 1e-7,
    *,
    weight_decay: ArrayLike | None = None,
    clipnorm: ArrayLike | None = None,
    clipvalue: ArrayLike | None = None,
    global_clipnorm: ArrayLike | None = None,
    use_ema: bool = False,
    ema_momentum: ArrayLike = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: ArrayLike | None = None,
    gradient_accumulation_steps: int | None = None,
    state_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""``keras.optimizers.Adagrad`` (Keras 3): eps inside the root, :math:`G_0=0.1`.

    .. math::
        G_t = G_{t-1} + g_t^2, \qquad
        w_t = w_{t-1} - \frac{\eta_t\, g_t}{\sqrt{G_t + \epsilon}},

    with :math:`G_0` = ``initial_accumulator_value``. Built as
    ``chain(accumulate_squares(initial_accumulator_value, epsilon),
    scale_by_learning_rate(learning_rate))``.

    {{keras_order}}

    Args:
      learning_rate: :math:`\eta` >= 0, or an optax schedule. Default 0.001.
      initial_accumulator_value: :math:`G_0` >= 0. Default 0.1.
      epsilon: :math:`\epsilon` >= 0. Default 1e-7.
      {{keras_arguments}}
      {{state_dtype_preset}}

    Returns:
      {{keras_returns}}

    Raises:
      ValueError: an argument < 0 (Keras itself does not check); Keras's
        rules for the common arguments, and a clip <= 0.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> from rmsprop_jax import presets
      >>> tx = presets.keras_adagrad(learning_rate=0.1)
      >>> g = jnp.array([0.3, -0.4])
      >>> updates, _ = tx.update(g, tx.init(g))
      >>> print(np.asarray(updates).round(4))  # -0.1 * g / sqrt(0.1 + g^2)
      [-0.0688  0.0784]

    References:
      Keras 3, ``keras/src/optimizers/adagrad.py`` (``update_step``) and
      ``base_optimizer.py``.
    """
    _rules.check_nonnegative(
        "keras.optimizers.Adagrad does not check it",
        learning_rate=learning_rate,
        initial_accumulator_value=initial_accumulator_value,
        epsilon=epsilon,
    )
    return optax.chain(
        transforms.accumulate_squares(
            initial_accumulator_value, epsilon, state_dtype=state_dtype
        ),
        scale_by_learning_rate(learning_rate),
    )


@_inputs.optimizer(
    learning_rate="learning_rate", eps="epsilon", eps_placement="inside", decay="rho"
)
@_keras_common.keras_optimizer
def keras_adadelta(
    learning_rate: optax.ScalarOrSchedule = 0.001,
    rho: ArrayLike = 0.95,
    epsilon: ArrayLike = 1e-7,
    *,
    weight_decay: ArrayLike | None = None,
    clipnorm: ArrayLike | None = None,
    clipvalue: ArrayLike | None = None,
    global_clipnorm: ArrayLike | None = None,
    use_ema: bool = False,
    ema_momentum: ArrayLike = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: ArrayLike | None = None,
    gradient_accumulation_steps: int | None = None,
    state_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""``keras.optimizers.Adadelta`` (Keras 3): Zeiler's rule times the rate.

    .. math::
        v_t = \rho v_{t-1} + (1-\rho) g_t^2, \qquad
        \Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\,
        g_t, \qquad u_t = \rho u_{t-1} + (1-\rho) \Delta_t^2, \qquad
        w_t = w_{t-1} - \eta_t \Delta_t,

    with :math:`v_0 = u_0 = 0`. Built as ``chain(scale_by_adadelta(rho,
    epsilon), scale_by_learning_rate(learning_rate))``.

    {{keras_order}}

    Args:
      learning_rate: :math:`\eta` >= 0, or an optax schedule. Default 0.001.
      rho: :math:`\rho` in [0, 1]. Default 0.95.
      epsilon: :math:`\epsilon` >= 0, inside both roots. Default 1e-7.
      {{keras_arguments}}
      {{state_dtype_preset}}

    Returns:
      {{keras_returns}}

    Raises:
      ValueError: ``learning_rate`` or ``epsilon`` < 0, ``rho`` outside
        [0, 1] (Keras itself does not check); Keras's rules for the common
        arguments, and a clip <= 0.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> from rmsprop_jax import presets
      >>> tx = presets.keras_adadelta(learning_rate=1.0)
      >>> g = jnp.array([1.0, -2.0])
      >>> updates, _ = tx.update(g, tx.init(g))
      >>> print(np.asarray(updates).round(5))  # -sqrt(eps) g / sqrt(0.05 g^2 + eps)
      [-0.00141  0.00141]

    References:
      Keras 3, ``keras/src/optimizers/adadelta.py`` (``update_step``) and
      ``base_optimizer.py``.
    """
    _rules.check_nonnegative(
        "keras.optimizers.Adadelta does not check it",
        learning_rate=learning_rate,
        epsilon=epsilon,
    )
    _rules.check_unit("keras.optimizers.Adadelta does not check it", rho=rho)
    return optax.chain(
        transforms.scale_by_adadelta(rho, epsilon, state_dtype=state_dtype),
        scale_by_learning_rate(learning_rate),
    )


def _keras_adam_step_size(
    learning_rate: optax.ScalarOrSchedule, beta_1: ArrayLike, beta_2: ArrayLike
) -> Callable[[Any], Any]:
    """Keras Adam's ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``."""

    def alpha(count):
        t = jnp.asarray(count + 1, dtype=float)
        lr = (
            learning_rate(count)
            if _checks.is_schedule(learning_rate)
            else learning_rate
        )
        return lr * jnp.sqrt(1 - beta_2**t) / (1 - beta_1**t)

    return alpha


@_inputs.optimizer(
    learning_rate="learning_rate",
    eps="epsilon",
    eps_placement="outside_uncorrected",
    decay="beta_2",
    bias_correction=True,
)
@_keras_common.keras_optimizer
def keras_adam(
    learning_rate: optax.ScalarOrSchedule = 0.001,
    beta_1: ArrayLike = 0.9,
    beta_2: ArrayLike = 0.999,
    epsilon: ArrayLike = 1e-7,
    amsgrad: bool = False,
    *,
    weight_decay: ArrayLike | None = None,
    clipnorm: ArrayLike | None = None,
    clipvalue: ArrayLike | None = None,
    global_clipnorm: ArrayLike | None = None,
    use_ema: bool = False,
    ema_momentum: ArrayLike = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: ArrayLike | None = None,
    gradient_accumulation_steps: int | None = None,
    state_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""``keras.optimizers.Adam`` (Keras 3): eps outside a bias-corrected step size.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
        \alpha_t = \eta_t \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}, \quad
        w_t = w_{t-1} - \frac{\alpha_t\, m_t}{\sqrt{\hat v_t} + \epsilon},

    with :math:`\hat v_t = \max(\hat v_{t-1}, v_t)` if ``amsgrad`` else
    :math:`v_t`, and :math:`m_0 = v_0 = \hat v_0 = 0`. Built as
    ``chain(precondition_by_rms(momentum(beta_1, dampening=beta_1), beta_2,
    epsilon, eps_in_sqrt=False, bias_correction=False),
    scale_by_learning_rate(alpha))`` (the running maximum with ``amsgrad``).

    .. warning::
       The porting trap: this is *not* :func:`torch_adam` with
       ``eps=epsilon``. Keras adds :math:`\epsilon` to the *uncorrected*
       root, which is torch's Adam with :math:`\epsilon_t =
       \epsilon/\sqrt{1-\beta_2^t}`: about 32x torch's eps on the first step
       with the default :math:`\beta_2`. Gradients of the size of eps move
       visibly slower in Keras.

    {{keras_order}}

    In :math:`\alpha_t`, :math:`t` counts the updates, not the calls.

    Args:
      learning_rate: :math:`\eta` >= 0, or an optax schedule. Default 0.001.
      beta_1: :math:`\beta_1` in [0, 1). Default 0.9.
      beta_2: :math:`\beta_2` in [0, 1). Default 0.999.
      epsilon: :math:`\epsilon` >= 0. Default 1e-7.
      amsgrad: divide by the running maximum of :math:`v_t`.
      {{keras_arguments}}
      {{state_dtype_preset}}

    Returns:
      {{keras_returns}}

    Raises:
      ValueError: ``learning_rate`` or ``epsilon`` < 0, a beta outside
        [0, 1) (Keras checks none of them); Keras's rules for the common
        arguments, and a clip <= 0.
      TypeError: ``amsgrad`` not a bool.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import presets
      >>> g = jnp.array([4.0, 1e-6])
      >>> tx = presets.keras_adam(learning_rate=0.1)
      >>> updates, _ = tx.update(g, tx.init(g))
      >>> print(updates.round(3))  # torch_adam(lr=0.1, eps=1e-7): [-0.1 -0.091]
      [-0.1   -0.024]

    References:
      Keras 3, ``keras/src/optimizers/adam.py`` (``update_step``) and
      ``base_optimizer.py``. Kingma, Ba, ICLR 2015 (this is their Algorithm 1
      with the efficient step size of section 2).
    """
    _rules.check_nonnegative(
        "keras.optimizers.Adam does not check it",
        learning_rate=learning_rate,
        epsilon=epsilon,
    )
    why = " (keras.optimizers.Adam divides by 1 - beta**t)"
    _checks.check_range("beta_1", beta_1, 0.0, 1.0, hi_open=True, why=why)
    _checks.check_range("beta_2", beta_2, 0.0, 1.0, hi_open=True, why=why)
    _rules.check_flag("amsgrad", amsgrad)
    first = transforms.momentum(beta_1, dampening=beta_1, state_dtype=state_dtype)
    if amsgrad:
        core = precondition_by_max_rms(
            first, beta_2, epsilon, bias_correction=False, state_dtype=state_dtype
        )
    else:
        core = transforms.precondition_by_rms(
            first,
            beta_2,
            epsilon,
            eps_in_sqrt=False,
            bias_correction=False,
            state_dtype=state_dtype,
        )
    alpha = _keras_adam_step_size(learning_rate, beta_1, beta_2)
    return optax.chain(core, scale_by_learning_rate(alpha))


@_inputs.optimizer(learning_rate="learning_rate")
@_keras_common.keras_optimizer
def keras_sgd(
    learning_rate: optax.ScalarOrSchedule = 0.01,
    momentum: ArrayLike = 0.0,
    nesterov: bool = False,
    *,
    weight_decay: ArrayLike | None = None,
    clipnorm: ArrayLike | None = None,
    clipvalue: ArrayLike | None = None,
    global_clipnorm: ArrayLike | None = None,
    use_ema: bool = False,
    ema_momentum: ArrayLike = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: ArrayLike | None = None,
    gradient_accumulation_steps: int | None = None,
    state_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""``keras.optimizers.SGD`` (Keras 3): lr inside the momentum buffer.

    .. math::
        v_t = \mu v_{t-1} - \eta_t g_t, \qquad
        w_t = w_{t-1} + v_t \quad\text{or}\quad
        w_{t-1} + \mu v_t - \eta_t g_t\ \text{(nesterov)},

    with :math:`v_0 = 0` (:math:`\mu = 0`: :math:`w_t = w_{t-1} - \eta_t
    g_t`). Built as ``chain(scale_by_learning_rate(learning_rate),
    momentum(momentum, nesterov=nesterov))``: unlike :func:`torch_sgd`, the
    learning rate enters the buffer, and the first step is damped by nothing
    because there is no dampening.

    {{keras_order}}

    Args:
      learning_rate: :math:`\eta` >= 0, or an optax schedule. Default 0.01.
      momentum: :math:`\mu` in [0, 1] (Keras's rule). Default 0.
      nesterov: the Nesterov form.
      {{keras_arguments}}
      {{state_dtype_preset}}

    Returns:
      {{keras_returns}}

    Raises:
      ValueError: ``learning_rate`` < 0 or ``momentum`` outside [0, 1];
        Keras's rules for the common arguments, and a clip <= 0.
      TypeError: ``nesterov`` not a bool.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import presets
      >>> tx = presets.keras_sgd(learning_rate=0.1, momentum=0.9, clipvalue=1.0)
      >>> g = jnp.array([3.0, -0.5])
      >>> state = tx.init(g)
      >>> u1, state = tx.update(g, state)  # clipped to [1, -0.5] first
      >>> u2, state = tx.update(g, state)  # v = 0.9 v - 0.1 g
      >>> print(u1.round(3), u2.round(3))
      [-0.1   0.05] [-0.19   0.095]

    References:
      Keras 3, ``keras/src/optimizers/sgd.py`` (``update_step``) and
      ``base_optimizer.py``.
    """
    _rules.check_nonnegative(
        "keras.optimizers.SGD requires it", learning_rate=learning_rate
    )
    _rules.check_unit("keras.optimizers.SGD's rule", momentum=momentum)
    _rules.check_flag("nesterov", nesterov)
    return optax.chain(
        scale_by_learning_rate(learning_rate),
        transforms.momentum(momentum, nesterov=nesterov, state_dtype=state_dtype),
    )


@_inputs.optimizer(**_RMS_INSIDE, decay="decay")
def tf1_rmsprop(
    learning_rate: optax.ScalarOrSchedule,
    decay: ArrayLike = 0.9,
    momentum: ArrayLike = 0.0,
    epsilon: ArrayLike = 1e-10,
    centered: bool = False,
    *,
    state_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""``tf.compat.v1.train.RMSPropOptimizer``: :math:`s_0 = 1`, lr inside.

    The ``ApplyRMSProp`` / ``ApplyCenteredRMSProp`` kernels:

    .. math::
        s_t = s_{t-1} + (g_t^2 - s_{t-1})(1-\rho), \quad
        \bar g_t = \bar g_{t-1} + (g_t - \bar g_{t-1})(1-\rho)
        \ \text{(centered)}, \\
        v_t = \mu v_{t-1} + \frac{\eta_t\, g_t}{\sqrt{s_t - \bar g_t^2 +
        \epsilon}}, \qquad w_t = w_{t-1} - v_t,

    with :math:`s_0 = 1` (the ``rms`` slot starts at ones) and
    :math:`\bar g_0 = v_0 = 0`. Same chain as :func:`keras_rmsprop` with
    ``initial_scale=1.0``.

    .. warning::
       Because :math:`s_0 = 1`, early steps are :math:`\approx \eta g` rather
       than :math:`\eta\,\mathrm{sign}(g)/\sqrt{1-\rho}`: with gradients much
       smaller than 1, TF1 RMSprop starts about :math:`1/(|g|\sqrt{1-\rho})`
       times slower than Keras/PyTorch RMSprop.

    Args:
      learning_rate: :math:`\eta` >= 0, or an optax schedule of the global
        step (as ``tf.compat.v1.train.exponential_decay(global_step)``).
      decay: :math:`\rho` in [0, 1]. Default 0.9.
      momentum: :math:`\mu` in [0, 1]. Default 0.
      epsilon: :math:`\epsilon` >= 0. Default 1e-10.
      centered: divide by the root of the variance estimate.
      {{state_dtype_preset}}

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Raises:
      ValueError: ``learning_rate`` or ``epsilon`` < 0, or ``decay`` or
        ``momentum`` outside [0, 1] (TF1 itself checks none of them).

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import presets
      >>> tx = presets.tf1_rmsprop(learning_rate=0.1)
      >>> g = jnp.array([0.01, -3.0])
      >>> updates, _ = tx.update(g, tx.init(g))
      >>> print(updates.round(4))  # -lr * g / sqrt(0.9 + 0.1 g^2)
      [-0.0011  0.2236]

    References:
      TensorFlow 1, ``tensorflow/python/training/rmsprop.py`` and
      ``tensorflow/core/kernels/training_ops.cc`` (``ApplyRMSProp``).
    """
    _checks.check_range("decay", decay, 0.0, 1.0, why=" (an EMA rate)")
    rule = "tf.compat.v1.train.RMSPropOptimizer does not check it"
    return _rms_inside(
        learning_rate, decay, momentum, epsilon, centered, 1.0, rule, state_dtype
    )
