"""Our 8-bit states drift from our float32 state no more than bitsandbytes'
8-bit optimizers drift from torch's float32 ones (the issue's criterion), on
the digits MLP of ``benchmarks.state_dtype_bnb``, 1000 steps, no
re-synchronisation. bitsandbytes (>= 0.50) runs on CPU; the frameworks extra
installs it.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import rmsprop_jax as rj
from benchmarks import _digits, state_dtype_bnb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def frameworks():
    """``(torch, bitsandbytes)``, imported when a test here runs: their import
    takes seconds, which collecting the quick selection would pay too."""
    pytest.importorskip(
        "bitsandbytes",
        reason="bitsandbytes is not installed (pip install 'rmsprop_jax[frameworks]'): "
        "the reference 8-bit optimizers come from it",
    )
    torch = pytest.importorskip("torch", reason="bitsandbytes' optimizers need torch")
    import bitsandbytes

    return torch, bitsandbytes


@pytest.mark.parametrize("name", sorted(state_dtype_bnb.CASES))
def test_stochastically_rounded_int8_drifts_no_more_than_bitsandbytes(name, frameworks):
    torch, bnb = frameworks
    ours, theirs, bnb8 = state_dtype_bnb.CASES[name]
    torch.set_num_threads(1)
    x, y = _digits.load_digits()
    params = _digits.init_mlp(jax.random.key(0), state_dtype_bnb.SIZES)
    order = state_dtype_bnb._batches(0, 1000, len(y))
    start = [np.asarray(a, np.float64) for a in jax.tree.leaves(params)]
    w32 = state_dtype_bnb._ours(ours(None), params, x, y, order)
    w8 = state_dtype_bnb._ours(
        ours(rj.StochasticRounding("int8", 0)), params, x, y, order
    )
    t32 = state_dtype_bnb._torch(lambda ps: theirs(torch, ps), params, x, y, order)
    t8 = state_dtype_bnb._torch(lambda ps: bnb8(bnb, ps), params, x, y, order)
    ours_drift = state_dtype_bnb._drift(w8, w32, start)
    their_drift = state_dtype_bnb._drift(t8, t32, start)
    assert 0 < ours_drift <= their_drift, (ours_drift, their_drift)
