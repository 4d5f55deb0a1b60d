"""Format-blind training, the NPR residual network on crops, pseudo-fakes and the default detector."""

import io
import os

import numpy as np
import pytest
from PIL import Image
from sklearn.base import BaseEstimator, ClassifierMixin, clone

import skforensics
from skforensics import PseudoFakeClassifier
from skforensics.datasets import load_sample_images, make_pseudo_fakes
from skforensics.neural import NPRNet, SAMNetClassifier, grid_crop_boxes, random_crops
from skforensics.perturbations import RandomReencode


def _noise(rng, h, w):
    return rng.randint(0, 256, (h, w, 3), dtype=np.uint8)


def _upsampled(rng, h, w):
    """Nearest-neighbour 2x up-sampled noise: the plainest generator trace."""
    small = rng.randint(0, 256, (h // 2, w // 2, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)


def _roundtrip(img, fmt, **kw):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt, **kw)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


# ----------------------------------------------------------------- RandomReencode
def test_random_reencode_png_keeps_pixels_jpeg_changes_them():
    rng = np.random.RandomState(0)
    X = [_noise(rng, 48, 40) for _ in range(3)]
    same = RandomReencode(formats=["png", "webp-lossless"], random_state=0).transform(X)
    np.testing.assert_array_equal(same, np.stack(X))
    jpg = RandomReencode(formats=["jpeg"], quality=(60, 70), random_state=0).transform(X)
    assert jpg.shape == (3, 48, 40, 3) and np.abs(jpg.astype(int) - np.stack(X)).mean() > 5


def test_random_reencode_draws_are_reproducible_and_vary():
    rng = np.random.RandomState(1)
    X = [_noise(rng, 32, 32) for _ in range(6)]
    a = RandomReencode(random_state=3).transform(X)
    b = RandomReencode(random_state=3).transform(X)
    np.testing.assert_array_equal(a, b)
    c = RandomReencode(random_state=4).transform(X)
    assert not np.array_equal(a, c)


def test_random_reencode_crop_and_scale():
    rng = np.random.RandomState(2)
    X = [_noise(rng, 96, 80)]
    out = RandomReencode(formats=["png"], crop=40, random_state=0).transform(X)
    assert out.shape == (1, 40, 40, 3)
    src = X[0]
    # the crop is a block of the original at offsets that are multiples of 16
    hits = [
        (t, c)
        for t in range(57)
        for c in range(41)
        if np.array_equal(src[t : t + 40, c : c + 40], out[0])
    ]
    assert hits and all(t % 16 == 0 and c % 16 == 0 for t, c in hits)
    # every aligned offset is drawn over many calls
    offsets = set()
    for seed in range(40):
        o = RandomReencode(formats=["png"], crop=40, random_state=seed).transform(X)[0]
        offsets |= {
            (t, c)
            for t in range(0, 57, 16)
            for c in range(0, 41, 16)
            if np.array_equal(src[t : t + 40, c : c + 40], o)
        }
    assert offsets == {(t, c) for t in range(0, 57, 16) for c in range(0, 41, 16)}
    scaled = RandomReencode(formats=["png"], scale=(0.5, 0.5), random_state=0).transform(X)
    assert scaled.shape == (1, 48, 40, 3)


def test_random_reencode_aspect():
    X = [_noise(np.random.RandomState(3), 96, 80)]
    # an aspect factor a stretches the width by sqrt(a) and shrinks the height by it
    out = RandomReencode(formats=["png"], aspect=(4.0, 4.0), random_state=0).transform(X)
    assert out.shape == (1, 48, 160, 3)
    out = RandomReencode(formats=["png"], scale=(2, 2), aspect=(0.25, 0.25)).transform(X)
    assert out.shape == (1, 384, 80, 3)
    # shapes vary with the draws; scale_p=0 keeps every image as it is
    shapes = {
        RandomReencode(formats=["png"], aspect=(0.8, 1.25), random_state=s).transform(X)[0].shape
        for s in range(8)
    }
    assert len(shapes) > 1 and all(sh[0] != 96 or sh[1] != 80 for sh in shapes)
    kept = RandomReencode(formats=["png"], aspect=(0.5, 2), scale_p=0.0).transform(X)
    np.testing.assert_array_equal(kept[0], X[0])
    # the aspect draw comes after the scale draw: scale-only draws are unchanged by it
    a = RandomReencode(formats=["png"], scale=(0.5, 2), random_state=5).transform(X)[0]
    b = RandomReencode(formats=["png"], scale=(0.5, 2), aspect=(1, 1), random_state=5)
    assert a.shape == b.transform(X)[0].shape


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"formats": ["gif"]}, "formats"),
        ({"quality": (90, 10)}, "quality"),
        ({"scale": (0, 1)}, "scale"),
        ({"aspect": (2, 1)}, "aspect"),
        ({"aspect": "wide"}, "aspect"),
        ({"formats": []}, "formats"),
    ],
)
def test_random_reencode_bad_params(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomReencode(**kwargs).transform([np.zeros((16, 16, 3), np.uint8)])


# ------------------------------------------------------------------------- crops
def test_grid_crop_boxes_cover_and_thin():
    assert grid_crop_boxes(128, 128, 64, 16) == [(0, 0), (0, 64), (64, 0), (64, 64)]
    boxes = grid_crop_boxes(512, 512, 64, 16)
    assert len(boxes) == 16 and all(t % 8 == 0 and c % 8 == 0 for t, c in boxes)
    assert max(t for t, _ in boxes) == 448  # reaches the far edge
    assert grid_crop_boxes(32, 40, 64, 16) == [(0, 0)]  # smaller than a crop: scored whole


def test_random_crops_are_aligned_and_pad_small_images():
    rng = np.random.default_rng(0)
    img = np.arange(80 * 96 * 3, dtype=np.int64).reshape(80, 96, 3).astype(np.uint8)
    crops = random_crops([img], 32, 5, rng)
    assert crops.shape == (5, 32, 32, 3)
    small = random_crops([np.zeros((20, 24, 3), np.uint8)], 32, 2, rng)
    assert small.shape == (2, 32, 32, 3)


# ------------------------------------------------------------------ NPR on crops
@pytest.mark.usefixtures("one_torch_thread")
def test_npr_on_crops_learns_upsampling_traces_at_any_size():
    rng = np.random.RandomState(0)
    X = [_noise(rng, 80, 96) for _ in range(16)] + [_upsampled(rng, 80, 96) for _ in range(16)]
    y = np.r_[np.zeros(16), np.ones(16)].astype(int)
    clf = SAMNetClassifier(
        NPRNet,
        module__width=4,
        crop_size=32,
        crops_per_image=2,
        max_epochs=4,
        lr=0.01,
        batch_size=16,
        random_state=0,
    )
    clf.fit(X, y)
    assert len(clf.history_) == 4
    # new images of other sizes (larger and smaller than a crop) are scored whole
    test = [
        _noise(rng, 160, 128),
        _upsampled(rng, 160, 128),
        _noise(rng, 24, 24),
        _upsampled(rng, 24, 24),
    ]
    p = clf.predict_proba(test)[:, 1]
    assert p.shape == (4,) and p[1] > p[0] and p[3] > p[2]
    np.testing.assert_allclose(clf.decision_function(test[:2])[1] > 0, p[1] > 0.5)


def test_small_images_are_scored_as_the_mean_of_their_flips():
    rng = np.random.RandomState(0)
    X = [_noise(rng, 48, 48) for _ in range(4)] + [_upsampled(rng, 48, 48) for _ in range(4)]
    clf = SAMNetClassifier(
        NPRNet, module__width=4, crop_size=32, max_epochs=1, batch_size=8, random_state=0
    ).fit(X, [0] * 4 + [1] * 4)

    def flipped(img):
        return np.ascontiguousarray(img[:, ::-1])

    # an image that fits in one crop scores the mean of its four flips: the
    # same four for the image and its mirror image
    small = _noise(rng, 24, 32)
    d = clf.decision_function([small, flipped(small), np.ascontiguousarray(small[::-1])])
    np.testing.assert_allclose(d, d[0], rtol=1e-5)
    logits = clf.forward(np.stack([small, flipped(small)])).numpy()
    assert logits[0, 1] - logits[0, 0] != pytest.approx(logits[1, 1] - logits[1, 0], rel=1e-4)
    # an image larger than one crop is scored on its grid of crops, not flipped
    big = _noise(rng, 64, 64)
    d = clf.decision_function([big, flipped(big)])
    assert d[0] != pytest.approx(d[1], rel=1e-4)


def test_two_jpeg_passes_make_a_jpeg_and_a_lossless_copy_closer():
    from skforensics.perturbations import JPEGCompression

    imgs = list(skforensics.datasets.load_images(load_sample_images("all").paths[:8]))
    as_jpeg = JPEGCompression(95).transform(imgs)  # the file arrived as JPEG q95
    gaps = []
    for n in (1, 2):
        canon = JPEGCompression(95, n_passes=n)
        gaps.append(np.abs(canon.transform(as_jpeg).astype(int) - canon.transform(imgs)).mean())
    np.testing.assert_array_equal(
        JPEGCompression(95, n_passes=2).transform(imgs),
        JPEGCompression(95).transform(JPEGCompression(95).transform(imgs)),
    )
    assert 0 <= gaps[1] < 0.8 * gaps[0]


@pytest.mark.usefixtures("one_torch_thread")
def test_crop_mode_train_transform_is_redrawn_each_epoch(monkeypatch):
    seen = []
    orig = RandomReencode.transform

    def spy(self, X):
        seen.append(self.random_state)
        return orig(self, X)

    monkeypatch.setattr(RandomReencode, "transform", spy)
    rng = np.random.RandomState(0)
    X = [_noise(rng, 40, 40) for _ in range(4)]
    SAMNetClassifier(
        NPRNet,
        module__width=2,
        crop_size=16,
        max_epochs=3,
        batch_size=8,
        train_transform=RandomReencode(),
        random_state=0,
    ).fit(X, [0, 1, 0, 1])
    assert len(seen) == 3 and len(set(seen)) == 3


@pytest.mark.usefixtures("one_torch_thread")
def test_rotate_crops_turns_each_training_crop_a_random_quarter(monkeypatch):
    from skorch import NeuralNet

    seen = []
    orig = NeuralNet.partial_fit

    def spy(self, X, y=None, **kwargs):
        seen.append(np.array(X))
        return orig(self, X, y, **kwargs)

    monkeypatch.setattr(NeuralNet, "partial_fit", spy)
    rng = np.random.RandomState(0)
    X = [_noise(rng, 48, 40) for _ in range(6)]
    params = dict(module__width=2, crop_size=16, crops_per_image=3, max_epochs=2, batch_size=8)
    for rotate in (False, True):
        SAMNetClassifier(NPRNet, rotate_crops=rotate, random_state=0, **params).fit(X, [0, 1] * 3)
    upright, turned = seen[:2], seen[2:]
    assert len(turned) == 2
    turns = []
    for a, b in zip(np.concatenate(upright), np.concatenate(turned)):
        # the same crop positions; each crop turned by one of the four quarter turns
        k = [t for t in range(4) if np.array_equal(np.rot90(a, t), b)]
        assert k, "a rotated crop is not a quarter turn of the upright one"
        turns.append(k[0])
    assert len(set(turns)) == 4


def _tiny_crop_net():
    return SAMNetClassifier(
        NPRNet, module__width=2, crop_size=16, max_epochs=1, batch_size=8, random_state=0
    )


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize(
    "make, param, default",
    [
        (_tiny_crop_net, "rotate_crops", False),
        (
            lambda: PseudoFakeClassifier(
                _tiny_crop_net(), n_decoders=1, fit_steps=1, random_state=0
            ),
            "downscaled_reals",
            0.0,
        ),
    ],
    ids=["SAMNetClassifier", "PseudoFakeClassifier"],
)
def test_a_model_saved_before_a_param_existed_loads_and_scores(
    tmp_path, save_as_before, make, param, default
):
    rng = np.random.RandomState(0)
    X = [_noise(rng, 40, 40) for _ in range(2)] + [_upsampled(rng, 40, 40) for _ in range(2)]
    clf = make().fit(X, [0, 0, 1, 1])
    loaded = skforensics.load(save_as_before(clf, param, str(tmp_path / "old.skf")))
    assert loaded.get_params(deep=False)[param] == default
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"crop_size": 15}, "even"),
        ({"crop_size": 16, "image_size": 16}, "exclude"),
        ({"crop_size": 16, "crops_per_image": 0}, "crops_per_image"),
        ({"crop_size": 16, "rotate_crops": "yes"}, "rotate_crops must be a bool"),
        ({"rotate_crops": True}, "needs crop_size"),
    ],
)
def test_crop_mode_bad_params(kwargs, match):
    X = [np.zeros((32, 32, 3), np.uint8)] * 2
    with pytest.raises(ValueError, match=match):
        SAMNetClassifier(NPRNet, max_epochs=1, **kwargs).fit(X, [0, 1])


