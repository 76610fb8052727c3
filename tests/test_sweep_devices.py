"""``sweep(..., devices=...)``: the runs split over devices, one program.

The device count of a JAX process is fixed when its backend starts, so the
tests on 4 simulated CPU devices run in a subprocess started by
:func:`test_on_4_simulated_cpu_devices` with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``; their names start with
``multidevice_`` so that only that subprocess collects them. The rest runs
here on one device: bad input, and a one-device mesh equal to the default.
Across processes: ``tests/test_sweep_multiprocess.py``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
import sweep_devices_cases as cases
from helpers import run_multidevice
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P

import rmsprop_jax as rj
from rmsprop_jax.sweep import _compile, _program, grid, sweep

DEVICES = 4
compiler = _program.run  # the sweep's compiler (conftest's `calls` spy replaces run)


@pytest.mark.slow
def test_on_4_simulated_cpu_devices():
    passed, out = run_multidevice(__file__, DEVICES, timeout=900)
    # One test per case, and the five below it.
    assert passed == len(cases.CASES) + 5, out
    assert "skipped" not in out, out


@pytest.fixture
def four():
    if jax.device_count() != DEVICES:
        pytest.skip(f"needs {DEVICES} devices; run by test_on_4_simulated_cpu_devices")
    return jax.devices()


# --- on one device, here ----------------------------------------------------------


def quadratic_sweep(devices):
    return sweep(
        rj.rmsprop,
        cases.bowl,
        jnp.array([1.0, -2.0]),
        grid(learning_rate=[0.01, 0.1]),
        steps=5,
        devices=devices,
    )


@pytest.mark.parametrize(
    "devices, match",
    [
        ([], "`devices` is empty"),
        (["cpu"], "`devices` must hold jax devices .* got str: 'cpu'"),
        ("cpu", "`devices` must be None, a sequence of devices .* got str"),
        (4, "`devices` must be None, a sequence of devices .* got int"),
        (
            lambda: jax.devices()[0],
            r"`devices` must be a sequence .* the single device .* did you mean",
        ),
        (lambda: [jax.devices()[0]] * 2, "`devices` names a device twice"),
        (
            lambda: jax.make_mesh((1, 1), ("a", "b")),
            r"`devices` must be a mesh with one axis .* \('a', 'b'\)",
        ),
    ],
)
def test_bad_devices_raise(devices, match):
    if callable(devices):
        devices = devices()
    with pytest.raises(ValueError, match=match):
        quadratic_sweep(devices)


@pytest.mark.slow  # over 8 s; the full suite runs it
def test_one_device_mesh_equals_the_default_device():
    for name, case in cases.CASES.items():
        expected = case(None)
        got = case(jax.devices())
        assert expected.devices == got.devices == (jax.devices()[0],), name
        cases.assert_same(cases.arrays(got), cases.arrays(expected))


def test_result_devices_is_the_default_device_without_devices():
    assert quadratic_sweep(None).devices == (jax.devices()[0],)


# --- on 4 simulated devices, in the subprocess -------------------------------------


@pytest.mark.parametrize("name", sorted(cases.CASES))
def multidevice_split_runs_equal_one_device(four, name):
    expected = cases.CASES[name](None)
    assert expected.devices == (four[0],)
    for devices in (four, four[1:]):  # 4 and 3 devices
        got = cases.CASES[name](devices)
        assert got.devices == tuple(devices)
        # No padding shows: every array has the shape of one device's.
        cases.assert_same(cases.arrays(got), cases.arrays(expected))
        assert got.grid.configs() == expected.grid.configs()
        assert got.table() == expected.table()


def multidevice_a_one_axis_mesh(four):
    mesh = jax.make_mesh((2,), ("batch",), devices=four[2:])
    got = cases.rosenbrock_records(mesh)
    assert got.devices == tuple(four[2:])
    cases.assert_same(cases.arrays(got), cases.arrays(cases.rosenbrock_records(None)))


def multidevice_inside_the_callers_own_mesh(four):
    # A caller who set a mesh of their own (Explicit or Auto axes) for their
    # model: the sweep's runs still split over the devices it was given.
    expected = cases.arrays(cases.rosenbrock_records(None))
    for axis_type in (AxisType.Explicit, AxisType.Auto):
        theirs = jax.make_mesh((2, 2), ("data", "model"), axis_types=(axis_type,) * 2)
        for devices in (four, jax.make_mesh((2,), ("batch",), devices=four[2:])):
            with jax.set_mesh(theirs):
                got = cases.rosenbrock_records(devices)
            cases.assert_same(cases.arrays(got), expected)


def multidevice_runs_axis_is_sharded_and_padded(four, calls):
    result = cases.rosenbrock_records(four)
    program, hyper, columns, shared, *_ = calls[-1]
    assert program.options.mesh.devices.tolist() == four
    (group,) = hyper
    for column in (*group.values(), columns[0]):
        assert column.shape == (16,)  # 15 runs, padded to 4 x 4
        assert column.sharding.spec == P("runs")
        assert {s.data.shape for s in column.addressable_shards} == {(4,)}
    assert shared.sharding.spec == P()
    # The results: the 15 runs, on every device (replicated).
    assert result.losses.shape == (5, 3, 60)
    assert result.losses.sharding.is_fully_replicated
    assert len(result.losses.sharding.device_set) == DEVICES


@pytest.mark.skipif(
    not _compile.one_kernel_supported(), reason="no one-kernel form with this jax"
)
def multidevice_each_block_is_one_kernel(four, calls, tmp_path):
    cases.rosenbrock_records(four)
    program, *args = calls[-1]
    assert compiler.choice(program, tuple(args)) is True
    where = tmp_path / "dump"
    jitted = compiler.jitted(one_kernel=True, xla_dump_to=str(where))
    text = jitted.lower(program, *args).compile().as_text()
    kernels = [p.name for p in where.glob("*_computation_kernel_module.ir-with-opt.ll")]
    assert len(kernels) == 1, sorted(p.name for p in where.glob("*.ll"))
    assert 'xla_cpu_small_call="true"' in text
    assert "all-gather" in text  # the results, gathered on every device


def multidevice_memory_limit_and_chunks_are_per_device(four, calls):
    # Records of 15 runs x 9 rows x (4 + 8) bytes = 1620 B, a run's 108 B.
    # With 4 devices a device's block is 4 runs: 1620 + 4 x 108 fits 2100 B;
    # on one device, 15 runs in flight would not: chunks of 4.
    one = cases.rosenbrock_records(None, 2100)
    assert calls[-1][0].options.chunk_size == 4
    split = cases.rosenbrock_records(four, 2100)
    assert calls[-1][0].options.chunk_size is None
    cases.assert_same(cases.arrays(split), cases.arrays(one))
    with pytest.raises(ValueError, match="memory_limit=1700"):
        cases.rosenbrock_records(four, 1700)  # not even one run in flight fits
