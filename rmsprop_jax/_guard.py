r"""A guard that skips steps whose gradients hold NaN or Inf.

Written with element-wise selects (``jnp.where``), not ``lax.cond``: both
outcomes are computed and the right one is kept, leaf by leaf. A select takes
its inputs' dtypes and shardings as they are, so the guard works where a
``cond`` needs both branches to agree on them -- with float32 parameters and
bfloat16 gradients, and under explicit sharding -- which is where
``optax.apply_if_finite`` (optax 0.2.8) fails with a cond type error.
"""

from __future__ import annotations

import sys
import types
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks, _tree

__all__ = ["SkipNonfiniteState", "skip_nonfinite"]


class SkipNonfiniteState(NamedTuple):
    """State of :func:`skip_nonfinite`."""

    total_skipped: jax.Array  # int32 scalar: steps skipped so far.
    consecutive_nonfinite: jax.Array  # int32 scalar: current run of bad steps.
    inner: optax.OptState  # state of the guarded transformation.


def _refuse_inside_multi_steps() -> None:
    """Raises if ``optax.MultiSteps`` is initialising this guard as its inner
    optimizer (found on the call stack: MultiSteps.init calls the inner init).

    Inside MultiSteps the guard sees only the *averaged* gradient of each
    accumulation window: a NaN micro-gradient has by then entered
    MultiSteps' accumulator, which MultiSteps resets by multiplying it by 0
    (NaN * 0 = NaN), so every later step would be skipped, silently.
    """
    frame: types.FrameType | None = sys._getframe(2)
    for _ in range(4):
        if frame is None:
            return
        if isinstance(frame.f_locals.get("self"), optax.MultiSteps):
            raise ValueError(
                "skip_nonfinite inside optax.MultiSteps cannot work: a NaN "
                "micro-gradient stays in MultiSteps' accumulator for good (its "
                "reset multiplies by 0, and NaN * 0 = NaN) and every later step "
                "would be skipped. Put the guard outside: "
                "skip_nonfinite(optax.MultiSteps(tx, every_k_schedule=k)) skips "
                "the bad micro-batch before it reaches the accumulator."
            )
        frame = frame.f_back


@_checks.keywords
def skip_nonfinite(
    inner: optax.GradientTransformation,
    max_consecutive: ArrayLike | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Skips every update whose gradients contain a NaN or an Inf.

    On a step whose gradients are all finite, the output and state of
    ``inner`` are used. On a step with a non-finite gradient the updates are
    zero (the parameters do not move) and the inner state is left exactly as
    it was, so the skipped step leaves no trace: a run with skipped steps
    equals the same run with those steps removed.

    After more than ``max_consecutive`` non-finite steps in a row, the guard
    stops skipping and applies ``inner``'s update, so that a persistent problem
    surfaces as NaN parameters instead of a silently frozen model; the first
    finite step resets the run. ``max_consecutive=None`` (the default) skips
    forever. The state counts the steps skipped in total and the current run
    of non-finite steps.

    With gradient accumulation, the guard goes *outside*
    ``optax.MultiSteps``: ``skip_nonfinite(optax.MultiSteps(tx, k))`` skips a
    non-finite micro-batch before it enters MultiSteps' accumulator. The other
    order raises a ValueError at ``init``: MultiSteps would keep the NaN in its
    accumulator for good and every later step would be skipped.

    Only the gradients are checked; extra arguments (such as the loss
    ``value=`` of iRprop+) are passed to ``inner`` unchanged.

    Unlike ``optax.apply_if_finite`` (optax 0.2.8), which chooses between the
    two outcomes with ``lax.cond``, this guard selects element-wise with
    ``jnp.where``: it also works when ``inner``'s updates or new state differ
    in dtype or sharding from its gradients or old state (float32 parameters
    with bfloat16 gradients, state sharded differently from the gradients
    under explicit sharding), where ``cond`` raises a type error. Both outcomes
    are computed on every step; ``inner``'s update runs anyway in the common,
    finite case.

    Args:
      inner: the transformation to guard.
      max_consecutive: the number of non-finite steps in a row that are
        skipped before updates are applied again; an integer >= 0, a (traced)
        array, or None to skip every non-finite step. Default None.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` with state
      :class:`SkipNonfiniteState`.

    Raises:
      ValueError: a concrete ``max_consecutive`` < 0; ``init`` called by an
        enclosing ``optax.MultiSteps`` (see above).

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import rmsprop, skip_nonfinite
      >>> tx = skip_nonfinite(rmsprop(0.1))
      >>> w = jnp.array([1.0, 2.0])
      >>> state = tx.init(w)
      >>> updates, state = tx.update(jnp.array([0.5, jnp.nan]), state, w)
      >>> print(updates, int(state.total_skipped))
      [0. 0.] 1

    References:
      ``optax.apply_if_finite``, whose counting rule this follows.
    """
    if max_consecutive is not None:
        _checks.check_range("max_consecutive", max_consecutive, 0.0)
    inner = optax.with_extra_args_support(inner)

    def init_fn(params: optax.Params) -> SkipNonfiniteState:
        _refuse_inside_multi_steps()
        # Two buffers, not one zero shared by both counters: a state whose
        # leaves share a buffer cannot be donated (jax.jit(...,
        # donate_argnums=...) raises "donate the same buffer twice").
        return SkipNonfiniteState(
            jnp.zeros([], jnp.int32), jnp.zeros([], jnp.int32), inner.init(params)
        )

    def update_fn(updates, state, params=None, **extra_args):
        finite = _tree.all_finite(updates)
        run = jnp.where(finite, 0, optax.safe_increment(state.consecutive_nonfinite))
        apply = finite
        if max_consecutive is not None:
            apply = finite | (run > max_consecutive)
        new_updates, new_inner = inner.update(
            updates, state.inner, params, **extra_args
        )
        new_updates = jax.tree.map(
            lambda u: jnp.where(apply, u, jnp.zeros_like(u)), new_updates
        )
        skipped = state.total_skipped + jnp.where(apply, 0, 1).astype(jnp.int32)
        new_state = SkipNonfiniteState(
            total_skipped=skipped,
            consecutive_nonfinite=run.astype(jnp.int32),
            inner=_tree.select(apply, new_inner, state.inner),
        )
        return new_updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
