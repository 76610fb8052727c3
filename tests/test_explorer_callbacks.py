"""The explorer's callbacks through Flask's test client: what the page sends,
including crafted values, and what comes back."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import re
from urllib.parse import urlencode

import numpy as np
import pytest
from helpers import count_compilations

pytest.importorskip("dash")

from rmsprop_jax.explorer import _app, _callbacks, _compute, create_app  # noqa: E402
from rmsprop_jax.explorer._app import CARTESIAN_TRACES, UNUSED_SCRIPTS  # noqa: E402
from rmsprop_jax.explorer._figures import FIRST_PATH_TRACE  # noqa: E402
from rmsprop_jax.explorer._layout import EMPTY_FIGURE, FOLLOWING  # noqa: E402
from rmsprop_jax.explorer._state import (  # noqa: E402
    DEFAULT,
    WORKED_EXAMPLE,
    State,
    from_query,
    to_query,
    validate,
)


@pytest.fixture(scope="module")
def client():
    return create_app().server.test_client()


@pytest.fixture(scope="module")
def callbacks():
    return create_app().callback_map


def _outputs(key: str) -> list[dict[str, str]]:
    out = []
    for part in key.strip(".").split("..."):
        id_, prop = part.split(".", 1)
        out.append({"id": id_, "property": prop})
    return out


def call(client, callbacks, output: str, values: dict, changed: list[str]) -> dict:
    """POSTs one callback as the page does: ``values`` by ``"id.prop"``."""
    key = next(k for k in callbacks if output in k.strip(".").split("..."))
    spec = callbacks[key]

    def items(kind):
        return [
            {**d, "value": values.get(f"{d['id']}.{d['property']}")} for d in spec[kind]
        ]

    body = {
        "output": key,
        "outputs": _outputs(key),
        "inputs": items("inputs"),
        "state": items("state"),
        "changedPropIds": changed,
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code in (200, 204), response.data[:500]
    return {} if response.status_code == 204 else response.get_json()["response"]


_PROPS = {
    "click-point": "data",
    "worked-example": "n_clicks",
    "sweep": "clickData",
    "url": "search",
}


def sync(client, callbacks, changed=None, state=DEFAULT, url="", **values):
    """The state callback after controls ``values`` (by id) changed."""
    full = {"url.search": url, "view-state.data": state.to_dict()}
    for id_, value in values.items():
        full[f"{id_}.{_PROPS.get(id_, 'value')}"] = value
    if changed is None:
        changed = [f"{i}.{_PROPS.get(i, 'value')}" for i in values]
    return call(client, callbacks, "view-state.data", full, changed)


def decode(value):
    """A Plotly array as sent (a list, or ``{dtype, bdata}``) -> NumPy."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(
            base64.b64decode(value["bdata"]), np.dtype(value["dtype"])
        )
        shape = value.get("shape")
        if shape:
            array = array.reshape([int(s) for s in str(shape).split(",")])
        return array
    return np.asarray(value, float)


def draw(client, callbacks, state: State | dict, drawn=None) -> dict:
    """The draw callback's answer, and the one of the loss, effective learning
    rate and RMS figures that follow it (``drawn-state``), merged."""
    data = state.to_dict() if isinstance(state, State) else state
    out = call(
        client,
        callbacks,
        "paths.figure",
        {"view-state.data": data, "drawn-landscape.data": drawn},
        ["view-state.data"],
    )
    if "drawn-state" in out:
        drawn_state = {"drawn-state.data": out["drawn-state"]["data"]}
        lines = call(
            client, callbacks, "loss.figure", drawn_state, ["drawn-state.data"]
        )
        assert not set(lines) & set(out)
        out |= lines
    return out


