r"""A real network's loss as a 2-D landscape (``mlp-digits``).

A 64-16-10 tanh MLP (Glorot-uniform weights of seed 0, zero biases) is
trained on :data:`SAMPLES` images of scikit-learn's digits (8x8, scaled to
[0, 1]; the data ship with scikit-learn) by full-batch Adam
(:func:`rmsprop_jax.adam`, :math:`\eta = 0.01`) for :data:`TRAIN_STEPS`
steps. Its weights :math:`\theta_0, \dots, \theta_T` along the way span the
plane: the two principal directions :math:`d_1, d_2` (orthonormal) of the
differences :math:`\theta_t - \theta_T`, as in Li et al., *Visualizing the
Loss Landscape of Neural Nets* (2018), section 7. The landscape is the mean
cross-entropy of the MLP on those images plus
:math:`\tfrac{\lambda}{2}\lVert\theta\rVert^2` (:data:`WEIGHT_DECAY`) at

.. math:: \theta(w_1, w_2) = \theta_T + w_1 d_1 + w_2 d_2,

exact, not interpolated: the first layer's pre-activations are affine in
:math:`(w_1, w_2)` and are kept as three matrices, so one loss costs a few
hundred thousand multiply-adds. The start is the projection of
:math:`\theta_0` onto the plane; the plot box covers the projected training
path with a margin; the minimum is searched on the box (a 121 x 121 grid,
then six zooms).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

SAMPLES = 128
"""How many digits images (the first ones of the data set) the loss averages."""

HIDDEN = 16
"""Width of the MLP's hidden layer."""

TRAIN_STEPS = 300
"""Adam's steps that make the trajectory spanning the plane."""

WEIGHT_DECAY = 1e-3
r"""The L2 penalty :math:`\tfrac{\lambda}{2}\lVert\theta\rVert^2` added to the
cross-entropy (without it the loss of separable data has no minimum: it
falls for ever as the weights grow)."""


class Plane(NamedTuple):
    """The landscape on the plane through the trained weights."""

    fn: Callable[..., jax.Array]  # f(w, c), w of shape (2, ...); c ignored
    box: tuple[float, float, float, float]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    minimum_value: float
    trajectory: np.ndarray  # (TRAIN_STEPS + 1, 2): the projected training path
    explained: tuple[float, float]  # variance fraction of d1, d2
    centre: np.ndarray  # theta_T, flat (float32): w1, b1, w2, b2 in that order
    directions: np.ndarray  # (2, n) float32: d1, d2


