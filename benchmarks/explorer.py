"""Speed of the explorer (python -m rmsprop_jax.explorer), four figures:

1. server compute of one view, all 13 optimizers x 1000 steps (one engine
   call, whichever are shown),
   and the whole draw callback (compute + figures + JSON) -- in process;
2. a slider move and an optimizer toggle to the redrawn paths plot, in
   headless Chromium;
3. a new typed formula until its paths are drawn (server: the first formula
   of the process compiles the formulas' evaluator, later ones are data for
   it; and in the browser from Enter to the redrawn plot);
4. the page usable (paths drawn) after starting the server with a warm
   persistent compilation cache, from process start;
5. a slider move on the network's landscape (``mlp-digits``), in process and
   in the browser.

Run: ``python -m benchmarks.explorer [--repeats 30]`` (needs the explorer
extra, playwright and /usr/bin/chromium). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks._browser import Server, launch_chromium
from benchmarks._extras import require_extra

SIX = ("sgd", "momentum", "rmsprop", "adagrad", "adam", "irprop+")


def _ms(xs: list[float]) -> str:
    xs = sorted(x * 1e3 for x in xs)
    q = statistics.quantiles(xs, n=10) if len(xs) > 2 else xs
    median = statistics.median(xs)
    return f"median {median:.1f} ms (p10 {q[0]:.1f}, p90 {q[-1]:.1f}, n={len(xs)})"


def _draw_request(app, state) -> dict:
    """The body the page posts for the draw callback after ``state``."""
    key = next(k for k in app.callback_map if "..paths.figure..." in k)
    spec = app.callback_map[key]
    values = {"view-state.data": state.to_dict(), "drawn-landscape.data": None}

    def items(kind: str) -> list[dict]:
        return [
            {**d, "value": values.get(f"{d['id']}.{d['property']}")} for d in spec[kind]
        ]

    outputs = []
    for part in key.strip(".").split("..."):
        id_, prop = part.split(".", 1)
        outputs.append({"id": id_, "property": prop})
    return {
        "output": key,
        "outputs": outputs,
        "inputs": items("inputs"),
        "state": items("state"),
        "changedPropIds": ["view-state.data"],
    }


def server_compute(repeats: int) -> dict[str, str]:
    from rmsprop_jax.explorer import DEFAULT, create_app, digits_plane, paths

    state = DEFAULT.replace(optimizers=SIX, steps=1000)
    paths(state)
    compute = []
    for i in range(repeats):
        s = state.replace(decay=0.5 + 0.01 * i, start=(-15.0 + 0.1 * i, 20.0))
        t = time.perf_counter()
        paths(s)
        compute.append(time.perf_counter() - t)
    digits = DEFAULT.replace(landscape="mlp-digits", start=digits_plane().start)
    paths(digits)
    compute_digits = []
    for i in range(max(repeats // 3, 3)):
        t = time.perf_counter()
        paths(digits.replace(decay=0.5 + 0.01 * i))
        compute_digits.append(time.perf_counter() - t)
    app = create_app()
    client = app.server.test_client()

    def draw(s) -> float:
        t = time.perf_counter()
        response = client.post("/_dash-update-component", json=_draw_request(app, s))
        assert response.status_code == 200, response.data[:300]
        return time.perf_counter() - t

    draw(state)
    callback = [draw(state.replace(decay=0.5 + 0.01 * i)) for i in range(repeats)]
    formulas, formulas_cpu = [], []
    for i in range(1 + max(repeats // 3, 3)):
        text = f"(w1 - {i + 1})**2 + 2*(w2 + 0.{i + 1})**2 + 0.1*sin(3*w1)"
        c = time.process_time()
        s = DEFAULT.replace(landscape="custom", formula=text, start=(-4.0, 3.0))
        formulas.append(draw(s))
        formulas_cpu.append(time.process_time() - c)
    digits_draw = [
        draw(digits.replace(decay=0.5 + 0.01 * i)) for i in range(max(repeats // 3, 3))
    ]
    return {
        "server compute, all 13 optimizers x 1000 steps (one sweep call)": _ms(compute),
        "server compute on mlp-digits (the network's loss), 13 x 200 steps": _ms(
            compute_digits
        ),
        "draw request (compute + figures + JSON, through Flask)": _ms(callback),
        "mlp-digits draw request after a slider move (200 steps shown)": _ms(
            digits_draw
        ),
        "first typed formula of the process, draw request (compiles the evaluator)": (
            f"{formulas[0]:.1f} s ({formulas_cpu[0]:.1f} s of CPU)"
        ),
        "later typed formulas, draw request (parse, minima, run, figures)": _ms(
            formulas[1:]
        ),
        "... the same, CPU time of the process (load-independent)": _ms(
            formulas_cpu[1:]
        ),
    }


DRAWN = """() => { const g = document.querySelector('#paths .js-plotly-plot');
  return !!(g && g._fullData && g._fullData.length > 3); }"""

ARM = """() => { const g = document.querySelector('#paths .js-plotly-plot');
  window.__drawn = null;
  g.once('plotly_afterplot', () => { window.__drawn = performance.now(); }); }"""


def browser(repeats: int, cache_dir: str) -> dict[str, str]:
    from playwright.sync_api import sync_playwright

    from rmsprop_jax.explorer import DEFAULT, digits_plane, to_query

    digits = DEFAULT.replace(landscape="mlp-digits", start=digits_plane().start)

    out = {}
    warm = Server(cache_dir)  # fills the persistent compilation cache
    warm.wait_warm()
    warm.close()
    with sync_playwright() as p:
        b = launch_chromium(p)
        starts, starts_cpu = [], []
        for _ in range(3):
            server = Server(cache_dir)
            page = b.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(server.url)
            page.wait_for_function(DRAWN, timeout=120_000)
            starts.append(time.perf_counter() - server.started)
            starts_cpu.append(server.cpu_seconds())
            page.close()
            if len(starts) < 3:
                server.close()
        server.wait_warm()  # the rows below without the warm-up's loads
        usable = (
            "page usable after start, warm compilation cache (start to paths drawn)"
        )
        out[usable] = _ms(starts)
        out["... the server's CPU time until then (load-independent)"] = _ms(starts_cpu)
        page = b.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(server.url)
        page.wait_for_function(DRAWN, timeout=120_000)
        page.wait_for_timeout(3000)
        moves = []
        page.focus("#decay [role=slider]")
        for i in range(repeats):
            page.evaluate(ARM)
            t0 = page.evaluate("() => performance.now()")
            page.keyboard.press("ArrowLeft" if i % 2 else "ArrowRight")
            page.wait_for_function("() => window.__drawn !== null", timeout=60_000)
            moves.append((page.evaluate("() => window.__drawn") - t0) / 1e3)
            page.wait_for_timeout(300)
        out["slider move to redrawn paths plot, headless Chromium"] = _ms(moves)
        toggles = []
        for i in range(min(repeats, 12)):
            page.evaluate(ARM)
            t0 = page.evaluate("() => performance.now()")
            label = ("Adam", "Adagrad", "momentum")[i % 3]
            page.locator("#optimizers label", has_text=label).first.click()
            page.wait_for_function("() => window.__drawn !== null", timeout=60_000)
            toggles.append((page.evaluate("() => window.__drawn") - t0) / 1e3)
            page.wait_for_timeout(300)
        out["optimizer toggle to redrawn paths plot, headless Chromium"] = _ms(toggles)
        typed = []
        for i in range(3):
            text = f"(w1 + {i + 1})**2 + 3*(w2 - 0.{i + 5})**2 + 0.2*cos(2*w2)"
            page.fill("#formula", text)
            page.evaluate(ARM)
            t0 = page.evaluate("() => performance.now()")
            page.press("#formula", "Enter")
            page.wait_for_function(
                "() => window.__drawn !== null && location.search.includes('custom')",
                timeout=120_000,
            )
            typed.append((page.evaluate("() => window.__drawn") - t0) / 1e3)
            page.wait_for_timeout(500)
        out["new typed formula, Enter to redrawn plot, headless Chromium"] = _ms(typed)
        page.goto(server.url + to_query(digits))
        page.wait_for_function(DRAWN, timeout=120_000)
        page.wait_for_timeout(3000)
        page.focus("#decay [role=slider]")
        digits_moves = []
        for i in range(max(repeats // 3, 3)):
            page.evaluate(ARM)
            t0 = page.evaluate("() => performance.now()")
            page.keyboard.press("ArrowLeft" if i % 2 else "ArrowRight")
            page.wait_for_function("() => window.__drawn !== null", timeout=60_000)
            digits_moves.append((page.evaluate("() => window.__drawn") - t0) / 1e3)
            page.wait_for_timeout(1500)  # the maps below follow each move
        out["mlp-digits slider move to redrawn paths plot, headless Chromium"] = _ms(
            digits_moves
        )
        b.close()
        server.close()
    return out


def screenshots(directory: Path, cache_dir: str, panels: bool) -> None:
    """The README's screenshot (and with ``panels`` one per panel) of an
    illustrative view."""
    from playwright.sync_api import sync_playwright

    from rmsprop_jax.explorer import DEFAULT, to_query

    view = DEFAULT.replace(
        optimizers=("sgd", "momentum", "rmsprop", "adam", "irprop-"),
        learning_rate=0.5,
        sgd_learning_rate=0.04,
        momentum=0.8,
        steps=150,
    )
    directory.mkdir(parents=True, exist_ok=True)
    server = Server(cache_dir)
    with sync_playwright() as p:
        b = launch_chromium(p)
        page = b.new_page(viewport={"width": 1500, "height": 1050})
        page.goto(server.url + to_query(view))
        page.wait_for_function(DRAWN, timeout=300_000)
        page.wait_for_function(
            "() => { const g = document.querySelector('#sweep .js-plotly-plot');"
            " return !!(g && g._fullData && g._fullData.length); }",
            timeout=300_000,
        )
        page.wait_for_timeout(2000)
        page.screenshot(path=directory / "explorer.png")
        selectors = {
            "paths": "#paths",
            "loss": "#loss",
            "effective_lr": "#effective-lr",
            "rms": "#rms",
            "amplification": "#amplification",
            "amplification_multiples": "#amplification-multiples",
            "sweep": "#sweep",
            "first_steps": "#worked-example-table",
            "controls": ".controls",
            "code": ".code-box",
        }
        for name, selector in selectors.items() if panels else ():
            page.locator(selector).screenshot(path=directory / f"explorer_{name}.png")
        b.close()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.explorer", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--repeats", type=int, default=30, help="timed repetitions of each measurement"
    )
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument(
        "--screenshots", type=Path, help="only take the screenshots, into this folder"
    )
    parser.add_argument(
        "--panels", action="store_true", help="with --screenshots: each panel too"
    )
    args = parser.parse_args()
    if args.screenshots:
        with tempfile.TemporaryDirectory() as cache:
            screenshots(args.screenshots, cache, args.panels)
        return
    rows = server_compute(args.repeats)
    if not args.no_browser:
        with tempfile.TemporaryDirectory() as cache:
            rows |= browser(args.repeats, cache)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}")
    print("| what | time |\n|---|---|")
    for what, value in rows.items():
        print(f"| {what} | {value} |")


if __name__ == "__main__":
    require_extra(
        "python -m benchmarks.explorer", "explorer,test", "dash", "plotly", "playwright"
    )
    main()