def test_initial_load_reads_the_url(client, callbacks):
    shared = DEFAULT.replace(
        landscape="rosenbrock",
        decay=0.99,
        steps=250,
        optimizers=("adam", "irprop+"),
        start=(-1.5, 2.5),
    )
    out = sync(client, callbacks, changed=[], url=to_query(shared))
    assert validate(out["view-state"]["data"]) == shared
    assert out["decay"]["value"] == 1.8  # the slider's position for 0.99
    assert out["decay-readout"]["children"] == "0.99"
    assert out["optimizers"]["value"] == ["adam", "irprop+"]
    assert out["start"]["children"] == "start: (-1.5, 2.5)"


def test_slider_moves_update_state_and_url(client, callbacks):
    out = sync(client, callbacks, decay=1.4)
    state = validate(out["view-state"]["data"])
    assert state == DEFAULT.replace(decay=0.95)
    out = sync(client, callbacks, **{"learning-rate": -2.0})
    assert validate(out["view-state"]["data"]).learning_rate == 0.01
    assert from_query(out["url"]["search"]).learning_rate == 0.01
    assert "learning-rate" not in out  # the moved slider is left alone


@pytest.mark.parametrize(
    ("control", "value", "message"),
    [
        ("decay", "abc", "`decay` must be a number"),
        ("decay", 1e9, "slider position must lie in [0, 2.7]"),
        ("decay", None, "`decay` must be a number"),
        ("learning-rate", [1, 2], "`learning-rate` must be a number"),
        ("steps", 2.5, "whole number"),
        ("steps", 5000, "slider position"),
        ("eps", {"a": 1}, "`eps` must be a number"),
        ("optimizers", ["rmsprop", "evil"], "`optimizers` must be one of"),
        ("optimizers", "rmsprop", "`optimizers` must be a list of names"),
        ("landscape", "../../etc/passwd", "`landscape` must be one of"),
        ("eps-placement", "sideways", "'inside' or 'outside'"),
        ("sweep-optimizer", "sgd", "`sweep-optimizer` must be one of"),
        ("click-point", {"x": "nan", "y": 1}, "`start` coordinates must be finite"),
        ("click-point", [1, 2], "A click must give x and y"),
        ("click-point", {"x": 1e300, "y": 0}, "|w| <= 10000"),
        ("sweep", {"points": [{"x": "0.5", "y": "0.9"}]}, "Not a cell"),
        ("sweep", "junk", "Not a cell"),
    ],
)
def test_crafted_values_get_a_message_not_a_500(
    client, callbacks, control, value, message
):
    out = sync(client, callbacks, **{control: value})
    assert message in out["message"]["children"]
    assert "view-state" not in out and "url" not in out  # nothing changes


def test_a_bad_shared_url_shows_the_defaults_and_says_why(client, callbacks):
    out = sync(client, callbacks, changed=["url.search"], url="?lr=1e9&steps=x")
    assert validate(out["view-state"]["data"]) == DEFAULT
    assert "Ignored the URL" in out["message"]["children"]
    assert "`learning-rate` must lie in" in out["message"]["children"]


@pytest.mark.slow  # over 8 s; the full suite runs it
def test_formulas(client, callbacks):
    out = sync(client, callbacks, formula="w1 ** 2 + (w2")
    assert "column" in out["formula-error"]["children"]
    assert "view-state" not in out  # the previous landscape stays
    out = sync(client, callbacks, formula="__import__('os').system('true')")
    assert "not allowed at column 1" in out["formula-error"]["children"]
    out = sync(client, callbacks, formula="(w1 - 1)**2 + (w2 + 1)**2")
    state = validate(out["view-state"]["data"])
    assert state.landscape == "custom" and state.formula == "(w1 - 1)**2 + (w2 + 1)**2"
    assert out["landscape"]["value"] == "custom"
    assert out["formula-error"]["children"] == ""
    figure = draw(client, callbacks, state)["paths"]["figure"]
    minimum = figure["data"][1]
    np.testing.assert_allclose(
        [decode(minimum["x"])[0], decode(minimum["y"])[0]], [1, -1], atol=1e-6
    )


