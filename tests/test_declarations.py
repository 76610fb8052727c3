"""Every factory declares how its state is read; every state type its fields."""

from __future__ import annotations

import functools
import inspect
from typing import NamedTuple

import jax.numpy as jnp
import pytest
from helpers import PRESET_FACTORIES

import rmsprop_jax as rj
from rmsprop_jax import _inputs, declarations, optimizers, presets, transforms
from rmsprop_jax.transforms.max_rms import PreconditionByMaxRmsState

FACTORIES = {
    **{n: getattr(optimizers, n) for n in optimizers.__all__},
    **{n: getattr(presets, n) for n in PRESET_FACTORIES},
    **{
        n: getattr(transforms, n)
        for n in transforms.__all__
        if inspect.isfunction(getattr(transforms, n))
    },
}
# The arguments a factory needs (the preconditioner takes its inner transformation).
NEEDS = {
    "tf1_rmsprop": dict(learning_rate=0.1),
    "sign_sgd": dict(learning_rate=0.1),
    "sgd": dict(learning_rate=0.1),
    "amsgrad": dict(learning_rate=0.1),
    "precondition_by_rms": dict(inner=transforms.momentum(0.9)),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_factory_declares_what_it_builds(name):
    factory = FACTORIES[name]
    tx = factory(**NEEDS.get(name, {}))
    declared = declarations.declaration_of(tx)
    assert declared is not None and declared.factory == name
    parameters = inspect.signature(factory).parameters
    assert declared.known == set(parameters)
    for role in ("learning_rate", "eps", "decay", "learning_rate_decay", "eps_root"):
        argument = getattr(declared, role)
        if argument is not None:
            assert argument.split("[")[0] in parameters, (name, role)
    if declared.eps is not None:  # eps and its place come together
        assert declared.eps_placement is not None
    # The factory's own declaration: the same rules, no value known.
    unbound = declarations.declaration_of(factory)
    assert unbound is not None and unbound.known == frozenset()
    assert unbound.eps_placement == declared.eps_placement
    with pytest.raises(KeyError):
        unbound.value(unbound.learning_rate or "x")


def test_the_placement_follows_the_call():
    assert declarations.declaration_of(rj.rmsprop()).eps_placement == "inside"
    with pytest.warns(UserWarning, match="first update is"):
        tx = rj.rmsprop(eps_in_sqrt=False, bias_correction=True, centered=True)
    d = declarations.declaration_of(tx)
    assert (d.eps_placement, d.bias_correction, d.centered) == ("outside", True, True)
    partial = functools.partial(rj.presets.torch_adam, betas=(0.9, 0.99))
    d = declarations.declaration_of(partial)
    assert d.known == {"betas"} and d.value("betas[1]") == 0.99
    assert not d.has("lr")
    assert declarations.declaration_of(
        rj.presets.keras_adam(clipnorm=1.0)
    ).eps_placement == ("outside_uncorrected")


def test_every_state_type_declares_every_field_once():
    states = [getattr(transforms, n) for n in transforms.__all__ if n.endswith("State")]
    for cls in [*states, PreconditionByMaxRmsState]:
        fields = declarations.fields_of(cls)
        assert fields is not None, cls
        roles = [fields.role(f) for f in cls._fields]
        assert len(roles) == len(cls._fields)
    state = rj.rmsprop().init(jnp.zeros(2))
    assert declarations.fields_of(state[0]).second_moments == ("rms",)
    assert declarations.fields_of(rj.ScaleByRpropState).step_sizes == ("step_size",)
    assert declarations.fields_of(rj.MomentumState).first_moments == ("trace",)


def test_bad_declarations_are_refused():
    class Two(NamedTuple):
        a: int
        b: int

    with pytest.raises(TypeError, match=r"no role: \['b'\]"):
        declarations.state_fields(second_moments=("a",))(Two)
    with pytest.raises(TypeError, match="divisor 'b' must be a second moment"):
        declarations.state_fields(second_moments=("a",), counts=("b",), divisor="b")(
            Two
        )
    for bad in (dict(numerator="b"), dict(divisor="a", numerator="b")):
        with pytest.raises(TypeError, match="numerator 'b' a second moment beside"):
            declarations.state_fields(second_moments=("a",), counts=("b",), **bad)(Two)
    with pytest.raises(TypeError, match="numerator 'a' a second moment beside"):
        declarations.state_fields(second_moments=("a", "b"), numerator="a")(Two)
    with pytest.raises(TypeError, match="takes no argument 'eps_root'"):
        declarations.declare(eps_root="eps_root")(lambda learning_rate: None)
    with pytest.raises(TypeError, match="takes no argument 'lr'"):
        declarations.declare(learning_rate="lr")(lambda learning_rate: None)
    with pytest.raises(TypeError, match="takes the factory's declaration"):
        _inputs.optimizer(lambda: None)
    assert declarations.declaration_of(lambda: None) is None
    import optax

    assert declarations.declaration_of(optax.adam(0.1)) is None


def test_the_corrected_maximum_and_the_numerator_are_declared():
    """AMSGrad keeps the maximum of the corrected moment, PyTorch's and
    Keras's of the raw one, in the same state type: the factory says which.
    Adadelta's state names the root its last update's numerator used."""
    d = declarations.declaration_of(rj.amsgrad(0.1, eps_root=1e-8))
    assert d.stored_corrected and d.eps_root == "eps_root"
    assert d.value("eps_root") == 1e-8
    for tx in (
        presets.torch_adam(amsgrad=True),
        presets.keras_adam(amsgrad=True),
        rj.adam(),
    ):
        assert not declarations.declaration_of(tx).stored_corrected
    fields = declarations.fields_of(transforms.ScaleByAdadeltaState)
    assert (fields.divisor, fields.numerator) == ("grad_rms", "previous_update_rms")
    for name in ("adadelta", "torch_adadelta", "keras_adadelta", "scale_by_adadelta"):
        assert declarations.declaration_of(FACTORIES[name]).eps_placement == "inside"
