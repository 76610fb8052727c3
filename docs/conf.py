"""Sphinx configuration: the API reference from the docstrings (autodoc +
napoleon read their Google-style sections and reStructuredText), the guides in
Markdown (MyST). Build: ``sphinx-build -W --keep-going docs build/docs``."""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document this checkout, not an installed copy
sys.path.insert(0, str(ROOT / "docs" / "_ext"))  # this site's own extensions

import rmsprop_jax  # noqa: E402

project = "rmsprop_jax"
author = "rmsprop_jax developers"
copyright = "rmsprop_jax developers"
release = version = rmsprop_jax.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    # MathJax 3 shipped with the site (copied into _static/mathjax): the
    # formulas render from a local build with no network (no CDN).
    "sphinx-mathjax-offline",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "module_summary",  # docs/_ext: the table at the top of each API page
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# tables/: Markdown snippets included by the pages (and by the README).
exclude_patterns = ["_build", "_ext", "tables", "figures"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"rmsprop_jax {release}"

# Signatures show the aliases the code writes, not their expansions.
autodoc_type_aliases = {
    name: name
    for name in (
        "ArrayLike",
        "optax.OptState",
        "optax.Params",
        "optax.ScalarOrSchedule",
        "optax.Updates",
    )
}


def _alias_text(app, domain, objtype, content) -> None:
    """Sphinx records an alias inside a union as ``TypeAliasForwardRef('ArrayLike')
    | None``; make it ``ArrayLike | None`` before the types are merged into the
    parameter descriptions."""
    import re

    recorded = app.env.current_document.autodoc_annotations
    for per_object in recorded.values():
        for name, text in per_object.items():
            per_object[name] = re.sub(r"TypeAliasForwardRef\('([^']*)'\)", r"\1", text)


def setup(app):
    # Before autodoc.typehints merges the types into the descriptions (500).
    app.connect("object-description-transform", _alias_text, priority=400)