# ------------------------------------------------------------------ pseudo-fakes
@pytest.mark.usefixtures("one_torch_thread")
def test_make_pseudo_fakes_keep_content_size_and_are_reproducible():
    photos = [img for img in load_sample_images("diffusiondb_coco").paths[:2]]
    a = make_pseudo_fakes(photos, n_decoders=2, fit_steps=3, random_state=0)
    b = make_pseudo_fakes(photos, n_decoders=2, fit_steps=3, random_state=0)
    orig = skforensics.datasets.load_images(photos)
    for fake, real, again in zip(a, orig, b):
        assert fake.shape == real.shape and fake.dtype == np.uint8
        np.testing.assert_array_equal(fake, again)
        diff = np.abs(fake.astype(int) - real).mean()
        assert 0.5 < diff < 40  # the photo's content with a decoder's traces


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("upsampler", ["transposed", "nearest", "bilinear"])
def test_make_pseudo_fakes_upsamplers_and_vae(upsampler):
    rng = np.random.RandomState(0)
    photos = [_noise(rng, 48, 40)]
    out = make_pseudo_fakes(
        photos, upsampler=upsampler, factor=4, n_decoders=1, fit_steps=1, random_state=0
    )
    assert out[0].shape == (48, 40, 3)
    vae = make_pseudo_fakes(photos, method="vae", n_decoders=1, fit_steps=1, random_state=0)
    assert vae[0].shape == (48, 40, 3)


