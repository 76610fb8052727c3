"""An interactive explorer of the library's optimizers on 2-D landscapes.

Run it with ``python -m rmsprop_jax.explorer [--host 127.0.0.1] [--port 8050]``
(install the extra first: ``pip install "rmsprop_jax[explorer]"``). Every
number on the page is computed by the library: the paths by the trajectory
engine :func:`rmsprop_jax.sweep.sweep`, the amplification map by
:func:`rmsprop_jax.scale_by_rms`. Importing this package does not import Dash;
:func:`create_app` does.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(**kwargs: Any) -> Any:
    """The explorer's ``dash.Dash`` application (needs the ``explorer`` extra).

    Args:
      **kwargs: passed to ``dash.Dash``.

    Returns:
      A ``dash.Dash`` app; ``app.server`` is its Flask server.
    """
    from rmsprop_jax.explorer._app import create_app as create

    return create(**kwargs)
