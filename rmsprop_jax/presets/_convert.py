"""``presets.from_torch`` and ``presets.from_keras``: a preset from a live optimizer.

Neither imports its framework: they read what the optimizer object holds
(``torch.optim.Optimizer.param_groups``; a Keras optimizer's ``get_config()``).
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax.numpy as jnp
import optax

from rmsprop_jax import _docstrings
from rmsprop_jax.presets import _keras, _keras_common, _torch

# torch.optim class -> the preset that reproduces it; the group keys each
# preset takes are its parameters (read with inspect, never repeated here).
_TORCH: dict[str, Callable[..., optax.GradientTransformationExtraArgs]] = {
    "RMSprop": _torch.torch_rmsprop,
    "Rprop": _torch.torch_rprop,
    "Adagrad": _torch.torch_adagrad,
    "SGD": _torch.torch_sgd,
    "Adam": _torch.torch_adam,
    "AdamW": _torch.torch_adamw,
    "Adadelta": _torch.torch_adadelta,
}
# Group keys that choose an implementation (or bookkeeping), not the arithmetic.
_TORCH_IGNORED = frozenset(
    {
        "params",
        "param_names",
        "initial_lr",  # lr_scheduler's marks (the scheduler is not converted)
        "max_lr",
        "min_lr",
        "base_momentum",
        "max_momentum",
        "foreach",
        "fused",
        "capturable",
        "differentiable",
        "decoupled_weight_decay",
    }
)


def _unknown(kind: str, keys: Iterable[str], known: Iterable[str]) -> str:
    """``kind`` key(s) [...] (did you mean ...?)."""
    keys, known = sorted(keys), sorted(known)
    hints = {k: difflib.get_close_matches(k, known, n=1) for k in keys}
    close = [f"{k!r} -> {m[0]!r}" for k, m in hints.items() if m]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"{kind} key(s) {keys}{hint}; it takes {', '.join(known)}."


def _plain(value: Any) -> Any:
    """A torch scalar tensor as a float; tuples element-wise."""
    if isinstance(value, tuple | list):
        return tuple(_plain(v) for v in value)
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    return value


def _hyperparameters(group: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in group.items() if k not in _TORCH_IGNORED}


def _scheduled(optimizer: Any) -> bool:
    """Whether a ``torch.optim.lr_scheduler`` was attached to ``optimizer``:
    ``LRScheduler.__init__`` wraps ``optimizer.step`` (the wrapper carries
    ``_wrapped_by_lr_sched``) and adds ``initial_lr`` to every param group."""
    return hasattr(getattr(optimizer, "step", None), "_wrapped_by_lr_sched") or any(
        "initial_lr" in group for group in optimizer.param_groups
    )


@_docstrings.rendered
def from_torch(
    optimizer: Any, *, state_dtype: Any | None = None
) -> optax.GradientTransformationExtraArgs:
    r"""The preset equivalent to a ``torch.optim`` optimizer, from its param groups.

    Reads the hyperparameters of ``optimizer.param_groups`` (the current
    ``lr``, which an attached ``lr_scheduler`` may have changed; never the
    optimizer's state) and calls the matching preset:
    ``RMSprop``, ``Rprop``, ``Adagrad``, ``SGD``, ``Adam`` (``torch_adamw``
    when ``decoupled_weight_decay=True``), ``AdamW`` and ``Adadelta``. Keys
    that choose an implementation (``foreach``, ``fused``, ``capturable``,
    ``differentiable``) change no value and are ignored.

    Args:
      optimizer: a ``torch.optim`` optimizer of one of the classes above.
      state_dtype:
        {{state_dtype_converter}}

    Returns:
      The preset, as ``presets.torch_*(**hyperparameters)`` would build it.

    An attached ``torch.optim.lr_scheduler`` (recognised by the marks its
    constructor leaves: the wrapped ``optimizer.step`` and the param groups'
    ``initial_lr``) is not converted: the preset gets the current ``lr`` as a
    constant, with a ``UserWarning`` pointing to the scheduler -> optax
    schedule table of ``docs/porting.md`` (pass the schedule as ``lr=``).

    Raises:
      TypeError: ``optimizer`` is not one of these ``torch.optim`` classes.
      ValueError: several param groups with different hyperparameters (one
        preset per group, combined with ``optax.multi_transform``, is the
        equivalent), or a group key no preset knows.

    Examples:
      >>> import torch
      >>> from rmsprop_jax import presets
      >>> w = torch.zeros(3, requires_grad=True)
      >>> opt = torch.optim.AdamW([w], lr=0.01, weight_decay=0.1)
      >>> tx = presets.from_torch(opt)  # == presets.torch_adamw(lr=0.01, ...)
    """
    cls = type(optimizer)
    name = cls.__name__
    if not cls.__module__.startswith("torch.optim") or name not in _TORCH:
        raise TypeError(
            "from_torch takes a torch.optim optimizer of the classes "
            f"{', '.join(sorted(_TORCH))}; got {cls.__module__}.{name}."
        )
    groups = [_hyperparameters(g) for g in optimizer.param_groups]
    first = groups[0]
    for index, group in enumerate(groups[1:], start=1):
        if group != first:
            differing = sorted(
                k for k in first.keys() | group.keys() if first.get(k) != group.get(k)
            )
            diffs = ", ".join(
                f"{k}: {first.get(k)!r} vs {group.get(k)!r}" for k in differing
            )
            raise ValueError(
                f"The {name} optimizer has {len(groups)} param groups and group "
                f"{index} differs from group 0 ({diffs}). One transformation "
                "cannot hold several settings: build one preset per group and "
                "combine them with optax.multi_transform({label: preset, ...}, "
                "param_labels)."
            )
    decoupled = bool(optimizer.param_groups[0].get("decoupled_weight_decay", False))
    preset = _TORCH["AdamW" if name == "Adam" and decoupled else name]
    keys = [k for k in inspect.signature(preset).parameters if k != "state_dtype"]
    unknown = set(first) - set(keys)
    if unknown:
        raise ValueError(
            f"from_torch maps {name} to {preset.__name__}, which does not know the "
            + _unknown("param-group", unknown, keys)
        )
    if _scheduled(optimizer):
        lr = first.get("lr")
        warnings.warn(
            f"from_torch reads the {name} optimizer's current lr ({lr!r}) only; "
            "the torch.optim.lr_scheduler attached to it is not converted, so "
            "the preset keeps that lr constant. Convert the scheduler to an "
            "optax schedule (table in docs/porting.md, 'Learning rates and "
            "schedules': e.g. StepLR(opt, s, g) -> optax.exponential_decay(lr, "
            f"s, g, staircase=True)) and pass it: presets.{preset.__name__}("
            "lr=schedule, ...).",
            UserWarning,
            stacklevel=2,
        )
    return preset(**first, state_dtype=state_dtype)


# Keras class -> the preset that reproduces it (its parameters are the config
# keys it takes).
_KERAS: dict[str, Callable[..., optax.GradientTransformationExtraArgs]] = {
    "RMSprop": _keras.keras_rmsprop,
    "Adagrad": _keras.keras_adagrad,
    "Adam": _keras.keras_adam,
    "SGD": _keras.keras_sgd,
    "Adadelta": _keras.keras_adadelta,
}


def _keras_schedule(config: Mapping[str, Any]) -> Callable[[Any], Any]:
    """The optax schedule computing a serialized Keras schedule's values.

    Keras casts the step to the learning rate's float dtype first; optax's
    schedules divide the count as given, and an int32 count (as optax states
    keep it) gives float32 arithmetic even under ``jax_enable_x64``: 1e-8
    relative off a float64 Keras run. The count is cast to the default float
    dtype before the optax schedule sees it.
    """
    schedule = _optax_schedule(config)

    def at_float_count(count):
        return schedule(jnp.asarray(count, dtype=float))

    return at_float_count


def _optax_schedule(config: Mapping[str, Any]) -> Callable[[Any], Any]:
    name = config.get("class_name")
    c = dict(config.get("config", {}))
    if name == "ExponentialDecay" and c["decay_rate"] != 0:
        return optax.exponential_decay(
            c["initial_learning_rate"],
            c["decay_steps"],
            c["decay_rate"],
            staircase=c["staircase"],
        )
    if name == "PolynomialDecay" and not c["cycle"]:
        return optax.polynomial_schedule(
            c["initial_learning_rate"],
            c["end_learning_rate"],
            c["power"],
            c["decay_steps"],
        )
    if name == "CosineDecay":
        cosine = optax.cosine_decay_schedule(
            c["initial_learning_rate"]
            if c.get("warmup_target") is None
            else c["warmup_target"],
            c["decay_steps"],
            c["alpha"],
        )
        if c.get("warmup_target") is None:
            return cosine
        warmup = optax.linear_schedule(
            c["initial_learning_rate"], c["warmup_target"], c["warmup_steps"]
        )
        return optax.join_schedules([warmup, cosine], [c["warmup_steps"]])
    raise ValueError(
        f"No optax schedule computes the Keras learning-rate schedule {name!r} "
        f"with {c} the same way (from_keras maps ExponentialDecay with "
        "decay_rate != 0, PolynomialDecay with cycle=False and CosineDecay). "
        "Write it as a function of the step count (0 at the first update) and "
        "pass it as `learning_rate` to the preset."
    )


@_docstrings.rendered
def from_keras(
    optimizer: Any, class_name: str | None = None, *, state_dtype: Any | None = None
) -> optax.GradientTransformationExtraArgs:
    r"""The preset equivalent to a Keras 3 optimizer, from its ``get_config()``.

    Supports ``RMSprop``, ``Adagrad``, ``Adam``, ``SGD`` and ``Adadelta`` with
    every common argument, and learning-rate schedules where optax has one that computes
    the same values: ``ExponentialDecay`` (``optax.exponential_decay``),
    ``PolynomialDecay`` without ``cycle`` (``optax.polynomial_schedule``) and
    ``CosineDecay`` (``optax.cosine_decay_schedule``, joined to
    ``optax.linear_schedule`` for a warmup). A clip <= 0 and an
    ``ema_overwrite_frequency`` without ``use_ema``, which Keras ignores, are
    dropped. Keras keeps a float learning rate in a ``floatx`` variable: the
    preset gets that (rounded) value, as Keras uses it.

    Args:
      optimizer: a Keras optimizer, the dict of ``keras.optimizers.serialize``
        (with ``class_name`` and ``config``), or the dict of its
        ``get_config()`` together with ``class_name``.
      class_name: the Keras class (``"Adam"``, ...) for a bare config dict.
      state_dtype:
        {{state_dtype_converter}}

    Returns:
      The preset, as ``presets.keras_*(**config)`` would build it.

    Raises:
      TypeError: an optimizer or class this function does not map (for
        example ``LossScaleOptimizer``, or a config dict without a class).
      ValueError: a learning-rate schedule without an optax equivalent, or
        a config key no preset knows.

    Examples:
      >>> from rmsprop_jax import presets
      >>> config = {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True}
      >>> tx = presets.from_keras(config, class_name="SGD")
    """
    if isinstance(optimizer, Mapping):
        if "config" in optimizer and "class_name" in optimizer:
            class_name, config = optimizer["class_name"], dict(optimizer["config"])
        else:
            config = dict(optimizer)
    else:
        if not hasattr(optimizer, "get_config"):
            raise TypeError(
                f"from_keras takes a Keras optimizer or its config, got {optimizer!r}."
            )
        class_name, config = type(optimizer).__name__, dict(optimizer.get_config())
    if class_name not in _KERAS:
        raise TypeError(
            "from_keras maps the Keras optimizers "
            f"{', '.join(sorted(_KERAS))}; got class_name={class_name!r}."
        )
    config.pop("name", None)
    lr = config.get("learning_rate")
    if isinstance(lr, Mapping):
        config["learning_rate"] = _keras_schedule(lr)
    for clip in _keras_common.CLIPS:
        value = config.get(clip)
        if value is not None and not value > 0:
            config[clip] = None
    if not config.get("use_ema", False):
        config["ema_overwrite_frequency"] = None
    preset = _KERAS[class_name]
    known = set(inspect.signature(preset).parameters) - {"state_dtype"}
    unknown = set(config) - known
    if unknown:
        raise ValueError(
            f"from_keras maps {class_name} to {preset.__name__}, which does "
            "not know the " + _unknown("config", unknown, known)
        )
    return preset(**config, state_dtype=state_dtype)