def _data() -> tuple[np.ndarray, np.ndarray]:
    """The first :data:`SAMPLES` images and labels, read from the file
    scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``, what its
    ``load_digits`` reads) without importing scikit-learn (seconds of
    imports); through ``load_digits`` where that file is not found."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "The mlp-digits landscape needs scikit-learn (pip install "
            '"rmsprop_jax[explorer]").'
        )
    path = Path(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    if path.is_file():
        table = np.loadtxt(path, delimiter=",", max_rows=SAMPLES)
        x, y = table[:, :-1], table[:, -1]
    else:  # pragma: no cover - another layout of scikit-learn's files
        from sklearn.datasets import load_digits  # type: ignore[import-untyped]

        x, y = load_digits(return_X_y=True)
        x, y = x[:SAMPLES], y[:SAMPLES]
    return (x / 16.0).astype(np.float32), y.astype(np.int32)


def _unpack(theta: jax.Array) -> tuple[jax.Array, ...]:
    n1, n2 = 64 * HIDDEN, HIDDEN * 10
    w1 = theta[:n1].reshape(64, HIDDEN)
    b1 = theta[n1 : n1 + HIDDEN]
    w2 = theta[n1 + HIDDEN : n1 + HIDDEN + n2].reshape(HIDDEN, 10)
    b2 = theta[n1 + HIDDEN + n2 :]
    return w1, b1, w2, b2


def _cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    picked = jnp.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - picked, axis=-1)


def _train(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    import rmsprop_jax as rj

    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    parts = []
    for key, (n_in, n_out) in ((k1, (64, HIDDEN)), (k2, (HIDDEN, 10))):
        limit = np.sqrt(6.0 / (n_in + n_out))
        w = jax.random.uniform(key, (n_in, n_out), jnp.float32, -limit, limit)
        parts += [w.ravel(), jnp.zeros(n_out, jnp.float32)]
    theta0 = jnp.concatenate(parts)

    def loss(theta: jax.Array) -> jax.Array:
        w1, b1, w2, b2 = _unpack(theta)
        penalty = 0.5 * WEIGHT_DECAY * jnp.sum(theta**2)
        logits = jnp.tanh(x @ w1 + b1) @ w2 + b2
        return _cross_entropy(logits, jnp.asarray(y)) + penalty

    tx = rj.adam(0.01)

    def step(carry: Any, _: Any) -> tuple[Any, jax.Array]:
        theta, state = carry
        g = jax.grad(loss)(theta)
        u, state = tx.update(g, state, theta)
        theta = theta + u
        return (theta, state), theta

    run = jax.jit(lambda t: jax.lax.scan(step, (t, tx.init(t)), None, TRAIN_STEPS))
    _, path = run(theta0)
    return np.concatenate([np.asarray(theta0)[None], np.asarray(path)])


def _loss_on_plane(
    x: np.ndarray, y: np.ndarray, centre: np.ndarray, d1: np.ndarray, d2: np.ndarray
) -> Callable[..., jax.Array]:
    # What does not depend on the point, made once: the first layer's
    # pre-activations at theta_T, d1 and d2 (h0 + a h1 + b h2 at theta(a, b)),
    # the second layer's weights and biases likewise, and one-hot labels. A
    # step's loss and gradient is then element-wise work and one product per
    # pass: 1.7x faster than products with the coefficients and a gather.
    parts = [_unpack(jnp.asarray(v)) for v in (centre, d1, d2)]
    h = np.stack([x @ np.asarray(w1) + np.asarray(b1) for w1, b1, _, _ in parts])
    w2 = np.stack([np.asarray(p[2]) for p in parts])
    b2 = np.stack([np.asarray(p[3]) for p in parts])
    onehot = np.eye(10, dtype=np.float32)[y]
    # |theta(a, b)|^2 = |c|^2 + 2 a c.d1 + 2 b c.d2 + a^2 + b^2 (d1, d2 orthonormal)
    norms = [float(np.dot(centre, v)) for v in (centre, d1, d2)]

    def at(w: jax.Array) -> jax.Array:  # one point
        a, b = w[0], w[1]
        pre = h[0] + a * h[1] + b * h[2]  # (N, H)
        logits = jnp.tanh(pre) @ (w2[0] + a * w2[1] + b * w2[2])
        logits = logits + (b2[0] + a * b2[1] + b * b2[2])
        picked = jnp.sum(onehot * logits, axis=-1)
        cross_entropy = jnp.mean(jax.nn.logsumexp(logits, axis=-1) - picked)
        squared = norms[0] + 2 * (a * norms[1] + b * norms[2]) + a**2 + b**2
        return cross_entropy + 0.5 * WEIGHT_DECAY * squared

    def mlp_digits(w: jax.Array, c: jax.Array) -> jax.Array:
        del c
        if w.ndim == 1:
            return at(w)
        points = jnp.reshape(w, (2, -1)).T  # a grid: 256 points at a time
        return jax.lax.map(at, points, batch_size=256).reshape(w.shape[1:])

    return mlp_digits


def _search(
    f: Callable[[np.ndarray], np.ndarray], box: tuple[float, ...]
) -> tuple[tuple[float, float], float]:
    """The lowest point of ``f`` on ``box``: a 121 x 121 grid, then six 21 x 21
    grids, each a fifth as wide, around the best point so far."""
    lo1, hi1, lo2, hi2 = box
    xs, ys = np.linspace(lo1, hi1, 121), np.linspace(lo2, hi2, 121)
    for _ in range(7):
        mesh = np.stack(np.meshgrid(xs, ys)).astype(np.float32)
        z = f(mesh)
        j = np.unravel_index(np.nanargmin(z), z.shape)
        best = (float(xs[j[1]]), float(ys[j[0]]))
        h1, h2 = 2 * (xs[1] - xs[0]), 2 * (ys[1] - ys[0])
        xs = np.linspace(best[0] - h1, best[0] + h1, 21)
        ys = np.linspace(best[1] - h2, best[1] + h2, 21)
    point = np.asarray(best, np.float32)
    return best, float(f(point))


@functools.lru_cache(maxsize=1)
def plane() -> Plane:
    """The ``mlp-digits`` landscape, made once per process (seconds, mostly compiling).

    Raises:
      ValueError: scikit-learn is not installed.
    """
    x, y = _data()
    thetas = _train(x, y)
    centre = thetas[-1]
    diffs = (thetas - centre).astype(np.float64)
    _, sv, vt = np.linalg.svd(diffs, full_matrices=False)
    d1, d2 = vt[0], vt[1]
    share = sv[:2] ** 2 / np.sum(sv**2)
    explained = (float(share[0]), float(share[1]))
    coords = diffs @ np.stack([d1, d2]).T  # (steps + 1, 2)
    if coords[0, 0] > 0:  # the start on the left
        d1, coords[:, 0] = -d1, -coords[:, 0]
    if coords[0, 1] > 0:  # and below the trained weights
        d2, coords[:, 1] = -d2, -coords[:, 1]
    f = _loss_on_plane(x, y, centre, d1.astype(np.float32), d2.astype(np.float32))
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    span = max(float(np.max(hi - lo)), 1e-3)
    pad = 0.35 * span
    box = (
        float(np.floor(lo[0] - pad)),
        float(np.ceil(hi[0] + pad)),
        float(np.floor(lo[1] - pad)),
        float(np.ceil(hi[1] + pad)),
    )
    values = jax.jit(lambda w: f(w, 0.0))
    point, value = _search(lambda w: np.asarray(values(jnp.asarray(w))), box)
    start = (round(float(coords[0, 0]), 3), round(float(coords[0, 1]), 3))
    return Plane(
        f,
        box,
        start,
        (point,),
        value,
        coords.astype(np.float32),
        explained,
        centre.astype(np.float32),
        np.stack([d1, d2]).astype(np.float32),
    )
