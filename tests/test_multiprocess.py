"""Training across processes on JAX's distributed runtime.

Two processes with two CPU devices each, on 127.0.0.1 only, run
``tests/multiprocess_worker.py`` (which builds on ``examples/multiprocess.py``):
``jax.distributed.initialize`` with the coordinator bound to loopback on a
free port, gloo collectives, a mesh over all four devices. Their results are
compared here with one float64 process on one device:

- data parallelism, replicated state: params and losses of every optimizer
  equal the single-process run (rtol 1e-10), and all four replicas agree bit
  for bit;
- ZeRO-1 (params replicated, state split over all four devices): the same,
  with a quarter of the state on each device, measured from the arrays'
  addressable shards;
- an Orbax checkpoint written by both processes, restored by two new ones,
  which continue bit for bit as the uninterrupted run did;
- ``skip_nonfinite`` with a NaN in one process's rows: every process skips
  the step, and the run equals the single-process run without that batch;
- a worker that dies makes the other stop with JAX's error in bounded time.

Every subprocess runs under a hard time limit and is killed (SIGKILL: JAX
catches SIGTERM) when it runs past it, so no test hangs.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pytest

pytest.importorskip(
    "orbax.checkpoint",
    reason="orbax-checkpoint is not installed: pip install '.[integrations]'",
)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import multiprocess_worker as worker  # noqa: E402
import numpy as np  # noqa: E402
from helpers import ROOT, start_logged  # noqa: E402

from rmsprop_jax.sweep import sweep  # noqa: E402

example = worker.example
# Nine processes of JAX's distributed runtime: about a minute on 2 cores.
pytestmark = pytest.mark.slow

NAMES = list(worker.OPTIMIZERS)
LIMIT = {"train": 240.0, "resume": 180.0, "die": 120.0, "example": 150.0}  # hard, s
PORT_TAKEN = re.compile(r"address already in use|failed to add port", re.I)


def _worker(task: str, out: pathlib.Path, *extra: str) -> list[list[str]]:
    """The command lines of one worker process per process id, on a free port."""
    port = str(example.free_port())
    script = str(ROOT / "tests" / "multiprocess_worker.py")
    return [
        [sys.executable, script, task, "--process-id", str(i), "--port", port]
        + ["--out", str(out), *extra]
        for i in range(worker.PROCESSES)
    ]


def _example(out: pathlib.Path) -> list[list[str]]:
    """``examples/multiprocess.py``, which starts its processes itself."""
    script = str(ROOT / "examples" / "multiprocess.py")
    limit = str(LIMIT["example"] - 30)  # it kills its processes first
    options = ["--steps", "4", "--hidden", "16", "--timeout", limit]
    return [[sys.executable, script, *options]]


@dataclass
class Launch:
    """Processes started together, their output in ``out/<task>-<i>.log``.

    ``commands`` makes the command lines, with a new free port each time: a
    launch whose port was taken in the meantime is run again once or twice.
    """

    task: str
    out: pathlib.Path
    commands: Callable[[], list[list[str]]]
    processes: list[subprocess.Popen] | None = None
    started: float = 0.0
    result: tuple[list[int | None], list[str]] | None = None

    def start(self) -> Launch:
        self.out.mkdir(parents=True, exist_ok=True)
        self.processes, self.started = [], time.monotonic()
        for i, command in enumerate(self.commands()):
            self.processes.append(start_logged(command, self._log(i)))
        return self

    def _log(self, i: int) -> pathlib.Path:
        return self.out / f"{self.task}-{i}.log"

    def _finish(self) -> tuple[list[int | None], list[str]]:
        """Exit codes (None: killed at the time limit) and logs."""
        deadline = self.started + LIMIT[self.task]
        try:
            while time.monotonic() < deadline:
                if all(p.poll() is not None for p in self.processes):
                    break
                if self._port_taken():  # the others would wait for it
                    break
                time.sleep(0.05)
            codes = [p.poll() for p in self.processes]
        finally:
            for p in self.processes:  # SIGKILL: JAX catches SIGTERM
                if p.poll() is None:
                    p.kill()
                p.wait()
        return codes, [self._log(i).read_text() for i in range(len(codes))]

    def _port_taken(self) -> bool:
        """Whether a process failed at once because its port was taken."""
        return any(
            p.poll() not in (None, 0) and PORT_TAKEN.search(self._log(i).read_text())
            for i, p in enumerate(self.processes)
        )

    def wait(self) -> tuple[list[int | None], list[str]]:
        if self.result is None:
            self.result = self._finish()
            for _ in range(2):
                if not any(PORT_TAKEN.search(log) for log in self.result[1]):
                    break
                self.result = self.start()._finish()
        return self.result


def _report(codes, logs) -> str:
    return "\n".join(
        f"--- process {i}: exit code {code} (None: killed at the time limit)\n"
        + log[-4000:]
        for i, (code, log) in enumerate(zip(codes, logs, strict=True))
    )


def _load(out: pathlib.Path, task: str) -> list[dict[str, np.ndarray]]:
    results = []
    for i in range(worker.PROCESSES):
        with np.load(out / f"{task}-{i}.npz") as npz:
            results.append(dict(npz))
    return results


@pytest.fixture(scope="module")
def loopback():
    """gloo connects through the hostname's address: it must be loopback."""
    try:
        example.check_loopback()
    except RuntimeError as error:
        pytest.fail(f"not starting processes that would leave loopback: {error}")