@pytest.mark.slow  # over 8 s; the full suite runs it
def test_worked_example_and_its_table(client, callbacks):
    out = sync(
        client, callbacks, state=DEFAULT.replace(decay=0.3), **{"worked-example": 1}
    )
    assert validate(out["view-state"]["data"]) == WORKED_EXAMPLE
    assert out["decay"]["value"] == 0.9
    response = draw(client, callbacks, WORKED_EXAMPLE)
    table = response["worked-example-table"]["children"]
    cells = [
        [c["props"]["children"] for c in row["props"]["children"]] for row in table
    ]
    assert cells[0] == ["optimizer", "t", "w1", "w2", "g1", "g2", "s1", "s2"]
    assert cells[2][:4] == ["SGD", "1", "-14.91", "19.6"]
    assert cells[5][0] == "RMSprop" and cells[5][1] == "1"
    assert cells[5][2].startswith("-14.84") and cells[5][3].startswith("19.84")
    assert cells[5][6] == "810" and cells[5][7] == "16000"
    figure = response["paths"]["figure"]
    rms = figure["data"][FIRST_PATH_TRACE + 3]
    assert rms["name"] == "RMSprop"
    custom = decode(rms["customdata"]).reshape(-1, 4)
    np.testing.assert_allclose(custom[0, 2:], [0.158114, -0.158114], rtol=1e-4)


def test_drawn_paths_are_the_librarys(client, callbacks):
    state = DEFAULT.replace(
        landscape="saddle",
        start=(-2.0, 0.001),
        optimizers=("momentum", "rmsprop", "rprop-"),
        steps=300,
        sgd_learning_rate=0.01,
    )
    response = draw(client, callbacks, state)
    expected = _compute.paths(state)
    figure = response["paths"]["figure"]
    for i, key in enumerate(expected.optimizers):
        j = FIRST_PATH_TRACE + list(_compute.FACTORIES).index(key)
        trace = figure["data"][j]
        assert trace["visible"] is True
        np.testing.assert_array_equal(decode(trace["x"]), expected.params[i, :301, 0])
        np.testing.assert_array_equal(decode(trace["y"]), expected.params[i, :301, 1])
    # One scale on both axes (pixels per unit), so directions are true.
    assert figure["layout"]["yaxis"]["scaleanchor"] == "x"
    assert figure["layout"]["yaxis"]["scaleratio"] == 1
    hidden = figure["data"][FIRST_PATH_TRACE]  # SGD: not selected
    assert hidden["visible"] is False
    assert response["drawn-landscape"]["data"] == "saddle"
    # Same landscape drawn already: only the traces travel, as a Patch.
    patched = draw(client, callbacks, state.replace(decay=0.5), drawn="saddle")
    operations = patched["paths"]["figure"]["operations"]
    assert {op["location"][1] for op in operations} == set(
        range(2, FIRST_PATH_TRACE + len(_compute.FACTORIES))
    )


def test_a_diverging_path_says_so(client, callbacks):
    state = WORKED_EXAMPLE.replace(sgd_learning_rate=0.2)
    figure = draw(client, callbacks, state)["paths"]["figure"]
    sgd = figure["data"][FIRST_PATH_TRACE]
    k = _compute.paths(state).diverged_at[0]
    assert sgd["name"] == f"SGD (diverged at step {k})"
    assert len(decode(sgd["x"])) == k + 1 and np.isfinite(decode(sgd["x"])).all()


def test_crafted_view_state_reaches_no_computation(client, callbacks):
    for bad in (
        {"decay": "x"},
        {"steps": -3},
        "junk",
        {"formula": 3, "landscape": "custom"},
    ):
        response = draw(client, callbacks, bad)
        assert "paths" not in response
        assert response["status"]["children"]
    response = draw(client, callbacks, {"landscape": "custom", "formula": "w1 +"})
    assert "column" in response["status"]["children"]


