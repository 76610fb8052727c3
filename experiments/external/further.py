"""Item 6: the demo page's further claims, each in one call of the sweep engine.

- *Non-stationary objectives*: a target that moves during training (a slow
  sine, observed with noise); RMSprop tracks it, Adagrad's steps have shrunk.
- *Scale invariance*: multiplying one parameter's scale by c (the loss
  ``3 (c v1)^2 + 10 v2^2`` from the same start) leaves RMSprop's path in that
  parameter's own units unchanged (its step is homogeneous of degree 0 in
  the gradient; eps aside), not SGD's.
- *"Rates typically decrease as gradients get smaller"*: on a bowl, from
  random starts, how RMSprop's effective rate ``lr / sqrt(s + eps)`` and its
  step move as the gradient's RMS falls.
- *beta's trade-off between stability and adaptivity*: noisy gradients whose
  scale jumps 10x; a large beta gives a steadier effective rate and adapts
  later.

Where the problem is random, each seed is one coordinate of the parameter
vector (the optimizers are element-wise, so the coordinates are independent
runs) with its own noise; the learning rates and betas are grid axes.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

import rmsprop_jax as rj
from experiments._report import Figure
from experiments._report import judge as judge_parts
from experiments._stats import better, interval
from rmsprop_jax.sweep import grid, sweep

TRACK = {"sgd": rj.sgd, "adagrad": rj.adagrad, "rmsprop": rj.rmsprop, "adam": rj.adam}
PERIOD, NOISE = 500, 0.1  # the moving target's period (steps) and noise
JUMP = 10.0  # the gradient scale after the jump (before: 1)


def _sequence(values: np.ndarray):
    """Data for ``sweep`` that replays ``values`` (steps, seeds) step by step."""
    return {
        "data": jnp.asarray(values[:, None, :], jnp.float32),
        "batch_size": 1,
        "shuffle": False,
    }


def moving_target(steps: int, seeds: int, lrs) -> dict:
    """Per optimizer ``(lrs, seeds)``: the RMS tracking error over the last
    third, and the mean |step| there over the mean |step| of the first 50."""
    t = np.arange(steps)
    clean = np.sin(2 * np.pi * t / PERIOD)[:, None] * np.ones(seeds)
    noisy = clean + NOISE * np.random.default_rng(0).normal(size=(steps, seeds))
    result = sweep(
        TRACK,
        lambda w, c: 0.5 * jnp.sum((w - c[0]) ** 2),
        jnp.zeros(seeds),
        grid(learning_rate=[float(x) for x in lrs]),
        steps=steps,
        record="params",
        divergence_threshold=None,
        **_sequence(noisy),
    )
    ws = np.asarray(result.records["params"], np.float64)  # (opt, lr, steps, seeds)
    tail = slice(2 * steps // 3, steps)
    error = np.sqrt(np.mean((ws[:, :, tail] - clean[tail]) ** 2, axis=2))
    moves = np.abs(np.diff(ws, axis=2))
    shrink = moves[:, :, tail].mean(2) / moves[:, :, :50].mean(2)
    return {
        name: {"error": error[o], "shrink": shrink[o], "ws": ws[o], "clean": clean}
        for o, name in enumerate(result.optimizers)
    }


def scale_invariance(steps: int, scales=(0.1, 1.0, 10.0)) -> dict:
    """Per optimizer: v1's path (in v1's units) for each scale c, ``(scales,
    steps + 1)``, from v = (-15, 20) on ``3 (c v1)^2 + 10 v2^2``; RMSprop at
    lr 0.05 and SGD at lr 0.001 (the digest's worked example)."""
    lands = {
        f"c={c:g}": functools.partial(
            lambda w, c: 3 * (c * w[0]) ** 2 + 10 * w[1] ** 2, c=c
        )
        for c in scales
    }
    result = sweep(
        {
            "sgd": functools.partial(rj.sgd, 1e-3),
            "rmsprop": functools.partial(rj.rmsprop, 0.05),
        },
        lands,
        jnp.array([-15.0, 20.0]),
        steps=steps,
        record="params",
        divergence_threshold=None,
    )
    ws = np.asarray(result.records["params"], np.float64)[..., 0]  # (opt, scale, steps)
    return {n: ws[o] for o, n in enumerate(result.optimizers)}


def rates_and_gradients(steps: int, seeds: int) -> dict:
    """RMSprop (lr 0.01, beta 0.9) on the bowl ``w1^2 + w2^2`` from ``seeds``
    random starts: per seed, the correlation over time of log gradient RMS
    with log effective rate and with log |step| (after the first 10 steps)."""
    starts = np.random.default_rng(1).uniform(-3, 3, (seeds, 2)).astype(np.float32)
    result = sweep(
        rj.rmsprop,
        lambda w: jnp.sum(w**2),
        None,
        grid(learning_rate=[0.01]),
        steps=steps,
        starts=jnp.asarray(starts),
        record=("effective_lr", "gradient_rms", "updates"),
        divergence_threshold=None,
    )
    rec = {k: np.asarray(v, np.float64)[0, ..., 0] for k, v in result.records.items()}
    rate, rms, step = rec["effective_lr"], rec["gradient_rms"], np.abs(rec["updates"])
    window = slice(10, steps)
    corr = lambda a, b: np.array(  # noqa: E731
        [
            np.corrcoef(np.log(x[window]), np.log(y[window]))[0, 1]
            for x, y in zip(a, b, strict=True)
        ]
    )
    return {
        "rate": rate,
        "rms": rms,
        "step": step,
        "rate_corr": corr(rms, rate),
        "step_corr": corr(rms, np.maximum(step, 1e-30)),
    }


def decay_tradeoff(steps: int, seeds: int, decays) -> dict:
    """RMSprop (lr 0.01) under noisy gradients ``scale (1 + 0.5 xi)`` whose
    scale jumps from 1 to 10 at the middle step: per beta ``(seeds,)``, the
    standard deviation of the step-to-step change of the log effective rate
    over the 200 steps before the jump (its jitter: stability, blind to the
    slow warm-up from s = 0) and the steps after it until the rate is within 20 %
    of its new level (adaptivity)."""
    jump = steps // 2
    scale = np.where(np.arange(steps) < jump, 1.0, JUMP)[:, None]
    g = scale * (1 + 0.5 * np.random.default_rng(2).normal(size=(steps, seeds)))
    result = sweep(
        rj.rmsprop,
        lambda w, gb: jnp.sum(gb[0] * w),
        jnp.zeros(seeds),
        grid(decay=[float(d) for d in decays], learning_rate=[0.01]),
        steps=steps,
        record="effective_lr",
        divergence_threshold=None,
        **_sequence(g),
    )
    # (decays, steps, seeds)
    rate = np.asarray(result.records["effective_lr"], np.float64)[:, 0]
    jitter = np.diff(np.log(rate[:, jump - 200 : jump]), axis=1).std(1)
    level = 0.01 / np.sqrt(JUMP**2 * 1.25)  # lr / sqrt(E g^2) after the jump
    close = np.abs(rate[:, jump:] / level - 1) < 0.2
    settle = np.where(close.any(1), close.argmax(1), steps - jump).astype(np.float64)
    return {"jitter": jitter, "settle": settle, "rate": rate, "jump": jump}


def measure(steps: int, seeds: int, lrs, decays) -> dict:
    """The four measurements of item 6."""
    return {
        "moving": moving_target(steps, seeds, lrs),
        "scale": scale_invariance(min(steps, 200)),
        "rates": rates_and_gradients(min(steps, 300), seeds),
        "decay": decay_tradeoff(max(steps, 1000), seeds, decays),
        "lrs": np.asarray(lrs, np.float64),
        "decays": list(decays),
    }


def _moving_row(moving: dict, lrs) -> list[str]:
    seeds = moving["rmsprop"]["error"].shape[1]
    by_lr = {
        f"lr {lr:g}": better(
            moving["rmsprop"]["error"][i],
            moving["adagrad"]["error"][i],
            lower_is_better=True,
        ).startswith("holds")
        and interval(moving["adagrad"]["shrink"][i]).high < 0.5
        for i, lr in enumerate(lrs)
    }
    return [
        "6",
        "Non-stationary target: RMSprop tracks it, Adagrad's steps have shrunk",
        judge_parts(by_lr),
        f"sine target (period {PERIOD} steps, noise {NOISE}), {seeds} seeds, RMS "
        "tracking error over the last third, rmsprop vs adagrad: "
        + "; ".join(
            f"lr {lr:g}: {interval(moving['rmsprop']['error'][i]).text('.3g')} "
            f"vs {interval(moving['adagrad']['error'][i]).text('.3g')}, "
            "Adagrad's late steps "
            f"{interval(moving['adagrad']['shrink'][i]).text('.2g')} of its first"
            for i, lr in enumerate(lrs)
        ),
    ]


def _scale_row(scale: dict) -> list[str]:
    spread = {
        n: float(np.max(np.abs(p - p[1])) / np.max(np.abs(p[1] - p[1, 0])))
        for n, p in scale.items()
    }
    return [
        "6",
        "Scale invariance: rescaling one parameter by c leaves RMSprop's path in "
        "its units unchanged, not SGD's",
        judge_parts(
            {
                "RMSprop's path is unchanged": spread["rmsprop"] < 1e-3,
                "SGD's path changes": spread["sgd"] > 0.1,
            },
            parts=True,
        ),
        "3 (c v1)^2 + 10 v2^2 from (-15, 20), c in 0.1, 1, 10, "
        f"{scale['sgd'].shape[1]} steps, deterministic (no seed): largest "
        "deviation of v1's path from c = 1's, "
        f"over the distance c = 1 travels: rmsprop {spread['rmsprop']:.2g}, sgd "
        f"{spread['sgd']:.3g}",
    ]


def _rates_row(rates: dict) -> list[str]:
    rc, sc = interval(rates["rate_corr"]), interval(rates["step_corr"])
    return [
        "6",
        '"Rates typically decrease as gradients get smaller" (RMSprop)',
        judge_parts(
            {
                "for RMSprop's step |update|": sc.low > 0,
                "for its effective rate lr/sqrt(s + eps)": rc.low > 0,
            }
        ),
        "bowl w1^2 + w2^2, lr 0.01, beta 0.9, "
        f"{rates['rate'].shape[0]} random starts: "
        f"correlation over time of log gradient RMS with log effective rate "
        f"{rc.text('.3g')}, with log |step| {sc.text('.3g')}: the effective rate "
        "rises as the gradients shrink",
    ]


def _decay_row(d: dict, decays) -> list[str]:
    pairs = list(zip(range(len(decays) - 1), range(1, len(decays)), strict=True))
    steadier = all(
        better(d["jitter"][j], d["jitter"][i], lower_is_better=True).startswith("holds")
        for i, j in pairs
    )
    slower = all(
        better(d["settle"][j], d["settle"][i], lower_is_better=False).startswith(
            "holds"
        )
        for i, j in pairs
    )
    return [
        "6",
        "beta trades stability for adaptivity",
        judge_parts(
            {
                "a larger beta is steadier": steadier,
                "a larger beta adapts later": slower,
            },
            parts=True,
        ),
        "RMSprop lr 0.01, gradients 1 + 0.5 noise jumping 10x, "
        f"{d['jitter'].shape[1]} seeds: per beta, jitter of the log effective "
        "rate before the jump and steps "
        "to within 20 % of the new level after it: "
        + "; ".join(
            f"beta {b:g}: {interval(d['jitter'][k]).text('.2g')}, "
            f"{interval(d['settle'][k]).text('.3g')}"
            + (
                " (capped: never within 20 %)"
                if d["settle"][k].min() >= d["jump"]
                else ""
            )
            for k, b in enumerate(decays)
        ),
    ]


def _figure(ctx, m: dict) -> str:
    import matplotlib.pyplot as plt

    from experiments import _plotting as plot

    moving, scale, rates, d, lrs, decays = (
        m["moving"],
        m["scale"],
        m["rates"],
        m["decay"],
        m["lrs"],
        m["decays"],
    )
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    i = len(lrs) // 2
    ax = axes[0, 0]
    ax.plot(moving["rmsprop"]["clean"][:, 0], "k:", label="the target")
    for name, r in moving.items():
        ax.plot(r["ws"][i, :, 0], color=plot.COLORS.get(name), label=name, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("w (seed 0)")
    ax.set_title(f"a moving target, lr {lrs[i]:g}")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for name, ls in (("rmsprop", "-"), ("sgd", "--")):
        for k, c in enumerate((0.1, 1.0, 10.0)):
            ax.plot(scale[name][k], ls, label=f"{name}, c = {c:g}")
    ax.set_xlabel("step")
    ax.set_ylabel("v1, in its own units (w1 = c v1)")
    ax.set_title("one parameter rescaled by c")
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    ax.loglog(rates["rms"][0], rates["rate"][0], label="effective rate lr/sqrt(s+eps)")
    ax.loglog(rates["rms"][0], np.maximum(rates["step"][0], 1e-12), label="|step|")
    ax.set_xlabel("gradient RMS sqrt(s) (falls as training goes on)")
    ax.set_ylabel("rate or step (w1, start 0)")
    ax.set_title("RMSprop on a bowl: rate and step against the gradient's size")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    for k, b in enumerate(decays):
        ax.semilogy(d["rate"][k, :, 0], label=f"beta {b:g}", lw=1)
    ax.axvline(d["jump"], color="k", ls=":", lw=1)
    ax.set_xlabel("step (gradient scale jumps 10x at the dotted line)")
    ax.set_ylabel("effective rate lr/sqrt(s + eps) (seed 0)")
    ax.set_title("beta: steadiness against adaptation")
    ax.legend(fontsize=8)
    fig.tight_layout()
    figure = plot.save(fig, ctx.out, "external_further_claims.png")
    return figure


def judge(ctx, m: dict):
    """Figure, table and verdict rows of item 6; returns ``(blocks, rows)``."""
    rows = [
        _moving_row(m["moving"], m["lrs"]),
        _scale_row(m["scale"]),
        _rates_row(m["rates"]),
        _decay_row(m["decay"], m["decays"]),
    ]
    text = " ".join(f"{r[1]}: {r[2]}." for r in rows)
    return [Figure(_figure(ctx, m), "The demo page's further claims", text)], rows
