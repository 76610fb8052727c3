"""Data-parallel training with sharded params and optimizer state.

JAX is the distributed engine: put the params and the batch on a ``Mesh`` with
``NamedSharding`` and jit the step. The optimizer state, created eagerly from
the params by ``tx.init``, takes the params' sharding leaf by leaf, and the
update is element-wise, so the compiled step communicates only what the model
needs (the gradient reduction over the batch axis); the state is never
gathered. On a CPU-only machine this script simulates 8 devices.

Run: ``python examples/sharding.py``
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import AxisType, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import rmsprop_jax as rj  # noqa: E402


def loss_fn(params, x, y):
    return 0.5 * jnp.mean((x @ params["kernel"] + params["bias"] - y) ** 2)


def problem(devices: int):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(16 * devices, 2 * devices)), jnp.float32)
    y = x @ jnp.asarray(rng.normal(size=(2 * devices, devices)), jnp.float32)
    params = {"kernel": jnp.zeros((2 * devices, devices)), "bias": jnp.zeros(devices)}
    return params, x, y


def main() -> None:
    n = jax.device_count()
    mesh = jax.make_mesh((n,), ("data",), axis_types=(AxisType.Auto,))
    params, x, y = problem(n)
    tx = rj.rmsprop(learning_rate=0.03)

    @jax.jit
    def train(params, opt_state, x, y):  # 100 steps in one program
        def step(carry, _):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(
            step, (params, opt_state), length=100
        )
        return params, opt_state, losses

    def shard(tree, spec):
        return jax.tree.map(
            lambda a: jax.device_put(a, NamedSharding(mesh, spec(a))), tree
        )

    batch = shard((x, y), lambda a: P("data"))  # split the rows over the devices
    layouts = {
        "replicated": lambda a: P(),  # every device holds all params and state
        "fully sharded": lambda a: P("data"),  # ZeRO-3 / FSDP: 1/n on each device
    }
    for layout, spec in layouts.items():
        p = shard(params, spec)
        opt_state = tx.init(p)  # eager init: the state follows the params
        p, opt_state, losses = train(p, opt_state, *batch)
        rms = opt_state[0].rms["kernel"].sharding.spec
        print(f"{layout:14s} loss {losses[0]:.3f} -> {losses[-1]:.2e}; rms: {rms}")
        hlo = train.lower(p, opt_state, *batch).compile().as_text()
        ops = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all")
        print(f"{'':14s} collectives in the program: {[c for c in ops if c in hlo]}")

    one = jax.devices()[0]
    p = jax.device_put(params, one)
    _, _, losses = train(p, tx.init(p), *jax.device_put((x, y), one))
    print(f"{'one device':14s} loss {losses[0]:.3f} -> {losses[-1]:.2e}")


if __name__ == "__main__":
    main()
