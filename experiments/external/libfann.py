"""Item 5, second part: FANN's own C iRprop- against this library's, step by step.

Debian's ``libfann2`` (FANN 2.2.0) is driven through :mod:`ctypes`; its
float64 build ``libdoublefann.so.2`` is used (``libfann.so.2`` is the float32
build, FANN's default). What its ``fann_update_weights_irpropm``
(``src/fann_train.c``, unchanged from 2.2.0 to FANN's master) does, per weight,
with ``slope`` the epoch's summed *negative* gradient:

* ``prev = max(prev_step, 1e-4)``; ``p = prev_slope * slope``;
* ``p >= 0`` (a zero product included: the first epoch, the epoch after a
  sign change, a zero gradient): ``step = min(prev * 1.2f, delta_max)``;
* ``p < 0``: ``step = max(prev * 0.5, delta_min)`` and ``slope = 0``;
* ``weight -= step`` if ``slope < 0``, else ``weight += step``: so on a sign
  change (``slope`` just set to 0) and on a zero gradient the weight moves
  UP by ``step``, whatever its gradient; weights are clipped to +-1500;
* ``prev_step = step``, ``prev_slope = slope``.

Its defaults: ``delta_zero`` 0.1f, ``increase_factor`` 1.2f, ``decrease_factor``
0.5, ``delta_min`` 0, ``delta_max`` 50, stored as C ``float`` even in the
double build (1.2f is 1.2000000476837158). Igel & Hüsken's iRprop- (this
library's ``irprop-``) instead keeps the step on a zero product (so its first
step is ``delta_zero``, FANN's is ``1.2 * delta_zero``), does not move a
weight whose gradient changed sign, and has no floor under the previous step.

:func:`trajectories` trains FANN's own network (8-16-1 on ``parity8``, the
hidden units ``FANN_SIGMOID_SYMMETRIC``, the output ``FANN_SIGMOID``, steepness
0.5, linear error function) with FANN's C, with :func:`fann_irpropm` (the rule
above transcribed to NumPy, fed by :func:`slopes`, FANN's backpropagation
transcribed: its derivatives clip the activations at 0.01/0.99 and +-0.98),
and with this library's ``rprop(variant="irprop-")`` configured to match
(first step ``0.1f * 1.2f``, ``eta_plus`` 1.2f, ``min_step`` 5e-5 where FANN's
floor puts its smallest step), all from the same weights, in float64.
Their paths part at the first sign change, so :func:`step_by_step` compares
the rules where they meet: every epoch it steps this library's irprop- from
FANN's own state and sorts each weight-step by the case of its sign product.
:func:`zero_gradient` shows FANN's move at an exactly-zero gradient.
"""

from __future__ import annotations

import ctypes
import functools
import pathlib
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

import rmsprop_jax as rj
from experiments.external import proben1

LIBRARY = "libdoublefann.so.2"  # FANN's float64 build (Debian's libfann2)
DATA = "parity8"
HIDDEN = 16
TARGET = proben1.SETS[DATA][1]  # training MSE, as the Proben1 item
STEEPNESS = 0.5  # FANN's default activation steepness
_F32 = np.float32
DELTA_ZERO = float(_F32(0.1))  # FANN's defaults, C floats
INCREASE = float(_F32(1.2))
DECREASE = 0.5
DELTA_MAX = 50.0
FLOOR = 1e-4  # max(prev_step, 0.0001) in fann_update_weights_irpropm
BOUND = 1500.0  # fann_update_weights_irpropm clips every weight to +-1500
_SIGMOID, _SIGMOID_SYMMETRIC = 3, 5  # enum fann_activationfunc_enum
_ERRORFUNC_LINEAR, _TRAIN_RPROP = 0, 2


class _Connection(ctypes.Structure):
    _fields_ = [
        ("from_neuron", ctypes.c_uint),
        ("to_neuron", ctypes.c_uint),
        ("weight", ctypes.c_double),
    ]


