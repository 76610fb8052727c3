r"""Presets that reproduce PyTorch, Keras 3 and TensorFlow 1 optimizers exactly.

Each preset takes the framework's own keyword names and defaults and returns an
``optax.chain`` of this library's primitives that follows the framework's
update, operation for operation: in float64 the trajectories agree with the
framework's to rounding (``tests/golden/``). Where the frameworks differ:

.. begin table presets

.. list-table::
   :header-rows: 1

   * - preset
     - reproduces
     - eps
     - learning rate
     - weight decay
     - initial state
   * - ``presets.torch_rmsprop(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0,
       momentum=0.0, centered=False, *, maximize=False)``
     - ``torch.optim.RMSprop``
     - outside √
     - multiplies the momentum buffer
     - coupled L2
     - s₀ = 0
   * - ``presets.torch_rprop(lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), *,
       maximize=False)``
     - ``torch.optim.Rprop`` (iRprop−)
     - –
     - initial step size, read once
     - –
     - Δ clipped from step 1
   * - ``presets.torch_adagrad(lr=0.01, lr_decay=0.0, weight_decay=0.0,
       initial_accumulator_value=0.0, eps=1e-10, *, maximize=False)``
     - ``torch.optim.Adagrad``
     - outside √
     - lr / (1 + (t−1)·lr_decay)
     - coupled L2
     - G₀ = initial_accumulator_value
   * - ``presets.torch_sgd(lr=0.001, momentum=0.0, dampening=0.0, weight_decay=0.0,
       nesterov=False, *, maximize=False)``
     - ``torch.optim.SGD``
     - –
     - multiplies the momentum buffer
     - coupled L2
     - buf₁ = g₁ (undamped)
   * - ``presets.torch_adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
       amsgrad=False, *, maximize=False)``
     - ``torch.optim.Adam``
     - outside the bias-corrected √
     - lr / (1 − β₁ᵗ)
     - coupled L2
     - m₀ = v₀ = 0; AMSGrad: max of uncorrected v
   * - ``presets.torch_adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
       amsgrad=False, *, maximize=False)``
     - ``torch.optim.AdamW``
     - outside the bias-corrected √
     - lr / (1 − β₁ᵗ)
     - decoupled, w·(1 − lr·wd)
     - as Adam
   * - ``presets.keras_rmsprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
       centered=False, *, <common>)``
     - ``keras.optimizers.RMSprop``
     - inside √
     - enters the momentum buffer
     - decoupled (``weight_decay``)
     - s₀ = 0
   * - ``presets.keras_adagrad(learning_rate=0.001, initial_accumulator_value=0.1,
       epsilon=1e-7, *, <common>)``
     - ``keras.optimizers.Adagrad``
     - inside √
     - plain
     - decoupled (``weight_decay``)
     - G₀ = 0.1
   * - ``presets.keras_adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
       amsgrad=False, *, <common>)``
     - ``keras.optimizers.Adam``
     - **outside the uncorrected √**
     - lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)
     - decoupled (``weight_decay``)
     - m₀ = v₀ = 0
   * - ``presets.keras_sgd(learning_rate=0.01, momentum=0.0, nesterov=False, *,
       <common>)``
     - ``keras.optimizers.SGD``
     - –
     - enters the momentum buffer
     - decoupled (``weight_decay``)
     - v₀ = 0, no dampening
   * - ``presets.tf1_rmsprop(learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10,
       centered=False)``
     - ``tf.compat.v1.train.RMSPropOptimizer``
     - inside √
     - enters the momentum buffer
     - –
     - **s₀ = 1**
   * - ``presets.from_torch(optimizer)``
     - a live ``torch.optim`` optimizer of the classes above (one setting for all param
       groups)
     - as the preset
     - the group's current ``lr``
     - as the preset
     - as the preset
   * - ``presets.from_keras(optimizer, class_name=None)``
     - a Keras optimizer or its ``get_config()``
     - as the preset
     - ``ExponentialDecay``, ``PolynomialDecay``, ``CosineDecay`` → optax
     - as the preset
     - as the preset

.. end table presets

Every torch preset takes ``maximize`` (the gradient is negated first, before
weight decay); every Keras preset takes Keras's common arguments
(``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``,
``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``,
``loss_scale_factor``, ``gradient_accumulation_steps``) in Keras's order of
operations. :func:`from_torch` and :func:`from_keras` build the preset from a
live optimizer. Complex parameters are pairs of real weights, as in
``torch.optim``.

"Multiplies the momentum buffer" (PyTorch) is :math:`w \leftarrow w - \eta_t v_t` with
:math:`v_t = \mu v_{t-1} + u_t`; "enters the momentum buffer" (Keras, TF1) is
:math:`v_t = \mu v_{t-1} + \eta_t u_t`, :math:`w \leftarrow w - v_t`. The two
agree for a constant learning rate and differ as soon as it follows a
schedule. Every learning rate may be an optax schedule of the step count (0 at
the first update), the counterpart of a ``torch.optim.lr_scheduler`` stepped
after every ``optimizer.step()`` or of a Keras ``LearningRateSchedule``.

The torch presets, and Keras presets with ``weight_decay`` or ``use_ema``, read
the parameters: call ``update(grads, state, params)``. ``docs/porting.md``
lists the equations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _inputs, _keras_common, transforms
from rmsprop_jax._keras_common import KerasState as KerasState
from rmsprop_jax._learning_rate import _decayed_lr, scale_by_learning_rate
from rmsprop_jax._preset_parts import add_decayed_weights, precondition_by_max_rms

__all__ = [
    "KerasState",
    "from_keras",
    "from_torch",
    "keras_adagrad",
    "keras_adam",
    "keras_rmsprop",
    "keras_sgd",
    "tf1_rmsprop",
    "torch_adagrad",
    "torch_adam",
    "torch_adamw",
    "torch_rmsprop",
    "torch_rprop",
    "torch_sgd",
]

_LEARNING_RATES = ("lr", "learning_rate")


def _check_nonnegative(rule: str, **values: Any) -> None:
    """``value >= 0`` for each named value; learning-rate schedules pass."""
    for name, value in values.items():
        if name in _LEARNING_RATES and _checks.is_schedule(value):
            continue
        _checks.check_range(name, value, 0.0, why=f" ({rule})")


def _check_unit(rule: str, **values: Any) -> None:
    """``value`` in [0, 1], a rule stricter than (or absent from) ``rule``."""
    for name, value in values.items():
        _checks.check_range(name, value, 0.0, 1.0, why=f" ({rule})")


def _pair(name: str, value: Any) -> tuple[Any, Any]:
    if not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"`{name}` must be a pair of two numbers, got {value!r}.")
    return value[0], value[1]


def _negate(maximize: bool) -> tuple[optax.GradientTransformation, ...]:
    """torch's ``maximize``: the gradient is negated first, before weight decay."""
    _check_flag("maximize", maximize)
    return (optax.scale(-1.0),) if maximize else ()


