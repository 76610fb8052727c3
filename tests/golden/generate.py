"""Regenerates the golden trajectories of ``rmsprop_jax.presets``.

Run from the repository root (PyTorch and Keras 3 installed, no TensorFlow)::

    python tests/golden/generate.py            # every case
    python tests/golden/generate.py NAME ...   # only these, the others kept

Every case runs the *framework's own optimizer* in float64 for ``STEPS`` steps
on a non-convex loss over three parameter tensors (a 3x4 matrix, a 4-vector and
a scalar):

* PyTorch (CPU, ``foreach=False``): ``torch.optim.*`` with autograd gradients
  and, for scheduled cases, a ``torch.optim.lr_scheduler.LambdaLR`` stepped
  after every ``optimizer.step()``.
* Keras 3 on the JAX backend (``KERAS_BACKEND=jax``, ``floatx="float64"``,
  ``jax_enable_x64``): ``keras.optimizers.*`` fed with JAX gradients, and a
  ``keras.optimizers.schedules.LearningRateSchedule`` for scheduled cases.
* TensorFlow 1 (not installable next to Keras 3 on the JAX backend): a NumPy
  transcription of ``RMSPropOptimizer`` -- ``rms`` slot initialised to ones,
  ``mg``/``momentum`` to zeros -- and of the ``ApplyRMSProp`` and
  ``ApplyCenteredRMSProp`` CPU kernels of ``training_ops.cc``, operation by
  operation, fed with JAX gradients.

It writes ``trajectories.npz`` (one ``(STEPS + 1, 17)`` float64 array per case:
the flattened ``a, b, c`` after each step, row 0 the start) and ``cases.json``
(the cases, framework versions, and per-Rprop-case which step-size bounds were
hit). Heavy imports happen inside functions: pytest imports this module.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
STEPS = 50
PEAK = 10.0  # the schedule's peak step (see ``schedule_factor``)
SHAPES = {"a": (3, 4), "b": (4,), "c": ()}


def schedule_factor(t: Any, minimum: Callable = min) -> Any:
    """Warm up linearly to 1 at step ``PEAK - 1``, then decay as ``PEAK / (t + 1)``.

    Rational in ``t`` (0 at the first update), so Python floats, NumPy, torch
    and JAX float64 all give the same bits. ``minimum`` is ``min`` for Python
    numbers and ``jnp.minimum`` / ``keras.ops.minimum`` for arrays.
    """
    return minimum((t + 1) / PEAK, PEAK / (t + 1))


def _case(preset: str, lr: float | None, schedule: bool = False, **kwargs: Any) -> dict:
    framework = preset.split("_")[0]
    lr_name = "lr" if framework == "torch" else "learning_rate"
    return {
        "preset": preset,
        "framework": framework,
        "lr_name": lr_name,
        "lr": lr,
        "schedule": schedule,
        "kwargs": kwargs,
    }


# (id, case). ``lr=None`` keeps the framework's default learning rate.
CASES: dict[str, dict] = {
    "torch_rmsprop-defaults": _case("torch_rmsprop", None),
    "torch_rmsprop-centered": _case("torch_rmsprop", 0.01, centered=True),
    "torch_rmsprop-weight_decay": _case(
        "torch_rmsprop", 0.01, alpha=0.9, eps=1e-3, weight_decay=0.1
    ),
    "torch_rmsprop-momentum-schedule": _case("torch_rmsprop", 0.01, True, momentum=0.9),
    "torch_rmsprop-all-schedule": _case(
        "torch_rmsprop",
        0.02,
        True,
        alpha=0.95,
        eps=1e-6,
        weight_decay=0.05,
        momentum=0.5,
        centered=True,
    ),
    "torch_rprop-defaults": _case("torch_rprop", None),
    "torch_rprop-both_bounds": _case("torch_rprop", 0.05, step_sizes=[0.01, 0.2]),
    "torch_rprop-first_step_clipped_to_max": _case(
        "torch_rprop", 1.0, etas=[0.3, 1.5], step_sizes=[1e-6, 0.3]
    ),
    "torch_rprop-first_step_clipped_to_min": _case(
        "torch_rprop", 1e-4, step_sizes=[1e-3, 1.0]
    ),
    "torch_rprop-schedule": _case("torch_rprop", 0.5, True),
    "torch_adagrad-defaults": _case("torch_adagrad", None),
    "torch_adagrad-lr_decay": _case("torch_adagrad", 0.5, lr_decay=0.05),
    "torch_adagrad-all-schedule": _case(
        "torch_adagrad",
        0.3,
        True,
        lr_decay=0.1,
        weight_decay=0.1,
        initial_accumulator_value=0.5,
        eps=1e-3,
    ),
    "torch_sgd-plain": _case("torch_sgd", 0.01),
    "torch_sgd-weight_decay": _case("torch_sgd", 0.02, weight_decay=0.2),
    "torch_sgd-dampening_without_momentum": _case("torch_sgd", 0.01, dampening=0.5),
    "torch_sgd-momentum-schedule": _case("torch_sgd", 0.01, True, momentum=0.9),
    "torch_sgd-dampening-schedule": _case(
        "torch_sgd", 0.02, True, momentum=0.9, dampening=0.5
    ),
    "torch_sgd-nesterov-schedule": _case(
        "torch_sgd", 0.01, True, momentum=0.8, weight_decay=0.05, nesterov=True
    ),
    "torch_rmsprop-maximize-schedule": _case(
        "torch_rmsprop", 0.01, True, weight_decay=0.1, momentum=0.5, maximize=True
    ),
    "torch_rprop-maximize": _case("torch_rprop", 0.02, maximize=True),
    "torch_adagrad-maximize": _case(
        "torch_adagrad", 0.05, weight_decay=0.1, lr_decay=0.01, maximize=True
    ),
    "torch_sgd-maximize-schedule": _case(
        "torch_sgd", 0.002, True, momentum=0.5, weight_decay=0.3, maximize=True
    ),
    "torch_adam-defaults": _case("torch_adam", None),
    "torch_adam-weight_decay-schedule": _case(
        "torch_adam", 0.05, True, betas=[0.8, 0.99], eps=1e-3, weight_decay=0.1
    ),
    "torch_adam-amsgrad-schedule": _case(
        "torch_adam", 0.05, True, betas=[0.5, 0.9], weight_decay=0.05, amsgrad=True
    ),
    "torch_adam-maximize": _case(
        "torch_adam", 0.01, weight_decay=0.2, amsgrad=True, maximize=True
    ),
    "torch_adamw-defaults": _case("torch_adamw", None),
    "torch_adamw-weight_decay-schedule": _case(
        "torch_adamw", 0.05, True, betas=[0.8, 0.99], eps=1e-4, weight_decay=0.5
    ),
    "torch_adamw-amsgrad-maximize": _case(
        "torch_adamw", 0.01, weight_decay=0.1, amsgrad=True, maximize=True
    ),
    "torch_adadelta-defaults": _case("torch_adadelta", None),
    "torch_adadelta-weight_decay-schedule": _case(
        "torch_adadelta", 0.5, True, rho=0.8, eps=1e-4, weight_decay=0.1
    ),
    "torch_adadelta-maximize": _case(
        "torch_adadelta", 2.0, rho=0.95, weight_decay=0.05, maximize=True
    ),
    "keras_rmsprop-defaults": _case("keras_rmsprop", None),
    "keras_rmsprop-centered": _case("keras_rmsprop", 0.01, centered=True),
    "keras_rmsprop-momentum-schedule": _case("keras_rmsprop", 0.01, True, momentum=0.9),
    "keras_rmsprop-all-schedule": _case(
        "keras_rmsprop", 0.01, True, rho=0.95, momentum=0.5, epsilon=1e-3, centered=True
    ),
    "keras_adagrad-defaults": _case("keras_adagrad", None),
    "keras_adagrad-all-schedule": _case(
        "keras_adagrad", 0.3, True, initial_accumulator_value=0.5, epsilon=1e-3
    ),
    "keras_rmsprop-weight_decay-clipnorm-schedule": _case(
        "keras_rmsprop", 0.01, True, momentum=0.5, weight_decay=0.2, clipnorm=1.0
    ),
    "keras_adagrad-clipvalue-loss_scale-accumulation-schedule": _case(
        "keras_adagrad",
        0.3,
        True,
        weight_decay=0.05,
        clipvalue=0.5,
        loss_scale_factor=4.0,
        gradient_accumulation_steps=3,
    ),
    "keras_adam-defaults": _case("keras_adam", None),
    "keras_adam-epsilon-schedule": _case(
        "keras_adam", 0.05, True, beta_1=0.8, beta_2=0.99, epsilon=1e-3
    ),
    "keras_adam-amsgrad-global_clipnorm-accumulation-schedule": _case(
        "keras_adam",
        0.05,
        True,
        beta_1=0.5,
        beta_2=0.9,
        amsgrad=True,
        global_clipnorm=2.0,
        weight_decay=0.1,
        gradient_accumulation_steps=2,
    ),
    "keras_adam-ema-overwrite-accumulation": _case(
        "keras_adam",
        0.05,
        use_ema=True,
        ema_momentum=0.8,
        ema_overwrite_frequency=3,
        gradient_accumulation_steps=2,
    ),
    # Keras's default learning rate, 0.001, moves Adadelta by 1e-4 in 50 steps.
    "keras_adadelta-rate_1": _case("keras_adadelta", 1.0),
    "keras_adadelta-rho-schedule": _case(
        "keras_adadelta", 1.0, True, rho=0.8, epsilon=1e-4
    ),
    "keras_adadelta-clipnorm-weight_decay-ema": _case(
        "keras_adadelta",
        2.0,
        rho=0.9,
        clipnorm=1.0,
        weight_decay=0.05,
        use_ema=True,
        ema_momentum=0.9,
        ema_overwrite_frequency=5,
    ),
    "keras_sgd-plain": _case("keras_sgd", 0.01),
    "keras_sgd-momentum-schedule": _case("keras_sgd", 0.01, True, momentum=0.9),
    "keras_sgd-nesterov-clipnorm-schedule": _case(
        "keras_sgd", 0.02, True, momentum=0.8, nesterov=True, clipnorm=2.0
    ),
    "keras_sgd-ema-overwrite-weight_decay-loss_scale-schedule": _case(
        "keras_sgd",
        0.01,
        True,
        momentum=0.9,
        weight_decay=0.1,
        use_ema=True,
        ema_momentum=0.9,
        ema_overwrite_frequency=4,
        loss_scale_factor=0.5,
    ),
    "tf1_rmsprop-plain": _case("tf1_rmsprop", 0.01),
    "tf1_rmsprop-centered": _case("tf1_rmsprop", 0.01, decay=0.95, centered=True),
    "tf1_rmsprop-momentum-schedule": _case("tf1_rmsprop", 0.01, True, momentum=0.9),
    "tf1_rmsprop-all-schedule": _case(
        "tf1_rmsprop",
        0.01,
        True,
        decay=0.8,
        momentum=0.5,
        epsilon=1e-4,
        centered=True,
    ),
}


def initial_params() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {name: rng.normal(size=shape) for name, shape in SHAPES.items()}


def complex_start(w: np.ndarray) -> np.ndarray:
    """The complex start of the complex runs: ``w + 1j * reversed(w)``."""
    return w + 1j * np.flip(w)


def flatten(params: dict[str, Any]) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(params[k])) for k in SHAPES])


def jax_loss(params: dict) -> Any:
    """The loss in JAX: double wells per weight plus a coupling of all tensors."""
    import jax.numpy as jnp

    a, b, c = params["a"], params["b"], params["c"]
    wells = sum(jnp.sum(0.25 * x**4 - x**2 + 0.3 * jnp.sin(3 * x)) for x in (a, b, c))
    return wells + 0.5 * (jnp.sum(jnp.tanh(a @ b)) * c)


def _torch_loss(a: Any, b: Any, c: Any) -> Any:
    import torch

    wells = sum(
        torch.sum(0.25 * x**4 - x**2 + 0.3 * torch.sin(3 * x)) for x in (a, b, c)
    )
    return wells + 0.5 * (torch.sum(torch.tanh(a @ b)) * c)


def _framework_kwargs(case: dict) -> dict:
    kwargs = {
        k: tuple(v) if isinstance(v, list) else v for k, v in case["kwargs"].items()
    }
    if case["lr"] is not None:
        kwargs[case["lr_name"]] = case["lr"]
    return kwargs


def torch_classes() -> dict[str, type]:
    """The ``torch.optim`` class that each ``torch_*`` preset reproduces."""
    import torch

    return {
        "torch_rmsprop": torch.optim.RMSprop,
        "torch_rprop": torch.optim.Rprop,
        "torch_adagrad": torch.optim.Adagrad,
        "torch_sgd": torch.optim.SGD,
        "torch_adam": torch.optim.Adam,
        "torch_adamw": torch.optim.AdamW,
        "torch_adadelta": torch.optim.Adadelta,
    }


def run_torch(
    case: dict, steps: int = STEPS, foreach: bool = False, dtype: str = "float64"
) -> tuple[np.ndarray, dict]:
    """Trajectory of ``torch.optim.<Name>`` and, for Rprop, the bounds hit.

    ``foreach=True`` runs torch's multi-tensor code instead of the
    single-tensor loop; ``dtype="complex128"`` starts from complex weights
    (real part ``w0``, imaginary part ``w0[::-1]``) on the loss of the real
    and of the imaginary parts, and returns the path of ``view_as_real``.
    """
    import torch

    w0 = initial_params()
    complex_ = dtype == "complex128"
    params = [
        torch.tensor(
            complex_start(w0[k]) if complex_ else w0[k],
            dtype=getattr(torch, dtype),
            requires_grad=True,
        )
        for k in SHAPES
    ]
    opt = torch_classes()[case["preset"]](
        params, foreach=foreach, **_framework_kwargs(case)
    )
    scheduler = None
    if case["schedule"]:
        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, schedule_factor)

    def flat() -> np.ndarray:
        arrays = [p.detach() for p in params]
        if complex_:
            arrays = [torch.view_as_real(a) for a in arrays]
        return np.concatenate([a.numpy().ravel() for a in arrays])

    path = [flat()]
    hits = {"min": False, "max": False} if case["preset"] == "torch_rprop" else {}
    for _ in range(steps):
        opt.zero_grad()
        if complex_:
            re = [p.real for p in params]
            im = [p.imag for p in params]
            (_torch_loss(*re) + _torch_loss(*im)).backward()
        else:
            _torch_loss(*params).backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        path.append(flat())
        if case["preset"] == "torch_rprop":
            lo, hi = opt.param_groups[0]["step_sizes"]
            for p in params:
                hits["min"] |= bool(torch.any(opt.state[p]["step_size"] == lo))
                hits["max"] |= bool(torch.any(opt.state[p]["step_size"] == hi))
    return np.stack(path), hits


def run_keras(case: dict, steps: int = STEPS) -> np.ndarray:
    """Trajectory of ``keras.optimizers.<Name>`` (JAX backend, float64)."""

    def make(keras: Any) -> Any:
        class Schedule(keras.optimizers.schedules.LearningRateSchedule):
            def __init__(self, base: float):
                self.base = base

            def __call__(self, step):
                t = keras.ops.cast(step, "float64")
                return self.base * schedule_factor(t, keras.ops.minimum)

        optimizers = {
            "keras_rmsprop": keras.optimizers.RMSprop,
            "keras_adagrad": keras.optimizers.Adagrad,
            "keras_adam": keras.optimizers.Adam,
            "keras_sgd": keras.optimizers.SGD,
            "keras_adadelta": keras.optimizers.Adadelta,
        }
        kwargs = _framework_kwargs(case)
        if case["schedule"]:
            kwargs["learning_rate"] = Schedule(case["lr"])
        return optimizers[case["preset"]](**kwargs)

    return run_keras_optimizer(make, steps)[0]


def run_keras_optimizer(
    make: Callable[[Any], Any], steps: int = STEPS
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Trajectory of the Keras optimizer ``make(keras)`` and its final variables.

    Steps as Keras's JAX trainer does: one jitted ``stateless_apply`` per
    step. Returns the path and the optimizer's variables by their ``path``
    (``.../average`` for the moving average of ``use_ema``).

    Needs ``KERAS_BACKEND=jax`` before Keras is first imported and float64
    enabled in JAX (``jax.enable_x64``); sets ``floatx`` to float64 while it
    runs and restores it.
    """
    import jax
    import jax.numpy as jnp

    if jnp.asarray(1.0).dtype != jnp.float64:
        raise RuntimeError("run_keras needs float64 enabled in JAX.")
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError("run_keras needs KERAS_BACKEND=jax.")
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        opt = make(keras)
        w0 = initial_params()
        variables = [keras.Variable(w0[k], dtype="float64") for k in SHAPES]
        opt.build(variables)

        @jax.jit
        def step(weights, opt_vars):  # what Keras's JAX trainer runs
            grads = jax.grad(jax_loss)(dict(zip(SHAPES, weights, strict=True)))
            return opt.stateless_apply(opt_vars, [grads[k] for k in SHAPES], weights)

        weights = [v.value for v in variables]
        opt_vars = [v.value for v in opt.variables]
        path = [flatten(w0)]
        for _ in range(steps):
            weights, opt_vars = step(weights, opt_vars)
            path.append(np.concatenate([np.ravel(w) for w in weights]))
        pairs = zip(opt.variables, opt_vars, strict=True)
        final = {v.path: np.asarray(x) for v, x in pairs}
    finally:
        keras.config.set_floatx(floatx)
    return np.stack(path), final


