"""FANN's own C iRprop- (Debian's libfann2, float64 build, through ctypes)
against its source transcribed and against this library's irprop-, step by
step on parity8 (experiments/external/libfann.py)."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `experiments/` is run from the repository root
    sys.path.insert(0, str(ROOT))

import references as ref  # noqa: E402

from experiments.external import libfann  # noqa: E402

pytestmark = pytest.mark.skipif(
    not libfann.available(),
    reason="Debian's libfann2 (libdoublefann.so.2) or libfann-doc's parity8 file is "
    "missing: apt-get install libfann2 libfann-doc (CI installs both)",
)
F32 = np.float32


@pytest.fixture(scope="module")
def paths():
    return libfann.trajectories(seed=3, epochs=80)


def test_fann_defaults_are_the_floats_its_source_sets():
    net = libfann.Network(libfann.proben1.FOLDER / "parity8.train", 16)
    try:
        assert net.defaults() == {
            "delta_zero": float(F32(0.1)),
            "increase_factor": float(F32(1.2)),
            "decrease_factor": 0.5,
            "delta_min": 0.0,
            "delta_max": 50.0,
        }
        w = libfann.initial_weights(0, net.shape)
        net.set(w)
        np.testing.assert_array_equal(net.get(), w)  # the mapping round-trips
    finally:
        net.close()


def test_fann_c_is_its_source_transcribed_bit_for_bit(paths):
    np.testing.assert_array_equal(paths["fann"], paths["transcription"])
    # A zero product grows the step: the first epoch moves every weight by
    # 0.1f * 1.2f (Igel & Hüsken's iRprop- would move it by delta_zero).
    first = np.abs(paths["fann"][1] - paths["fann"][0])
    np.testing.assert_allclose(first, float(F32(0.1)) * float(F32(1.2)), rtol=1e-12)


def test_fann_moves_a_weight_up_at_a_sign_change(paths):
    c, s = paths["fann"], paths["slopes"]
    flipped = s[1] * s[0] < 0  # epoch 2: the stored slope is epoch 1's
    assert flipped.any() and (s[1][flipped] < 0).any()
    step = float(F32(0.1)) * float(F32(1.2)) * 0.5
    # Up by the halved step, even where the slope asks to go down.
    np.testing.assert_allclose(c[2][flipped] - c[1][flipped], step, rtol=1e-12)


def test_library_is_fann_until_the_first_sign_change(paths):
    c, lib = paths["fann"], paths["library"]
    flip = libfann.first_flip(paths["slopes"])
    np.testing.assert_array_equal(lib[:flip], c[:flip])
    assert (lib[flip] != c[flip]).any()


def test_library_follows_the_papers_irprop_minus_on_fanns_slopes(paths):
    shape, x, y = paths["shape"], paths["x"], paths["y"]
    rule = ref.Rprop(
        "irprop-",
        float(F32(0.1)) * float(F32(1.2)),
        0.5,
        float(F32(1.2)),
        libfann.FLOOR * 0.5,
        50.0,
    )
    w = paths["library"][0].copy()
    for t in range(1, 40):
        w = w - rule.update(-libfann.slopes(w, shape, x, y))
        np.testing.assert_allclose(paths["library"][t], w, rtol=0, atol=1e-12)


def test_every_step_differs_from_fann_only_as_fanns_source_says(paths):
    cases = libfann.step_by_step(paths)
    assert set(cases) == set(libfann.CASES)
    for case, counts in cases.items():
        assert counts["steps"] > 0, case
        assert counts["as_predicted"] == counts["steps"], (case, counts)
    same = cases["same sign"]
    assert same["equal"] == same["steps"] - same["at_bound"]
    assert cases["sign change"]["equal"] <= cases["sign change"]["at_bound"]
    assert cases["zero product"]["equal"] == 0


def test_fann_moves_a_weight_whose_gradient_is_zero():
    z = libfann.zero_gradient(12)
    assert np.all(z["slopes"] == 0.0)
    moves = np.diff(z["fann"], axis=0)
    expected = float(F32(0.1)) * float(F32(1.2)) ** np.arange(1, 13)
    np.testing.assert_allclose(moves, expected[:, None] * np.ones((1, 16)), rtol=1e-9)
    np.testing.assert_array_equal(np.diff(z["library"], axis=0), 0.0)
