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
       momentum=0.0, centered=False, *, maximize=False, state_dtype=None)``
     - ``torch.optim.RMSprop``
     - outside √
     - multiplies the momentum buffer
     - coupled L2
     - s₀ = 0
   * - ``presets.torch_rprop(lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), *,
       maximize=False, state_dtype=None)``
     - ``torch.optim.Rprop`` (iRprop−)
     - –
     - initial step size, read once
     - –
     - Δ clipped from step 1
   * - ``presets.torch_adagrad(lr=0.01, lr_decay=0.0, weight_decay=0.0,
       initial_accumulator_value=0.0, eps=1e-10, *, maximize=False, state_dtype=None)``
     - ``torch.optim.Adagrad``
     - outside √
     - lr / (1 + (t−1)·lr_decay)
     - coupled L2
     - G₀ = initial_accumulator_value
   * - ``presets.torch_sgd(lr=0.001, momentum=0.0, dampening=0.0, weight_decay=0.0,
       nesterov=False, *, maximize=False, state_dtype=None)``
     - ``torch.optim.SGD``
     - –
     - multiplies the momentum buffer
     - coupled L2
     - buf₁ = g₁ (undamped)
   * - ``presets.torch_adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *,
       maximize=False, state_dtype=None)``
     - ``torch.optim.Adadelta``
     - inside both √
     - multiplies Δ (after its EMA)
     - coupled L2
     - v₀ = u₀ = 0
   * - ``presets.torch_adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
       amsgrad=False, *, maximize=False, state_dtype=None)``
     - ``torch.optim.Adam``
     - outside the bias-corrected √
     - lr / (1 − β₁ᵗ)
     - coupled L2
     - m₀ = v₀ = 0; AMSGrad: max of uncorrected v
   * - ``presets.torch_adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
       amsgrad=False, *, maximize=False, state_dtype=None)``
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
   * - ``presets.keras_adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7, *,
       <common>)``
     - ``keras.optimizers.Adadelta``
     - inside both √
     - multiplies Δ (after its EMA)
     - decoupled (``weight_decay``)
     - v₀ = u₀ = 0
   * - ``presets.tf1_rmsprop(learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10,
       centered=False, *, state_dtype=None)``
     - ``tf.compat.v1.train.RMSPropOptimizer``
     - inside √
     - enters the momentum buffer
     - –
     - **s₀ = 1**
   * - ``presets.from_torch(optimizer, *, state_dtype=None)``
     - a live ``torch.optim`` optimizer of the classes above (one setting for all param
       groups)
     - as the preset
     - the group's current ``lr``
     - as the preset
     - as the preset
   * - ``presets.from_keras(optimizer, class_name=None, *, state_dtype=None)``
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
``torch.optim``. Every preset and both converters also take ``state_dtype``
(keyword-only, this library's argument, no framework's): the storage of the
optimizer's float accumulators, as on the optimizers (None, a floating dtype
or ``"int8"``; ``docs/low_precision_states.md``); Keras's moving average of
the weights and its accumulated gradients keep the parameters' dtype.

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

The package keeps one module per framework: ``_torch`` (the ``torch_*``
presets), ``_keras`` (the ``keras_*`` presets and ``tf1_rmsprop``), with
Keras's common arguments documented, validated and applied once in
``_keras_common``; ``_convert`` holds :func:`from_torch` and
:func:`from_keras`, which read each preset's parameters from its signature;
``_rules`` the validation they share.
"""

from rmsprop_jax.presets._convert import from_keras, from_torch
from rmsprop_jax.presets._keras import (
    keras_adadelta,
    keras_adagrad,
    keras_adam,
    keras_rmsprop,
    keras_sgd,
    tf1_rmsprop,
)
from rmsprop_jax.presets._keras_common import KerasState
from rmsprop_jax.presets._torch import (
    torch_adadelta,
    torch_adagrad,
    torch_adam,
    torch_adamw,
    torch_rmsprop,
    torch_rprop,
    torch_sgd,
)

__all__ = [
    "KerasState",
    "from_keras",
    "from_torch",
    "keras_adadelta",
    "keras_adagrad",
    "keras_adam",
    "keras_rmsprop",
    "keras_sgd",
    "tf1_rmsprop",
    "torch_adadelta",
    "torch_adagrad",
    "torch_adam",
    "torch_adamw",
    "torch_rmsprop",
    "torch_rprop",
    "torch_sgd",
]
