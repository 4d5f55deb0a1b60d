import warnings

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

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _blobs(n=60, d=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d).astype(np.float32)
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.randn(n) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def mlp_fitted():
    X, y = _blobs()
    clf = SAMNetClassifier(
        MLPHead, module__hidden_sizes=(6, 5), max_epochs=2, batch_size=16, random_state=0
    )
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
    clf = SAMNetClassifier(
        SmallForensicCNN, module__widths=(4, 6), max_epochs=1, batch_size=6, random_state=0
    )
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
    assert list(layerwise_gsnr(clf, X, y, layers=["body.*"]).layer) == [
        "body.0",
        "body.1",
        "body.4",
        "body.5",
    ]
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
        SAMNetClassifier(
            MLPHead, module__hidden_sizes=(4,), max_epochs=2, batch_size=16, random_state=0
        ),
    )
    pipe.fit(X, y)
    assert np.isfinite(gsnr_score(pipe, X, y))
    search = GridSearchCV(
        SAMNetClassifier(
            MLPHead, module__hidden_sizes=(4,), max_epochs=2, batch_size=16, random_state=0
        ),
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
    keep = np.sort(
        np.r_[
            rng.choice(np.flatnonzero(y == 0), 200, False),
            rng.choice(np.flatnonzero(y == 1), 200, False),
        ]
    )
    imgs = np.stack(load_images([paths[i] for i in keep])).astype(np.float32) / 255
    hp = (
        imgs
        - (np.roll(imgs, 1, 1) + np.roll(imgs, -1, 1) + np.roll(imgs, 1, 2) + np.roll(imgs, -1, 2))
        / 4
    )
    n = len(imgs)
    feats = np.abs(hp).reshape(n, 4, 8, 4, 8, 3).mean((2, 4)).reshape(n, -1)
    feats = (feats - feats.mean(0)) / feats.std(0)
    return feats.astype(np.float32), y[keep]


def test_sam_collapse_and_critical_radius(cifake_highpass):
    X, y = cifake_highpass
    net = SAMNetClassifier(
        MLPHead,
        module__hidden_sizes=(16,),
        lr=0.05,
        optimizer__momentum=0.9,
        max_epochs=10,
        batch_size=32,
        random_state=0,
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
    clf = SAMNetClassifier(MLPHead, module__hidden_sizes=(4,), max_epochs=1, random_state=0).fit(
        X, y
    )
    disp = GSNRProfileDisplay.from_estimator(clf, X, y, label="SAM")
    assert len(disp.layers) == 3 and disp.ax_.get_yscale() == "log"
    looped = GSNRProfileDisplay.from_estimator(clf, X, y, method="loop", ax=disp.ax_)
    np.testing.assert_allclose(looped.gsnr, disp.gsnr, rtol=1e-4)
    plt.close(looped.figure_)
    disp = GSNRProfileDisplay.from_estimator(clf, X, y, label="SAM")
    disp2 = GSNRProfileDisplay(disp.layers, disp.gsnr / 2).plot(ax=disp.ax_, label="other")
    assert disp2.ax_ is disp.ax_ and len(disp.ax_.get_lines()) == 2
    with pytest.raises(ValueError, match="same length"):
        GSNRProfileDisplay(["a"], [1.0, 2.0])
    rs = RadiusSweepDisplay(
        [0.1, 1, 10], [0.9, 0.8, 0.5], [0.01, 0.02, 0.0], 0.5, threshold=0.54, critical_radius=5.0
    ).plot()
    labels = [t.get_text() for t in rs.ax_.get_legend().get_texts()]
    assert any("critical radius" in t for t in labels)
    plt.close("all")


# ------------------------------------------------------------ method="auto"
from torch import nn  # noqa: E402

from skforensics.metrics import _gsnr  # noqa: E402


@pytest.fixture
def vmap_spy(monkeypatch):
    """The parameter names of every call of _vmap_fn (the last call is the final pass)."""
    seen = []
    orig = _gsnr._vmap_fn

    def spy(module, names, *args):
        seen.append(list(names))
        return orig(module, names, *args)

    monkeypatch.setattr(_gsnr, "_vmap_fn", spy)
    return seen


def _no_hooks(module):
    return all(not m._forward_hooks for m in module.modules())


def _three_methods(clf, X, y, rtol, spy, loop_rtol=None, **kw):
    """Compare auto, vmap and loop; return auto's table and the parameters it left to vmap."""
    del spy[:]
    a = layerwise_gsnr(clf, X, y, method="auto", **kw)
    fallback = spy[-1] if spy else []
    v = layerwise_gsnr(clf, X, y, method="vmap", **kw)
    b = layerwise_gsnr(clf, X, y, method="loop")
    assert list(a.layer) == list(b.layer) and np.all(a.n_params == b.n_params)
    for col in ("gsnr", "grad_mean_sq", "grad_var"):
        np.testing.assert_allclose(a[col], b[col], rtol=loop_rtol or rtol)
        np.testing.assert_allclose(v[col], b[col], rtol=loop_rtol or rtol)
        np.testing.assert_allclose(a[col], v[col], rtol=rtol)
    assert _no_hooks(clf.module_)
    return a, fallback


def test_auto_matches_loop_linear_probe_and_mlp(mlp_fitted, vmap_spy):
    clf, X, y = mlp_fitted  # Linear + LayerNorm + GELU + dropout (evaluation mode)
    assert _three_methods(clf, X, y, 1e-4, vmap_spy, batch_size=16)[1] == []  # all by layer rules
    Xl, yl = _blobs(n=50, d=3, seed=1)
    probe = SAMNetClassifier(LinearProbe, max_epochs=3, random_state=0).fit(Xl, yl)
    assert _three_methods(probe, Xl, yl, 1e-4, vmap_spy, batch_size=16)[1] == []
    assert clf.module_.training  # training mode restored


def test_auto_matches_loop_cnn_with_batchnorm(vmap_spy):
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, (12, 16, 16, 3)).astype(np.uint8)
    y = np.arange(12) % 2
    clf = SAMNetClassifier(
        SmallForensicCNN, module__widths=(4, 6), max_epochs=1, batch_size=6, random_state=0
    )
    clf.fit(X, y)  # BatchNorm running statistics are non-trivial after training
    a, fallback = _three_methods(clf, X, y, 1e-3, vmap_spy, batch_size=5)
    assert list(a.layer) == ["features.0", "features.1", "features.4", "features.5", "out"]
    assert fallback == []


class _ManyLayers(nn.Module):
    """One of each layer rule: Conv1d, grouped strided Conv2d, GroupNorm, Linear on tokens, LayerNorm on tokens."""

    input_kind = "features"

    def __init__(self, n_features=48, n_classes=2):
        super().__init__()
        self.c1 = nn.Conv1d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 6, 3, padding=1, stride=2, groups=2)
        self.gn = nn.GroupNorm(2, 6)
        self.tok = nn.Linear(6, 5)
        self.ln = nn.LayerNorm(5)
        self.bn = nn.BatchNorm1d(5)
        self.out = nn.Linear(5, n_classes)

    def forward(self, x):
        h = torch.tanh(self.c1(x.view(len(x), 3, 16)))
        h = self.gn(self.c2(h.view(len(x), 4, 4, 4)))  # (n, 6, 2, 2)
        h = self.ln(torch.tanh(self.tok(h.flatten(2).transpose(1, 2))))  # (n, 4 tokens, 5)
        return self.out(torch.tanh(self.bn(h.mean(1))))


