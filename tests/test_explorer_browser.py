"""The explorer in a real headless browser: Playwright driving Debian's
Chromium (``apt-get install chromium``; never a downloaded browser).

Every test reads the numbers the page shows (``gd._fullData`` of the Plotly
graph) and compares them with the library's own results for the state the
page's URL describes. Without a browser the module is skipped, except under
``CI=true``, where that is a failure.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from benchmarks._browser import CHROMIUM, Server, launch_chromium

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
pytestmark = pytest.mark.slow  # a server, a browser and first compilations


def _missing() -> list[str]:
    missing = []
    for module in ("dash", "playwright"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"the Python package {module}")
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    return missing


if _missing():
    why = "explorer browser tests need " + ", ".join(_missing())
    if ON_CI:
        pytest.fail(why + " (CI=true: not skipped)", pytrace=False)
    pytest.skip(why, allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

from rmsprop_jax.explorer import _compute, _figures  # noqa: E402
from rmsprop_jax.explorer._catalog import OPTIMIZERS  # noqa: E402
from rmsprop_jax.explorer._figures import FIRST_PATH_TRACE  # noqa: E402
from rmsprop_jax.explorer._state import (  # noqa: E402
    DEFAULT,
    WORKED_EXAMPLE,
    State,
    from_query,
    from_slider,
    to_query,
    to_slider,
)

WAIT_S = 240.0  # first compilations on a loaded 2-core machine


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jax-cache")


@pytest.fixture(scope="module")
def server(cache_dir):
    s = Server(cache_dir, wait_s=WAIT_S)
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(WAIT_S * 1000)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == []


READ = """() => {
  const gd = document.querySelector('#paths .js-plotly-plot');
  const text = (id) => (document.getElementById(id) || {}).innerText;
  return {
    search: location.search,
    traces: gd ? gd._fullData.map(t => ({
      name: t.name, visible: t.visible,
      x: Array.from(t.x || []), y: Array.from(t.y || [])})) : [],
    decay: text('decay-readout'), lr: text('learning-rate-readout'),
    steps: text('steps-readout'), start: text('start'),
    message: text('message'), status: text('status'),
  };
}"""


def read(page) -> dict:
    return page.evaluate(READ)


def mismatch(data: dict) -> str | None:
    """Why the page's paths differ from the library's for its URL's state."""
    if not data["traces"]:
        return "no figure yet"
    state = from_query(data["search"])
    if data["decay"] != f"{state.decay:g}" or data["lr"] != f"{state.learning_rate:g}":
        return f"readouts {data['decay']}, {data['lr']} vs {state}"
    expected = _compute.paths(state)
    traces = data["traces"][FIRST_PATH_TRACE : FIRST_PATH_TRACE + len(OPTIMIZERS)]
    shown = [t for t in traces if t["visible"] is True]
    if len(shown) != len(expected.optimizers):
        return f"{len(shown)} paths shown, {len(expected.optimizers)} expected"
    keys = list(_compute.FACTORIES)
    for i, key in enumerate(expected.optimizers):
        trace = traces[keys.index(key)]
        n = len(trace["x"])
        k = int(expected.diverged_at[i])
        want = min(state.steps, k if k >= 0 else state.steps) + 1
        if n != want:
            return f"{key}: {n} points, {want} expected"
        got = np.column_stack([trace["x"], trace["y"]])
        if not np.array_equal(got, expected.params[i, :n].astype(np.float64)):
            return f"{key}: the path differs from the library's"
    return None


def wait_for_view(
    page,
    *,
    search: str | None = None,
    changed_from: str | None = None,
    until=None,
):
    """Waits until the page shows the library's paths for its URL's state
    (and that URL is ``search``, differs from ``changed_from``, or its state
    satisfies ``until``)."""
    deadline = time.monotonic() + WAIT_S
    why = "not started"
    while time.monotonic() < deadline:
        data = read(page)
        if search is not None and data["search"] != search:
            why = f"url {data['search']!r} is not {search!r}"
        elif changed_from is not None and data["search"] == changed_from:
            why = "the url did not change"
        elif until is not None and not until(from_query(data["search"])):
            why = f"the state is not there yet: {data['search']!r}"
        else:
            why = mismatch(data)
            if why is None:
                return data
        time.sleep(0.25)
    raise AssertionError(f"the page never matched the library: {why}")


def open_view(page, server, state: State | None = None) -> dict:
    search = to_query(state) if state is not None else None
    page.goto(server.url + (search or ""))
    return wait_for_view(page, search=search or to_query(DEFAULT))