def test_sweep_map_click_sets_the_sliders(client, callbacks):
    state = DEFAULT.replace(landscape="bowl", start=(-4.0, 3.0), steps=50)
    response = call(
        client,
        callbacks,
        "sweep.figure",
        {"maps-state.data": state.to_dict()},
        ["maps-state.data"],
    )
    z = decode(response["sweep"]["figure"]["data"][0]["z"]).reshape(9, 13)
    result = _compute.final_loss_map(state)
    np.testing.assert_allclose(z, np.log10(np.maximum(result.loss, 0) + 1e-12))
    click = {"points": [{"x": "0.1", "y": "0.99", "curveNumber": 0}]}
    out = sync(client, callbacks, state=state, sweep=click)
    new = validate(out["view-state"]["data"])
    assert (new.learning_rate, new.decay) == (0.1, 0.99)
    assert out["learning-rate"]["value"] == -1.0 and out["decay"]["value"] == 1.8


def test_click_sets_the_start(client, callbacks):
    out = sync(client, callbacks, **{"click-point": {"x": 3.25, "y": -7.5, "t": 1}})
    assert validate(out["view-state"]["data"]).start == (3.25, -7.5)
    assert out["start"]["children"] == "start: (3.25, -7.5)"


def test_landscape_switch_moves_the_start(client, callbacks):
    out = sync(client, callbacks, landscape="ackley")
    state = validate(out["view-state"]["data"])
    assert state.landscape == "ackley" and state.start == (-3.3, 2.6)


def test_download_is_the_csv_of_the_view(client, callbacks):
    state = WORKED_EXAMPLE.replace(steps=5)
    response = call(
        client,
        callbacks,
        "download-csv.data",
        {"download.n_clicks": 1, "view-state.data": state.to_dict()},
        ["download.n_clicks"],
    )
    data = response["download-csv"]["data"]
    assert data["filename"] == "rmsprop_jax_paths.csv"
    assert data["content"].startswith("# rmsprop_jax explorer view ?")
    rows = list(csv.DictReader(io.StringIO(data["content"].split("\n", 1)[1])))
    assert len(rows) == 12
    assert rows[1]["optimizer"] == "sgd" and float(rows[1]["w1"]) == pytest.approx(
        -14.91
    )


def test_amplification_for_the_current_beta(client, callbacks):
    response = call(
        client,
        callbacks,
        "amplification.figure",
        {"maps-state.data": DEFAULT.replace(decay=0.5).to_dict()},
        ["maps-state.data"],
    )
    heatmap = response["amplification"]["figure"]["data"][0]
    g, maps = _compute.amplification((0.5,))
    np.testing.assert_array_equal(decode(heatmap["z"]).reshape(maps[0].shape), maps[0])
    assert heatmap["zmid"] == 0


def test_redrawing_never_recompiles(client, callbacks):
    from rmsprop_jax.sweep import compilations

    base = DEFAULT.replace(steps=300)
    draw(client, callbacks, base)
    before = compilations()
    with count_compilations() as compiled:
        drawn = "valley"
        for change in (
            {"decay": 0.99},
            {"learning_rate": 0.3, "sgd_learning_rate": 0.02, "eps": 1e-3},
            {"start": (4.0, -3.0), "steps": 1000},
            {"landscape": "plateau", "start": (2.5, 2.0)},
            {"landscape": "steep_bowl", "start": (6.0, -8.0)},
        ):
            base = base.replace(**change)
            out = draw(client, callbacks, base, drawn=drawn)
            drawn = (
                out["drawn-landscape"]["data"] if "drawn-landscape" in out else drawn
            )
    assert compiled == [] and compilations() == before


def test_a_shared_formula_is_parsed_and_starts_inside_its_box(client, callbacks):
    bad = "?" + urlencode({"landscape": "custom", "formula": "w1*(w2+"})
    out = sync(client, callbacks, changed=["url.search"], url=bad)
    assert validate(out["view-state"]["data"]) == DEFAULT  # the default view draws
    assert "Ignored the URL" in out["message"]["children"]
    assert "column" in out["message"]["children"]
    good = {"landscape": "custom", "formula": "(w1 - 1)**2 + w2**2"}
    out = sync(client, callbacks, changed=["url.search"], url="?" + urlencode(good))
    state = validate(out["view-state"]["data"])
    assert state.landscape == "custom" and state.start == _compute.CUSTOM_START
    assert out["formula"]["value"] == good["formula"]
    out = sync(client, callbacks, changed=["url.search"], url="?landscape=rosenbrock")
    assert validate(out["view-state"]["data"]).start == (-1.2, 1.0)


