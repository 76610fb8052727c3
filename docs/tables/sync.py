"""The tables of the library, written once here and copied where they appear.

``docs/tables/<name>.md`` holds each table (a Markdown pipe table). The guides
include it with MyST's ``{include}``; the README (GitHub renders no includes)
and module docstrings hold a copy between markers, which this script rewrites:

- Markdown: ``<!-- begin table NAME -->`` ... ``<!-- end table NAME -->``;
- reStructuredText (docstrings): ``.. begin table NAME`` ... ``.. end table
  NAME``, the table as a ``list-table``.

``python docs/tables/sync.py`` rewrites every copy; ``--check`` only reports
the copies that differ (exit status 1), as ``tests/test_docs_tables.py`` does.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
import textwrap

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TABLES = ("optimizers", "primitives", "presets", "rprop_variants")
# Where each table is copied: (file, table name). Guides under docs/ include
# the files instead.
COPIES: tuple[tuple[str, str], ...] = (
    ("README.md", "primitives"),
    ("README.md", "optimizers"),
    ("README.md", "presets"),
    ("rmsprop_jax/presets/__init__.py", "presets"),
    ("rmsprop_jax/transforms/rprop.py", "rprop_variants"),
)
WIDTH = 88


def source(name: str) -> str:
    """The Markdown table ``name``, as written in ``docs/tables/``."""
    return (HERE / f"{name}.md").read_text()


def rows(markdown: str) -> list[list[str]]:
    """The cells of a Markdown pipe table, header first, the rule left out."""
    out = []
    for line in markdown.strip().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-+:?", c) for c in cells):
            continue
        out.append(cells)
    return out


def _rst_inline(cell: str) -> str:
    """Markdown's code spans and ``$math$`` as reStructuredText roles."""
    cell = re.sub(r"`([^`]+)`", r"``\1``", cell)
    return re.sub(r"\$([^$]+)\$", r":math:`\1`", cell)


def rst(name: str, indent: str = "") -> str:
    """The table as a reStructuredText ``list-table`` indented by ``indent``,
    lines within ``WIDTH``."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows(source(name)):
        for i, cell in enumerate(row):
            first = "   * - " if i == 0 else "     - "
            text = _rst_inline(cell) or "\\ "
            lines += textwrap.wrap(
                text,
                WIDTH - len(indent),
                initial_indent=first,
                subsequent_indent="       ",
                break_long_words=False,
                break_on_hyphens=False,
            )
    return "".join(f"{indent}{line}\n" if line else "\n" for line in lines)


def _markers(path: str, name: str) -> tuple[str, str]:
    if path.endswith(".py"):
        return f".. begin table {name}", f".. end table {name}"
    return f"<!-- begin table {name} -->", f"<!-- end table {name} -->"


def _replace(text: str, path: str, name: str) -> str:
    """``text`` with the block of table ``name`` rendered anew (a docstring's
    block keeps the indentation of its markers)."""
    begin, end = _markers(path, name)
    pattern = re.compile(
        rf"^([ \t]*){re.escape(begin)}\n.*?^\1{re.escape(end)}$",
        re.DOTALL | re.MULTILINE,
    )
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"{path} must hold exactly one block {begin!r} ... {end!r}")

    def render(match: re.Match[str]) -> str:
        indent = match.group(1)
        if path.endswith(".py"):
            body = "\n" + rst(name, indent) + "\n"
        else:
            body = source(name)
        return f"{indent}{begin}\n{body}{indent}{end}"

    return pattern.sub(render, text)


def stale(write: bool = False) -> list[str]:
    """The copies that differ from their table (rewritten when ``write``)."""
    out = []
    for path in sorted({p for p, _ in COPIES}):
        file = ROOT / path
        text = file.read_text()
        new = text
        for name in (n for p, n in COPIES if p == path):
            new = _replace(new, path, name)
        if new != text:
            out.append(path)
            if write:
                file.write_text(new)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report, do not write")
    args = parser.parse_args(argv)
    paths = stale(write=not args.check)
    verb = "differ from docs/tables/" if args.check else "rewritten"
    for path in paths:
        print(f"{path}: {verb}")
    return 1 if paths and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
