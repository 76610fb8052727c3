"""The Dash application: the page (:mod:`._layout`) and its callbacks
(:mod:`._callbacks`), put together.

Dash is imported inside :func:`create_app` only, so that importing this module
(as ``pytest --doctest-modules`` does) needs nothing beyond the library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rmsprop_jax.explorer import _callbacks, _layout

READY = _callbacks.READY
"""Set when the default view's programs are compiled (see :mod:`._callbacks`)."""


def create_app(**kwargs: Any) -> Any:
    """The ``dash.Dash`` app; see :func:`rmsprop_jax.explorer.create_app`."""
    import dash

    kwargs.setdefault("title", "rmsprop_jax explorer")
    kwargs.setdefault("update_title", None)
    kwargs.setdefault("eager_loading", True)  # fetch Plotly.js with the page
    kwargs.setdefault("assets_folder", str(Path(__file__).parent / "assets"))
    app = dash.Dash(__name__, **kwargs)
    app.layout = _layout.layout()
    _callbacks.register(app)
    return app