def test_the_formula_box_holds_a_formula_only_when_one_is_drawn(client, callbacks):
    out = sync(client, callbacks, changed=[], url="")
    assert out["formula"]["value"] == ""  # the placeholder shows an example
    out = sync(client, callbacks, landscape="custom")
    assert out["formula"]["value"] == DEFAULT.formula
    assert validate(out["view-state"]["data"]).landscape == "custom"
    custom = validate(out["view-state"]["data"])
    out = sync(client, callbacks, state=custom, landscape="bowl")
    assert out["formula"]["value"] == ""
    # Typing a formula while a built-in landscape is drawn draws the formula.
    out = sync(client, callbacks, formula="w1**2 + 3*w2**2")
    assert validate(out["view-state"]["data"]).landscape == "custom"


def test_every_figure_has_its_paragraph_with_its_numbers(client, callbacks):
    response = draw(client, callbacks, DEFAULT)
    paths = response["explain-paths"]["children"]
    rate = DEFAULT.learning_rate / (1 - DEFAULT.decay) ** 0.5
    assert f"{rate:.3g}" in paths and "45°" in paths  # RMSprop's first step
    expected = _compute.paths(DEFAULT)
    assert "After 200 steps" in response["explain-loss"]["children"]
    i = expected.optimizers.index("sgd")
    assert f"SGD {expected.loss[i, 200]:.3g}" in response["explain-loss"]["children"]
    assert "η/√(s+ε)" in response["explain-effective-lr"]["children"]
    assert "(810, 16000)" in response["explain-rms"]["children"]
    data = {"maps-state.data": DEFAULT.to_dict()}
    out = call(client, callbacks, "amplification.figure", data, ["maps-state.data"])
    assert "C_a(2, 2) = 0.294" in out["explain-amplification"]["children"]
    out = call(client, callbacks, "sweep.figure", data, ["maps-state.data"])
    assert "The best here is β =" in out["explain-sweep"]["children"]


def test_compare_decay_beta_zero_moves_along_compass_directions(client, callbacks):
    data = {"maps-state.data": DEFAULT.to_dict()}
    out = call(client, callbacks, "compare-decay.figure", data, ["maps-state.data"])
    figure = out["compare-decay"]["figure"]
    lines = [t for t in figure["data"] if t["type"] == "scatter"]
    expected = _compute.compare_decay(DEFAULT)
    for i, trace in enumerate(lines):
        shown = np.column_stack([decode(trace["x"]), decode(trace["y"])])
        np.testing.assert_array_equal(shown, expected[i, : DEFAULT.steps + 1])
    zero = np.column_stack([decode(lines[0]["x"]), decode(lines[0]["y"])])
    steps = np.diff(zero, axis=0)[:60]  # far from the minimum, where |g| >> sqrt(eps)
    angles = np.degrees(np.arctan2(steps[:, 1], steps[:, 0]))
    assert np.allclose(angles / 45, np.round(angles / 45), atol=1e-3)  # 8 directions
    smooth = np.column_stack([decode(lines[1]["x"]), decode(lines[1]["y"])])
    turns = np.degrees(np.arctan2(*np.diff(smooth, axis=0)[:, ::-1].T))
    assert len(np.unique(np.round(turns))) > 8  # beta = 0.9 turns smoothly
    for axis in ("yaxis", "yaxis2"):
        assert figure["layout"][axis]["scaleratio"] == 1
    assert "8 compass directions" in out["explain-compare-decay"]["children"]