@_inputs.optimizer
def torch_rmsprop(
    lr: optax.ScalarOrSchedule = 0.01,
    alpha: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    momentum: ArrayLike = 0.0,
    centered: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""``torch.optim.RMSprop``: eps outside the root, lr outside the momentum.

    .. math::
        g_t &\leftarrow g_t + \lambda w_{t-1}, \qquad
        s_t = \alpha s_{t-1} + (1-\alpha) g_t^2, \qquad
        \bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t \ \text{(centered)} \\
        b_t &= \mu b_{t-1} + \frac{g_t}{\sqrt{s_t - \bar g_t^2} + \epsilon},
        \qquad w_t = w_{t-1} - \eta_t b_t,

    with :math:`s_0 = \bar g_0 = b_0 = 0` (:math:`\bar g` only if ``centered``;
    :math:`\mu = 0` gives :math:`b_t` = the preconditioned gradient;
    ``maximize`` first negates :math:`g_t`). Built as
    ``chain([scale(-1)], add_decayed_weights(weight_decay), scale_by_rms(alpha, eps,
    eps_in_sqrt=False, centered=centered), momentum(momentum),
    scale_by_learning_rate(lr))``.

    .. warning::
       Unlike :func:`rmsprop_jax.rmsprop` (and Keras/TF1), eps sits *outside*
       the root, the default decay is 0.99, and the learning rate multiplies
       the momentum buffer instead of being accumulated in it: with a
       scheduled ``lr`` this is not the same trajectory as :func:`keras_rmsprop`.

    Args:
      lr: :math:`\eta` >= 0, or an optax schedule (as a
        ``torch.optim.lr_scheduler`` stepped after every ``step()``). Default 0.01.
      alpha: :math:`\alpha` in [0, 1]. Default 0.99.
      eps: :math:`\epsilon` >= 0. Default 1e-8.
      weight_decay: :math:`\lambda` >= 0, coupled L2 added to the gradient.
      momentum: :math:`\mu` in [0, 1]. Default 0.
      centered: divide by the root of the variance estimate.
      maximize: ascend: the gradient is negated first, before weight decay.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``params``.

    Raises:
      ValueError: torch's rules (``lr``, ``eps``, ``weight_decay``,
        ``momentum``, ``alpha`` >= 0) and ``alpha``, ``momentum`` <= 1.
      TypeError: ``maximize`` not a bool.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import presets
      >>> tx = presets.torch_rmsprop(lr=0.01)
      >>> w = jnp.array([1.0, -2.0])
      >>> updates, _ = tx.update(w, tx.init(w), w)
      >>> print(updates.round(4))  # -lr * sign(g) / sqrt(1 - alpha)
      [-0.1  0.1]

    References:
      PyTorch, ``torch/optim/rmsprop.py`` (``_single_tensor_rmsprop``).
    """
    rule = "torch.optim.RMSprop requires >= 0"
    _check_nonnegative(
        rule, lr=lr, eps=eps, weight_decay=weight_decay, momentum=momentum
    )
    _check_nonnegative(rule, alpha=alpha)
    _check_unit(
        "an EMA rate; torch accepts > 1, where s can turn negative", alpha=alpha
    )
    _check_unit("torch accepts > 1, where the heavy ball diverges", momentum=momentum)
    return optax.chain(
        *_negate(maximize),
        add_decayed_weights(weight_decay),
        transforms.scale_by_rms(alpha, eps, eps_in_sqrt=False, centered=centered),
        transforms.momentum(momentum),
        scale_by_learning_rate(lr),
    )


@_inputs.optimizer
def torch_rprop(
    lr: optax.ScalarOrSchedule = 0.01,
    etas: tuple[ArrayLike, ArrayLike] = (0.5, 1.2),
    step_sizes: tuple[ArrayLike, ArrayLike] = (1e-6, 50.0),
    *,
    maximize: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""``torch.optim.Rprop``: iRprop-, step sizes clipped on every step.

    .. math::
        \sigma_t &= \mathrm{sign}(g_t\, g'_{t-1}), \qquad
        \Delta_t = \mathrm{clip}(\Delta_{t-1}\,
        \{\eta^+, \eta^-, 1\}_{\sigma_t = 1, -1, 0},\
        \Delta_{\min}, \Delta_{\max}), \\
        g'_t &= 0 \text{ if } \sigma_t < 0 \text{ else } g_t, \qquad
        w_t = w_{t-1} - \mathrm{sign}(g'_t)\, \Delta_t,

    with :math:`\Delta_0` = ``lr`` and :math:`g'_0 = 0`: the first step moves
    every weight by :math:`\mathrm{clip}(\mathrm{lr}, \Delta_{\min},
    \Delta_{\max})`, and a weight whose gradient flipped sign does not move.
    ``maximize`` negates :math:`g_t` first. Built as ``chain([scale(-1)],
    scale_by_rprop(lr, *etas, *step_sizes, variant="irprop-"), scale(-1))``.

    .. warning::
       PyTorch reads ``lr`` once, when the state is created: afterwards each
       weight's step size evolves on its own and a ``torch.optim.lr_scheduler``
       attached to ``Rprop`` changes nothing. To reproduce that, a schedule
       given as ``lr`` is evaluated once, at step 0, when the preset is built;
       its later values are ignored, as PyTorch ignores them. Build the preset
       under ``jax.enable_x64`` if the float64 value of ``lr(0)`` matters.

    Args:
      lr: the initial step size :math:`\Delta_0` >= 0 (a schedule: its value
        at step 0). Default 0.01.
      etas: :math:`(\eta^-, \eta^+)` with :math:`0 < \eta^- < 1 < \eta^+`.
        Default (0.5, 1.2).
      step_sizes: :math:`(\Delta_{\min}, \Delta_{\max})`. Default (1e-6, 50).
      maximize: ascend: the gradient is negated first.

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Raises:
      ValueError: torch's rules (``lr`` >= 0, ``0 < etas[0] < 1 < etas[1]``),
        or ``step_sizes`` not a pair with ``0 < step_sizes[0] <=
        step_sizes[1]`` (torch does not check these).

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import presets
      >>> tx = presets.torch_rprop(lr=1.0, step_sizes=(1e-6, 0.5))
      >>> g = jnp.array([3.0, -0.01])
      >>> updates, _ = tx.update(g, tx.init(g))
      >>> print(updates)  # the first step is clipped to 0.5 already
      [-0.5  0.5]

    References:
      PyTorch, ``torch/optim/rprop.py`` (``_single_tensor_rprop``).
      Igel, Hüsken, *Improving the Rprop Learning Algorithm*, NC 2000.
    """
    eta_minus, eta_plus = _pair("etas", etas)
    min_step, max_step = _pair("step_sizes", step_sizes)
    _check_nonnegative("torch.optim.Rprop requires >= 0", lr=lr)
    why = " (torch.optim.Rprop requires 0 < etas[0] < 1 < etas[1])"
    _checks.check_range("etas[0]", eta_minus, 0, 1, lo_open=True, hi_open=True, why=why)
    _checks.check_range("etas[1]", eta_plus, 1, lo_open=True, why=why)
    why = " (a step size of 0 could never grow again)"
    _checks.check_range("step_sizes[0]", min_step, 0, lo_open=True, why=why)
    _checks.check_ordered("step_sizes[0]", min_step, "step_sizes[1]", max_step)
    initial_step = lr(jnp.zeros([], int)) if _checks.is_schedule(lr) else lr
    return optax.chain(
        *_negate(maximize),
        transforms.scale_by_rprop(
            initial_step, eta_minus, eta_plus, min_step, max_step, variant="irprop-"
        ),
        optax.scale(-1.0),
    )


