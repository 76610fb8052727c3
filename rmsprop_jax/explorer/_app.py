"""The Dash application: the page (:mod:`._layout`) and its callbacks
(:mod:`._callbacks`), put together, behind a request-size limit and with
gzip-compressed responses. The page loads only the scripts it runs: Plotly's
cartesian bundle (``assets/plotly-cartesian.min.js``, plotly.js 4.1.1 as npm's
``plotly.js-cartesian-dist-min`` ships it, MIT licence alongside: 1.5 MB
where the full Plotly.js is 4.8 MB) and none of :data:`UNUSED_SCRIPTS` (Dash
lists 9.9 MB of scripts, the page loads 3.1 MB).

Dash is imported inside :func:`create_app` only, so that importing this module
(as ``pytest --doctest-modules`` does) needs nothing beyond the library.
"""

from __future__ import annotations

import functools
import gzip
import re
from pathlib import Path
from typing import Any

from rmsprop_jax.explorer import _callbacks, _layout

READY = _callbacks.READY
"""Set when the default view's programs are compiled (see :mod:`._callbacks`)."""

MAX_REQUEST_BYTES = 256 * 1024
"""The largest request body the server reads (a callback's is ~10 kB; larger
ones are answered 413 without being read)."""

UNUSED_SCRIPTS = (
    "dash/dcc/async-datepicker",
    "dash/dcc/async-highlight",
    "dash/dcc/async-markdown",
    "dash/dcc/async-mathjax",
    "dash/dcc/async-upload",
    "dash/dash_table/async-",
    "plotly/package_data/plotly",
)
"""The scripts of Dash components the page has none of (date pickers,
Markdown, MathJax, uploads, data tables) and the full Plotly.js, by the start
of their path under ``_dash-component-suites/``: Dash lists them in every
page it serves (its ``eager_loading``), and the browser would fetch and
evaluate them before it draws anything (Plotly.js alone: 2.3 s of the
browser's main thread at load 5 on 2 cores). A component that needed one
would still load it on demand."""

CARTESIAN_TRACES = (
    "bar",
    "box",
    "contour",
    "heatmap",
    "histogram",
    "histogram2d",
    "histogram2dcontour",
    "image",
    "pie",
    "scatter",
    "scatterternary",
    "violin",
)
"""The trace types Plotly's cartesian bundle draws (the page's figures use
``scatter``, ``contour`` and ``heatmap``)."""

_SCRIPT = re.compile(r'<script src="[^"]*/_dash-component-suites/([^"]+)"></script>\n?')


def page_scripts(scripts: str) -> str:
    """Dash's ``<script>`` tags of a page without :data:`UNUSED_SCRIPTS`.

    Examples:
      >>> suite = '<script src="/_dash-component-suites/dash/dcc/async-{}.js"></script>'
      >>> page_scripts(suite.format("graph") + suite.format("mathjax"))
      '<script src="/_dash-component-suites/dash/dcc/async-graph.js"></script>'
    """

    def keep(match: re.Match[str]) -> str:
        unused = match.group(1).startswith(UNUSED_SCRIPTS)
        return "" if unused else match.group(0)

    return _SCRIPT.sub(keep, scripts)


_COMPRESSIBLE = ("application/json", "application/javascript", "text/")
_MIN_COMPRESSED_BYTES = 1024


_STATIC_COMPRESSED_KEPT = 32
"""Static files (scripts, styles) compressed once and kept, by content: the
page's 16 scripts and style sheet (2.8 MB) took 70 ms to serve compressed the
first time and 7 ms once kept (through Flask's test client, load 3 on 2
cores), CPU that a reload or a second visitor no longer takes from the
callbacks."""


@functools.lru_cache(maxsize=_STATIC_COMPRESSED_KEPT)
def _gzip_static(data: bytes) -> bytes:
    """``data`` gzip-compressed (level 6), kept by content."""
    return gzip.compress(data, compresslevel=6)


def _is_static(rule: Any) -> bool:
    """Whether a request's route (``flask.request.url_rule``) serves files:
    Flask's and Dash's static folders, Dash's component scripts."""
    if rule is None:
        return False
    return rule.endpoint.endswith("static") or "/_dash-component-suites/" in rule.rule


def _compress(response: Any, accept_encoding: str, static: bool = False) -> Any:
    """``response`` gzip-compressed where the browser accepts it and it pays;
    a ``static`` file's compressed bytes are kept
    (:data:`_STATIC_COMPRESSED_KEPT`)."""
    kind = response.mimetype or ""
    if (
        "gzip" not in accept_encoding
        or response.status_code != 200
        or "Content-Encoding" in response.headers
        or not kind.startswith(_COMPRESSIBLE)
    ):
        return response
    response.direct_passthrough = False  # static files: read them into memory
    body = response.response
    data = response.get_data()
    if hasattr(body, "close"):  # an asset's open file, read: closed now
        body.close()
    if len(data) < _MIN_COMPRESSED_BYTES:
        return response
    packed = _gzip_static(data) if static else gzip.compress(data, compresslevel=6)
    response.set_data(packed)
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

    class Explorer(dash.Dash):
        def interpolate_index(  # Dash's documented hook for the page's HTML
            self,
            metas: Any = "",
            title: Any = "",
            css: Any = "",
            config: Any = "",
            scripts: Any = "",
            app_entry: Any = "",
            favicon: Any = "",
            renderer: Any = "",
        ) -> Any:
            return super().interpolate_index(
                metas=metas,
                title=title,
                css=css,
                config=config,
                scripts=page_scripts(scripts),
                app_entry=app_entry,
                favicon=favicon,
                renderer=renderer,
            )

    app = Explorer(__name__, **kwargs)
    app.layout = _layout.layout()
    _callbacks.register(app)
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    @app.server.after_request
    def compress(response: Any) -> Any:
        request = flask.request
        accept = request.headers.get("Accept-Encoding", "")
        return _compress(response, accept, static=_is_static(request.url_rule))

    return app
