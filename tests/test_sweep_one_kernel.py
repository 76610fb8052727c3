"""The sweep's one-kernel compilation on XLA:CPU: the values of the
kernel-per-fusion program up to rounding (XLA fuses the arithmetic
differently), chosen only for programs and shapes it can hold, really one
kernel in the compiled module (read from XLA's dump), a refusal by the
compiler falls back to the usual program, and ``use_one_kernel(False)`` or a
jax outside ``ONE_KERNEL_JAX_VERSIONS`` compiles the usual program."""

from __future__ import annotations

import collections
import json
import os
import pathlib
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmsprop_jax as rj
from rmsprop_jax.sweep import _compile, _program, grid, sweep, use_one_kernel

pytestmark = pytest.mark.skipif(
    jax.default_backend() != "cpu", reason="the one-kernel form is XLA:CPU's"
)
compiler = _program.run


def rosenbrock(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def chained(w):  # a sum over the parameters: a reduction over w.size elements
    return jnp.sum((1 - w[:-1]) ** 2 + 10 * (w[1:] - w[:-1] ** 2) ** 2)


@pytest.fixture
def calls(monkeypatch):
    """The (program, *args) of every sweep call, with a fresh choice cache."""
    seen = []

    def spy(program, *args):
        seen.append((program, *args))
        return compiler(program, *args)

    monkeypatch.setattr(_program, "run", spy)
    monkeypatch.setattr(compiler, "choices", collections.OrderedDict())
    return seen


def choice(call) -> bool:
    """The one-kernel choice made for a recorded ``(program, *args)``."""
    program, *args = call
    return compiler.choices[_compile._signature(program, tuple(args))]


def assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def kernels(call, where: pathlib.Path, one_kernel: bool) -> tuple[list[str], str]:
    """The LLVM kernel modules XLA:CPU emits for a recorded call (from its
    dump of the compiled module, written under ``where``) and the optimized
    HLO's entry computation. Only a compilation dumps: with JAX's persistent
    cache on, an executable read from it (its key leaves ``xla_dump_to``
    out) writes nothing -- see :func:`test_where_used_the_compiled_module_is_one_kernel`."""
    program, *args = call
    where = where / ("one" if one_kernel else "per_fusion")
    jitted = compiler.jitted(one_kernel=one_kernel, xla_dump_to=str(where))
    compiled = jitted.lower(program, *args).compile()
    modules = sorted(p.name for p in where.glob("*.ir-with-opt.ll"))
    text = compiled.as_text()
    return modules, text[text.index("ENTRY") :].split("\n}\n")[0]


@pytest.mark.slow
def test_one_kernel_equals_one_kernel_per_fusion_to_rounding(calls):
    # Every optimizer family, records thinned, on settings that do not
    # amplify a last-bit difference (XLA fuses the arithmetic differently, so
    # a chaotic or diverging run may part after a few steps).
    optimizers = {
        "rmsprop": lambda learning_rate: rj.rmsprop(
            learning_rate, centered=True, momentum=0.5
        ),
        "rmsprop_corrected": lambda learning_rate: rj.rmsprop(
            learning_rate, bias_correction=True, momentum=0.5
        ),
        "adam": rj.adam,
        "laprop": rj.laprop,
        "sgd": lambda learning_rate: rj.sgd(learning_rate, 0.9, nesterov=True),
        "adagrad": rj.adagrad,
        "sign": rj.sign_sgd,
        "rprop": rj.rprop,
    }
    sweep(
        optimizers,
        rosenbrock,
        jnp.array([-1.5, 2.0]),
        grid(learning_rate=[1e-4, 1e-3]),
        steps=30,
        record=("loss", "params", "effective_lr"),
        record_every=4,
    )
    groups = [c for c in calls if choice(c)]
    assert groups  # every group took the one-kernel form
    for program, *args in groups:
        one = compiler.one_kernel(program, *args)
        per_fusion = compiler.per_fusion(program, *args)
        for x, y in zip(jax.tree.leaves(one), jax.tree.leaves(per_fusion), strict=True):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=2e-5)


def test_diverging_runs_diverge_in_both_forms(calls):
    sweep(
        rj.rmsprop,
        rosenbrock,
        jnp.array([-1.5, 2.0]),
        grid(decay=[0.0, 0.9], learning_rate=[1e-3, 10.0]),
        steps=30,
    )
    (program, *args) = calls[-1]
    assert choice(calls[-1]) is True
    one = compiler.one_kernel(program, *args)
    per_fusion = compiler.per_fusion(program, *args)
    np.testing.assert_array_equal(one[0]["diverged"], per_fusion[0]["diverged"])
    assert bool(np.any(one[0]["diverged"])) and not bool(np.all(one[0]["diverged"]))


def test_the_choice_is_made_per_argument_shapes(calls):
    # The same program (factory, loss, steps) at another parameter count is
    # checked again: 4 parameters fit one kernel, 8 do not (a reduction).
    for n, holds in ((4, True), (8, False), (4, True)):
        sweep(rj.rmsprop, chained, jnp.zeros(n), grid(learning_rate=[0.01]), steps=5)
        assert choice(calls[-1]) is holds
    assert len(compiler.choices) == 2


def test_the_choices_kept_are_bounded(monkeypatch):
    monkeypatch.setattr(compiler, "choices", collections.OrderedDict())
    for i in range(_compile._CHOICES_KEPT + 10):
        compiler.remember(("key", i), True)
    assert len(compiler.choices) == _compile._CHOICES_KEPT
    assert ("key", 0) not in compiler.choices  # the oldest went first


