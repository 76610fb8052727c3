"""An interactive explorer of the library's optimizers on 2-D landscapes.

Run it with ``python -m rmsprop_jax.explorer [--host 127.0.0.1] [--port 8050]``
(install the extra first: ``pip install "rmsprop_jax[explorer]"``). Every
number on the page is computed by the library: the paths by the trajectory
engine :func:`rmsprop_jax.sweep.sweep`, the amplification map by
:func:`rmsprop_jax.scale_by_rms`. Importing this package does not import Dash;
:func:`create_app` does.

A view is a :class:`State` (what the page's controls and URL hold);
:func:`paths` computes its paths as the page shows them, and
:func:`to_query` / :func:`from_query` turn it into the URL's query string::

    from rmsprop_jax.explorer import WORKED_EXAMPLE, paths, to_query
    p = paths(WORKED_EXAMPLE.replace(steps=200))
    p.params.shape   # (2, 1001, 2): SGD and RMSprop, w(0) .. w(1000)
    to_query(WORKED_EXAMPLE)  # append to http://127.0.0.1:8050/
"""

from __future__ import annotations

from typing import Any

from rmsprop_jax.explorer._compute import Paths as Paths
from rmsprop_jax.explorer._compute import paths as paths
from rmsprop_jax.explorer._digits import Plane as Plane
from rmsprop_jax.explorer._digits import plane as digits_plane
from rmsprop_jax.explorer._schedules import SCHEDULES as SCHEDULES
from rmsprop_jax.explorer._schedules import schedule as schedule
from rmsprop_jax.explorer._state import DEFAULT as DEFAULT
from rmsprop_jax.explorer._state import WORKED_EXAMPLE as WORKED_EXAMPLE
from rmsprop_jax.explorer._state import InvalidValue as InvalidValue
from rmsprop_jax.explorer._state import State as State
from rmsprop_jax.explorer._state import from_query as from_query
from rmsprop_jax.explorer._state import to_query as to_query

WARM_LINE = "Warm-up done: every program of the page compiled or loaded."
"""What the server (``python -m rmsprop_jax.explorer``) writes to stderr once
its background warm-up is done: every program of the page compiled or loaded
from the cache."""

__all__ = [
    "DEFAULT",
    "SCHEDULES",
    "Plane",
    "WARM_LINE",
    "WORKED_EXAMPLE",
    "InvalidValue",
    "Paths",
    "State",
    "create_app",
    "digits_plane",
    "from_query",
    "paths",
    "schedule",
    "to_query",
]


def create_app(**kwargs: Any) -> Any:
    """The explorer's ``dash.Dash`` application (needs the ``explorer`` extra).

    Args:
      **kwargs: passed to ``dash.Dash``.

    Returns:
      A ``dash.Dash`` app; ``app.server`` is its Flask server.
    """
    from rmsprop_jax.explorer._app import create_app as create

    return create(**kwargs)
