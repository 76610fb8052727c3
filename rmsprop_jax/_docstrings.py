"""Text written once and substituted into many docstrings.

A docstring line that holds only ``{{name}}`` is replaced by the text of
``name``, indented as the placeholder is (as Keras substitutes its
``{{base_optimizer_keyword_args}}``). :data:`TEXTS` holds the texts that
every family of factories shares; the decorators of
:mod:`rmsprop_jax._inputs` render each public factory's docstring with them,
and the Keras presets add their common arguments'
(:mod:`rmsprop_jax.presets._keras_common`). A placeholder with no text
raises a KeyError when the module that holds it is imported.
"""

from __future__ import annotations

from collections.abc import Mapping

TEXTS = {
    # The choices of ``state_dtype`` in the optimizers and presets, after the
    # words that say which accumulators it stores.
    "state_dtype_choices": """\
None (float32 for 16-bit parameters, else the parameters' dtype), a
floating dtype (``jnp.bfloat16``, ``"bfloat16"``, ...) or ``"int8"``
(block-wise 8-bit); see ``docs/low_precision_states.md``.""",
    # The same for the primitives, which also take ``accumulator_dtype``.
    "state_dtype_primitive": """\
None (the default rule, as ``accumulator_dtype``), a floating dtype
(``jnp.bfloat16``, ``"bfloat16"``, ...: arithmetic in at least float32,
rounded once to nearest-even when stored) or ``"int8"`` (block-wise 8-bit
codes for leaves of at least 4096 elements; see
``docs/low_precision_states.md``).""",
}


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
