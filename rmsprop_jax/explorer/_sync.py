"""How the page's state follows its controls: the pure logic of the ``sync``
callback (which control changed, the state after it, what the controls and
the URL must show), free of Dash."""

from __future__ import annotations

import math
import urllib.parse
from typing import Any

from rmsprop_jax.explorer import _compute
from rmsprop_jax.explorer._layout import SLIDER_IDS, readout, start_text
from rmsprop_jax.explorer._state import (
    CUSTOM,
    DEFAULT,
    WORKED_EXAMPLE,
    InvalidValue,
    State,
    from_query,
    from_slider,
    to_query,
    to_slider,
    validate,
)

CONTROL_IDS = (
    "landscape",
    "formula",
    "optimizers",
    *SLIDER_IDS.values(),
    "eps-placement",
    "sweep-optimizer",
    "schedule",
)
"""The controls that show a part of the state (``sync`` sets them back)."""

TRIGGERS = {
    "url": "search",
    **dict.fromkeys(CONTROL_IDS, "value"),
    "click-point": "data",
    "worked-example": "n_clicks",
    "sweep": "clickData",
}
"""Every input of ``sync``: component id -> property."""

N_OUTPUTS = 2 + len(CONTROL_IDS) + len(SLIDER_IDS) + 3
"""``sync``'s outputs: the state, the URL, the controls, the readouts, the
start, the formula's error and the message."""


def state_from_store(data: Any) -> State:
    """The validated state of a ``dcc.Store`` (a crafted one raises)."""
    if not isinstance(data, dict):
        raise InvalidValue(f"The view state must be a mapping, got {data!r}.")
    return validate(data)


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


def _shared(search: Any) -> State:
    """The state of a shared URL: a typed formula is parsed now (a rejected
    one raises, so the page shows the defaults and says why), and a URL
    without a start starts where its landscape does."""
    state = from_query(search)
    if state.landscape == CUSTOM:
        _compute.formula(state.formula)  # the parser's ValueError
    query = urllib.parse.parse_qs(str(search or "").lstrip("?"))
    if "start" not in query:
        state = state.replace(start=_compute.start_of(state.landscape))
    return state


def _landscape(prev: State, value: Any) -> State:
    name = validate({"landscape": value}).landscape
    if name == CUSTOM:
        return _formula_state(prev, prev.formula)
    return prev.replace(landscape=name, start=_compute.start_of(name))


_SIMPLE = {  # control -> the state field it sets directly
    "optimizers": "optimizers",
    "eps-placement": "eps_in_sqrt",
    "sweep-optimizer": "sweep_optimizer",
    "schedule": "schedule",
}


def transition(prev: State, trigger: str | None, inputs: dict[str, Any]) -> State:
    """The state after ``trigger`` (a component id) changed to ``inputs``.

    Raises:
      InvalidValue: a value the page does not accept (the previous state stays).
      ValueError: a typed formula the parser rejects.
    """
    if trigger in (None, "url"):
        return _shared(inputs["url"])
    if trigger == "worked-example":
        return WORKED_EXAMPLE.replace(sweep_optimizer=prev.sweep_optimizer)
    if trigger == "click-point":
        return prev.replace(start=_click_start(inputs["click-point"]))
    if trigger == "sweep":
        return _sweep_click(prev, inputs["sweep"])
    if trigger == "formula":
        return _formula_state(prev, inputs["formula"])
    if trigger == "landscape":
        return _landscape(prev, inputs["landscape"])
    if trigger in _SIMPLE:
        return validate({_SIMPLE[trigger]: inputs[trigger]}, prev)
    for name, control in SLIDER_IDS.items():
        if trigger == control:
            return prev.replace(**{name: from_slider(name, inputs[control])})
    raise InvalidValue(f"Unknown control {trigger!r}.")


def control_values(state: State) -> dict[str, Any]:
    """What each control of :data:`CONTROL_IDS` shows for ``state``."""
    out: dict[str, Any] = {
        "landscape": state.landscape,
        # Empty (its placeholder shows an example) unless a formula is drawn.
        "formula": state.formula if state.landscape == CUSTOM else "",
        "optimizers": list(state.optimizers),
        "eps-placement": "inside" if state.eps_in_sqrt else "outside",
        "sweep-optimizer": state.sweep_optimizer,
        "schedule": state.schedule,
    }
    for name, control in SLIDER_IDS.items():
        out[control] = to_slider(name, getattr(state, name))
    return out


def _same(shown: Any, wanted: Any) -> bool:
    if shown == wanted:
        return True
    numbers = (float, int)
    return (
        isinstance(shown, numbers)
        and isinstance(wanted, numbers)
        and math.isclose(shown, wanted, rel_tol=1e-9, abs_tol=1e-9)
    )


def outputs(
    state: State,
    trigger: str | None,
    inputs: dict[str, Any],
    message: str,
    *,
    keep: Any,
) -> list[Any]:
    """``sync``'s outputs for the new ``state``; ``keep`` (Dash's
    ``no_update``) where a control already shows its value."""
    wanted = control_values(state)
    updates = []
    for c in CONTROL_IDS:
        same = _same(inputs[c], wanted[c])
        if c == "formula" and trigger not in (None, "url", "landscape"):
            same = True  # keep what the user typed
        updates.append(keep if c == trigger or same else wanted[c])
    search = to_query(state)
    return [
        state.to_dict(),
        search if search != inputs["url"] else keep,
        *updates,
        *(readout(n, getattr(state, n)) for n in SLIDER_IDS),
        start_text(state),
        "",
        message,
    ]


def sync(prev_data: Any, trigger: str | None, inputs: dict[str, Any], *, keep: Any):
    """Every output of the ``sync`` callback (see :func:`outputs`); a rejected
    value leaves everything as it was and says why (a bad formula under the
    formula box, anything else in the message line)."""
    try:
        prev = DEFAULT if prev_data is None else state_from_store(prev_data)
    except InvalidValue:
        prev = DEFAULT
    message = ""
    try:
        state = transition(prev, trigger, inputs)
    except ValueError as err:  # InvalidValue, or a formula the parser rejects
        if trigger in (None, "url"):  # a bad shared URL: show the defaults
            state, message = DEFAULT, f"Ignored the URL: {err}"
        else:
            out: list[Any] = [keep] * N_OUTPUTS
            if isinstance(err, InvalidValue):
                out[-2:] = [keep, str(err)]
            else:
                out[-2:] = [str(err), ""]
            return out
    return outputs(state, trigger, inputs, message, keep=keep)
