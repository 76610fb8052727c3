"""``sweep(devices=jax.devices())`` under ``jax.distributed``: two processes x
two CPU devices on 127.0.0.1 (the pattern of ``tests/test_multiprocess.py``:
a free port, loopback only, a hard time limit, logs to files).

Each process runs every case of ``tests/sweep_devices_cases.py`` over all four
devices and must receive the whole result; both must equal this process's
run on its one default device (to rounding: XLA may fuse a block of another
size differently) and name the four devices.
"""

from __future__ import annotations

import pathlib
import sys
import time

import numpy as np
import pytest
import sweep_devices_cases as cases
import sweep_multiprocess_worker as worker
from helpers import ROOT, start_logged
from integration_problems import load_example

LIMIT = 420.0  # s, hard: the processes are killed (SIGKILL) past it


def _launch(out: pathlib.Path) -> tuple[list[int | None], list[str]]:
    """Both processes on a new free port; exit codes (None: killed) and logs."""
    example = load_example("multiprocess")
    example.check_loopback()
    port = str(example.free_port())
    script = str(ROOT / "tests" / "sweep_multiprocess_worker.py")
    processes, logs = [], []
    started = time.monotonic()
    try:
        for i in range(worker.PROCESSES):
            logs.append(out / f"sweep-{i}.log")
            command = [sys.executable, script, "--process-id", str(i)]
            command += ["--port", port, "--out", str(out)]
            processes.append(start_logged(command, logs[-1]))
        while time.monotonic() - started < LIMIT:
            if all(p.poll() is not None for p in processes):
                break
            if any(p.poll() not in (None, 0) for p in processes):
                time.sleep(2)  # the other stops with JAX's error, or is killed
                break
            time.sleep(0.1)
        codes = [p.poll() for p in processes]
    finally:
        for p in processes:  # SIGKILL: JAX catches SIGTERM
            if p.poll() is None:
                p.kill()
            p.wait()
    return codes, [log.read_text() for log in logs]


@pytest.mark.slow
def test_two_processes_receive_the_whole_sweep(tmp_path):
    codes, logs = _launch(tmp_path)
    report = "\n".join(
        f"--- process {i}: exit code {c} (None: killed at the limit)\n{log[-4000:]}"
        for i, (c, log) in enumerate(zip(codes, logs, strict=True))
    )
    assert codes == [0, 0], report
    for log in logs:  # this checkout's code, on 2 processes x 2 devices
        assert f"rmsprop_jax from {ROOT / 'rmsprop_jax' / '__init__.py'}" in log, log
        assert "2 processes, 4 devices" in log, log
    results = []
    for i in range(worker.PROCESSES):
        with np.load(tmp_path / f"sweep-{i}.npz") as npz:
            results.append(dict(npz))
    for name, case in cases.CASES.items():
        expected = cases.arrays(case(None))
        for result in results:
            # every device of both processes (each process checks it is
            # jax.devices(); here: which process each belongs to)
            assert result[f"{name}/devices"].tolist() == [0, 0, 1, 1], name
            got = {
                k[len(name) + 1 :]: v
                for k, v in result.items()
                if k.startswith(f"{name}/") and k != f"{name}/devices"
            }
            cases.assert_same(got, expected)
