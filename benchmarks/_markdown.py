"""The Markdown tables the benchmarks print (pasted into RESULTS*.md)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence


def header(*columns: str) -> str:
    """A Markdown table's header row and its rule, one cell per column.

    Examples:
      >>> print(header("problem", "time (s)"))
      | problem | time (s) |
      |---|---|
    """
    return "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)


def table(columns: Sequence[str], rows: Iterable[str]) -> str:
    """:func:`header` of ``columns``, then ``rows`` (Markdown rows), one a line.

    Examples:
      >>> print(table(("problem", "time (s)"), ["| bowl | 0.1 |"]))
      | problem | time (s) |
      |---|---|
      | bowl | 0.1 |
    """
    return "\n".join([header(*columns), *rows])


def load_span(start: float) -> str:
    """The 1-minute load average at the start of a benchmark (``start``, read
    with ``os.getloadavg()[0]``) and now, as the benchmarks print it."""
    now = os.getloadavg()[0]
    return f"load average (1 min) {start:.1f} at the start, {now:.1f} at the end"
