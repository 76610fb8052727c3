"""Host-side batch planning: which samples each step of each restart sees.

Planned with NumPy before the program runs, so the compiled program holds no
sort and no PRNG: it compiles in a fraction of the time, and the batches are
the same on every backend and every device count.
"""

from __future__ import annotations

import jax
import numpy as np


def batch_plan(
    key: jax.Array | None,
    restarts: int,
    n: int,
    steps: int,
    batch_size: int,
    shuffle: bool = True,
) -> np.ndarray:
    """``(restarts, steps, batch_size)`` int32 sample indices, made on the host.

    Restart ``r`` draws a fresh permutation of the ``n`` samples every epoch
    (NumPy's ``default_rng`` seeded with the key's bits and ``r``) and cuts it
    into batches; the last partial batch of an epoch is dropped. Host-side, so
    the compiled program holds no sort and no PRNG: it compiles in a fraction
    of the time, and the batches are the same on every backend. With
    ``shuffle=False`` every epoch takes the samples in their stored order
    (batch ``t`` of an epoch is samples ``t * batch_size`` to ``(t + 1) *
    batch_size - 1``) and ``key`` may be None: a data set that *is* a
    sequence (of gradients, say) is replayed as it stands, cycle after cycle.

    Examples:
      >>> import jax
      >>> from rmsprop_jax.sweep import batch_plan
      >>> batch_plan(jax.random.key(0), 2, 10, 7, 3).shape
      (2, 7, 3)
      >>> batch_plan(None, 1, 5, 6, 2, shuffle=False)[0].tolist()
      [[0, 1], [2, 3], [0, 1], [2, 3], [0, 1], [2, 3]]
    """
    per_epoch = n // batch_size
    epochs = -(-steps // per_epoch)
    if not shuffle:
        order = np.tile(np.arange(n), (epochs, 1))[:, : per_epoch * batch_size]
        plan = order.reshape(-1, batch_size)[:steps]
        return np.broadcast_to(plan, (restarts, *plan.shape)).astype(np.int32)
    if key is None:
        raise ValueError("shuffled batches need `key`; or pass `shuffle=False`.")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    bits = [int(b) for b in np.asarray(key).ravel()]
    plans = []
    for r in range(restarts):
        rng = np.random.default_rng([*bits, r])
        perms = np.stack([rng.permutation(n) for _ in range(epochs)])
        plans.append(perms[:, : per_epoch * batch_size].reshape(-1, batch_size)[:steps])
    return np.stack(plans).astype(np.int32)