@_inputs.optimizer
def torch_adagrad(
    lr: optax.ScalarOrSchedule = 0.01,
    lr_decay: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    initial_accumulator_value: ArrayLike = 0.0,
    eps: ArrayLike = 1e-10,
    *,
    maximize: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""``torch.optim.Adagrad``: eps outside the root, ``lr_decay``.

    .. math::
        g_t \leftarrow g_t + \lambda w_{t-1}, \qquad G_t = G_{t-1} + g_t^2,
        \qquad w_t = w_{t-1} - \frac{\eta_t}{1 + (t-1) d}\,
        \frac{g_t}{\sqrt{G_t} + \epsilon},

    with :math:`G_0` = ``initial_accumulator_value``, :math:`d` =
    ``lr_decay`` and :math:`t = 1, 2, \dots` (``maximize`` first negates
    :math:`g_t`). Built as ``chain([scale(-1)],
    add_decayed_weights(weight_decay), accumulate_squares(
    initial_accumulator_value, eps, eps_in_sqrt=False),
    scale_by_learning_rate(lambda k: lr(k) / (1 + k * lr_decay)))``; a
    scheduled ``lr`` is multiplied by the decay, as in PyTorch.

    Args:
      lr: :math:`\eta` >= 0, or an optax schedule. Default 0.01.
      lr_decay: :math:`d` >= 0. Default 0.
      weight_decay: :math:`\lambda` >= 0, coupled L2 added to the gradient.
      initial_accumulator_value: :math:`G_0` >= 0. Default 0.
      eps: :math:`\epsilon` >= 0. Default 1e-10.
      maximize: ascend: the gradient is negated first, before weight decay.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``params``.

    Raises:
      ValueError: torch's rules (every argument >= 0).

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import presets
      >>> tx = presets.torch_adagrad(lr=0.1, lr_decay=1.0)
      >>> w = jnp.array([3.0, -4.0])
      >>> state = tx.init(w)
      >>> u1, state = tx.update(w, state, w)  # -0.1 * sign(g)
      >>> u2, state = tx.update(w, state, w)  # -0.1 / 2 * g / sqrt(2 g^2)
      >>> print(u1.round(4), u2.round(4))
      [-0.1  0.1] [-0.0354  0.0354]

    References:
      PyTorch, ``torch/optim/adagrad.py`` (``_single_tensor_adagrad``).
    """
    _check_nonnegative(
        "torch.optim.Adagrad requires >= 0",
        lr=lr,
        lr_decay=lr_decay,
        weight_decay=weight_decay,
        initial_accumulator_value=initial_accumulator_value,
        eps=eps,
    )
    return optax.chain(
        *_negate(maximize),
        add_decayed_weights(weight_decay),
        transforms.accumulate_squares(
            initial_accumulator_value, eps, eps_in_sqrt=False
        ),
        scale_by_learning_rate(_decayed_lr(lr, lr_decay)),
    )


@_inputs.optimizer
def torch_sgd(
    lr: optax.ScalarOrSchedule = 0.001,
    momentum: ArrayLike = 0.0,
    dampening: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    nesterov: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""``torch.optim.SGD``: first momentum step undamped, lr outside.

    .. math::
        g_t &\leftarrow g_t + \lambda w_{t-1}, \qquad
        b_1 = g_1, \quad b_t = \mu b_{t-1} + (1 - \tau) g_t\ (t > 1), \\
        w_t &= w_{t-1} - \eta_t\, \{b_t \text{, or } g_t + \mu b_t
        \text{ if nesterov}\},

    with :math:`\tau` = ``dampening``; with :math:`\mu = 0` PyTorch skips the
    buffer (and ``dampening``) and steps :math:`-\eta_t g_t`; ``maximize``
    first negates :math:`g_t`. Built as ``chain([scale(-1)],
    add_decayed_weights(weight_decay), momentum(momentum, nesterov=nesterov,
    dampening=dampening * (momentum != 0), undamped_first_step=True),
    scale_by_learning_rate(lr))``.

    Args:
      lr: :math:`\eta` >= 0, or an optax schedule. Default 0.001.
      momentum: :math:`\mu` in [0, 1]. Default 0.
      dampening: :math:`\tau` in [0, 1]. Default 0.
      weight_decay: :math:`\lambda` >= 0, coupled L2 added to the gradient.
      nesterov: Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
      maximize: ascend: the gradient is negated first, before weight decay.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``params``.

    Raises:
      ValueError: torch's rules (``lr``, ``momentum``, ``weight_decay`` >= 0;
        ``nesterov`` with ``momentum <= 0`` or ``dampening != 0``), and
        ``momentum`` or ``dampening`` outside [0, 1].

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import presets
      >>> tx = presets.torch_sgd(lr=0.1, momentum=0.9, dampening=0.5)
      >>> g = jnp.array([1.0, -2.0])
      >>> state = tx.init(g)
      >>> u1, state = tx.update(g, state, g)  # b = g: no dampening yet
      >>> u2, state = tx.update(g, state, g)  # b = 0.9 g + 0.5 g
      >>> print(u1.round(3), u2.round(3))
      [-0.1  0.2] [-0.14  0.28]

    References:
      PyTorch, ``torch/optim/sgd.py`` (``_single_tensor_sgd``).
      Sutskever, Martens, Dahl, Hinton, ICML 2013 (the Nesterov form).
    """
    _check_nonnegative(
        "torch.optim.SGD requires >= 0",
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
    )
    _check_unit("torch accepts > 1, where the heavy ball diverges", momentum=momentum)
    _check_unit("torch does not check it", dampening=dampening)
    _check_nesterov(nesterov, momentum, dampening)
    return optax.chain(
        *_negate(maximize),
        add_decayed_weights(weight_decay),
        transforms.momentum(
            momentum,
            nesterov=nesterov,
            dampening=dampening * (momentum != 0),
            undamped_first_step=True,
        ),
        scale_by_learning_rate(lr),
    )


def _check_nesterov(nesterov: bool, momentum: ArrayLike, dampening: ArrayLike) -> None:
    """torch SGD: ``nesterov`` needs ``momentum > 0`` and ``dampening == 0``."""
    if not nesterov:
        return
    mu = _checks.concrete_values("momentum", momentum)
    tau = _checks.concrete_values("dampening", dampening)
    if (mu is not None and np.any(mu <= 0)) or (tau is not None and np.any(tau != 0)):
        raise ValueError(
            "`nesterov=True` requires `momentum` > 0 and `dampening` == 0 "
            f"(torch.optim.SGD's rule), got momentum={momentum!r}, "
            f"dampening={dampening!r}."
        )


def _adam_core(
    b1: ArrayLike, b2: ArrayLike, eps: ArrayLike, amsgrad: bool
) -> optax.GradientTransformationExtraArgs:
    """torch's bias-corrected Adam direction ``m_hat / (sqrt(v_hat) + eps)``."""
    _check_flag("amsgrad", amsgrad)
    first = transforms.momentum(b1, dampening=b1)
    if amsgrad:
        return precondition_by_max_rms(
            first, b2, eps, bias_correction=True, inner_decay=b1
        )
    return transforms.precondition_by_rms(
        first, b2, eps, eps_in_sqrt=False, inner_decay=b1
    )


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"`{name}` must be True or False, got {value!r}.")


