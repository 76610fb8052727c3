"""The Markdown tables the benchmarks print (pasted into RESULTS*.md)."""

from __future__ import annotations


def header(*columns: str) -> str:
    """A Markdown table's header row and its rule, one cell per column.

    Examples:
      >>> print(header("problem", "time (s)"))
      | problem | time (s) |
      |---|---|
    """
    return "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)
