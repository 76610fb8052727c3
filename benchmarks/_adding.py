"""The adding problem as a parity task for ``state_dtype=``.

The experiment's setup (``experiments.external.adding``: Hochreiter &
Schmidhuber's adding problem as Arjovsky, Shah & Bengio set it up, an LSTM
whose last state a linear layer reads, batches of 20, fresh sequences at
every step), trained here with one optimizer's float32 and low-precision
states over several seeds (each its own initialisation and sequences).
Always answering 1 has mean squared error 1/6, the baseline a model must
beat.

The hidden size is 64 so that the four recurrent kernels ``(64, 64)`` have
4096 elements each, the 8-bit threshold: they are stored in 8 bits, the
input kernels and biases stay float32 (with 32 units nothing would be).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

BATCH = 20
HIDDEN = 64
N_TEST = 1000


def train(tx, seeds: int, steps: int, length: int, every: int, nudge: bool = False):
    """Per seed: the final test MSE (1000 held-out sequences), the initial
    parameters and the parameters every ``every`` steps (leaves shaped
    ``(seeds, ...)`` and ``(seeds, steps // every, ...)``). ``nudge``: start
    from the initial weights moved by one float32 ulp (the control run)."""
    from experiments.external.adding import LSTM, sequences

    model = LSTM(HIDDEN)
    data = [sequences(BATCH * steps, length, seed=100 + s) for s in range(seeds)]
    x = jnp.asarray(np.stack([d[0] for d in data]))
    x = x.reshape(seeds, steps, BATCH, length, 2)
    y = jnp.asarray(np.stack([d[1] for d in data])).reshape(seeds, steps, BATCH)
    x_test, y_test = (jnp.asarray(a) for a in sequences(N_TEST, length, seed=1))

    def mse(params, xb, yb):
        return jnp.mean((model.apply(params, xb) - yb) ** 2)

    def run(seed, xs, ys):
        params = model.init(jax.random.key(seed), x_test[:1])
        if nudge:
            params = jax.tree.map(lambda p: jnp.nextafter(p, jnp.inf), params)

        def step(carry, batch):
            params, state = carry
            grads = jax.grad(mse)(params, *batch)
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            return (params, state), params

        (final, _), path = jax.lax.scan(step, (params, tx.init(params)), (xs, ys))
        path = jax.tree.map(lambda a: a[every - 1 :: every], path)
        return mse(final, x_test, y_test), params, path

    return jax.jit(jax.vmap(run))(jnp.arange(seeds), x, y)
