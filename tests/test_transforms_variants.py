"""The primitives as users compose them: eagerly, under ``jax.jit`` and under
``jax.pmap``, with chex's variants and tree assertions.

optax's convention (``optax/_src/transform_test.py`` up to 0.2.4, and the
tests of chex itself): a ``chex.TestCase`` whose tests are decorated with
``@chex.variants(with_jit=True, without_jit=True, with_pmap=True)`` and call
the transformation through ``self.variant``, so that each test runs once per
variant. ``with_pmap`` replicates the arguments over every device, runs the
function under ``jax.pmap`` and returns the first device's output: it needs
several devices, and a JAX process's device count is fixed when its backend
starts. This process has one CPU device, so the pmap variant is not generated
here; :func:`test_under_pmap_on_4_simulated_cpu_devices` runs this module
again in a process started with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``, where only the pmap
variants are selected and none may be skipped.

The references are the NumPy transcriptions of ``tests/references.py`` and
closed forms; ``tests/test_transforms.py`` holds the rest of the primitives'
tests (states, dtypes, validation).
"""

from __future__ import annotations

import copy
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import references as ref
from absl.testing import parameterized
from helpers import (
    nonlinear_loss,
    nonlinear_params,
    run,
    run_multidevice,
    run_reference,
)
from test_transforms import ALL_PRIMITIVES, PRIMITIVES, RPROP_CASES, Pair, _rprop_loss

import rmsprop_jax as rj

DEVICES = 4
# The pmap variant exists only where there are several devices (the
# subprocess below); chex would otherwise generate it and skip it.
VARIANTS = chex.variants(
    with_jit=True, without_jit=True, with_pmap=jax.device_count() > 1
)
RPROP_VARIANTS = ("rprop+", "rprop-", "irprop+", "irprop-")


def assert_paths_close(path, expected, *, rtol, atol) -> None:
    """Two trajectories, step by step, with ``chex.assert_trees_all_close``
    (same tree structure, leaves within ``rtol``/``atol``); the first step
    that differs is named."""
    assert len(path) == len(expected), (len(path), len(expected))
    for step, (got, want) in enumerate(zip(path, expected, strict=True)):
        chex.assert_trees_all_equal_shapes_and_dtypes(got, want)
        chex.assert_trees_all_close(
            got,
            want,
            rtol=rtol,
            atol=atol,
            custom_message=f"trajectories differ at step {step}",
        )