@pytest.mark.parametrize(
    "loss, params, holds",
    [
        (rosenbrock, jnp.array([-1.5, 2.0]), True),
        (chained, jnp.zeros(4), True),  # sums over 4 elements
        (chained, jnp.zeros(8), False),  # a reduction fusion
        (lambda w: jnp.sum((jnp.eye(3) @ w) ** 2), jnp.ones(3), False),  # a dot
    ],
)
def test_the_choice_follows_what_one_kernel_can_hold(calls, loss, params, holds):
    result = sweep(rj.rmsprop, loss, params, grid(learning_rate=[0.01]), steps=5)
    assert choice(calls[-1]) is holds
    assert np.all(np.isfinite(result.losses))


def test_a_refused_one_kernel_falls_back(calls, monkeypatch):
    def call():
        return sweep(
            rj.rmsprop,
            rosenbrock,
            jnp.array([-1.5, 2.0]),
            grid(learning_rate=[1e-3, 0.1]),
            steps=10,
        )

    expected = call()

    def refuse(program, *args):
        raise jax.errors.JaxRuntimeError("UNIMPLEMENTED: an operation")

    monkeypatch.setattr(compiler, "choices", collections.OrderedDict())
    monkeypatch.setattr(compiler, "one_kernel", refuse)
    assert_same(call().losses, expected.losses)
    assert list(compiler.choices.values()) == [False]  # not asked again
    assert_same(call().final_loss, expected.final_loss)

    def fail(program, *args):
        raise jax.errors.JaxRuntimeError("INTERNAL: something else")

    monkeypatch.setattr(compiler, "choices", collections.OrderedDict())
    monkeypatch.setattr(compiler, "one_kernel", fail)
    with pytest.raises(jax.errors.JaxRuntimeError, match="INTERNAL"):
        call()


needs_known_jax = pytest.mark.skipif(
    not _compile.one_kernel_supported(),
    reason=f"jax {jax.__version__} is outside ONE_KERNEL_JAX_VERSIONS "
    f"{_compile.ONE_KERNEL_JAX_VERSIONS}: the one-kernel form is not used there "
    "(test_outside_the_known_versions_the_plain_program_is_compiled)",
)


# Run in a process of its own with JAX's persistent compilation cache off
# (whatever the environment says, JAX_COMPILATION_CACHE_DIR included): a
# program the cache already holds is read, not compiled, and leaves no dump.
_DUMP_CHILD = """
import json, pathlib, sys
import jax
jax.config.update("jax_enable_compilation_cache", False)
import jax.numpy as jnp
import rmsprop_jax as rj
from rmsprop_jax.sweep import _program, grid, sweep
import test_sweep_one_kernel as here
seen = []
run = _program.run
def spy(program, *args):
    seen.append((program, *args))
    return run(program, *args)
_program.run = spy
sweep(rj.adam, here.rosenbrock, jnp.array([-1.5, 2.0]), grid(b1=[0.5, 0.9]), steps=20)
where = pathlib.Path(sys.argv[1])
print(json.dumps({
    "chosen": here.choice(seen[-1]),
    "one": here.kernels(seen[-1], where, one_kernel=True),
    "per_fusion": here.kernels(seen[-1], where, one_kernel=False),
}))
"""


@needs_known_jax
def test_where_used_the_compiled_module_is_one_kernel(tmp_path):
    """Reads what XLA:CPU compiled: should a jaxlib rename or drop the
    frontend attributes, the tag would silently do nothing; this fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(pathlib.Path(__file__).parent), env.get("PYTHONPATH", "")]
    )
    child = subprocess.run(
        [sys.executable, "-c", _DUMP_CHILD, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    found = json.loads(child.stdout.splitlines()[-1])
    assert found["chosen"] is True
    modules, entry = found["one"]
    # One LLVM module with one kernel: the called computation, whole.
    assert len(modules) == 1 and modules[0].endswith(
        "_computation_kernel_module.ir-with-opt.ll"
    ), modules
    # The entry computation is the parameters and one call, tagged and kept.
    body = [line for line in entry.splitlines()[1:] if "parameter(" not in line]
    assert len(body) == 1 and " call(" in body[0], entry
    assert re.search(r'xla_cpu_small_call="true"', body[0]), body[0]
    # The usual form of the same program: a kernel per fusion.
    modules, entry = found["per_fusion"]
    assert len(modules) > 10, modules
    assert "fusion(" in entry


def test_use_one_kernel_switches_it_off(calls, monkeypatch):
    def refuse(program, *args):
        raise AssertionError("the one-kernel form was used while switched off")

    def call():
        return sweep(
            rj.rmsprop, rosenbrock, jnp.array([-1.5, 2.0]), grid(decay=[0.5]), steps=9
        )

    monkeypatch.setattr(compiler, "one_kernel", refuse)
    previous = use_one_kernel(False)
    try:
        off = call()
    finally:
        assert use_one_kernel(previous) is False
    assert previous is True
    assert not compiler.choices  # not even traced to look
    program, *args = calls[-1]
    assert_same(off.losses, compiler.per_fusion(program, *args)[0]["losses"])
    with pytest.raises(TypeError, match="`enabled` must be a bool, got 0"):
        use_one_kernel(0)


def test_outside_the_known_versions_the_plain_program_is_compiled(calls, monkeypatch):
    monkeypatch.setattr(_compile, "ONE_KERNEL_JAX_VERSIONS", ((0, 1), (0, 2)))
    assert not _compile.one_kernel_supported()
    used = []
    one_kernel = compiler.one_kernel
    monkeypatch.setattr(
        compiler, "one_kernel", lambda *a: used.append(a) or one_kernel(*a)
    )
    sweep(rj.rmsprop, rosenbrock, jnp.array([-1.5, 2.0]), grid(decay=[0.5]), steps=9)
    assert not used and not compiler.choices
