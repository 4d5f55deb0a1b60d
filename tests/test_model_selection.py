import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from skforensics.datasets import load_sample_images
from skforensics.features import SpectralFeatureExtractor
from skforensics.model_selection import (
    CrossGeneratorDisplay,
    FixedFPRThreshold,
    LeaveOneGeneratorOut,
    ReportTable,
    cross_generator_report,
    robustness_report,
    threshold_at_fpr,
)
from skforensics.perturbations import GaussianBlur, JPEGCompression


def _toy(n=30, seed=0, paired=True):
    """Two generators; generator 'b' is shifted along another axis than 'a'."""
    rng = np.random.RandomState(seed)
    X = np.vstack(
        [rng.randn(n, 2), rng.randn(n, 2) + [3, 0], rng.randn(n, 2), rng.randn(n, 2) + [0, 3]]
    )
    y = np.repeat([0, 1, 0, 1], n)
    if paired:
        gen = np.repeat(["real:a", "a", "real:b", "b"], n)
    else:
        gen = np.repeat(["real:coco", "a", "real:imagenet", "b"], n)
    return X, y, gen


def test_logo_paired():
    X, y, gen = _toy()
    cv = LeaveOneGeneratorOut()
    splits = list(cv.split(X, y, gen))
    assert cv.get_n_splits(X, y, gen) == 2 and len(splits) == 2
    for (train, test), g in zip(splits, ["a", "b"]):
        assert set(gen[test]) == {g, f"real:{g}"}
        assert g not in set(gen[train]) and f"real:{g}" not in set(gen[train])
        assert len(np.intersect1d(train, test)) == 0
        assert len(train) + len(test) == len(y)


def test_logo_unpaired_reals_are_dealt():
    X, y, gen = _toy(paired=False)
    splits = list(LeaveOneGeneratorOut(random_state=0).split(X, y, gen))
    real_tests = [set(test[y[test] == 0]) for _, test in splits]
    assert real_tests[0].isdisjoint(real_tests[1])
    assert len(real_tests[0] | real_tests[1]) == 60
    for (train, test), g in zip(splits, ["a", "b"]):
        assert set(gen[test][y[test] == 1]) == {g}
        assert g not in set(gen[train][y[train] == 1])
        assert len(np.intersect1d(train, test)) == 0


def test_logo_errors():
    X, y, gen = _toy()
    with pytest.raises(ValueError, match="groups"):
        list(LeaveOneGeneratorOut().split(X, y))
    with pytest.raises(ValueError, match="samples"):
        list(LeaveOneGeneratorOut().split(X, y, gen[:-1]))
    with pytest.raises(ValueError, match="at least 2 generators"):
        list(LeaveOneGeneratorOut().split(X, y, np.where(y == 1, "a", "real")))


def test_logo_in_cross_val_score():
    X, y, gen = _toy()
    s = cross_val_score(LogisticRegression(), X, y, groups=gen, cv=LeaveOneGeneratorOut())
    assert s.shape == (2,)


def test_cross_generator_report_modes():
    X, y, gen = _toy()
    rep = cross_generator_report(LogisticRegression(), (X, y, gen), cv="logo")
    assert rep["generator"] == ["a", "b", "mean"]
    # trained without the held-out generator's direction: fake accuracy suffers
    assert rep.row("a")["fake_acc"] < 0.8 and rep.row("a")["real_acc"] > 0.8
    fitted = LogisticRegression().fit(X, y)
    rep2 = cross_generator_report(fitted, (X, y, gen))
    assert rep2.row("mean")["acc"] > 0.85 and rep2.row("a")["n_real"] == 30
    rep3 = cross_generator_report(LogisticRegression(), (X, y, gen), cv=3)
    assert rep3.columns == ["generator", "n_real", "n_fake", "acc", "real_acc", "fake_acc", "ap"]
    assert 0.5 < rep3.row("mean")["ap"] <= 1
    with pytest.raises(Exception, match="not fitted"):
        cross_generator_report(LogisticRegression(), (X, y, gen))
    with pytest.raises(TypeError, match="Bunch"):
        cross_generator_report(fitted, X)


def test_report_table():
    t = ReportTable(
        ["name", "acc"], [{"name": "x", "acc": 0.5}, {"name": "mean", "acc": float("nan")}]
    )
    text = repr(t)
    assert "name" in text and "0.500" in text and "nan" in text
    assert t.to_dict() == {"name": ["x", "mean"], "acc": [0.5, t["acc"][1]]}
    assert t.to_dict("records")[0] == {"name": "x", "acc": 0.5}
    with pytest.raises(KeyError):
        t["ap"]
    with pytest.raises(KeyError):
        t.row("zzz")


def test_display():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y, gen = _toy()
    disp = CrossGeneratorDisplay.from_estimator(LogisticRegression(), (X, y, gen), cv="logo")
    assert disp.values.shape == (3, 2) and disp.text_.shape == (3, 2)
    assert [t.get_text() for t in disp.ax_.get_yticklabels()] == ["a", "b", "mean"]
    _, ax = plt.subplots()
    d2 = CrossGeneratorDisplay.from_report(disp.report_, metrics=("acc",)).plot(ax=ax)
    assert d2.ax_ is ax
    with pytest.raises(ValueError, match="no column"):
        CrossGeneratorDisplay.from_report(disp.report_, metrics=("auc",))
    plt.close("all")


