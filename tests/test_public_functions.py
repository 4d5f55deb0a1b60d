"""Every public function validates its parameters, as imbalanced-learn checks.

Public functions are found by crawling the public modules (their ``__all__``).
Each must be decorated with ``validate_params`` (``skforensics._compat``), name
a constraint for every parameter, and reject a value of the wrong type with an
``InvalidParameterError`` that names the parameter and the function.
"""

import inspect

import pytest
from sklearn.utils._param_validation import (  # test-only use of sklearn's helpers
    InvalidParameterError,
    generate_invalid_param_val,
    generate_valid_param,
    make_constraint,
)
from test_common import public_modules

# Public functions not (yet) validated, with who converts them: none now, keep it
# empty. The test fails on an entry that is already validated.
NOT_YET_VALIDATED = {}

# torch building blocks called once per training batch: validation would cost
# more than the operation; they document their tensor contracts instead
EXEMPT = {
    "skforensics.neural.gram_alignment": "per-batch torch loss term",
    "skforensics.optim.frozen_bn_stats": "context manager around a torch module",
}


def public_functions():
    found = {}
    for mod in public_modules():
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) and obj.__module__.startswith("skforensics"):
                found.setdefault(f"{mod.__name__}.{name}", obj)
    return sorted(found.items())


PUBLIC_FUNCTIONS = public_functions()


class _NotAParameter:
    """A value of a type no constraint accepts."""


def _params(func):
    sig = inspect.signature(func)
    return {
        name: p
        for name, p in sig.parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def test_crawler_finds_public_functions():
    names = dict(PUBLIC_FUNCTIONS)
    for expected in (
        "skforensics.features.radial_spectrum",
        "skforensics.metrics.gsnr_score",
        "skforensics.model_selection.threshold_at_fpr",
    ):
        assert expected in names
    assert not [n for n in names if n.rsplit(".", 1)[1].startswith("_")]


@pytest.mark.parametrize("name, func", PUBLIC_FUNCTIONS, ids=[n for n, _ in PUBLIC_FUNCTIONS])
def test_function_param_validation(name, func):
    constraints = getattr(func, "_skl_parameter_constraints", None)
    if name in EXEMPT:
        pytest.skip(EXEMPT[name])
    if name in NOT_YET_VALIDATED:
        assert constraints is None, f"{name} is validated now: remove it from NOT_YET_VALIDATED"
        pytest.xfail(f"not yet decorated with validate_params ({NOT_YET_VALIDATED[name]})")
    assert constraints is not None, f"{name} is not decorated with validate_params"
    params = _params(func)
    assert set(constraints) == set(params), (
        f"{name}: constraints {sorted(constraints)} but parameters {sorted(params)}"
    )
    required = {
        k: 1
        if constraints[k] == "no_validation"
        else generate_valid_param(make_constraint(constraints[k][0]))
        for k, p in params.items()
        if p.default is p.empty
    }
    func_name = func.__qualname__
    for param, cons in constraints.items():
        if cons == "no_validation" or object in cons:  # anything goes, deliberately
            continue
        match = rf"The '{param}' parameter of {func_name} must be .* Got .* instead."
        with pytest.raises(InvalidParameterError, match=match):
            func(**{**required, param: _NotAParameter()})
        # and a value of the right type but out of range, where one exists
        for c in cons:
            try:
                bad = generate_invalid_param_val(make_constraint(c))
            except NotImplementedError:
                continue
            with pytest.raises(InvalidParameterError, match=match):
                func(**{**required, param: bad})
            break