def run_tf1(case: dict, steps: int = STEPS) -> np.ndarray:
    """Trajectory of a NumPy transcription of TF1's ``RMSPropOptimizer``."""
    import jax

    kwargs = {"decay": 0.9, "momentum": 0.0, "epsilon": 1e-10, "centered": False}
    kwargs.update(case["kwargs"])
    rho, momentum, eps = kwargs["decay"], kwargs["momentum"], kwargs["epsilon"]
    grad_fn = jax.jit(jax.grad(jax_loss))
    var = {k: np.array(v, np.float64) for k, v in initial_params().items()}
    ms = {k: np.ones_like(v) for k, v in var.items()}  # the "rms" slot: ones
    mg = {k: np.zeros_like(v) for k, v in var.items()}
    mom = {k: np.zeros_like(v) for k, v in var.items()}
    path = [flatten(var)]
    for t in range(steps):
        lr = case["lr"] * (schedule_factor(t) if case["schedule"] else 1.0)
        grads = grad_fn({k: np.array(v) for k, v in var.items()})
        for k in SHAPES:
            g = np.asarray(grads[k], np.float64)
            ms[k] = ms[k] + (g * g - ms[k]) * (1 - rho)
            if kwargs["centered"]:  # ApplyCenteredRMSProp
                mg[k] = mg[k] + (g - mg[k]) * (1 - rho)
                denom = (ms[k] - mg[k] * mg[k]) + eps
            else:  # ApplyRMSProp
                denom = ms[k] + eps
            mom[k] = mom[k] * momentum + (g * lr) / np.sqrt(denom)
            var[k] = var[k] - mom[k]
        path.append(flatten(var))
    return np.stack(path)


