"""How the sweep's program is compiled: the compiler policy for XLA:CPU.

Two forms of the same program, chosen per program and argument shapes:

* **A kernel per fusion** (XLA's usual form), with LLVM at level 1 instead
  of XLA:CPU's default 3: 30% less compile time for a batched scan on
  Rosenbrock (13% for the MLP), the same run time
  (benchmarks/RESULTS_sweep.md). Other backends keep their defaults.
* **One kernel.** XLA:CPU compiles every fusion of a program as a kernel of
  its own, at a fixed 12-16 ms of CPU each; a sweep of a small element-wise
  problem (a 2-D landscape) has about 25 of them, so its compilation costs
  several times the run. XLA:CPU also knows how to emit a whole called
  computation as one kernel -- the form its own small-while-loop pass gives
  to small loops: a ``call`` tagged ``xla_cpu_small_call``, kept from
  inlining by ``inlineable="false"``. The sweep asks for that form where
  every operation of the program is one this emitter handles
  (:func:`_fits_one_kernel`) and every array of the program is small: the
  values are the same up to rounding (the arithmetic is fused differently),
  the compilation 3-4x cheaper and the run no slower. LLVM level 2: the one
  kernel's loops vectorised.

The two frontend attributes are XLA's own, but no XLA document names them:
the one-kernel form is used only with the jax versions in
:data:`ONE_KERNEL_JAX_VERSIONS`, where it is tested to take effect
(``tests/test_sweep_one_kernel.py`` reads the compiled module), and only
while :func:`use_one_kernel` leaves it on. Elsewhere every program is
compiled the usual way.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

try:  # both in jax 0.10; without them every program compiles as it is
    from jax.experimental.xla_metadata import set_xla_metadata
    from jax.extend.core import jaxprs_in_params
except ImportError:  # pragma: no cover
    set_xla_metadata = jaxprs_in_params = None  # type: ignore[assignment]

ONE_KERNEL_JAX_VERSIONS: tuple[tuple[int, ...], tuple[int, ...]] = ((0, 10, 2), (0, 11))
"""``(first, end)``: the jax versions ``first <= v < end`` in which the
one-kernel form is known to take effect (tested with jax/jaxlib 0.10.2)."""

CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
"""The XLA:CPU compiler options of a sweep's program compiled a kernel per
fusion, for ``jax.jit(..., compiler_options=...)``: LLVM at level 1 instead
of XLA:CPU's default 3 (30 % less compile time for a batched scan on
Rosenbrock, 13 % for an MLP, the same run time; benchmarks/RESULTS_sweep.md).
Other backends keep their defaults."""
ONE_KERNEL_COMPILER_OPTIONS = {"xla_backend_optimization_level": 2}
_ONE_KERNEL_TAGS = {"inlineable": "false", "xla_cpu_small_call": "true"}

# Primitives the one-kernel emitter handles: element-wise arithmetic and
# comparisons, shapes and slices, control flow, nested calls; reductions and
# scatters only in the small forms XLA:CPU rewrites before emitting (below).
_ELEMENTWISE = frozenset(
    """abs acos acosh add add_any and asin asinh atan atan2 atanh
    bitcast_convert_type cbrt ceil clamp convert_element_type copy copy_p cos
    cosh div eq exp exp2 expm1 floor ge gt integer_pow is_finite le log log1p
    logistic lt max min mul ne neg not or pow rem round rsqrt select_n
    shift_left shift_right_arithmetic shift_right_logical sign sin sinh sqrt
    square sub tan tanh xor""".split()
)
_STRUCTURAL = frozenset(
    """broadcast_in_dim concatenate dynamic_slice dynamic_update_slice
    expand_dims iota optimization_barrier pad reshape rev slice split squeeze stack
    transpose""".split()
)
_CONTROL = frozenset(
    """closed_call cond custom_jvp_call custom_vjp_call jit pjit scan while""".split()
)
_REDUCTIONS = frozenset(
    "reduce_and reduce_max reduce_min reduce_or reduce_prod reduce_sum".split()
)
# A reduction over more elements becomes a reduction fusion, which the one
# kernel cannot hold (measured: sums over 4 elements pass, over 8 fail).
_MAX_REDUCED = 4
# Largest result (elements) of an element-wise operation in a one-kernel
# program; beyond it the thunk runtime's multi-threaded kernels may win on a
# many-core machine.
_MAX_ELEMENTS = 1 << 16
# The choices kept (most recent last); bounded, since a key holds the user's
# loss function and factories alive (jax's own caches hold them until cleared).
_CHOICES_KEPT = 64

_enabled = True


def use_one_kernel(enabled: bool) -> bool:
    """Turns the sweep's one-kernel compilation on XLA:CPU on or off.

    On (the default), a sweep whose program is made only of small
    element-wise steps (a 2-D landscape, say) is compiled as one XLA:CPU
    kernel instead of one per fusion: the same values up to rounding, 3-4x
    less compile time. It relies on two XLA frontend attributes that no XLA
    document names (``inlineable="false"``, ``xla_cpu_small_call="true"``),
    so it is only used with jax ``0.10.2 <= version < 0.11``
    (:data:`ONE_KERNEL_JAX_VERSIONS`), where a test reads the compiled
    module and finds one kernel. Off, or outside those versions, or on
    another backend, every program is compiled the usual way (a kernel per
    fusion): slower to compile, the same results up to rounding.

    Args:
      enabled: whether later sweeps may use the one-kernel form.

    Returns:
      The previous setting.

    Raises:
      TypeError: ``enabled`` is not a bool.

    Examples:
      >>> from rmsprop_jax.sweep import use_one_kernel
      >>> previous = use_one_kernel(False)  # every sweep compiled as usual
      >>> use_one_kernel(previous)
      False
    """
    global _enabled
    if not isinstance(enabled, bool):
        raise TypeError(f"`enabled` must be a bool, got {enabled!r}.")
    previous, _enabled = _enabled, enabled
    return previous


def _jax_version() -> tuple[int, ...]:
    info = getattr(jax, "__version_info__", None)
    if info is None:  # pragma: no cover
        info = tuple(int(p) for p in jax.__version__.split(".")[:3] if p.isdigit())
    return tuple(info)


def one_kernel_supported() -> bool:
    """Whether this jax is one where the one-kernel form is known to work."""
    first, end = ONE_KERNEL_JAX_VERSIONS
    return set_xla_metadata is not None and first <= _jax_version() < end


def _fits_one_kernel(jaxpr: Any) -> bool:
    """Whether every equation of ``jaxpr`` (recursively) fits one kernel."""
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name in _REDUCTIONS:
            shape = eqn.invars[0].aval.shape
            if math.prod(shape[a] for a in eqn.params["axes"]) > _MAX_REDUCED:
                return False
        elif name == "scatter":  # one window: a batched dynamic_update_slice
            indices = eqn.invars[1].aval.shape
            if math.prod(indices[:-1]) != 1:
                return False
        elif name in _ELEMENTWISE:  # the work of a step (buffers may be larger)
            if any(math.prod(v.aval.shape) > _MAX_ELEMENTS for v in eqn.outvars):
                return False
        elif not (name in _STRUCTURAL or name in _CONTROL):
            return False
        if not all(_fits_one_kernel(sub) for sub in jaxprs_in_params(eqn.params)):
            return False
    return True


def _signature(program: Any, args: tuple) -> Any:
    leaves, treedef = jax.tree.flatten(args)
    shapes = tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves)
    return program, treedef, shapes


def one_kernel_call(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` as a nested jitted call tagged to be one XLA:CPU kernel
    (``args[0]`` static): what a program split over devices asks for each
    device's block, inside its ``shard_map``."""
    out = jax.jit(fn, static_argnums=(0, 1))(*args)
    return set_xla_metadata(out, **_ONE_KERNEL_TAGS)


