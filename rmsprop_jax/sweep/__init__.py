r"""The trajectory engine: whole grids of training runs as one compiled program.

``rj.sweep(...)`` (the module is callable) is :func:`sweep`; ``from
rmsprop_jax.sweep import sweep, grid`` works as well. Build a grid of
configurations, then train every configuration at once::

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

or several optimizers from several start points, keeping every step::

    paths = sweep({"sgd": rj.sgd, "rmsprop": rj.rmsprop}, loss, None,
                  grid(learning_rate=[1e-3, 1e-2]), steps=1000,
                  starts=jnp.array([[-1.5, 2.0], [1.0, -1.0]]),
                  record=("params", "loss", "effective_lr"))
    paths.records["params"].shape  # (2, 2, 2, 1000, 2): optimizer, lr, start, step, w
    paths.path(optimizer="rmsprop", learning_rate=1e-2, start=0)

The optimizer is built *inside* the traced function, so every numeric
hyperparameter is a traced array and the whole grid is one ``jax.jit``
program: per group of runs sharing an optimizer and its static switches
(``centered``, ``eps_in_sqrt``, ``nesterov``, ``variant``, ``momentum=None``...)
a ``vmap`` of a ``lax.scan`` over the steps, merged back in grid order inside
the program. Calls that change only numbers -- hyperparameters, start points,
the landscape picked from the same mapping -- reuse it (:func:`compilations`
counts the programs compiled). Per-step records (:data:`RECORDABLE`) come from
the step itself and from :mod:`rmsprop_jax.diagnostics` applied to the state.

On XLA:CPU a program made only of small element-wise steps is compiled as one
kernel (3-4x less compile time), with jax 0.10.2 up to 0.11 only, where it is
tested to take effect; :func:`use_one_kernel` turns it off.
``sweep(..., devices=jax.devices())`` splits the runs over devices and hosts.

Modules: ``_grid`` (grids and their checks against the factories),
``_sweep`` (the phases of :func:`sweep`), ``_spec`` (the static description
of a program: groups and options), ``_train`` (the traced training of one
run), ``_program`` (every group vmapped, sharded over devices and merged),
``_compile`` (the XLA:CPU compiler policy), ``_batches`` (host-side batch
plans), ``_devices`` (the ``devices`` argument and placement), ``_records``
(what can be recorded, and its memory), ``_result`` (:class:`SweepResult`).
"""

import sys
import types
from typing import Any

from rmsprop_jax.sweep._batches import batch_plan as batch_plan
from rmsprop_jax.sweep._compile import CPU_COMPILER_OPTIONS as CPU_COMPILER_OPTIONS
from rmsprop_jax.sweep._compile import use_one_kernel as use_one_kernel
from rmsprop_jax.sweep._grid import Grid as Grid
from rmsprop_jax.sweep._grid import grid as grid
from rmsprop_jax.sweep._grid import table as table
from rmsprop_jax.sweep._grid import zipped as zipped
from rmsprop_jax.sweep._records import RECORDABLE as RECORDABLE
from rmsprop_jax.sweep._renamed import renamed as renamed
from rmsprop_jax.sweep._result import ConfigResult as ConfigResult
from rmsprop_jax.sweep._result import Group as Group
from rmsprop_jax.sweep._result import SweepResult as SweepResult
from rmsprop_jax.sweep._sweep import compilations as compilations
from rmsprop_jax.sweep._sweep import sweep as sweep

__all__ = [
    "CPU_COMPILER_OPTIONS",
    "RECORDABLE",
    "ConfigResult",
    "Grid",
    "Group",
    "SweepResult",
    "batch_plan",
    "compilations",
    "grid",
    "renamed",
    "sweep",
    "table",
    "use_one_kernel",
    "zipped",
]


class _CallableModule(types.ModuleType):
    """``rmsprop_jax.sweep`` itself: calling the module calls :func:`sweep`."""

    def __call__(self, *args: Any, **kwargs: Any) -> SweepResult:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