@functools.cache
def library() -> ctypes.CDLL | None:
    """FANN's float64 build with the signatures used here, or None when
    Debian's ``libfann2`` is not installed."""
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError:
        return None
    p, u, f = ctypes.c_void_p, ctypes.c_uint, ctypes.c_float
    for name, res, args in [
        ("fann_create_standard_array", p, [u, ctypes.POINTER(u)]),
        ("fann_set_activation_function_hidden", None, [p, u]),
        ("fann_set_activation_function_output", None, [p, u]),
        ("fann_set_train_error_function", None, [p, u]),
        ("fann_set_training_algorithm", None, [p, u]),
        ("fann_get_total_connections", u, [p]),
        ("fann_get_connection_array", None, [p, ctypes.POINTER(_Connection)]),
        ("fann_set_weight_array", None, [p, ctypes.POINTER(_Connection), u]),
        ("fann_read_train_from_file", p, [ctypes.c_char_p]),
        ("fann_train_epoch", f, [p, p]),
        ("fann_destroy", None, [p]),
        ("fann_destroy_train", None, [p]),
        ("fann_get_rprop_delta_zero", f, [p]),
        ("fann_get_rprop_increase_factor", f, [p]),
        ("fann_get_rprop_decrease_factor", f, [p]),
        ("fann_get_rprop_delta_min", f, [p]),
        ("fann_get_rprop_delta_max", f, [p]),
    ]:
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def available() -> bool:
    return library() is not None and (proben1.FOLDER / f"{DATA}.train").is_file()


class Network:
    """FANN's own ``n_in-hidden-n_out`` network (C, float64) and its data set.

    Its weights, read and written as FANN stores them, are ``(hidden, n_in + 1)``
    and ``(n_out, hidden + 1)``: row j holds the connections into unit j, the
    bias (FANN's bias neuron, value 1) last.
    """

    def __init__(self, path: pathlib.Path, hidden: int):
        self.lib = lib = library()
        if lib is None:
            raise RuntimeError(f"{LIBRARY} (Debian's libfann2) is not installed")
        x, y = proben1.read(path)
        self.shape = (x.shape[1], hidden, y.shape[1])
        layers = (ctypes.c_uint * 3)(*self.shape)
        self.ann = lib.fann_create_standard_array(3, layers)
        self.data = lib.fann_read_train_from_file(str(path).encode())
        if not self.ann or not self.data:
            raise RuntimeError(f"FANN could not build the network or read {path}")
        lib.fann_set_activation_function_hidden(self.ann, _SIGMOID_SYMMETRIC)
        lib.fann_set_activation_function_output(self.ann, _SIGMOID)
        lib.fann_set_train_error_function(self.ann, _ERRORFUNC_LINEAR)
        lib.fann_set_training_algorithm(self.ann, _TRAIN_RPROP)
        self.size = lib.fann_get_total_connections(self.ann)
        self._buffer = (_Connection * self.size)()
        lib.fann_get_connection_array(self.ann, self._buffer)
        ends = np.array([(c.from_neuron, c.to_neuron) for c in self._buffer])
        n_in, h, n_out = self.shape
        # Neurons: inputs, bias, hidden, bias, outputs. Connection k joins
        # ends[k]; map it to (layer, row, column) of the two matrices.
        into_hidden = ends[:, 1] <= n_in + h
        self.order = np.where(
            into_hidden,
            (ends[:, 1] - (n_in + 1)) * (n_in + 1) + ends[:, 0],
            h * (n_in + 1)
            + (ends[:, 1] - (n_in + h + 2)) * (h + 1)
            + ends[:, 0]
            - (n_in + 1),
        )
        if sorted(self.order) != list(range(self.size)):
            raise RuntimeError(
                "FANN's connections are not a fully connected 3-layer net"
            )

    def defaults(self) -> dict[str, float]:
        """FANN's Rprop parameters as the library reports them."""
        get = self.lib
        return {
            "delta_zero": get.fann_get_rprop_delta_zero(self.ann),
            "increase_factor": get.fann_get_rprop_increase_factor(self.ann),
            "decrease_factor": get.fann_get_rprop_decrease_factor(self.ann),
            "delta_min": get.fann_get_rprop_delta_min(self.ann),
            "delta_max": get.fann_get_rprop_delta_max(self.ann),
        }

    def get(self) -> np.ndarray:
        """The weights, flat in the order of :func:`unflatten`."""
        self.lib.fann_get_connection_array(self.ann, self._buffer)
        flat = np.empty(self.size)
        flat[self.order] = [c.weight for c in self._buffer]
        return flat

    def set(self, flat: np.ndarray) -> None:
        for k, c in enumerate(self._buffer):
            c.weight = float(flat[self.order[k]])
        self.lib.fann_set_weight_array(self.ann, self._buffer, self.size)

    def epoch(self) -> float:
        """One ``fann_train_epoch`` (iRprop-, full batch); FANN's MSE."""
        return self.lib.fann_train_epoch(self.ann, self.data)

    def close(self) -> None:
        self.lib.fann_destroy_train(self.data)
        self.lib.fann_destroy(self.ann)