def test_a_figure_below_the_paths_is_sent_only_when_it_changed(client, callbacks):
    data = {"maps-state.data": DEFAULT.to_dict()}
    out = call(client, callbacks, "compare-decay.figure", data, ["maps-state.data"])
    sent = out["compare-decay-sent"]["data"]
    assert sent == _callbacks.digest(out["compare-decay"]["figure"])
    # beta moves: the beta = 0 / 0.9 comparison does not change, nor is it sent.
    data = {
        "maps-state.data": DEFAULT.replace(decay=0.5).to_dict(),
        "compare-decay-sent.data": sent,
    }
    out = call(client, callbacks, "compare-decay.figure", data, ["maps-state.data"])
    assert "compare-decay" not in out and "compare-decay-sent" not in out
    assert "compass directions" in out["explain-compare-decay"]["children"]
    # eta moves: it changes, and is sent.
    data["maps-state.data"] = DEFAULT.replace(learning_rate=0.05).to_dict()
    out = call(client, callbacks, "compare-decay.figure", data, ["maps-state.data"])
    assert out["compare-decay-sent"]["data"] not in (None, sent)
    assert out["compare-decay"]["figure"]["data"]


def test_a_new_view_with_nothing_pinned_sends_no_pinned_traces(client, callbacks):
    values = {"drawn-state.data": DEFAULT.to_dict(), "pinned.data": None}
    assert call(client, callbacks, "pinned.data", values, ["drawn-state.data"]) == {}


def test_the_figures_below_follow_the_drawn_view_once_it_rests(callbacks):
    key = next(k for k in callbacks if k.strip(".") == "maps-state.data")
    assert [i["id"] for i in callbacks[key]["inputs"]] == ["drawn-state"]
    for figure in ("amplification", "sweep", "compare-decay", "lr-sensitivity"):
        spec = callbacks[next(k for k in callbacks if f"..{figure}.figure.." in k)]
        assert [i["id"] for i in spec["inputs"]] == ["maps-state"]


def _step_output(callbacks) -> str:
    """The step-through callback's table output (``id.prop@hash``: the draw
    callback answers the same table for a new view)."""
    return next(
        part
        for key in callbacks
        for part in key.strip(".").split("...")
        if part.startswith("step-table.children@")
    )


def test_step_through_draws_the_update_and_gd_arrows(client, callbacks):
    state = WORKED_EXAMPLE.replace(optimizers=("sgd", "rmsprop"))
    values = {"step-through.value": 1, "drawn-state.data": state.to_dict()}
    out = call(
        client, callbacks, _step_output(callbacks), values, ["step-through.value"]
    )
    # A new view draws the same arrows and table in its one answer.
    drawn = call(
        client,
        callbacks,
        "paths.figure",
        {
            "view-state.data": state.to_dict(),
            "drawn-landscape.data": _callbacks.landscape_key(state),
            "step-through.value": 1,
        },
        ["view-state.data"],
    )
    ops = drawn["paths"]["figure"]["operations"]
    (annotations,) = [o for o in ops if o["location"] == ["layout", "annotations"]]
    assert annotations == out["paths"]["figure"]["operations"][0]
    assert drawn["step-table"]["children"] == out["step-table"]["children"]
    (operation,) = out["paths"]["figure"]["operations"]
    assert operation["location"] == ["layout", "annotations"]
    arrows = operation["params"]["value"]
    p = _compute.paths(state)
    rms = p.optimizers.index("rmsprop")
    update = next(a for a in arrows if a.get("hovertext") == "RMSprop v(1)")
    assert (update["ax"], update["ay"]) == pytest.approx(p.params[rms, 1], rel=1e-6)
    assert (update["x"], update["y"]) == pytest.approx(p.params[rms, 2], rel=1e-5)
    cells = [
        [c["props"]["children"] for c in row["props"]["children"]]
        for row in out["step-table"]["children"]
    ]
    assert cells[2][:4] == ["RMSprop", "1", "-14.842", "19.842"]
    assert cells[2][8:] == ["0.089051", "-0.39684"]  # GD's step: -0.001 g(1)
    values["step-through.value"] = "x"
    out = call(
        client, callbacks, _step_output(callbacks), values, ["step-through.value"]
    )
    assert "`step-through` must be a whole number" in out["step-table"]["children"]


