"""The page's components: controls, figures, prose and stores (no callbacks).

Dash is imported inside :func:`layout` only, so that importing this module
(as ``pytest --doctest-modules`` does) needs nothing beyond the library.
"""

from __future__ import annotations

from typing import Any

from rmsprop_jax import landscapes
from rmsprop_jax.explorer._catalog import OPTIMIZERS, SWEEPABLE
from rmsprop_jax.explorer._prose import WORKED_EXAMPLE_NOTE
from rmsprop_jax.explorer._state import (
    CONTROL_IDS,
    CUSTOM,
    DEFAULT,
    MLP,
    SCHEDULES,
    SLIDERS,
    State,
    to_slider,
)

SLIDER_IDS = CONTROL_IDS
"""The slider of each numeric field, by its component id."""

FOLLOWING = ("amplification", "sweep", "compare-decay", "lr-sensitivity")
"""The figures below the paths that follow a view once it rests (the
``maps-state`` store, :data:`MAPS_DELAY_MS` after the last drawn view); each
has a ``{id}-sent`` store of the digest of the figure last sent, so that an
unchanged figure is not sent (and redrawn) again."""

MAPS_DELAY_MS = 500
"""How long a drawn view must rest before the figures below the paths follow
it: while a slider moves they wait, so that their runs (up to 221 for the
learning-rate sensitivity) and redraws do not compete with the next move."""

_LABELS = {
    "learning_rate": "η (adaptive, sign and Rprop's Δ₀)",
    "sgd_learning_rate": "η of SGD, momentum, Nesterov",
    "decay": "β (decay; Adam's β₂)",
    "eps": "ε",
    "momentum": "momentum (Adam's β₁)",
    "steps": "steps",
    "noise": "gradient noise (σ relative to the gradients)",
    "condition": "valley's condition κ (curvature ratio; valley only)",
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
    "decay": {0: "0", 0.5: "0.5", 0.9: "0.9", 1.8: "0.99", 2.7: "0.999"},
    "eps": {-12: "1e-12", -8: "1e-8", -4: "1e-4", 0: "1"},
    "momentum": {0: "0", 0.5: "0.5", 0.9: "0.9"},
    "steps": {1: "1", 250: "250", 500: "500", 750: "750", 1000: "1000"},
    "noise": {0: "0 (exact)", 0.5: "0.5", 1: "1"},
    "condition": {0: "1", 1: "10", 2: "100", 3: "1000"},
}

_SCHEDULE_LABELS = {
    "constant": "constant η",
    "cosine": "cosine decay to 0",
    "step": "step: η/10 at half, η/100 at three quarters",
    "warmup": "linear warm-up over the first tenth",
}

GRAPH_CONFIG: Any = {"displaylogo": False, "scrollZoom": False}
"""Every graph's Plotly config."""

EMPTY_FIGURE: Any = {
    "data": [],
    "layout": {"xaxis": {"visible": False}, "yaxis": {"visible": False}},
}
"""What a graph shows until its figure comes: nothing, not even axes (Plotly
draws empty axes, ticks and grid lines for a graph without a figure, and
the page has nine)."""


INTRO = (
    "Gradient descent moves every weight by the same multiple η of its "
    "gradient. RMSprop keeps, for each weight, a running mean s of its squared "
    "gradients and divides the step by √s: each weight gets its own, adaptive "
    "learning rate η/√(s+ε), large where gradients are small and small where "
    "they are large. Pick a landscape, tick optimizers, move the sliders or "
    "click the plot to start elsewhere; every number is computed by the "
    "library as you go, and the text under each figure reads its numbers."
)


def readout(name: str, value: float) -> str:
    """The text next to a slider."""
    if name == "steps":
        return str(int(value))
    return f"{value:.3g}" if name == "condition" else f"{value:g}"


def start_text(state: State) -> str:
    """The start point's readout."""
    return f"start: ({state.start[0]:.4g}, {state.start[1]:.4g})"


