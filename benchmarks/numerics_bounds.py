"""The numerics bounds the speed of the root second moment must keep (issue 20).

Prints, for the code as it is:

* the largest relative difference between the updates of a float32 run and a
  float64 run (the same rounded hyperparameter, the same gradients: a constant
  and a noisy one) after ``--steps`` steps at ``b = --decay`` (bound: 1e-4 for
  the bias-corrected ones), ours and optax's;
* the worst error, in float32 ulp, of the first bias-corrected update of Adam,
  LaProp and RMSprop for b up to 0.99999 and |g| from 1e-4 to 1e7 (bound 2.7);
* the first float32 RMSprop updates at g = 1e30 and -3e37 (plain and centred)
  and the first float64 ones at 1e300 and -1e-300: no overflow, the formula's
  -0.0316, -0.0229, -0.0192.

Usage::

    python -m benchmarks.numerics_bounds              # 2e5 steps (a minute or two)
    python -m benchmarks.numerics_bounds --steps 20000
"""

from __future__ import annotations

import argparse

import numpy as np

B_GRID = (0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999)


def drift(make, b: float, steps: int) -> float:
    """Largest relative difference of the float32 updates of ``make(b)`` from
    the float64 updates of ``make(float32(b))``."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(1)
    noisy = 1 + 0.5 * rng.standard_normal(steps)
    gs = jnp.asarray(np.stack([np.ones(steps), noisy], 1))

    def updates(tx, dtype):
        p = jnp.zeros(2, dtype)

        def step(state, g):
            u, state = tx.update(g.astype(dtype), state, p)
            return state, u

        run = jax.jit(lambda s, gs: jax.lax.scan(step, s, gs)[1])
        return np.asarray(run(tx.init(p), gs), np.float64)

    u64 = updates(make(float(np.float32(b))), jnp.float64)
    u32 = updates(make(b), jnp.float32)
    return float(np.max(np.abs(u32 - u64) / np.abs(u64)))


def grid() -> np.ndarray:
    """46 spaced and 2000 drawn magnitudes in [1e-4, 1e7], both signs."""
    spaced = np.concatenate(
        [np.geomspace(1e-4, 1e7, 23), -np.geomspace(1.3e-4, 0.9e7, 23)]
    )
    rng = np.random.default_rng(1)
    drawn = rng.choice([-1, 1], 2000) * 10 ** rng.uniform(-4, 7, 2000)
    return np.concatenate([spaced, drawn])


def first_update_ulp(tx, g: np.ndarray, lr: float) -> float:
    """Worst error of ``tx``'s first update in float32 ulp of -lr g/(|g|+1e-8)."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(g, jnp.float32)
    u, _ = jax.jit(tx.update)(x, tx.init(x))
    g64 = g.astype(np.float32).astype(np.float64)
    exact = -lr * g64 / (np.abs(g64) + 1e-8)
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    return float(np.max(np.abs(np.asarray(u, np.float64) - exact) / ulp))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.numerics_bounds",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--decay", type=float, default=0.99999)
    parser.add_argument("--steps", type=int, default=200_000)
    args = parser.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    import rmsprop_jax as rj

    runs = {
        "rj.adam": lambda b: rj.adam(1.0, b2=b),
        "rj.laprop": lambda b: rj.laprop(1.0, b2=b),
        "rj.scale_by_rms(eps outside, bias_correction)": lambda b: rj.scale_by_rms(
            b, 1e-8, eps_in_sqrt=False, bias_correction=True
        ),
        "rj.scale_by_rms(eps outside)": lambda b: rj.scale_by_rms(
            b, 1e-8, eps_in_sqrt=False
        ),
        "rj.adagrad": lambda _: rj.adagrad(1.0),
        "optax.adam": lambda b: optax.adam(1.0, b2=b),
        "optax.scale_by_rms(eps outside)": lambda b: optax.scale_by_rms(
            b, 1e-8, eps_in_sqrt=False
        ),
        "optax.adagrad": lambda _: optax.adagrad(
            1.0, initial_accumulator_value=0.0, eps=1e-10
        ),
    }
    print(f"float32 vs float64 updates, b = {args.decay}, {args.steps} steps:")
    for name, make in runs.items():
        print(f"  {name:48s} {drift(make, args.decay, args.steps):.2e}")

    g = grid()
    worst: dict[str, float] = {}
    for b in B_GRID:
        b1 = min(b, 0.999)
        for name, tx in (
            ("adam(b2=b)", rj.adam(0.1, b2=b)),
            ("adam(b1=b)", rj.adam(0.1, b1=b1, b2=0.999)),
            (
                "rmsprop(bias_correction)",
                rj.rmsprop(0.1, b, 1e-8, eps_in_sqrt=False, bias_correction=True),
            ),
            ("laprop(b2=b)", rj.laprop(0.1, b2=b, eps=1e-8)),
            ("laprop(b1=b)", rj.laprop(0.1, b1=b1, eps=1e-8)),
        ):
            worst[name] = max(worst.get(name, 0.0), first_update_ulp(tx, g, 0.1))
    print("first float32 update, worst ulp for b in", B_GRID, "and |g| in 1e-4..1e7:")
    for name, ulp in worst.items():
        print(f"  {name:48s} {ulp:.2f}")

    for label, dtype, values, centered in (
        ("float32 rmsprop(0.01), g = 1e30, -3e37", jnp.float32, [1e30, -3e37], False),
        ("float32 centred, g = 1e30, -3e37", jnp.float32, [1e30, -3e37], True),
        (
            "float64 rmsprop(0.01), g = 1e300, -1e-300",
            jnp.float64,
            [1e300, -1e-300],
            False,
        ),
    ):
        tx = rj.rmsprop(0.01, centered=centered)
        grads = jnp.asarray(values, dtype)
        state = tx.init(jnp.zeros(2, dtype))
        steps = []
        for _ in range(3):
            u, state = tx.update(grads, state)
            steps.append(", ".join(f"{float(x):.4g}" for x in u))
        print(f"{label}: " + "; ".join(f"[{s}]" for s in steps))


if __name__ == "__main__":
    main()
