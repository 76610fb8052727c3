r"""Per-parameter diagnostics read from optimizer states.

An optimizer of this library keeps, per parameter, what it needs to scale the
gradient: RMSprop an EMA :math:`s` of squared gradients, Adagrad the sum
:math:`G`, Rprop the step sizes :math:`\Delta`. This module finds them in any
state -- a state of this library, or one nested in ``optax.chain``,
``optax.inject_hyperparams``, ``optax.MultiSteps``, ``optax.masked``,
``optax.multi_transform`` or :func:`rmsprop_jax.skip_nonfinite` -- and turns
them into

* the per-parameter **effective learning rate**: the factor the gradient was
  multiplied by in the last update, :math:`\eta/\sqrt{s+\epsilon}` (RMSprop,
  eps inside), :math:`\eta/(\sqrt{\hat s}+\epsilon)` (eps outside: PyTorch,
  Adam), the step size :math:`\Delta` (Rprop, where the step does not depend
  on the gradient's size), or the learning rate :math:`\eta` itself for an
  optimizer without a preconditioner (:func:`~rmsprop_jax.sgd`,
  :func:`~rmsprop_jax.sign_sgd`, the SGD presets);
* the per-parameter **gradient RMS**, :math:`\sqrt{\hat s}` (and
  :math:`\sqrt{G/t}` for Adagrad);
* summary statistics of every leaf, a flat dict of scalars to log every step
  under readable keys (the optimizer and the parameter path); all of it is
  jit-able.

**How a state is read is declared, never guessed.** A state keeps neither
its hyperparameters nor its conventions: a ``ScaleByRmsState`` of
:func:`~rmsprop_jax.rmsprop` (:math:`\epsilon` inside the root) and one of
:func:`~rmsprop_jax.presets.torch_rmsprop` (outside) are the same pytree.
Every factory of the library attaches a
:class:`~rmsprop_jax.declarations.Declaration` to what it builds (which
argument is the learning rate, :math:`\epsilon` and the decay, where
:math:`\epsilon` sits, bias correction, centering), and the diagnostics read
it from their ``optimizer=`` argument: the transformation, or the factory
for a state of ``optax.inject_hyperparams(factory)`` (whose hyperparameters
are then read under the declared names). Where nothing declares it -- a
user's own factory that renames arguments, another library's state -- a
:class:`MissingHyperparameterError` says what to pass; no number is
returned that the declaration (or an explicit argument) does not justify.
Rprop's step sizes and the roles of every state field need no call
declaration: each state type declares them
(:func:`~rmsprop_jax.declarations.fields_of`).

The module is split by idea: ``_find`` walks a state to the declared states,
``_read`` resolves a value through the declaration, ``_rates`` computes the
rates and RMS, ``_report`` the statistics and the logged row.
"""

from __future__ import annotations

from typing import Any

import optax

from rmsprop_jax.diagnostics import _find
from rmsprop_jax.diagnostics._rates import effective_learning_rates, gradient_rms
from rmsprop_jax.diagnostics._read import MissingHyperparameterError
from rmsprop_jax.diagnostics._report import STATISTICS, report, summarize

__all__ = [
    "STATISTICS",
    "MissingHyperparameterError",
    "effective_learning_rates",
    "find_states",
    "gradient_rms",
    "report",
    "summarize",
]


def find_states(opt_state: optax.OptState) -> dict[str, Any]:
    """The states this module reads in ``opt_state``, by key path.

    Args:
      opt_state: any optimizer state, possibly nested in optax wrappers.

    Returns:
      A dict from the key path of each state whose type declares a second
      moment to divide by or step sizes (``ScaleByRmsState``,
      ``AccumulateSquaresState``, ``ScaleByRpropState``, and the second
      moments of a ``PreconditionByRmsState`` at ``.../rms``) to the state,
      in traversal order.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> from rmsprop_jax import rmsprop
      >>> from rmsprop_jax.diagnostics import find_states
      >>> state = optax.chain(optax.clip(1.0), rmsprop()).init(jnp.zeros(3))
      >>> list(find_states(state))
      ['1/0']
    """
    return {_find.key(found.path): found.state for found in _find.walk(opt_state)}
