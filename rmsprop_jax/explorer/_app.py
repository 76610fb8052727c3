"""The Dash application: the page (:mod:`._layout`) and its callbacks
(:mod:`._callbacks`), put together, behind a request-size limit and with
gzip-compressed responses.

Dash is imported inside :func:`create_app` only, so that importing this module
(as ``pytest --doctest-modules`` does) needs nothing beyond the library.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from rmsprop_jax.explorer import _callbacks, _layout

READY = _callbacks.READY
"""Set when the default view's programs are compiled (see :mod:`._callbacks`)."""

MAX_REQUEST_BYTES = 256 * 1024
"""The largest request body the server reads (a callback's is ~10 kB; larger
ones are answered 413 without being read)."""

_COMPRESSIBLE = ("application/json", "application/javascript", "text/")
_MIN_COMPRESSED_BYTES = 1024


def _compress(response: Any, accept_encoding: str) -> Any:
    """``response`` gzip-compressed where the browser accepts it and it pays."""
    kind = response.mimetype or ""
    if (
        "gzip" not in accept_encoding
        or response.status_code != 200
        or "Content-Encoding" in response.headers
        or not kind.startswith(_COMPRESSIBLE)
    ):
        return response
    response.direct_passthrough = False  # static files: read them into memory
    data = response.get_data()
    if len(data) < _MIN_COMPRESSED_BYTES:
        return response
    response.set_data(gzip.compress(data, compresslevel=6))
    response.headers["Content-Encoding"] = "gzip"
    response.headers.add("Vary", "Accept-Encoding")
    return response


def create_app(**kwargs: Any) -> Any:
    """The ``dash.Dash`` app; see :func:`rmsprop_jax.explorer.create_app`."""
    import dash
    import flask

    kwargs.setdefault("title", "rmsprop_jax explorer")
    kwargs.setdefault("update_title", None)
    kwargs.setdefault("eager_loading", True)  # fetch Plotly.js with the page
    kwargs.setdefault("assets_folder", str(Path(__file__).parent / "assets"))
    kwargs.setdefault("compress", False)  # done below, without flask-compress
    app = dash.Dash(__name__, **kwargs)
    app.layout = _layout.layout()
    _callbacks.register(app)
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    @app.server.after_request
    def compress(response: Any) -> Any:
        return _compress(response, flask.request.headers.get("Accept-Encoding", ""))

    return app
