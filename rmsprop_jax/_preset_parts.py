"""Parts of the framework presets that no public primitive provides.

* :func:`precondition_by_max_rms`: AMSGrad's denominator, the running maximum
  of the *uncorrected* second moment (as ``torch.optim.Adam(amsgrad=True)`` and
  ``keras.optimizers.Adam(amsgrad=True)``; ``optax.scale_by_amsgrad`` instead
  keeps the maximum of the bias-corrected moment, a different trajectory).
* :func:`pairwise`: element-wise arithmetic on a complex array as on its real
  and imaginary parts, two separate real weights (``torch.view_as_real``).
* :func:`schedule_value`: a learning rate or schedule read at a step count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _dtypes


def pairwise(fn: Callable[..., jax.Array], *arrays: jax.Array) -> jax.Array:
    """``fn`` on the real and on the imaginary parts if any array is complex.

    A complex weight is two real weights, as ``torch.view_as_real`` makes it:
    ``fn`` (element-wise) sees each part on its own and the results are joined
    again. Real arrays go straight to ``fn``.
    """
    if not any(jnp.iscomplexobj(x) for x in arrays):
        return fn(*arrays)
    real = fn(*(jnp.real(x) for x in arrays))
    imag = fn(*(jnp.imag(x) for x in arrays))
    return jax.lax.complex(real, imag)


def squared_norm(x: jax.Array) -> jax.Array:
    """``sum(x**2)`` over every element, both parts of a complex one."""
    if jnp.iscomplexobj(x):
        return jnp.sum(jnp.real(x) ** 2) + jnp.sum(jnp.imag(x) ** 2)
    return jnp.sum(jnp.square(x))


def schedule_value(learning_rate: optax.ScalarOrSchedule, count: Any) -> Any:
    """``learning_rate(count)`` for a schedule, else ``learning_rate`` itself."""
    return learning_rate(count) if _checks.is_schedule(learning_rate) else learning_rate


class PreconditionByMaxRmsState(NamedTuple):
    """State of :func:`precondition_by_max_rms`."""

    count: jax.Array  # type: ignore[assignment]  # int32: updates so far
    nu: optax.Updates  # EMA of squared gradients, s.
    nu_max: optax.Updates  # running maximum of s (uncorrected).
    inner: optax.OptState  # state of the preconditioned transformation.


def precondition_by_max_rms(
    inner: optax.GradientTransformation,
    decay: ArrayLike,
    eps: ArrayLike,
    *,
    bias_correction: bool,
) -> optax.GradientTransformationExtraArgs:
    r"""AMSGrad: ``inner(g) / (sqrt(max_{k<=t} s_k / (1 - decay**t)) + eps)``.

    .. math::
        s_t = \beta s_{t-1} + (1-\beta) g_t^2, \quad
        \hat s_t = \max(\hat s_{t-1}, s_t), \quad
        u_t = \frac{\mathrm{inner}(g)_t}{\sqrt{\hat s_t}/\sqrt{1-\beta^t}
        + \epsilon}

    (without ``bias_correction`` the root is not divided), operation for
    operation as ``_single_tensor_adam`` of PyTorch. A complex weight is two
    real weights.
    """
    inner = optax.with_extra_args_support(inner)

    def init_fn(params: optax.Params) -> PreconditionByMaxRmsState:
        nu = _dtypes.zeros_like_accumulator(params, None)
        return PreconditionByMaxRmsState(
            jnp.zeros([], jnp.int32), nu, nu, inner.init(params)
        )

    def update_fn(updates, state, params=None, **extra_args):
        count = optax.safe_increment(state.count)

        def ema(g: jax.Array, nu: jax.Array) -> jax.Array:
            g = _dtypes.cast(g, _dtypes.compute_dtype(g, nu))
            new = pairwise(lambda gg, n: decay * n + (1 - decay) * gg * gg, g, nu)
            return _dtypes.cast(new, nu.dtype)

        nu = jax.tree.map(ema, updates, state.nu)
        nu_max = jax.tree.map(
            lambda m, n: pairwise(jnp.maximum, m, n), state.nu_max, nu
        )
        numerators, inner_state = inner.update(
            updates, state.inner, params, **extra_args
        )
        root_correction = jnp.sqrt(1 - decay**count) if bias_correction else None

        def divide(x: jax.Array, peak: jax.Array) -> jax.Array:
            dtype = _dtypes.compute_dtype(x, peak)

            def one(xx, pp):
                root = jnp.sqrt(pp)
                if root_correction is not None:
                    root = root / root_correction
                return xx / (root + eps)

            out = pairwise(one, _dtypes.cast(x, dtype), _dtypes.cast(peak, dtype))
            return _dtypes.cast(out, x.dtype)

        out = jax.tree.map(divide, numerators, nu_max)
        return out, PreconditionByMaxRmsState(count, nu, nu_max, inner_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
