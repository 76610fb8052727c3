"""optax's own tests of the names both libraries share, run against this one.

optax ships its test modules in its wheel (``optax/_src/alias_test.py``,
``optax/_src/transform_test.py``). They are imported from the installed
optax, not copied: every generated test case whose optimizer or primitive is
one of :data:`SHARED_ALIASES` / :data:`SHARED_TRANSFORMS` becomes a test of a
subclass here, with optax's ``alias`` / ``transform`` module replaced, for the
duration of the test, by a namespace that serves this library's function for
a shared name (and optax's for any other, e.g. ``scale_by_adam`` as the
reference of ``test_rms_match_adam``). So drop-in stays true as either
library changes.

The quick selection (``pytest -m "not slow"``) runs one case per optax test
method and optimizer (the float32 one where optax runs several dtypes):
:func:`_representatives`; the full suite (``.ci/run``) runs every case, and
optax's 10,000-step ``test_optimization`` cases only there.

Where this library deliberately differs, the case is replaced by a test of
what it does instead, each named here with its reason (:data:`DIFFERENCES`):

* ``test_explicit_dtype`` with bfloat16 parameters and no ``mu_dtype`` /
  ``accumulator_dtype``: optax keeps the moment in bfloat16, this library in
  float32 (its accumulator-dtype policy); with complex parameters the state
  holds real pairs (a trailing axis of 2), as ``torch.optim`` does.
* ``test_explicit_dtype`` for ``adam`` reads the state field ``mu``; here
  Adam's first moment is a :class:`~rmsprop_jax.MomentumState`'s ``trace``
  (``mu`` is centred RMSprop's mean): tested on ``trace``.
* ``test_rms_match_adam`` compares this library's ``scale_by_rms`` with
  optax's ``scale_by_adam(b1=0)`` in float32 at rtol 1e-6. They differ by
  7.1e-6 there *because* this one is exact: against the same run in float64,
  optax's float32 result is off by about 7e-6 (its bias correction in
  float32), ours by under 1e-7. Tested instead: equality in float64 at rtol
  1e-12, and each library's float32 error against float64.
"""

from __future__ import annotations

import inspect
import types
import unittest
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rmsprop_jax as rj

alias_test = pytest.importorskip("optax._src.alias_test")
transform_test = pytest.importorskip("optax._src.transform_test")

SHARED_ALIASES = (
    "adadelta",
    "adagrad",
    "adam",
    "amsgrad",
    "rmsprop",
    "rprop",
    "sgd",
    "sign_sgd",
)
SHARED_TRANSFORMS = ("scale_by_adadelta", "scale_by_rms", "scale_by_rprop")

DIFFERENCES = {
    "accumulator dtype policy": "16-bit parameters get float32 moments",
    "complex parameters": "a complex leaf's state holds real pairs",
    "adam's first moment": "field `trace` of a MomentumState, not `mu`",
    "test_rms_match_adam": "float32 comparison at rtol 1e-6; tested in float64",
}


def _namespace(module: types.ModuleType, names: tuple[str, ...]) -> object:
    """``module`` with the shared ``names`` served by this library."""

    class Namespace:
        def __getattr__(self, name: str):
            if name in names:
                return getattr(rj, name)
            return getattr(module, name)

    return Namespace()


def _cases(test_class: type) -> list[tuple[str, object, dict]]:
    """``(name, test function, parameters)`` of every generated case."""
    out = []
    for name in dir(test_class):
        if not name.startswith("test"):
            continue
        method = getattr(test_class, name)
        cells = [c.cell_contents for c in (method.__closure__ or ())]
        functions = [c for c in cells if inspect.isfunction(c)]
        params = [c for c in cells if isinstance(c, dict | tuple)]
        if functions and params:
            function, given = functions[0], params[0]
            if isinstance(given, tuple):  # named_parameters: positional
                names = list(inspect.signature(function).parameters)[1:]
                given = dict(zip(names, given, strict=True))
            out.append((name, function, given))
        else:
            out.append((name, method, {}))
    return out


