"""``python -m rmsprop_jax.explorer [--host 127.0.0.1] [--port 8050]``.

Prints one line, ``Serving on http://HOST:PORT/``, and serves until
interrupted. ``--port 0`` picks a free port. Compiled programs are kept in
JAX's persistent compilation cache (``--cache-dir``), so that later starts
are quick.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import logging
import sys
import threading
from pathlib import Path

from rmsprop_jax import compilation_cache

# What the explorer extra installs that the server imports (werkzeug with Dash).
EXTRA_MODULES = ("dash", "plotly", "werkzeug")


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
        default=compilation_cache.default_directory(),
        help="JAX's persistent compilation cache (default %(default)s)",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="do not use a compilation cache"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in 0..65535, got {args.port}")
    return args


FIRST_DRAW_WAIT_S = 20.0
"""How long the warm-up waits for the first page's paths to be drawn before
it compiles what the page shows later."""


def _warm_up(first_draw_s: float = 0.0) -> None:
    """Compiles (or loads from the cache) the default view's paths while the
    first page loads; the draw callback waits for ``_app.READY``. The rest
    (the figures below the paths, the network's landscape, the formulas'
    evaluator) waits up to ``first_draw_s`` for the first view to be drawn
    (``_callbacks.VIEW_DRAWN``): its tracing would hold the GIL and a core while
    the first page is drawn."""
    from rmsprop_jax.explorer import WARM_LINE, _app, _callbacks, _compute
    from rmsprop_jax.explorer._state import CUSTOM, DEFAULT

    try:
        _compute.paths(DEFAULT)
        _compute.contour_grid(_compute.surface(DEFAULT))
    finally:
        _app.READY.set()
    _callbacks.VIEW_DRAWN.wait(first_draw_s)
    # The figures below the paths: compiled (or loaded) before they are asked for.
    _compute.compare_decay(DEFAULT)
    _compute.sensitivity(DEFAULT)
    # The network's landscape: trained (seconds) before it is picked.
    try:
        _compute.surface(DEFAULT.replace(landscape="mlp-digits"))
    except ValueError:  # scikit-learn missing: the page says so when it is picked
        pass
    # The typed formulas' evaluator (one program for every formula): compiled
    # (or loaded) before the first formula is typed.
    formula = DEFAULT.replace(landscape=CUSTOM, start=_compute.CUSTOM_START)
    _compute.paths(formula)
    _compute.contour_grid(_compute.surface(formula))
    _compute.compare_decay(formula)
    _compute.sensitivity(formula)
    print(WARM_LINE, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    """Runs the server (see the module docstring)."""
    args = parse_args(argv)
    # The explorer extra (pyproject.toml): one line naming it, not a traceback.
    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(
            f"python -m rmsprop_jax.explorer needs the explorer extra (missing: "
            f'{", ".join(missing)}): pip install -e ".[explorer]"'
        )

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    if not args.no_cache:
        compilation_cache.enable(args.cache_dir)
    from werkzeug.serving import make_server

    from rmsprop_jax.explorer import create_app

    if not _is_loopback(args.host):
        print(
            f"Warning: serving on {args.host}, which is not a loopback address: "
            "anyone who can reach it can use the explorer (and its CPU).",
            file=sys.stderr,
        )
    app = create_app()
    try:
        server = make_server(args.host, args.port, app.server, threaded=True)
    except OSError as err:  # port in use, unknown host, no permission
        raise SystemExit(f"Cannot serve on {args.host}:{args.port}: {err}") from None
    # Compile while the browser loads the page (tracing holds the GIL, so this
    # would only slow the imports down if it started earlier); the callbacks
    # wait for it instead of compiling the same programs a second time.
    from rmsprop_jax.explorer import _app

    _app.READY.clear()
    threading.Thread(
        target=_warm_up, args=(FIRST_DRAW_WAIT_S,), name="warm-up", daemon=True
    ).start()
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
