"""Sweeps run on one device and across devices by ``tests/test_sweep_devices.py``
(in a subprocess with 4 simulated CPU devices) and by the processes of
``tests/sweep_multiprocess_worker.py`` (2 processes x 2 CPU devices).

Each case is a function ``devices -> SweepResult``; :func:`arrays` flattens a
result into named NumPy arrays, and :func:`assert_same` compares two such
dicts: equal where the program is the same, to rounding where XLA fuses a
block of another size differently. Imported by both; nothing runs on import.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import rmsprop_jax as rj
from rmsprop_jax.sweep import SweepResult, grid, sweep


def rosenbrock(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def bowl(w):
    return 3 * w[0] ** 2 + 10 * w[1] ** 2


def init_mlp(key):
    k1, k2 = jax.random.split(key)
    return {
        "w1": 0.5 * jax.random.normal(k1, (3, 8)),
        "w2": 0.5 * jax.random.normal(k2, (8, 1)),
    }


def mlp_loss(params, batch):
    x, y = batch
    out = jnp.tanh(x @ params["w1"]) @ params["w2"]
    return jnp.mean((out[:, 0] - y) ** 2)


def regression(n=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = np.sin(x @ np.array([1.0, -2.0, 0.5], np.float32))
    return x, y


def rosenbrock_records(devices, memory_limit: int | None = None) -> SweepResult:
    """15 runs (padded to a multiple of the devices), thinned records."""
    return sweep(
        rj.rmsprop,
        rosenbrock,
        jnp.array([-1.5, 2.0]),
        grid(decay=[0.0, 0.5, 0.9, 0.99, 0.999], learning_rate=[1e-3, 1e-2, 1.0]),
        steps=60,
        record=("loss", "params"),
        record_every=7,
        memory_limit=memory_limit,
        devices=devices,
    )


def optimizers_landscapes_starts(devices) -> SweepResult:
    """Several optimizers (states of several layouts), landscapes, starts."""
    return sweep(
        {"sgd": rj.sgd, "adam": rj.adam, "rprop": rj.rprop},
        {"rosenbrock": rosenbrock, "bowl": bowl},
        None,
        grid(learning_rate=[0.003, 0.03]),
        steps=40,
        starts=jnp.array([[-1.5, 2.0], [1.0, -1.0], [0.5, 0.5]]),
        record=("updates", "grads"),
        record_every=3,
        devices=devices,
    )


def batches_and_restarts(devices) -> SweepResult:
    """Data in shuffled mini-batches, random restarts, a selected landscape."""
    x, y = regression()
    return sweep(
        rj.rmsprop,
        mlp_loss,
        init_mlp,
        grid(decay=[0.5, 0.9, 0.99], learning_rate=[0.01, 0.05]),
        steps=30,
        data=(x, y),
        batch_size=8,
        key=jax.random.key(3),
        restarts=3,
        record="loss",
        devices=devices,
    )


def chunked(devices) -> SweepResult:
    """``chunk_size`` per device."""
    return sweep(
        rj.adam,
        rosenbrock,
        jnp.array([-1.5, 2.0]),
        grid(b1=[0.0, 0.5, 0.9], learning_rate=[1e-3, 1e-2, 0.1]),
        steps=25,
        chunk_size=2,
        record="params",
        devices=devices,
    )


CASES: dict[str, Callable[..., SweepResult]] = {
    "rosenbrock_records": rosenbrock_records,
    "optimizers_landscapes_starts": optimizers_landscapes_starts,
    "batches_and_restarts": batches_and_restarts,
    "chunked": chunked,
}


def arrays(result: SweepResult) -> dict[str, np.ndarray]:
    """Every array of a result (outputs, final params and states, records)
    under its path, as NumPy arrays of this process."""
    tree = {
        "losses": result.losses,
        "final_loss": result.final_loss,
        "diverged": result.diverged,
        "diverged_at": result.diverged_at,
        "final_params": result.final_params,
        "final_states": result.final_states,
        "records": result.records,
    }
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in flat}


def assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(expected)
    for name, want in expected.items():
        have = got[name]
        assert have.shape == want.shape and have.dtype == want.dtype, name
        if have.dtype.kind in "biu":  # flags, steps, counts: exactly
            np.testing.assert_array_equal(have, want, err_msg=name)
        else:  # NaN where the other has NaN
            np.testing.assert_allclose(have, want, rtol=2e-6, atol=1e-30, err_msg=name)