def _flat(tree) -> np.ndarray:
    """The leaves of ``tree`` in one vector, in the order of ``ravel_pytree``."""
    return np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(tree)])


def _reference() -> dict:
    """Every run of the workers, on one device of this process (float64),
    through the library's trajectory engine: step ``t`` trains on global
    batch ``t`` (``data`` taken in order, one batch a step)."""
    params, xs, ys = worker.problem()
    keep = np.arange(worker.STEPS) != worker.NAN_STEP

    def loss(params, batch):  # batch: ((1, ROWS, ...), (1, ROWS, ...))
        x, y = batch
        return example.loss_fn(params, x[0], y[0])

    def train(optimizers, xs, ys):
        result = sweep(
            optimizers,
            loss,
            params,
            steps=len(xs),
            data=(xs, ys),
            batch_size=1,
            shuffle=False,
            divergence_threshold=None,
        )
        final, losses = jax.device_get((result.final_params, result.losses))
        return {
            name: (jax.tree.map(lambda x, i=i: x[i], final), losses[i])
            for i, name in enumerate(result.optimizers)
        }

    with jax.enable_x64(True):
        params = jax.tree.map(jnp.asarray, params)
        result = train(worker.OPTIMIZERS, xs, ys)
        # skip_nonfinite's run: the guarded optimizer without the poisoned batch.
        guarded = {worker.SKIP: worker.OPTIMIZERS[worker.GUARDED]}
        result |= train(guarded, xs[keep], ys[keep])
    return {
        name: {"params": p, "flat": _flat(p), "losses": losses}
        for name, (p, losses) in result.items()
    }


@pytest.fixture(scope="module")
def launches(loopback, tmp_path_factory):
    """Every launch that needs no other's results, started at once.

    The dying and the example processes spend most of their time waiting
    (for a heartbeat to time out, for their peers), so they run alongside the
    training; whatever still runs at the end of the module is killed.
    """
    out = tmp_path_factory.mktemp("multiprocess")
    started = {}
    try:
        started["train"] = Launch("train", out, partial(_worker, "train", out))
        for dead in (0, 1):
            where = out / f"die{dead}"
            extra = ("--dead", str(dead))
            started[dead] = Launch("die", where, partial(_worker, "die", where, *extra))
        started["example"] = Launch("example", out, partial(_example, out))
        for launch in started.values():
            launch.start()
        yield started
    finally:
        for launch in started.values():
            if launch.processes is not None:
                launch.wait()


@pytest.fixture(scope="module")
def trained(launches):
    """The ``train`` task, and the single-process reference meanwhile."""
    reference = _reference()
    codes, logs = launches["train"].wait()
    assert codes == [0, 0], _report(codes, logs)
    for log in logs:  # the code of this checkout, not an installed copy
        assert f"rmsprop_jax from {ROOT / 'rmsprop_jax' / '__init__.py'}" in log, log
    out = launches["train"].out
    return {"out": out, "results": _load(out, "train"), "reference": reference}