def _fits_blocks(jaxpr: Any) -> bool:
    """For a program split over a mesh: whether every ``shard_map`` body
    (each device's block) fits one kernel; the collectives outside stay."""
    bodies = [
        sub
        for eqn in jaxpr.eqns
        if eqn.primitive.name == "shard_map"
        for sub in jaxprs_in_params(eqn.params)
    ]
    return bool(bodies) and all(_fits_one_kernel(b) for b in bodies)


class Compiler:
    """``fn(program, one_kernel, *args)`` jitted with ``program`` and
    ``one_kernel`` static, compiled by the policy above; remembers its
    one-kernel choices in an LRU. ``one_kernel=True`` asks ``fn`` to tag its
    per-device blocks itself (programs over a mesh: ``program.options.mesh``);
    otherwise the whole program's call is tagged here."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.jit = jax.jit(fn, static_argnums=(0, 1))

        def untagged(program: Any, *args: Any) -> Any:
            return self.jit(program, False, *args)  # the program as it is

        def tagged(program: Any, *args: Any) -> Any:
            if program.options.mesh is not None:
                return self.jit(program, True, *args)
            out = self.jit(program, False, *args)
            return set_xla_metadata(out, **_ONE_KERNEL_TAGS)

        self.untagged, self.tagged = untagged, tagged
        self.per_fusion = self.jitted(one_kernel=False)
        self.one_kernel = self.jitted(one_kernel=True)
        self.choices: collections.OrderedDict[Any, bool] = collections.OrderedDict()

    def jitted(self, *, one_kernel: bool, **extra_options: Any) -> Any:
        """The CPU form, with ``extra_options`` added to its compiler options."""
        fn = self.tagged if one_kernel else self.untagged
        options = ONE_KERNEL_COMPILER_OPTIONS if one_kernel else CPU_COMPILER_OPTIONS
        return jax.jit(fn, static_argnums=0, compiler_options=options | extra_options)

    def remember(self, key: Any, choice: bool) -> bool:
        self.choices[key] = choice
        self.choices.move_to_end(key)
        while len(self.choices) > _CHOICES_KEPT:
            self.choices.popitem(last=False)
        return choice

    def choice(self, program: Any, args: tuple) -> bool:
        """Whether ``program`` on ``args`` is compiled as one kernel (traced
        once to see; the trace is cached, so the call does not repeat it)."""
        key = _signature(program, args)
        one = self.choices.get(key)
        if one is None:
            jaxpr = self.jit.trace(program, False, *args).jaxpr.jaxpr
            fits = _fits_one_kernel if program.options.mesh is None else _fits_blocks
            one = self.remember(key, fits(jaxpr))
        return one

    def __call__(self, program: Any, *args: Any) -> Any:
        if jax.default_backend() != "cpu":
            return self.jit(program, False, *args)
        if not (_enabled and one_kernel_supported()):
            return self.per_fusion(program, *args)
        if self.choice(program, args):
            try:
                return self.one_kernel(program, *args)
            except jax.errors.JaxRuntimeError as err:
                if "UNIMPLEMENTED" not in str(err):
                    raise
                self.remember(_signature(program, args), False)  # emitter lacks one
        return self.per_fusion(program, *args)