def test_server_line_and_page(server, page):
    assert server.url.startswith("http://127.0.0.1:")
    data = open_view(page, server)
    assert data["start"] == "start: (-15, 20)"
    # The amplification map (drawn after the paths) is the library's.
    page.wait_for_function(
        "() => { const g = document.querySelector('#amplification .js-plotly-plot');"
        " return !!(g && g._fullData && g._fullData.length && g._fullData[0].z); }"
    )
    z = page.evaluate(
        "() => document.querySelector('#amplification .js-plotly-plot')"
        "._fullData[0].z.map(r => Array.from(r))"
    )
    _, maps = _compute.amplification((DEFAULT.decay,))
    np.testing.assert_array_equal(np.asarray(z), maps[0].astype(np.float64))


def test_landscape_dropdown(page, server):
    open_view(page, server)
    page.click("#landscape")
    page.get_by_role("option", name=re.compile("^rosenbrock")).click()
    data = wait_for_view(page, changed_from=to_query(DEFAULT))
    state = from_query(data["search"])
    assert state.landscape == "rosenbrock" and state.start == (-1.2, 1.0)


def test_beta_and_eta_sliders(page, server):
    open_view(page, server)
    page.focus("#decay [role=slider]")
    page.keyboard.press("Home")  # beta = 0
    for _ in range(5):
        page.keyboard.press("ArrowRight")  # 5 steps of 0.1
    wait_for_view(page, until=lambda state: state.decay == 0.5)
    for _ in range(6):
        page.keyboard.press("ArrowRight")  # 0.6 .. 0.9, then 0.91, 0.92
    wait_for_view(page, until=lambda state: state.decay == 0.92)
    for _ in range(8):
        page.keyboard.press("ArrowRight")  # 0.93 .. 0.99, 0.991
    data = wait_for_view(page, until=lambda state: state.decay == 0.991)
    assert data["decay"] == "0.991"
    page.focus("#learning-rate [role=slider]")
    for _ in range(30):
        page.keyboard.press("ArrowRight")
    slider = page.locator("#learning-rate [role=slider]")
    page.wait_for_function(
        "() => document.querySelector('#learning-rate [role=slider]')"
        ".getAttribute('aria-valuenow') === '-0.4'"
    )  # log10(0.2) = -0.69897 snaps to -0.7, then 30 steps of 0.01
    expected = from_slider(
        "learning_rate", float(slider.get_attribute("aria-valuenow"))
    )
    data = wait_for_view(page, until=lambda state: state.learning_rate == expected)
    assert from_query(data["search"]).decay == 0.991
    assert data["lr"] == "0.398"


def test_click_on_empty_space_sets_the_start(page, server):
    before = open_view(page, server)
    box = page.evaluate(
        """() => {
      const gd = document.querySelector('#paths .js-plotly-plot');
      const r = gd.getBoundingClientRect(), L = gd._fullLayout;
      const px = 0.8 * L.xaxis._length, py = 0.85 * L.yaxis._length;
      return {cx: r.left + L.xaxis._offset + px, cy: r.top + L.yaxis._offset + py,
              x: L.xaxis.p2d(px), y: L.yaxis.p2d(py),
              dx: Math.abs(L.xaxis.p2d(1) - L.xaxis.p2d(0)),
              dy: Math.abs(L.yaxis.p2d(1) - L.yaxis.p2d(0))};
    }"""
    )
    page.mouse.click(box["cx"], box["cy"])
    data = wait_for_view(page, changed_from=before["search"])
    start = from_query(data["search"]).start
    assert abs(start[0] - box["x"]) <= 2 * box["dx"]
    assert abs(start[1] - box["y"]) <= 2 * box["dy"]
    shown = data["traces"][FIRST_PATH_TRACE + 3]  # RMSprop starts there
    assert (shown["x"][0], shown["y"][0]) == pytest.approx(start, rel=1e-6)


def test_good_and_bad_formula(page, server):
    open_view(page, server)
    page.fill("#formula", "(w1 - 1)**2 + 2*(w2 + 0.5)**2")
    page.press("#formula", "Enter")
    data = wait_for_view(page, changed_from=to_query(DEFAULT))
    assert from_query(data["search"]).landscape == "custom"
    page.fill("#formula", "w1 * (w2 +")
    page.press("#formula", "Enter")
    page.wait_for_function(
        "() => document.getElementById('formula-error').innerText.includes('column')"
    )
    error = page.inner_text("#formula-error")
    assert "column 11" in error
    time.sleep(1.0)
    after = read(page)
    assert after["search"] == data["search"]  # the previous landscape stays
    assert after["traces"] == data["traces"]


