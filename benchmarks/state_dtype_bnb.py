"""Our 8-bit states against bitsandbytes' 8-bit optimizers, no re-synchronisation.

    python -m benchmarks.state_dtype_bnb [--steps 1000] [--seeds 2]

The digits MLP of ``benchmarks.state_dtype parity`` (64-256-256-10, tanh,
mini-batches of 128; the same initial weights and batch order for every
run). Per optimizer, four runs: ours with a float32 state, ours with
``state_dtype=NearestRounding("int8")`` (and with
``StochasticRounding("int8")``), torch.optim with its float32 state and
bitsandbytes' block-wise 8-bit optimizer
(``Adam8bit``, ``RMSprop8bit``, ``Adagrad8bit``, ``optim_bits=8``,
``min_8bit_size=4096`` as ours). The drift of each 8-bit run from its own
library's float32 run at the last step, ``|w_8 - w_32| / |w_32 - w_0|``
over all parameters, and the final full-data losses. bitsandbytes >= 0.50
runs these on CPU.
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rmsprop_jax as rj
from benchmarks import _digits

SIZES = (64, 256, 256, 10)

# (ours, torch.optim, bitsandbytes) factories with the same hyperparameters
# (the parity benchmark's: rates low enough not to fit the data to ~0 loss).
CASES = {
    "rmsprop": (
        lambda sd: rj.rmsprop(1e-4, 0.99, eps=1e-8, eps_in_sqrt=False, state_dtype=sd),
        lambda torch, ps: torch.optim.RMSprop(ps, lr=1e-4, alpha=0.99, eps=1e-8),
        lambda bnb, ps: bnb.optim.RMSprop8bit(
            ps, lr=1e-4, alpha=0.99, eps=1e-8, min_8bit_size=4096
        ),
    ),
    "adagrad": (
        lambda sd: rj.adagrad(0.01, eps=1e-10, state_dtype=sd),
        lambda torch, ps: torch.optim.Adagrad(ps, lr=0.01, eps=1e-10),
        lambda bnb, ps: bnb.optim.Adagrad8bit(
            ps, lr=0.01, eps=1e-10, min_8bit_size=4096
        ),
    ),
    "adam": (
        lambda sd: rj.adam(1e-4, state_dtype=sd),
        lambda torch, ps: torch.optim.Adam(ps, lr=1e-4),
        lambda bnb, ps: bnb.optim.Adam8bit(ps, lr=1e-4, min_8bit_size=4096),
    ),
}


def _batches(seed: int, steps: int, n: int) -> np.ndarray:
    key = jax.random.fold_in(jax.random.key(seed), 1)
    return np.asarray(jax.random.randint(key, (steps, 128), 0, n))


def _ours(tx, params, x, y, order) -> list[np.ndarray]:
    def step(carry, idx):
        params, state = carry
        grads = jax.grad(_digits.cross_entropy)(params, (x[idx], y[idx]))
        updates, state = tx.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    run = jax.jit(lambda p: jax.lax.scan(step, (p, tx.init(p)), order)[0][0])
    return [np.asarray(a, np.float64) for a in jax.tree.leaves(run(params))]


def _torch(make, params, x, y, order) -> list[np.ndarray]:
    import torch

    leaves = [
        torch.nn.Parameter(torch.tensor(np.asarray(a))) for a in params_leaves(params)
    ]
    opt = make(leaves)
    xt, yt = torch.tensor(np.asarray(x)), torch.tensor(np.asarray(y), dtype=torch.long)
    for idx in order:
        idx = torch.tensor(idx)
        h = xt[idx]
        for i in range(0, len(leaves) - 2, 2):  # leaves: b, w per layer
            h = torch.tanh(h @ leaves[i + 1] + leaves[i])
        logits = h @ leaves[-1] + leaves[-2]
        loss = torch.nn.functional.cross_entropy(logits, yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [a.detach().numpy().astype(np.float64) for a in leaves]


def params_leaves(params) -> list:
    """The leaves in ``jax.tree.leaves`` order (per layer: b, then w)."""
    return jax.tree.leaves(params)


def _loss(leaves, x, y) -> float:
    params = jax.tree.unflatten(
        jax.tree.structure(_digits.init_mlp(jax.random.key(0), SIZES)),
        [jnp.asarray(a, jnp.float32) for a in leaves],
    )
    return float(_digits.cross_entropy(params, (x, y)))


def _drift(low, ref, start) -> float:
    apart = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(low, ref, strict=True)))
    moved = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(ref, start, strict=True)))
    return float(apart / moved)


def main() -> None:
    import bitsandbytes as bnb
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, y = _digits.load_digits()
    print(
        f"digits MLP {'-'.join(map(str, SIZES))}, batch 128, {args.steps} steps, "
        f"seeds 0..{args.seeds - 1}; bitsandbytes {bnb.__version__}, torch "
        f"{torch.__version__}, CPU; load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'optimizer':<10}{'seed':>5}{'ours int8+rn':>13}{'ours int8+sr':>14}"
        f"{'bnb 8-bit':>11}   final loss: ours f32 / int8+rn / int8+sr, torch / bnb"
    )
    for name, (ours, theirs, bnb8) in CASES.items():
        for seed in range(args.seeds):
            params = _digits.init_mlp(jax.random.key(seed), SIZES)
            order = _batches(seed, args.steps, len(y))
            start = [np.asarray(a, np.float64) for a in params_leaves(params)]
            w32 = _ours(ours(None), params, x, y, order)
            w8 = _ours(ours(rj.NearestRounding("int8")), params, x, y, order)
            wsr = _ours(ours(rj.StochasticRounding("int8", seed)), params, x, y, order)
            t32 = _torch(lambda ps, t=theirs: t(torch, ps), params, x, y, order)
            t8 = _torch(lambda ps, b=bnb8: b(bnb, ps), params, x, y, order)
            losses = [_loss(w, x, y) for w in (w32, w8, wsr, t32, t8)]
            print(
                f"{name:<10}{seed:>5}{_drift(w8, w32, start):>11.3f}"
                f"{_drift(wsr, w32, start):>14.3f}{_drift(t8, t32, start):>11.3f}"
                f"   {losses[0]:.4f} / {losses[1]:.4f} / {losses[2]:.4f}, "
                f"{losses[3]:.4f} / {losses[4]:.4f}",
                flush=True,
            )
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
