r"""The primitives: element-wise gradient transformations with NamedTuple states.

Every primitive returns updates in the *gradient's direction*, like optax's own
``scale_by_*`` transformations; the optimizers in :mod:`rmsprop_jax.optimizers`
append the sign flip and learning rate as their last link.

All arithmetic runs in at least float32 (float64 for float64 inputs, weakly
typed or not) and primitives return updates in that compute dtype, so values
passed between the links of a chain are never rounded to 16 bits; the
optimizers cast their output to the gradients' dtype once. Accumulators are
float32 for float16/bfloat16 parameters unless ``accumulator_dtype`` says
otherwise (see ``_dtypes.py``). Second moments are kept as their roots (no
finite gradient overflows them); complex leaves are pairs of real weights
(see ``_inputs.py``).

Every numeric hyperparameter may be a Python number or a (traced) jax array:
nothing branches on a hyperparameter's value, so ``jax.vmap`` over ``decay`` or
``eps`` works. Concrete values are validated when the transformation is built;
traced values cannot be and are not.

One primitive family per module, each state next to its primitive:
``rms`` (:func:`scale_by_rms`), ``precondition`` (:func:`precondition_by_rms`),
``squares`` (:func:`accumulate_squares`), ``sign`` (:func:`scale_by_sign`),
``trace`` (:func:`momentum`), ``rprop`` (:func:`scale_by_rprop`) and
``adadelta`` (:func:`scale_by_adadelta`). The
private helpers they share, one idea per module: ``_scalars`` (hyperparameters
in the compute dtype), ``_corrections`` (step counts, :math:`1-\beta^t`),
``_ema`` (the rates and step of an EMA), ``_roots`` (the root EMA of squares,
hypot, eps and the centred spread, without squares that overflow),
``_second_moment`` (a root second-moment state: init, one step), ``_divide``
(the update from it, raw or kept corrected) and ``_validation``. ``max_rms``
holds AMSGrad's ``precondition_by_max_rms`` (used by the Adam presets, not
exported here).
"""

from rmsprop_jax.transforms.adadelta import (
    ScaleByAdadeltaState as ScaleByAdadeltaState,
)
from rmsprop_jax.transforms.adadelta import scale_by_adadelta as scale_by_adadelta
from rmsprop_jax.transforms.precondition import (
    PreconditionByRmsState as PreconditionByRmsState,
)
from rmsprop_jax.transforms.precondition import (
    precondition_by_rms as precondition_by_rms,
)
from rmsprop_jax.transforms.rms import ScaleByRmsState as ScaleByRmsState
from rmsprop_jax.transforms.rms import scale_by_rms as scale_by_rms
from rmsprop_jax.transforms.rprop import RpropVariant as RpropVariant
from rmsprop_jax.transforms.rprop import ScaleByRpropState as ScaleByRpropState
from rmsprop_jax.transforms.rprop import scale_by_rprop as scale_by_rprop
from rmsprop_jax.transforms.sign import scale_by_sign as scale_by_sign
from rmsprop_jax.transforms.squares import (
    AccumulateSquaresState as AccumulateSquaresState,
)
from rmsprop_jax.transforms.squares import accumulate_squares as accumulate_squares
from rmsprop_jax.transforms.trace import MomentumState as MomentumState
from rmsprop_jax.transforms.trace import momentum as momentum

__all__ = [
    "AccumulateSquaresState",
    "MomentumState",
    "PreconditionByRmsState",
    "RpropVariant",
    "ScaleByAdadeltaState",
    "ScaleByRmsState",
    "ScaleByRpropState",
    "accumulate_squares",
    "momentum",
    "precondition_by_rms",
    "scale_by_adadelta",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_sign",
]