def test_toggle_optimizers(page, server):
    open_view(page, server)
    page.locator("#optimizers label", has_text="Adam").click()
    data = wait_for_view(page, changed_from=to_query(DEFAULT))
    assert from_query(data["search"]).optimizers == ("sgd", "rmsprop", "adam")
    page.locator("#optimizers label", has_text=re.compile("^SGD$")).click()
    data = wait_for_view(page, changed_from=data["search"])
    assert from_query(data["search"]).optimizers == ("rmsprop", "adam")


def test_shared_url_restores_the_view(page, server, browser):
    shared = DEFAULT.replace(
        landscape="saddle", start=(-2.2, 0.3), decay=0.5, learning_rate=0.02, steps=400
    )
    data = open_view(page, server, shared)
    page.reload()
    again = wait_for_view(page, search=to_query(shared))
    assert again["traces"] == data["traces"]
    slider = page.locator("#decay [role=slider]")
    # the slider stands where the restored beta = 0.5 puts it (0.5: the first
    # linear piece, 0 to 0.9, is the identity), not at its default
    position = float(slider.get_attribute("aria-valuenow"))
    assert position == to_slider("decay", 0.5) == 0.5
    assert position != to_slider("decay", DEFAULT.decay)


def test_copy_as_code_reproduces_the_page(page, server):
    state = WORKED_EXAMPLE.replace(steps=40, optimizers=("sgd", "rmsprop"))
    data = open_view(page, server, state)
    code = page.inner_text("#code")
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, "<page snippet>", "exec"), namespace)
    for key, j in (("sgd", 0), ("rmsprop", 3)):
        trace = data["traces"][FIRST_PATH_TRACE + j]
        np.testing.assert_allclose(
            namespace["paths"][key],
            np.column_stack([trace["x"], trace["y"]]),
            rtol=1e-5,
            atol=1e-6,
        )


def test_fifty_rapid_slider_moves(page, server):
    open_view(page, server)
    page.focus("#steps [role=slider]")
    for _ in range(50):
        page.keyboard.press("ArrowRight")
    wait_for_view(page, until=lambda state: state.steps == DEFAULT.steps + 50)
    assert page.inner_text("#steps-readout") == str(DEFAULT.steps + 50)
    started = time.monotonic()
    with urllib.request.urlopen(server.url, timeout=30) as response:
        assert response.status == 200
    assert time.monotonic() - started < 30
    time.sleep(2.0)  # no late answer to an earlier move replaces the final view
    data = read(page)
    assert from_query(data["search"]).steps == DEFAULT.steps + 50
    assert mismatch(data) is None


def test_worked_example_button(page, server):
    open_view(page, server, DEFAULT.replace(landscape="bowl", start=(1.0, 2.0)))
    page.click("#worked-example")
    wait_for_view(page, search=to_query(WORKED_EXAMPLE))
    table = page.inner_text("#worked-example-table")
    assert "-14.91\t19.6" in table and "-14.8419\t19.8419" in table
    assert "810\t16000" in table


def test_non_loopback_host_warns(cache_dir):
    s = Server(cache_dir, "--host", "0.0.0.0", wait_s=WAIT_S)
    s.close()
    assert "not a loopback address" in s.stderr


AXIS_SCALES = """() => {
  const L = document.querySelector('#paths .js-plotly-plot')._fullLayout;
  return [Math.abs(L.xaxis._m), Math.abs(L.yaxis._m)];
}"""


@pytest.mark.parametrize("landscape", ["valley", "rosenbrock", "saddle"])
def test_both_axes_of_the_paths_share_one_scale(page, server, landscape):
    # Pixels per unit equal on w1 and w2: a 45-degree step is drawn at 45 degrees.
    state = DEFAULT.replace(landscape=landscape, start=(0.5, 0.5))
    open_view(page, server, state)
    x_scale, y_scale = page.evaluate(AXIS_SCALES)
    assert x_scale == pytest.approx(y_scale, rel=1e-6)
    assert x_scale > 5


LAYOUT = """() => {
  const box = (el) => el.getBoundingClientRect();
  const graphs = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .map(g => ({id: g.parentElement.id || g.closest('[id]').id, w: box(g).width,
                h: box(g).height}));
  const picker = box(document.getElementById('landscape'));
  const hit = document.elementFromPoint(picker.left + picker.width / 2,
                                        picker.top + picker.height / 2);
  const bars = Array.from(document.querySelectorAll('.modebar-container'))
    .filter(m => getComputedStyle(m).display !== 'none' && box(m).width > 0);
  return {scroll: document.documentElement.scrollWidth, graphs,
          picker_free: !!hit.closest('#landscape'), bars: bars.length};
}"""


