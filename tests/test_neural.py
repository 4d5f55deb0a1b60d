import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn.base import BaseEstimator, TransformerMixin, clone  # noqa: E402

from skforensics.neural import (  # noqa: E402
    CLIPFineTuneHead,
    FeatureAlignmentLoss,
    LinearProbe,
    MLPHead,
    RetrospectionKLLoss,
    SAMNetClassifier,
    SmallForensicCNN,
    ViewOutput,
    gram_alignment,
)
from skforensics.optim import GRACE, SAM  # noqa: E402

TINY_CNN = dict(module__widths=(4, 8), module__dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _blobs(n=80, d=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d).astype(np.float32)
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "fake", "real")
    return X, y


def _images(n=24, size=16, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randint(0, 256, (n, size, size, 3)).astype(np.uint8)
    y = np.arange(n) % 2
    X[y == 1] //= 2  # darker fakes: learnable
    return X, y


# ------------------------------------------------------------------ sklearn API
def test_get_params_clone_set_params():
    clf = SAMNetClassifier(LinearProbe, optimizer__rho=0.3, lr=0.1, random_state=3)
    params = clf.get_params()
    assert params["optimizer__rho"] == 0.3
    assert params["device"] == "auto" and params["random_state"] == 3
    c = clone(clf)
    assert c.get_params()["optimizer__rho"] == 0.3
    c.set_params(optimizer__rho=2.0, augment=None)
    assert c.optimizer__rho == 2.0 and clf.optimizer__rho == 0.3
    with pytest.raises(ValueError, match="unexpected"):
        SAMNetClassifier(LinearProbe, optimizr__rho=1).fit(*_blobs())


def test_set_params_reaches_the_transformers():
    from sklearn.model_selection import GridSearchCV

    from skforensics.perturbations import JPEGCompression, RandomReencode

    clf = SAMNetClassifier(
        SmallForensicCNN,
        **TINY_CNN,
        max_epochs=1,
        train_transform=RandomReencode(formats=["png"]),
        input_transform=JPEGCompression(quality=95),
        random_state=0,
    )
    assert clf.get_params()["train_transform__scale"] is None
    clf.set_params(train_transform__scale=(0.5, 2.0), input_transform__quality=90, lr=0.01)
    assert clf.train_transform.scale == (0.5, 2.0) and clf.input_transform.quality == 90
    assert clf.lr == 0.01 and not hasattr(clf, "train_transform__scale")
    # a new transformer and its parameters in one call: the parameters reach the new one
    clf.set_params(train_transform=RandomReencode(), train_transform__quality=(80, 90))
    assert clf.train_transform.quality == (80, 90) and clf.train_transform.formats[0] == "jpeg"
    with pytest.raises(ValueError, match="augment"):
        clf.set_params(augment__n_views=2)
    # what GridSearchCV does: clone, set nested parameters, fit
    X, y = _images(n=16, size=16)
    gs = GridSearchCV(clf, {"train_transform__quality": [(70, 80), (90, 100)]}, cv=2)
    gs.fit(X, y)
    assert gs.best_estimator_.train_transform.quality in [(70, 80), (90, 100)]


def test_fit_predict_features_string_labels():
    X, y = _blobs()
    clf = SAMNetClassifier(LinearProbe, lr=0.5, max_epochs=15, batch_size=16, random_state=0)
    clf.fit(X, y)
    assert list(clf.classes_) == ["fake", "real"]
    assert clf.n_features_in_ == 5 and clf.input_kind_ == "features"
    assert str(clf.device_) == "cpu" and clf.device == "auto"
    assert isinstance(clf.optimizer_, SAM)
    proba = clf.predict_proba(X)
    assert proba.shape == (80, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert set(clf.predict(X)) <= {"fake", "real"}
    assert clf.score(X, y) > 0.85
    assert clf.decision_function(X).shape == (80,)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])


def test_random_state_reproducible_and_global_rng_untouched():
    X, y = _blobs()
    state = torch.get_rng_state()
    kw = dict(max_epochs=3, batch_size=16, random_state=7)
    p1 = SAMNetClassifier(MLPHead, module__hidden_sizes=(8,), **kw).fit(X, y).predict_proba(X)
    p2 = SAMNetClassifier(MLPHead, module__hidden_sizes=(8,), **kw).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)
    assert torch.equal(state, torch.get_rng_state())
    kw["random_state"] = 8
    p3 = SAMNetClassifier(MLPHead, module__hidden_sizes=(8,), **kw).fit(X, y).predict_proba(X)
    assert not np.allclose(p1, p3)


