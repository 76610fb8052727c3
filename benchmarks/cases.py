"""The problems and optimizers that ``benchmarks.step`` and ``benchmarks.hlo_passes``
measure: parameter shapes per case, the (ours, optax) pair per optimizer, the
minimal bytes each optimizer must move, and the jitted step both scripts compile.

Problems: (A) one 16M-parameter float32 leaf; (B) ~200 leaves totalling ~16M,
shaped like a small transformer (big matrices, small biases and norms); (C) a
~10k-parameter MLP (latency-bound); (A64) and (B64), the same at ~64M
parameters, for accelerators.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

LR = 1e-3

# Minimal bytes per float32 parameter: read params, grads and every state
# buffer once, write params and every state buffer once (Rprop's sign is int8).
MIN_BYTES = {
    "rmsprop": 20,  # p, g, nu -> p, nu
    "rmsprop-centered-momentum": 36,  # p, g, nu, mu, trace -> p, nu, mu, trace
    "adagrad": 20,  # p, g, G -> p, G
    "rprop": 22,  # p, g, step, sign(int8) -> p, step, sign
    "sgd-momentum": 20,  # p, g, v -> p, v
    "adam": 28,  # p, g, mu, nu -> p, mu, nu
}
OPTIMIZERS = tuple(MIN_BYTES)
# The implementation label of benchmarks.step's control: optax's step jitted a
# second time and timed beside the first (its ratio is the run's noise floor).
CONTROL = "optax A/A"

Shapes = dict[str, tuple[int, ...]]


def transformer_shapes(
    d: int = 320, ff: int = 1280, vocab: int = 4096, blocks: int = 12
) -> Shapes:
    """195 leaves; by default ~16.1M parameters: 12 blocks of width 320, vocab
    4096 (width 640, vocab 8192: ~64.4M)."""
    shapes: Shapes = {"embed": (vocab, d)}
    for i in range(blocks):
        b = f"block{i:02d}."
        for name in ("q", "k", "v", "o"):
            shapes[b + name + ".w"] = (d, d)
            shapes[b + name + ".b"] = (d,)
        shapes[b + "ln1.scale"] = (d,)
        shapes[b + "ln1.bias"] = (d,)
        shapes[b + "ff1.w"] = (d, ff)
        shapes[b + "ff1.b"] = (ff,)
        shapes[b + "ff2.w"] = (ff, d)
        shapes[b + "ff2.b"] = (d,)
        shapes[b + "ln2.scale"] = (d,)
        shapes[b + "ln2.bias"] = (d,)
    shapes["ln_f.scale"] = (d,)
    shapes["ln_f.bias"] = (d,)
    return shapes


def mlp_shapes() -> Shapes:
    """10,660 parameters: 50 -> 100 -> 50 -> 10."""
    sizes = (50, 100, 50, 10)
    shapes: Shapes = {}
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        shapes[f"layer{i}.w"] = (m, n)
        shapes[f"layer{i}.b"] = (n,)
    return shapes


CASES: dict[str, tuple[str, Callable[[], Shapes]]] = {
    "A": ("one 16M leaf", lambda: {"w": (16 * 2**20,)}),
    "B": ("transformer-like, ~200 leaves, 16M", transformer_shapes),
    "C": ("MLP, 10.7k params", mlp_shapes),
    "A64": ("one 64M leaf", lambda: {"w": (64 * 2**20,)}),
    "B64": (
        "transformer-like, ~200 leaves, 64M",
        lambda: transformer_shapes(d=640, ff=2560, vocab=8192),
    ),
}


def make_arrays(shapes: Shapes, seed: int, scale: float) -> dict[str, np.ndarray]:
    """Normal float32 arrays of ``shapes``, times ``scale``."""
    rng = np.random.default_rng(seed)
    return {
        k: (scale * rng.standard_normal(s, dtype=np.float32)) for k, s in shapes.items()
    }


def jax_transforms(name: str):
    """(ours, optax) gradient transformations with the same hyperparameters."""
    import optax

    import rmsprop_jax as rj

    if name == "rmsprop":
        return rj.rmsprop(LR, 0.9, 1e-8), optax.rmsprop(LR, 0.9, 1e-8)
    if name == "rmsprop-centered-momentum":
        kw = dict(centered=True, momentum=0.9)
        return rj.rmsprop(LR, 0.9, 1e-8, **kw), optax.rmsprop(LR, 0.9, 1e-8, **kw)
    if name == "adagrad":
        return rj.adagrad(LR), optax.adagrad(LR)
    if name == "rprop":
        return rj.rprop(LR), optax.rprop(LR)
    if name == "sgd-momentum":
        return rj.sgd(LR, momentum=0.9), optax.sgd(LR, momentum=0.9)
    if name == "adam":
        return rj.adam(LR), optax.adam(LR)
    raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")


def jitted_step(tx):
    """``jit(step, donate_argnums=(0, 1))`` with ``step(params, state, grads)`` =
    ``tx.update`` then ``optax.apply_updates``."""
    import jax
    import optax

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1))
