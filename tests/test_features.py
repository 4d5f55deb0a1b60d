import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import StandardScaler

from skforensics import ImageLoadError, SkippedImageWarning
from skforensics.datasets import load_sample_images
from skforensics.features import (
    ResidualFeatureExtractor,
    SpectralFeatureExtractor,
    axis_spectra,
    cooccurrence,
    npr_residual,
    radial_spectrum,
)

EXTRACTORS = [
    SpectralFeatureExtractor(n_bins=16),
    SpectralFeatureExtractor(n_bins=8, channels="rgb", axis_profiles=False),
    ResidualFeatureExtractor(),
    ResidualFeatureExtractor(groups=("npr",), truncation=1),
]


@pytest.fixture(scope="module")
def sample():
    return load_sample_images()


def _rng_images(n=4, size=32, seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=(n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("est", EXTRACTORS, ids=repr)
def test_shapes_names_and_finite(est, sample):
    est = clone(est).fit(sample.paths)
    F = est.transform(sample.paths)
    assert F.shape == (len(sample.paths), est.n_features_out_)
    assert np.all(np.isfinite(F))
    names = est.get_feature_names_out()
    assert len(names) == F.shape[1] and len(set(names)) == len(names)


@pytest.mark.parametrize("est", EXTRACTORS, ids=repr)
def test_clone_pickle_params(est):
    X = _rng_images()
    params = est.get_params()
    c = clone(est)
    assert c.get_params() == params
    fitted = clone(est).fit(X)
    F = fitted.transform(X)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(again.transform(X), F)
    c.set_params(max_size=16)
    assert c.get_params()["max_size"] == 16
    assert c.fit(X).transform(X).shape[1] == F.shape[1]  # size-independent dimension


def test_input_forms_agree(sample):
    from PIL import Image

    paths = sample.paths[-4:]
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    pils = [Image.fromarray(a) for a in arrays]
    est = SpectralFeatureExtractor(n_bins=8).fit(paths)
    F = est.transform(paths)
    np.testing.assert_allclose(est.transform(arrays), F)
    np.testing.assert_allclose(est.transform(pils), F)
    np.testing.assert_allclose(est.transform(np.stack(arrays)), F)


def test_mixed_sizes_give_fixed_dimension(sample):
    est = ResidualFeatureExtractor().fit(sample.paths)
    F = est.transform(sample.paths)  # 512x512 and 32x32 images mixed
    assert F.shape == (56, 457)


def test_multiview_concatenates():
    X = _rng_images(6).reshape(3, 2, 32, 32, 3)
    est = SpectralFeatureExtractor(n_bins=8).fit(X)
    F = est.transform(X)
    single = SpectralFeatureExtractor(n_bins=8).fit(X[:, 0]).transform(X[:, 0])
    assert F.shape == (3, 2 * single.shape[1])
    np.testing.assert_allclose(F[:, : single.shape[1]], single)
    assert est.get_feature_names_out()[0].startswith("view0_")
    with pytest.raises(ValueError, match="view"):
        est.transform(X[:, 0])


def test_on_error(tmp_path, sample):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    X = sample.paths[:2] + [str(bad)]
    with pytest.raises(ImageLoadError, match="bad.jpg"):
        ResidualFeatureExtractor().fit(X).transform(X)
    est = ResidualFeatureExtractor(on_error="skip").fit(X)
    with pytest.warns(SkippedImageWarning):
        F = est.transform(X)
    assert np.all(np.isnan(F[2])) and np.all(np.isfinite(F[:2]))


def test_bad_params_and_input():
    X = _rng_images()
    with pytest.raises(ValueError, match="groups"):
        ResidualFeatureExtractor(groups=("npr", "bogus")).fit(X)
    with pytest.raises(ValueError, match="n_bins"):
        SpectralFeatureExtractor(n_bins=1).fit(X)
    with pytest.raises(ValueError, match="channels"):
        SpectralFeatureExtractor(channels="hsv").fit(X)
    with pytest.raises(ValueError, match="dtype"):
        SpectralFeatureExtractor().fit(np.zeros((2, 16, 16, 3), dtype=np.float64))
    with pytest.raises(Exception, match="not fitted"):
        SpectralFeatureExtractor().transform(X)


def test_n_jobs_same_result(sample):
    X = sample.paths[:10]
    a = ResidualFeatureExtractor().fit(X).transform(X)
    b = ResidualFeatureExtractor(n_jobs=2).fit(X).transform(X)
    np.testing.assert_allclose(a, b)


def test_center_crop_policy():
    rng = np.random.RandomState(0)
    big = rng.randint(0, 256, size=(1, 80, 120, 3), dtype=np.uint8)
    crop = big[:, 8:72, 28:92]
    est = SpectralFeatureExtractor(n_bins=8, max_size=64).fit(big)
    np.testing.assert_allclose(est.transform(big), est.transform(crop))


def test_radial_spectrum_sees_upsampling():
    rng = np.random.RandomState(0)
    noise = rng.rand(64, 64)
    up = np.repeat(np.repeat(rng.rand(32, 32), 2, 0), 2, 1)  # nearest-neighbour 2x
    a, b = radial_spectrum(noise, 16), radial_spectrum(up, 16)
    assert a.shape == (16,)
    assert b[-1] < a[-1] - 2  # up-sampling removes high-frequency energy...
    assert b[-1] < b[2] - 2  # ...relative to its own low frequencies (white noise: flat)
    assert abs(a[-1] - a[2]) < 1


def test_axis_spectra_see_directional_pattern():
    rng = np.random.RandomState(0)
    noise = rng.rand(64, 64)
    stripes = noise + 5 * np.cos(np.pi * np.arange(64))[None, :]  # period 2 along x
    p0, p1 = axis_spectra(noise, 16), axis_spectra(stripes, 16)
    assert p1.shape == (32,)
    assert p1[-1] > p0[-1] + 3  # horizontal profile, highest band
    assert abs(p1[15] - p0[15]) < 0.5  # vertical profile unchanged


def test_npr_residual_and_cooccurrence():
    up = np.repeat(np.repeat(np.arange(16.0).reshape(4, 4), 2, 0), 2, 1)
    assert np.all(npr_residual(up) == 0)  # nearest-neighbour up-sampled: no residual
    c = cooccurrence(np.tile(np.arange(10.0), (10, 1)), truncation=2)
    assert c.shape == (250,) and np.isclose(c.sum(), 2.0)


def test_features_separate_classes_on_sample(sample):
    clf = make_pipeline(
        make_union(SpectralFeatureExtractor(), ResidualFeatureExtractor()),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    d = load_sample_images("cifake")
    clf.fit(d.paths, d.y)
    assert clf.score(d.paths, d.y) > 0.9
    assert clf.predict_proba(d.paths[:3]).shape == (3, 2)


@pytest.mark.slow
def test_weightfree_accuracy_diffusiondb(diffusiondb):
    """Cross-validated accuracy on the 600 diffusiondb_coco images (>= 0.90)."""
    paths, y, _ = diffusiondb
    F = make_union(
        SpectralFeatureExtractor(n_jobs=2), ResidualFeatureExtractor(n_jobs=2)
    ).fit_transform(paths)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    acc = cross_val_score(lr, F, y, cv=cv).mean()
    base = SpectralFeatureExtractor(axis_profiles=False).fit_transform(paths)
    acc_base = cross_val_score(lr, base, y, cv=cv).mean()
    assert acc >= 0.90
    assert acc > acc_base + 0.08


def test_cifake_accuracy(cifake_small):
    paths, y, _ = cifake_small
    F = make_union(SpectralFeatureExtractor(), ResidualFeatureExtractor()).fit_transform(paths)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    lr = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    assert cross_val_score(lr, F, y, cv=cv).mean() > 0.8
