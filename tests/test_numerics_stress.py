"""Stress matrix: every optimizer and preset x 16/32/64-bit x hard gradients.

One run per (optimizer, dtype) updates five leaves at once, one per gradient
pattern (zero, tiny, huge, alternating, once-NaN); every transformation here
is element-wise, so the leaves do not see each other (the NaN stays in its
own leaf). What holds, checked after every step:

* params and state finite in every leaf whose gradients have been finite so
  far (the once-NaN leaf only until its NaN);
* state dtypes and shapes unchanged, update dtype = gradient dtype;
* a zero gradient gives a zero update (and no NaN, also with eps = 0);
* the first update is a descent step (opposite sign to the gradient, or 0)
  for every pattern, and every update is while the gradient keeps its sign
  (zero, tiny, huge patterns);
* float16/bfloat16 runs stay within 5% of a float64 run of the same
  (rounded) gradients, on the leaves whose values float16 can hold.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import PRESET_FACTORIES

import rmsprop_jax as rj
from rmsprop_jax import optimizers, presets

STEPS = 6
NAN_STEP = 2
PATTERNS = ("zero", "tiny", "huge", "alternating", "once_nan")

# Required arguments and interesting flags; every other argument is the
# factory's default, so presets added later are covered as they come.
_REQUIRED = {"sgd": dict(learning_rate=0.01), "sign_sgd": dict(learning_rate=0.01)}
_EXTRA = {
    "rmsprop-centered-momentum": ("rmsprop", dict(centered=True, momentum=0.9)),
    "rmsprop-bias-correction": ("rmsprop", dict(bias_correction=True)),
    "rmsprop-eps0": ("rmsprop", dict(eps=0.0)),
    "sgd-nesterov": ("sgd", dict(learning_rate=0.01, momentum=0.9, nesterov=True)),
    "rprop+": ("rprop", dict(variant="rprop+")),
    "irprop+": ("rprop", dict(variant="irprop+")),
    "torch_rmsprop-centered-momentum": (
        "presets.torch_rmsprop",
        dict(centered=True, momentum=0.9),
    ),
    "torch_sgd-momentum": ("presets.torch_sgd", dict(lr=0.01, momentum=0.9)),
    "torch_adam-amsgrad": ("presets.torch_adam", dict(amsgrad=True)),
    "torch_adam-amsgrad-eps0": ("presets.torch_adam", dict(amsgrad=True, eps=0.0)),
    "torch_adamw-amsgrad": ("presets.torch_adamw", dict(amsgrad=True)),
    "keras_adam-amsgrad": ("presets.keras_adam", dict(amsgrad=True)),
    "keras_adam-amsgrad-eps0": (
        "presets.keras_adam",
        dict(amsgrad=True, epsilon=0.0),
    ),
}


def _factory(name: str):
    if name.startswith("presets."):
        return getattr(presets, name.removeprefix("presets."))
    return getattr(optimizers, name)


def _required(fn) -> dict:
    out = dict(_REQUIRED.get(fn.__name__, {}))
    for p in inspect.signature(fn).parameters.values():
        if p.default is inspect.Parameter.empty and p.name not in out:
            out[p.name] = 0.01  # a learning rate
    return out


CASES = {name: (name, {}) for name in optimizers.__all__}
CASES |= {f"presets.{name}": (f"presets.{name}", {}) for name in PRESET_FACTORIES}
CASES |= _EXTRA


def _make(case: str) -> optax.GradientTransformation:
    name, kwargs = CASES[case]
    fn = _factory(name)
    return fn(**(_required(fn) | kwargs))


def _grads(dtype, t: int) -> dict:
    info = jnp.finfo(dtype)
    huge = {jnp.float16: 6e4, jnp.bfloat16: 1e30, jnp.float32: 1e30}.get(dtype, 1e300)
    tiny = float(info.tiny) * 16
    values = {
        "zero": 0.0,
        "tiny": tiny,
        "huge": huge,
        "alternating": 0.5 if t % 2 == 0 else -0.5,
        "once_nan": np.nan if t == NAN_STEP else 0.25,
    }
    return {k: jnp.full((2,), v, dtype) for k, v in values.items()}


def _run(case: str, dtype, grads_fn) -> list:
    tx = _make(case)
    params = {k: jnp.zeros((2,), dtype) for k in PATTERNS}
    state = tx.init(params)
    out = []
    for t in range(STEPS):
        grads = grads_fn(t)
        extra = {"value": jnp.asarray(float(-t))} if case == "irprop+" else {}
        updates, new_state = tx.update(grads, state, params, **extra)
        new_params = optax.apply_updates(params, updates)
        out.append((grads, updates, state, new_state, new_params))
        params, state = new_params, new_state
    return out


def _leaf(tree, key):
    """The leaves of ``tree`` that belong to pattern ``key``."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [
        leaf for path, leaf in flat if any(getattr(k, "key", None) == key for k in path)
    ]


