"""Feature caching for model selection: CachedTransformer and Pipeline(memory=...)."""

import functools

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from skforensics import (
    CachedTransformer,
    CLIPFeatureExtractor,
    CoRITInjector,
    MultiScaleStyleRetrospection,
)
from skforensics.datasets import load_sample_images
from skforensics.features import ResidualFeatureExtractor, SpectralFeatureExtractor

GRID = {"logisticregression__C": [0.1, 1.0, 10.0]}
CV = StratifiedKFold(3, shuffle=True, random_state=0)


@pytest.fixture(scope="module")
def sample():
    data = load_sample_images("cifake")
    return list(data.paths), data.y


def _tiny_clip():
    return CLIPFeatureExtractor("skf-tiny-vit", pretrained=None, random_state=0, batch_size=16)


EXTRACTORS = {
    "clip": (CLIPFeatureExtractor, _tiny_clip),
    "corit": (CoRITInjector, lambda: CoRITInjector(_tiny_clip())),
    "msr": (MultiScaleStyleRetrospection,
            lambda: MultiScaleStyleRetrospection(output_size=32, random_state=0)),
    "spectral": (SpectralFeatureExtractor, SpectralFeatureExtractor),
    "residual": (ResidualFeatureExtractor, ResidualFeatureExtractor),
}  # fmt: skip


def _count_passes(monkeypatch, cls):
    """Count the outermost fit / fit_transform / transform calls on ``cls``."""
    calls = {"fit": 0, "transform": 0}
    depth = [0]
    for name, kind in (("fit", "fit"), ("fit_transform", "fit"), ("transform", "transform")):
        orig = getattr(cls, name)

        def wrapper(self, *args, _orig=orig, _kind=kind, **kw):
            if depth[0] == 0:
                calls[_kind] += 1
            depth[0] += 1
            try:
                return _orig(self, *args, **kw)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(cls, name, functools.wraps(orig)(wrapper))
    return calls


def _pipe(key, step):
    steps = [step]
    if key == "msr":  # views -> features
        steps.append(SpectralFeatureExtractor())
    return make_pipeline(*steps, StandardScaler(), LogisticRegression(max_iter=300))


@pytest.mark.parametrize("key", sorted(EXTRACTORS))
def test_grid_search_computes_features_once_per_fold(key, sample, tmp_path, monkeypatch,
                                                     one_torch_thread):  # fmt: skip
    cls, make = EXTRACTORS[key]
    X, y = sample
    n_cand, n_folds = len(GRID["logisticregression__C"]), CV.get_n_splits()

    calls = _count_passes(monkeypatch, cls)
    cached = GridSearchCV(
        _pipe(key, CachedTransformer(make(), memory=tmp_path / "a")), _grid(key), cv=CV
    ).fit(X, y)
    # once per fold: a fit on the training part and a transform of the test part,
    # plus the refit on all of X
    assert calls == {"fit": n_folds + 1, "transform": n_folds}

    calls.update(fit=0, transform=0)
    plain = GridSearchCV(_pipe(key, make()), GRID_FOR[key], cv=CV).fit(X, y)
    assert calls == {"fit": n_cand * n_folds + 1, "transform": n_cand * n_folds}
    # caching changes nothing but the number of passes
    np.testing.assert_allclose(
        cached.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
    np.testing.assert_allclose(cached.predict_proba(X[:5]), plain.predict_proba(X[:5]))

    # a second search over the same folds finds everything in the cache
    calls.update(fit=0, transform=0)
    GridSearchCV(
        _pipe(key, CachedTransformer(make(), memory=tmp_path / "a")), _grid(key), cv=CV
    ).fit(X, y)
    assert calls == {"fit": 0, "transform": 0}


def _grid(key):
    return GRID


GRID_FOR = {k: GRID for k in EXTRACTORS}


@pytest.mark.parametrize("key", sorted(EXTRACTORS))
def test_extractors_hash_stably_for_pipeline_memory(key, sample, tmp_path, monkeypatch,
                                                    one_torch_thread):  # fmt: skip
    """Pipeline(memory=...) caches the fit: its key must not change between clones."""
    cls, make = EXTRACTORS[key]
    est = make()
    assert joblib.hash(clone(est)) == joblib.hash(clone(clone(est)))
    X, y = sample
    calls = _count_passes(monkeypatch, cls)
    pipe = _pipe(key, make())
    pipe = Pipeline(pipe.steps, memory=str(tmp_path))
    GridSearchCV(pipe, GRID, cv=CV).fit(X, y)
    # the fits hit the cache across candidates; the test-fold transforms do not
    n_cand, n_folds = len(GRID["logisticregression__C"]), CV.get_n_splits()
    assert calls == {"fit": n_folds + 1, "transform": n_cand * n_folds}


def test_cached_transformer_without_memory_and_feature_names(sample):
    X, y = sample
    plain = SpectralFeatureExtractor().fit(X)
    wrapped = CachedTransformer(SpectralFeatureExtractor()).fit(X)
    np.testing.assert_array_equal(wrapped.transform(X[:6]), plain.transform(X[:6]))
    np.testing.assert_array_equal(wrapped.get_feature_names_out(), plain.get_feature_names_out())
    assert not hasattr(CachedTransformer(SpectralFeatureExtractor()), "transformer_")
    with pytest.raises(ValueError, match="memory"):
        CachedTransformer(SpectralFeatureExtractor(), memory=3).fit(X)
