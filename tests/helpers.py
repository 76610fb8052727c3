"""Test problems and trajectory helpers shared by the test modules.

Two runners: :func:`trajectory` trains through the library's sweep engine (what
a test that trains should use), :func:`run` steps a plain Python loop one
update at a time (the oracle the engine and the references are compared
against). ``integration_problems.train`` is the same engine on the
integration tests' shared regression problem (final params, states and
losses of several optimizers at once). One closeness assertion,
:func:`assert_trees_close`, and its step-by-step form
:func:`assert_paths_close`. :func:`run_multidevice` runs a module's
``multidevice_*`` tests on simulated CPU devices; :func:`start_logged`
starts a worker process of the multi-process tests.
:func:`count_compilations` lists the XLA compilations inside a block.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pathlib
import re
import subprocess
import sys
from collections.abc import Callable, Iterator

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax

from rmsprop_jax import presets
from rmsprop_jax.sweep import sweep

# The preset factories: presets.__all__ without the converters (from_torch,
# from_keras take live framework optimizers) and the state class KerasState.
PRESET_FACTORIES = tuple(
    n for n in presets.__all__ if n.startswith(("torch_", "keras_", "tf1_"))
)


def nonlinear_loss(params) -> jax.Array:
    """A non-convex loss over several tensors, with coupled leaves."""
    a, b, c = params["a"], params["b"], params["c"]
    coupling = jnp.sum(jnp.tanh(a @ b)) * c
    wells = sum(jnp.sum(0.25 * x**4 - x**2 + 0.3 * jnp.sin(3 * x)) for x in (a, b, c))
    return wells + 0.5 * coupling


def nonlinear_params(dtype=jnp.float64) -> dict:
    rng = np.random.default_rng(0)
    return {
        "a": jnp.asarray(rng.normal(size=(3, 4)), dtype),
        "b": jnp.asarray(rng.normal(size=(4,)), dtype),
        "c": jnp.asarray(rng.normal(), dtype),
    }


@functools.cache
def _value_and_grad(loss_fn: Callable) -> Callable:
    return jax.jit(jax.value_and_grad(loss_fn))


def run(
    tx: optax.GradientTransformation,
    loss_fn: Callable,
    params,
    steps: int,
    *,
    wrap: Callable = lambda f: f,
    lr: float | None = None,
    pass_value: bool = False,
) -> list:
    """Trajectory ``[params_0, ..., params_steps]`` of ``tx`` on ``loss_fn``.

    ``lr`` turns a primitive (gradient direction) into a descent step
    ``w - lr * u``; without it the updates are applied as they are.
    """
    update = wrap(tx.update)
    state = tx.init(params)
    path = [params]
    for _ in range(steps):
        value, grads = _value_and_grad(loss_fn)(params)
        extra = {"value": value} if pass_value else {}
        updates, state = update(grads, state, params, **extra)
        if lr is not None:
            updates = jax.tree.map(lambda u: -lr * u, updates)
        params = optax.apply_updates(params, updates)
        path.append(params)
    return path


def run_reference(
    reference,
    loss_fn: Callable,
    params,
    steps: int,
    *,
    lr=None,
    pass_value: bool = False,
) -> list:
    """The same loop for a NumPy reference acting on the flattened params."""
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    w = np.asarray(flat, np.float64)
    path = [params]
    for _ in range(steps):
        value, grads = _value_and_grad(loss_fn)(unravel(jnp.asarray(w)))
        g = np.asarray(jax.flatten_util.ravel_pytree(grads)[0], np.float64)
        u = reference.update(g, float(value) if pass_value else None)
        w = w - (lr * u if lr is not None else u)
        path.append(unravel(jnp.asarray(w)))
    return path


def trajectory(
    tx: optax.GradientTransformation | Callable[..., optax.GradientTransformation],
    loss_fn: Callable,
    params,
    steps: int,
    **options,
):
    """Params before each of ``steps`` updates and after the last, trained by
    :func:`rmsprop_jax.sweep.sweep`: the params' pytree with leaves ``(steps +
    1, *leaf.shape)``.

    ``tx`` is a gradient transformation or a factory; the loss is passed as
    ``value=``. No divergence threshold: the run is not frozen unless it
    leaves the finite numbers. ``options`` go to ``sweep`` (``grid``,
    ``data``, ``batch_size``, ...; with a grid the leaves get its axes first).
    """
    make = (lambda: tx) if isinstance(tx, optax.GradientTransformation) else tx
    options.setdefault("divergence_threshold", None)
    result = sweep(make, loss_fn, params, steps=steps, record="params", **options)
    lead = np.ndim(result.diverged)
    return jax.tree.map(
        lambda rec, last: np.concatenate(
            [np.asarray(rec), np.expand_dims(np.asarray(last), lead)], axis=lead
        ),
        result.records["params"],
        result.final_params,
    )


def _flat(tree) -> np.ndarray:
    """Every leaf of ``tree`` raveled and joined, in NumPy (keeps float64)."""
    leaves = [np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)]
    return np.concatenate(leaves) if leaves else np.zeros(0)


def assert_trees_close(
    actual, expected, *, rtol: float = 1e-6, atol: float = 0.0, err_msg: str = ""
) -> None:
    """``actual`` and ``expected`` have the same pytree structure (unless one
    is a bare array: a flattened path step) and leaf values within
    ``rtol``/``atol``."""
    trees = [jax.tree.structure(t).num_nodes > 1 for t in (actual, expected)]
    if all(trees):
        assert jax.tree.structure(actual) == jax.tree.structure(expected), err_msg
    got, want = _flat(actual), _flat(expected)
    assert got.shape == want.shape, f"{err_msg} sizes {got.shape} != {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=err_msg)


def assert_paths_close(path, expected, *, rtol=1e-12, atol=1e-12) -> None:
    """Two trajectories, step by step: sequences of pytrees, or arrays whose
    leading axis is the step; the first step that differs is named."""
    assert len(path) == len(expected), (len(path), len(expected))
    for step, (got, want) in enumerate(zip(path, expected, strict=True)):
        assert_trees_close(
            got,
            want,
            rtol=rtol,
            atol=atol,
            err_msg=f"trajectories differ at step {step}",
        )


ROOT = pathlib.Path(__file__).resolve().parents[1]


def start_logged(command: list[str], log: pathlib.Path) -> subprocess.Popen:
    """Starts ``command`` in the repository root on this checkout's code
    (whatever is installed) and the CPU, without the caller's ``XLA_FLAGS``;
    stdin closed, stdout and stderr written to ``log``."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"} | {
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
        "JAX_PLATFORMS": "cpu",
    }
    with log.open("w") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run_multidevice(
    test_file: str,
    devices: int,
    timeout: float | None = None,
    select: tuple[str, ...] = ("-o", "python_functions=multidevice_*"),
):
    """Runs the ``multidevice_*`` tests of ``test_file`` (or those ``select``
    picks: pytest options) in a pytest subprocess with ``devices`` simulated CPU
    devices (a JAX process's device count is fixed when its backend starts, so
    the rest of the suite keeps its one device); asserts that it passed and
    returns the number of tests passed and its output.
    """
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "JAX_PLATFORMS": "cpu",
    }
    command = [
        *(sys.executable, "-m", "pytest", test_file, "-q", "-p", "no:cacheprovider"),
        *select,
        *("-o", "addopts=-ra -p no:dash"),
    ]
    done = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    return (int(passed.group(1)) if passed else 0), done.stdout


