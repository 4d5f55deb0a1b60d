"""SkipInvalidRows: a pipeline with on_error="skip" returns results for the good images."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skforensics import CorrentropySparseAdditiveClassifier, SkipInvalidRows, SkippedImageWarning
from skforensics.datasets import load_sample_images
from skforensics.features import SpectralFeatureExtractor


@pytest.fixture(scope="module")
def sample():
    return load_sample_images("cifake")


def _classifiers():
    return {
        "logreg": LogisticRegression(),
        "csam": CorrentropySparseAdditiveClassifier(max_iter=10, admm_max_iter=50),
    }


@pytest.mark.parametrize("name", ["logreg", "csam"])
def test_three_good_images_and_one_missing(sample, tmp_path, name):
    clf = _classifiers()[name]
    missing = str(tmp_path / "holiday_photo.jpg")
    # without the wrapper the batch is lost: this is the bug being fixed
    plain = make_pipeline(
        SpectralFeatureExtractor(on_error="skip", n_bins=8), StandardScaler(), clf
    ).fit(sample.paths, sample.y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedImageWarning)
        with pytest.raises(ValueError, match="NaN"):
            plain.predict_proba(sample.paths[:3] + [missing])

    model = make_pipeline(
        SpectralFeatureExtractor(on_error="skip", n_bins=8),
        SkipInvalidRows(make_pipeline(StandardScaler(), clf)),
    ).fit(sample.paths, sample.y)
    X = sample.paths[:3] + [missing]
    with pytest.warns(SkippedImageWarning) as rec:
        proba = model.predict_proba(X)
    messages = [str(w.message) for w in rec]
    assert any("holiday_photo.jpg" in m and "does not exist" in m for m in messages), messages
    named = [w.message for w in rec if getattr(w.message, "skipped", None)]
    assert named and named[0].skipped[0][:2] == (3, missing)
    assert proba.shape == (4, 2)
    assert np.isnan(proba[3]).all() and np.isfinite(proba[:3]).all()
    # the good rows are exactly what the plain pipeline gives for the good images
    np.testing.assert_allclose(proba[:3], plain.predict_proba(sample.paths[:3]))
    with pytest.warns(SkippedImageWarning):
        pred = model.predict(X)
    assert pred.dtype == np.float64 and np.isnan(pred[3])
    np.testing.assert_array_equal(pred[:3], plain.predict(sample.paths[:3]))
    if hasattr(model, "decision_function"):
        with pytest.warns(SkippedImageWarning):
            dec = model.decision_function(X)
        assert np.isnan(dec[3]) and np.isfinite(dec[:3]).all()
    # all good: exactly the wrapped estimator's output, labels keep their dtype
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedImageWarning)
        good = model.predict(sample.paths[:3])
    assert good.dtype == plain.predict(sample.paths[:3]).dtype


def test_fit_leaves_invalid_rows_out(sample, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    X = list(sample.paths) + [str(bad)]
    y = np.r_[sample.y, 1]
    w = np.ones(len(X))
    model = make_pipeline(
        SpectralFeatureExtractor(on_error="skip", n_bins=8),
        SkipInvalidRows(LogisticRegression()),
    )
    with pytest.warns(SkippedImageWarning) as rec:
        model.fit(X, y, skipinvalidrows__sample_weight=w)
    assert any("broken.png" in str(r.message) for r in rec)
    assert any("left out of the fit" in str(r.message) for r in rec)
    skip = model[-1]
    assert skip.n_invalid_fit_ == 1
    np.testing.assert_array_equal(skip.classes_, [0, 1])
    ref = LogisticRegression().fit(model[0].transform(sample.paths), sample.y)
    np.testing.assert_allclose(skip.estimator_.coef_, ref.coef_)


def test_labels_fill_value_and_how():
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    y = np.where(X[:, 0] > 0, "fake", "real")
    Xt = X[:4].copy()
    Xt[1] = np.nan
    Xt[2, 0] = np.nan  # partly NaN: invalid with how="any" only
    est = SkipInvalidRows(LogisticRegression()).fit(X, y)
    with pytest.warns(SkippedImageWarning, match=r"2 of 4 rows.*\[1, 2\]"):
        pred = est.predict(Xt)
    assert pred.dtype == object and pred[0] in ("fake", "real")
    assert np.isnan(pred[1]) and np.isnan(pred[2])
    est = SkipInvalidRows(LogisticRegression(), fill_value="unreadable").fit(X, y)
    with pytest.warns(SkippedImageWarning):
        assert est.predict(Xt)[1] == "unreadable"
    est = SkipInvalidRows(LogisticRegression(), how="all").fit(X, y)
    with pytest.raises(ValueError, match="NaN"), pytest.warns(SkippedImageWarning):
        est.predict(Xt)  # row 2 (partly NaN) reaches LogisticRegression
    # every row invalid: no call to the estimator, NaN of the right shape
    with pytest.warns(SkippedImageWarning):
        proba = (
            SkipInvalidRows(LogisticRegression()).fit(X, y).predict_proba(np.full((2, 3), np.nan))
        )
    assert proba.shape == (2, 2) and np.isnan(proba).all()
    # a regressor and a transformer work too
    reg = SkipInvalidRows(LinearRegression()).fit(X, X[:, 1])
    with pytest.warns(SkippedImageWarning):
        out = reg.predict(Xt)
    assert np.isnan(out[1]) and np.isfinite(out[0])
    tr = SkipInvalidRows(StandardScaler()).fit(X)
    with pytest.warns(SkippedImageWarning):
        Z = tr.transform(Xt)
    assert Z.shape == (4, 3) and np.isnan(Z[1]).all() and np.isfinite(Z[0]).all()
    with pytest.raises(ValueError, match="all 2 rows"):
        SkipInvalidRows(LogisticRegression()).fit(np.full((2, 3), np.nan), [0, 1])
    assert not hasattr(SkipInvalidRows(StandardScaler()), "predict")
    with pytest.raises(ValueError, match="infinity|inf"):
        est.predict(np.full((1, 3), np.inf))
