"""``.. module-summary:: MODULE [MODULE ...]``: the table that opens an API page.

An ``autosummary`` table (name, signature, first line of the docstring) of
every class and function in each module's ``__all__``, plus any names written
as the directive's content, so the table never drifts from the code: a name
added to ``__all__`` appears in it without editing the page. Constants (a
tuple, a dict) and type aliases have no docstring of their own and are left
out; the module's text describes them.
"""

from __future__ import annotations

import importlib
import inspect

from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.ext.autosummary import Autosummary


class ModuleSummary(Autosummary):
    required_arguments = 0
    optional_arguments = 8
    option_spec = {"nosignatures": Autosummary.option_spec["nosignatures"]}

    def run(self):
        names = [line.strip() for line in self.content if line.strip()]
        for module_name in self.arguments:
            module = importlib.import_module(module_name)
            names += [
                f"~{module_name}.{name}"
                for name in module.__all__
                if _documented(getattr(module, name))
            ]
        self.content = StringList(names)
        self.arguments = []
        return super().run()


def _documented(obj: object) -> bool:
    """A class or a function: something with a docstring of its own (a type
    alias such as ``Literal[...]`` is callable but has none)."""
    return inspect.isclass(obj) or (callable(obj) and not hasattr(obj, "__origin__"))


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.autosummary")
    app.add_directive("module-summary", ModuleSummary)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