def _check_torch_adam(
    rule: str, lr: Any, betas: Any, eps: Any, weight_decay: Any
) -> tuple[Any, Any]:
    b1, b2 = _pair("betas", betas)
    _check_nonnegative(
        rule + " requires >= 0", lr=lr, eps=eps, weight_decay=weight_decay
    )
    why = f" ({rule} requires 0 <= beta < 1)"
    _checks.check_range("betas[0]", b1, 0.0, 1.0, hi_open=True, why=why)
    _checks.check_range("betas[1]", b2, 0.0, 1.0, hi_open=True, why=why)
    return b1, b2


@_inputs.optimizer
def torch_adam(
    lr: optax.ScalarOrSchedule = 1e-3,
    betas: tuple[ArrayLike, ArrayLike] = (0.9, 0.999),
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""``torch.optim.Adam``: coupled L2 decay, eps outside the corrected root.

    .. math::
        g_t &\leftarrow g_t + \lambda w_{t-1}, \qquad
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        \hat v_t &= \max(\hat v_{t-1}, v_t)\ \text{(amsgrad, else } v_t),
        \qquad w_t = w_{t-1} - \eta_t\, \frac{m_t / (1-\beta_1^t)}
        {\sqrt{\hat v_t} / \sqrt{1-\beta_2^t} + \epsilon},

    with :math:`m_0 = v_0 = \hat v_0 = 0`; ``maximize`` first negates
    :math:`g_t`, before the decay. The maximum is taken over the *uncorrected*
    :math:`v_t` (``optax.amsgrad`` takes it over the corrected one, another
    trajectory). Built as ``chain([scale(-1)], add_decayed_weights(
    weight_decay), precondition_by_rms(momentum(b1, dampening=b1), b2, eps,
    eps_in_sqrt=False, inner_decay=b1), scale_by_learning_rate(lr))``; with
    ``amsgrad`` the middle link keeps the running maximum instead.

    Args:
      lr: :math:`\eta` >= 0, or an optax schedule (as a
        ``torch.optim.lr_scheduler`` stepped after every ``step()``).
        Default 1e-3.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default (0.9, 0.999).
      eps: :math:`\epsilon` >= 0. Default 1e-8.
      weight_decay: :math:`\lambda` >= 0, coupled L2 added to the gradient.
      amsgrad: divide by the running maximum of :math:`v_t`.
      maximize: ascend: the gradient is negated first, before weight decay.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``params``.

    Raises:
      ValueError: torch's rules (``lr``, ``eps``, ``weight_decay`` >= 0,
        ``0 <= betas[i] < 1``), or ``betas`` not a pair.
      TypeError: ``amsgrad`` or ``maximize`` not a bool.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import presets
      >>> tx = presets.torch_adam(lr=0.1)
      >>> w = jnp.array([4.0, 1e-6])
      >>> updates, _ = tx.update(w, tx.init(w), w)
      >>> print(updates.round(3))  # -lr * g / (|g| + eps): about -lr * sign(g)
      [-0.1  -0.099]

    References:
      PyTorch, ``torch/optim/adam.py`` (``_single_tensor_adam``).
      Kingma, Ba, ICLR 2015; Reddi, Kale, Kumar, ICLR 2018 (AMSGrad).
    """
    b1, b2 = _check_torch_adam("torch.optim.Adam", lr, betas, eps, weight_decay)
    return optax.chain(
        *_negate(maximize),
        add_decayed_weights(weight_decay),
        _adam_core(b1, b2, eps, amsgrad),
        scale_by_learning_rate(lr),
    )


@_inputs.optimizer
def torch_adamw(
    lr: optax.ScalarOrSchedule = 1e-3,
    betas: tuple[ArrayLike, ArrayLike] = (0.9, 0.999),
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 1e-2,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""``torch.optim.AdamW``: decoupled weight decay, scaled by the learning rate.

    .. math::
        w_t = w_{t-1}\,(1 - \eta_t \lambda) - \eta_t\,
        \frac{m_t / (1-\beta_1^t)}{\sqrt{\hat v_t} / \sqrt{1-\beta_2^t}
        + \epsilon},

    with :math:`m_t, v_t, \hat v_t` of :func:`torch_adam` on the raw gradient
    (negated first if ``maximize``; the decay never sees the gradient). Built
    as ``chain([scale(-1)], precondition_by_rms(momentum(b1, dampening=b1),
    b2, eps, eps_in_sqrt=False, inner_decay=b1), add_decayed_weights(
    weight_decay), scale_by_learning_rate(lr))``, the layout of
    ``optax.adamw``: a scheduled ``lr`` scales the decay too, as in PyTorch.

    Args:
      lr: :math:`\eta` >= 0, or an optax schedule. Default 1e-3.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default (0.9, 0.999).
      eps: :math:`\epsilon` >= 0. Default 1e-8.
      weight_decay: :math:`\lambda` >= 0, decoupled. Default 1e-2.
      amsgrad: divide by the running maximum of :math:`v_t`.
      maximize: ascend: the gradient is negated first.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``params``.

    Raises:
      ValueError: torch's rules (``lr``, ``eps``, ``weight_decay`` >= 0,
        ``0 <= betas[i] < 1``), or ``betas`` not a pair.
      TypeError: ``amsgrad`` or ``maximize`` not a bool.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import presets
      >>> tx = presets.torch_adamw(lr=0.1, weight_decay=0.5)
      >>> w = jnp.array([2.0, 0.0])
      >>> g = jnp.array([1.0, 1.0])
      >>> updates, _ = tx.update(g, tx.init(w), w)
      >>> print(updates.round(4))  # -lr * sign(g) - lr * wd * w
      [-0.2 -0.1]

    References:
      PyTorch, ``torch/optim/adamw.py`` and ``adam.py``
      (``decoupled_weight_decay=True``). Loshchilov, Hutter, ICLR 2019.
    """
    b1, b2 = _check_torch_adam("torch.optim.AdamW", lr, betas, eps, weight_decay)
    return optax.chain(
        *_negate(maximize),
        _adam_core(b1, b2, eps, amsgrad),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(lr),
    )


