"""The optimizers the explorer offers, and how the page's controls map to them.

One factory, :func:`make_optimizer`, builds each of them from the library with
the page's shared hyperparameters: ``learning_rate`` (:math:`\\eta` of the
sign-like and adaptive methods, Rprop's initial step :math:`\\Delta_0`),
``sgd_learning_rate`` (:math:`\\eta` of gradient descent with and without
momentum, whose step scales with the gradient), ``decay`` (:math:`\\beta`, Adam's
:math:`\\beta_2`), ``eps``, ``momentum`` (Adam's :math:`\\beta_1`) and
``eps_in_sqrt`` (RMSprop's family only). The optimizer's name is a static
switch; every number stays a traced array.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import optax

import rmsprop_jax as rj


class Spec(NamedTuple):
    """One optimizer of the page."""

    label: str  # legend and checklist label
    uses: tuple[str, ...]  # the controls it reads
    colour: str  # base colour of its path (hex)


OPTIMIZERS: dict[str, Spec] = {
    "sgd": Spec("SGD", ("sgd_learning_rate",), "#1f77b4"),
    "momentum": Spec("momentum", ("sgd_learning_rate", "momentum"), "#17becf"),
    "nesterov": Spec("Nesterov", ("sgd_learning_rate", "momentum"), "#b15928"),
    "rmsprop": Spec(
        "RMSprop", ("learning_rate", "decay", "eps", "eps_in_sqrt"), "#d62728"
    ),
    "centered": Spec(
        "centered RMSprop", ("learning_rate", "decay", "eps", "eps_in_sqrt"), "#e377c2"
    ),
    "rmsprop-momentum": Spec(
        "RMSprop + momentum",
        ("learning_rate", "decay", "eps", "momentum", "eps_in_sqrt"),
        "#ff7f0e",
    ),
    "adagrad": Spec("Adagrad", ("learning_rate", "eps"), "#2ca02c"),
    "adam": Spec("Adam", ("learning_rate", "momentum", "decay", "eps"), "#6a3d9a"),
    "sign": Spec("sign descent", ("learning_rate",), "#636363"),
    "rprop+": Spec("Rprop+", ("learning_rate",), "#e6ab02"),
    "rprop-": Spec("Rprop-", ("learning_rate",), "#a6761d"),
    "irprop+": Spec("iRprop+", ("learning_rate",), "#1b9e77"),
    "irprop-": Spec("iRprop-", ("learning_rate",), "#66a61e"),
}
"""Every optimizer of the page, by the key used in URLs and the checklist."""

SWEEPABLE: tuple[str, ...] = ("rmsprop", "centered", "rmsprop-momentum", "adam")
"""The optimizers with both a learning rate and a decay: the (beta, eta) sweep's."""


def arguments(
    optimizer: str,
    learning_rate: Any,
    sgd_learning_rate: Any,
    decay: Any,
    eps: Any,
    momentum: Any,
    eps_in_sqrt: bool = True,
) -> tuple[str, dict[str, Any]]:
    """The library function that builds ``optimizer`` and its keyword arguments.

    Raises:
      ValueError: an unknown ``optimizer``.

    Examples:
      >>> arguments("adam", 0.1, 0.001, 0.99, 1e-8, 0.9)
      ('adam', {'learning_rate': 0.1, 'b1': 0.9, 'b2': 0.99, 'eps': 1e-08})
    """
    lr, sgd_lr = learning_rate, sgd_learning_rate
    if optimizer == "sgd":
        return "sgd", {"learning_rate": sgd_lr}
    if optimizer in ("momentum", "nesterov"):
        kwargs = {"learning_rate": sgd_lr, "momentum": momentum}
        return "sgd", kwargs | ({"nesterov": True} if optimizer == "nesterov" else {})
    if optimizer in ("rmsprop", "centered", "rmsprop-momentum"):
        kwargs = {"learning_rate": lr, "decay": decay, "eps": eps}
        if optimizer == "centered":
            kwargs["centered"] = True
        if optimizer == "rmsprop-momentum":
            kwargs["momentum"] = momentum
        return "rmsprop", kwargs | {"eps_in_sqrt": eps_in_sqrt}
    if optimizer == "adagrad":
        return "adagrad", {"learning_rate": lr, "eps": eps}
    if optimizer == "adam":
        return "adam", {"learning_rate": lr, "b1": momentum, "b2": decay, "eps": eps}
    if optimizer == "sign":
        return "sign_sgd", {"learning_rate": lr}
    if optimizer in ("rprop+", "rprop-", "irprop+", "irprop-"):
        return "rprop", {"learning_rate": lr, "variant": optimizer}
    raise ValueError(
        f"`optimizer` must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}."
    )


def make_optimizer(
    optimizer: str,
    learning_rate: Any,
    sgd_learning_rate: Any,
    decay: Any,
    eps: Any,
    momentum: Any,
    eps_in_sqrt: bool = True,
) -> optax.GradientTransformation:
    """Builds ``optimizer`` (a key of :data:`OPTIMIZERS`) with the page's values.

    Every numeric argument may be a traced array; ``optimizer`` and
    ``eps_in_sqrt`` are static.

    Raises:
      ValueError: an unknown ``optimizer``.

    Examples:
      >>> import jax.numpy as jnp
      >>> tx = make_optimizer("rmsprop", 0.05, 0.001, 0.9, 1e-8, 0.9)
      >>> u, _ = tx.update(jnp.array([-90.0, 400.0]), tx.init(jnp.zeros(2)))
      >>> print(u.round(4))  # eta sign(g) / sqrt(1 - beta) on the first step
      [ 0.1581 -0.1581]
    """
    name, kwargs = arguments(
        optimizer, learning_rate, sgd_learning_rate, decay, eps, momentum, eps_in_sqrt
    )
    return getattr(rj, name)(**kwargs)
