"""The arguments every Keras 3 optimizer takes, in Keras's order of operations.

Transcribed from ``keras/src/optimizers/base_optimizer.py`` (``apply``,
``_clip_gradients``, ``_apply_weight_decay``,
``_update_model_variables_moving_average``, ``clip_by_global_norm``) and
``keras/src/backend/jax/optimizer.py`` (``_backend_apply_gradients``), Keras
3.15. One call of ``update`` is one ``optimizer.apply(grads)``:

1. ``loss_scale_factor``: ``g <- g / loss_scale_factor``.
2. ``gradient_accumulation_steps`` :math:`k`: the raw counter :math:`i` (0 at
   the first call) counts every call; the sum ``acc + g`` is kept, and only
   when :math:`(i + 1) \\bmod k = 0` do steps 3-5 run, on ``(g + acc) / k``
   (the sum restarts from 0). Other calls leave the weights and the
   optimizer's own state unchanged.
3. Clipping of the gradient: ``clipnorm`` (each tensor on its own),
   ``global_clipnorm`` (all tensors together) or ``clipvalue`` (each element).
4. ``weight_decay`` :math:`\\lambda`: ``w <- w - w * lambda * lr`` (decoupled,
   on the weights before the update, with the current learning rate).
5. The optimizer's own update step. Its learning-rate schedule sees the raw
   counter :math:`i`; Adam's bias correction counts the updates,
   :math:`\\lfloor i/k \\rfloor + 1`.
6. ``use_ema``: on every call, after the update, ``avg <- m * avg + (1 - m) *
   w`` with ``m = 0`` while :math:`\\lfloor i/k \\rfloor = 0` (the average
   starts at the weights) and ``m = ema_momentum`` afterwards; with
   ``ema_overwrite_frequency`` :math:`f`, ``w <- avg`` whenever
   :math:`(\\lfloor i/k \\rfloor + 1) \\bmod f = 0` (on every call of that
   accumulation window).
7. :math:`i \\leftarrow i + 1`.
"""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _docstrings, _dtypes
from rmsprop_jax._learning_rate import schedule_value

_RULE = "keras.optimizers.Optimizer"


class KerasState(NamedTuple):
    """State of a Keras preset with any of the common arguments."""

    iterations: jax.Array  # int32: calls of update so far (Keras's counter).
    accumulated: optax.Updates | None  # sum of gradients; with accumulation.
    average: optax.Params | None  # moving average of the weights; use_ema.
    inner: optax.OptState  # state of clipping, weight decay and the update.


class KerasOptions(NamedTuple):
    """The nine common arguments, in Keras's signature order, validated."""

    weight_decay: Any
    clipnorm: Any
    clipvalue: Any
    global_clipnorm: Any
    use_ema: bool
    ema_momentum: Any
    ema_overwrite_frequency: int | None
    loss_scale_factor: Any
    gradient_accumulation_steps: int | None


# The three clips, of which Keras allows at most one.
CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")

# Keras's defaults of the common arguments (``keras.optimizers.Optimizer``).
DEFAULTS = KerasOptions(
    weight_decay=None,
    clipnorm=None,
    clipvalue=None,
    global_clipnorm=None,
    use_ema=False,
    ema_momentum=0.99,
    ema_overwrite_frequency=None,
    loss_scale_factor=None,
    gradient_accumulation_steps=None,
)