def test_phone_width_layout(browser, server):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_S * 1000)
    try:
        open_view(page, server)
        page.wait_for_function(
            "() => document.querySelectorAll('.js-plotly-plot').length >= 9"
            " && !!document.getElementById('landscape')"
        )
        time.sleep(1.0)  # the last figures' resize
        layout = page.evaluate(LAYOUT)
        assert layout["scroll"] <= 390  # nothing wider than the screen
        for graph in layout["graphs"]:
            assert graph["w"] >= 300, graph  # no sliver of a plot
            assert graph["h"] >= 250, graph
        assert layout["picker_free"] and layout["bars"] == 0  # no toolbar on top
    finally:
        context.close()


EXPLAINED = ("paths", "loss", "effective-lr", "rms", "amplification", "sweep")


def test_a_paragraph_with_the_numbers_next_to_every_figure(page, server):
    open_view(page, server)
    for name in EXPLAINED:
        page.wait_for_function(
            f"() => (document.getElementById('explain-{name}') || {{}})"
            ".innerText.length > 200"
        )
    rate = DEFAULT.learning_rate / (1 - DEFAULT.decay) ** 0.5
    text = page.inner_text("#explain-paths")
    assert f"{rate:.3g}" in text and "45°" in text
    assert f"After {DEFAULT.steps} steps" in page.inner_text("#explain-loss")


def test_a_rejected_shared_formula_is_said_at_the_top(page, server):
    page.goto(server.url + "?landscape=custom&formula=w1*(w2%2B")
    wait_for_view(page, search=to_query(DEFAULT))  # the default view is drawn
    box = page.evaluate(
        "() => { const r = document.getElementById('message')"
        ".getBoundingClientRect(); return [r.top, r.bottom, innerHeight]; }"
    )
    assert 0 <= box[0] < box[1] <= box[2]  # in view without scrolling
    assert "Ignored the URL" in page.inner_text("#message")


def _figure_ready(page, id_: str) -> None:
    page.wait_for_function(
        f"() => {{ const g = document.querySelector('#{id_} .js-plotly-plot');"
        " return !!(g && g._fullData && g._fullData.length); }"
    )


def test_compare_decay_step_through_pin_and_sensitivity(page, server):
    open_view(page, server)
    for id_ in ("compare-decay", "lr-sensitivity"):
        _figure_ready(page, id_)
    titles = page.evaluate(
        "() => document.querySelector('#compare-decay .js-plotly-plot')"
        "._fullLayout.annotations.map(a => a.text)"
    )
    assert titles[0].startswith("β = 0:") and titles[1].startswith("β = 0.9:")
    names = page.evaluate(
        "() => document.querySelector('#lr-sensitivity .js-plotly-plot')"
        "._fullData.map(t => t.name)"
    )
    assert names == ["SGD", "RMSprop"]
    page.focus("#step-through [role=slider]")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('#paths .js-plotly-plot')._fullLayout"
        ".annotations.some(a => a.text === 'step 3' || a.text.startsWith('step 3:'))"
    )
    assert "RMSprop" in page.inner_text("#step-table")
    page.click("#pin")
    before = read(page)
    page.focus("#decay [role=slider]")
    page.keyboard.press("Home")
    wait_for_view(page, changed_from=before["search"])
    page.wait_for_function(
        "() => document.querySelector('#paths .js-plotly-plot')._fullData"
        ".some(t => t.visible === true && (t.name || '').startsWith('pinned RMSprop'))"
    )


SLIDER_NAMES = """() => Array.from(document.querySelectorAll('[role=slider]')).map(t => {
  let s = t.parentElement;
  while (s && !(s.id && document.querySelector(`label[for="${s.id}"]`))) {
    s = s.parentElement;
  }
  const named = s && document.querySelector(`label[for="${s.id}"]`);
  return {id: s ? s.id : null, label: t.getAttribute('aria-label'),
  shown: named ? named.textContent.trim() : null,
  text: t.getAttribute('aria-valuetext'), now: t.getAttribute('aria-valuenow')};
})"""


LABELLED_SLIDERS = ("decay", "learning-rate", "condition", "noise", "step-through")


