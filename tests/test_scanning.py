import os

import numpy as np
import pytest
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skforensics.datasets import load_images
from skforensics.features import SpectralFeatureExtractor
from skforensics.scanning import ScanRecord, iter_scores, score_batch


class CountingFeatures(TransformerMixin, BaseEstimator):
    """Mean and std of each image; counts the images it transforms (all instances)."""

    n_images = 0

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        imgs = load_images(X)
        type(self).n_images += len(imgs)
        for img in imgs:
            if img.mean() == 0:
                raise ValueError("all-black image refused by the model")
        return np.array([[img.mean(), img.std()] for img in imgs])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags


def _write_images(folder, n, seed=0):
    """``n`` 16x16 PNGs: even indices dark and smooth ("real"), odd bright and noisy."""
    rng = np.random.RandomState(seed)
    os.makedirs(folder, exist_ok=True)
    paths, y = [], []
    for i in range(n):
        label = i % 2
        base = 60 + 120 * label
        img = np.clip(base + rng.randn(16, 16, 3) * (5 + 40 * label), 1, 255).astype(np.uint8)
        p = os.path.join(folder, f"img{i:04d}.png")
        Image.fromarray(img).save(p)
        paths.append(p)
        y.append(label)
    return paths, np.array(y)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return _write_images(str(tmp_path_factory.mktemp("scan") / "imgs"), 24)


@pytest.fixture(scope="module")
def model(images):
    paths, y = images
    return make_pipeline(CountingFeatures(), LogisticRegression()).fit(paths, y)


def test_score_batch_records_and_errors(images, model, tmp_path):
    paths, y = images
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    items = [paths[0], str(tmp_path / "missing.png"), paths[1], str(bad)]
    recs = score_batch(model, items)
    assert [r.path for r in recs] == items
    assert all(isinstance(r, ScanRecord) for r in recs)
    assert recs[0].verdict == "real" and recs[2].verdict == "fake"
    for r, name in ((recs[1], "missing.png"), (recs[3], "broken.png")):
        assert r.verdict is None and np.isnan(r.prob_fake)
        assert name in r.error and "X[" not in r.error
    expected = model.predict_proba([paths[0], paths[1]])[:, 1]
    np.testing.assert_allclose([recs[0].prob_fake, recs[2].prob_fake], expected)


def test_score_batch_threshold(images, model):
    paths, _ = images
    probs = np.array([r.prob_fake for r in score_batch(model, paths)])
    thr = float(np.median(probs))
    verdicts = [r.verdict for r in score_batch(model, paths, threshold=thr)]
    assert verdicts == ["fake" if p > thr else "real" for p in probs]


def test_string_labels_read_through_classes(images):
    paths, y = images
    labels = np.where(y == 1, "fake", "real")
    m_str = make_pipeline(CountingFeatures(), LogisticRegression()).fit(paths, labels)
    m_int = make_pipeline(CountingFeatures(), LogisticRegression()).fit(paths, y)
    assert m_str.classes_.tolist() == ["fake", "real"]  # "fake" sorts first
    rs, ri = score_batch(m_str, paths), score_batch(m_int, paths)
    np.testing.assert_allclose([r.prob_fake for r in rs], [r.prob_fake for r in ri])
    assert [r.verdict for r in rs] == [r.verdict for r in ri]
    assert [r.verdict for r in rs] == ["fake" if v else "real" for v in y]


def test_one_feature_pass_per_image(images, model):
    paths, _ = images
    CountingFeatures.n_images = 0
    recs = list(iter_scores(model, paths, batch_size=5))
    assert len(recs) == len(paths)
    assert CountingFeatures.n_images == len(paths)


def test_iter_scores_order_batches_and_generators(images, model):
    paths, _ = images
    expected = [r.prob_fake for r in score_batch(model, paths)]
    for bs in (1, 7, 100):
        recs = list(iter_scores(model, iter(paths), batch_size=bs))  # a generator: no len()
        assert [r.path for r in recs] == paths
        np.testing.assert_allclose([r.prob_fake for r in recs], expected)
    with pytest.raises(ValueError, match="batch_size"):
        list(iter_scores(model, paths, batch_size=0))


def test_a_refused_image_does_not_lose_its_batch(images, model, tmp_path):
    paths, _ = images
    black = str(tmp_path / "black.png")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(black)
    recs = score_batch(model, [paths[0], black, paths[1]])
    assert recs[0].verdict == "real" and recs[2].verdict == "fake"
    assert recs[1].verdict is None and "black.png" in recs[1].error
    assert "all-black" in recs[1].error


def test_progress_bar_counts_images(images, model, capsys):
    paths, _ = images
    list(iter_scores(model, paths, batch_size=10, verbose=True))
    err = capsys.readouterr().err
    assert f"{len(paths)}/{len(paths)}" in err and "image" in err


def test_dask_client_goes_through_map_ordered(images, model, monkeypatch):
    distributed = pytest.importorskip("skforensics.distributed")
    if not hasattr(distributed, "map_ordered"):
        pytest.skip("skforensics.distributed.map_ordered is not available yet")
    paths, _ = images
    calls = []

    def fake_map_ordered(client, func, items, **broadcast):
        calls.append((client, sorted(broadcast)))
        for item in items:
            yield func(item, **broadcast)

    monkeypatch.setattr(distributed, "map_ordered", fake_map_ordered)
    client = object()
    recs = list(iter_scores(model, paths, batch_size=5, client=client, threshold=0.3))
    assert calls == [(client, ["model"])]
    assert [r.path for r in recs] == paths
    assert [r.verdict for r in recs] == [
        r.verdict for r in score_batch(model, paths, threshold=0.3)
    ]


def test_dask_in_process_cluster(images):
    distributed = pytest.importorskip("skforensics.distributed")
    if not hasattr(distributed, "map_ordered"):
        pytest.skip("skforensics.distributed.map_ordered is not available yet")
    dd = pytest.importorskip("distributed")
    paths, y = images
    model = make_pipeline(SpectralFeatureExtractor(n_bins=8), LogisticRegression()).fit(paths, y)
    with dd.Client(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as client:
        recs = list(iter_scores(model, paths, batch_size=4, client=client))
    local = score_batch(model, paths)
    assert [r.path for r in recs] == paths
    np.testing.assert_allclose([r.prob_fake for r in recs], [r.prob_fake for r in local])
