"""The Dash application: layout and callbacks.

Dash is imported inside :func:`create_app` only, so that importing this module
(as ``pytest --doctest-modules`` does) needs nothing beyond the library.

One callback, ``sync``, owns the page state: every control, the URL query
string, a click on the plot (converted to data coordinates by
``assets/click.js``), the worked-example button and a click on the sweep map
go through it; it validates every value with :mod:`._state` and stores the
resulting state in ``view-state``. The figures are drawn from that store by
callbacks that validate it again (a crafted request can reach any callback).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from pathlib import Path
from typing import Any

from rmsprop_jax import landscapes
from rmsprop_jax.explorer import _compute, _figures, _snippet
from rmsprop_jax.explorer._catalog import OPTIMIZERS, SWEEPABLE
from rmsprop_jax.explorer._state import (
    CUSTOM,
    DEFAULT,
    SLIDERS,
    WORKED_EXAMPLE,
    InvalidValue,
    State,
    from_query,
    from_slider,
    to_query,
    to_slider,
    validate,
)

_LOG = logging.getLogger(__name__)

READY = threading.Event()
"""Set when the programs of the default view's paths are compiled; the draw
callback waits for it (the command line compiles them in the background while
the page loads)."""
READY.set()
_READY_TIMEOUT_S = 300.0

SLIDER_IDS = {
    "learning_rate": "learning-rate",
    "sgd_learning_rate": "sgd-learning-rate",
    "decay": "decay",
    "eps": "eps",
    "momentum": "momentum",
    "steps": "steps",
}
_LABELS = {
    "learning_rate": "η (adaptive, sign and Rprop's Δ₀)",
    "sgd_learning_rate": "η of SGD, momentum, Nesterov",
    "decay": "β (decay; Adam's β₂)",
    "eps": "ε",
    "momentum": "momentum (Adam's β₁)",
    "steps": "steps",
}
_MARKS = {
    "learning_rate": {-4: "1e-4", -3: "1e-3", -2: "0.01", -1: "0.1", 0: "1"},
    "sgd_learning_rate": {
        -5: "1e-5",
        -4: "1e-4",
        -3: "1e-3",
        -2: "0.01",
        -1: "0.1",
        0: "1",
    },
    "decay": {0: "0", 1: "0.5", 2: "0.9", 3: "0.99", 4: "0.999"},
    "eps": {-12: "1e-12", -8: "1e-8", -4: "1e-4", 0: "1"},
    "momentum": {0: "0", 0.5: "0.5", 0.9: "0.9"},
    "steps": {1: "1", 250: "250", 500: "500", 750: "750", 1000: "1000"},
}
FIELDS = tuple(SLIDER_IDS)


def readout(name: str, value: float) -> str:
    """The text next to a slider."""
    return f"{value:g}" if name != "steps" else str(int(value))


def _landscape_key(state: State) -> str:
    return state.formula if state.landscape == CUSTOM else state.landscape


def _start_text(state: State) -> str:
    return f"start: ({state.start[0]:.4g}, {state.start[1]:.4g})"


def _state_from_store(data: Any) -> State:
    if not isinstance(data, dict):
        raise InvalidValue(f"The view state must be a mapping, got {data!r}.")
    return validate(data)


@functools.lru_cache(maxsize=64)
def _sweep_map(key: tuple) -> _compute.SweepMap:
    return _compute.final_loss_map(State(**dict(key)))


def _sweep_key(state: State) -> tuple:
    fields = state.to_dict()
    fields.pop("learning_rate")
    fields.pop("decay")
    fields.pop("optimizers")
    fields["start"] = tuple(fields["start"])
    return tuple(sorted(fields.items()))


@functools.lru_cache(maxsize=1)
def amplification_multiples() -> dict[str, Any]:
    """The C_a small multiples (they depend on nothing the page changes)."""
    betas = _compute.AMPLIFICATION_BETAS
    g, maps = _compute.amplification(betas)
    return _figures.pack(_figures.amplification_multiples(betas, g, maps))


@functools.lru_cache(maxsize=16)
def _amplification(beta: float) -> dict[str, Any]:
    g, maps = _compute.amplification((beta,))
    return _figures.pack(_figures.amplification_figure(beta, g, maps[0]))


def _formula_state(prev: State, text: Any) -> State:
    """``prev`` showing the typed formula ``text``; ValueError if it is bad."""
    if not isinstance(text, str):
        raise InvalidValue(f"`formula` must be text, got {text!r}.")
    _compute.formula(text)  # the parser's (or the minima search's) ValueError
    start = prev.start
    box = _compute.CUSTOM_BOX
    if not (box[0] < start[0] < box[1] and box[2] < start[1] < box[3]):
        start = _compute.CUSTOM_START
    return prev.replace(landscape=CUSTOM, formula=text, start=start)


def _sweep_click(prev: State, click: Any) -> State:
    try:
        point = click["points"][0]
        lr, decay = float(point["x"]), float(point["y"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise InvalidValue(f"Not a cell of the sweep map: {click!r}.") from None
    if lr not in _compute.SWEEP_LEARNING_RATES or decay not in _compute.SWEEP_DECAYS:
        raise InvalidValue(f"Not a cell of the sweep map: η={lr!r}, β={decay!r}.")
    return prev.replace(learning_rate=lr, decay=decay)


def _click_start(click: Any) -> tuple[float, float]:
    if not isinstance(click, dict) or not {"x", "y"} <= set(click):
        raise InvalidValue(f"A click must give x and y, got {click!r}.")
    return validate({"start": [click["x"], click["y"]]}).start


def transition(prev: State, trigger: str | None, inputs: dict[str, Any]) -> State:
    """The state after ``trigger`` (a component id) changed to ``inputs``.

    Raises:
      InvalidValue: a value the page does not accept (the previous state stays).
      ValueError: a typed formula the parser rejects.
    """
    if trigger in (None, "url"):
        return from_query(inputs["url"])
    if trigger == "worked-example":
        return WORKED_EXAMPLE.replace(sweep_optimizer=prev.sweep_optimizer)
    if trigger == "click-point":
        return prev.replace(start=_click_start(inputs["click-point"]))
    if trigger == "sweep":
        return _sweep_click(prev, inputs["sweep"])
    if trigger == "formula":
        return _formula_state(prev, inputs["formula"])
    if trigger == "landscape":
        name = validate({"landscape": inputs["landscape"]}).landscape
        if name == CUSTOM:
            return _formula_state(prev, prev.formula)
        return prev.replace(landscape=name, start=landscapes.LANDSCAPES[name].start)
    if trigger == "optimizers":
        return validate({"optimizers": inputs["optimizers"]}, prev)
    if trigger == "eps-placement":
        return validate({"eps_in_sqrt": inputs["eps-placement"]}, prev)
    if trigger == "sweep-optimizer":
        return validate({"sweep_optimizer": inputs["sweep-optimizer"]}, prev)
    for name, control in SLIDER_IDS.items():
        if trigger == control:
            return prev.replace(**{name: from_slider(name, inputs[control])})
    raise InvalidValue(f"Unknown control {trigger!r}.")


def _layout(dash: Any) -> Any:
    from dash import dcc, html

    def slider(name: str) -> Any:
        lo, hi, step = SLIDERS[name]
        value = getattr(DEFAULT, name)
        return html.Div(
            [
                html.Div(
                    [
                        html.Label(_LABELS[name], htmlFor=SLIDER_IDS[name]),
                        html.Span(
                            readout(name, value),
                            id=f"{SLIDER_IDS[name]}-readout",
                            className="readout",
                        ),
                    ],
                    className="slider-head",
                ),
                html.Div(
                    dcc.Slider(
                        id=SLIDER_IDS[name],
                        min=lo,
                        max=hi,
                        step=step,
                        value=to_slider(name, value),
                        marks=_MARKS[name],
                        updatemode="drag",
                        allow_direct_input=False,
                    ),
                    className="slider-body",
                ),
            ],
            className="control",
        )

    def graph(id_: str, height: int, **extra: Any) -> Any:
        return dcc.Graph(
            id=id_,
            style={"height": f"{height}px"},
            config={"displaylogo": False, "scrollZoom": False},
            **extra,
        )

    landscape_options = [
        {"label": f"{name} — {lands.description}", "value": name}
        for name, lands in landscapes.LANDSCAPES.items()
    ] + [{"label": "custom formula (type it below)", "value": CUSTOM}]
    controls = html.Div(
        [
            html.Div(
                [
                    html.Label("Landscape", htmlFor="landscape"),
                    dcc.Dropdown(
                        id="landscape",
                        options=landscape_options,
                        value=DEFAULT.landscape,
                        clearable=False,
                        searchable=False,
                    ),
                ],
                className="control",
            ),
            html.Div(
                [
                    html.Label("Formula in w1, w2 (Enter to apply)", htmlFor="formula"),
                    dcc.Input(
                        id="formula",
                        type="text",
                        value=DEFAULT.formula,
                        debounce=True,
                        spellCheck=False,
                        style={"width": "100%"},
                    ),
                    html.Pre(id="formula-error", className="error"),
                ],
                className="control",
            ),
            html.Div(
                [
                    html.Label("Optimizers"),
                    dcc.Checklist(
                        id="optimizers",
                        options=[
                            {"label": spec.label, "value": key}
                            for key, spec in OPTIMIZERS.items()
                        ],
                        value=list(DEFAULT.optimizers),
                        className="checklist",
                    ),
                ],
                className="control",
            ),
            *(slider(name) for name in FIELDS),
            html.Div(
                [
                    html.Label("ε (RMSprop family)"),
                    dcc.RadioItems(
                        id="eps-placement",
                        options=[
                            {"label": "inside the root √(s+ε)", "value": "inside"},
                            {"label": "outside √s+ε", "value": "outside"},
                        ],
                        value="inside",
                        inline=True,
                    ),
                ],
                className="control",
            ),
            html.Div(id="start", className="readout", children=_start_text(DEFAULT)),
            html.Div(
                [
                    html.Button("Worked example", id="worked-example", n_clicks=0),
                    html.Button("Download CSV", id="download", n_clicks=0),
                ],
                className="buttons",
            ),
            html.Div(id="message", className="error", role="alert"),
            html.Div(id="status", className="error", role="alert"),
        ],
        className="controls",
    )
    main = html.Div(
        [
            graph("paths", 560, clear_on_unhover=True),
            html.P(
                "Click anywhere on the plot to start every optimizer there.",
                className="hint",
            ),
            html.Div(
                [graph("loss", 340), graph("effective-lr", 340)], className="pair"
            ),
            graph("rms", 420),
            html.H3("First steps (w(t), gradient g(t) at it, second moment s(t))"),
            html.Table(id="worked-example-table", className="steps"),
            html.H3("Amplification"),
            html.Div(
                [
                    graph("amplification", 420),
                    html.Div(
                        [
                            graph("amplification-multiples", 330),
                            html.Div(id="amplification-message", className="error"),
                        ]
                    ),
                ],
                className="pair",
            ),
            html.H3("Final loss over (β, η)"),
            html.Div(
                [
                    html.Label("Optimizer of the map", htmlFor="sweep-optimizer"),
                    dcc.Dropdown(
                        id="sweep-optimizer",
                        options=[
                            {"label": OPTIMIZERS[k].label, "value": k}
                            for k in SWEEPABLE
                        ],
                        value=DEFAULT.sweep_optimizer,
                        clearable=False,
                        searchable=False,
                        style={"width": "260px"},
                    ),
                ],
                className="control inline",
            ),
            graph("sweep", 420),
            html.Div(id="sweep-message", className="error"),
            html.H3("Copy as code"),
            html.Div(
                [
                    dcc.Clipboard(
                        target_id="code", title="copy the code", className="copy"
                    ),
                    html.Pre(id="code", className="code"),
                ],
                className="code-box",
            ),
        ],
        className="main",
    )
    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            dcc.Store(id="view-state"),
            dcc.Store(id="click-point"),
            dcc.Store(id="drawn-landscape"),
            dcc.Store(id="drawn-state"),
            dcc.Store(id="multiples-drawn"),
            dcc.Download(id="download-csv"),
            html.H1("rmsprop_jax explorer"),
            html.Div([controls, main], className="page"),
        ]
    )


def create_app(**kwargs: Any) -> Any:
    """The ``dash.Dash`` app; see :func:`rmsprop_jax.explorer.create_app`."""
    import dash
    from dash import Input, Output, Patch, ctx, dcc, html, no_update
    from dash import State as DashState
    from dash.exceptions import PreventUpdate

    kwargs.setdefault("title", "rmsprop_jax explorer")
    kwargs.setdefault("update_title", None)
    kwargs.setdefault("eager_loading", True)  # fetch Plotly.js with the page
    kwargs.setdefault("assets_folder", str(Path(__file__).parent / "assets"))
    app = dash.Dash(__name__, **kwargs)
    app.layout = _layout(dash)

    def answer(what: str, compute: Any, expected: Any = ValueError) -> list[Any]:
        """``[compute(), ""]``; for an ``expected`` error its message on the
        page, for any other "Internal error." (logged): never a 500."""
        try:
            return [compute(), ""]
        except expected as err:
            return [no_update, str(err)]
        except Exception:
            _LOG.exception("%s failed", what)
            return [no_update, "Internal error."]

    control_ids = [
        "landscape",
        "formula",
        "optimizers",
        *SLIDER_IDS.values(),
        "eps-placement",
        "sweep-optimizer",
    ]
    trigger_ids = ["url", *control_ids, "click-point", "worked-example", "sweep"]
    trigger_props = {
        "url": "search",
        "click-point": "data",
        "worked-example": "n_clicks",
        "sweep": "clickData",
        "formula": "value",
    }

    def prop(id_: str) -> str:
        return trigger_props.get(id_, "value")

    def control_values(state: State) -> dict[str, Any]:
        out: dict[str, Any] = {
            "landscape": state.landscape,
            "formula": state.formula,
            "optimizers": list(state.optimizers),
            "eps-placement": "inside" if state.eps_in_sqrt else "outside",
            "sweep-optimizer": state.sweep_optimizer,
        }
        for name, control in SLIDER_IDS.items():
            out[control] = to_slider(name, getattr(state, name))
        return out

    @app.callback(
        Output("view-state", "data"),
        Output("url", "search"),
        *(Output(c, "value") for c in control_ids),
        *(Output(f"{c}-readout", "children") for c in SLIDER_IDS.values()),
        Output("start", "children"),
        Output("formula-error", "children"),
        Output("message", "children"),
        *(Input(i, prop(i)) for i in trigger_ids),
        DashState("view-state", "data"),
    )
    def sync(*args: Any) -> list[Any]:
        inputs = dict(zip(trigger_ids, args[:-1], strict=True))
        trigger = ctx.triggered_id
        n_out = 2 + len(control_ids) + len(SLIDER_IDS) + 3
        try:
            prev = DEFAULT if args[-1] is None else _state_from_store(args[-1])
        except InvalidValue:
            prev = DEFAULT
        formula_error, message = "", ""
        try:
            state = transition(prev, trigger, inputs)
        except InvalidValue as err:
            if trigger in (None, "url"):  # a bad shared URL: show the defaults
                state, message = DEFAULT, f"Ignored the URL: {err}"
            else:
                out: list[Any] = [no_update] * n_out
                out[-1] = str(err)
                return out
        except ValueError as err:  # a typed formula the parser rejects
            if trigger in (None, "url"):
                state, message = DEFAULT, f"Ignored the URL: {err}"
            else:
                out = [no_update] * n_out
                out[-2] = str(err)
                out[-1] = ""
                return out
        except Exception:  # never a 500 or a traceback on the page
            _LOG.exception("sync failed")
            out = [no_update] * n_out
            out[-1] = "Internal error; the previous view stays."
            return out
        wanted = control_values(state)
        updates = []
        for c in control_ids:
            same = inputs[c] == wanted[c] or (
                isinstance(inputs[c], float | int)
                and isinstance(wanted[c], float | int)
                and math.isclose(inputs[c], wanted[c], rel_tol=1e-9, abs_tol=1e-9)
            )
            if c == "formula" and trigger not in (None, "url"):
                same = True  # keep what the user typed
            if c == trigger or same:
                updates.append(no_update)
            else:
                updates.append(wanted[c])
        readouts = [readout(n, getattr(state, n)) for n in SLIDER_IDS]
        search = to_query(state)
        return [
            state.to_dict(),
            search if search != inputs["url"] else no_update,
            *updates,
            *readouts,
            _start_text(state),
            formula_error,
            message,
        ]

    @app.callback(
        Output("paths", "figure"),
        Output("loss", "figure"),
        Output("effective-lr", "figure"),
        Output("rms", "figure"),
        Output("worked-example-table", "children"),
        Output("code", "children"),
        Output("drawn-landscape", "data"),
        Output("drawn-state", "data"),
        Output("status", "children"),
        Input("view-state", "data"),
        DashState("drawn-landscape", "data"),
    )
    def draw(data: Any, drawn: Any) -> list[Any]:
        if data is None:
            raise PreventUpdate
        READY.wait(_READY_TIMEOUT_S)
        try:
            state = _state_from_store(data)
            surf = _compute.surface(state)
            paths = _compute.paths(state)
            grid = _compute.contour_grid(surf)
        except (InvalidValue, ValueError) as err:
            return [no_update] * 8 + [str(err)]
        except Exception:
            _LOG.exception("draw failed")
            return [no_update] * 8 + ["Internal error; the previous view stays."]
        key = _landscape_key(state)
        if drawn == key:
            figure = Patch()
            figure["data"][2] = _figures.pack(_figures.start_trace(state))
            traces = _figures.pack(_figures.path_traces(paths, state.steps))
            for j, trace in enumerate(traces):
                figure["data"][_figures.FIRST_PATH_TRACE + j] = trace
        else:
            figure = _figures.pack(_figures.paths_figure(state, surf, grid, paths))
        low = _figures.minimum_value(surf, grid[2])
        rows = _figures.first_steps(paths)
        cols = _figures.FIRST_STEPS_COLUMNS
        table = [html.Tr([html.Th(c) for c in cols])] + [
            html.Tr([html.Td(row[c]) for c in cols]) for row in rows
        ]
        return [
            figure,
            _figures.pack(_figures.loss_figure(state, paths, low)),
            _figures.pack(_figures.effective_lr_figure(state, paths)),
            _figures.pack(_figures.rms_figure(state, paths)),
            table,
            _snippet.snippet(state),
            key,
            state.to_dict(),  # the maps below follow once the paths are drawn
            "",
        ]

    @app.callback(
        Output("amplification", "figure"),
        Output("amplification-message", "children"),
        Input("drawn-state", "data"),
    )
    def amplification(data: Any) -> list[Any]:
        if data is None:
            raise PreventUpdate
        return answer(
            "amplification",
            lambda: _amplification(_state_from_store(data).decay),
            InvalidValue,
        )

    @app.callback(
        Output("amplification-multiples", "figure"),
        Output("multiples-drawn", "data"),
        Input("drawn-state", "data"),
        DashState("multiples-drawn", "data"),
    )
    def multiples(data: Any, drawn: Any) -> list[Any]:
        if data is None or drawn:  # the same for every view: sent once
            raise PreventUpdate
        return [amplification_multiples(), True]

    @app.callback(
        Output("sweep", "figure"),
        Output("sweep-message", "children"),
        Input("drawn-state", "data"),
    )
    def sweep_map(data: Any) -> list[Any]:
        if data is None:
            raise PreventUpdate

        def figure() -> dict[str, Any]:
            state = _state_from_store(data)
            result = _sweep_map(_sweep_key(state))
            low = _compute.surface(state).minimum_value
            return _figures.pack(_figures.sweep_figure(state, result, low))

        return answer("sweep", figure)

    @app.callback(
        Output("download-csv", "data"),
        Output("status", "children", allow_duplicate=True),
        Input("download", "n_clicks"),
        DashState("view-state", "data"),
        prevent_initial_call=True,
    )
    def download(n_clicks: Any, data: Any) -> list[Any]:
        def csv() -> dict[str, Any]:
            state = _state_from_store(data)
            text = _figures.paths_csv(state, _compute.paths(state))
            return dcc.send_string(text, "rmsprop_jax_paths.csv")

        return answer("download", csv)

    return app
