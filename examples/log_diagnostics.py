"""Log per-parameter effective learning rates and gradient RMS to a CSV file.

``rmsprop_jax.diagnostics.report`` turns an optimizer state into a flat dict
of scalars (min / median / max per parameter leaf), computed inside the jitted
step, so logging every step costs a few reductions. The keys are sorted and
fixed, so they make stable CSV columns (or TensorBoard tags, with any writer).

Here RMSprop with a warmup-cosine schedule, wrapped in
``optax.inject_hyperparams`` so that the current learning rate is read from the
state, trains a small MLP; the CSV shows the effective learning rates
:math:`\\eta_t/\\sqrt{s_t+\\epsilon}` of the kernels and biases of both layers.

Run: ``python examples/log_diagnostics.py [out.csv]``
"""

from __future__ import annotations

import csv
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rmsprop_jax as rj
from rmsprop_jax import diagnostics


def init_params(key):
    k1, k2 = jax.random.split(key)
    return {
        "hidden": {"kernel": jax.random.normal(k1, (1, 16)), "bias": jnp.zeros(16)},
        "out": {"kernel": 0.25 * jax.random.normal(k2, (16, 1)), "bias": jnp.zeros(1)},
    }


def mlp(params, x):
    h = jnp.tanh(x @ params["hidden"]["kernel"] + params["hidden"]["bias"])
    return h @ params["out"]["kernel"] + params["out"]["bias"]


def train(steps: int = 300, path: str | None = "diagnostics.csv") -> list[dict]:
    """Trains, logging one row per step (to ``path`` if given); returns the rows."""
    x = jnp.linspace(-2.0, 2.0, 32)[:, None]
    y = jnp.sin(2.0 * x)
    schedule = optax.warmup_cosine_decay_schedule(0.0, 0.02, 30, steps, 0.002)
    tx = optax.inject_hyperparams(rj.rmsprop)(learning_rate=schedule, decay=0.9)
    params = init_params(jax.random.key(0))
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state):
        loss, grads = jax.value_and_grad(lambda p: jnp.mean((mlp(p, x) - y) ** 2))(
            params
        )
        updates, opt_state = tx.update(grads, opt_state, params)
        # How the state is read is rmsprop's declaration; learning_rate and
        # eps come from the inject_hyperparams state, under its names.
        row = diagnostics.report(opt_state, optimizer=rj.rmsprop)
        row["learning_rate"] = opt_state.hyperparams["learning_rate"]
        row["loss"] = loss
        return optax.apply_updates(params, updates), opt_state, row

    rows = []
    for t in range(steps):
        params, opt_state, row = step(params, opt_state)
        rows.append({"step": t, **{k: float(v) for k, v in row.items()}})
    if path is not None:
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return rows


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "diagnostics.csv"
    rows = train(path=out)
    key = "effective_learning_rate/rmsprop/hidden/kernel/median"
    for t in (0, 30, 100, len(rows) - 1):
        r = rows[t]
        print(
            f"step {t:3d}  loss {r['loss']:.4f}  lr {r['learning_rate']:.4f}  "
            f"median effective lr (hidden kernel) {r[key]:.4f}"
        )
    print(f"{len(rows)} rows x {len(rows[0])} columns written to {out}")
    print("columns:", ", ".join(list(rows[0])[:4]), "...")
    assert np.isfinite(rows[-1]["loss"])
