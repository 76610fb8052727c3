"""The public contract: names, signatures, defaults, typing marker."""

from __future__ import annotations

import inspect
import pathlib

import pytest

import rmsprop_jax

CONTRACT = {
    "scale_by_rms": "(decay=0.9, eps=1e-08, *, eps_in_sqrt=True, initial_scale=0.0, "
    "centered=False, bias_correction=False, accumulator_dtype=None, state_dtype=None)",
    "accumulate_squares": "(initial_accumulator_value=0.0, eps=1e-10, *, "
    "eps_in_sqrt=True, accumulator_dtype=None, state_dtype=None)",
    "scale_by_sign": "()",
    "scale_by_rprop": "(initial_step=0.01, eta_minus=0.5, eta_plus=1.2, min_step=1e-06, "
    "max_step=50.0, *, variant='irprop-', state_dtype=None, learning_rate=None, "
    "min_step_size=None, max_step_size=None)",
    # momentum's contract names its first two arguments; the rest are extensions.
    "momentum": "(decay=0.9, *, nesterov=False, dampening=0.0, bias_correction=False, "
    "undamped_first_step=False, accumulator_dtype=None, state_dtype=None)",
    "rmsprop": "(learning_rate=0.01, decay=0.9, eps=1e-08, *, centered=False, "
    "momentum=None, nesterov=False, eps_in_sqrt=True, initial_scale=0.0, "
    "bias_correction=False, state_dtype=None)",
    "rprop": "(learning_rate=0.01, eta_minus=0.5, eta_plus=1.2, min_step=1e-06, "
    "max_step=50.0, *, variant='irprop-', state_dtype=None, min_step_size=None, "
    "max_step_size=None)",
    "adagrad": "(learning_rate=0.01, initial_accumulator_value=0.0, eps=1e-10, *, "
    "state_dtype=None)",
    "sgd": "(learning_rate, momentum=None, nesterov=False, accumulator_dtype=None, *, "
    "state_dtype=None)",
    "sign_sgd": "(learning_rate)",
    "adam": "(learning_rate=0.001, b1=0.9, b2=0.999, eps=1e-08, eps_root=0.0, "
    "mu_dtype=None, *, nesterov=False, state_dtype=None)",
    "amsgrad": "(learning_rate, b1=0.9, b2=0.999, eps=1e-08, eps_root=0.0, "
    "mu_dtype=None, *, state_dtype=None)",
    "adadelta": "(learning_rate=None, rho=0.9, eps=1e-06, weight_decay=0.0, "
    "weight_decay_mask=None, *, state_dtype=None)",
    "scale_by_adadelta": "(rho=0.9, eps=1e-06, *, accumulator_dtype=None, "
    "state_dtype=None)",
    "laprop": "(learning_rate=0.0004, b1=0.9, b2=0.999, eps=1e-15, *, state_dtype=None)",
    "precondition_by_rms": "(inner, decay=0.999, eps=1e-08, *, eps_in_sqrt=False, "
    "bias_correction=True, inner_decay=None, accumulator_dtype=None, eps_root=0.0, "
    "state_dtype=None)",
}


def _signature_without_annotations(fn) -> str:
    sig = inspect.signature(fn)
    params = [
        p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()
    ]
    return str(
        sig.replace(parameters=params, return_annotation=inspect.Signature.empty)
    )


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_contract_signatures(name):
    assert _signature_without_annotations(getattr(rmsprop_jax, name)) == CONTRACT[name]


def test_all_is_unique_sorted_and_importable():
    names = rmsprop_jax.__all__
    assert len(names) == len(set(names))
    assert names == sorted(names)
    for name in names:
        assert not name.startswith("_")
        assert hasattr(rmsprop_jax, name)


def test_public_functions_are_documented_and_typed():
    for name in rmsprop_jax.__all__:
        obj = getattr(rmsprop_jax, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, name
        if inspect.isfunction(obj):
            assert "Examples:" in obj.__doc__, name
            hints = inspect.get_annotations(obj)
            assert "return" in hints, name


def test_shared_docstring_texts_are_rendered_in_every_factory():
    # The texts written once in rmsprop_jax._docstrings (and the Keras common
    # arguments) are substituted into each public factory's docstring.
    from rmsprop_jax import _docstrings, presets, transforms

    factories = [
        getattr(module, name)
        for module in (rmsprop_jax, presets, transforms)
        for name in module.__all__
        if inspect.isfunction(getattr(module, name))
    ]
    for fn in factories:
        assert "{{" not in fn.__doc__, fn.__name__
    choices = " ".join(_docstrings.TEXTS["state_dtype_choices"].split())
    for fn in (rmsprop_jax.adam, presets.torch_adam, presets.keras_adam):
        assert choices in " ".join(inspect.getdoc(fn).split()), fn.__name__
    primitive = " ".join(_docstrings.TEXTS["state_dtype_primitive"].split())
    assert primitive in " ".join(inspect.getdoc(transforms.scale_by_rms).split())


def test_docstring_placeholders_are_indented_and_checked():
    from rmsprop_jax import _docstrings

    texts = {"two": "first line\n\nthird line"}
    doc = "Args:\n  x: what:\n    {{two}}\n"
    assert _docstrings.render(doc, texts) == (
        "Args:\n  x: what:\n    first line\n\n    third line\n"
    )
    assert _docstrings.render("a {{two}} inline", texts) == "a {{two}} inline"
    with pytest.raises(KeyError, match=r"\{\{tow\}\} has no text.*'two'"):
        _docstrings.render("  {{tow}}", texts)


def test_ships_py_typed():
    assert (pathlib.Path(rmsprop_jax.__file__).parent / "py.typed").is_file()


def test_import_pulls_in_no_heavy_dependency():
    import subprocess
    import sys

    code = (
        "import sys, rmsprop_jax; heavy = {'torch', 'keras', 'flax', 'matplotlib', "
        "'sklearn', 'tensorflow', 'haiku', 'equinox', 'orbax'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
