import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skforensics.metrics import (  # noqa: E402
    GSNRProfileDisplay,
    RadiusSweepDisplay,
    critical_optimization_radius,
    gsnr_score,
    layerwise_gsnr,
    make_gsnr_scorer,
)
from skforensics.neural import LinearProbe, MLPHead, SAMNetClassifier, SmallForensicCNN  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # tiny networks: thread synchronisation costs more than it saves on a busy CPU
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _blobs(n=60, d=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d).astype(np.float32)
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.randn(n) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def mlp_fitted():
    X, y = _blobs()
    clf = SAMNetClassifier(MLPHead, module__hidden_sizes=(6, 5), max_epochs=2, batch_size=16, random_state=0)
    return clf.fit(X, y), X, y


def test_vmap_matches_per_sample_loop_mlp(mlp_fitted):
    clf, X, y = mlp_fitted
    a = layerwise_gsnr(clf, X, y, method="vmap", batch_size=16)
    b = layerwise_gsnr(clf, X, y, method="loop")
    assert list(a.layer) == list(b.layer) == ["body.0", "body.1", "body.4", "body.5", "out"]
    np.testing.assert_allclose(a.gsnr, b.gsnr, rtol=1e-4)
    np.testing.assert_allclose(a.grad_var, b.grad_var, rtol=1e-4)
    assert a.n_samples == 60 and np.all(a.n_params == [30, 12, 35, 10, 12])


def test_vmap_matches_loop_cnn_images():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, (12, 16, 16, 3)).astype(np.uint8)
    y = np.arange(12) % 2
    clf = SAMNetClassifier(SmallForensicCNN, module__widths=(4, 6), max_epochs=1, batch_size=6, random_state=0)
    clf.fit(X, y)
    a = layerwise_gsnr(clf, X, y, batch_size=5)
    b = layerwise_gsnr(clf, X, y, method="loop")
    np.testing.assert_allclose(a.gsnr, b.gsnr, rtol=1e-3)
    assert list(a.layer) == ["features.0", "features.1", "features.4", "features.5", "out"]


def test_gsnr_closed_form_linear_probe():
    X, y = _blobs(n=50, d=3, seed=1)
    clf = SAMNetClassifier(LinearProbe, max_epochs=3, random_state=0).fit(X, y)
    W = clf.module_.linear.weight.detach().numpy().astype(np.float64)
    b = clf.module_.linear.bias.detach().numpy().astype(np.float64)
    logits = X @ W.T + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d = p - np.eye(2)[y]  # dCE/dlogits, per sample
    g = np.concatenate([(d[:, :, None] * X[:, None, :]).reshape(len(X), -1), d], axis=1)
    expected = np.mean(g.mean(0) ** 2 / g.var(0, ddof=1))
    assert gsnr_score(clf, X, y) == pytest.approx(expected, rel=1e-4)
    assert gsnr_score(clf, X, y, aggregate="pooled") == pytest.approx(expected, rel=1e-4)


def test_layers_aggregate_and_batch_size(mlp_fitted):
    clf, X, y = mlp_fitted
    full = layerwise_gsnr(clf, X, y)
    last = layerwise_gsnr(clf, X, y, layers=-1, batch_size=7)
    assert list(last.layer) == ["out"]
    np.testing.assert_allclose(last.gsnr, full.gsnr[-1:], rtol=1e-5)
    assert list(layerwise_gsnr(clf, X, y, layers=["body.*"]).layer) == ["body.0", "body.1", "body.4", "body.5"]
    assert list(layerwise_gsnr(clf, X, y, layers="out").layer) == ["out"]
    assert gsnr_score(clf, X, y, aggregate="min") == pytest.approx(full.gsnr.min(), rel=1e-6)
    assert gsnr_score(clf, X, y, aggregate="first") == pytest.approx(full.gsnr[0], rel=1e-6)
    assert gsnr_score(clf, X, y) == pytest.approx(full.gsnr.mean(), rel=1e-6)
    with pytest.raises(ValueError, match="no layer matches"):
        layerwise_gsnr(clf, X, y, layers=["nope"])
    with pytest.raises(ValueError, match="out of range"):
        layerwise_gsnr(clf, X, y, layers=[10])
    with pytest.raises(ValueError, match="aggregate"):
        gsnr_score(clf, X, y, aggregate="avg")
    with pytest.raises(ValueError, match="aggregate"):
        make_gsnr_scorer(aggregate="avg")
    with pytest.raises(ValueError, match="method"):
        layerwise_gsnr(clf, X, y, method="python")
    with pytest.raises(ValueError, match="two samples"):
        gsnr_score(clf, X[:1], y[:1])
    pytest.importorskip("pandas")
    frame = layerwise_gsnr(clf, X, y, as_frame=True)
    assert list(frame.columns) == ["layer", "depth", "n_params", "gsnr", "grad_mean_sq", "grad_var"]


