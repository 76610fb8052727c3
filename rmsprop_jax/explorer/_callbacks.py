"""The page's callbacks, registered on an app by :func:`register`.

One callback, ``sync``, owns the page state: every control, the URL query
string, a click on the plot (converted to data coordinates by
``assets/click.js``), the worked-example button and a click on the sweep map
go through it (:mod:`._sync`); it stores the validated state in
``view-state``. The figures are drawn from that store by callbacks that
validate it again (a crafted request can reach any callback). No callback
answers with a 500 or a traceback: a value it does not accept gets its
message on the page, anything unexpected "Internal error." (and a log line).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from rmsprop_jax.explorer import _compute, _figures, _snippet, _sync
from rmsprop_jax.explorer._layout import SLIDER_IDS
from rmsprop_jax.explorer._state import CUSTOM, InvalidValue, State

_LOG = logging.getLogger(__name__)

READY = threading.Event()
"""Set when the programs of the default view's paths are compiled; the draw
callback waits for it (the command line compiles them in the background while
the page loads)."""
READY.set()
_READY_TIMEOUT_S = 300.0


def landscape_key(state: State) -> str:
    """What identifies the drawn landscape (its contour is sent only anew)."""
    return state.formula if state.landscape == CUSTOM else state.landscape


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


def _table(paths: _compute.Paths) -> list[Any]:
    from dash import html

    cols = _figures.FIRST_STEPS_COLUMNS
    rows = _figures.first_steps(paths)
    return [html.Tr([html.Th(c) for c in cols])] + [
        html.Tr([html.Td(row[c]) for c in cols]) for row in rows
    ]


def _paths_figure(state, surf, grid, paths, drawn: Any) -> Any:
    """The whole ``paths`` figure for a new landscape, else a ``Patch`` of its
    start and path traces."""
    from dash import Patch

    if drawn != landscape_key(state):
        return _figures.pack(_figures.paths_figure(state, surf, grid, paths))
    figure = Patch()
    figure["data"][2] = _figures.pack(_figures.start_trace(state))
    traces = _figures.pack(_figures.path_traces(paths, state.steps))
    for j, trace in enumerate(traces):
        figure["data"][_figures.FIRST_PATH_TRACE + j] = trace
    return figure


def draw(data: Any, drawn: Any, *, keep: Any) -> list[Any]:
    """The ``draw`` callback: every figure that follows the paths."""
    READY.wait(_READY_TIMEOUT_S)
    try:
        state = _sync.state_from_store(data)
        surf = _compute.surface(state)
        paths = _compute.paths(state)
        grid = _compute.contour_grid(surf)
    except ValueError as err:  # InvalidValue, or a formula the parser rejects
        return [keep] * 8 + [str(err)]
    except Exception:
        _LOG.exception("draw failed")
        return [keep] * 8 + ["Internal error; the previous view stays."]
    low = _figures.minimum_value(surf, grid[2])
    return [
        _paths_figure(state, surf, grid, paths, drawn),
        _figures.pack(_figures.loss_figure(state, paths, low)),
        _figures.pack(_figures.effective_lr_figure(state, paths)),
        _figures.pack(_figures.rms_figure(state, paths)),
        _table(paths),
        _snippet.snippet(state),
        landscape_key(state),
        state.to_dict(),  # the maps below follow once the paths are drawn
        "",
    ]


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
        State("drawn-landscape", "data"),
    )
    def draw_callback(data: Any, drawn: Any) -> list[Any]:
        if data is None:
            raise PreventUpdate
        return draw(data, drawn, keep=no_update)

    @app.callback(
        Output("amplification", "figure"),
        Output("amplification-message", "children"),
        Input("drawn-state", "data"),
    )
    def amplification(data: Any) -> list[Any]:
        if data is None:
            raise PreventUpdate
        beta = lambda: _amplification(_sync.state_from_store(data).decay)  # noqa: E731
        return _answer("amplification", beta, InvalidValue, no_update)

    @app.callback(
        Output("amplification-multiples", "figure"),
        Output("multiples-drawn", "data"),
        Input("drawn-state", "data"),
        State("multiples-drawn", "data"),
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
            state = _sync.state_from_store(data)
            result = _sweep_map(_sweep_key(state))
            low = _compute.surface(state).minimum_value
            return _figures.pack(_figures.sweep_figure(state, result, low))

        return _answer("sweep", figure, ValueError, no_update)


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
            text = _figures.paths_csv(state, _compute.paths(state))
            return dcc.send_string(text, "rmsprop_jax_paths.csv")

        return _answer("download", csv, ValueError, no_update)


def register(app: Any) -> None:
    """Registers every callback of the page on ``app``."""
    _register_sync(app)
    _register_figures(app)
    _register_download(app)
