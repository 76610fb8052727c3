"""An 8-bit optimizer state on JAX's multi-process runtime.

Two processes with two CPU devices each, on 127.0.0.1 only, run
``tests/state_dtype_multiprocess_worker.py``: ``rmsprop(momentum=0.5,
state_dtype="int8")`` trains a float64 MLP (a 16 x 256 kernel: an 8-bit
leaf) data-parallel over the four devices, with the state replicated and
ZeRO-1 (split over the devices). Every process's result must equal one
process on one device running the same steps: the losses and parameters to
1e-10 relative (the gradients are summed in another order), the 8-bit codes
exactly and their scales to 1e-6 (float32); all four copies agree bit for
bit. Each subprocess runs under a hard time limit and is killed (SIGKILL:
JAX catches SIGTERM) past it.
"""

from __future__ import annotations

import pathlib
import re
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import state_dtype_multiprocess_worker as worker
from helpers import ROOT, start_logged

from rmsprop_jax import _blockwise

# Two processes of JAX's distributed runtime: 20-40 s on 2 cores.
pytestmark = pytest.mark.slow

LIMIT = 240.0  # s, hard
PORT_TAKEN = re.compile(r"address already in use|failed to add port", re.I)


def _launch(out: pathlib.Path) -> tuple[list[int | None], list[str]]:
    """Both processes on a free port; exit codes (None: killed) and logs."""
    port = str(worker.example.free_port())
    script = str(ROOT / "tests" / "state_dtype_multiprocess_worker.py")
    logs = [out / f"train-{i}.log" for i in range(worker.PROCESSES)]
    processes = [
        start_logged(
            [sys.executable, script, "--process-id", str(i), "--port", port]
            + ["--out", str(out)],
            logs[i],
        )
        for i in range(worker.PROCESSES)
    ]
    deadline = time.monotonic() + LIMIT
    try:
        while time.monotonic() < deadline:
            if all(p.poll() is not None for p in processes):
                break
            time.sleep(0.05)
        codes = [p.poll() for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
            p.wait()
    return codes, [log.read_text() for log in logs]


def _reference() -> dict[str, np.ndarray]:
    """The same steps on one device of this process, float64."""
    params, xs, ys = worker.problem()
    tx = worker.optimizer()

    def step(carry, batch):
        params, state = carry
        value, grads = jax.value_and_grad(worker.example.loss_fn)(params, *batch)
        updates, state = tx.update(grads, state, params, value=value)
        return (optax.apply_updates(params, updates), state), value

    with jax.enable_x64(True):
        params = jax.tree.map(jnp.asarray, params)
        carry = (params, tx.init(params))
        (params, state), losses = jax.jit(
            lambda c, xs, ys: jax.lax.scan(step, c, (xs, ys))
        )(carry, jnp.asarray(xs), jnp.asarray(ys))
        out = {"losses": np.asarray(losses)}
        for prefix, tree in (("params", params), ("opt_state", state)):
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
                out[prefix + jax.tree_util.keystr(path)] = np.asarray(leaf)
        blocks = [
            s
            for s in jax.tree.leaves(
                state, is_leaf=lambda x: isinstance(x, _blockwise.UnsignedBlocks)
            )
            if isinstance(s, _blockwise.UnsignedBlocks)
        ]
    assert blocks, "the reference state holds no 8-bit leaf"
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    worker.example.check_loopback()
    out = tmp_path_factory.mktemp("state_dtype_multiprocess")
    for _ in range(3):  # a port taken in the meantime: again, on another
        codes, logs = _launch(out)
        if not any(PORT_TAKEN.search(log) for log in logs):
            break
    report = "\n".join(
        f"--- process {i}: exit code {c} (None: killed)\n{log[-4000:]}"
        for i, (c, log) in enumerate(zip(codes, logs, strict=True))
    )
    assert codes == [0, 0], report
    for log in logs:  # this checkout's code, not an installed copy
        assert f"rmsprop_jax from {ROOT / 'rmsprop_jax' / '__init__.py'}" in log, log
    results = []
    for i in range(worker.PROCESSES):
        with np.load(out / f"train-{i}.npz") as npz:
            results.append(dict(npz))
    return results, _reference()


@pytest.mark.parametrize("layout", worker.LAYOUTS)
def test_int8_state_across_processes_equals_one_process(trained, layout):
    results, reference = trained
    prefix = f"{layout}/"
    checked = 0
    for name, expected in reference.items():
        key = prefix + name
        copies = np.concatenate([r[key] for r in results])  # [4 devices, ...]
        assert copies.shape[0] == 4
        for copy in copies[1:]:  # every device holds the same bits
            np.testing.assert_array_equal(copy, copies[0])
        got = copies[0]
        assert got.dtype == expected.dtype, name
        if name.endswith(".codes"):
            np.testing.assert_array_equal(got, expected, err_msg=name)
        elif name.endswith(".scales"):
            np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=name)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-10, err_msg=name)
        checked += name.endswith(".codes")
    assert checked == 2  # the root and the momentum of the 16 x 256 kernel
    assert results[0][prefix + "losses"].shape[-1] == worker.STEPS


def test_zero1_splits_the_8_bit_state_over_the_devices(trained):
    results, _ = trained
    for r in results:
        total = int(r["zero1/total"])
        assert all(int(h) < total / 2 for h in r["zero1/held"])
        assert all(int(h) == total for h in r["replicated/held"])