def run_case(case: dict, steps: int = STEPS) -> tuple[np.ndarray, dict]:
    if case["framework"] == "torch":
        return run_torch(case, steps)
    if case["framework"] == "keras":
        return run_keras(case, steps), {}
    return run_tf1(case, steps), {}


def main(names: list[str]) -> None:
    """Runs every case, or only ``names`` (keeping the stored others)."""
    os.environ["KERAS_BACKEND"] = "jax"
    import jax

    jax.config.update("jax_enable_x64", True)
    import keras
    import torch

    unknown = sorted(set(names) - set(CASES))
    if unknown:
        raise SystemExit(f"unknown cases: {unknown}")
    paths, meta = {}, {}
    if names:
        with np.load(HERE / "trajectories.npz") as stored:
            paths = {k: stored[k] for k in stored.files if k in CASES}
        meta = json.loads((HERE / "cases.json").read_text())["cases"]
        meta = {k: v for k, v in meta.items() if k in CASES}
    for name, case in CASES.items():
        if names and name not in names:
            continue
        path, hits = run_case(case)
        if not np.all(np.isfinite(path)):
            raise RuntimeError(f"{name}: the trajectory is not finite.")
        if "both_bounds" in name and not (hits["min"] and hits["max"]):
            raise RuntimeError(f"{name}: the step sizes did not hit both bounds.")
        paths[name] = path
        meta[name] = dict(case, rprop_bounds_hit=hits or None)
        moved = np.abs(path[-1] - path[0]).max()
        print(f"{name:45s} max |w_T - w_0| = {moved:.3f} {hits or ''}")
    np.savez_compressed(HERE / "trajectories.npz", **paths)
    header = {
        "steps": STEPS,
        "dtype": "float64",
        "schedule": "lr_t = lr * min((t + 1) / 10, 10 / (t + 1)), t = 0, 1, ...",
        "versions": {
            "torch": torch.__version__,
            "keras": keras.__version__,
            "jax": jax.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "cases": {name: meta[name] for name in CASES},
    }
    (HERE / "cases.json").write_text(json.dumps(header, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
