"""The PyTorch presets: ``torch.optim`` optimizers, operation for operation.

Each preset takes ``torch.optim``'s keyword names and defaults, torch's
``maximize`` among them, and validates by torch's rules (stricter where torch
accepts values that diverge); see :mod:`rmsprop_jax.presets` for the table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _inputs, transforms
from rmsprop_jax._learning_rate import decayed_lr, scale_by_learning_rate
from rmsprop_jax._weight_decay import add_decayed_weights
from rmsprop_jax.presets import _rules
from rmsprop_jax.transforms.max_rms import precondition_by_max_rms

# How torch's Adam and AdamW states are read: eps outside the corrected root.
_TORCH_ADAM = dict(
    learning_rate="lr",
    eps="eps",
    eps_placement="outside",
    decay="betas[1]",
    bias_correction=True,
)

# Why ``momentum`` <= 1 although torch accepts more.
_HEAVY_BALL = "torch accepts > 1, where the heavy ball diverges"


@_inputs.optimizer(
    learning_rate="lr",
    eps="eps",
    eps_placement="outside",
    decay="alpha",
    centered=_inputs.flag("centered"),
)
def torch_rmsprop(
    lr: optax.ScalarOrSchedule = 0.01,
    alpha: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    momentum: ArrayLike = 0.0,
    centered: bool = False,
    *,
    maximize: bool = False,
    state_dtype: Any | None = None,
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
      {{state_dtype_preset}}

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
    _rules.check_nonnegative(
        rule, lr=lr, eps=eps, weight_decay=weight_decay, momentum=momentum
    )
    _rules.check_nonnegative(rule, alpha=alpha)
    _rules.check_unit(
        "an EMA rate; torch accepts > 1, where s can turn negative", alpha=alpha
    )
    _rules.check_unit(_HEAVY_BALL, momentum=momentum)
    return optax.chain(
        *_rules.negate(maximize),
        add_decayed_weights(weight_decay),
        transforms.scale_by_rms(
            alpha,
            eps,
            eps_in_sqrt=False,
            centered=centered,
            state_dtype=state_dtype,
        ),
        transforms.momentum(momentum, state_dtype=state_dtype),
        scale_by_learning_rate(lr),
    )


@_inputs.optimizer()
def torch_rprop(
    lr: optax.ScalarOrSchedule = 0.01,
    etas: tuple[ArrayLike, ArrayLike] = (0.5, 1.2),
    step_sizes: tuple[ArrayLike, ArrayLike] = (1e-6, 50.0),
    *,
    maximize: bool = False,
    state_dtype: Any | None = None,
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
       attached to ``Rprop`` changes nothing. A schedule given as ``lr`` would
       be used the same way (its later values ignored), so it raises TypeError,
       as :func:`rmsprop_jax.rprop`'s ``learning_rate`` does: pass
       ``lr=schedule(0)`` to start from its first value.

    Args:
      lr: the initial step size :math:`\Delta_0` >= 0, a number (not a
        schedule). Default 0.01.
      etas: :math:`(\eta^-, \eta^+)` with :math:`0 < \eta^- < 1 < \eta^+`.
        Default (0.5, 1.2).
      step_sizes: :math:`(\Delta_{\min}, \Delta_{\max})`. Default (1e-6, 50).
      maximize: ascend: the gradient is negated first.
      {{state_dtype_preset}}

    Returns:
      An ``optax.GradientTransformationExtraArgs``.

    Raises:
      TypeError: ``lr`` is a schedule (read once, see above).
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
    eta_minus, eta_plus = _rules.pair("etas", etas)
    min_step, max_step = _rules.pair("step_sizes", step_sizes)
    _checks.check_not_schedule(
        "lr", lr, "torch.optim.Rprop's initial step size (torch reads it once)"
    )
    _rules.check_nonnegative("torch.optim.Rprop requires >= 0", lr=lr)
    why = " (torch.optim.Rprop requires 0 < etas[0] < 1 < etas[1])"
    _checks.check_range("etas[0]", eta_minus, 0, 1, lo_open=True, hi_open=True, why=why)
    _checks.check_range("etas[1]", eta_plus, 1, lo_open=True, why=why)
    why = " (a step size of 0 could never grow again)"
    _checks.check_range("step_sizes[0]", min_step, 0, lo_open=True, why=why)
    _checks.check_ordered("step_sizes[0]", min_step, "step_sizes[1]", max_step)
    return optax.chain(
        *_rules.negate(maximize),
        transforms.scale_by_rprop(
            lr,
            eta_minus,
            eta_plus,
            min_step,
            max_step,
            variant="irprop-",
            state_dtype=state_dtype,
        ),
        optax.scale(-1.0),
    )


@_inputs.optimizer(
    learning_rate="lr",
    eps="eps",
    eps_placement="outside",
    learning_rate_decay="lr_decay",
)
def torch_adagrad(
    lr: optax.ScalarOrSchedule = 0.01,
    lr_decay: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    initial_accumulator_value: ArrayLike = 0.0,
    eps: ArrayLike = 1e-10,
    *,
    maximize: bool = False,
    state_dtype: Any | None = None,
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
      {{state_dtype_preset}}

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
    _rules.check_nonnegative(
        "torch.optim.Adagrad requires >= 0",
        lr=lr,
        lr_decay=lr_decay,
        weight_decay=weight_decay,
        initial_accumulator_value=initial_accumulator_value,
        eps=eps,
    )
    return optax.chain(
        *_rules.negate(maximize),
        add_decayed_weights(weight_decay),
        transforms.accumulate_squares(
            initial_accumulator_value, eps, eps_in_sqrt=False, state_dtype=state_dtype
        ),
        scale_by_learning_rate(decayed_lr(lr, lr_decay)),
    )


@_inputs.optimizer(learning_rate="lr")
def torch_sgd(
    lr: optax.ScalarOrSchedule = 0.001,
    momentum: ArrayLike = 0.0,
    dampening: ArrayLike = 0.0,
    weight_decay: ArrayLike = 0.0,
    nesterov: bool = False,
    *,
    maximize: bool = False,
    state_dtype: Any | None = None,
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
      {{state_dtype_preset}}

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
    _rules.check_nonnegative(
        "torch.optim.SGD requires >= 0",
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
    )
    _rules.check_unit(_HEAVY_BALL, momentum=momentum)
    _rules.check_unit("torch does not check it", dampening=dampening)
    _check_nesterov(nesterov, momentum, dampening)
    return optax.chain(
        *_rules.negate(maximize),
        add_decayed_weights(weight_decay),
        transforms.momentum(
            momentum,
            nesterov=nesterov,
            dampening=dampening * (momentum != 0),
            undamped_first_step=True,
            state_dtype=state_dtype,
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
    b1: ArrayLike, b2: ArrayLike, eps: ArrayLike, amsgrad: bool, state_dtype: Any
) -> optax.GradientTransformationExtraArgs:
    """torch's bias-corrected Adam direction ``m_hat / (sqrt(v_hat) + eps)``."""
    _rules.check_flag("amsgrad", amsgrad)
    first = transforms.momentum(b1, dampening=b1, state_dtype=state_dtype)
    if amsgrad:
        return precondition_by_max_rms(
            first,
            b2,
            eps,
            bias_correction=True,
            inner_decay=b1,
            state_dtype=state_dtype,
        )
    return transforms.precondition_by_rms(
        first, b2, eps, eps_in_sqrt=False, inner_decay=b1, state_dtype=state_dtype
    )


