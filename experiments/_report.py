"""What an experiment hands back, and the report written from it.

An experiment returns a :class:`Section` of blocks (figures with a takeaway
computed from the measured numbers, tables, text) and its verdicts on the
digest's claims. :func:`write_report` writes ``report.md`` and a
self-contained ``report.html`` (figures embedded as base64 PNGs).
"""

from __future__ import annotations

import base64
import html
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field

CLAIMS = {
    1: "RMSprop is less sensitive to the choice of the learning rate than plain SGD.",
    2: "On elongated valleys RMSprop points more directly at the minimum than GD "
    "(shorter path).",
    3: "RMSprop passes saddle points faster than most alternatives.",
    4: "From a start with very large gradients, RMSprop takes a near-optimal path "
    "while momentum overshoots and Adagrad is briefly unstable.",
    5: "Adagrad's steps shrink until it stalls; RMSprop's do not.",
    6: "Rprop fails with mini-batches (the +0.1 x9 / -0.9 example); RMSprop does not.",
}


@dataclass
class Figure:
    filename: str  # a PNG in the output directory
    title: str
    takeaway: str  # one or two sentences with measured numbers


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Verdict:
    claim: int
    verdict: str  # from :func:`judge`: "holds", "does not hold", "holds only ..."
    evidence: str  # the numbers
    setting: str = ""  # where it was measured, e.g. "an MLP on digits, mini-batches"


def judge(checks: Mapping[str, bool], *, parts: bool = False, detail: str = "") -> str:
    """The verdict on a claim from measured checks.

    ``checks`` maps a condition to whether the claim held under it, e.g.
    ``{"compared at the best learning rates": True, "compared at the median
    learning rate": False}``; with ``parts=True`` it maps the parts of the
    claim instead (``{"momentum overshoots more": True, ...}``). Every check
    true: "holds"; none: "does not hold"; some: "holds only when <the true
    conditions>, not when <the others>" (parts: "holds only in part: <the true
    parts>; but not: <the others>"). ``detail`` (measured numbers that explain
    the verdict) follows after a colon.

    Examples:
      >>> judge({"beta is 0.9": False, "beta is 0.99": True})
      'holds only when beta is 0.99, not when beta is 0.9'
      >>> judge({"it is faster": True}, detail="12 vs 30 steps")
      'holds: 12 vs 30 steps'
    """
    if not checks:
        raise ValueError("`checks` is empty: a verdict needs at least one check.")
    true = [name for name, ok in checks.items() if ok]
    false = [name for name, ok in checks.items() if not ok]
    if not false:
        text = "holds"
    elif not true:
        text = "does not hold"
    elif parts:
        text = f"holds only in part: {'; '.join(true)}; but not: {'; '.join(false)}"
    else:
        text = f"holds only when {' and '.join(true)}, not when {' or '.join(false)}"
    return f"{text}: {detail}" if detail else text


@dataclass
class Section:
    name: str
    title: str
    intro: str
    blocks: list[Figure | Table | str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _md_table(table: Table) -> str:
    lines = [f"**{table.title}**", "", _md_row(table.header)]
    lines.append("|" + "---|" * len(table.header))
    lines += [_md_row(row) for row in table.rows]
    if table.note:
        lines += ["", table.note]
    return "\n".join(lines)


def _verdict_rows(sections: list[Section]) -> list[list[str]]:
    rows = []
    for claim, text in CLAIMS.items():
        found = [(s, v) for s in sections for v in s.verdicts if v.claim == claim]
        if not found:
            rows.append([str(claim), text, "not measured in this run", "-", "-"])
        for section, verdict in found:
            where = f"{section.name}: {verdict.setting}" if verdict.setting else ""
            rows.append(
                [
                    str(claim),
                    text,
                    verdict.verdict,
                    verdict.evidence,
                    where or section.name,
                ]
            )
    return rows


_VERDICT_HEADER = [
    "#",
    "claim",
    "verdict",
    "evidence (measured)",
    "experiment: setting",
]


def render_markdown(sections: list[Section], preamble: str) -> str:
    parts = ["# Experiments: what the theory claims, measured", "", preamble, ""]
    verdicts = Table("Verdicts on the claims", _VERDICT_HEADER, _verdict_rows(sections))
    parts += [_md_table(verdicts), ""]
    for section in sections:
        parts += [f"## {section.title}", "", section.intro, ""]
        for block in section.blocks:
            if isinstance(block, Figure):
                parts += [f"![{block.title}]({block.filename})", ""]
                parts += [f"*{block.title}.* {block.takeaway}", ""]
            elif isinstance(block, Table):
                parts += [_md_table(block), ""]
            else:
                parts += [block, ""]
    return "\n".join(parts)


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in table.rows
    )
    note = f"<p class='note'>{html.escape(table.note)}</p>" if table.note else ""
    return (
        f"<p><b>{html.escape(table.title)}</b></p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"
    )


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; line-height: 1.45; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f0f0f0; }
img { max-width: 100%; border: 1px solid #ddd; }
figcaption { margin: 0.3em 0 1.5em; }
.note { color: #555; font-size: 0.9em; }
"""


def render_html(sections: list[Section], preamble: str, out: pathlib.Path) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>rmsprop_jax experiments</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Experiments: what the theory claims, measured</h1>",
        f"<p>{html.escape(preamble)}</p>",
        _html_table(
            Table("Verdicts on the claims", _VERDICT_HEADER, _verdict_rows(sections))
        ),
    ]
    for section in sections:
        parts += [f"<h2>{html.escape(section.title)}</h2>"]
        parts += [f"<p>{html.escape(section.intro)}</p>"]
        for block in section.blocks:
            if isinstance(block, Figure):
                data = base64.b64encode((out / block.filename).read_bytes()).decode()
                parts += [
                    f"<figure><img alt='{html.escape(block.title)}' "
                    f"src='data:image/png;base64,{data}'>",
                    f"<figcaption><b>{html.escape(block.title)}.</b> "
                    f"{html.escape(block.takeaway)}</figcaption></figure>",
                ]
            elif isinstance(block, Table):
                parts += [_html_table(block)]
            else:
                parts += [f"<p>{html.escape(block)}</p>"]
    parts += ["</body></html>"]
    return "\n".join(parts)


def write_report(
    sections: list[Section], preamble: str, out: pathlib.Path
) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes ``report.md`` and ``report.html`` into ``out``; returns both paths."""
    markdown, page = out / "report.md", out / "report.html"
    markdown.write_text(render_markdown(sections, preamble), encoding="utf-8")
    page.write_text(render_html(sections, preamble, out), encoding="utf-8")
    return markdown, page