def test_play_walks_the_steps(client, callbacks):
    values = {
        "play.n_clicks": 1,
        "step-through.value": 0,
        "step-through.max": 99,
        "play-timer.disabled": True,
    }
    out = call(client, callbacks, "play-timer.disabled", values, ["play.n_clicks"])
    assert out["play-timer"]["disabled"] is False
    values |= {"play-timer.n_intervals": 1, "play-timer.disabled": False}
    out = call(
        client, callbacks, "play-timer.disabled", values, ["play-timer.n_intervals"]
    )
    assert out["step-through"]["value"] == 1
    values["step-through.value"] = 99
    out = call(
        client, callbacks, "play-timer.disabled", values, ["play-timer.n_intervals"]
    )
    assert out["play-timer"]["disabled"] is True  # stops at the last step


@pytest.mark.slow  # over 8 s; the full suite runs it
def test_lr_sensitivity_is_one_sweep_of_every_rate(client, callbacks):
    state = WORKED_EXAMPLE.replace(optimizers=("sgd", "rmsprop"), steps=150)
    data = {"maps-state.data": state.to_dict()}
    out = call(client, callbacks, "lr-sensitivity.figure", data, ["maps-state.data"])
    sgd, rms = out["lr-sensitivity"]["figure"]["data"]
    assert len(decode(sgd["x"])) >= 12 and sgd["name"] == "SGD"
    np.testing.assert_array_equal(decode(sgd["x"]), _compute.SENSITIVITY_SGD_RATES)
    # Each point is the loss of the page's own run at that rate.
    for trace, field, key in (
        (sgd, "sgd_learning_rate", "sgd"),
        (rms, "learning_rate", "rmsprop"),
    ):
        j = 9
        rate = decode(trace["x"])[j]
        single = _compute.paths(state.replace(**{field: float(rate)}))
        i = single.optimizers.index(key)
        np.testing.assert_allclose(
            decode(trace["y"])[j], max(single.loss[i, 150], 1e-12), rtol=1e-5
        )
    assert "within 10×" in out["explain-lr-sensitivity"]["children"]


def test_pin_keeps_the_paths_as_faint_traces(client, callbacks):
    state = WORKED_EXAMPLE.replace(optimizers=("sgd", "rmsprop"))
    values = {"drawn-state.data": state.to_dict(), "pin.n_clicks": 1}
    out = call(client, callbacks, "pinned.data", values, ["pin.n_clicks"])
    assert validate(out["pinned"]["data"]) == state
    operations = out["paths"]["figure"]["operations"]
    rms = next(
        op["params"]["value"]
        for op in operations
        if op["params"]["value"].get("name", "").startswith("pinned RMSprop")
    )
    expected = _compute.paths(state).params[1, : state.steps + 1]
    np.testing.assert_array_equal(decode(rms["x"]), expected[:, 0])
    # A slider moves: the pinned paths stay those of the pinned settings.
    moved = state.replace(decay=0.5)
    values = {"drawn-state.data": moved.to_dict(), "pinned.data": state.to_dict()}
    out = call(client, callbacks, "pinned.data", values, ["drawn-state.data"])
    values = [op["params"]["value"] for op in out["paths"]["figure"]["operations"]]
    shown = [v for v in values if v.get("visible")]
    assert [v["name"] for v in shown] == [
        "pinned SGD (η 0.05, β 0.9)",
        "pinned RMSprop (η 0.05, β 0.9)",
    ]
    values = {
        "drawn-state.data": moved.to_dict(),
        "unpin.n_clicks": 1,
        "pinned.data": state.to_dict(),
    }
    out = call(client, callbacks, "pinned.data", values, ["unpin.n_clicks"])
    assert out["pinned"]["data"] is None
    ops = out["paths"]["figure"]["operations"]
    assert not any(op["params"]["value"].get("visible") for op in ops)