def _check_torch_adam(
    rule: str, lr: Any, betas: Any, eps: Any, weight_decay: Any
) -> tuple[Any, Any]:
    b1, b2 = _rules.pair("betas", betas)
    _rules.check_nonnegative(
        rule + " requires >= 0", lr=lr, eps=eps, weight_decay=weight_decay
    )
    why = f" ({rule} requires 0 <= beta < 1)"
    _checks.check_range("betas[0]", b1, 0.0, 1.0, hi_open=True, why=why)
    _checks.check_range("betas[1]", b2, 0.0, 1.0, hi_open=True, why=why)
    return b1, b2


@_inputs.optimizer(**_TORCH_ADAM)
def torch_adam(
    lr: optax.ScalarOrSchedule = 1e-3,
    betas: tuple[ArrayLike, ArrayLike] = (0.9, 0.999),
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
    state_dtype: Any | None = None,
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
      {{state_dtype_preset}}

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``params``.

    Raises:
      {{torch_adam_raises}}

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
        *_rules.negate(maximize),
        add_decayed_weights(weight_decay),
        _adam_core(b1, b2, eps, amsgrad, state_dtype),
        scale_by_learning_rate(lr),
    )


@_inputs.optimizer(**_TORCH_ADAM)
def torch_adamw(
    lr: optax.ScalarOrSchedule = 1e-3,
    betas: tuple[ArrayLike, ArrayLike] = (0.9, 0.999),
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 1e-2,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
    state_dtype: Any | None = None,
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
      {{state_dtype_preset}}

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``params``.

    Raises:
      {{torch_adam_raises}}

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
        *_rules.negate(maximize),
        _adam_core(b1, b2, eps, amsgrad, state_dtype),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(lr),
    )