def test_pickle_roundtrip():
    X, y = _blobs()
    clf = SAMNetClassifier(MLPHead, module__hidden_sizes=(8,), max_epochs=2, random_state=0)
    clf.fit(X, y)
    clf2 = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(clf.predict_proba(X), clf2.predict_proba(X))
    assert clf2.device == "auto" and str(clf2.device_) == "cpu"
    assert isinstance(clf2.optimizer_, SAM)
    clf2.partial_fit(X, y)  # can keep training
    assert len(clf2.history_) == 4


def test_sam_runs_two_fresh_passes_per_step_and_sgd_one():
    X, y = _blobs(n=32)
    calls = []

    class Counting(LinearProbe):
        def forward(self, x, return_features=False):
            calls.append(self.training)
            return super().forward(x, return_features)

    SAMNetClassifier(Counting, max_epochs=1, batch_size=16, random_state=0).fit(X, y)
    assert calls.count(True) == 4  # 2 batches x 2 passes
    calls.clear()
    SAMNetClassifier(
        Counting, optimizer=torch.optim.SGD, max_epochs=1, batch_size=16, random_state=0
    ).fit(X, y)
    assert calls.count(True) == 2


def test_grace_optimizer_in_net():
    X, y = _blobs()
    clf = SAMNetClassifier(
        MLPHead,
        optimizer=GRACE,
        optimizer__rank=1,
        lr=0.2,
        max_epochs=8,
        batch_size=16,
        random_state=0,
    ).fit(X, y)
    assert isinstance(clf.optimizer_, GRACE)
    assert clf.score(X, y) > 0.8


# ------------------------------------------------------------------ images
def test_cnn_on_uint8_arrays_and_bad_inputs():
    X, y = _images()
    clf = SAMNetClassifier(SmallForensicCNN, max_epochs=2, batch_size=8, random_state=0, **TINY_CNN)
    clf.fit(X, y)
    assert clf.input_kind_ == "images" and clf.predict(X).shape == (24,)
    with pytest.raises(ValueError, match="feature matrix"):
        clf.predict(np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="takes images"):
        SAMNetClassifier(SmallForensicCNN).fit(np.zeros((4, 5), dtype=np.float32), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="takes features"):
        SAMNetClassifier(LinearProbe).fit(X, y)
    with pytest.raises(ValueError, match="single class"):
        SAMNetClassifier(SmallForensicCNN).fit(X, np.zeros(24))


def test_cnn_on_paths_with_image_size(cifake_small):
    paths, y, _ = cifake_small
    paths, y = list(paths[:12]) + list(paths[-12:]), np.r_[y[:12], y[-12:]]
    clf = SAMNetClassifier(
        SmallForensicCNN, image_size=16, max_epochs=1, batch_size=8, random_state=0, **TINY_CNN
    ).fit(paths, y)
    assert clf.image_shape_ == (16, 16)
    assert clf.predict_proba(paths[:3]).shape == (3, 2)


def test_mixed_sizes_need_image_size():
    rng = np.random.RandomState(0)
    X = [
        rng.randint(0, 255, (16, 16, 3)).astype(np.uint8),
        rng.randint(0, 255, (20, 16, 3)).astype(np.uint8),
    ]
    with pytest.raises(ValueError, match="image_size"):
        SAMNetClassifier(SmallForensicCNN).fit(X, [0, 1])
    clf = SAMNetClassifier(SmallForensicCNN, image_size=(12, 12), max_epochs=1, **TINY_CNN)
    assert clf.fit(X, [0, 1]).predict(X).shape == (2,)


class FlipViews(TransformerMixin, BaseEstimator):
    """Two views per image: horizontal flip and a 2x down-up resampling."""

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        X = np.asarray(X)
        down = X[:, ::2, ::2].repeat(2, axis=1).repeat(2, axis=2)
        return np.stack([X[:, :, ::-1], down], axis=1)


