"""The documentation site as a reader gets it: built strictly from docs/, read
from the build directory with no network (formulas typeset by the MathJax the
build ships, checked in headless Chromium with every non-local request
refused), each API page opening with a summary of its module, and the Python
code of the guides running as written, top to bottom.
"""

from __future__ import annotations

import html.parser
import importlib
import inspect
import os
import pathlib
import re
import subprocess
import sys

import pytest

pytest.importorskip("sphinx", reason="needs the docs extra: pip install -e '.[docs]'")

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("RMSPROP_JAX_CHROMIUM", "/usr/bin/chromium")
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# API page -> the modules whose classes and functions its summary lists.
API_PAGES = {
    "optimizers": ["rmsprop_jax.optimizers"],
    "transforms": ["rmsprop_jax.transforms"],
    "presets": ["rmsprop_jax.presets"],
    "sweep": ["rmsprop_jax.sweep"],
    "landscapes": ["rmsprop_jax.landscapes"],
    "tools": [
        "rmsprop_jax.diagnostics",
        "rmsprop_jax.declarations",
        "rmsprop_jax.checkpointing",
        "rmsprop_jax.compilation_cache",
    ],
}
# Guides whose Python blocks form one script, run top to bottom.
RUNNABLE_GUIDES = ["index", "sweep", "explorer"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "docs", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


class _Assets(html.parser.HTMLParser):
    """The scripts, style sheets and images a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe") and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("rel") in ("stylesheet", "preload"):
            self.urls.append(attrs.get("href") or "")


def test_no_page_loads_anything_from_the_network(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 10
    with_math = 0
    for page in pages:
        parser = _Assets()
        parser.feed(page.read_text())
        remote = [u for u in parser.urls if re.match(r"^(https?:)?//", u)]
        assert remote == [], f"{page.relative_to(site)} loads {remote}"
        for url in parser.urls:  # every local asset is in the build
            if "mathjax" in url:
                with_math += 1
            local = url.split("?")[0].split("#")[0]
            assert (page.parent / local).resolve().is_file(), (page, url)
    assert with_math >= 5  # the guides and API pages with formulas


def _browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = []
    if sync_playwright is None:
        missing.append("the Python package playwright")
    if not pathlib.Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        why = "rendering the docs needs " + ", ".join(missing)
        if ON_CI:
            pytest.fail(why + " (CI=true: not skipped)", pytrace=False)
        pytest.skip(why)
    return sync_playwright


@pytest.mark.parametrize("page", ["optimizers", "api/transforms", "experiments"])
def test_formulas_render_offline(site, page):
    sync_playwright = _browser()
    source = (site / f"{page}.html").read_text()
    formulas = len(re.findall(r"""class=["']math[ "']""", source))
    assert formulas > 3
    refused = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context()

            def local_only(route):
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            context.route("**/*", local_only)
            tab = context.new_page()
            tab.goto((site / f"{page}.html").as_uri())
            tab.wait_for_function(
                "window.MathJax && MathJax.startup && MathJax.startup.promise",
                timeout=60_000,
            )
            tab.evaluate("MathJax.startup.promise")
            typeset = tab.locator("mjx-container").count()
            errors = tab.locator("mjx-merror").count()
            raw = tab.evaluate(
                "[...document.querySelectorAll('.math')]"
                ".filter(e => !e.querySelector('mjx-container')).length"
            )
        finally:
            browser.close()
    assert refused == []
    assert typeset >= formulas and errors == 0 and raw == 0


class _Summary(html.parser.HTMLParser):
    """The link targets of the first table of a page, if it is a summary."""

    def __init__(self) -> None:
        super().__init__()
        self.tables = 0
        self.inside = False
        self.summary = False
        self.targets: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables += 1
            self.inside = self.tables == 1
            if self.inside:
                self.summary = "autosummary" in attrs.get("class", "").split()
        if tag == "a" and self.inside and self.summary:
            self.targets.append(attrs.get("href", "").split("#")[-1])

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False


@pytest.mark.parametrize("page", sorted(API_PAGES))
def test_api_pages_open_with_a_summary_of_every_public_name(site, page):
    parser = _Summary()
    parser.feed((site / "api" / f"{page}.html").read_text())
    assert parser.summary, f"api/{page}: the first table is not the summary"
    documented = set(
        re.findall(r'id="([^"]+)"', (site / "api" / f"{page}.html").read_text())
    )
    expected = []
    for module_name in API_PAGES[page]:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                expected.append(f"{module_name}.{name}")
    assert expected and set(expected) <= set(parser.targets)
    assert set(parser.targets) <= documented  # every row links to its entry


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, re.M | re.S)


@pytest.mark.parametrize("guide", RUNNABLE_GUIDES)
def test_guide_code_runs_as_written(guide, tmp_path, monkeypatch):
    blocks = _python_blocks((ROOT / "docs" / f"{guide}.md").read_text())
    assert blocks
    monkeypatch.chdir(tmp_path)  # whatever a block writes lands here
    namespace: dict = {"__name__": f"docs_{guide}"}
    for block in blocks:
        exec(compile(block, f"docs/{guide}.md", "exec"), namespace)  # noqa: S102
