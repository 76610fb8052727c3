"""JAX's persistent compilation cache as the project's entry points use it.

``python -m experiments`` and ``python -m rmsprop_jax.explorer`` keep their
compiled programs in one directory, :func:`default_directory`, so that a
later run reads them back instead of compiling them again. A script of your
own can do the same with :func:`enable`.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_directory", "enable"]


def default_directory() -> Path:
    """``$XDG_CACHE_HOME/rmsprop_jax/jax``, or ``~/.cache/rmsprop_jax/jax``
    without ``XDG_CACHE_HOME``: the directory the demo and the explorer share
    (JAX keys every entry by the program and the jax version, so sharing is
    safe).

    Examples:
      >>> from rmsprop_jax import compilation_cache
      >>> compilation_cache.default_directory().parts[-2:]
      ('rmsprop_jax', 'jax')
    """
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rmsprop_jax" / "jax"


def enable(directory: str | os.PathLike[str]) -> Path:
    """Keep every compiled program of this process in ``directory`` (created
    if missing): ``jax_compilation_cache_dir`` set to it and
    ``jax_persistent_cache_min_compile_time_secs`` to 0, since JAX otherwise
    keeps only programs that took over a second to compile and most of a
    sweep's compile in well under one. Call it before the process's first
    compilation: JAX opens its cache once.

    Args:
      directory: where the programs are kept (``str`` or path).

    Returns:
      The directory, as a ``Path``.

    Examples:
      >>> import tempfile
      >>> import jax
      >>> from rmsprop_jax import compilation_cache
      >>> before = jax.config.jax_compilation_cache_dir
      >>> where = compilation_cache.enable(tempfile.mkdtemp())
      >>> jax.config.jax_compilation_cache_dir == str(where)
      True
      >>> jax.config.update("jax_compilation_cache_dir", before)  # as it was
    """
    import jax

    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return path
