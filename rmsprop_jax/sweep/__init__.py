r"""Hyperparameter sweeps as one compiled program.

Build a grid of configurations, then train every configuration at once::

    import jax.numpy as jnp
    import rmsprop_jax as rj
    from rmsprop_jax.sweep import grid, sweep

    loss = lambda w: (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
    result = sweep(rj.rmsprop, loss, jnp.array([-1.5, 2.0]),
                   grid(decay=[0.0, 0.5, 0.9, 0.99], learning_rate=[1e-3, 1e-2, 1e-1]),
                   steps=500)
    result.losses.shape      # (4, 3, 500): (decays, learning rates, steps)
    result.best().config     # {'decay': ..., 'learning_rate': ...}
    print(result.table())    # config columns + final_loss, min_loss, diverged

The optimizer is built *inside* the traced function, so every numeric
hyperparameter is a traced array and the whole grid is one
``jax.jit(jax.vmap(...))`` with a ``lax.scan`` over the steps: one compilation,
whatever the number of configurations. Static switches (``centered``,
``eps_in_sqrt``, ``nesterov``, ``variant``, ``momentum=None``...) may be swept
too: configurations are grouped by their static values, each group is one
compiled program, and the results are merged back in grid order.
"""

from rmsprop_jax.sweep._grid import Grid as Grid
from rmsprop_jax.sweep._grid import grid as grid
from rmsprop_jax.sweep._grid import table as table
from rmsprop_jax.sweep._grid import zipped as zipped
from rmsprop_jax.sweep._program import batch_plan as batch_plan
from rmsprop_jax.sweep._records import RECORDABLE as RECORDABLE
from rmsprop_jax.sweep._result import ConfigResult as ConfigResult
from rmsprop_jax.sweep._result import Group as Group
from rmsprop_jax.sweep._result import SweepResult as SweepResult
from rmsprop_jax.sweep._sweep import compilations as compilations
from rmsprop_jax.sweep._sweep import sweep as sweep

__all__ = [
    "RECORDABLE",
    "ConfigResult",
    "Grid",
    "Group",
    "SweepResult",
    "batch_plan",
    "compilations",
    "grid",
    "sweep",
    "table",
    "zipped",
]
