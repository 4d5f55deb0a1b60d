"""Common estimator checks, in the spirit of imbalanced-learn's test_common.

Every public estimator is found by crawling the public modules, as
scikit-learn's ``all_estimators`` does; a new estimator is checked without
being added to a list here (only its test-friendly parameters, when the
defaults need downloaded weights or a required argument, go in ``TEST_PARAMS``).

* estimators that take 2-D arrays run scikit-learn's ``parametrize_with_checks``;
* image transformers, which the common checks skip, get equivalent clone /
  get_params / set_params / pickle / not-fitted / determinism tests.
"""

import importlib
import inspect
import pickle
import pkgutil

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

import skforensics
from skforensics.datasets import load_sample_images


def public_modules():
    """``skforensics`` and every public submodule (no ``_private`` part in the name)."""
    names = ["skforensics"] + [
        info.name
        for info in pkgutil.walk_packages(skforensics.__path__, "skforensics.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    return [importlib.import_module(n) for n in names]


def all_estimators():
    """``(name, class)`` of every public estimator, sorted by name.

    An estimator is a class exported by a public module (its ``__all__``), defined
    in skforensics, with ``fit`` and ``get_params`` (scikit-learn estimators and
    the skorch-based nets alike), and not abstract.
    """
    found = {}
    for mod in public_modules():
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if (
                inspect.isclass(obj)
                and obj.__module__.startswith("skforensics")
                and hasattr(obj, "fit")
                and hasattr(obj, "get_params")
                and not inspect.isabstract(obj)
                and not name.startswith("_")
            ):
                found[name] = obj
    return sorted(found.items())


def _tiny_clip():
    from skforensics import CLIPFeatureExtractor

    return CLIPFeatureExtractor("skf-tiny-vit", pretrained=None, random_state=0, batch_size=16)


def _test_params():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from skforensics.neural import MLPHead
    from skforensics.perturbations import GaussianBlur, JPEGCompression

    # parameters that keep the checks fast and offline (no downloaded weights)
    return {
        "CLIPFeatureExtractor": lambda: _tiny_clip(),
        "CoRITInjector": lambda: skforensics.CoRITInjector(_tiny_clip(), grid=2),
        "CorrentropySparseAdditiveClassifier": lambda: (
            skforensics.CorrentropySparseAdditiveClassifier(max_iter=10, admm_max_iter=50)
        ),
        "CorrentropySparseAdditiveClassifierCV": lambda: (
            skforensics.CorrentropySparseAdditiveClassifierCV(
                lams=3, cv=2, max_iter=10, admm_max_iter=50
            )
        ),
        "MultiScaleStyleRetrospection": lambda: skforensics.MultiScaleStyleRetrospection(
            output_size=32, random_state=0
        ),
        "SpectralFeatureExtractor": dict(n_bins=8),
        "CachedTransformer": lambda: skforensics.CachedTransformer(
            skforensics.features.SpectralFeatureExtractor(n_bins=8), memory=None
        ),
        "SkipInvalidRows": lambda: skforensics.SkipInvalidRows(LogisticRegression()),
        "JPEGCompression": dict(quality=70),
        "Resize": dict(scale=0.5),
        "GaussianBlur": dict(sigma=1.0),
        "RandomCrop": dict(size=16, random_state=0),
        "RandomReencode": dict(random_state=0),
        "RandomPerturbation": lambda: skforensics.perturbations.RandomPerturbation(
            [JPEGCompression(60), GaussianBlur(1.0)], random_state=0
        ),
        "FixedFPRThreshold": lambda: skforensics.model_selection.FixedFPRThreshold(
            LogisticRegression(), cv=3
        ),
        "PseudoFakeClassifier": lambda: skforensics.PseudoFakeClassifier(
            make_pipeline(
                skforensics.features.SpectralFeatureExtractor(n_bins=8), LogisticRegression()
            )
        ),
        "SAMNetClassifier": lambda: skforensics.neural.SAMNetClassifier(
            MLPHead,
            module__hidden_sizes=(8,),
            max_epochs=2,
            batch_size=32,
            lr=0.05,
            random_state=0,
            device="cpu",
        ),
    }


def _instance(name, cls):
    spec = _test_params().get(name, {})
    return spec() if callable(spec) else cls(**spec)


def _two_d(est):
    try:
        tags = est.__sklearn_tags__()
    except AttributeError:  # skorch nets: numeric 2-D input
        return True
    return tags.input_tags.two_d_array and not getattr(tags, "_skip_test", False)


def _instances():
    built, failed = [], []
    for name, cls in all_estimators():
        try:
            built.append(_instance(name, cls))
        except Exception as exc:  # reported by test_every_estimator_is_constructed
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    return built, failed


ESTIMATORS, UNCONSTRUCTED = _instances()
TWO_D_ESTIMATORS = [e for e in ESTIMATORS if _two_d(e)]
IMAGE_ESTIMATORS = [e for e in ESTIMATORS if not _two_d(e)]

# checks an estimator fails by design, with the reason (imbalanced-learn's pattern);
# each entry is a known gap to close, not a licence: remove it once the check passes
_LABELS_01 = "labels must be 0 (real) and 1 (generated): other binary labels are refused"
_X_PASSED_ON = "X is passed on unvalidated to the inner estimator, which may take images"
_SKORCH_TRAIN = "skorch nets train a torch module: "
EXPECTED_FAILED_CHECKS = {
    "FixedFPRThreshold": {
        "check_classifiers_classes": _LABELS_01,
        "check_classifiers_train": _LABELS_01,
        "check_classifiers_train(readonly_memmap=True)": _LABELS_01,
        "check_classifiers_train(readonly_memmap=True,X_dtype=float32)": _LABELS_01,
        "check_classifiers_regression_target": _LABELS_01,
        "check_classifier_not_supporting_multiclass": _LABELS_01,
        "check_requires_y_none": _LABELS_01,
        "check_n_features_in": _X_PASSED_ON,
        "check_n_features_in_after_fitting": _X_PASSED_ON,
        "check_estimators_dtypes": _X_PASSED_ON,
        "check_complex_data": _X_PASSED_ON,
        "check_dtype_object": _X_PASSED_ON,
        "check_estimator_sparse_array": _X_PASSED_ON,
        "check_estimator_sparse_matrix": _X_PASSED_ON,
        "check_classifier_data_not_an_array": _X_PASSED_ON,
        "check_fit2d_1feature": _X_PASSED_ON,
    },
    "SAMNetClassifier": {
        "check_no_attributes_set_in_init": _SKORCH_TRAIN + "skorch's __init__ sets attributes",
        "check_set_params": _SKORCH_TRAIN + "skorch's set_params re-initialises components",
        "check_estimators_unfitted": _SKORCH_TRAIN + "skorch raises its own NotInitializedError",
        "check_classifiers_train": _SKORCH_TRAIN + "two epochs do not reach sklearn's accuracy bar",
        "check_classifiers_train(readonly_memmap=True)": _SKORCH_TRAIN + "two epochs only",
        "check_classifiers_train(readonly_memmap=True,X_dtype=float32)": _SKORCH_TRAIN
        + "two epochs only",
        "check_n_features_in_after_fitting": "takes images as well as features; own messages",
        "check_dtype_object": "takes images as well as features; own messages",
        "check_estimator_sparse_array": "takes images as well as features; own messages",
        "check_estimator_sparse_matrix": "takes images as well as features; own messages",
        "check_classifier_data_not_an_array": "takes images as well as features; own messages",
        "check_fit2d_1sample": "takes images as well as features; own messages",
        "check_fit2d_predict1d": "takes images as well as features; own messages",
        "check_requires_y_none": "SAMNetClassifier.fit needs y: own message",
    },
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(TWO_D_ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_estimator_is_constructed():
    # a new estimator whose defaults cannot be built offline needs an entry in _test_params
    assert not UNCONSTRUCTED, "add test parameters in _test_params():\n" + "\n".join(UNCONSTRUCTED)


def test_crawler_finds_the_public_estimators():
    names = [name for name, _ in all_estimators()]
    for expected in (
        "CLIPFeatureExtractor",
        "CoRITInjector",
        "CorrentropySparseAdditiveClassifier",
        "MultiScaleStyleRetrospection",
        "SAMNetClassifier",
        "FixedFPRThreshold",
        "SpectralFeatureExtractor",
        "RandomPerturbation",
    ):
        assert expected in names
    # what is not an estimator stays out: displays, splitters, torch modules, functions
    for other in ("RegionMaskDisplay", "LeaveOneGeneratorOut", "MLPHead", "SAM", "load"):
        assert other not in names
    assert len(TWO_D_ESTIMATORS) + len(IMAGE_ESTIMATORS) + len(UNCONSTRUCTED) == len(names)


MAX_POSITIONAL = 3  # SplineTransformer(n_knots, degree, *, ...): the rest keyword-only


@pytest.mark.parametrize("name, cls", all_estimators(), ids=[n for n, _ in all_estimators()])
def test_keyword_only_parameters(name, cls):
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    positional = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert len(positional) <= MAX_POSITIONAL, (
        f"{name}({', '.join(positional)}, ...): make the parameters after the first "
        f"{MAX_POSITIONAL} keyword-only"
    )


@pytest.mark.parametrize("name, cls", all_estimators(), ids=[n for n, _ in all_estimators()])
def test_fit_uses_fit_context(name, cls):
    # scikit-learn estimators validate their parameters through @_fit_context
    # (skforensics._compat.fit_context); skorch nets follow skorch's conventions
    from skorch import NeuralNet

    if issubclass(cls, NeuralNet):
        pytest.skip("skorch net: skorch's own initialisation conventions")
    # functools.wraps in fit_context leaves the undecorated fit as __wrapped__
    assert getattr(cls.fit, "__wrapped__", None) is not None, (
        f"{name}.fit is not decorated with fit_context (skforensics._compat)"
    )


def test_common_checks_were_collected():
    # parametrize_with_checks must yield real checks for every 2-D estimator
    from sklearn.utils.estimator_checks import estimator_checks_generator

    assert {type(e).__name__ for e in TWO_D_ESTIMATORS} >= {
        "CorrentropySparseAdditiveClassifier",
        "FixedFPRThreshold",
        "SAMNetClassifier",
    }
    for est in TWO_D_ESTIMATORS:
        assert len(list(estimator_checks_generator(est, legacy=True))) > 30


@pytest.fixture(scope="module")
def images():
    data = load_sample_images("cifake")
    idx = np.r_[0:8, 24:32]
    return [data.paths[i] for i in idx], data.y[idx]


def _same(a, b):
    if isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert len(a) == len(b)
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)


def _ids(est):
    return type(est).__name__


@pytest.mark.parametrize("estimator", IMAGE_ESTIMATORS, ids=_ids)
def test_image_estimator_contract(estimator, images):
    X, y = images
    est = clone(estimator)
    method = "transform" if hasattr(est, "transform") else "predict"
    params = est.get_params(deep=False)
    # __init__ only stores parameters
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]
    assert clone(est).get_params(deep=False).keys() == params.keys()
    est.set_params(**params)
    if est.__sklearn_tags__().requires_fit:
        with pytest.raises(NotFittedError):
            getattr(est, method)(X)
    assert est.fit(X, y) is est
    Xt = getattr(est, method)(X)
    assert len(Xt) == len(X)
    _same(Xt, getattr(est, method)(X))  # deterministic
    est2 = pickle.loads(pickle.dumps(est))
    _same(Xt, getattr(est2, method)(X))
    assert clone(est).get_params(deep=False).keys() == params.keys()
    with pytest.raises(ValueError, match="empty"):
        getattr(est, method)([])


def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, skforensics, skforensics.datasets;"
        "heavy = [m for m in ('torch', 'open_clip', 'diffusers', 'skorch') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_a_state_saved_before_a_parameter_existed_loads_with_its_default(estimator):
    # a model file written by an older release lacks the parameters added since:
    # restoring it must give them their defaults, or repr, get_params and clone fail
    cls = type(estimator)
    state = estimator.__getstate__()
    defaults = {
        k: p.default
        for k, p in inspect.signature(cls.__init__).parameters.items()
        if k != "self" and p.default is not inspect.Parameter.empty and k in state
    }
    for name, default in defaults.items():
        old = cls.__new__(cls)
        old.__setstate__({k: v for k, v in state.items() if k != name})
        got = old.get_params(deep=False)[name]
        assert got is default or got == default, f"{cls.__name__}.{name}: {got!r}"