# The documentation of the common arguments, written once and substituted for
# ``{{keras_order}}``, ``{{keras_arguments}}`` and ``{{keras_returns}}`` in each
# Keras preset's docstring (as Keras substitutes its
# ``{{base_optimizer_keyword_args}}``).
DOCS = {
    "keras_order": """\
Order of operations, per call of ``update`` (Keras's ``BaseOptimizer.apply``
and the JAX backend's ``_backend_apply_gradients``): (1) ``g /
loss_scale_factor``; (2) gradient accumulation: only every
``gradient_accumulation_steps``-th call updates, with the mean of the
window's gradients (the other calls only add to the sum); (3) clipping
(``clipnorm``, ``global_clipnorm`` or ``clipvalue``); (4) decoupled
``weight_decay``: ``w - w * weight_decay * lr_t``; (5) the update above,
whose learning-rate schedule sees every call (the raw counter); (6) on
every call, the weights' moving average, and every
``ema_overwrite_frequency`` updates ``w <- average``.

``gradient_accumulation_steps`` and ``ema_overwrite_frequency`` are static
(Python ints that fix the state's structure and when the update happens;
an array raises TypeError): under ``optax.inject_hyperparams`` pass
``static_args=("gradient_accumulation_steps", "ema_overwrite_frequency")``;
:func:`rmsprop_jax.sweep.sweep` compiles one program per value.""",
    "keras_arguments": """\
weight_decay: :math:`\\lambda` >= 0, decoupled, or None (default).
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
  with the mean gradient; or None.""",
    "keras_returns": """\
An ``optax.GradientTransformationExtraArgs`` (with ``weight_decay`` or
``use_ema``, ``update`` needs ``params``; with accumulation, EMA or a
loss scale its state is a :class:`KerasState`).""",
}


# The arguments that set the state's structure and the update's control flow:
# Python values, fixed when the preset is built (never traced arrays).
STATIC_ARGS = ("gradient_accumulation_steps", "ema_overwrite_frequency")


def _check_int(name: str, value: Any, low: int, why: str) -> None:
    if value is None:
        return
    if isinstance(value, jax.Array | np.ndarray | np.generic) and not isinstance(
        value, numbers.Integral
    ):
        raise TypeError(
            f"`{name}` is static (it fixes the state's structure and when the "
            f"update happens): it must be a Python int >= {low} or None, got "
            f"{value!r}. optax.inject_hyperparams turns every numeric argument "
            f"into an array: pass static_args={STATIC_ARGS!r} to "
            "optax.inject_hyperparams."
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be an integer >= {low} or None ({why}), got {value!r}."
        )
    if value < low:
        raise ValueError(
            f"`{name}` must be an integer >= {low} or None ({why}), got {value!r}."
        )


def check_options(**values: Any) -> KerasOptions:
    """Keras's own rules, plus > 0 where Keras silently ignores a value."""
    options = KerasOptions(**values)
    clips = {k: getattr(options, k) for k in CLIPS if getattr(options, k) is not None}
    if len(clips) > 1:
        raise ValueError(
            "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set "
            f"({_RULE}'s rule), got "
            + ", ".join(f"{k}={v!r}" for k, v in clips.items())
            + "."
        )
    for name, value in clips.items():
        why = f" (Keras silently skips clipping for a value <= 0; pass None, {_RULE})"
        _checks.check_range(name, value, 0.0, lo_open=True, why=why)
    if options.weight_decay is not None:
        _checks.check_range(
            "weight_decay",
            options.weight_decay,
            0.0,
            why=f" ({_RULE} does not check it)",
        )
    if options.loss_scale_factor is not None:
        _checks.check_range(
            "loss_scale_factor",
            options.loss_scale_factor,
            0.0,
            lo_open=True,
            why=" (the gradients are divided by it)",
        )
    if not isinstance(options.use_ema, bool):
        raise TypeError(f"`use_ema` must be True or False, got {options.use_ema!r}.")
    _checks.check_range(
        "ema_momentum", options.ema_momentum, 0.0, 1.0, why=f" ({_RULE}'s rule)"
    )
    _check_int(
        "ema_overwrite_frequency", options.ema_overwrite_frequency, 1, f"{_RULE}'s rule"
    )
    if options.ema_overwrite_frequency is not None and not options.use_ema:
        raise ValueError(
            "`ema_overwrite_frequency` needs `use_ema=True` (Keras ignores it "
            f"otherwise), got ema_overwrite_frequency="
            f"{options.ema_overwrite_frequency!r} with use_ema=False."
        )
    _check_int(
        "gradient_accumulation_steps",
        options.gradient_accumulation_steps,
        2,
        f"{_RULE}'s rule",
    )
    return options


def update_learning_rate(
    learning_rate: optax.ScalarOrSchedule, steps: int | None
) -> optax.ScalarOrSchedule:
    """The learning rate as a schedule of the number of *updates* ``j``.

    Keras evaluates its schedule at the raw counter, which at the ``j``-th
    update (from 0) of an accumulation over ``k`` calls is ``k * j + k - 1``.
    """
    if not steps or not _checks.is_schedule(learning_rate):
        return learning_rate
    return lambda count: learning_rate(steps * count + (steps - 1))