def unflatten(flat: np.ndarray, shape: tuple[int, int, int]):
    n_in, h, n_out = shape
    cut = h * (n_in + 1)
    return flat[:cut].reshape(h, n_in + 1), flat[cut:].reshape(n_out, h + 1)


def _forward(flat, shape, x):
    wh, wo = unflatten(flat, shape)
    limit = 150 / STEEPNESS  # fann_run clips the scaled sum

    def ones(a):
        return np.concatenate([a, np.ones((a.shape[0], 1))], axis=1)

    x1 = ones(x)
    sh = np.clip(STEEPNESS * (x1 @ wh.T), -limit, limit)
    h = 2.0 / (1.0 + np.exp(-2.0 * sh)) - 1.0  # FANN_SIGMOID_SYMMETRIC
    h1 = ones(h)
    so = np.clip(STEEPNESS * (h1 @ wo.T), -limit, limit)
    return x1, h, h1, 1.0 / (1.0 + np.exp(-2.0 * so))  # FANN_SIGMOID


def mse(flat: np.ndarray, shape, x: np.ndarray, y: np.ndarray) -> float:
    """FANN's MSE of a sigmoid output: the mean of (desired - output)^2."""
    return float(np.mean((y - _forward(flat, shape, x)[3]) ** 2))


def slopes(flat: np.ndarray, shape, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """FANN's ``train_slopes`` after one epoch (fann_compute_MSE,
    fann_backpropagate_MSE, fann_update_slopes_batch, linear error function),
    flat: the negative gradient of 0.5 * sum (desired - output)^2 except that
    FANN's derivatives clip the activations (0.01..0.99, -0.98..0.98)."""
    _, wo = unflatten(flat, shape)
    x1, h, h1, out = _forward(flat, shape, x)
    lo, hi = float(_F32(0.01)), float(_F32(0.99))
    v = np.clip(out, lo, hi)
    err_o = 2.0 * STEEPNESS * v * (1.0 - v) * (y - out)
    g = np.clip(h, -float(_F32(0.98)), float(_F32(0.98)))
    err_h = (err_o @ wo[:, :-1]) * (STEEPNESS * (1.0 - g * g))
    return np.concatenate([(err_h.T @ x1).ravel(), (err_o.T @ h1).ravel()])


def fann_irpropm(w, slope, prev_step, prev_slope, delta_min: float = 0.0):
    """One ``fann_update_weights_irpropm``, transcribed: ``(w, step, slope)``
    to store for the next epoch."""
    prev = np.maximum(prev_step, FLOOR)
    grow = prev_slope * slope >= 0.0
    step = np.where(
        grow,
        np.minimum(prev * INCREASE, DELTA_MAX),
        np.maximum(prev * DECREASE, delta_min),
    )
    slope = np.where(grow, slope, 0.0)
    w = np.where(slope < 0, np.maximum(w - step, -BOUND), np.minimum(w + step, BOUND))
    return w, step, slope


def initial_weights(seed: int, shape) -> np.ndarray:
    """Uniform with the fan-in's scale, biases 0 (as the Proben1 item)."""
    n_in, h, n_out = shape
    rng = np.random.default_rng(seed)
    wh = rng.uniform(-1, 1, (h, n_in + 1)) * np.sqrt(3.0 / n_in)
    wo = rng.uniform(-1, 1, (n_out, h + 1)) * np.sqrt(3.0 / h)
    wh[:, -1] = wo[:, -1] = 0.0
    return np.concatenate([wh.ravel(), wo.ravel()])


def ours():
    """This library's irprop- configured as close to FANN's as its rule allows."""
    return rj.rprop(
        DELTA_ZERO * INCREASE,  # FANN grows on the first epoch's zero product
        eta_minus=DECREASE,
        eta_plus=INCREASE,
        min_step=FLOOR * DECREASE,
        max_step=DELTA_MAX,
        variant="irprop-",
    )


def _library_path(w0, shape, x, y, epochs: int) -> np.ndarray:
    """This library's irprop- from ``w0`` on FANN's slopes, ``(epochs + 1, P)``."""
    with jax.enable_x64(True):
        tx = ours()
        update = jax.jit(tx.update)
        w = jnp.asarray(w0)
        state, path = tx.init(w), [w0]
        for _ in range(epochs):
            u, state = update(jnp.asarray(-slopes(path[-1], shape, x, y)), state, w)
            w = w + u
            path.append(np.asarray(w, np.float64))
    return np.array(path)


def _fann_path(
    path: pathlib.Path, hidden: int, seed: int, epochs: int
) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """FANN's C trained ``epochs`` epochs on the data file ``path`` from
    :func:`initial_weights`: its weights before each epoch and after the
    last, and the network's shape."""
    net = Network(path, hidden)
    try:
        w0 = initial_weights(seed, net.shape)
        net.set(w0)
        if np.max(np.abs(net.get() - w0)) != 0.0:
            raise RuntimeError("FANN did not keep the weights it was given")
        c = [w0]
        for _ in range(epochs):
            net.epoch()
            c.append(net.get())
    finally:
        net.close()
    return c, net.shape


def trajectories(seed: int, epochs: int, name: str = DATA, hidden: int = HIDDEN):
    """From the same weights, float64: the weights ``(epochs + 1, P)`` of
    FANN's C (``"fann"``), of :func:`fann_irpropm` (``"transcription"``) and of
    this library's irprop- (``"library"``); along the transcription's path its
    slopes, stored steps and stored slopes before each epoch (``(epochs, P)``:
    ``"slopes"``, ``"prev_step"``, ``"prev_slope"``); the network's
    ``"shape"`` and the data ``"x"``, ``"y"``."""
    path = proben1.FOLDER / f"{name}.train"
    x, y = proben1.read(path)
    x, y = x.astype(np.float64), y.astype(np.float64)
    c, shape = _fann_path(path, hidden, seed, epochs)
    w0 = c[0]
    r, s, prev_steps, prev_slopes = [w0], [], [], []
    step, prev = np.full_like(w0, DELTA_ZERO), np.zeros_like(w0)
    for _ in range(epochs):
        prev_steps.append(step)
        prev_slopes.append(prev)
        s.append(slopes(r[-1], shape, x, y))
        w, step, prev = fann_irpropm(r[-1], s[-1], step, prev)
        r.append(w)
    return {
        "fann": np.array(c),
        "transcription": np.array(r),
        "library": _library_path(w0, shape, x, y, epochs),
        "slopes": np.array(s),
        "prev_step": np.array(prev_steps),
        "prev_slope": np.array(prev_slopes),
        "shape": shape,
        "x": x,
        "y": y,
    }


def zero_gradient(epochs: int, seed: int = 0) -> dict[str, np.ndarray]:
    """FANN's C on ``parity8`` with a ninth input that is always 0, so that
    the slopes of its connections are exactly 0 in every epoch: those weights
    ``(epochs + 1, hidden)`` under FANN's C (``"fann"``) and under this
    library's irprop- (``"library"``), and their slopes along FANN's path
    (``"slopes"``, ``(epochs, hidden)``)."""
    x, y = proben1.read(proben1.FOLDER / f"{DATA}.train")
    x = np.concatenate([x, np.zeros((len(x), 1), x.dtype)], axis=1)
    lines = [f"{len(x)} {x.shape[1]} {y.shape[1]}"]
    for a, b in zip(x, y, strict=True):
        lines += [" ".join(f"{v:g}" for v in a), " ".join(f"{v:g}" for v in b)]
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "parity8_zero.train"
        path.write_text("\n".join(lines) + "\n")
        c, shape = _fann_path(path, HIDDEN, seed, epochs)
    w0 = c[0]
    x, y = x.astype(np.float64), y.astype(np.float64)
    zero = np.arange(HIDDEN) * (shape[0] + 1) + shape[0] - 1  # input 9 -> hidden j
    c = np.array(c)
    lib = _library_path(w0, shape, x, y, epochs)
    s = np.array([slopes(w, shape, x, y) for w in c[:-1]])
    return {
        "fann": c[:, zero],
        "library": lib[:, zero],
        "slopes": s[:, zero],
    }


def first_flip(s: np.ndarray) -> int:
    """The first update (1-based) at which some weight's slope changes sign on
    FANN's path (slopes ``s``, ``(epochs, P)``), ``len(s) + 1`` if none does:
    before it, FANN's stored slope is simply the previous epoch's."""
    flips = (s[1:] * s[:-1] < 0).any(axis=1)
    return int(np.argmax(flips)) + 2 if flips.any() else len(s) + 1


CASES = ("same sign", "sign change", "zero product")


def step_by_step(t: dict) -> dict[str, dict[str, int]]:
    """This library's irprop- applied, epoch by epoch, to FANN's own state
    (its weights, stored steps and stored slopes, this epoch's slopes): per
    case of ``prev_slope * slope`` (``CASES``), how many weight-steps there
    were and in how many this library's new weight and new step equal FANN's
    C bit for bit (``{"steps": n, "equal": k}``), and, in the cases where they
    differ, whether every difference is the one FANN's rule predicts
    (``"as_predicted"``, FANN's new weight always transcribed from its source:
    where the signs agree this library's weight is FANN's up to FANN's bound
    +-1500; at a sign change FANN moves the weight up by its halved step where
    iRprop- holds it; at a zero product FANN's step is 1.2f times iRprop-'s,
    or 1.2f times FANN's floor 1e-4 where the stored step is below it).
    ``"below_floor"`` counts the stored steps under 1e-4, ``"at_bound"`` the
    new FANN weights at +-1500."""
    c, s = t["fann"], t["slopes"]
    prev_step, prev_slope = t["prev_step"], t["prev_slope"]
    with jax.enable_x64(True):
        tx = ours()
        state = tx.init(jnp.asarray(c[:-1]))
        rprop_state = state[0]._replace(
            step_size=jnp.asarray(prev_step),
            prev_sign=jnp.asarray(-np.sign(prev_slope), jnp.int8),
        )
        u, new = tx.update(jnp.asarray(-s), (rprop_state, *state[1:]), None)
        w = np.asarray(jnp.asarray(c[:-1]) + u, np.float64)
        step = np.asarray(new[0].step_size, np.float64)
    fann_step = np.where(
        prev_slope * s >= 0,
        np.minimum(np.maximum(prev_step, FLOOR) * INCREASE, DELTA_MAX),
        np.maximum(prev_step, FLOOR) * DECREASE,
    )
    equal = (w == c[1:]) & (step == fann_step)
    product = prev_slope * s
    masks = dict(zip(CASES, (product > 0, product < 0, product == 0), strict=True))
    # FANN's new weight: up by its step unless the slope is negative, clipped.
    up = np.where(product < 0, 0.0, s) >= 0
    fann_w = np.clip(
        np.where(up, c[:-1] + fann_step, c[:-1] - fann_step), -BOUND, BOUND
    )
    predicted = {
        case: (fann_w == c[1:]) & ours
        for case, ours in {
            "same sign": (np.clip(w, -BOUND, BOUND) == c[1:]) & (step == fann_step),
            "sign change": (w == c[:-1]) & (step == fann_step),
            "zero product": (fann_step == np.maximum(step, FLOOR) * INCREASE)
            & (w == c[:-1] - np.sign(-s) * step),
        }.items()
    }
    floored, bound = prev_step < FLOOR, np.abs(c[1:]) == BOUND
    return {
        case: {
            "steps": int(m.sum()),
            "equal": int((equal & m).sum()),
            "as_predicted": int((predicted[case] & m).sum()),
            "below_floor": int((floored & m).sum()),
            "at_bound": int((bound & m).sum()),
        }
        for case, m in masks.items()
    }


def measure(epochs: int, seeds: int) -> dict:
    """Per seed: the step-by-step comparison, the agreement of FANN's C with
    its transcription, and the epochs each full path needs to the target
    training MSE (None: never within ``epochs``). Empty without libfann."""
    if not available():
        return {}
    runs = []
    for seed in range(seeds):
        t = trajectories(seed, epochs)
        losses = {
            k: np.array([mse(w, t["shape"], t["x"], t["y"]) for w in t[k]])
            for k in ("fann", "library")
        }
        runs.append(
            {
                "cases": step_by_step(t),
                "fann_vs_transcription": float(
                    np.abs(t["fann"] - t["transcription"]).max()
                ),
                "paths_equal_for": int(
                    np.argmax((t["fann"] != t["library"]).any(axis=1))
                ),
                "epochs_to_target": {
                    k: int(np.argmax(v < TARGET)) if (v < TARGET).any() else None
                    for k, v in losses.items()
                },
                "losses": {k: v.tolist() for k, v in losses.items()},
            }
        )
    z = zero_gradient(min(epochs, 60))
    moves = np.diff(z["fann"], axis=0)
    pinned = (z["fann"] == BOUND).all(axis=1)
    return {
        "epochs": epochs,
        "weights": int(t["fann"].shape[1]),
        "runs": runs,
        "zero_gradient": {
            "epochs": len(moves),
            "slope_max": float(np.abs(z["slopes"]).max()),
            "fann_moves": moves[:, 0].tolist(),
            "fann_spread": float(np.ptp(moves, axis=1).max()),  # all alike
            "at_bound_from": int(np.argmax(pinned)) if pinned.any() else None,
            "library_max_move": float(np.abs(np.diff(z["library"], axis=0)).max()),
        },
    }


def judge(ctx, m: dict):
    """Figure, table and verdict rows of FANN's comparison; ``(blocks, rows)``.
    Deterministic given the seed: counts are over every epoch of every seed;
    the epochs to the target are compared by their 95 % interval (a run that
    never gets there counts as the cap, so the interval understates it)."""
    import matplotlib.pyplot as plt

    from experiments import _plotting as plot
    from experiments._report import Figure, Table
    from experiments._stats import better, interval

    statement = (
        "FANN's own C iRprop- (Debian's libfann2 2.2.0) takes this library's "
        "irprop- steps"
    )
    if not m:
        text = (
            f"not measured: {LIBRARY} (Debian's libfann2) or the parity8 file of "
            "libfann-doc is missing (`apt-get install libfann2 libfann-doc`)"
        )
        return [text], [["5", statement, text, "-"]]
    runs, epochs = m["runs"], m["epochs"]
    total = {
        case: {
            k: sum(r["cases"][case][k] for r in runs) for k in runs[0]["cases"][case]
        }
        for case in CASES
    }
    same, flip, zero = (total[c] for c in CASES)
    explained = all(t["as_predicted"] == t["steps"] for t in total.values())
    agree = same["as_predicted"] == same["steps"] > 0
    exact = max(r["fann_vs_transcription"] for r in runs)
    verdict = (
        "holds only in part: where the gradient keeps its sign (FANN's weight "
        "bound +-1500 aside)"
        if agree and explained
        else "does not hold: not even where the gradient keeps its sign"
        if not agree
        else "does not hold: differences FANN's source does not explain"
    )
    evidence = (
        f"parity8, FANN's 8-16-1 network, float64 (libdoublefann), {len(runs)} seeds "
        f"x {epochs} epochs x {m['weights']} weights, this library stepped from "
        f"FANN's own state each epoch: same sign {same['equal']} of {same['steps']} "
        f"weight-steps equal bit for bit ({same['at_bound']} where FANN clips the "
        f"weight at +-{BOUND:g}; {same['as_predicted']} as predicted); "
        f"sign change {flip['equal']} of "
        f"{flip['steps']} equal (FANN moves the weight up by the halved step, "
        f"iRprop- holds it; {flip['as_predicted']} as predicted); zero product "
        f"{zero['equal']} of {zero['steps']} equal (FANN grows the step by 1.2f, "
        f"iRprop- keeps it; {zero['below_floor']} of them under FANN's floor 1e-4; "
        f"{zero['as_predicted']} as predicted); FANN's C against its source "
        f"transcribed: max |w difference| {exact:.3g} over every epoch"
    )
    zg = m["zero_gradient"]
    zero_row = [
        "5",
        "FANN's C iRprop- leaves a weight whose gradient is exactly 0 in place "
        "(as Igel & Hüsken's iRprop- and this library do)",
        "does not hold"
        if zg["slope_max"] == 0.0 and max(zg["fann_moves"]) > 0
        else "holds",
        f"an always-0 ninth input on parity8 (its {HIDDEN} weights' slopes "
        f"max |{zg['slope_max']:.3g}|): FANN moves each up by "
        + ", ".join(f"{v:.4g}" for v in zg["fann_moves"][:4])
        + f", ... (the step grows to {max(zg['fann_moves']):.4g}; every such weight "
        + (
            f"at FANN's bound {BOUND:g} from epoch {zg['at_bound_from']} of "
            f"{zg['epochs']})"
            if zg["at_bound_from"] is not None
            else f"still under its bound {BOUND:g} after {zg['epochs']} epochs)"
        )
        + f"; this library's largest move {zg['library_max_move']:.3g}",
    ]
    hit = {
        k: np.array(
            [
                epochs if r["epochs_to_target"][k] is None else r["epochs_to_target"][k]
                for r in runs
            ],
            np.float64,
        )
        for k in ("fann", "library")
    }
    never = {k: sum(r["epochs_to_target"][k] is None for r in runs) for k in hit}
    target_row = [
        "5",
        f"parity8: this library's irprop- reaches training MSE {TARGET:g} in fewer "
        "epochs than FANN's C iRprop- from the same weights",
        better(hit["library"], hit["fann"], lower_is_better=True),
        ", ".join(
            f"{k} {interval(v).text('.3g')} ({never[k]} of {len(runs)} never)"
            for k, v in hit.items()
        )
        + f" (cap {epochs})",
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    for j, (k, label) in enumerate(
        (("fann", "FANN's C iRprop-"), ("library", "this library's irprop-"))
    ):
        for i, r in enumerate(runs):
            ax.semilogy(
                r["losses"][k], color=f"C{j}", lw=0.8, label=None if i else label
            )
    ax.axhline(TARGET, color="k", ls=":", lw=0.8, label=f"target {TARGET:g}")
    ax.set_xlabel("epoch (full batch)")
    ax.set_ylabel("training MSE")
    ax.set_title("parity8: FANN's iRprop- and this library's, same weights")
    ax.legend(fontsize=8)
    figure = plot.save(fig, ctx.out, "external_libfann.png")
    table = Table(
        "FANN's C iRprop- against this library's irprop-, weight-step by "
        "weight-step from FANN's own state (all seeds and epochs)",
        [
            "case of prev_slope * slope",
            "weight-steps",
            "equal bit for bit",
            "as FANN's source predicts",
            "stored step under 1e-4",
            "FANN's weight at +-1500",
        ],
        [
            [
                c,
                str(t["steps"]),
                str(t["equal"]),
                str(t["as_predicted"]),
                str(t["below_floor"]),
                str(t["at_bound"]),
            ]
            for c, t in total.items()
        ],
        note="FANN 2.2.0's fann_update_weights_irpropm: a product >= 0 grows the "
        "step (x1.2f; at a zero product the paper keeps it), a product < 0 halves "
        "it, zeroes "
        "the slope and then moves the weight UP by the new step (the paper "
        "holds it), the previous step is floored at 1e-4, weights are clipped "
        "to +-1500; delta_zero 0.1f, delta_min 0, delta_max 50.",
    )
    blocks = [
        Figure(
            figure,
            "FANN's own C iRprop- and this library's on parity8",
            f"{len(runs)} seeds, float64; epochs to MSE {TARGET:g}: "
            + ", ".join(f"{k} {interval(v).text('.3g')}" for k, v in hit.items())
            + ".",
        ),
        table,
    ]
    return blocks, [["5", statement, verdict, evidence], zero_row, target_row]