def test_responses_are_compressed_and_requests_bounded(client):
    plain = client.get("/_dash-layout")
    packed = client.get("/_dash-layout", headers={"Accept-Encoding": "gzip, br"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data) / 3
    index = client.get("/").get_data(as_text=True)
    script = next(s for s in re.findall(r'src="([^"]+)"', index) if "plotly" in s)
    js = client.get(script, headers={"Accept-Encoding": "gzip"})
    assert js.headers["Content-Encoding"] == "gzip" and len(js.data) < 2e6
    huge = client.post(
        "/_dash-update-component",
        data=b"[" + b"0," * 200_000 + b"0]",
        content_type="application/json",
    )
    assert huge.status_code == 413


def test_static_files_are_compressed_once_and_answers_every_time(client):
    index = client.get("/").get_data(as_text=True)
    files = re.findall(r'(?:src|href)="([^"]+\.(?:js|css)[^"]*)"', index)
    assert len(files) > 10

    def fetch(url: str) -> bytes:
        response = client.get(url, headers={"Accept-Encoding": "gzip"})
        response.close()
        assert response.status_code == 200, url
        return response.data

    first = [fetch(f) for f in files]
    kept = _app._gzip_static.cache_info()
    assert [fetch(f) for f in files] == first  # the kept bytes, the same
    again = _app._gzip_static.cache_info()
    assert again.hits - kept.hits == len(files) and again.misses == kept.misses
    for url, packed in zip(files, first, strict=True):
        plain = client.get(url)
        data = plain.data
        plain.close()
        assert gzip.decompress(packed) == data, url
    for _ in range(2):  # answers are compressed anew, never kept
        fetch("/_dash-layout")
    assert _app._gzip_static.cache_info().currsize == again.currsize


def test_the_page_loads_only_the_scripts_it_draws_with(client):
    index = client.get("/").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', index)
    suites = [s.split("/_dash-component-suites/", 1)[-1] for s in scripts]
    assert not [s for s in suites if s.startswith(UNUSED_SCRIPTS)]
    plotly = [s for s in scripts if "plotly" in s]
    assert len(plotly) == 1 and "/assets/plotly-cartesian.min.js" in plotly[0]
    for script in scripts:
        response = client.get(script)
        response.close()
        assert response.status_code == 200, script


@pytest.mark.slow  # compiles every figure's program (24 s on 2 cores, alone)
def test_every_figure_draws_with_the_cartesian_bundle(client, callbacks):
    out = draw(client, callbacks, DEFAULT)
    figures = [out[k]["figure"] for k in ("paths", "loss", "effective-lr", "rms")]
    maps = {"maps-state.data": DEFAULT.to_dict()}
    for id_ in FOLLOWING + ("amplification-multiples",):
        answer = call(client, callbacks, f"{id_}.figure", maps, ["maps-state.data"])
        figures.append(answer[id_]["figure"])
    types = {trace.get("type", "scatter") for f in figures for trace in f["data"]}
    assert types == {"scatter", "contour", "heatmap"}
    assert types <= set(CARTESIAN_TRACES)


def test_graphs_without_a_figure_draw_no_axes(client):
    layout = client.get("/_dash-layout").get_json()

    def graphs(node):
        if isinstance(node, dict):
            if node.get("type") == "Graph":
                yield node["props"]
            for value in node.get("props", {}).values():
                yield from graphs(value)
        elif isinstance(node, list):
            for child in node:
                yield from graphs(child)

    found = list(graphs(layout))
    assert len(found) == 9
    for props in found:
        assert props["figure"] == EMPTY_FIGURE, props["id"]
        axes = props["figure"]["layout"]
        assert axes["xaxis"]["visible"] is False and axes["yaxis"]["visible"] is False