def test_auto_layer_rules(vmap_spy):
    X, y = _blobs(n=40, d=48, seed=2)
    clf = SAMNetClassifier(_ManyLayers, max_epochs=2, batch_size=8, random_state=0).fit(X, y)
    assert _three_methods(clf, X, y, 1e-3, vmap_spy, batch_size=16)[1] == []


class _Unsupported(nn.Module):
    """Layers without a rule (PReLU, a bare Parameter), a Linear whose weight is
    also used outside it, and a Linear called twice."""

    input_kind = "features"

    def __init__(self, n_features=4, n_classes=2):
        super().__init__()
        self.inp = nn.Linear(n_features, 6)
        self.act = nn.PReLU(6)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 6))
        self.twice = nn.Linear(6, 6)
        self.shared = nn.Linear(6, 6)
        self.out = nn.Linear(6, n_classes)

    def forward(self, x):
        h = self.act(self.inp(x)) * self.scale
        h = torch.tanh(self.twice(torch.tanh(self.twice(h))))
        h = torch.tanh(self.shared(h) + 0.1 * h @ self.shared.weight)
        return self.out(h)


def test_auto_falls_back_to_vmap_for_unsupported_layers(vmap_spy):
    X, y = _blobs(n=40)
    clf = SAMNetClassifier(_Unsupported, max_epochs=2, batch_size=8, random_state=0).fit(X, y)
    _, fallback = _three_methods(clf, X, y, 1e-4, vmap_spy, batch_size=16)
    assert sorted(fallback) == [
        "act.weight",
        "scale",
        "shared.bias",
        "shared.weight",
        "twice.bias",
        "twice.weight",
    ]


