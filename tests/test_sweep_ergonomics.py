"""The sweep as a newcomer calls it: ``rj.sweep(...)``, one grid name for
parameters factories spell differently (:func:`renamed`), each distinct
configuration trained once, and ``path()``'s one ``loss``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmsprop_jax as rj
from rmsprop_jax.sweep import compilations, grid, renamed, sweep


def bowl(w):
    return 3 * w[0] ** 2 + 10 * w[1] ** 2


W0 = jnp.array([1.0, -2.0])


def test_the_module_is_callable():
    g = grid(learning_rate=[0.01, 0.1])
    by_module = rj.sweep(rj.rmsprop, bowl, W0, g, steps=6)
    by_function = sweep(rj.rmsprop, bowl, W0, g, steps=6)
    assert callable(rj.sweep) and rj.sweep.sweep is sweep
    np.testing.assert_array_equal(by_module.losses, by_function.losses)
    from rmsprop_jax.sweep import grid as grid_again
    from rmsprop_jax.sweep import sweep as sweep_again

    assert (grid_again, sweep_again) == (grid, sweep)


def test_renamed_reaches_adams_b2_through_a_decay_axis():
    g = grid(decay=[0.9, 0.999], learning_rate=[0.01, 0.1])
    both = sweep(
        {"rmsprop": rj.rmsprop, "adam": renamed(rj.adam, decay="b2")},
        bowl,
        W0,
        g,
        steps=20,
    )
    adam = sweep(
        rj.adam, bowl, W0, grid(b2=[0.9, 0.999], learning_rate=[0.01, 0.1]), steps=20
    )
    rmsprop = sweep(rj.rmsprop, bowl, W0, g, steps=20)
    np.testing.assert_array_equal(both.losses[1], adam.losses)
    np.testing.assert_array_equal(both.losses[0], rmsprop.losses)
    # Built anew, equal: the program is reused.
    before = compilations()
    sweep(
        {"rmsprop": rj.rmsprop, "adam": renamed(rj.adam, decay="b2")},
        bowl,
        W0,
        g,
        steps=20,
    )
    assert compilations() == before
    assert renamed(rj.adam, decay="b2") == renamed(rj.adam, decay="b2")
    assert renamed(rj.adam, decay="b2") != renamed(rj.adam, decay="b1")
    assert repr(renamed(rj.adam, decay="b2")) == "renamed(adam, decay='b2')"


def test_renamed_bad_names_raise():
    with pytest.raises(
        ValueError, match="`decay`='b_2' names no parameter .* Did you mean 'b2'"
    ):
        renamed(rj.adam, decay="b_2")
    with pytest.raises(ValueError, match="`b1` is already a parameter"):
        renamed(rj.adam, b1="b2")
    # A grid over the old name no longer reaches it.
    with pytest.raises(ValueError, match="b2"):
        sweep(renamed(rj.adam, decay="b2"), bowl, W0, grid(b2=[0.9]), steps=2)


def test_each_distinct_configuration_runs_once(calls):
    g = grid(decay=[0.5, 0.9, 0.99], learning_rate=[0.1, 0.3])
    result = sweep(
        {"rmsprop": rj.rmsprop, "adagrad": rj.adagrad}, bowl, W0, g, steps=15
    )
    program = calls[-1][0]
    sizes = {spec.make_tx.fn: spec.size for spec in program.groups}
    assert sizes == {rj.rmsprop: 6, rj.adagrad: 2}  # adagrad takes no decay
    alone = sweep(rj.adagrad, bowl, W0, grid(learning_rate=[0.1, 0.3]), steps=15)
    for d in range(3):  # the same two runs, shown under every decay
        np.testing.assert_array_equal(result.losses[1, d], alone.losses)
        np.testing.assert_array_equal(result.final_loss[1, d], alone.final_loss)
    # The states (per group: the layouts differ) keep one row per grid run.
    assert result.states_by_group
    adagrad_states = result.final_states[1]
    assert jax.tree.leaves(adagrad_states)[0].shape[0] == 6
    for i in range(len(result)):
        config = result.grid.configs()[i]
        if config["optimizer"] == "adagrad":
            j = [0.1, 0.3].index(config["learning_rate"])
            expected = jax.tree.map(lambda x, j=j: x[j], alone.final_states)
            for a, b in zip(
                jax.tree.leaves(result[i].final_state),
                jax.tree.leaves(expected),
                strict=True,
            ):
                np.testing.assert_array_equal(a, b)
    # One optimizer whose grid repeats nothing: every run is its own.
    sweep(rj.rmsprop, bowl, W0, g, steps=15)
    assert calls[-1][0].groups[0].size == 6 and calls[-1][0].groups[0].expand is None


def test_path_has_one_loss_at_the_recorded_steps():
    g = grid(learning_rate=[0.01, 0.1])
    plain = sweep(rj.rmsprop, bowl, W0, g, steps=10, record="params", record_every=3)
    path = plain.path(learning_rate=0.1)
    assert sorted(path) == ["loss", "params"]
    assert path["loss"].shape == path["params"].shape[:1] == (4,)
    np.testing.assert_array_equal(path["loss"], plain.losses[1, ::3])
    recorded = sweep(
        rj.rmsprop, bowl, W0, g, steps=10, record=("loss", "params"), record_every=3
    )
    np.testing.assert_array_equal(
        recorded.path(learning_rate=0.1)["loss"], path["loss"]
    )
    np.testing.assert_allclose(
        path["loss"], [bowl(w) for w in path["params"]], rtol=1e-6
    )