def _rms_inside(
    learning_rate: optax.ScalarOrSchedule,
    decay: ArrayLike,
    momentum: ArrayLike,
    epsilon: ArrayLike,
    centered: bool,
    initial_scale: float,
    rule: str,
) -> optax.GradientTransformationExtraArgs:
    """The Keras/TF1 RMSprop chain: eps inside the root, lr inside the momentum."""
    _check_nonnegative(rule, learning_rate=learning_rate, epsilon=epsilon)
    _check_unit(rule, momentum=momentum)
    return optax.chain(
        transforms.scale_by_rms(
            decay, epsilon, initial_scale=initial_scale, centered=centered
        ),
        scale_by_learning_rate(learning_rate),
        transforms.momentum(momentum),
    )


@_inputs.optimizer
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

    Order of operations, per call of ``update`` (Keras's ``BaseOptimizer.apply``
    and the JAX backend's ``_backend_apply_gradients``): (1) ``g /
    loss_scale_factor``; (2) gradient accumulation: only every
    ``gradient_accumulation_steps``-th call updates, with the mean of the
    window's gradients (the other calls only add to the sum); (3) clipping
    (``clipnorm``, ``global_clipnorm`` or ``clipvalue``); (4) decoupled
    ``weight_decay``: ``w - w * weight_decay * lr_t``; (5) the update above;
    (6) on every call, the weights' moving average, and every
    ``ema_overwrite_frequency`` updates ``w <- average``.
    Schedules see every call (the raw counter).

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
      weight_decay: :math:`\lambda` >= 0, decoupled, or None (default).
      clipnorm: > 0: clip each gradient tensor to this L2 norm; or None.
      clipvalue: > 0: clip each gradient element to ``[-clipvalue,
        clipvalue]``; or None.
      global_clipnorm: > 0: clip all gradients to this joint L2 norm; or
        None. At most one of the three clips.
      use_ema: keep the weights' moving average (``KerasState.average``).
      ema_momentum: its rate, in [0, 1]. Default 0.99.
      ema_overwrite_frequency: int >= 1: overwrite the weights with their
        average every this many updates (needs ``use_ema``); or None.
      loss_scale_factor: > 0: divide the gradients by it first; or None.
      gradient_accumulation_steps: int >= 2: update every this many calls,
        with the mean gradient; or None.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` (with ``weight_decay`` or
      ``use_ema``, ``update`` needs ``params``; with accumulation, EMA or a
      loss scale its state is a :class:`KerasState`).

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
    _check_flag("centered", centered)
    options = _keras_common.check_options(
        weight_decay=weight_decay,
        clipnorm=clipnorm,
        clipvalue=clipvalue,
        global_clipnorm=global_clipnorm,
        use_ema=use_ema,
        ema_momentum=ema_momentum,
        ema_overwrite_frequency=ema_overwrite_frequency,
        loss_scale_factor=loss_scale_factor,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
    _rms_inside(learning_rate, rho, momentum, epsilon, centered, 0.0, rule)
    return _keras_common.with_keras_options(
        lambda lr: _rms_inside(lr, rho, momentum, epsilon, centered, 0.0, rule),
        learning_rate,
        options,
    )


@_inputs.optimizer
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
) -> optax.GradientTransformationExtraArgs:
    r"""``keras.optimizers.Adagrad`` (Keras 3): eps inside the root, :math:`G_0=0.1`.

    .. math::
        G_t = G_{t-1} + g_t^2, \qquad
        w_t = w_{t-1} - \frac{\eta_t\, g_t}{\sqrt{G_t + \epsilon}},

    with :math:`G_0` = ``initial_accumulator_value``. Built as
    ``chain(accumulate_squares(initial_accumulator_value, epsilon),
    scale_by_learning_rate(learning_rate))``.

    Order of operations, per call of ``update`` (Keras's ``BaseOptimizer.apply``
    and the JAX backend's ``_backend_apply_gradients``): (1) ``g /
    loss_scale_factor``; (2) gradient accumulation: only every
    ``gradient_accumulation_steps``-th call updates, with the mean of the
    window's gradients (the other calls only add to the sum); (3) clipping
    (``clipnorm``, ``global_clipnorm`` or ``clipvalue``); (4) decoupled
    ``weight_decay``: ``w - w * weight_decay * lr_t``; (5) the update above;
    (6) on every call, the weights' moving average, and every
    ``ema_overwrite_frequency`` updates ``w <- average``.
    Schedules see every call (the raw counter).

    Args:
      learning_rate: :math:`\eta` >= 0, or an optax schedule. Default 0.001.
      initial_accumulator_value: :math:`G_0` >= 0. Default 0.1.
      epsilon: :math:`\epsilon` >= 0. Default 1e-7.
      weight_decay: :math:`\lambda` >= 0, decoupled, or None (default).
      clipnorm: > 0: clip each gradient tensor to this L2 norm; or None.
      clipvalue: > 0: clip each gradient element to ``[-clipvalue,
        clipvalue]``; or None.
      global_clipnorm: > 0: clip all gradients to this joint L2 norm; or
        None. At most one of the three clips.
      use_ema: keep the weights' moving average (``KerasState.average``).
      ema_momentum: its rate, in [0, 1]. Default 0.99.
      ema_overwrite_frequency: int >= 1: overwrite the weights with their
        average every this many updates (needs ``use_ema``); or None.
      loss_scale_factor: > 0: divide the gradients by it first; or None.
      gradient_accumulation_steps: int >= 2: update every this many calls,
        with the mean gradient; or None.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` (with ``weight_decay`` or
      ``use_ema``, ``update`` needs ``params``; with accumulation, EMA or a
      loss scale its state is a :class:`KerasState`).

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
    _check_nonnegative(
        "keras.optimizers.Adagrad does not check it",
        learning_rate=learning_rate,
        initial_accumulator_value=initial_accumulator_value,
        epsilon=epsilon,
    )
    options = _keras_common.check_options(
        weight_decay=weight_decay,
        clipnorm=clipnorm,
        clipvalue=clipvalue,
        global_clipnorm=global_clipnorm,
        use_ema=use_ema,
        ema_momentum=ema_momentum,
        ema_overwrite_frequency=ema_overwrite_frequency,
        loss_scale_factor=loss_scale_factor,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
    return _keras_common.with_keras_options(
        lambda lr: optax.chain(
            transforms.accumulate_squares(initial_accumulator_value, epsilon),
            scale_by_learning_rate(lr),
        ),
        learning_rate,
        options,
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


@_inputs.optimizer
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

    Order of operations, per call of ``update`` (Keras's ``BaseOptimizer.apply``
    and the JAX backend's ``_backend_apply_gradients``): (1) ``g /
    loss_scale_factor``; (2) gradient accumulation: only every
    ``gradient_accumulation_steps``-th call updates, with the mean of the
    window's gradients (the other calls only add to the sum); (3) clipping
    (``clipnorm``, ``global_clipnorm`` or ``clipvalue``); (4) decoupled
    ``weight_decay``: ``w - w * weight_decay * lr_t``; (5) the update above;
    (6) on every call, the weights' moving average, and every
    ``ema_overwrite_frequency`` updates ``w <- average``.
    Schedules see every call (the raw counter); :math:`t` counts updates.

    Args:
      learning_rate: :math:`\eta` >= 0, or an optax schedule. Default 0.001.
      beta_1: :math:`\beta_1` in [0, 1). Default 0.9.
      beta_2: :math:`\beta_2` in [0, 1). Default 0.999.
      epsilon: :math:`\epsilon` >= 0. Default 1e-7.
      amsgrad: divide by the running maximum of :math:`v_t`.
      weight_decay: :math:`\lambda` >= 0, decoupled, or None (default).
      clipnorm: > 0: clip each gradient tensor to this L2 norm; or None.
      clipvalue: > 0: clip each gradient element to ``[-clipvalue,
        clipvalue]``; or None.
      global_clipnorm: > 0: clip all gradients to this joint L2 norm; or
        None. At most one of the three clips.
      use_ema: keep the weights' moving average (``KerasState.average``).
      ema_momentum: its rate, in [0, 1]. Default 0.99.
      ema_overwrite_frequency: int >= 1: overwrite the weights with their
        average every this many updates (needs ``use_ema``); or None.
      loss_scale_factor: > 0: divide the gradients by it first; or None.
      gradient_accumulation_steps: int >= 2: update every this many calls,
        with the mean gradient; or None.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` (with ``weight_decay`` or
      ``use_ema``, ``update`` needs ``params``; with accumulation, EMA or a
      loss scale its state is a :class:`KerasState`).

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
    _check_nonnegative(
        "keras.optimizers.Adam does not check it",
        learning_rate=learning_rate,
        epsilon=epsilon,
    )
    why = " (keras.optimizers.Adam divides by 1 - beta**t)"
    _checks.check_range("beta_1", beta_1, 0.0, 1.0, hi_open=True, why=why)
    _checks.check_range("beta_2", beta_2, 0.0, 1.0, hi_open=True, why=why)
    _check_flag("amsgrad", amsgrad)
    options = _keras_common.check_options(
        weight_decay=weight_decay,
        clipnorm=clipnorm,
        clipvalue=clipvalue,
        global_clipnorm=global_clipnorm,
        use_ema=use_ema,
        ema_momentum=ema_momentum,
        ema_overwrite_frequency=ema_overwrite_frequency,
        loss_scale_factor=loss_scale_factor,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )

    def update_step(lr):
        first = transforms.momentum(beta_1, dampening=beta_1)
        if amsgrad:
            core = precondition_by_max_rms(
                first, beta_2, epsilon, bias_correction=False
            )
        else:
            core = transforms.precondition_by_rms(
                first, beta_2, epsilon, eps_in_sqrt=False, bias_correction=False
            )
        alpha = _keras_adam_step_size(lr, beta_1, beta_2)
        return optax.chain(core, scale_by_learning_rate(alpha))

    return _keras_common.with_keras_options(update_step, learning_rate, options)


@_inputs.optimizer
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

    Order of operations, per call of ``update`` (Keras's ``BaseOptimizer.apply``
    and the JAX backend's ``_backend_apply_gradients``): (1) ``g /
    loss_scale_factor``; (2) gradient accumulation: only every
    ``gradient_accumulation_steps``-th call updates, with the mean of the
    window's gradients (the other calls only add to the sum); (3) clipping
    (``clipnorm``, ``global_clipnorm`` or ``clipvalue``); (4) decoupled
    ``weight_decay``: ``w - w * weight_decay * lr_t``; (5) the update above;
    (6) on every call, the weights' moving average, and every
    ``ema_overwrite_frequency`` updates ``w <- average``.
    Schedules see every call (the raw counter).

    Args:
      learning_rate: :math:`\eta` >= 0, or an optax schedule. Default 0.01.
      momentum: :math:`\mu` in [0, 1] (Keras's rule). Default 0.
      nesterov: the Nesterov form.
      weight_decay: :math:`\lambda` >= 0, decoupled, or None (default).
      clipnorm: > 0: clip each gradient tensor to this L2 norm; or None.
      clipvalue: > 0: clip each gradient element to ``[-clipvalue,
        clipvalue]``; or None.
      global_clipnorm: > 0: clip all gradients to this joint L2 norm; or
        None. At most one of the three clips.
      use_ema: keep the weights' moving average (``KerasState.average``).
      ema_momentum: its rate, in [0, 1]. Default 0.99.
      ema_overwrite_frequency: int >= 1: overwrite the weights with their
        average every this many updates (needs ``use_ema``); or None.
      loss_scale_factor: > 0: divide the gradients by it first; or None.
      gradient_accumulation_steps: int >= 2: update every this many calls,
        with the mean gradient; or None.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` (with ``weight_decay`` or
      ``use_ema``, ``update`` needs ``params``; with accumulation, EMA or a
      loss scale its state is a :class:`KerasState`).

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
    _check_nonnegative("keras.optimizers.SGD requires it", learning_rate=learning_rate)
    _check_unit("keras.optimizers.SGD's rule", momentum=momentum)
    _check_flag("nesterov", nesterov)
    options = _keras_common.check_options(
        weight_decay=weight_decay,
        clipnorm=clipnorm,
        clipvalue=clipvalue,
        global_clipnorm=global_clipnorm,
        use_ema=use_ema,
        ema_momentum=ema_momentum,
        ema_overwrite_frequency=ema_overwrite_frequency,
        loss_scale_factor=loss_scale_factor,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
    return _keras_common.with_keras_options(
        lambda lr: optax.chain(
            scale_by_learning_rate(lr),
            transforms.momentum(momentum, nesterov=nesterov),
        ),
        learning_rate,
        options,
    )


@_inputs.optimizer
def tf1_rmsprop(
    learning_rate: optax.ScalarOrSchedule,
    decay: ArrayLike = 0.9,
    momentum: ArrayLike = 0.0,
    epsilon: ArrayLike = 1e-10,
    centered: bool = False,
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
    return _rms_inside(learning_rate, decay, momentum, epsilon, centered, 1.0, rule)


from rmsprop_jax._preset_convert import from_keras, from_torch  # noqa: E402
