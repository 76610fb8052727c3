"""The explorer's server in a subprocess and the headless Chromium that loads
it: what ``benchmarks.explorer`` times and ``tests/test_explorer_browser.py``
drives, written once.

Chromium is Debian's (``apt-get install chromium``; never a downloaded
browser), at ``$RMSPROP_JAX_CHROMIUM`` or ``/usr/bin/chromium``.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("RMSPROP_JAX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


def launch_chromium(playwright: Any) -> Any:
    """Chromium, headless, through a started ``sync_playwright()``."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )


class ServerError(RuntimeError):
    """The server did not start, or its warm-up did not end in time."""


class Server:
    """``python -m rmsprop_jax.explorer --port 0 --cache-dir DIR [ARGS]`` in a
    subprocess, once it says where it serves.

    ``url`` is where it serves; ``started`` and ``serving`` are the
    ``time.perf_counter()`` of its start and of that line; after
    :meth:`close`, ``stderr`` holds what it wrote there.

    Raises:
      ServerError: no ``Serving on http://HOST:PORT/`` line within
        ``wait_s`` seconds (the message holds its stderr).
    """

    def __init__(self, cache_dir: str | Path, *args: str, wait_s: float = 600.0):
        self.started = time.perf_counter()
        self.stderr = ""
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rmsprop_jax.explorer",
                "--port",
                "0",
                "--cache-dir",
                str(cache_dir),
                *args,
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.line = self._read_line(wait_s)
        match = re.fullmatch(r"Serving on (http://[^/]+:\d+/)", self.line)
        if not match:
            self.close()
            raise ServerError(
                f"no 'Serving on' line (got {self.line!r}); stderr: {self.stderr}"
            )
        self.url = match.group(1)
        self.serving = time.perf_counter()

    def _read_line(self, wait_s: float) -> str:
        """The server's first stdout line, or "" if it exits or ``wait_s`` ends."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 1.0)
            if ready:
                return self.process.stdout.readline().strip()
            if self.process.poll() is not None:
                break
        return ""

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1]
        utime, stime = fields.split()[11:13]
        return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")

    def wait_warm(self, timeout: float = 900) -> None:
        """Waits for the server's background warm-up to end (its stderr line)."""
        from rmsprop_jax.explorer import WARM_LINE

        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.log.seek(0)
            if WARM_LINE in self.log.read():
                return
            time.sleep(1.0)
        raise ServerError("the server's warm-up did not end")

    def close(self) -> None:
        """Stops the server (killed if it ignores SIGTERM for 30 s)."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.log.seek(0)
        self.stderr = self.log.read()
        self.log.close()
