"""Save a flax.nnx model and its ``nnx.Optimizer`` with Orbax; resume bit for bit.

An ``nnx.Optimizer`` keeps the optimizer state (the NamedTuples of
``tx.init``, as nnx variables) and a step count. ``nnx.state(model)`` and
``nnx.state(optimizer)`` are pytrees of arrays that Orbax saves as they are.
To restore:

1. build an *abstract* model and optimizer of the same kind with
   ``nnx.eval_shape`` (shapes and dtypes only, nothing is computed), and take
   their states as the restore target;
2. check the saved tree against the target with
   ``rmsprop_jax.checkpointing.check_restorable`` (another optimizer, flag or
   dtype gives one clear ``ValueError`` listing the differing key paths);
3. restore into the target and ``nnx.update`` a live model and optimizer with it.

Training on from there repeats the uninterrupted run bit for bit: parameters,
optimizer state and step count.

Run: ``python examples/flax_nnx_orbax.py`` (checkpoints go to a temporary
directory, removed at the end).
"""

from __future__ import annotations

import pathlib
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx

import rmsprop_jax as rj
from rmsprop_jax.checkpointing import check_restorable


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(1, 16, rngs=rngs)
        self.out = nnx.Linear(16, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(jnp.tanh(self.hidden(x)))


def data():
    x = jnp.linspace(-2.0, 2.0, 32)[:, None]
    return x, jnp.sin(2.0 * x)


def create(tx: optax.GradientTransformation, seed: int = 0):
    """A model and its optimizer."""
    model = MLP(nnx.Rngs(seed))
    return model, nnx.Optimizer(model, tx, wrt=nnx.Param)


@nnx.jit
def step(model, optimizer, x, y):
    def loss_fn(model):
        return jnp.mean((model(x) - y) ** 2)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads, value=loss)  # iRprop+ reads the loss
    return loss


def train(model, optimizer, steps: int) -> list[float]:
    x, y = data()
    return [float(step(model, optimizer, x, y)) for _ in range(steps)]


def save(path: pathlib.Path, model, optimizer) -> None:
    state = {"model": nnx.state(model), "optimizer": nnx.state(optimizer)}
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, state)


def restore(path: pathlib.Path, tx: optax.GradientTransformation):
    """A new model and optimizer for ``tx``, with the state saved at ``path``."""
    abstract_model, abstract_optimizer = nnx.eval_shape(lambda: create(tx))
    target = {
        "model": nnx.state(abstract_model),
        "optimizer": nnx.state(abstract_optimizer),
    }
    with ocp.StandardCheckpointer() as checkpointer:
        check_restorable(checkpointer.metadata(path).item_metadata, target)
        restored = checkpointer.restore(path, target)
    model, optimizer = create(tx)
    nnx.update(model, restored["model"])
    nnx.update(optimizer, restored["optimizer"])
    return model, optimizer


def state_leaves(model, optimizer) -> list[np.ndarray]:
    """Every array of the model and the optimizer (state and step count)."""
    return [np.asarray(leaf) for leaf in jax.tree.leaves(nnx.state((model, optimizer)))]


def main() -> None:
    tx = rj.rprop(learning_rate=0.01, variant="irprop+")

    model, optimizer = create(tx)
    straight = train(model, optimizer, 50)
    expected = state_leaves(model, optimizer)

    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "step_25"
        model, optimizer = create(tx)
        first = train(model, optimizer, 25)
        save(path, model, optimizer)
        del model, optimizer

        model, optimizer = restore(path, tx)
        resumed = first + train(model, optimizer, 25)
        same = all(
            np.array_equal(a, b)
            for a, b in zip(state_leaves(model, optimizer), expected, strict=True)
        )
        print(f"loss {straight[0]:.4f} -> {straight[-1]:.5f} in 50 steps")
        print(f"resumed after 25 steps: same losses {resumed == straight}, ", end="")
        print(f"same parameters and optimizer state bit for bit {same}")
        try:
            restore(path, rj.rmsprop(learning_rate=0.01))
        except ValueError as error:
            print(f"restoring into rmsprop fails: {error}")


if __name__ == "__main__":
    main()
