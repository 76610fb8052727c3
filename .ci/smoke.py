"""Smoke test of an installed rmsprop_jax, run from outside the checkout.

Checks that the package imported is the installed one, that importing it pulls
in no heavy optional dependency, that its metadata and typing marker shipped,
and that the main entry points work: the worked example, an optimizer of each
kind, a preset, a sweep, a landscape formula and the diagnostics.
"""

from __future__ import annotations

import importlib.metadata
import pathlib
import sys

import rmsprop_jax as rj

here = pathlib.Path(rj.__file__).resolve().parent
assert "site-packages" in here.parts, f"not the installed copy: {here}"
assert (here / "py.typed").is_file(), "py.typed missing from the wheel"
assert importlib.metadata.version("rmsprop_jax") == rj.__version__
heavy = {"torch", "keras", "tensorflow", "matplotlib", "flax", "sklearn", "dash"}
assert not heavy & set(sys.modules), sorted(heavy & set(sys.modules))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from rmsprop_jax import diagnostics, landscapes, presets  # noqa: E402
from rmsprop_jax.sweep import grid, sweep  # noqa: E402


def valley(w):
    return 3 * w[0] ** 2 + 10 * w[1] ** 2


# The worked example of the RMSprop lecture: two steps from (-15, 20).
w = jnp.array([-15.0, 20.0])
tx = rj.rmsprop(learning_rate=0.05, decay=0.9, eps=1e-8)
state = tx.init(w)
for _ in range(2):
    updates, state = tx.update(jax.grad(valley)(w), state, w)
    w = optax.apply_updates(w, updates)
ref, s = np.array([-15.0, 20.0]), np.zeros(2)
for _ in range(2):
    g = np.array([6.0, 20.0]) * ref
    s = 0.9 * s + 0.1 * g**2
    ref = ref - 0.05 * g / np.sqrt(s + 1e-8)
np.testing.assert_allclose(w, ref, rtol=1e-6)
np.testing.assert_allclose(w, [-14.73, 19.73], atol=5e-3)  # the lecture's numbers

# Every optimizer and a preset lower the loss on the valley.
factories = {
    "rmsprop": rj.rmsprop(0.1),
    "rprop": rj.rprop(0.1, variant="irprop+"),
    "adagrad": rj.adagrad(1.0),
    "sgd": rj.sgd(0.01, momentum=0.9),
    "sign_sgd": rj.sign_sgd(0.1),
    "adam": rj.adam(0.1),
    "laprop": rj.laprop(0.1),
    "torch_rmsprop": presets.torch_rmsprop(lr=0.1),
}
for name, tx in factories.items():
    w = jnp.array([-15.0, 20.0])
    state = tx.init(w)
    for _ in range(20):
        value, grads = jax.value_and_grad(valley)(w)
        updates, state = tx.update(grads, state, w, value=value)
        w = optax.apply_updates(w, updates)
    assert valley(w) < valley(jnp.array([-15.0, 20.0])), name

# A 2 x 2 grid in one compiled program.
result = sweep(
    rj.rmsprop,
    valley,
    jnp.array([-15.0, 20.0]),
    grid(decay=[0.9, 0.99], learning_rate=[0.01, 0.1]),
    steps=20,
)
assert result.losses.shape == (2, 2, 20), result.losses.shape
assert result.best().config["learning_rate"] == 0.1

# A typed formula and the diagnostics of a state.
f = landscapes.from_expression("(w1 - 1)**2 + 2 * w2**2")
assert float(f(jnp.array([1.0, 0.0]))) == 0.0
row = diagnostics.report(state, optimizer=tx)  # torch_rmsprop: eps outside
# (max_without_gradient is NaN: every weight had a gradient.)
assert row and all(
    np.isfinite(float(v)) for k, v in row.items() if "without_gradient" not in k
)

print(f"smoke test passed: rmsprop_jax {rj.__version__} from {here}")