class _ScaledNorm(NamedTuple):
    """The L2 norm of some tensors as ``root * 2**exponent`` (``root`` in
    [0.5, sqrt(size)]), and ``down(x) = x * 2**-exponent`` (two exact
    power-of-two products: one factor ``2**-128`` would be subnormal, which
    XLA on CPU flushes to 0)."""

    root: jax.Array
    exponent: jax.Array
    factors: tuple[jax.Array, jax.Array]

    def down(self, x: jax.Array) -> jax.Array:
        return x * self.factors[0] * self.factors[1]

    def norm(self) -> jax.Array:
        """The norm itself (inf only where it exceeds the dtype's range)."""
        return jnp.ldexp(self.root, self.exponent)


def _scaled_norm(leaves: list[jax.Array], dtype: Any) -> _ScaledNorm:
    """:class:`_ScaledNorm` of ``leaves`` together, in ``dtype``: the squares
    are taken of the elements scaled by a power of two near the largest one,
    so no finite element overflows or underflows them (``sum(g**2)`` of a
    float32 gradient of 1e20 is inf). NaN or inf in, NaN or inf out."""
    leaves = [jnp.abs(g).astype(dtype) for g in leaves]
    big = jnp.max(jnp.stack([jnp.max(g, initial=0) for g in leaves]))
    _, exponent = jnp.frexp(big)  # big = m * 2**exponent, m in [0.5, 1)
    half = exponent // 2
    one = jnp.ones([], dtype)
    factors = (jnp.ldexp(one, -half), jnp.ldexp(one, half - exponent))
    scaled = _ScaledNorm(one, exponent, factors)
    total = sum(jnp.sum(jnp.square(scaled.down(g))) for g in leaves)
    # sqrt of a selected 1 at 0, so that a gradient through the norm of an
    # all-zero tensor is 0, not 0 * inf = NaN.
    positive = total > 0
    root = jnp.where(positive, jnp.sqrt(jnp.where(positive, total, 1)), total)
    return scaled._replace(root=root)


def _clip_by_norm(clipnorm: ArrayLike) -> optax.GradientTransformation:
    """``_clip_by_norm``: ``g * c / max(||g||, c)``, ||g|| over the whole tensor.

    Keras's arithmetic where the norm is at most ``c``; above it ``g * c /
    ||g||`` is computed as ``(g 2**-e) * (c / r)`` from the norm ``r 2**e``
    (:func:`_scaled_norm`), so no finite gradient overflows it (Keras's
    ``sqrt(sum(g**2))`` overflows for a float32 gradient of 1e20 and turns
    it into 0). In at least float32: the norm of a float16 tensor can exceed
    float16's range while its elements do not.
    """

    def clip(g: jax.Array) -> jax.Array:
        if g.size == 0:
            return g
        dtype = _dtypes.compute_dtype(g)
        wide = g.astype(dtype)
        scaled = _scaled_norm([wide], dtype)
        norm = scaled.norm()
        kept = (wide * clipnorm) / jnp.maximum(norm, clipnorm)
        above = norm > clipnorm
        # The divisor only where it is used: no 0 * inf in a gradient.
        shrunk = scaled.down(wide) * (clipnorm / jnp.where(above, scaled.root, 1))
        return jnp.where(above, shrunk, kept).astype(g.dtype)

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(clip, updates), state

    return optax.GradientTransformation(optax.init_empty_state, update_fn)


