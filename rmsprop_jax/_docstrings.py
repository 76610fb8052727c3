"""Text written once and substituted into many docstrings.

A docstring line that holds only ``{{name}}`` is replaced by the text of
``name``, indented as the placeholder is (as Keras substitutes its
``{{base_optimizer_keyword_args}}``). :data:`TEXTS` holds the texts that
more than one factory shares (an argument, the errors of a common check);
the decorators of
:mod:`rmsprop_jax._inputs` render each public factory's docstring with them
(:func:`rendered` those of other public functions),
and the Keras presets add their common arguments'
(:mod:`rmsprop_jax.presets._keras_common`). A placeholder with no text
raises a KeyError when the module that holds it is imported.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

TEXTS = {
    # The choices of ``state_dtype`` in the optimizers and presets, after the
    # words that say which accumulators it stores.
    "state_dtype_choices": """\
None (float32 for 16-bit parameters, else the parameters' dtype), a
floating dtype (``jnp.bfloat16``, ``"bfloat16"``, ...) or ``"int8"``
(block-wise 8-bit); see ``docs/low_precision_states.md``.""",
    # The converters' ``state_dtype``, handed to the preset they build.
    "state_dtype_converter": """\
storage of the preset's float accumulators, passed to it (this library's
argument; the framework's optimizer has none): None (the default rule), a
floating dtype or ``"int8"``; see ``docs/low_precision_states.md``.""",
    # The same for the primitives, which also take ``accumulator_dtype``.
    "state_dtype_primitive_choices": """\
None (the default rule, as ``accumulator_dtype``), a floating dtype
(``jnp.bfloat16``, ``"bfloat16"``, ...: arithmetic in at least float32,
rounded once to nearest-even when stored) or ``"int8"`` (block-wise 8-bit
codes for leaves of at least 4096 elements; see
``docs/low_precision_states.md``).""",
    # ``mu_dtype`` of ``adam`` and ``amsgrad`` (optax's argument).
    "mu_dtype_choices": """\
None or a floating dtype; default float32 for float16/bfloat16
parameters, else the parameters' dtype. With ``state_dtype``, only
the same floating dtype is accepted.""",
    # The errors of adam and amsgrad, which check alike.
    "adam_raises": """\
ValueError: a concrete hyperparameter out of range; ``mu_dtype`` not
  None or a floating dtype, or given with a different ``state_dtype``.""",
    # The errors of torch_adam and torch_adamw, which check alike.
    "torch_adam_raises": """\
ValueError: torch's rules (``lr``, ``eps``, ``weight_decay`` >= 0,
  ``0 <= betas[i] < 1``), or ``betas`` not a pair.
TypeError: ``amsgrad`` or ``maximize`` not a bool.""",
}

# The ``state_dtype`` argument of every preset, after its own arguments.
TEXTS["state_dtype_preset"] = (
    "state_dtype: storage of the preset's float accumulators (this library's\n"
    "  argument; the framework's optimizer has none):\n"
    + textwrap.indent(TEXTS["state_dtype_choices"], "  ")
)
# The whole ``state_dtype`` argument of the optimizers, and of the primitives
# (each primitive adds a line on its int8 codes, indented under it).
TEXTS["state_dtype_optimizer"] = (
    "state_dtype: storage of the optimizer's float accumulators:\n"
    + textwrap.indent(TEXTS["state_dtype_choices"], "  ")
)
TEXTS["state_dtype_primitive"] = (
    "state_dtype: storage of the float accumulators:\n"
    + textwrap.indent(TEXTS["state_dtype_primitive_choices"], "  ")
)


def rendered(function: F) -> F:
    """Decorates a public function that no decorator of
    :mod:`rmsprop_jax._inputs` wraps: its docstring rendered with
    :data:`TEXTS`."""
    function.__doc__ = render(function.__doc__)
    return function


def render(doc: str | None, texts: Mapping[str, str] = TEXTS) -> str | None:
    """``doc`` with each line that is only ``{{name}}`` replaced by
    ``texts[name]``, indented as the placeholder is.

    Raises:
      KeyError: a placeholder that ``texts`` has no text for.
    """
    if doc is None:
        return None
    lines = []
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith("{{") and stripped.endswith("}}"):
            name = stripped[2:-2]
            if name not in texts:
                raise KeyError(
                    f"docstring placeholder {{{{{name}}}}} has no text; "
                    f"known: {sorted(texts)}"
                )
            indent = line[: len(line) - len(line.lstrip())]
            lines += [
                indent + part if part else part for part in texts[name].splitlines()
            ]
        else:
            lines.append(line)
    return "\n".join(lines) + ("\n" if doc.endswith("\n") else "")
