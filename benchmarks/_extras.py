"""The extras a benchmark needs, checked before it runs: without them, one line
naming the extra to install instead of a ``ModuleNotFoundError`` mid-run."""

from __future__ import annotations

import importlib.util


def require_extra(program: str, extras: str, *modules: str) -> None:
    """Exits with one line if any of ``modules`` (top-level names) is missing.

    ``extras`` is what goes between the brackets of ``pip install -e ".[...]"``.
    """
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        noun = "extras" if "," in extras else "extra"
        raise SystemExit(
            f"{program} needs the {extras} {noun} (missing: {', '.join(missing)}): "
            f'pip install -e ".[{extras}]"'
        )