def test_gsnr_input_errors():
    X, y = _blobs()
    with pytest.raises(NotFittedError):
        gsnr_score(SAMNetClassifier(LinearProbe), X, y)
    with pytest.raises(TypeError, match="skorch network"):
        gsnr_score(LogisticRegression().fit(X, y), X, y)


def test_pipeline_and_grid_search_with_gsnr_scorer():
    X, y = _blobs(n=48)
    pipe = make_pipeline(
        StandardScaler(),
        SAMNetClassifier(MLPHead, module__hidden_sizes=(4,), max_epochs=2, batch_size=16, random_state=0),
    )
    pipe.fit(X, y)
    assert np.isfinite(gsnr_score(pipe, X, y))
    search = GridSearchCV(
        SAMNetClassifier(MLPHead, module__hidden_sizes=(4,), max_epochs=2, batch_size=16, random_state=0),
        {"optimizer__rho": [0.01, 0.5]},
        scoring=make_gsnr_scorer(),
        cv=2,
    )
    search.fit(X, y)
    assert search.best_params_["optimizer__rho"] in (0.01, 0.5)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert gsnr_score(search, X, y) > 0  # unwraps best_estimator_


@pytest.fixture(scope="module")
def cifake_highpass(cifake_small):
    """A small real task: 48 high-pass energy features of 200 + 200 CIFAKE images."""
    from skforensics._image_io import load_images

    paths, y, _ = cifake_small
    rng = np.random.RandomState(0)
    keep = np.sort(np.r_[rng.choice(np.flatnonzero(y == 0), 200, False), rng.choice(np.flatnonzero(y == 1), 200, False)])
    imgs = np.stack(load_images([paths[i] for i in keep])).astype(np.float32) / 255
    hp = imgs - (np.roll(imgs, 1, 1) + np.roll(imgs, -1, 1) + np.roll(imgs, 1, 2) + np.roll(imgs, -1, 2)) / 4
    n = len(imgs)
    feats = np.abs(hp).reshape(n, 4, 8, 4, 8, 3).mean((2, 4)).reshape(n, -1)
    feats = (feats - feats.mean(0)) / feats.std(0)
    return feats.astype(np.float32), y[keep]


def test_sam_collapse_and_critical_radius(cifake_highpass):
    X, y = cifake_highpass
    net = SAMNetClassifier(
        MLPHead, module__hidden_sizes=(16,), lr=0.05, optimizer__momentum=0.9, max_epochs=10,
        batch_size=32, random_state=0,
    )
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    res = critical_optimization_radius(net, X, y, rhos=[0.01, 0.1, 100.0, 1000.0], cv=cv)
    small, huge = res.mean_test_score[0], res.mean_test_score[-1]
    assert small > 0.6  # a small radius trains
    assert abs(huge - 0.5) < 0.06  # a huge radius collapses to chance (balanced classes)
    assert res.chance_level == pytest.approx(0.5)
    assert res.collapsed[-1] and not res.collapsed[0]
    assert 0.01 < res.critical_radius <= 100.0
    disp = RadiusSweepDisplay.from_result(res)
    assert disp.ax_.get_xscale() == "log"


def test_critical_radius_warnings_and_errors():
    X, y = _blobs(n=40)
    net = SAMNetClassifier(LinearProbe, max_epochs=2, batch_size=16, random_state=0)
    with pytest.raises(ValueError, match="increasing"):
        critical_optimization_radius(net, X, y, rhos=[1.0, 0.1])
    with pytest.raises(ValueError, match="chance level"):
        critical_optimization_radius(net, X, y, rhos=[0.1, 1.0], scoring="f1")
    with pytest.warns(UserWarning, match="above the grid"):
        res = critical_optimization_radius(net, X, y, rhos=[0.0, 0.001], cv=2, chance_level=0.0)
    assert res.critical_radius == np.inf


def test_displays():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = _blobs()
    clf = SAMNetClassifier(MLPHead, module__hidden_sizes=(4,), max_epochs=1, random_state=0).fit(X, y)
    disp = GSNRProfileDisplay.from_estimator(clf, X, y, label="SAM")
    assert len(disp.layers) == 3 and disp.ax_.get_yscale() == "log"
    disp2 = GSNRProfileDisplay(disp.layers, disp.gsnr / 2).plot(ax=disp.ax_, label="other")
    assert disp2.ax_ is disp.ax_ and len(disp.ax_.get_lines()) == 2
    with pytest.raises(ValueError, match="same length"):
        GSNRProfileDisplay(["a"], [1.0, 2.0])
    rs = RadiusSweepDisplay([0.1, 1, 10], [0.9, 0.8, 0.5], [0.01, 0.02, 0.0], 0.5, threshold=0.54,
                            critical_radius=5.0).plot()
    labels = [t.get_text() for t in rs.ax_.get_legend().get_texts()]
    assert any("critical radius" in t for t in labels)
    plt.close("all")
