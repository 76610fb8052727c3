"""Experiments that reproduce, and test, what the theory of RMSprop claims.

``python -m experiments [NAME ...] [--out DIR] [--quick]`` runs them, writes PNG
figures, ``report.md`` and a self-contained ``report.html``. Each experiment is
a module with ``LETTER``, ``TITLE``, ``units(ctx)`` and ``run(ctx) -> Section``;
they use only the public API of ``rmsprop_jax``. ``run`` is three parts, as a
solver's set up / run / judge: ``setup(ctx)`` picks the sizes of the run
(a frozen ``Setup``), ``measure(ctx, s)`` makes ONE call of
:func:`rmsprop_jax.sweep.sweep` (``train_mlp`` a second, over seeds) and
returns the raw measurements (read with the helpers of ``_numerics``), and
``judge(ctx, s, measured)`` draws the figures and decides the claims with
``_report.judge``, or from 95 % intervals with ``_stats`` where the sample is
seeds or landscapes (the worked example has
nothing to set up; ``valley_race``, the short demo, is one ``run``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Experiment name -> letter of the issue; run in this order.
EXPERIMENTS: dict[str, str] = {
    "valley_race": "-",
    "compare_paths": "a",
    "reproduce_worked_example": "b",
    "track_learning_rates": "c",
    "vary_decay": "d",
    "map_amplification": "e",
    "drift_minibatches": "f",
    "stall_adagrad": "g",
    "escape_saddle": "g",
    "start_steep": "g",
    "train_mlp": "h",
}
# Sections run only when named (``--only external``): longer, and measured
# against other people's problems and numbers.
EXTRA: dict[str, str] = {"external": "x"}


def load(name: str) -> ModuleType:
    """The module of experiment ``name``."""
    return importlib.import_module(f"experiments.{name}")


def resolve(selection: list[str]) -> list[str]:
    """Experiment names for names or letters (empty: all of
    :data:`EXPERIMENTS`; the :data:`EXTRA` sections run only when named), in
    run order.

    Raises:
      ValueError: an unknown name or letter.
    """
    if not selection:
        return list(EXPERIMENTS)
    every = {**EXPERIMENTS, **EXTRA}
    unknown = [s for s in selection if s not in every and s not in every.values()]
    if unknown:
        raise ValueError(
            f"unknown experiment(s) {', '.join(unknown)}; choose from "
            f"{', '.join(every)} or the letters a-h, x."
        )
    return [n for n, letter in every.items() if n in selection or letter in selection]