def _clip_by_global_norm(clipnorm: ArrayLike) -> optax.GradientTransformation:
    """``clip_by_global_norm``: ``g * (c * min(1/n, 1/c) + (n - n))``.

    A non-finite norm (a NaN or an infinite gradient) makes every gradient
    NaN, as in Keras (optax's ``clip_by_global_norm`` differs there and in
    the last bit elsewhere). Above ``c`` the factor ``c / n`` is applied as
    ``(g 2**-e) * (c / r)`` (see :func:`_clip_by_norm`): no finite gradient
    makes the norm overflow, where Keras's sum of squares does.
    """

    def update_fn(updates, state, params=None):
        del params
        leaves = [g for g in jax.tree.leaves(updates) if g.size]
        if not leaves:
            return updates, state
        dtype = _dtypes.compute_dtype(*leaves)
        scaled = _scaled_norm(leaves, dtype)
        norm = scaled.norm()
        finite = jnp.isfinite(scaled.root)  # the true norm may exceed the range
        below = finite & (norm <= clipnorm)
        # Each divisor only where it is used: no 0 * inf in a gradient.
        keras = clipnorm * jnp.minimum(1.0 / jnp.where(below, norm, 1), 1.0 / clipnorm)
        root = jnp.where(below, 1, scaled.root)
        factor = jnp.where(finite, clipnorm / root, jnp.nan)

        def clip(g: jax.Array) -> jax.Array:
            wide = g.astype(dtype)
            kept = wide * keras.astype(dtype) + (norm - norm)
            shrunk = scaled.down(wide) * factor
            return jnp.where(below, kept, shrunk).astype(g.dtype)

        return jax.tree.map(clip, updates), state

    return optax.GradientTransformation(optax.init_empty_state, update_fn)


def _clip_by_value(clipvalue: ArrayLike) -> optax.GradientTransformation:
    """``ops.clip(g, -v, v)``, element by element."""

    def update_fn(updates, state, params=None):
        del params
        low = jnp.negative(clipvalue)
        return jax.tree.map(lambda g: jnp.clip(g, low, clipvalue), updates), state

    return optax.GradientTransformation(optax.init_empty_state, update_fn)


def _decay_weights(
    weight_decay: ArrayLike, learning_rate: optax.ScalarOrSchedule
) -> optax.GradientTransformation:
    """``_apply_weight_decay``: adds ``-(w * wd * lr_t)`` to the updates."""
    scheduled = _checks.is_schedule(learning_rate)

    def init_fn(params):
        del params
        if scheduled:
            return optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32))
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "`weight_decay` reads the weights: call update(grads, state, params)."
            )
        count = state.count if scheduled else None
        lr = schedule_value(learning_rate, count)
        updates = jax.tree.map(lambda u, w: u - w * weight_decay * lr, updates, params)
        if scheduled:
            state = optax.ScaleByScheduleState(count=optax.safe_increment(count))
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


def with_keras_options(
    update_step: optax.GradientTransformation,
    learning_rate: optax.ScalarOrSchedule,
    options: KerasOptions,
) -> optax.GradientTransformationExtraArgs:
    """The optimizer ``update_step`` inside Keras's common arguments.

    ``update_step`` was built with the learning rate as a schedule of the
    update count (see :func:`update_learning_rate`); ``learning_rate`` is the
    rate as given, which weight decay reads the same way. Without any common
    argument the result is ``update_step`` itself.
    """
    lr = update_learning_rate(learning_rate, options.gradient_accumulation_steps)
    links = []
    if options.clipnorm is not None:
        links.append(_clip_by_norm(options.clipnorm))
    elif options.global_clipnorm is not None:
        links.append(_clip_by_global_norm(options.global_clipnorm))
    elif options.clipvalue is not None:
        links.append(_clip_by_value(options.clipvalue))
    links.append(update_step)
    if options.weight_decay is not None:
        links.append(_decay_weights(options.weight_decay, lr))
    inner = optax.with_extra_args_support(
        links[0] if len(links) == 1 else optax.chain(*links)
    )
    wrapped = (
        options.gradient_accumulation_steps
        or options.use_ema
        or options.loss_scale_factor is not None
    )
    if not wrapped:
        return inner
    return _outer(inner, options)