def test_auto_falls_back_when_samples_are_coupled(vmap_spy):
    # centring with the batch mean couples the samples of a batch: the per-sample
    # gradient (of a sample on its own, as vmap and loop compute it) is then not
    # what a batched backward pass gives; the check on the first batch catches it
    class Coupled(nn.Module):
        input_kind = "features"

        def __init__(self, n_features=4, n_classes=2):
            super().__init__()
            self.inp = nn.Linear(n_features, 5)
            self.out = nn.Linear(5, n_classes)

        def forward(self, x):
            h = self.inp(x)
            return self.out(torch.tanh(h - 0.5 * h.mean(0, keepdim=True)))

    X, y = _blobs(n=30)
    clf = SAMNetClassifier(Coupled, max_epochs=1, batch_size=10, random_state=0).fit(X, y)
    _, fallback = _three_methods(clf, X, y, 1e-4, vmap_spy, batch_size=10)
    assert sorted(fallback) == ["inp.bias", "inp.weight", "out.bias", "out.weight"]


def test_auto_removes_hooks_on_error(mlp_fitted, monkeypatch):
    clf, X, y = mlp_fitted

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(_gsnr, "_layer_moments", boom)
    with pytest.raises(RuntimeError, match="boom"):
        layerwise_gsnr(clf, X, y, method="auto")
    assert _no_hooks(clf.module_) and clf.module_.training


def test_method_validation_and_scorer(mlp_fitted):
    clf, X, y = mlp_fitted
    for bad in ("fast", None, 1):
        must = r"'method' parameter of \w+ must be a str among \{'\w+', '\w+', '\w+'\}"
        with pytest.raises(ValueError, match=must):
            layerwise_gsnr(clf, X, y, method=bad)
        with pytest.raises(ValueError, match=must):
            gsnr_score(clf, X, y, method=bad)
        with pytest.raises(ValueError, match=must):
            make_gsnr_scorer(method=bad)
    scorer = make_gsnr_scorer(method="loop")
    assert scorer.method == "loop" and "method='loop'" in repr(scorer)
    assert scorer(clf, X, y) == pytest.approx(gsnr_score(clf, X, y), rel=1e-4)


def test_auto_on_clip_finetune_head(tiny_clip_name, vmap_spy):
    from skforensics.neural import CLIPFineTuneHead

    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, (10, 24, 24, 3)).astype(np.uint8)
    y = np.arange(10) % 2
    clf = SAMNetClassifier(
        CLIPFineTuneHead,
        module__model_name=tiny_clip_name,
        module__pretrained=None,
        module__random_state=0,
        max_epochs=1,
        batch_size=5,
        random_state=0,
    ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", UserWarning
        )  # vmap: no batching rule for some attention ops
        # float32 attention: batched and single-sample passes differ by up to ~3e-3
        _, fallback = _three_methods(clf, X, y, 1e-3, vmap_spy, loop_rtol=1e-2, batch_size=4)
    # the MLP Linears and the head use the layer rules; attention's out_proj is
    # called through F.multi_head_attention_forward (no hook fires): vmap
    assert "out.weight" not in fallback and not any(".mlp." in n for n in fallback)
    assert any("attn.out_proj" in n for n in fallback)
