"""Common estimator checks, in the spirit of imbalanced-learn's test_common.

* every estimator that takes 2-D arrays runs scikit-learn's
  ``parametrize_with_checks``;
* image transformers, which the common checks silently skip, get equivalent
  clone / get_params / set_params / pickle / not-fitted / determinism tests.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skforensics import (
    CLIPFeatureExtractor,
    CoRITInjector,
    CorrentropySparseAdditiveClassifier,
    MultiScaleStyleRetrospection,
)
from skforensics.datasets import load_sample_images
from skforensics.features import ResidualFeatureExtractor, SpectralFeatureExtractor
from skforensics.perturbations import (
    GaussianBlur,
    JPEGCompression,
    RandomCrop,
    RandomPerturbation,
    Resize,
)

TWO_D_ESTIMATORS = [CorrentropySparseAdditiveClassifier(max_iter=10, admm_max_iter=50)]


@parametrize_with_checks(TWO_D_ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_common_checks_were_collected():
    # parametrize_with_checks must yield real checks for every 2-D estimator
    from sklearn.utils.estimator_checks import _yield_all_checks

    for est in TWO_D_ESTIMATORS:
        assert len(list(_yield_all_checks(est, legacy=True))) > 30


def _tiny_clip():
    return CLIPFeatureExtractor("skf-tiny-vit", pretrained=None, random_state=0, batch_size=16)


IMAGE_TRANSFORMERS = [
    _tiny_clip(),
    CoRITInjector(_tiny_clip(), grid=2),
    MultiScaleStyleRetrospection(output_size=32, random_state=0),
    SpectralFeatureExtractor(n_bins=8),
    ResidualFeatureExtractor(),
    JPEGCompression(quality=70),
    Resize(scale=0.5),
    GaussianBlur(sigma=1.0),
    RandomCrop(size=16, random_state=0),
    RandomPerturbation([JPEGCompression(60), GaussianBlur(1.0)], random_state=0),
]


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


@pytest.mark.parametrize("estimator", IMAGE_TRANSFORMERS, ids=_ids)
def test_image_transformer_contract(estimator, images):
    X, y = images
    est = clone(estimator)
    params = est.get_params(deep=False)
    # __init__ only stores parameters
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]
    assert clone(est).get_params(deep=False).keys() == params.keys()
    est.set_params(**params)
    if est.__sklearn_tags__().requires_fit:
        with pytest.raises(NotFittedError):
            est.transform(X)
    assert est.fit(X, y) is est
    Xt = est.transform(X)
    assert len(Xt) == len(X)
    _same(Xt, est.transform(X))  # deterministic
    est2 = pickle.loads(pickle.dumps(est))
    _same(Xt, est2.transform(X))
    assert clone(est).get_params(deep=False).keys() == params.keys()
    with pytest.raises(ValueError, match="empty"):
        est.transform([])


def test_all_public_estimators_covered():
    import skforensics

    names = {type(e).__name__ for e in IMAGE_TRANSFORMERS + TWO_D_ESTIMATORS}
    for public in ("CLIPFeatureExtractor", "MultiScaleStyleRetrospection", "CoRITInjector",
                   "CorrentropySparseAdditiveClassifier"):
        assert public in names and hasattr(skforensics, public)


def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, skforensics, skforensics.datasets;"
        "heavy = [m for m in ('torch', 'open_clip', 'diffusers', 'skorch') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