def test_augment_views_reach_the_criterion():
    X, y = _images()
    seen = []

    class Spy(RetrospectionKLLoss):
        def forward(self, y_pred, y_true):
            seen.append(type(y_pred).__name__)
            if isinstance(y_pred, ViewOutput):
                assert y_pred.view_logits.shape == (len(y_true), 2, 2)
            return super().forward(y_pred, y_true)

    clf = SAMNetClassifier(
        SmallForensicCNN,
        criterion=Spy,
        augment=FlipViews(),
        max_epochs=1,
        batch_size=8,
        random_state=0,
        **TINY_CNN,
    ).fit(X, y)
    assert seen and all(s == "ViewOutput" for s in seen)
    assert clf.augment_.fitted_ and not hasattr(clf.augment, "fitted_")
    assert clf.predict(X).shape == (24,)
    with pytest.raises(ValueError, match="image input"):
        SAMNetClassifier(LinearProbe, augment=FlipViews()).fit(*_blobs())


def test_feature_alignment_through_net():
    X, y = _images()
    clf = SAMNetClassifier(
        SmallForensicCNN,
        criterion=FeatureAlignmentLoss,
        criterion__alpha=1.0,
        augment=FlipViews(),
        max_epochs=1,
        batch_size=8,
        random_state=0,
        **TINY_CNN,
    ).fit(X, y)
    assert np.isfinite(clf.history_[-1]["train_loss"])


def test_msr_augment(monkeypatch):
    from skforensics import MultiScaleStyleRetrospection

    X, y = _images(n=16, size=32)
    msr = MultiScaleStyleRetrospection(scales=(1.0, 0.5), output_size=32, random_state=0)
    clf = SAMNetClassifier(
        SmallForensicCNN, augment=msr, max_epochs=1, batch_size=8, random_state=0, **TINY_CNN
    ).fit(X, y)
    assert clf.predict(X).shape == (16,)


# ------------------------------------------------------------------ losses
def test_retrospection_kl_values():
    logits = torch.tensor([[2.0, -1.0], [0.0, 1.0]])
    y = torch.tensor([0, 1])
    loss = RetrospectionKLLoss(gamma=0.8)
    ce = torch.nn.functional.cross_entropy(logits, y)
    # identical views: KL = 0
    same = ViewOutput(logits, logits[:, None].repeat(1, 3, 1))
    torch.testing.assert_close(loss(same, y), ce)
    torch.testing.assert_close(loss(logits, y), ce)  # no views: plain CE
    views = torch.zeros(2, 1, 2)
    p = torch.softmax(logits, -1)
    kl = (p * (p.log() - np.log(0.5))).sum(-1).mean()
    torch.testing.assert_close(loss(ViewOutput(logits, views), y), ce + 0.8 * kl)
    with pytest.raises(ValueError, match="gamma"):
        RetrospectionKLLoss(gamma=-1)


def test_gram_alignment_properties():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(6, 4, generator=g)
    assert float(gram_alignment(f, f)) < 1e-12
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g))
    assert float(gram_alignment(f, f @ q)) < 1e-10  # rotation keeps the Gram matrix
    assert float(gram_alignment(f, torch.randn(6, 2, 4, generator=g))) > 0.01
    out = ViewOutput(torch.zeros(6, 2), None, f, torch.randn(6, 1, 4, generator=g))
    y = torch.zeros(6, dtype=torch.long)
    assert float(FeatureAlignmentLoss(alpha=2.0)(out, y)) > float(
        FeatureAlignmentLoss(alpha=0.0)(out, y)
    )


# ------------------------------------------------------------------ CLIP head
def test_clip_finetune_head(tiny_clip_name):
    head = CLIPFineTuneHead(tiny_clip_name, pretrained=None, n_trainable_blocks=1, random_state=0)
    trainable = {n for n, p in head.named_parameters() if p.requires_grad}
    assert any(n.startswith("visual.transformer.resblocks.3.") for n in trainable)
    assert not any(n.startswith("visual.transformer.resblocks.2.") for n in trainable)
    assert not any(n.startswith("visual.conv1") for n in trainable)
    assert {"out.weight", "out.bias"} <= trainable
    with pytest.raises(ValueError, match="n_trainable_blocks"):
        CLIPFineTuneHead(tiny_clip_name, pretrained=None, n_trainable_blocks=9)
    X, y = _images(n=16, size=24)
    clf = SAMNetClassifier(
        CLIPFineTuneHead,
        module__model_name=tiny_clip_name,
        module__pretrained=None,
        module__random_state=0,
        max_epochs=1,
        batch_size=8,
        random_state=0,
    ).fit(X, y)
    assert clf.predict_proba(X).shape == (16, 2)
