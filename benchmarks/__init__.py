"""Benchmarks of rmsprop_jax: one script per question, run as modules from the
repository root (``python -m benchmarks.step``), results in ``RESULTS*.md``.

- ``cases``: the problems and optimizer pairs that ``step`` and ``hlo_passes``
  measure;
- ``step``: one optimizer step against optax and torch.optim, with bandwidth
  ceilings;
- ``hlo_passes``: the memory passes of the compiled step, read from its HLO;
- ``single_pass``: whether an RMSprop step can run in one pass on XLA:CPU;
- ``sweep``, ``sweep_profile``, ``sweep_figure``: a hyperparameter grid as one
  compiled program against hand-written loops.
"""