@pytest.mark.usefixtures("one_torch_thread")
def test_make_pseudo_fakes_pretrained_vae_from_a_folder(tmp_path):
    from diffusers import AutoencoderKL

    vae = AutoencoderKL(
        block_out_channels=(8, 8),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4,
        latent_channels=4,
        mid_block_add_attention=False,
    )
    vae.save_pretrained(tmp_path / "pipe" / "vae")
    photos = [_noise(np.random.RandomState(0), 32, 32)]
    a = make_pseudo_fakes(photos, method="vae", vae=tmp_path / "pipe", random_state=0)
    b = make_pseudo_fakes(photos, method="vae", vae=str(tmp_path / "pipe" / "vae"), random_state=0)
    c = make_pseudo_fakes(photos, method="vae", vae=vae, random_state=0)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[0], c[0])
    assert a[0].shape == (32, 32, 3) and not np.array_equal(a[0], photos[0])


def test_make_pseudo_fakes_refuses_tiny_images():
    with pytest.raises(ValueError, match="at least 16 pixels"):
        make_pseudo_fakes([np.zeros((12, 30, 3), np.uint8)], fit_steps=0)


@pytest.mark.usefixtures("one_torch_thread")
def test_pseudo_fake_classifier_real_only_and_balancing():
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import make_pipeline

    from skforensics.features import SpectralFeatureExtractor

    rng = np.random.RandomState(0)
    reals = [_noise(rng, 32, 32) for _ in range(6)]
    base = make_pipeline(SpectralFeatureExtractor(n_bins=8), DummyClassifier(strategy="prior"))
    clf = PseudoFakeClassifier(base, n_decoders=1, fit_steps=1, random_state=0)
    clf.fit(reals, np.zeros(6, int))  # real-only: photos against their pseudo-fakes
    assert clf.n_pseudo_fakes_ == 6 and list(clf.classes_) == [0, 1]
    np.testing.assert_allclose(clf.predict_proba(reals[:2]), 0.5)  # balanced prior
    # two real images, four fakes: pseudo-fakes + repeats balance the classes
    y = np.array(["real"] * 2 + ["fake"] * 4)
    clf = PseudoFakeClassifier(
        base, real_label="real", fake_label="fake", n_decoders=1, fit_steps=1, random_state=0
    ).fit(reals, y)
    assert clf.n_pseudo_fakes_ == 2 and sorted(clf.classes_) == ["fake", "real"]
    np.testing.assert_allclose(clf.predict_proba(reals[:1]), 0.5)
    with pytest.raises(ValueError, match="real_label"):
        PseudoFakeClassifier(base).fit(reals, ["a"] * 6)
    with pytest.raises(ValueError, match="pseudo_fake_ratio"):
        PseudoFakeClassifier(base, pseudo_fake_ratio=0).fit(reals, np.zeros(6, int))