def _slider(name: str) -> Any:
    from dash import dcc, html

    lo, hi, step = SLIDERS[name]
    value = getattr(DEFAULT, name)
    control = SLIDER_IDS[name]
    return html.Div(
        [
            html.Div(
                [
                    html.Label(_LABELS[name], htmlFor=control),
                    html.Span(
                        readout(name, value),
                        id=f"{control}-readout",
                        className="readout",
                    ),
                ],
                className="slider-head",
            ),
            html.Div(
                dcc.Slider(
                    id=control,
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


def _graph(id_: str, height: int, **extra: Any) -> Any:
    from dash import dcc

    return dcc.Graph(
        id=id_,
        figure=EMPTY_FIGURE,
        style={"height": f"{height}px"},
        config=GRAPH_CONFIG,
        responsive=True,
        **extra,
    )


def _control(label: str, *children: Any, for_: str | None = None) -> Any:
    from dash import html

    return html.Div([html.Label(label, htmlFor=for_), *children], className="control")


def _landscape_controls() -> list[Any]:
    from dash import dcc, html

    options = [
        {"label": f"{name} — {lands.description}", "value": name}
        for name, lands in landscapes.LANDSCAPES.items()
    ] + [
        {
            "label": f"{MLP} — a real network's loss (an MLP on digits)",
            "value": MLP,
        },
        {"label": "custom formula (type it below)", "value": CUSTOM},
    ]
    return [
        _control(
            "Landscape",
            dcc.Dropdown(
                id="landscape",
                options=options,
                value=DEFAULT.landscape,
                clearable=False,
                searchable=False,
            ),
            for_="landscape",
        ),
        _control(
            "Formula in w1, w2 (Enter to apply)",
            dcc.Input(
                id="formula",
                type="text",
                value="",
                placeholder=f"e.g. {DEFAULT.formula}",
                debounce=True,
                spellCheck=False,
                style={"width": "100%"},
            ),
            html.Pre(id="formula-error", className="error"),
            for_="formula",
        ),
    ]


def _controls() -> Any:
    from dash import dcc, html

    return html.Div(
        [
            *_landscape_controls(),
            _control(
                "Optimizers",
                dcc.Checklist(
                    id="optimizers",
                    options=[
                        {"label": row.label, "value": key}
                        for key, row in OPTIMIZERS.items()
                    ],
                    value=list(DEFAULT.optimizers),
                    className="checklist",
                ),
            ),
            *(_slider(name) for name in SLIDER_IDS),
            _control(
                "Learning-rate schedule (over the steps shown; not Rprop's)",
                dcc.Dropdown(
                    id="schedule",
                    options=[
                        {"label": _SCHEDULE_LABELS[k], "value": k} for k in SCHEDULES
                    ],
                    value=DEFAULT.schedule,
                    clearable=False,
                    searchable=False,
                ),
                for_="schedule",
            ),
            _control(
                "ε (RMSprop family)",
                dcc.RadioItems(
                    id="eps-placement",
                    options=[
                        {"label": "inside the root √(s+ε)", "value": "inside"},
                        {"label": "outside √s+ε", "value": "outside"},
                    ],
                    value="inside",
                    inline=True,
                ),
            ),
            html.Div(id="start", className="readout", children=start_text(DEFAULT)),
            html.Div(
                [
                    html.Button("Worked example", id="worked-example", n_clicks=0),
                    html.Button("Download CSV", id="download", n_clicks=0),
                    html.Button("Pin paths", id="pin", n_clicks=0),
                    html.Button("Unpin", id="unpin", n_clicks=0),
                ],
                className="buttons",
            ),
            html.Div(id="status", className="error", role="alert"),
        ],
        className="controls",
    )


def _amplification_section() -> list[Any]:
    from dash import html

    return [
        html.H3("Amplification"),
        html.Div(
            [
                _graph("amplification", 420),
                html.Div(
                    [
                        _graph("amplification-multiples", 330),
                        html.Div(id="amplification-message", className="error"),
                    ]
                ),
            ],
            className="pair",
        ),
        explain("amplification"),
    ]


def _sweep_section() -> list[Any]:
    from dash import dcc, html

    return [
        html.H3("Final loss over (β, η)"),
        html.Div(
            [
                html.Label("Optimizer of the map", htmlFor="sweep-optimizer"),
                dcc.Dropdown(
                    id="sweep-optimizer",
                    options=[
                        {"label": OPTIMIZERS[k].label, "value": k} for k in SWEEPABLE
                    ],
                    value=DEFAULT.sweep_optimizer,
                    clearable=False,
                    searchable=False,
                    style={"width": "260px"},
                ),
            ],
            className="control inline",
        ),
        _graph("sweep", 420),
        html.Div(id="sweep-message", className="error"),
        explain("sweep"),
    ]


def _code_section() -> list[Any]:
    from dash import dcc, html

    return [
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
    ]


def explain(name: str) -> Any:
    """The paragraph ``explain-NAME`` next to a figure (filled by callbacks)."""
    from dash import html

    return html.P(id=f"explain-{name}", className="explain")


def _step_through() -> list[Any]:
    from dash import dcc, html

    return [
        html.Div(
            [
                html.Label("Step through: arrows from w(k)", htmlFor="step-through"),
                html.Button("▶ play", id="play", n_clicks=0, className="play"),
            ],
            className="slider-head",
        ),
        html.Div(
            dcc.Slider(
                id="step-through",
                min=0,
                max=DEFAULT.steps - 1,
                step=1,
                value=0,
                marks=None,
                tooltip={"placement": "bottom", "always_visible": False},
                updatemode="drag",
            ),
            className="slider-body",
        ),
        dcc.Interval(id="play-timer", interval=500, disabled=True),
        html.P(
            "At step k: the gradient's descent direction as gradient descent "
            "takes it (grey, η of SGD times g) and each optimizer's update v(k) "
            "(its colour), from the path's point w(k).",
            className="hint",
        ),
        html.Div(html.Table(id="step-table", className="steps"), className="table-box"),
    ]


def _figures() -> Any:
    from dash import html

    return html.Div(
        [
            _graph("paths", 560, clear_on_unhover=True),
            html.P(
                "Click anywhere on the plot to start every optimizer there.",
                className="hint",
            ),
            explain("paths"),
            *_step_through(),
            html.H3("β = 0 against β = 0.9 (RMSprop, this view's η and start)"),
            _graph("compare-decay", 380),
            explain("compare-decay"),
            html.Div(
                [
                    html.Div([_graph("loss", 340), explain("loss")]),
                    html.Div([_graph("effective-lr", 340), explain("effective-lr")]),
                ],
                className="pair",
            ),
            _graph("rms", 420),
            explain("rms"),
            html.H3("First steps (w(t), gradient g(t) at it, second moment s(t))"),
            html.Div(
                html.Table(id="worked-example-table", className="steps"),
                className="table-box",
            ),
            html.P(WORKED_EXAMPLE_NOTE, className="explain"),
            html.H3("How much the learning rate matters"),
            _graph("lr-sensitivity", 380),
            explain("lr-sensitivity"),
            *_amplification_section(),
            *_sweep_section(),
            *_code_section(),
        ],
        className="main",
    )


def layout() -> Any:
    """The whole page."""
    from dash import dcc, html

    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            dcc.Store(id="view-state"),
            dcc.Store(id="click-point"),
            dcc.Store(id="drawn-landscape"),
            dcc.Store(id="drawn-state"),
            dcc.Store(id="maps-state"),
            *(dcc.Store(id=f"{name}-sent") for name in FOLLOWING),
            dcc.Store(id="multiples-drawn"),
            dcc.Store(id="pinned"),
            dcc.Download(id="download-csv"),
            html.H1("rmsprop_jax explorer"),
            html.P(INTRO, className="intro"),
            html.Div(id="message", className="error banner", role="alert"),
            html.Div([_controls(), _figures()], className="page"),
        ]
    )
