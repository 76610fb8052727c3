"""The docs' recipe ``examples/flax_nnx_orbax.py``: a flax.nnx model and its
``nnx.Optimizer`` saved with Orbax and restored into new objects resume the
uninterrupted run bit for bit (parameters, optimizer state, step count)."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "flax", reason="flax is not installed: pip install '.[integrations]'"
)
pytest.importorskip(
    "orbax.checkpoint",
    reason="orbax-checkpoint is not installed: pip install '.[integrations]'",
)

import numpy as np  # noqa: E402
from integration_problems import load_example  # noqa: E402

import rmsprop_jax as rj  # noqa: E402

OPTIMIZERS = {
    "rmsprop+momentum": lambda: rj.rmsprop(0.01, momentum=0.9, centered=True),
    "irprop+": lambda: rj.rprop(0.01, variant="irprop+"),
    "adam": lambda: rj.adam(0.01),
}


@pytest.fixture(scope="module")
def example():
    return load_example("flax_nnx_orbax")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=[] if name == "irprop+" else [pytest.mark.slow])
        for name in sorted(OPTIMIZERS)
    ],
)
def test_resume_is_bit_for_bit(example, tmp_path, name):
    tx = OPTIMIZERS[name]()
    model, optimizer = example.create(tx)
    straight = example.train(model, optimizer, 20)
    expected = example.state_leaves(model, optimizer)

    model, optimizer = example.create(tx)
    first = example.train(model, optimizer, 10)
    example.save(tmp_path / "ckpt", model, optimizer)
    # Restored into new objects built with another seed: every array is replaced.
    model, optimizer = example.restore(tmp_path / "ckpt", tx)
    assert int(optimizer.step[...]) == 10
    resumed = first + example.train(model, optimizer, 10)

    assert resumed == straight
    assert straight[-1] < straight[0]
    got = example.state_leaves(model, optimizer)
    assert len(got) == len(expected) > 4
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_restoring_into_another_optimizer_fails_clearly(example, tmp_path):
    tx = rj.rprop(0.01, variant="irprop+")
    model, optimizer = example.create(tx)
    example.train(model, optimizer, 2)
    example.save(tmp_path / "ckpt", model, optimizer)
    with pytest.raises(ValueError, match=r"in the target only: optimizer/opt_state/"):
        example.restore(tmp_path / "ckpt", rj.rmsprop(0.01))
