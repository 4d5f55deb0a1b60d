import json
import os

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import StandardScaler

import skforensics
from skforensics._persistence import ModelVersionError, ModelVersionWarning, read_header
from skforensics.datasets import load_sample_images
from skforensics.features import ResidualFeatureExtractor, SpectralFeatureExtractor


@pytest.fixture(scope="module")
def sample():
    return load_sample_images("cifake")


@pytest.fixture(scope="module")
def fitted(sample):
    clf = make_pipeline(
        make_union(SpectralFeatureExtractor(n_bins=16), ResidualFeatureExtractor(groups=("npr",))),
        StandardScaler(),
        LogisticRegression(max_iter=1000),
    )
    return clf.fit(sample.paths, sample.y)


def _rewrite_header(path, **versions):
    with open(path, "rb") as f:
        magic, header, rest = f.readline(), json.loads(f.readline()), f.read()
    header["versions"].update(versions)
    with open(path, "wb") as f:
        f.write(magic + json.dumps(header).encode() + b"\n" + rest)


def test_round_trip(tmp_path, fitted, sample):
    path = tmp_path / "m.skf"
    assert skforensics.save(fitted, path) == str(path)
    header = read_header(path)
    assert header["versions"]["skforensics"] == skforensics.__version__
    assert set(header["versions"]) >= {"skforensics", "sklearn", "torch"}
    assert header["class"].endswith("Pipeline")
    loaded = skforensics.load(path)
    np.testing.assert_allclose(
        loaded.predict_proba(sample.paths), fitted.predict_proba(sample.paths)
    )
    assert not os.path.exists(str(path) + ".tmp")


def test_version_mismatch(tmp_path, fitted):
    path = tmp_path / "m.skf"
    skforensics.save(fitted, path, compress=0)
    _rewrite_header(path, sklearn="0.0.1")
    with pytest.warns(ModelVersionWarning, match="sklearn 0.0.1"):
        skforensics.load(path)
    _rewrite_header(path, skforensics="0.0.9")
    with pytest.raises(ModelVersionError, match="skforensics 0.0.9"):
        skforensics.load(path)
    # a different patch / dev release of the same major.minor loads
    major_minor = ".".join(skforensics.__version__.split(".")[:2])
    _rewrite_header(path, skforensics=major_minor + ".99", sklearn=None)
    skforensics.load(path)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        skforensics.load(tmp_path / "missing.skf")
    bad = tmp_path / "bad.skf"
    bad.write_bytes(b"something else")
    with pytest.raises(ValueError, match="not a model saved by skforensics.save"):
        skforensics.load(bad)


def test_torch_estimator_round_trip(tmp_path, sample):
    pytest.importorskip("open_clip")
    from skforensics import CLIPFeatureExtractor

    ext = CLIPFeatureExtractor("skf-tiny-vit", pretrained=None, random_state=0, batch_size=16)
    clf = make_pipeline(ext, LogisticRegression(max_iter=500)).fit(sample.paths, sample.y)
    path = tmp_path / "clip.skf"
    skforensics.save(clf, path)
    loaded = skforensics.load(path)
    np.testing.assert_allclose(
        loaded.predict_proba(sample.paths), clf.predict_proba(sample.paths), atol=1e-5
    )