class PrimitivesTest(chex.TestCase):
    """Each primitive against its reference, through ``self.variant``."""

    @VARIANTS
    @parameterized.named_parameters(*PRIMITIVES)
    def test_matches_numpy_reference(self, factory, kwargs, reference):
        with jax.enable_x64(True):
            params = nonlinear_params()
            tx = factory(**kwargs)
            path = run(tx, nonlinear_loss, params, 60, wrap=self.variant, lr=0.01)
            expected = run_reference(
                copy.deepcopy(reference), nonlinear_loss, params, 60, lr=0.01
            )
            assert_paths_close(path, expected, rtol=1e-9, atol=1e-12)

    @VARIANTS
    @parameterized.product(variant=RPROP_VARIANTS, case=sorted(RPROP_CASES))
    def test_rprop_matches_paper_pseudocode(self, variant, case):
        """The four variants against the paper's pseudo-code; the run hits
        every branch it is meant to (growth, shrink, both bounds, the
        backtrack of the + variants)."""
        with jax.enable_x64(True):
            kwargs = RPROP_CASES[case]
            params = nonlinear_params()
            reference = ref.Rprop(variant, *kwargs.values())
            tx = rj.scale_by_rprop(**kwargs, variant=variant)
            path = run(
                tx,
                _rprop_loss,
                params,
                80,
                wrap=self.variant,
                lr=1.0,
                pass_value=True,
            )
            expected = run_reference(
                reference, _rprop_loss, params, 80, lr=1.0, pass_value=True
            )
            assert_paths_close(path, expected, rtol=1e-12, atol=1e-12)
        events = reference.events
        assert events["grow"] > 0 and events["shrink"] > 0, events
        if case == "bounds":
            assert events["at_max"] > 0 and events["at_min"] > 0, events
            if variant in ("rprop+", "irprop+"):
                assert events["backtrack"] > 0, events

    @VARIANTS
    @parameterized.parameters(*RPROP_VARIANTS)
    def test_rprop_nan_gradient_shows_in_its_weight_only(self, variant):
        """A NaN gradient turns its own update and step size NaN, also on
        later steps; every other weight steps as without it."""
        tx = rj.scale_by_rprop(initial_step=0.1, variant=variant)
        update = self.variant(functools.partial(tx.update, value=jnp.asarray(1.0)))
        grads = [[1.0, -2.0, 3.0], [np.nan, -1.0, -3.0], [2.0, 1.0, -1.0]]
        state, clean = tx.init(jnp.zeros(3)), tx.init(jnp.zeros(3))
        for t, g in enumerate(grads):
            u, state = update(jnp.asarray(g), state)
            want, clean = update(jnp.asarray(np.nan_to_num(g, nan=1.0)), clean)
            chex.assert_trees_all_equal_shapes_and_dtypes(state, clean)
            poisoned = t >= 1  # from the step with the NaN on
            assert np.isnan(u[0]) == np.isnan(state.step_size[0]) == poisoned
            chex.assert_trees_all_equal(u[1:], want[1:])
            chex.assert_trees_all_equal(state.step_size[1:], clean.step_size[1:])

    @VARIANTS
    @parameterized.parameters((0.9, 1e-8), (0.5, 1e-3), (0.0, 0.0))
    def test_scale_by_rms_first_step(self, decay, eps):
        g = jnp.array([0.5, -2.0])
        out, state = self.variant(rj.scale_by_rms(decay, eps).update)(
            g, rj.scale_by_rms().init(g)
        )
        chex.assert_trees_all_close(
            out, g / np.sqrt((1 - decay) * g**2 + eps), rtol=1e-6
        )
        # The state keeps the root of the second moment, sqrt(s).
        chex.assert_trees_all_close(state.rms, np.sqrt((1 - decay) * g**2), rtol=1e-6)

    @VARIANTS
    @parameterized.named_parameters(*ALL_PRIMITIVES)
    def test_any_pytree(self, make):
        params = {
            "dict": {"w": jnp.ones((2, 2)), "none": None},
            "list": [jnp.array(2.0), jnp.arange(3.0)],
            "tuple": (jnp.ones(1),),
            "named": Pair(jnp.ones(2), -jnp.ones(2)),
            "scalar": jnp.array(-1.5),
        }
        grads = jax.tree.map(lambda p: 0.5 * p + 0.25, params)
        tx = optax.with_extra_args_support(make())
        updates, state = self.variant(lambda g, s: tx.update(g, s, params, value=1.0))(
            grads, tx.init(params)
        )
        chex.assert_trees_all_equal_structs(updates, grads)
        chex.assert_trees_all_equal_shapes_and_dtypes(updates, grads)
        chex.assert_tree_all_finite(updates)
        assert updates["dict"]["none"] is None

    @VARIANTS
    @parameterized.named_parameters(*ALL_PRIMITIVES)
    def test_scalers(self, make):
        """optax's ``test_scalers``: ``init`` and two ``update`` calls through
        the variant; the state and the updates are finite, the updates shaped
        like the parameters, the state keeps its shapes and dtypes, a zero
        gradient gives a zero update."""
        params = (jnp.array([1.0, 2.0]), jnp.array([3.0, 4.0]))
        per_step = (jnp.array([500.0, 0.0]), jnp.array([300.0, 3.0]))
        tx = optax.with_extra_args_support(make())
        init_fn = self.variant(tx.init)
        update_fn = self.variant(
            lambda g, s, p: tx.update(g, s, p, value=jnp.asarray(0.0))
        )
        state = init_fn(params)
        if isinstance(state, rj.ScaleByRpropState) and state.prev_value is not None:
            # irprop+'s last loss starts at +inf (no first loss is a rise).
            assert float(state.prev_value) == np.inf
            chex.assert_tree_all_finite(state._replace(prev_value=None))
        else:
            chex.assert_tree_all_finite(state)
        for _ in range(2):
            updates, new_state = update_fn(per_step, state, params)
            chex.assert_tree_all_finite((params, updates, new_state))
            chex.assert_trees_all_equal_shapes(params, updates)
            chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)
            assert float(updates[0][1]) == 0.0
            state = new_state


def _pmap_tests() -> int:
    """How many tests the pmap variant adds (one per parameter set)."""
    return (
        len(PRIMITIVES)
        + len(RPROP_VARIANTS) * len(RPROP_CASES)
        + len(RPROP_VARIANTS)
        + 3
        + 2 * len(ALL_PRIMITIVES)
    )


@pytest.mark.slow
def test_under_pmap_on_4_simulated_cpu_devices():
    passed, out = run_multidevice(
        __file__, DEVICES, timeout=900, select=("-k", "with_pmap")
    )
    assert passed == _pmap_tests(), out[-3000:]
    assert "skipped" not in out, out[-3000:]
