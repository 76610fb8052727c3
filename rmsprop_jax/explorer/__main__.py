"""``python -m rmsprop_jax.explorer [--host 127.0.0.1] [--port 8050]``.

Prints one line, ``Serving on http://HOST:PORT/``, and serves until
interrupted. ``--port 0`` picks a free port. Compiled programs are kept in
JAX's persistent compilation cache (``--cache-dir``), so that later starts
are quick.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import threading
from pathlib import Path


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rmsprop_jax" / "jax"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options.

    Examples:
      >>> parse_args(["--port", "0"]).port
      0
    """
    parser = argparse.ArgumentParser(
        prog="python -m rmsprop_jax.explorer",
        description="Serve the rmsprop_jax explorer.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=8050, help="default 8050; 0 picks a free port"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=_default_cache_dir(),
        help="JAX's persistent compilation cache (default %(default)s)",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="do not use a compilation cache"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in 0..65535, got {args.port}")
    return args


def _warm_up() -> None:
    """Compiles what the default view needs while the first page loads."""
    from rmsprop_jax.explorer import _app, _compute
    from rmsprop_jax.explorer._state import DEFAULT

    _compute.paths(DEFAULT)
    _compute.contour_grid(_compute.surface(DEFAULT))
    _app._amplification(DEFAULT.decay)
    _app.amplification_multiples()
    _app._sweep_map(_app._sweep_key(DEFAULT))


def main(argv: list[str] | None = None) -> None:
    """Runs the server (see the module docstring)."""
    args = parse_args(argv)
    import logging

    import jax

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    if not args.no_cache:
        args.cache_dir.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(args.cache_dir))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    from werkzeug.serving import make_server

    from rmsprop_jax.explorer import create_app

    if not _is_loopback(args.host):
        print(
            f"Warning: serving on {args.host}, which is not a loopback address: "
            "anyone who can reach it can use the explorer (and its CPU).",
            file=sys.stderr,
        )
    from rmsprop_jax.explorer import _app

    app = create_app()
    server = make_server(args.host, args.port, app.server, threaded=True)
    _app.READY.clear()  # the callbacks wait while the default view compiles

    def warm_up() -> None:
        try:
            _warm_up()
        finally:
            _app.READY.set()

    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Serving on http://{host}:{server.server_port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