def _kept(name: str, params: dict) -> bool:
    """Whether a case of optax's alias tests exercises a shared name (and is
    not one of the documented differences)."""
    opt_name = params.get("opt_name")
    if name.startswith("test_explicit_dtype"):
        if opt_name != "sgd_mom":
            return False  # adam: its first moment is `trace`, not `mu`
        params_dtype, state_dtype = params["params_dtype"], params["state_dtype"]
        if "complex64" in (params_dtype, state_dtype):
            return False  # complex parameters: real pairs
        return not (params_dtype == "bfloat16" and state_dtype is None)
    return opt_name in SHARED_ALIASES


def _family(name: str) -> str:
    """The test method a generated case belongs to (its name less the index)."""
    return name.rstrip("0123456789")


def _representatives(cases: list) -> set[str]:
    """One case per (test method, optimizer): the float32 one where the
    method runs several dtypes, else the first generated. The quick selection
    (``-m "not slow"``) runs these; the full suite runs every case."""
    chosen: dict[tuple, tuple] = {}
    every = set()
    for name, _, params in cases:
        if _family(name) == "test_explicit_dtype":  # 8 cases, 0.3 s of CPU in all
            every.add(name)
            continue
        constructor = params.get("scaler_constr")
        optimizer = params.get("opt_name") or getattr(constructor, "__name__", None)
        group = (_family(name), optimizer)
        index = int(name[len(group[0]) :] or 0)
        rank = (params.get("dtype", "float32") not in ("float32", jnp.float32), index)
        if group not in chosen or rank < chosen[group][0]:
            chosen[group] = (rank, name)
    return every | {name for _, name in chosen.values()}


def _build(base: type, cases: list, patches: list[tuple]) -> dict:
    body: dict = {}
    quick = _representatives(cases)

    def setUp(self):  # noqa: N802 (unittest's name)
        base.setUp(self)
        for module, attribute, replacement in patches:
            patcher = mock.patch.object(module, attribute, replacement)
            patcher.start()
            self.addCleanup(patcher.stop)

    body["setUp"] = setUp
    for name, function, params in cases:

        def test(self, function=function, params=params):
            function(self, **params)

        test.__name__ = f"{name}_{params.get('opt_name', '')}".rstrip("_")
        if name.startswith("test_optimization") or name not in quick:
            # 10,000 steps each; or a further dtype / setting of an optimizer
            # whose representative case runs in the quick selection.
            test = pytest.mark.slow(test)
        body[name] = test
    # Disable every inherited test that is not one of the kept cases.
    for name in dir(base):
        if name.startswith("test") and name not in body:
            body[name] = None
    return body


_ALIAS_CASES = [
    case for case in _cases(alias_test.AliasTest) if _kept(case[0], case[2])
]
assert len(_ALIAS_CASES) > 150, len(_ALIAS_CASES)  # optax's suite is still there

TestOptaxAliasSuite = type(
    "TestOptaxAliasSuite",
    (alias_test.AliasTest,),
    _build(
        alias_test.AliasTest,
        _ALIAS_CASES,
        [(alias_test, "alias", _namespace(optax, SHARED_ALIASES))],
    ),
)


def _transform_cases() -> list:
    """test_scalers with this library's constructors; test_apply_every (sgd).
    (test_rms_match_adam: a documented difference, tested below.)"""
    kept = []
    for name, function, params in _cases(transform_test.TransformTest):
        constructor = params.get("scaler_constr")
        if constructor is not None:
            if constructor.__name__ in SHARED_TRANSFORMS:
                ours = getattr(rj, constructor.__name__)
                kept.append((name, function, {"scaler_constr": ours}))
        elif name == "test_apply_every":
            kept.append((name, function, params))
    return kept


_TRANSFORM_CASES = _transform_cases()
assert {p["scaler_constr"].__name__ for _, _, p in _TRANSFORM_CASES if p} == {
    "scale_by_adadelta",
    "scale_by_rms",
}