def _leaf(result: dict, prefix: str) -> np.ndarray:
    (key,) = [k for k in result if k.startswith(prefix)]
    return result[key]


def _leaves(result: dict, prefix: str) -> dict[str, np.ndarray]:
    return {k: v for k, v in result.items() if k.startswith(prefix)}


def _replicas(results: list[dict], prefix: str) -> dict[str, np.ndarray]:
    """Every leaf under ``prefix``, once, after checking its 4 copies agree."""
    leaves = {}
    for key in _leaves(results[0], prefix):
        copies = np.concatenate([r[key] for r in results])  # [devices, ...]
        assert copies.shape[0] == worker.PROCESSES * worker.LOCAL_DEVICES
        for i, copy in enumerate(copies[1:], 1):
            np.testing.assert_array_equal(copy, copies[0], err_msg=f"{key} {i}")
        leaves[key] = copies[0]
    return leaves


def _losses(results: list[dict], name: str, layout: str) -> np.ndarray:
    path = f"['{name}']['{layout}']"
    first = _replicas(results, "first_losses" + path)
    end = _replicas(results, "losses" + path)
    return np.concatenate([*first.values(), *end.values()])


def _params(results: list[dict], name: str, layout: str) -> np.ndarray:
    """The final params as one flat vector, checked equal on every device."""
    leaves = _replicas(results, f"end['{name}']['{layout}']['params']")
    if layout == "zero1":
        (flat,) = leaves.values()
        return flat
    tree = {}
    for key, value in leaves.items():  # end[...]['params']['layer0']['bias']
        layer, field = re.findall(r"\['(\w+)'\]", key)[-2:]
        tree.setdefault(layer, {})[field] = value
    return _flat(tree)


@pytest.mark.parametrize("layout", ["replicated", "zero1"])
@pytest.mark.parametrize("name", NAMES)
def test_data_parallel_equals_one_process(trained, name, layout):
    """2 processes x 2 devices train as one device does (float64, 50 steps)."""
    results, expected = trained["results"], trained["reference"][name]
    np.testing.assert_allclose(
        _params(results, name, layout), expected["flat"], rtol=1e-10, atol=1e-13
    )
    # The losses are the global ones: iRprop+ gets the all-reduced value=.
    losses = _losses(results, name, layout)
    assert losses.shape == (worker.STEPS,)
    np.testing.assert_allclose(losses, expected["losses"], rtol=1e-10)
    assert losses[-1] < 0.5 * losses[0]  # and they train


@pytest.mark.parametrize("name", [*NAMES, worker.SKIP])
def test_zero1_puts_a_quarter_of_the_state_on_each_device(trained, name):
    devices = worker.PROCESSES * worker.LOCAL_DEVICES
    results = trained["results"]
    total = int(results[0][f"total/{name}/zero1"])
    held = np.concatenate([r[f"bytes/{name}/zero1"] for r in results])
    assert held.shape == (devices,)
    # Every vector is split in 4; only the int32/float64 scalars are repeated.
    assert np.all(held == held[0]), held
    assert total / devices <= held[0] <= total / devices + 32, (held, total)
    state = _leaves(results[0], f"end['{name}']['zero1']['opt_state']")
    size = trained["reference"][name]["flat"].size
    vectors = [v for v in state.values() if v.ndim == 2]  # [local devices, n]
    assert vectors and all(v.shape[1] * devices == size for v in vectors)
    if name != worker.SKIP:
        replicated = np.concatenate([r[f"bytes/{name}/replicated"] for r in results])
        assert np.all(replicated == int(results[0][f"total/{name}/replicated"]))