class _RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Keeps the shapes and labels it was fitted on."""

    def fit(self, X, y):
        self.shapes_ = [np.asarray(x).shape for x in X]
        self.y_ = np.asarray(y)
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), 2), 0.5)


def test_pseudo_fake_classifier_passes_its_decoders_on(monkeypatch):
    import skforensics.datasets

    calls = []

    def recording(images, **kwargs):
        calls.append(kwargs)
        return [np.asarray(im) for im in images]

    monkeypatch.setattr(skforensics.datasets, "make_pseudo_fakes", recording)
    rng = np.random.RandomState(0)
    X = [_noise(rng, 64, 64) for _ in range(4)]
    y = [0, 0, 1, 1]
    for factor in (2, 4, "random"):
        PseudoFakeClassifier(
            _RecordingClassifier(), factor=factor, method="vae", n_decoders=3, fit_steps=7
        ).fit(X, y)
        assert {k: calls[-1][k] for k in ("factor", "method", "n_decoders", "fit_steps")} == {
            "factor": factor,
            "method": "vae",
            "n_decoders": 3,
            "fit_steps": 7,
        }
    with pytest.raises(ValueError, match="factor"):
        PseudoFakeClassifier(_RecordingClassifier(), factor=3).fit(X, y)


def test_pseudo_fake_classifier_downscaled_reals():
    rng = np.random.RandomState(0)
    X = [_noise(rng, 200, 160) for _ in range(6)] + [_noise(rng, 90, 100) for _ in range(2)]
    y = np.array([0] * 6 + [1] * 2)
    clf = PseudoFakeClassifier(
        _RecordingClassifier(),
        downscaled_reals=1.0,
        downscale=(0.4, 0.6),
        pseudo_fake_ratio=0.5,
        balance=False,
        n_decoders=1,
        fit_steps=1,
        random_state=0,
    ).fit(X, y)
    rec = clf.estimator_
    assert clf.n_downscaled_reals_ == 6 and clf.n_pseudo_fakes_ == 6  # half of 6 + 6 reals
    assert rec.y_.tolist() == [0] * 6 + [1] * 2 + [0] * 6 + [1] * 6
    copies = rec.shapes_[8:14]
    # each copy is one of the 200x160 reals made 0.4-0.6 times as large (at least 64 a side)
    assert all(64 <= h <= 120 and 64 <= w <= 96 and h > w for h, w, _ in copies)
    assert len(set(copies)) > 1
    # the classes are then balanced over the copies too
    clf.set_params(balance=True).fit(X, y)
    assert (clf.estimator_.y_ == 0).sum() == (clf.estimator_.y_ == 1).sum() == 12
    # off by default: nothing added
    plain = PseudoFakeClassifier(_RecordingClassifier(), pseudo_fake_ratio=0, balance=False)
    assert plain.fit(X, y).n_downscaled_reals_ == 0 and len(plain.estimator_.y_) == 8
    for bad in [(0.5, 2.0), (0, 0.5), "small"]:
        with pytest.raises(ValueError, match="downscale"):
            PseudoFakeClassifier(_RecordingClassifier(), downscaled_reals=1, downscale=bad).fit(
                X, y
            )


def test_make_default_detector_resample_rescales_both_classes_windows():
    plain = skforensics.make_default_detector().estimator.train_transform
    assert plain.scale is None and plain.aspect is None
    t = skforensics.make_default_detector(resample=True).estimator.train_transform
    assert t.crop == 192 and t.scale_p == 0.5
    assert t.scale[0] < 1 < t.scale[1] and t.aspect[0] < 1 < t.aspect[1]
    # a 192x192 window comes out resized (or kept) and re-encoded, some windows in new shapes
    X = [np.random.RandomState(0).randint(0, 256, (256, 256, 3), dtype=np.uint8)]
    shapes = {t.set_params(random_state=s).transform(X)[0].shape for s in range(12)}
    assert (192, 192, 3) in shapes and len(shapes) > 2


def test_make_default_detector_reencodes_with_its_formats_and_quality():
    t = skforensics.make_default_detector().estimator.train_transform
    assert tuple(t.formats) == ("jpeg", "jpeg", "jpeg", "png", "webp")
    assert tuple(t.quality) == (50, 100)  # JPEG q75, Pillow's default, is inside
    old = skforensics.make_default_detector(formats=["jpeg", "png"], quality=(65, 100))
    t = old.estimator.train_transform
    assert tuple(t.formats) == ("jpeg", "png") and tuple(t.quality) == (65, 100)
    # the qualities drawn stay in the range: a 64x64 JPEG of noise at q50 differs from q100
    X = [np.random.RandomState(0).randint(0, 256, (64, 64, 3), dtype=np.uint8)]
    lo = t.set_params(formats=["jpeg"], quality=(50, 50), random_state=0).transform(X)[0]
    hi = t.set_params(quality=(100, 100)).transform(X)[0]
    err = [np.abs(z.astype(int) - X[0]).mean() for z in (lo, hi)]
    assert err[0] > 2 * err[1]
    with pytest.raises(ValueError, match="quality"):
        skforensics.make_default_detector(quality=(50, 101)).estimator.train_transform.transform(X)


# ------------------------------------------------------------- default detector
needs_default = pytest.mark.skipif(
    not os.path.exists(skforensics.DEFAULT_DETECTOR_PATH), reason="default detector not built"
)


@needs_default
def test_default_detector_is_small_and_safe():
    assert os.path.getsize(skforensics.DEFAULT_DETECTOR_PATH) < 10 * 2**20
    with open(skforensics.DEFAULT_DETECTOR_PATH, "rb") as f:
        assert f.readline().startswith(b"SKFORENSICS-MODEL 2")  # skops + safetensors, no pickle
    assert skforensics.get_untrusted_types(skforensics.DEFAULT_DETECTOR_PATH) == []


def _container_images():
    imgs = list(skforensics.datasets.load_images(load_sample_images("all").paths))
    root = os.environ.get(
        "SKFORENSICS_SHARED_DATA",
        os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"),
    )
    mg = os.path.join(root, "multigen")
    if os.path.isdir(mg):
        files = sorted(
            os.path.join(mg, d, f)
            for d in ("real", "fake")
            for f in os.listdir(os.path.join(mg, d))
        )[::12]
        imgs += list(skforensics.datasets.load_images(files))
    return imgs


@needs_default
@pytest.mark.usefixtures("one_torch_thread")
def test_default_detector_ignores_the_container():
    """Same pixels as JPEG q95, PNG and lossless WEBP: probabilities within 0.05."""
    det = skforensics.load_default_detector()
    imgs = _container_images()
    scores = {}
    for name, kw in [("JPEG", {"quality": 95}), ("PNG", {}), ("WEBP", {"lossless": True})]:
        scores[name] = det.predict_proba([_roundtrip(im, name, **kw) for im in imgs])[:, 1]
    np.testing.assert_array_equal(scores["PNG"], scores["WEBP"])  # same pixels, same score
    assert np.abs(scores["JPEG"] - scores["PNG"]).max() < 0.05
    assert np.all((scores["PNG"] >= 0) & (scores["PNG"] <= 1))


@needs_default
def test_default_detector_has_its_params():
    # repr, get_params and clone work, and the file holds the recipe's re-encoding
    det = skforensics.load_default_detector()
    params = det.get_params(deep=False)
    assert params["downscaled_reals"] == 0.0 and params["downscale"] == (0.3, 0.8)
    recipe = skforensics.make_default_detector().estimator.train_transform
    shipped = det.estimator.train_transform
    assert tuple(shipped.formats) == tuple(recipe.formats)
    assert tuple(shipped.quality) == tuple(recipe.quality)
    assert "PseudoFakeClassifier" in repr(det)
    assert clone(det).get_params(deep=False).keys() == params.keys()


@needs_default
@pytest.mark.usefixtures("one_torch_thread")
def test_scan_without_model_uses_the_default_detector(tmp_path, capsys):
    from skforensics.cli import main

    paths = load_sample_images("diffusiondb_coco").paths[:3]
    out = tmp_path / "v.csv"
    assert main(["scan", "-q", *paths, "--csv", str(out)]) == 0
    lines = out.read_text().strip().splitlines()
    assert len(lines) == 4  # header + 3 images
    expected = skforensics.load_default_detector().predict_proba(paths)[:, 1]
    got = [float(line.split(",")[1]) for line in lines[1:]]
    np.testing.assert_allclose(got, expected, atol=1e-4)