DTYPES = [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64]
# Every case runs in the full suite; the quick selection keeps one of each
# kind of state (second moment, both moments, Rprop's step sizes).
QUICK = ("rmsprop", "adam", "irprop+")
MATRIX = [
    pytest.param(case, marks=[] if case in QUICK else [pytest.mark.slow])
    for case in sorted(CASES)
]


@pytest.mark.parametrize("case", MATRIX)
def test_stress_matrix(x64, case):
    for dtype in DTYPES:
        run = _run(case, dtype, lambda t, dtype=dtype: _grads(dtype, t))
        for t, (grads, updates, state, new_state, params) in enumerate(run):
            where = f"{case} {jnp.dtype(dtype).name} step {t}"
            for old, new in zip(
                jax.tree.leaves(state), jax.tree.leaves(new_state), strict=True
            ):
                assert (old.dtype, old.shape) == (new.dtype, new.shape), where
            for key in PATTERNS:
                g, u = grads[key], updates[key]
                assert u.dtype == g.dtype, where
                if key == "once_nan" and t >= NAN_STEP:
                    continue
                for leaf in _leaf(new_state, key) + [params[key], u]:
                    assert np.all(np.isfinite(np.asarray(leaf, np.float64))), (
                        where,
                        key,
                    )
                g64, u64 = np.asarray(g, np.float64), np.asarray(u, np.float64)
                if key == "zero":
                    assert np.all(u64 == 0), (where, u64)
                if t == 0 or key in ("zero", "tiny", "huge"):
                    assert np.all(np.sign(u64) * np.sign(g64) <= 0), (where, key, u64)
                if t == 0 and key == "huge":
                    assert np.all(u64 != 0), (where, "a huge gradient froze")


def _compare_16_bit(case, dtype):
    """16-bit vs float64 on the same (rounded) gradients: params after every
    step within 5% of the float64 run's largest |param| so far."""
    keys = ("alternating", "once_nan", "huge")

    def grads(dtype_out):
        def fn(t):
            g = _grads(dtype, t)
            if dtype == jnp.bfloat16:
                g["huge"] = jnp.full((2,), 3e3, dtype)  # float64 holds any
            return {k: g[k].astype(dtype_out) for k in keys} | {
                k: jnp.zeros((2,), dtype_out) for k in PATTERNS if k not in keys
            }

        return fn

    low = _run(case, dtype, grads(dtype))
    high = _run(case, jnp.float64, grads(jnp.float64))
    for t, (lo, hi) in enumerate(zip(low, high, strict=True)):
        for key in keys:
            if key == "once_nan" and t >= NAN_STEP:
                continue
            p_lo = np.asarray(lo[4][key], np.float64)
            p_hi = np.asarray(hi[4][key], np.float64)
            scale = max(np.abs(np.asarray(h[4][key])).max() for h in high[: t + 1])
            np.testing.assert_allclose(
                p_lo, p_hi, atol=0.05 * scale + 1e-30, err_msg=f"{case} {key} {t}"
            )


@pytest.mark.parametrize("case", MATRIX)
def test_16_bit_runs_track_float64(x64, case):
    for dtype in (jnp.float16, jnp.bfloat16):
        _compare_16_bit(case, dtype)


def test_stress_matrix_covers_every_public_factory():
    covered = {CASES[c][0] for c in CASES}
    assert {n for n in optimizers.__all__} <= covered
    assert {f"presets.{n}" for n in PRESET_FACTORIES} <= covered
    assert rj.rmsprop.__name__ in covered