@_inputs.optimizer(learning_rate="lr", eps="eps", eps_placement="inside", decay="rho")
def torch_adadelta(
    lr: optax.ScalarOrSchedule = 1.0,
    rho: ArrayLike = 0.9,
    eps: ArrayLike = 1e-6,
    weight_decay: ArrayLike = 0.0,
    *,
    maximize: bool = False,
    state_dtype: Any | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""``torch.optim.Adadelta``: Zeiler's rule, then the learning rate.

    .. math::
        g_t &\leftarrow g_t + \lambda w_{t-1}, \qquad
        v_t = \rho v_{t-1} + (1-\rho) g_t^2, \\
        \Delta_t &= \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\,
        g_t, \qquad u_t = \rho u_{t-1} + (1-\rho) \Delta_t^2, \qquad
        w_t = w_{t-1} - \eta_t \Delta_t,

    with :math:`v_0 = u_0 = 0` (``maximize`` first negates :math:`g_t`): the
    accumulated update :math:`u` is of :math:`\Delta` *before* the learning
    rate. Built as ``chain([scale(-1)], add_decayed_weights(weight_decay),
    scale_by_adadelta(rho, eps), scale_by_learning_rate(lr))``.

    Args:
      lr: :math:`\eta` >= 0, or an optax schedule. Default 1.0.
      rho: :math:`\rho` in [0, 1]. Default 0.9.
      eps: :math:`\epsilon` >= 0, inside both roots. Default 1e-6.
      weight_decay: :math:`\lambda` >= 0, coupled L2 added to the gradient.
      maximize: ascend: the gradient is negated first, before weight decay.
      {{state_dtype_preset}}

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``params``.

    Raises:
      ValueError: torch's rules (``lr``, ``eps``, ``weight_decay`` >= 0,
        ``rho`` in [0, 1]).

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import presets
      >>> tx = presets.torch_adadelta()
      >>> w = jnp.array([1.0, -2.0])
      >>> updates, _ = tx.update(jnp.array([1.0, -2.0]), tx.init(w), w)
      >>> print(updates.round(6))  # -sqrt(eps) g / sqrt(0.1 g^2 + eps)
      [-0.003162  0.003162]

    References:
      PyTorch, ``torch/optim/adadelta.py`` (``_single_tensor_adadelta``).
    """
    _rules.check_nonnegative(
        "torch.optim.Adadelta requires >= 0", lr=lr, eps=eps, weight_decay=weight_decay
    )
    _rules.check_unit("torch.optim.Adadelta's rule", rho=rho)
    return optax.chain(
        *_rules.negate(maximize),
        add_decayed_weights(weight_decay),
        transforms.scale_by_adadelta(rho, eps, state_dtype=state_dtype),
        scale_by_learning_rate(lr),
    )
