"""The tables of optimizers, primitives and presets: written once in
``docs/tables/``, copied unchanged into the README and docstrings, and true to
the code (every public factory listed, with its real parameters and defaults)."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import pathlib
import re
import typing

import pytest

from rmsprop_jax import optimizers, presets, transforms

ROOT = pathlib.Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "docs_tables_sync", ROOT / "docs" / "tables" / "sync.py"
)
assert _spec is not None and _spec.loader is not None
sync = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sync)

MODULES = {"optimizers": optimizers, "primitives": transforms, "presets": presets}


def _factories(module) -> set[str]:
    """The public functions a table must list."""
    return {
        name
        for name in module.__all__
        if name[0].islower() and inspect.isfunction(getattr(module, name))
    }


def _listed(name: str) -> dict[str, str]:
    """First column of table ``name``: factory name -> ``name(parameters)``."""
    out = {}
    for row in sync.rows(sync.source(name))[1:]:
        call = row[0].strip("`").removeprefix("presets.")
        out[call.split("(")[0]] = call
    return out


def test_every_copy_equals_its_table():
    assert sync.stale(write=False) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_table_lists_every_public_factory(name):
    assert set(_listed(name)) == _factories(MODULES[name])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_table_signatures_are_the_real_ones(name):
    """Parameter names, order and keyword-only marker; defaults where given.
    ``*, <placeholder>`` stands for keyword-only arguments the text below the
    table lists (Keras's common arguments): those are not compared here."""
    for factory, call in _listed(name).items():
        call, elided = re.subn(r",\s*\*,\s*<\w+>", ", **elided", call)
        written = ast.parse(f"def {call}: pass").body[0].args
        real = inspect.signature(getattr(MODULES[name], factory)).parameters
        positional = [a.arg for a in written.args]
        keyword = [a.arg for a in written.kwonlyargs]
        kw_only = inspect.Parameter.KEYWORD_ONLY
        assert positional == [p for p in real if real[p].kind != kw_only], call
        if not elided:
            assert keyword == [p for p in real if real[p].kind == kw_only], call
        pairs = [
            *zip(reversed(written.args), reversed(written.defaults), strict=False),
            *zip(written.kwonlyargs, written.kw_defaults, strict=True),
        ]
        for arg, default in pairs:
            if default is not None:
                assert ast.literal_eval(default) == real[arg.arg].default, call


def test_rprop_table_lists_every_variant():
    written = [
        row[0].split()[0].strip("`")
        for row in sync.rows(sync.source("rprop_variants"))[1:]
    ]
    assert sorted(written) == sorted(typing.get_args(transforms.RpropVariant))


def test_rst_rendering_keeps_every_cell():
    text = sync.rst("presets")
    assert text.startswith(".. list-table::")
    assert all(len(line) <= sync.WIDTH for line in text.splitlines())
    rows = sync.rows(sync.source("presets"))
    assert text.count("   * - ") == len(rows)
    assert text.count("     - ") == len(rows) * (len(rows[0]) - 1)
    assert "``torch.optim.RMSprop``" in text


def test_rst_rendering_indents_and_converts_math():
    text = sync.rst("rprop_variants", indent="    ")
    assert all(line.startswith("    ") for line in text.splitlines() if line)
    assert all(len(line) <= sync.WIDTH for line in text.splitlines())
    assert ":math:`-u_{t-1}`" in text and "$" not in text


def test_a_changed_copy_is_reported(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    readme.write_text(text.replace("| `sign_sgd(learning_rate)`", "| `sign_sgd(lr)`"))
    monkeypatch.setattr(sync, "ROOT", tmp_path)
    monkeypatch.setattr(sync, "COPIES", (("README.md", "optimizers"),))
    assert sync.stale(write=False) == ["README.md"]
    assert sync.stale(write=True) == ["README.md"]
    assert readme.read_text() == text
