"""Every public factory, in each configuration that changes its state or its
arithmetic, for the tests that must hold for all of them (donation of a fresh
state, empty trees, meta-gradients).

Each entry builds a transformation from a learning rate ``lr`` and, where the
factory has one, an EMA decay ``decay`` (None: it has none), so that a test
can differentiate through either. ``value`` entries need the loss passed to
``update``. A factory added to the library without an entry here fails
:func:`tests.test_every_factory.test_catalog_covers_every_public_factory`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import optax

import rmsprop_jax as rj
from rmsprop_jax import presets


class Entry(NamedTuple):
    make: Callable[..., optax.GradientTransformation]  # make(lr, decay)
    lr: float
    decay: float | None  # None: no EMA decay to differentiate
    value: bool = False  # update(..., value=loss)


def _descent(primitive: optax.GradientTransformation) -> Any:
    """A primitive as a descent step, ``-lr * u`` (lr traced)."""
    return lambda lr: optax.chain(primitive, optax.scale(-lr))


OPTIMIZERS: dict[str, Entry] = {
    "rmsprop": Entry(lambda lr, d: rj.rmsprop(lr, d), 0.01, 0.9),
    "rmsprop_centered": Entry(
        lambda lr, d: rj.rmsprop(lr, d, centered=True, momentum=0.9), 0.01, 0.9
    ),
    "rmsprop_nesterov": Entry(
        lambda lr, d: rj.rmsprop(lr, d, momentum=0.5, nesterov=True), 0.01, 0.9
    ),
    "rmsprop_corrected": Entry(
        lambda lr, d: rj.rmsprop(lr, d, bias_correction=True, eps_in_sqrt=False),
        0.01,
        0.9,
    ),
    "rmsprop_initial_scale": Entry(
        lambda lr, d: rj.rmsprop(lr, d, initial_scale=0.1), 0.01, 0.9
    ),
    "rprop": Entry(lambda lr, d: rj.rprop(lr), 0.01, None),
    "rprop_plus": Entry(lambda lr, d: rj.rprop(lr, variant="rprop+"), 0.01, None),
    "rprop_minus": Entry(lambda lr, d: rj.rprop(lr, variant="rprop-"), 0.01, None),
    "irprop_plus": Entry(
        lambda lr, d: rj.rprop(lr, variant="irprop+"), 0.01, None, value=True
    ),
    "adagrad": Entry(lambda lr, d: rj.adagrad(lr, 0.1), 0.05, None),
    "sgd": Entry(lambda lr, d: rj.sgd(lr), 0.01, None),
    "sgd_momentum": Entry(lambda lr, d: rj.sgd(lr, d), 0.01, 0.9),
    "sgd_nesterov": Entry(lambda lr, d: rj.sgd(lr, d, nesterov=True), 0.01, 0.9),
    "sign_sgd": Entry(lambda lr, d: rj.sign_sgd(lr), 0.01, None),
    "adam": Entry(lambda lr, d: rj.adam(lr, b2=d), 0.01, 0.99),
    "adam_nesterov": Entry(lambda lr, d: rj.adam(lr, b1=d, nesterov=True), 0.01, 0.9),
    "adam_eps_root": Entry(lambda lr, d: rj.adam(lr, b2=d, eps_root=1e-8), 0.01, 0.99),
    "amsgrad": Entry(lambda lr, d: rj.amsgrad(lr, b2=d), 0.01, 0.99),
    "laprop": Entry(lambda lr, d: rj.laprop(lr, b2=d), 0.01, 0.99),
    "adadelta": Entry(lambda lr, d: rj.adadelta(lr, d, weight_decay=0.01), 1.0, 0.9),
}

PRIMITIVES: dict[str, Entry] = {
    "scale_by_rms": Entry(lambda lr, d: _descent(rj.scale_by_rms(d))(lr), 0.01, 0.9),
    "scale_by_rms_centered": Entry(
        lambda lr, d: _descent(rj.scale_by_rms(d, centered=True))(lr), 0.01, 0.9
    ),
    "precondition_by_rms": Entry(
        lambda lr, d: _descent(rj.precondition_by_rms(rj.momentum(0.9), d))(lr),
        0.01,
        0.99,
    ),
    "accumulate_squares": Entry(
        lambda lr, d: _descent(rj.accumulate_squares(0.1))(lr), 0.05, None
    ),
    "scale_by_sign": Entry(lambda lr, d: _descent(rj.scale_by_sign())(lr), 0.01, None),
    "momentum": Entry(lambda lr, d: _descent(rj.momentum(d))(lr), 0.01, 0.9),
    "momentum_corrected": Entry(
        lambda lr, d: _descent(rj.momentum(d, dampening=d, bias_correction=True))(lr),
        0.01,
        0.9,
    ),
    "scale_by_rprop": Entry(
        lambda lr, d: _descent(rj.scale_by_rprop(lr))(1.0), 0.01, None
    ),
    "scale_by_adadelta": Entry(
        lambda lr, d: _descent(rj.scale_by_adadelta(d))(lr), 1.0, 0.9
    ),
}

PRESETS: dict[str, Entry] = {
    "torch_rmsprop": Entry(lambda lr, d: presets.torch_rmsprop(lr, d), 0.01, 0.99),
    "torch_rmsprop_centered": Entry(
        lambda lr, d: presets.torch_rmsprop(
            lr, d, momentum=0.9, centered=True, weight_decay=0.01
        ),
        0.01,
        0.99,
    ),
    "torch_rprop": Entry(lambda lr, d: presets.torch_rprop(lr), 0.01, None),
    "torch_adagrad": Entry(
        lambda lr, d: presets.torch_adagrad(lr, lr_decay=0.01, weight_decay=0.01),
        0.05,
        None,
    ),
    "torch_sgd": Entry(
        lambda lr, d: presets.torch_sgd(lr, d, dampening=0.1, weight_decay=0.01),
        0.01,
        0.9,
    ),
    "torch_sgd_nesterov": Entry(
        lambda lr, d: presets.torch_sgd(lr, d, nesterov=True), 0.01, 0.9
    ),
    "torch_adam": Entry(lambda lr, d: presets.torch_adam(lr, (0.9, d)), 0.01, 0.99),
    "torch_adam_amsgrad": Entry(
        lambda lr, d: presets.torch_adam(lr, (0.9, d), amsgrad=True), 0.01, 0.99
    ),
    "torch_adamw": Entry(lambda lr, d: presets.torch_adamw(lr, (0.9, d)), 0.01, 0.99),
    "torch_adamw_amsgrad": Entry(
        lambda lr, d: presets.torch_adamw(lr, (0.9, d), amsgrad=True), 0.01, 0.99
    ),
    "torch_adadelta": Entry(
        lambda lr, d: presets.torch_adadelta(lr, d, weight_decay=0.01), 1.0, 0.9
    ),
    "keras_adadelta": Entry(
        lambda lr, d: presets.keras_adadelta(lr, d, clipnorm=1.0, use_ema=True),
        1.0,
        0.95,
    ),
    "keras_rmsprop": Entry(lambda lr, d: presets.keras_rmsprop(lr, d), 0.01, 0.9),
    "keras_rmsprop_centered": Entry(
        lambda lr, d: presets.keras_rmsprop(
            lr, d, momentum=0.9, centered=True, clipnorm=1.0
        ),
        0.01,
        0.9,
    ),
    "keras_adagrad": Entry(
        lambda lr, d: presets.keras_adagrad(lr, global_clipnorm=1.0), 0.05, None
    ),
    "keras_adam": Entry(lambda lr, d: presets.keras_adam(lr, beta_2=d), 0.01, 0.99),
    "keras_adam_amsgrad": Entry(
        lambda lr, d: presets.keras_adam(lr, beta_2=d, amsgrad=True), 0.01, 0.99
    ),
    "keras_adam_ema_accumulation": Entry(
        lambda lr, d: presets.keras_adam(
            lr,
            beta_2=d,
            use_ema=True,
            ema_overwrite_frequency=2,
            gradient_accumulation_steps=2,
            weight_decay=0.01,
            clipvalue=1.0,
            loss_scale_factor=2.0,
        ),
        0.01,
        0.99,
    ),
    "keras_sgd": Entry(
        lambda lr, d: presets.keras_sgd(lr, d, nesterov=True, use_ema=True), 0.01, 0.9
    ),
    "tf1_rmsprop": Entry(lambda lr, d: presets.tf1_rmsprop(lr, d), 0.01, 0.9),
    "tf1_rmsprop_centered": Entry(
        lambda lr, d: presets.tf1_rmsprop(lr, d, momentum=0.9, centered=True),
        0.01,
        0.9,
    ),
}

# Compositions a user builds from the library's transformations.
COMPOSITIONS: dict[str, Entry] = {
    "skip_nonfinite": Entry(
        lambda lr, d: rj.skip_nonfinite(rj.adam(lr, b2=d), max_consecutive=3),
        0.01,
        0.99,
    ),
    "skip_nonfinite_keras_ema": Entry(
        lambda lr, d: rj.skip_nonfinite(
            presets.keras_adam(lr, beta_2=d, use_ema=True, amsgrad=True)
        ),
        0.01,
        0.99,
    ),
    "chain_weight_decay": Entry(
        lambda lr, d: optax.chain(
            optax.add_decayed_weights(1e-3), rj.rmsprop(lr, d, centered=True)
        ),
        0.01,
        0.9,
    ),
    "multi_steps": Entry(
        lambda lr, d: optax.MultiSteps(rj.adam(lr, b2=d), every_k_schedule=2),
        0.01,
        0.99,
    ),
}

ALL: dict[str, Entry] = {**OPTIMIZERS, **PRIMITIVES, **PRESETS, **COMPOSITIONS}
