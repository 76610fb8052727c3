"""``python -m experiments [NAME ...] [--out DIR] [--quick]``: the main demo."""

import importlib.util

# The experiments extra (pyproject.toml): without it, one line naming it.
_missing = [
    name
    for name in ("matplotlib", "sklearn", "flax")
    if importlib.util.find_spec(name) is None
]
if _missing:
    raise SystemExit(
        f"python -m experiments needs the experiments extra (missing: "
        f'{", ".join(_missing)}): pip install -e ".[experiments]"'
    )

from experiments.cli import main  # noqa: E402

raise SystemExit(main())
