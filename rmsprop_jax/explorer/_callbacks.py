"""The page's callbacks, registered on an app by :func:`register`.

One callback, ``sync``, owns the page state: every control, the URL query
string, a click on the plot (converted to data coordinates by
``assets/click.js``), the worked-example button and a click on the sweep map
go through it (:mod:`._sync`); it stores the validated state in
``view-state``. The figures are drawn from that store by callbacks that
validate it again (a crafted request can reach any callback): ``draw`` the
paths (with the step-through arrows), whose view it stores as
``drawn-state``; ``lines`` then the loss, effective learning rate and RMS
figures of that view, in an answer of their own so that the browser draws
the paths first; the figures further below follow ``maps-state``, the drawn
view once it has rested
:data:`._layout.MAPS_DELAY_MS` (set in the browser, :data:`FOLLOW_JS`), and
are sent only when they changed (:func:`unless_sent`). No callback
answers with a 500 or a traceback: a value it does not accept gets its
message on the page, anything unexpected "Internal error." (and a log line).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from rmsprop_jax.explorer import (
    _compute,
    _csv,
    _figures,
    _lessons,
    _prose,
    _prose_views,
    _snippet,
    _sync,
)
from rmsprop_jax.explorer._layout import MAPS_DELAY_MS, SLIDER_IDS
from rmsprop_jax.explorer._state import CUSTOM, InvalidValue, State

_LOG = logging.getLogger(__name__)

READY = threading.Event()
"""Set when the programs of the default view's paths are compiled; the draw
callback waits for it (the command line compiles them in the background while
the page loads)."""
READY.set()
_READY_TIMEOUT_S = 300.0

VIEW_DRAWN = threading.Event()
"""Set once the draw callback has answered with a view's figures (the
command line's warm-up waits for it before compiling what the page shows
later, so that the first view is drawn sooner)."""


def landscape_key(state: State) -> str:
    """What identifies the drawn landscape (its contour is sent only anew)."""
    if state.landscape == CUSTOM:
        return state.formula
    if state.landscape == "valley":
        return f"valley, condition {state.condition!r}"
    return state.landscape


@functools.lru_cache(maxsize=64)
def _sweep_map(key: tuple) -> _compute.SweepMap:
    return _compute.final_loss_map(State(**dict(key)))


def _sweep_key(state: State) -> tuple:
    fields = state.to_dict()
    for name in ("learning_rate", "decay", "optimizers"):
        fields.pop(name)
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


def _answer(what: str, compute: Callable[[], Any], expected: Any, keep: Any) -> list:
    """``[compute(), ""]``; for an ``expected`` error its message on the
    page, for any other "Internal error." (logged): never a 500."""
    try:
        return [compute(), ""]
    except expected as err:
        return [keep, str(err)]
    except Exception:
        _LOG.exception("%s failed", what)
        return [keep, "Internal error."]


def _explained(
    what: str, compute: Callable[[], tuple[Any, str]], expected: Any, keep: Any
) -> tuple[Any, str, Any]:
    """``(figure, message, prose)`` of a figure with its paragraph:
    ``compute()``'s two with an empty message, or ``keep`` twice around the
    message of an error (see :func:`_answer`)."""
    out, message = _answer(what, compute, expected, None)
    if out is None:
        return keep, message, keep
    return out[0], message, out[1]


def digest(figure: Any) -> str:
    """A short digest of a figure as sent (what its ``{id}-sent`` store keeps)."""
    text = json.dumps(figure, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def unless_sent(figure: Any, sent: Any, keep: Any, *middle: Any) -> list[Any]:
    """A figure callback's answer ``[figure, *middle, its digest]``, with
    ``keep`` for the figure and the digest when the page already shows it
    (``sent`` is its digest): an unchanged figure is not sent, so the browser
    does not draw it again."""
    new = keep if figure is keep else digest(figure)
    if new == sent:
        new = keep
    return [keep if new is keep else figure, *middle, new]


def _table(paths: _compute.Paths) -> list[Any]:
    from dash import html

    cols = _figures.FIRST_STEPS_COLUMNS
    rows = _figures.first_steps(paths)
    return [html.Tr([html.Th(c) for c in cols])] + [
        html.Tr([html.Td(row[c]) for c in cols]) for row in rows
    ]


def _paths_figure(state, surf, grid, paths, drawn: Any, annotations: Any) -> Any:
    """The whole ``paths`` figure for a new landscape, else a ``Patch`` of its
    start and path traces; with the step-through ``annotations`` (None: left
    as they are)."""
    from dash import Patch

    if drawn != landscape_key(state):
        whole = _figures.pack(_figures.paths_figure(state, surf, grid, paths))
        if annotations is not None:
            whole["layout"]["annotations"] = annotations
        return whole
    figure = Patch()
    figure["data"][2] = _figures.pack(_figures.start_trace(state))
    traces = _figures.pack(_figures.path_traces(paths, state.steps))
    for j, trace in enumerate(traces):
        figure["data"][_figures.FIRST_PATH_TRACE + j] = trace
    if annotations is not None:
        figure["layout"]["annotations"] = annotations
    return figure


def _step_at(k: Any, data: Any, steps: int) -> tuple[Any, Any]:
    """:func:`step_through` at ``k`` (clamped to the steps shown), or
    ``(None, None)`` where ``k`` is not a step (the step-through callback
    answers that one with its message)."""
    if isinstance(k, int) and not isinstance(k, bool):
        k = min(k, steps - 1)
    try:
        return step_through(k, data)
    except ValueError:
        return None, None


def draw(data: Any, drawn: Any, *, keep: Any, step: Any = None) -> list[Any]:
    """The ``draw`` callback: every figure that follows the paths, with the
    step-through arrows at ``step`` on the paths (one redraw of the paths
    per view) and their table."""
    READY.wait(_READY_TIMEOUT_S)
    try:
        state = _sync.state_from_store(data)
        surf = _compute.surface(state)
        paths = _compute.paths(state)
        grid = _compute.contour_grid(surf)
    except ValueError as err:  # InvalidValue, or a formula the parser rejects
        return [keep] * (N_DRAWN - 1) + [str(err)]
    except Exception:
        _LOG.exception("draw failed")
        return [keep] * (N_DRAWN - 1) + ["Internal error; the previous view stays."]
    minima = np.asarray(surf.minima, float).reshape(-1, 2)
    annotations, rows = _step_at(step, data, state.steps)
    out = [
        _paths_figure(state, surf, grid, paths, drawn, annotations),
        " ".join(
            [
                _prose.explain_paths(state, paths, minima),
                _prose.explain_noise(
                    state,
                    paths,
                    minima,
                    state.noise and state.noise * _compute.gradient_scale(surf),
                ),
                _prose_views.explain_condition(state, paths),
                _prose_views.explain_mlp(state),
                _prose_views.explain_schedule(state),
            ]
        ).strip(),
        _table(paths),
        _snippet.snippet(state),
        landscape_key(state),
        state.to_dict(),  # the figures below follow once it rests
        max(state.steps - 1, 0),
        keep if rows is None else rows,
        "",
    ]
    VIEW_DRAWN.set()
    return out


def lines(data: Any, *, keep: Any) -> list[Any]:
    """The ``lines`` callback: the loss, effective learning rate and gradient
    RMS of the drawn view (``drawn-state``) and their paragraphs. They follow
    the paths in an answer of their own, so that the browser draws the paths
    first (it draws the figures of one answer together)."""
    try:
        state = _sync.state_from_store(data)
        surf = _compute.surface(state)
        paths = _compute.paths(state)
        low = _figures.minimum_value(surf, _compute.contour_grid(surf)[2])
    except ValueError:  # a crafted store: the draw callback said why
        return [keep] * len(LINES)
    except Exception:
        _LOG.exception("lines failed")
        return [keep] * len(LINES)
    return [
        _figures.pack(_figures.loss_figure(state, paths, low)),
        _figures.pack(_figures.effective_lr_figure(state, paths)),
        _figures.pack(_figures.rms_figure(state, paths)),
        _prose.explain_loss(state, paths, low),
        _prose.explain_effective_lr(state, paths),
        _prose.explain_rms(state, paths),
    ]


LINES = (
    ("loss", "figure"),
    ("effective-lr", "figure"),
    ("rms", "figure"),
    ("explain-loss", "children"),
    ("explain-effective-lr", "children"),
    ("explain-rms", "children"),
)
"""The outputs of :func:`lines`, in its order."""

DRAWN = (
    ("paths", "figure"),
    ("explain-paths", "children"),
    ("worked-example-table", "children"),
    ("code", "children"),
    ("drawn-landscape", "data"),
    ("drawn-state", "data"),
    ("step-through", "max"),
    ("step-table", "children"),
    ("status", "children"),
)
"""The outputs of :func:`draw`, in its order."""
N_DRAWN = len(DRAWN)


def _register_sync(app: Any) -> None:
    from dash import Input, Output, State, ctx, no_update

    @app.callback(
        Output("view-state", "data"),
        Output("url", "search"),
        *(Output(c, "value") for c in _sync.CONTROL_IDS),
        *(Output(f"{c}-readout", "children") for c in SLIDER_IDS.values()),
        Output("start", "children"),
        Output("formula-error", "children"),
        Output("message", "children"),
        *(Input(i, p) for i, p in _sync.TRIGGERS.items()),
        State("view-state", "data"),
    )
    def sync(*args: Any) -> list[Any]:
        inputs = dict(zip(_sync.TRIGGERS, args[:-1], strict=True))
        try:
            return _sync.sync(args[-1], ctx.triggered_id, inputs, keep=no_update)
        except Exception:  # never a 500 or a traceback on the page
            _LOG.exception("sync failed")
            out: list[Any] = [no_update] * _sync.N_OUTPUTS
            out[-1] = "Internal error; the previous view stays."
            return out


def _register_figures(app: Any) -> None:
    from dash import Input, Output, State, no_update
    from dash.exceptions import PreventUpdate

    @app.callback(
        *(Output(id_, prop) for id_, prop in DRAWN),
        Input("view-state", "data"),
        State("drawn-landscape", "data"),
        State("step-through", "value"),
    )
    def draw_callback(data: Any, drawn: Any, step: Any) -> list[Any]:
        if data is None:
            raise PreventUpdate
        return draw(data, drawn, keep=no_update, step=step)

    @app.callback(
        *(Output(id_, prop) for id_, prop in LINES),
        Input("drawn-state", "data"),
    )
    def lines_callback(data: Any) -> list[Any]:
        if data is None:
            raise PreventUpdate
        return lines(data, keep=no_update)

    @app.callback(
        Output("amplification", "figure"),
        Output("amplification-message", "children"),
        Output("explain-amplification", "children"),
        Output("amplification-sent", "data"),
        Input("maps-state", "data"),
        State("amplification-sent", "data"),
    )
    def amplification(data: Any, sent: Any) -> list[Any]:
        if data is None:
            raise PreventUpdate

        def figure() -> tuple[Any, str]:
            state = _sync.state_from_store(data)
            return _amplification(state.decay), _prose.explain_amplification(state)

        out, message, prose = _explained(
            "amplification", figure, InvalidValue, no_update
        )
        return unless_sent(out, sent, no_update, message, prose)

    @app.callback(
        Output("amplification-multiples", "figure"),
        Output("multiples-drawn", "data"),
        Input("maps-state", "data"),
        State("multiples-drawn", "data"),
    )
    def multiples(data: Any, drawn: Any) -> list[Any]:
        if data is None or drawn:  # the same for every view: sent once
            raise PreventUpdate
        return [amplification_multiples(), True]

    @app.callback(
        Output("sweep", "figure"),
        Output("sweep-message", "children"),
        Output("explain-sweep", "children"),
        Output("sweep-sent", "data"),
        Input("maps-state", "data"),
        State("sweep-sent", "data"),
    )
    def sweep_map(data: Any, sent: Any) -> list[Any]:
        if data is None:
            raise PreventUpdate

        def figure() -> tuple[Any, str]:
            state = _sync.state_from_store(data)
            result = _sweep_map(_sweep_key(state))
            low = _compute.surface(state).minimum_value
            return (
                _figures.pack(_figures.sweep_figure(state, result, low)),
                _prose.explain_sweep(state, result, low),
            )

        out, message, prose = _explained("sweep", figure, ValueError, no_update)
        return unless_sent(out, sent, no_update, message, prose)


def _rows(columns: tuple[str, ...], rows: list[dict[str, str]]) -> list[Any]:
    from dash import html

    return [html.Tr([html.Th(c) for c in columns])] + [
        html.Tr([html.Td(row[c]) for c in columns]) for row in rows
    ]


def step_through(k: Any, data: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    """The arrows at step ``k`` of the drawn view and their table."""
    state = _sync.state_from_store(data)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < state.steps:
        raise InvalidValue(
            f"`step-through` must be a whole number in [0, {state.steps - 1}], "
            f"got {k!r}."
        )
    paths = _compute.paths(state)
    box = _compute.surface(state).box
    rows = _rows(_lessons.STEP_COLUMNS, _lessons.step_rows(paths, state, k))
    scale = _lessons.arrow_scale(paths, state, k, box)
    note = {
        "text": f"step {k}: arrows × {scale:g}" if scale != 1 else f"step {k}",
        "xref": "paper",
        "yref": "paper",
        "x": 1.0,
        "y": 1.0,
        "xanchor": "right",
        "yanchor": "bottom",
        "showarrow": False,
    }
    return [*_lessons.arrows(paths, state, k, box), note], rows


def pinned_traces(
    trigger: Any, data: Any, pinned: Any
) -> tuple[Any, list[dict[str, Any]]] | None:
    """The pinned view after ``trigger`` and the faint traces of its paths on
    the drawn landscape (hidden ones where nothing is pinned or the pinned
    view is of another landscape); None for a crafted store."""
    try:
        state = _sync.state_from_store(data)
        if trigger == "pin":
            pinned = state.to_dict()
        elif trigger == "unpin":
            pinned = None
        old = None if pinned is None else _sync.state_from_store(pinned)
    except ValueError:
        return None
    if old is None or landscape_key(old) != landscape_key(state):
        return pinned, _figures.pinned_traces(None, None)
    return pinned, _figures.pinned_traces(old, _compute.paths(old))


def _register_lessons(app: Any) -> None:
    from dash import Input, Output, Patch, State, ctx, no_update
    from dash.exceptions import PreventUpdate

    @app.callback(
        Output("compare-decay", "figure"),
        Output("explain-compare-decay", "children"),
        Output("compare-decay-sent", "data"),
        Input("maps-state", "data"),
        State("compare-decay-sent", "data"),
    )
    def compare_decay(data: Any, sent: Any) -> list[Any]:
        if data is None:
            raise PreventUpdate

        def figure() -> tuple[Any, str]:
            state = _sync.state_from_store(data)
            surf = _compute.surface(state)
            params = _compute.compare_decay(state)
            grid = _compute.contour_grid(surf)
            return (
                _figures.pack(_lessons.compare_decay_figure(state, surf, grid, params)),
                _lessons.explain_compare_decay(state, params),
            )

        out, message = _answer("compare-decay", figure, ValueError, None)
        if out is None:
            return [no_update, message, no_update]
        return unless_sent(out[0], sent, no_update, out[1])

    @app.callback(
        Output("lr-sensitivity", "figure"),
        Output("explain-lr-sensitivity", "children"),
        Output("lr-sensitivity-sent", "data"),
        Input("maps-state", "data"),
        State("lr-sensitivity-sent", "data"),
    )
    def lr_sensitivity(data: Any, sent: Any) -> list[Any]:
        if data is None:
            raise PreventUpdate

        def figure() -> tuple[Any, str]:
            state = _sync.state_from_store(data)
            names, loss = _compute.sensitivity(state)
            low = _compute.surface(state).minimum_value
            return (
                _figures.pack(_lessons.sensitivity_figure(state, names, loss, low)),
                _lessons.explain_sensitivity(state, names, loss, low),
            )

        out, message = _answer("lr-sensitivity", figure, ValueError, None)
        if out is None:
            return [no_update, message, no_update]
        return unless_sent(out[0], sent, no_update, out[1])

    @app.callback(
        Output("pinned", "data"),
        Output("paths", "figure", allow_duplicate=True),
        Input("pin", "n_clicks"),
        Input("unpin", "n_clicks"),
        Input("drawn-state", "data"),
        State("pinned", "data"),
        prevent_initial_call=True,
    )
    def pin(pins: Any, unpins: Any, data: Any, pinned: Any) -> list[Any]:
        if data is None or (pinned is None and ctx.triggered_id == "drawn-state"):
            raise PreventUpdate  # a new view, nothing pinned: no traces to hide
        out = pinned_traces(ctx.triggered_id, data, pinned)
        if out is None:
            return [no_update, no_update]
        pinned, traces = out
        figure = Patch()
        for j, trace in enumerate(traces):
            figure["data"][_figures.PINNED_TRACE + j] = trace
        return [pinned, figure]

    @app.callback(
        Output("paths", "figure", allow_duplicate=True),
        Output("step-table", "children", allow_duplicate=True),
        Input("step-through", "value"),
        State("drawn-state", "data"),
        prevent_initial_call=True,
    )
    def step(k: Any, data: Any) -> list[Any]:
        if data is None:
            raise PreventUpdate
        try:
            state = _sync.state_from_store(data)
            k = min(k, state.steps - 1) if isinstance(k, int) else k
            annotations, rows = step_through(k, data)
        except ValueError as err:
            return [no_update, str(err)]
        figure = Patch()
        figure["layout"]["annotations"] = annotations
        return [figure, rows]

    @app.callback(
        Output("step-through", "value"),
        Output("play-timer", "disabled"),
        Output("play", "children"),
        Input("play", "n_clicks"),
        Input("play-timer", "n_intervals"),
        State("step-through", "value"),
        State("step-through", "max"),
        State("play-timer", "disabled"),
        prevent_initial_call=True,
    )
    def play(clicks: Any, ticks: Any, k: Any, last: Any, stopped: Any) -> list:
        if not isinstance(k, int) or not isinstance(last, int):
            raise PreventUpdate
        if ctx.triggered_id == "play":
            if stopped:  # start (from the beginning once at the end)
                return [0 if k >= last else no_update, False, "❚❚ pause"]
            return [no_update, True, "▶ play"]
        if k >= last:
            return [no_update, True, "▶ play"]
        return [k + 1, no_update, no_update]


def _register_download(app: Any) -> None:
    from dash import Input, Output, State, dcc, no_update

    @app.callback(
        Output("download-csv", "data"),
        Output("status", "children", allow_duplicate=True),
        Input("download", "n_clicks"),
        State("view-state", "data"),
        prevent_initial_call=True,
    )
    def download(n_clicks: Any, data: Any) -> list[Any]:
        def csv() -> dict[str, Any]:
            state = _sync.state_from_store(data)
            text = _csv.paths_csv(state, _compute.paths(state))
            return dcc.send_string(text, "rmsprop_jax_paths.csv")

        return _answer("download", csv, ValueError, no_update)


FOLLOW_JS = """function (data) {
  const follow = window.rmspropJaxFollow || (window.rmspropJaxFollow = {});
  clearTimeout(follow.timer);
  const text = JSON.stringify(data);
  if (data === null || data === undefined || text === follow.sent) {
    return window.dash_clientside.no_update;
  }
  follow.timer = setTimeout(function () {
    follow.sent = text;
    window.dash_clientside.set_props("maps-state", {data: data});
  }, %d);
  return window.dash_clientside.no_update;
}"""
"""The browser's side of ``maps-state``: the drawn view, once it has rested
:data:`._layout.MAPS_DELAY_MS` (each newer view restarts the wait; the view
the figures below already follow is not sent again)."""


def _register_follow(app: Any) -> None:
    from dash import Input, Output

    app.clientside_callback(
        FOLLOW_JS % MAPS_DELAY_MS,
        Output("maps-state", "data"),
        Input("drawn-state", "data"),
    )


def register(app: Any) -> None:
    """Registers every callback of the page on ``app``."""
    _register_follow(app)
    _register_sync(app)
    _register_figures(app)
    _register_lessons(app)
    _register_download(app)
