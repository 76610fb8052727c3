"""rmsprop_jax: RMSprop and its family (Rprop, Adagrad, Adadelta, Adam) for Optax.

Primitives (updates in the gradient's direction) live in
:mod:`rmsprop_jax.transforms`; optimizers (descent direction, ready for
``optax.apply_updates``) in :mod:`rmsprop_jax.optimizers`. Both are re-exported
here, flat. Framework presets live in :mod:`rmsprop_jax.presets`
(``rmsprop_jax.presets.torch_rmsprop(...)``).
"""

from rmsprop_jax import diagnostics as diagnostics
from rmsprop_jax import landscapes as landscapes
from rmsprop_jax import presets as presets
from rmsprop_jax import sweep as sweep
from rmsprop_jax._guard import SkipNonfiniteState as SkipNonfiniteState
from rmsprop_jax._guard import skip_nonfinite as skip_nonfinite
from rmsprop_jax._state_dtype import NearestRounding as NearestRounding
from rmsprop_jax._state_dtype import RoundedLeaf as RoundedLeaf
from rmsprop_jax._state_dtype import StochasticRounding as StochasticRounding
from rmsprop_jax.optimizers import adadelta as adadelta
from rmsprop_jax.optimizers import adagrad as adagrad
from rmsprop_jax.optimizers import adam as adam
from rmsprop_jax.optimizers import amsgrad as amsgrad
from rmsprop_jax.optimizers import laprop as laprop
from rmsprop_jax.optimizers import rmsprop as rmsprop
from rmsprop_jax.optimizers import rprop as rprop
from rmsprop_jax.optimizers import sgd as sgd
from rmsprop_jax.optimizers import sign_sgd as sign_sgd
from rmsprop_jax.transforms import AccumulateSquaresState as AccumulateSquaresState
from rmsprop_jax.transforms import MomentumState as MomentumState
from rmsprop_jax.transforms import PreconditionByRmsState as PreconditionByRmsState
from rmsprop_jax.transforms import RpropVariant as RpropVariant
from rmsprop_jax.transforms import ScaleByAdadeltaState as ScaleByAdadeltaState
from rmsprop_jax.transforms import ScaleByRmsState as ScaleByRmsState
from rmsprop_jax.transforms import ScaleByRpropState as ScaleByRpropState
from rmsprop_jax.transforms import accumulate_squares as accumulate_squares
from rmsprop_jax.transforms import momentum as momentum
from rmsprop_jax.transforms import precondition_by_rms as precondition_by_rms
from rmsprop_jax.transforms import scale_by_adadelta as scale_by_adadelta
from rmsprop_jax.transforms import scale_by_rms as scale_by_rms
from rmsprop_jax.transforms import scale_by_rprop as scale_by_rprop
from rmsprop_jax.transforms import scale_by_sign as scale_by_sign

__version__ = "0.1.0"

__all__ = [
    "AccumulateSquaresState",
    "MomentumState",
    "NearestRounding",
    "PreconditionByRmsState",
    "RoundedLeaf",
    "RpropVariant",
    "ScaleByAdadeltaState",
    "ScaleByRmsState",
    "ScaleByRpropState",
    "SkipNonfiniteState",
    "StochasticRounding",
    "accumulate_squares",
    "adadelta",
    "adagrad",
    "adam",
    "amsgrad",
    "diagnostics",
    "landscapes",
    "laprop",
    "momentum",
    "precondition_by_rms",
    "presets",
    "rmsprop",
    "rprop",
    "scale_by_adadelta",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_sign",
    "sgd",
    "sign_sgd",
    "skip_nonfinite",
    "sweep",
]
