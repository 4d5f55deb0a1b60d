import pickle

import numpy as np
import pytest
from sklearn.base import clone

from skforensics import ImageLoadError, SkippedImageWarning
from skforensics.datasets import load_sample_images
from skforensics.perturbations import (
    GaussianBlur,
    JPEGCompression,
    RandomCrop,
    RandomPerturbation,
    Resize,
)

ALL = [
    JPEGCompression(50),
    Resize(0.5),
    GaussianBlur(1.5),
    RandomCrop(16, random_state=0),
    RandomPerturbation([JPEGCompression(50), GaussianBlur(1.5)], random_state=0),
]


def _images(n=3, size=40, seed=0):
    rng = np.random.RandomState(seed)
    base = rng.randint(0, 256, size=(n, size // 4, size // 4, 3)).astype(np.uint8)
    return np.repeat(np.repeat(base, 4, 1), 4, 2)  # smooth-ish content


@pytest.mark.parametrize("est", ALL, ids=repr)
def test_clone_pickle_params_and_dtype(est):
    X = _images()
    c = clone(est)
    # nested perturbations are cloned, so compare their parameters through repr
    assert {k: repr(v) for k, v in c.get_params().items()} == {
        k: repr(v) for k, v in est.get_params().items()
    }
    out = est.fit(X).transform(X)
    assert out.dtype == np.uint8 and out.ndim == 4 and out.shape[-1] == 3
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(X), out)
    # stateless: transform works without fit
    np.testing.assert_array_equal(clone(est).transform(X), out)


def test_jpeg_changes_pixels_monotonically():
    X = _images()
    err = [np.abs(JPEGCompression(q).transform(X).astype(int) - X).mean() for q in (95, 50, 10)]
    assert 0 < err[0] < err[1] < err[2]


def test_resize_shapes_and_list_output():
    X = [np.zeros((40, 40, 3), np.uint8), np.zeros((20, 30, 3), np.uint8)]
    out = Resize(0.5).transform(X)
    assert isinstance(out, list) and out[0].shape == (20, 20, 3) and out[1].shape == (10, 15, 3)
    assert Resize(0.1).transform(X)[1].shape == (8, 8, 3)  # at least 8 pixels a side
    assert Resize(2.0, interpolation="nearest").transform(X[:1]).shape == (1, 80, 80, 3)


def test_blur_smooths_and_sigma_zero_is_identity():
    X = np.random.RandomState(0).randint(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    assert GaussianBlur(2.0).transform(X).std() < X.std() / 2
    np.testing.assert_array_equal(GaussianBlur(0).transform(X), X)


def test_random_crop_reproducible_and_small_images():
    X = _images(4, 40)
    a = RandomCrop(16, random_state=3).transform(X)
    b = RandomCrop(16, random_state=3).transform(X)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 16, 16, 3)
    assert RandomCrop((60, 8), random_state=0).transform(X).shape == (4, 40, 8, 3)
    with pytest.raises(ValueError, match="size"):
        RandomCrop((4, 4)).transform(X)


def test_paths_and_multiview():
    paths = load_sample_images("cifake").paths[:3]
    assert JPEGCompression(80).transform(paths).shape == (3, 32, 32, 3)
    mv = _images(4).reshape(2, 2, 40, 40, 3)
    assert GaussianBlur(1).transform(mv).shape == (2, 2, 40, 40, 3)


def test_bad_params_and_on_error(tmp_path):
    X = _images()
    with pytest.raises(ValueError, match="quality"):
        JPEGCompression(0).fit(X)
    with pytest.raises(ValueError, match="scale"):
        Resize(-1).transform(X)
    with pytest.raises(ValueError, match="sigma"):
        GaussianBlur(-1).fit(X)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    good = load_sample_images("cifake").paths[0]
    with pytest.raises(ImageLoadError, match="bad.png"):
        JPEGCompression().transform([good, str(bad)])
    with pytest.warns(SkippedImageWarning):
        out = JPEGCompression(on_error="skip").transform([good, str(bad)])
    assert isinstance(out, list) and out[1] == str(bad) and out[0].shape == (32, 32, 3)


def test_random_perturbation_draws_from_its_candidates():
    X = _images(n=12)
    cands = [JPEGCompression(40), GaussianBlur(2.0)]
    out = RandomPerturbation(cands, random_state=1).transform(X)
    singles = [c.transform(X) for c in cands]
    which = [
        next(k for k, s in enumerate(singles) if np.array_equal(out[i], s[i]))
        for i in range(len(X))
    ]
    assert set(which) == {0, 1}  # both drawn, every output is one of them
    np.testing.assert_array_equal(RandomPerturbation(cands, random_state=1).transform(X), out)
    assert not np.array_equal(RandomPerturbation(cands, random_state=2).transform(X), out)
    # p=0: identity; the default menu changes the images and keeps (or rescales) them
    np.testing.assert_array_equal(RandomPerturbation(cands, p=0.0).transform(X), X)
    default = RandomPerturbation(random_state=0).transform(X)
    assert len(default) == len(X) and all(a.dtype == np.uint8 for a in default)
    with pytest.raises(ValueError, match="non-empty list"):
        RandomPerturbation([], random_state=0).transform(X)
    with pytest.raises(ValueError, match="non-empty list"):
        RandomPerturbation(["jpeg"]).transform(X)


def test_a_perturbation_saved_before_a_parameter_existed_loads_with_its_default():
    X = _images()
    state = JPEGCompression(60).__getstate__()
    del state["n_passes"]  # as saved before n_passes was added
    old = JPEGCompression.__new__(JPEGCompression)
    old.__setstate__(state)
    assert old.get_params()["n_passes"] == 1
    np.testing.assert_array_equal(old.transform(X), JPEGCompression(60).transform(X))