def test_skip_nonfinite_skips_on_every_process(trained):
    """A NaN in process 1's rows of one batch: all processes skip that step."""
    results = trained["results"]
    prefix = f"end['{worker.SKIP}']['zero1']['opt_state']"
    (skipped,) = _replicas(results, prefix + ".total_skipped").values()
    assert skipped == 1
    losses = _losses(results, worker.SKIP, "zero1")
    assert np.isnan(losses[worker.NAN_STEP])
    expected = trained["reference"][worker.SKIP]  # without that batch
    np.testing.assert_allclose(
        np.delete(losses, worker.NAN_STEP), expected["losses"], rtol=1e-10
    )
    np.testing.assert_allclose(
        _params(results, worker.SKIP, "zero1"), expected["flat"], rtol=1e-10, atol=1e-13
    )


@pytest.fixture(scope="module")
def resumed(trained):
    out = trained["out"]
    codes, logs = Launch("resume", out, partial(_worker, "resume", out)).start().wait()
    assert codes == [0, 0], _report(codes, logs)
    return _load(trained["out"], "resume")


def test_both_processes_write_the_checkpoint(trained):
    """Orbax's OCDBT layout: one store of shards per process that wrote."""
    path = trained["out"] / "checkpoint"
    assert (path / "commit_success.txt").exists()
    for i in range(worker.PROCESSES):
        data = path / f"ocdbt.process_{i}" / "d"
        assert any(f.stat().st_size for f in data.iterdir()), data


def test_restored_checkpoint_continues_bit_for_bit(trained, resumed):
    """New processes restore both processes' checkpoint and run on identically."""
    for straight, again in zip(trained["results"], resumed, strict=True):
        keys = [k for k in straight if k.startswith(("end", "losses"))]
        assert sorted(keys) == sorted(again)
        assert any("['zero1']['opt_state']" in k for k in keys)
        for key in keys:
            np.testing.assert_array_equal(again[key], straight[key], err_msg=key)


@pytest.mark.parametrize("dead", [0, 1], ids=["coordinator_dies", "worker_dies"])
def test_a_dead_process_stops_the_other(launches, dead):
    """The survivor is stopped by JAX's distributed runtime, with its error."""
    codes, logs = launches[dead].wait()
    survivor = 1 - dead
    report = _report(codes, logs)
    assert codes[dead] == worker.DEAD_EXIT, report
    assert "exiting on purpose" in logs[dead], report
    assert codes[survivor] is not None, "the survivor was still running\n" + report
    assert codes[survivor] != 0, report
    assert "step 0 done" in logs[survivor], report
    assert "JAX distributed service detected fatal errors" in logs[survivor], report


def test_check_loopback_refuses_other_addresses(monkeypatch):
    def resolve(addresses):
        infos = [(None, None, None, "", (a, 0)) for a in addresses]
        monkeypatch.setattr(example.socket, "getaddrinfo", lambda *_: infos)

    monkeypatch.setattr(example.socket, "gethostname", lambda: "node7")
    resolve(["127.0.1.1", "::1"])
    example.check_loopback()
    resolve(["127.0.0.1", "10.1.2.3"])
    with pytest.raises(RuntimeError, match=r"'node7' resolves to \['10.1.2.3'\]"):
        example.check_loopback()

    def unresolved(*_):
        raise OSError("Name or service not known")

    monkeypatch.setattr(example.socket, "getaddrinfo", unresolved)
    with pytest.raises(RuntimeError, match="'node7' does not resolve"):
        example.check_loopback()


def test_example_trains_on_two_processes(launches):
    """``python examples/multiprocess.py`` as documented, with a small model."""
    codes, logs = launches["example"].wait()
    assert codes == [0], _report(codes, logs)
    (log,) = logs
    assert "2 processes, 4 devices" in log, log
    found = re.findall(
        r"^(.+?) +loss ([\d.e+-]+) -> ([\d.e+-]+); [\d.]+ ms/step; "
        r"optimizer state (\d+) B, per device \[(\d+), (\d+)\] B$",
        log,
        re.M,
    )
    assert [f[0] for f in found] == ["replicated", "ZeRO-1 per leaf", "ZeRO-1 flat"]
    for label, first, last, total, *held in found:
        assert float(last) < float(first), log
        total, held = int(total), [int(h) for h in held]
        if label == "replicated":
            assert held == [total, total], log
        else:  # a quarter of every vector; the scalars on every device
            assert all(total / 4 <= h <= total / 4 + 32 for h in held), log