TestOptaxTransformSuite = type(
    "TestOptaxTransformSuite",
    (transform_test.TransformTest,),
    _build(
        transform_test.TransformTest,
        _TRANSFORM_CASES,
        [
            (transform_test, "alias", _namespace(optax, SHARED_ALIASES)),
            (transform_test, "transform", _namespace(optax, SHARED_TRANSFORMS)),
        ],
    ),
)


def test_the_suites_see_this_library():
    """The replaced module serves this library's functions (a test that
    would pass against optax itself proves nothing)."""
    namespace = _namespace(optax, SHARED_ALIASES)
    for name in SHARED_ALIASES:
        assert getattr(namespace, name) is getattr(rj, name)
    assert _namespace(optax, ()).adam is optax.adam


# ---------------------------------------------------------------------------
# The documented differences, tested for what this library does instead.


@pytest.mark.parametrize("params_dtype", ["bfloat16", "complex64"])
def test_explicit_dtype_defaults(params_dtype):
    """No ``mu_dtype``: float32 moments for bfloat16 parameters; real pairs
    (float32, trailing axis 2) for complex64 ones."""
    params = jnp.zeros(2, params_dtype)
    for tx, field in [(rj.sgd(0.1, momentum=0.9), "trace"), (rj.adam(0.1), "trace")]:
        leaf = optax.tree.get(tx.init(params), field)
        assert leaf.dtype == jnp.float32
        assert leaf.shape == ((2,) if params_dtype == "bfloat16" else (2, 2))


@pytest.mark.parametrize("state_dtype", ["bfloat16", "float32"])
def test_explicit_dtype_is_kept(state_dtype):
    for params_dtype in ("bfloat16", "float32", "complex64"):
        params = jnp.zeros(2, params_dtype)
        sgd = rj.sgd(0.1, momentum=0.9, accumulator_dtype=state_dtype)
        adam = rj.adam(0.1, mu_dtype=state_dtype)
        for tx in (sgd, adam):
            leaf = optax.tree.get(tx.init(params), "trace")
            assert leaf.dtype == jnp.dtype(state_dtype)


def _rms_and_adam(dtype):
    """optax's test_rms_match_adam, in ``dtype``: 5 steps of
    ``scale_by_rms(0.999, eps_in_sqrt=False, bias_correction=True)`` (ours)
    and ``optax.scale_by_adam(b1=0)`` on ``||x||^2``."""
    params = (jnp.array([1.0, 2.0], dtype), jnp.array([3.0, 4.0], dtype))
    loss = lambda x: optax.tree.norm(x, squared=True)  # noqa: E731
    out = []
    for tx in (
        rj.scale_by_rms(decay=0.999, eps_in_sqrt=False, bias_correction=True),
        optax.scale_by_adam(b1=0),
    ):
        p, state = params, tx.init(params)

        @jax.jit  # one compiled step instead of op-by-op dispatch in a loop
        def step(p, state, tx=tx):
            updates, state = tx.update(jax.grad(loss)(p), state)
            return optax.apply_updates(p, updates), state

        for _ in range(5):
            p, state = step(p, state)
        out.append(np.concatenate([np.asarray(x, np.float64) for x in p]))
    return out


def test_rms_match_adam_in_float64(x64):
    ours, theirs = _rms_and_adam(jnp.float64)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


def test_rms_match_adam_float32_is_closer_to_float64_than_optax():
    """optax's float32 bias correction is ~7e-6 off; ours under 1e-7."""
    with jax.enable_x64(True):
        exact, _ = _rms_and_adam(jnp.float64)
    ours, theirs = _rms_and_adam(jnp.float32)  # as optax's test runs: no x64
    our_error = np.max(np.abs(ours - exact) / np.abs(exact))
    their_error = np.max(np.abs(theirs - exact) / np.abs(exact))
    assert our_error < 1e-7 and their_error > 1e-6, (our_error, their_error)


if __name__ == "__main__":  # pragma: no cover
    unittest.main()
