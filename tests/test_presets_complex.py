"""Complex parameters through the presets: two real weights per complex one.

``torch.optim`` steps a complex parameter as ``torch.view_as_real`` makes it:
its real and imaginary parts are separate weights with their own moments.
The torch presets are run live against torch on complex128 tensors; the Keras
presets (Keras has no complex variables) are held to the same rule: a complex
weight moves exactly as the pair of its parts stacked as a real array.

A preset whose primitives (``scale_by_rms``, ``accumulate_squares``,
``precondition_by_rms``, ``scale_by_rprop``) do not treat complex numbers as
pairs yet is marked xfail, non-strict (AMSGrad runs on the second moments of
``precondition_by_rms``); the parts the presets add themselves (clipping,
weight decay, the moving average, accumulation) see real pairs only: every
preset splits a complex leaf before its own code runs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from golden import generate
from test_presets import CASES, assert_paths_close, build

from rmsprop_jax import transforms as T

STEPS = 12

PRIMITIVES = {
    "scale_by_rms": lambda: T.scale_by_rms(0.9, 1e-3, eps_in_sqrt=False, centered=True),
    "accumulate_squares": lambda: T.accumulate_squares(0.1, 1e-10),
    "precondition_by_rms": lambda: T.precondition_by_rms(
        T.momentum(0.9, dampening=0.9), 0.99, 1e-8, inner_decay=0.9
    ),
    "scale_by_rprop": lambda: T.scale_by_rprop(0.1, 0.5, 1.2, 1e-6, 50.0),
}


def _as_pairs(z: jax.Array) -> jax.Array:
    """``torch.view_as_real``: a trailing axis of (real, imaginary)."""
    return jnp.stack([jnp.real(z), jnp.imag(z)], axis=-1)


def _steps_as_pairs(primitive: str) -> bool:
    """Whether a primitive steps a complex weight as its two real parts."""
    gs = np.random.default_rng(1).normal(size=(4, 5, 2))
    z = jnp.asarray(gs[..., 0] + 1j * gs[..., 1])
    pairs = jnp.asarray(gs)
    tx_c, tx_r = PRIMITIVES[primitive](), PRIMITIVES[primitive]()
    s_c, s_r = tx_c.init(z[0]), tx_r.init(pairs[0])
    for t in range(len(gs)):
        u_c, s_c = tx_c.update(z[t], s_c, z[t])
        u_r, s_r = tx_r.update(pairs[t], s_r, pairs[t])
        if not np.allclose(_as_pairs(u_c), u_r, rtol=1e-12, atol=0):
            return False
    return True


@pytest.mark.parametrize("primitive", sorted(PRIMITIVES))
def test_each_primitive_steps_a_complex_weight_as_its_two_parts(x64, primitive):
    """The presets below are built on these primitives: each treats a complex
    weight's real and imaginary parts as two weights."""
    assert _steps_as_pairs(primitive)


def _param(name: str, *, quick: bool = True):
    """``name`` as a test parameter, marked slow outside the quick cases."""
    return pytest.param(name, marks=() if quick else pytest.mark.slow)


@jax.jit
def _complex_grads(w: dict) -> dict:
    """The gradient torch computes for ``loss(real) + loss(imag)``."""
    grad = jax.grad(generate.jax_loss)
    re = grad({k: jnp.real(v) for k, v in w.items()})
    im = grad({k: jnp.imag(v) for k, v in w.items()})
    return {k: re[k] + 1j * im[k] for k in w}


@jax.jit
def _pair_grads(w: dict) -> dict:
    grad = jax.grad(generate.jax_loss)
    re = grad({k: v[..., 0] for k, v in w.items()})
    im = grad({k: v[..., 1] for k, v in w.items()})
    return {k: jnp.stack([re[k], im[k]], axis=-1) for k in w}


def _run(tx, w0: dict, grads, steps: int) -> np.ndarray:
    """Eager steps (cheaper than compiling a dozen of them), jitted gradients."""

    def flat(w):
        return np.concatenate(
            [np.ravel(_as_pairs(w[k]) if jnp.iscomplexobj(w[k]) else w[k])
             for k in generate.SHAPES]
        )  # fmt: skip

    w, state, path = w0, tx.init(w0), [flat(w0)]
    for _ in range(steps):
        updates, state = tx.update(grads(w), state, w)
        w = optax.apply_updates(w, updates)
        path.append(flat(w))
    return np.stack(path)


def complex_path(tx, steps: int = STEPS) -> np.ndarray:
    start = generate.initial_params()
    w0 = {k: jnp.asarray(generate.complex_start(v)) for k, v in start.items()}
    return _run(tx, w0, _complex_grads, steps)


def pair_path(tx, steps: int = STEPS) -> np.ndarray:
    start = generate.initial_params()
    w0 = {
        k: _as_pairs(jnp.asarray(generate.complex_start(v))) for k, v in start.items()
    }
    return _run(tx, w0, _pair_grads, steps)


TORCH_COMPLEX = [
    "torch_rmsprop-maximize-schedule",
    "torch_rprop-both_bounds",
    "torch_adagrad-maximize",
    "torch_sgd-maximize-schedule",
    "torch_adam-weight_decay-schedule",
    "torch_adam-amsgrad-schedule",
    "torch_adamw-amsgrad-maximize",
]


@functools.cache
def torch_complex(name: str) -> np.ndarray:
    live, _ = generate.run_torch(CASES[name], STEPS, dtype="complex128")
    assert np.abs(live[-1] - live[0]).max() > 1e-2
    return live


# The quick selection: RMSprop and Adam/AMSGrad (a root, a maximum, a
# schedule); every case in the full suite.
@pytest.mark.parametrize(
    "name",
    [
        n
        if n in ("torch_rmsprop-maximize-schedule", "torch_adam-amsgrad-schedule")
        else pytest.param(n, marks=pytest.mark.slow)
        for n in TORCH_COMPLEX
    ],
)
def test_live_torch_complex_equals_the_preset_on_real_pairs(x64, name):
    """torch on complex tensors = the preset on ``view_as_real`` pairs: all of
    the preset but a primitive's own complex arithmetic."""
    pytest.importorskip("torch")
    assert_paths_close(pair_path(build(CASES[name])), torch_complex(name))


@pytest.mark.parametrize("name", [_param(n) for n in TORCH_COMPLEX])
def test_live_torch_complex_parameters(x64, name):
    pytest.importorskip("torch")
    assert_paths_close(complex_path(build(CASES[name])), torch_complex(name))


KERAS_COMPLEX = [
    "keras_rmsprop-weight_decay-clipnorm-schedule",
    "keras_adagrad-clipvalue-loss_scale-accumulation-schedule",
    "keras_adam-amsgrad-global_clipnorm-accumulation-schedule",
    "keras_adam-ema-overwrite-accumulation",
    "keras_sgd-ema-overwrite-weight_decay-loss_scale-schedule",
    "tf1_rmsprop-all-schedule",
]


@pytest.mark.parametrize(
    "name",
    [_param(n, quick=n.startswith(("keras_rmsprop", "tf1"))) for n in KERAS_COMPLEX],
)
def test_keras_and_tf1_complex_parameters_are_pairs(x64, name):
    got = complex_path(build(CASES[name]))
    assert np.abs(got[-1] - got[0]).max() > 1e-2
    assert_paths_close(got, pair_path(build(CASES[name])))