def test_threshold_at_fpr():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1], 1000)
    s = np.concatenate([rng.randn(1000), rng.randn(1000) + 2])
    for fpr in (0.01, 0.05, 0.2):
        t = threshold_at_fpr(y, s, fpr)
        achieved = np.mean(s[y == 0] > t)
        assert achieved <= fpr and achieved > fpr - 0.005
    with pytest.raises(ValueError, match="fpr"):
        threshold_at_fpr(y, s, 1.5)
    with pytest.raises(ValueError, match="no real"):
        threshold_at_fpr(np.ones(3), [1, 2, 3])


def test_fixed_fpr_threshold():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1], 300)
    X = rng.randn(600, 2) + y[:, None]
    clf = FixedFPRThreshold(LogisticRegression(), fpr=0.05).fit(X, y)
    Xn = rng.randn(3000, 2)  # new real images
    assert abs(np.mean(clf.predict(Xn)) - 0.05) < 0.03
    assert np.mean(LogisticRegression().fit(X, y).predict(Xn)) > 0.2  # the 0.5 threshold
    assert clf.predict_proba(X).shape == (600, 2)
    assert clone(clf).get_params()["fpr"] == 0.05
    pre = FixedFPRThreshold(clf.estimator_, fpr=0.1, cv="prefit").fit(X, y)
    assert pre.estimator_ is clf.estimator_ and np.mean(pre.predict(X[y == 0])) <= 0.1


def test_robustness_report():
    data = load_sample_images("cifake")
    clf = make_pipeline(SpectralFeatureExtractor(n_bins=16), LogisticRegression(max_iter=1000))
    clf.fit(data.paths, data.y)
    rep = robustness_report(clf, data.paths, data.y, [JPEGCompression(30), GaussianBlur(1.0)])
    assert rep["perturbation"] == [
        "clean",
        "JPEGCompression(quality=30)",
        "GaussianBlur(sigma=1.0)",
    ]
    assert rep.row("clean")["acc"] > 0.9  # training images
    assert rep.row("GaussianBlur(sigma=1.0)")["acc"] < rep.row("clean")["acc"]
    rep_cv = robustness_report(clf, data.paths, data.y, {"q50": JPEGCompression(50)}, cv=3)
    assert rep_cv["perturbation"] == ["clean", "q50"] and rep_cv.row("q50")["n_real"] == 24


class _CountingFeatures(TransformerMixin, BaseEstimator):
    """Mean and std of each image; counts the images it transforms."""

    n_images = 0

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        from skforensics.datasets import load_images

        imgs = load_images(X)
        type(self).n_images += len(imgs)
        return np.array([[im.mean(), im.std()] for im in imgs])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags


def test_reports_make_one_pass_per_image():
    from skforensics.model_selection import cross_generator_report, robustness_report

    data = load_sample_images("cifake")
    n = len(data.paths)
    clf = make_pipeline(_CountingFeatures(), LogisticRegression()).fit(data.paths, data.y)
    _CountingFeatures.n_images = 0
    rep = cross_generator_report(clf, data)
    assert _CountingFeatures.n_images == n
    pred = clf.predict(data.paths)
    assert rep["acc"][-1] == pytest.approx(np.mean(pred == data.y))
    _CountingFeatures.n_images = 0
    robustness_report(clf, data.paths, data.y, {"jpeg_q50": JPEGCompression(50)})
    assert _CountingFeatures.n_images == 2 * n  # clean + one perturbation
    _CountingFeatures.n_images = 0
    cross_generator_report(make_pipeline(_CountingFeatures(), LogisticRegression()), data, cv=2)
    assert _CountingFeatures.n_images == 2 * n  # fit + test pass of each fold


def test_scores_and_predictions_match_predict():
    from skforensics.model_selection import (
        FixedFPRThreshold,
        fake_class_index,
        scores_and_predictions,
    )

    rng = np.random.RandomState(0)
    y = np.repeat([0, 1], 60)
    X = rng.randn(120, 2) + y[:, None]
    for est in (LogisticRegression(), FixedFPRThreshold(LogisticRegression(), fpr=0.1)):
        est.fit(X, y)
        scores, pred = scores_and_predictions(est, X)
        np.testing.assert_array_equal(pred, est.predict(X))
        np.testing.assert_allclose(scores, est.predict_proba(X)[:, 1])
    lab = np.where(y == 1, "fake", "real")
    clf = LogisticRegression().fit(X, lab)
    assert fake_class_index(clf) == 0
    scores, pred = scores_and_predictions(clf, X)
    np.testing.assert_array_equal(np.where(pred == 1, "fake", "real"), clf.predict(X))
    _, pred_hi = scores_and_predictions(clf, X, threshold=0.9)
    assert pred_hi.sum() < pred.sum()
    with pytest.raises(ValueError, match="binary"):
        fake_class_index(LogisticRegression().fit(X, np.arange(120) % 3))


def test_per_generator_table_is_the_report_table():
    from skforensics.model_selection import cross_generator_report, per_generator_table

    X, y, gen = _toy()
    clf = LogisticRegression().fit(X, y)
    table = per_generator_table(y, gen, clf.predict_proba(X)[:, 1])
    assert table.to_dict() == cross_generator_report(clf, (X, y, gen)).to_dict()
    assert table["generator"][-1] == "mean"
    with pytest.raises(ValueError, match="0 \\(real\\) and 1"):
        per_generator_table([0, 2], ["a", "b"], [0.1, 0.2])
    with pytest.raises(ValueError, match="one length"):
        per_generator_table([0, 1], ["a"], [0.1, 0.2])
