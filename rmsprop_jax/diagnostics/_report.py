"""Summaries to log: statistics of every leaf, under readable keys."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from rmsprop_jax import _checks
from rmsprop_jax.diagnostics import _find, _rates

STATISTICS: tuple[str, ...] = ("min", "median", "max", "mean")
"""The statistics :func:`summarize` can compute."""

_REDUCE: dict[str, Callable[[jax.Array], jax.Array]] = {
    "min": jnp.min,
    "median": jnp.median,
    "max": jnp.max,
    "mean": jnp.mean,
}
_NAN_REDUCE: dict[str, Callable[[jax.Array], jax.Array]] = {
    "min": jnp.nanmin,
    "median": jnp.nanmedian,
    "max": jnp.nanmax,
    "mean": jnp.nanmean,
}

# The statistic of the rates of weights whose second moment is still zero.
WITHOUT_GRADIENT = "max_without_gradient"


def _check(statistics: Sequence[str]) -> None:
    for name in statistics:
        _checks.check_choice("statistics", name, STATISTICS)


def _statistic(stat: str, leaf: jax.Array, mask: jax.Array | None) -> jax.Array:
    """``stat`` of ``leaf`` (where ``mask``); NaN for no element."""
    leaf = jnp.asarray(leaf)
    if leaf.size == 0:
        return jnp.full((), jnp.nan, jnp.result_type(leaf.dtype, float))
    if mask is None:
        return _REDUCE[stat](leaf)
    return _NAN_REDUCE[stat](jnp.where(mask, leaf, jnp.nan))


def summarize(
    trees: Mapping[str, Any],
    statistics: Sequence[str] = ("min", "median", "max"),
) -> dict[str, jax.Array]:
    """Summary statistics of every leaf, as a flat dict of scalars.

    Cheap enough to log every step under ``jit``: min, max and mean are single
    reductions; the median sorts each leaf (drop it for very large leaves).
    Masked-out leaves (``optax.MaskedNode``) and ``None`` are skipped; a leaf
    with no element gives NaN.

    Args:
      trees: a dict of trees, e.g. the output of
        :func:`effective_learning_rates` or :func:`gradient_rms`.
      statistics: any of ``"min"``, ``"median"``, ``"max"``, ``"mean"``.

    Returns:
      ``{"<key>/<leaf path>/<statistic>": scalar}``, keys sorted (the order in
      which a jitted function returns a dict), so CSV columns are stable.

    Raises:
      ValueError: an unknown statistic.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax.diagnostics import summarize
      >>> stats = summarize({"0": {"w": jnp.array([1.0, 2.0, 10.0])}})
      >>> {k: float(v) for k, v in stats.items()}
      {'0/w/max': 10.0, '0/w/median': 2.0, '0/w/min': 1.0}
    """
    _check(statistics)
    out = {}
    for key, tree in trees.items():
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            name = "/".join(part for part in (key, _find.key(path)) if part)
            for stat in statistics:
                out[f"{name}/{stat}" if name else stat] = _statistic(stat, leaf, None)
    return dict(sorted(out.items()))


def _names(found: list[_find.Found], factory: str | None) -> dict[str, str]:
    """A readable name per state key: the optimizer (or the state's type),
    with the state's key path only where two states would share it."""
    base = {_find.key(f.path): factory or type(f.state).__name__ for f in found}
    counts: dict[str, int] = {}
    for name in base.values():
        counts[name] = counts.get(name, 0) + 1
    return {
        key: name if counts[name] == 1 else f"{name}[{key}]"
        for key, name in base.items()
    }


def report(
    opt_state: optax.OptState,
    learning_rate: ArrayLike | None = None,
    eps: ArrayLike | None = None,
    *,
    optimizer: Any = None,
    statistics: Sequence[str] = ("min", "median", "max"),
    eps_in_sqrt: bool | None = None,
    bias_correction: bool | None = None,
    decay: ArrayLike | None = None,
    steps: ArrayLike | None = None,
) -> dict[str, jax.Array]:
    r"""Summaries of the effective learning rates and gradient RMS, to log.

    ``effective_learning_rate/<optimizer>/<parameter>/<statistic>`` and
    ``gradient_rms/<optimizer>/<parameter>/<statistic>``: a flat dict of
    scalars with fixed keys, ready for a CSV row or a TensorBoard scalar per
    key. ``<optimizer>`` is the declaring factory's name (the state's type
    without ``optimizer``; with the state's key path where two states would
    share a name), ``<parameter>`` the parameter's path.

    The rates of weights that never had a nonzero gradient (their second
    moment is still zero: the rate there is :math:`\eta/\sqrt\epsilon` or
    :math:`\eta/\epsilon`, which would dominate the maximum) are left out of
    the statistics and reported on their own as
    ``effective_learning_rate/<optimizer>/<parameter>/max_without_gradient``
    (NaN where every weight had a gradient; a statistic over no weight is
    NaN).

    Args:
      opt_state: any optimizer state, possibly nested in optax wrappers.
      learning_rate: as in :func:`effective_learning_rates`.
      eps: as in :func:`effective_learning_rates`.
      optimizer: as in :func:`effective_learning_rates`.
      statistics: as in :func:`summarize`.
      eps_in_sqrt: as in :func:`effective_learning_rates`.
      bias_correction: as in :func:`effective_learning_rates`.
      decay: as in :func:`effective_learning_rates`.
      steps: as in :func:`effective_learning_rates`; needed for Adagrad outside
        ``inject_hyperparams``.

    Returns:
      The flat dict of scalars, keys sorted.

    Raises:
      ValueError: as :func:`effective_learning_rates` and
        :func:`gradient_rms`, or an unknown statistic.
      TypeError: ``optimizer`` declares nothing.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rmsprop_jax import rmsprop
      >>> from rmsprop_jax.diagnostics import report
      >>> tx = rmsprop(0.01)
      >>> w = {"b": jnp.zeros(3)}
      >>> _, state = tx.update({"b": jnp.array([1.0, 2.0, 0.0])}, tx.init(w), w)
      >>> row = report(state, optimizer=tx, statistics=("max",))
      >>> {k: round(float(v), 4) for k, v in row.items()}
      {'effective_learning_rate/rmsprop/b/max': 0.0316,
       'effective_learning_rate/rmsprop/b/max_without_gradient': 100.0,
       'gradient_rms/rmsprop/b/max': 0.6325}
    """
    _check(statistics)
    declaration = _rates.resolve_declaration(optimizer)
    rates = _rates.effective_learning_rates(
        opt_state,
        learning_rate,
        eps,
        optimizer=declaration,
        eps_in_sqrt=eps_in_sqrt,
        bias_correction=bias_correction,
        decay=decay,
        steps=steps,
    )
    rms = _rates.gradient_rms(
        opt_state,
        optimizer=declaration,
        bias_correction=bias_correction,
        decay=decay,
        steps=steps,
    )
    found = list(_find.walk(opt_state))
    factory = None if declaration is None else declaration.factory
    names = _names(found, factory)
    names.setdefault("", factory or "")
    out: dict[str, jax.Array] = {}
    for f in found:
        key = _find.key(f.path)
        fields = f.fields
        assert fields is not None
        seen = None
        if fields.divisor is not None:  # zero second moment: no gradient yet
            seen = jax.tree.map(lambda r: r > 0, getattr(f.state, fields.divisor))
        _add(out, f"effective_learning_rate/{names[key]}", rates[key], seen, statistics)
        if key in rms:
            _add(out, f"gradient_rms/{names[key]}", rms[key], None, statistics)
    if "" in rates:  # no preconditioner: one rate for every parameter
        prefix = "/".join(p for p in ("effective_learning_rate", names[""]) if p)
        for stat in statistics:
            out[f"{prefix}/{stat}"] = rates[""]
    return dict(sorted(out.items()))


def _add(
    out: dict[str, jax.Array],
    prefix: str,
    tree: Any,
    seen: Any,
    statistics: Sequence[str],
) -> None:
    """The statistics of every leaf of ``tree`` (over ``seen`` weights, and
    the maximum over the others, where ``seen`` is given)."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    masks = [None] * len(flat) if seen is None else jax.tree.leaves(seen)
    for (path, leaf), mask in zip(flat, masks, strict=True):
        name = "/".join(part for part in (prefix, _find.key(path)) if part)
        for stat in statistics:
            out[f"{name}/{stat}"] = _statistic(stat, leaf, mask)
        if mask is not None:
            out[f"{name}/{WITHOUT_GRADIENT}"] = _statistic("max", leaf, ~mask)