def keras_optimizer(
    update_step: Callable[..., optax.GradientTransformation],
) -> Callable[..., optax.GradientTransformationExtraArgs]:
    """Decorates a Keras preset: the common arguments, validated and applied once.

    ``update_step`` takes the Keras optimizer's own arguments and the nine
    common ones (keyword-only, with Keras's defaults, as Keras lists them in
    every optimizer's signature; checked here when the module is imported)
    and returns the chain of the optimizer's own update step; it does not
    read the common arguments itself. The decorated factory

    * validates the common arguments (:func:`check_options`);
    * calls ``update_step`` with the learning rate as a schedule of the
      update count when gradients are accumulated (:func:`update_learning_rate`);
    * puts the step inside clipping, weight decay, loss scale, accumulation
      and the moving average (:func:`with_keras_options`).

    The docstring's ``{{keras_order}}``, ``{{keras_arguments}}`` and
    ``{{keras_returns}}`` lines are replaced by :data:`DOCS` (and those of
    :data:`rmsprop_jax._docstrings.TEXTS` by theirs).
    """
    signature = inspect.signature(update_step)
    for name, default in DEFAULTS._asdict().items():
        parameter = signature.parameters.get(name)
        if (
            parameter is None
            or parameter.kind is not inspect.Parameter.KEYWORD_ONLY
            or parameter.default != default
        ):
            raise TypeError(
                f"{update_step.__name__} must take Keras's common argument "
                f"`{name}` keyword-only with the default {default!r}."
            )
    if "learning_rate" not in signature.parameters:
        raise TypeError(f"{update_step.__name__} must take `learning_rate`.")
    update_step.__doc__ = _docstrings.render(
        update_step.__doc__, {**_docstrings.TEXTS, **DOCS}
    )

    @functools.wraps(update_step)
    def factory(*args: Any, **kwargs: Any) -> optax.GradientTransformationExtraArgs:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        given = bound.arguments
        options = check_options(**{name: given[name] for name in KerasOptions._fields})
        learning_rate = given["learning_rate"]
        given["learning_rate"] = update_learning_rate(
            learning_rate, options.gradient_accumulation_steps
        )
        step = update_step(*bound.args, **bound.kwargs)
        return with_keras_options(step, learning_rate, options)

    return factory


def _outer(
    inner: optax.GradientTransformationExtraArgs, options: KerasOptions
) -> optax.GradientTransformationExtraArgs:
    """Loss scale, accumulation and the moving average around ``inner``."""
    k, scale = options.gradient_accumulation_steps, options.loss_scale_factor
    use_ema, momentum = options.use_ema, options.ema_momentum
    frequency = options.ema_overwrite_frequency

    def init_fn(params):
        # A tree of zeros each: leaves sharing a buffer cannot be donated to
        # a jitted step ("donate the same buffer twice").
        def zeros() -> Any:
            return jax.tree.map(jnp.zeros_like, params)

        return KerasState(
            iterations=jnp.zeros([], jnp.int32),
            accumulated=zeros() if k else None,
            average=zeros() if use_ema else None,
            inner=inner.init(params),
        )

    def update_fn(grads, state, params=None, **extra_args):
        i = state.iterations
        if scale is not None:
            grads = jax.tree.map(lambda g: g / scale, grads)
        accumulated = None
        if k:
            is_update = (i + 1) % k == 0
            summed = jax.tree.map(lambda g, a: g + a, grads, state.accumulated)
            grads = jax.tree.map(lambda s: s / k, summed)
            accumulated = jax.tree.map(
                lambda s: jnp.where(is_update, jnp.zeros_like(s), s), summed
            )
        updates, inner_state = inner.update(grads, state.inner, params, **extra_args)
        if k:
            keep = lambda new, old: jnp.where(is_update, new, old)  # noqa: E731
            updates = jax.tree.map(lambda u: keep(u, jnp.zeros_like(u)), updates)
            inner_state = jax.tree.map(keep, inner_state, state.inner)
        average = None
        if use_ema:
            if params is None:
                raise ValueError(
                    "`use_ema` averages the weights: call update(grads, state, params)."
                )
            real = i // k if k else i
            m = (real != 0) * momentum
            weights = optax.apply_updates(params, updates)
            average = jax.tree.map(
                lambda a, w: (m * a + (1 - m) * w).astype(a.dtype),
                state.average,
                weights,
            )
            if frequency is not None:
                overwrite = (real + 1) % frequency == 0
                updates = jax.tree.map(
                    lambda u, a, w: jnp.where(overwrite, a - w, u).astype(u.dtype),
                    updates,
                    average,
                    params,
                )
        new_state = KerasState(
            optax.safe_increment(i), accumulated, average, inner_state
        )
        return updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
