"""The copy-as-code snippet: a Python script that reproduces the current view
with the library (landscape, start, each optimizer with its exact
hyperparameters) and leaves each path in ``paths[name]``."""

from __future__ import annotations

from rmsprop_jax.explorer._catalog import OPTIMIZERS, arguments
from rmsprop_jax.explorer._compute import (
    NOISE_SEED,
    gradient_scale,
    hyperparameters,
    surface,
)
from rmsprop_jax.explorer._state import (
    CUSTOM,
    MAX_STEPS,
    MLP,
    VALLEY_CONDITION,
    State,
    to_query,
)
from rmsprop_jax.explorer._surface import valley_coefficient

_RUN = '''

def noisy_loss(w, n):
    """The loss plus the step's noise sample n . w: its gradient is g + n."""
    return loss(w) + jnp.vdot(n, w)


def run(tx, w, steps):
    """w(0) .. w(steps) of the optimizer ``tx`` on ``loss`` from ``w``."""

    @jax.jit
    def step(tx_state, w, n):
        value, grad = jax.value_and_grad(noisy_loss)(w, n)
        updates, tx_state = tx.update(grad, tx_state, w, value=value)
        return tx_state, optax.apply_updates(w, updates)

    tx_state, path = tx.init(w), [w]
    for t in range(steps):
        tx_state, w = step(tx_state, w, noise[t])
        path.append(w)
    return jnp.stack(path)


paths = {name: run(tx, start, steps) for name, tx in optimizers.items()}
for name, path in paths.items():
    print(f"{name}: w(1) = {path[1]}, w({steps}) = {path[-1]}")
'''


def _value(v: object) -> str:
    return repr(float(v)) if isinstance(v, float) else repr(v)


def snippet(state: State) -> str:
    """The script for ``state``.

    A run that diverges keeps going in the script (to inf or NaN); the page
    cuts it at its last finite point.

    Examples:
      >>> from rmsprop_jax.explorer._state import WORKED_EXAMPLE
      >>> code = snippet(WORKED_EXAMPLE)
      >>> for line in code.splitlines()[16:19]:
      ...     print(line[:72])
      optimizers = {
          "sgd": rj.sgd(learning_rate=0.001),
          "rmsprop": rj.rmsprop(learning_rate=0.05, decay=0.9, eps=1e-08, eps_
    """
    if state.landscape == CUSTOM:
        text = state.formula.replace("\\", "\\\\").replace('"', '\\"')
        loss = (  # the page's evaluator: equal to from_expression's to rounding
            f"functools.partial(\n    landscapes.run_formula,\n"
            f'    landscapes.formula_program("{text}"),\n)'
        )
    elif state.landscape == MLP:
        loss = "functools.partial(explorer.digits_plane().fn, c=0.0)"
    elif state.landscape == "valley" and state.condition != VALLEY_CONDITION:
        c = valley_coefficient(state.condition)
        loss = (
            f"lambda w: np.float32({c!r}) * w[0] ** 2 + 10 * w[1] ** 2"
            f"  # condition {state.condition:g}"
        )
    else:
        loss = f"landscapes.{state.landscape}"
    calls = []
    for name in state.optimizers:
        function, kwargs = arguments(**hyperparameters(state, name))
        args = ", ".join(f"{k}={_value(v)}" for k, v in kwargs.items())
        if state.schedule != "constant" and OPTIMIZERS[name].takes_schedule:
            lr = _value(kwargs["learning_rate"])
            args = args.replace(
                f"learning_rate={lr}",
                f"learning_rate=explorer.schedule({state.schedule!r}, {lr}, steps)",
                1,
            )
        calls.append(f"    {name!r}: rj.{function}({args}),".replace("'", '"'))
    lines = [
        '"""A view of the rmsprop_jax explorer (python -m rmsprop_jax.explorer):',
        f"append {to_query(state)}",
        'to its address to open it there."""',
        "import functools",
        "",
        "import jax",
        "import jax.numpy as jnp",
        "import numpy as np",
        "import optax",
        "",
        "import rmsprop_jax as rj",
        "from rmsprop_jax import explorer, landscapes",
        "",
        f"loss = {loss}",
        f"start = jnp.array([{state.start[0]!r}, {state.start[1]!r}])",
        f"steps = {state.steps}",
        "optimizers = {",
        *calls,
        "}",
        *_noise_lines(state),
    ]
    return "\n".join(lines) + _RUN


def _noise_lines(state: State) -> list[str]:
    if not state.noise:
        return ["noise = np.zeros((steps, 2), np.float32)  # exact gradients"]
    scale = state.noise * gradient_scale(surface(state))
    return [
        f"# gradient noise: {state.noise!r} x the landscape's median gradient norm",
        f"normal = np.random.default_rng({NOISE_SEED})"
        f".standard_normal(({MAX_STEPS}, 2))",
        f"noise = ({scale!r} * normal).astype(np.float32)",
    ]