def plain_loop(fn: Callable, tx, start, steps: int) -> np.ndarray:
    """w(0) .. w(steps) of ``tx`` minimizing ``fn`` from ``start`` in a plain
    optax loop (float32; the loss passed as ``value=``), ``(steps + 1, n)``."""
    w = jnp.asarray(start, jnp.float32)
    state, out = tx.init(w), [w]
    for _ in range(steps):
        value, g = jax.value_and_grad(fn)(w)
        u, state = tx.update(g, state, w, value=value)
        w = optax.apply_updates(w, u)
        out.append(w)
    return np.asarray(jnp.stack(out))


def scanned_steps(loss: Callable, tx, params, state, x, y, steps: int) -> tuple:
    """``(params, state)`` after ``steps`` full-batch steps of ``tx`` on
    ``loss(params, x, y)``, as one ``lax.scan``."""

    def step(carry, _):
        params, state = carry
        grads = jax.grad(loss)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    return jax.lax.scan(step, (params, state), length=steps)[0]


def regression_problem() -> tuple[dict, jax.Array, jax.Array]:
    """A float32 linear regression ``(params, x, y)`` with one leaf above the
    8-bit state threshold (``w``, 64 x 128) and one below (``b``, 128)."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(32, 64)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(32, 128)), jnp.float32)
    params = {
        "w": jnp.asarray(0.1 * rng.normal(size=(64, 128)), jnp.float32),
        "b": jnp.zeros(128, jnp.float32),
    }
    return params, x, y


def regression_loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """Half the mean squared error of :func:`regression_problem`'s model."""
    return 0.5 * jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def snippet_paths(state) -> dict[str, np.ndarray]:
    """The ``paths`` (optimizer -> ``(steps + 1, 2)``) that the explorer's
    copy-as-code snippet for ``state`` computes when run on its own (its
    printing silenced)."""
    import contextlib
    import io

    from rmsprop_jax.explorer import _snippet

    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(_snippet.snippet(state), "<snippet>", "exec"), namespace)
    return namespace["paths"]


@contextlib.contextmanager
def count_compilations() -> Iterator[list[float]]:
    """The seconds of every XLA compilation (of anything) inside the block,
    one entry per compiled program (JAX's ``backend_compile_duration``)."""
    compiled: list[float] = []

    def listener(event: str, duration: float, **kwargs: object) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield compiled
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