def test_every_slider_has_a_label_and_announces_its_value(page, server):
    open_view(page, server)
    # The labels are set by assets/a11y.js after each render: wait until the
    # named sliders are drawn and labelled, then read every slider.
    page.wait_for_function(
        "ids => ids.every(id => { const t = document.querySelector("
        "`#${id} [role=slider]`); return t && t.getAttribute('aria-label')"
        " && t.getAttribute('aria-valuetext'); }) && Array.from("
        "document.querySelectorAll('[role=slider]'))"
        ".every(t => t.getAttribute('aria-label'))",
        arg=list(LABELLED_SLIDERS),
    )
    sliders = {s["id"]: s for s in page.evaluate(SLIDER_NAMES)}
    assert set(LABELLED_SLIDERS) <= set(sliders)
    for slider in sliders.values():
        assert slider["label"] and slider["label"] == slider["shown"], slider
        assert slider["text"], slider
    assert sliders["decay"]["label"].startswith("β")
    assert sliders["decay"]["text"] == "0.9" and sliders["decay"]["now"] == "0.9"
    assert sliders["learning-rate"]["text"] == "0.2"  # not its position -0.7
    assert sliders["step-through"]["text"] == "step 0"
    page.focus("#decay [role=slider]")
    page.keyboard.press("End")
    page.wait_for_function(
        "() => document.querySelector('#decay [role=slider]')"
        ".getAttribute('aria-valuetext') === '0.999'"
    )


def _contour(page, id_: str = "paths") -> dict:
    return page.evaluate(
        f"() => {{ const t = document.querySelector('#{id_} .js-plotly-plot')"
        "._fullData[0]; return {x: Array.from(t.x), y: Array.from(t.y),"
        " z: t.z.map(r => Array.from(r)), levels: t.contours}; }"
    )


def test_condition_slider_redraws_the_valley(page, server):
    open_view(page, server, WORKED_EXAMPLE.replace(condition=100.0))
    contour = _contour(page)
    state = WORKED_EXAMPLE.replace(condition=100.0)
    surf = _compute.surface(state)
    grid = _compute.contour_grid(surf)
    np.testing.assert_array_equal(contour["x"], grid[0].astype(np.float64))
    # The levels drawn are those of the library's 0.1 w1^2 + 10 w2^2.
    expected = _figures.contour_trace(surf, grid)["z"]
    np.testing.assert_allclose(np.asarray(contour["z"]), expected, rtol=1e-12)
    page.focus("#condition [role=slider]")
    page.keyboard.press("Home")  # kappa = 1: a round bowl
    data = wait_for_view(page, until=lambda s: s.condition == 1.0)
    assert "κ = 1 " in page.inner_text("#explain-paths")
    assert from_query(data["search"]).condition == 1.0


def test_schedule_and_mlp_digits(page, server):
    open_view(page, server)
    page.click("#schedule")
    page.get_by_role("option", name=re.compile("^cosine")).click()
    wait_for_view(page, until=lambda s: s.schedule == "cosine")
    page.wait_for_function(
        "() => document.getElementById('explain-paths').innerText"
        ".includes('schedule cosine')"
    )
    page.click("#landscape")
    page.get_by_role("option", name=re.compile("^mlp-digits")).click()
    data = wait_for_view(page, until=lambda s: s.landscape == "mlp-digits")
    state = from_query(data["search"])
    assert state.schedule == "cosine" and state.start == _compute.start_of("mlp-digits")
    page.wait_for_function(
        "() => document.getElementById('explain-paths').innerText.includes('64-16-10')"
    )


def test_ackley_contours_show_its_local_minima(page, server):
    # Levels at the quantiles of the gap: the dips around the integer points
    # are closed contours, not one flat colour.
    lands = "ackley"
    open_view(page, server, DEFAULT.replace(landscape=lands, start=(-3.3, 2.6)))
    contour = _contour(page)
    z = np.asarray(contour["z"])
    x, y = np.asarray(contour["x"]), np.asarray(contour["y"])
    # At (-2, 1), a local minimum, the drawn level is below all 8 neighbours
    # half a unit away.
    i, j = np.argmin(np.abs(y - 1.0)), np.argmin(np.abs(x + 2.0))
    step = int(round(0.5 / (x[1] - x[0])))
    centre = z[i, j]
    ring = [z[i + a * step, j + b * step] for a in (-1, 0, 1) for b in (-1, 0, 1)]
    assert sum(v > centre for v in ring) == 8
    lo, size = contour["levels"]["start"], contour["levels"]["size"]
    bands = np.floor((z - lo) / size).astype(int)
    counts = np.bincount(bands.ravel() - bands.min())
    # With levels at equal steps of log10(gap) 3 bands held over 1% of the box
    # each (one grey); now at least 20 do.
    assert np.sum(counts > 0.01 * z.size) >= 20
