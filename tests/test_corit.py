"""Tests of CoRITInjector (tiny random-init ViT: 4 blocks, width 64, 32 px, 4x4 patches)."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skforensics import CLIPFeatureExtractor, CoRITInjector


@pytest.fixture(scope="module")
def clip(tiny_clip_name):
    return CLIPFeatureExtractor(tiny_clip_name, pretrained=None, random_state=0, batch_size=64)


def planted(n=96, corner=(0, 0), size=8, seed=0):
    """32x32 uint8 images of uniform noise; one patch-aligned ``size`` square carries y.

    Class 0: a smooth patch (one random grey level); class 1: the same kind of
    level plus a checkerboard texture of random amplitude and a little noise.
    """
    rng = np.random.RandomState(seed)
    X = rng.randint(0, 256, size=(n, 32, 32, 3)).astype(np.float64)
    y = np.arange(n) % 2
    rng.shuffle(y)
    r0, c0 = corner
    yy, xx = np.mgrid[:size, :size]
    checker = np.where((yy + xx) % 2 == 0, 1.0, -1.0)[..., None]
    for i in range(n):
        level = rng.uniform(70, 185)
        patch = np.full((size, size, 3), level)
        if y[i] == 1:
            patch += rng.uniform(30, 70) * checker + rng.normal(0, 8, (size, size, 3))
        X[i, r0 : r0 + size, c0 : c0 + size] = patch
    return np.clip(X, 0, 255).astype(np.uint8), y


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.fixture(scope="module")
def fitted(clip, data):
    X, y = data
    return CoRITInjector(clip, grid=4, mask_quantile=0.5, alpha=1.0).fit(X, y)


def test_shapes_and_attributes(fitted, data):
    X, _ = data
    est = fitted
    L, R = 4, 16
    assert est.layers_ == [0, 1, 2, 3]
    assert est.region_snr_.shape == est.region_mask_.shape == (L, R)
    assert est.region_mask_.dtype == bool
    assert est.cgp_.shape == (L, R, 64)
    assert est.cls_snr_.shape == est.layer_snr_.shape == est.layer_weights_.shape == (L,)
    assert est.region_boxes_.shape == (R, 4)
    np.testing.assert_allclose(est.layer_weights_.sum(), 1.0)
    np.testing.assert_allclose(est.region_weights_.sum(axis=1), 1.0)
    assert np.all(est.region_weights_[~est.region_mask_] == 0)
    # median split of 16 distinct values keeps 8 per block
    assert est.region_mask_.sum(axis=1).tolist() == [8] * L
    # layer SNR is the mean over kept regions, weights proportional to it
    kept_mean = (est.region_snr_ * est.region_mask_).sum(1) / est.region_mask_.sum(1)
    np.testing.assert_allclose(est.layer_snr_, kept_mean)
    np.testing.assert_allclose(est.layer_weights_, kept_mean / kept_mean.sum())
    Z = est.transform(X[:10])
    assert Z.shape == (10, 32) and Z.dtype == np.float32 and np.isfinite(Z).all()
    assert est.n_features_out_ == 32
    names = est.get_feature_names_out()
    assert len(names) == 32 and names[0] == "corit0"


def test_mask_finds_planted_region(fitted):
    # the informative 8x8 corner is patch (0, 0) = region 0 on the 4x4 grid
    snr = fitted.region_snr_
    assert fitted.region_mask_[:, 0].all()
    assert (snr.argmax(axis=1) == 0).all(), snr
    others = np.delete(snr, 0, axis=1)
    assert (snr[:, 0] > 5 * np.median(others, axis=1)).all(), snr


def test_mask_follows_the_planted_region(clip):
    X, y = planted(corner=(24, 24), seed=1)  # bottom-right patch = region 15
    est = CoRITInjector(clip, layers=[0, 1], grid=4, mask_quantile=0.9).fit(X, y)
    assert (est.region_snr_.argmax(axis=1) == 15).all(), est.region_snr_
    assert est.region_mask_[:, 15].all()
    assert not est.region_mask_[:, 0].any()
    # with shuffled labels no region stands out any more
    y_perm = np.random.RandomState(0).permutation(y)
    est_null = clone(est).fit(X, y_perm)
    assert est_null.region_snr_.max() < 0.2 * est.region_snr_.max()


def test_coarse_grid_regions(clip, data):
    X, y = data
    est = CoRITInjector(clip, layers=[0], grid=2, mask_quantile=0.9).fit(X, y)
    # 2x2 regions of 2x2 patches: top-left region holds the planted patch
    assert est.region_boxes_.tolist()[0] == [0, 2, 0, 2]
    assert est.region_mask_[0].tolist() == [True, False, False, False]


def test_alpha0_last_block_equals_clip_embedding(clip, data):
    X, y = data
    est = CoRITInjector(clip, layers=[-1], alpha=0.0).fit(X, y)
    ref = clone(clip).set_params(layers="last").fit(X).transform(X)
    np.testing.assert_allclose(est.transform(X), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("block", [1, 3])
def test_alpha0_token_readout_equals_clip_block(clip, data, block):
    X, y = data
    est = CoRITInjector(clip, layers=[block], alpha=0.0, readout="token").fit(X, y)
    ref = clone(clip).set_params(layers=[block], pooling="cls").fit(X).transform(X)
    np.testing.assert_allclose(est.transform(X), ref, rtol=1e-5, atol=1e-6)


def test_injection_adds_weighted_kept_regions(clip, data):
    X, y = data
    alpha = 0.7
    est = CoRITInjector(clip, layers=[2], alpha=alpha, readout="token").fit(X[:40], y[:40])
    tok = clone(clip).set_params(layers=[2], pooling="cls").fit(X).transform(X[:8])
    # region tokens from the mean-pooled patch tokens of each single-patch region
    import torch

    bb = est.backbone_
    xs = torch.stack([bb.preprocess_(__import__("PIL.Image").Image.fromarray(im)) for im in X[:8]])
    with torch.inference_mode():
        _, t = bb.encode(xs, [2], need_embed=False)
    patches = t[2][:, 1:].numpy()  # (8, 16, 64); one patch per region on the 4x4 grid
    expected = tok + alpha * np.einsum("r,brw->bw", est.region_weights_[0], patches)
    np.testing.assert_allclose(est.transform(X[:8]), expected, rtol=1e-4, atol=1e-5)


def test_integration_combines_single_layer_outputs(clip, data):
    X, y = data
    Xf, yf, Xt = X[:64], y[:64], X[64:72]
    singles = [CoRITInjector(clip, layers=[b]).fit(Xf, yf).transform(Xt) for b in (0, 2)]
    uni = CoRITInjector(clip, layers=[0, 2], integration="uniform").fit(Xf, yf)
    np.testing.assert_allclose(
        uni.transform(Xt), (singles[0] + singles[1]) / 2, rtol=1e-4, atol=1e-5
    )
    gs = clone(uni).set_params(integration="gsnr").fit(Xf, yf)
    w = gs.layer_weights_
    np.testing.assert_allclose(
        gs.transform(Xt), w[0] * singles[0] + w[1] * singles[1], rtol=1e-4, atol=1e-5
    )
    cat = clone(uni).set_params(integration="concat").fit(Xf, yf)
    np.testing.assert_allclose(cat.transform(Xt), np.hstack(singles), rtol=1e-5, atol=1e-6)
    assert cat.get_feature_names_out()[[0, 32]].tolist() == ["corit_block0_0", "corit_block2_0"]


def test_determinism_clone_pickle_params(fitted, clip, data):
    X, y = data
    Z = fitted.transform(X[:12])
    np.testing.assert_array_equal(Z, fitted.transform(X[:12]))
    refit = clone(fitted).fit(X, y)
    np.testing.assert_array_equal(refit.region_mask_, fitted.region_mask_)
    np.testing.assert_allclose(refit.transform(X[:12]), Z, rtol=1e-6, atol=1e-7)
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(loaded.transform(X[:12]), Z, rtol=1e-6, atol=1e-7)
    assert str(loaded.device_) == "cpu"

    params = fitted.get_params()
    assert params["backbone__model_name"] == "skf-tiny-vit" and params["grid"] == 4
    est = clone(fitted)
    assert not hasattr(est, "region_mask_") and est.backbone is not fitted.backbone
    est.set_params(backbone__random_state=1, alpha=0.5)
    assert est.backbone.random_state == 1 and est.alpha == 0.5
    assert clip.random_state == 0  # the template was cloned, not modified
    est.fit(X, y)
    assert not np.allclose(est.transform(X[:12]), Z)  # other random weights
    assert est.backbone_.device == "auto" and est.backbone_.layers == "last"


@pytest.mark.parametrize(
    "params",
    [{}, {"readout": "token", "integration": "concat"}, {"alpha": 0.0, "layers": [1, 3]}],
)
def test_fit_transform_single_pass_matches_fit_then_transform(clip, data, params):
    X, y = data
    est = CoRITInjector(clip, **params)
    Z1 = est.fit_transform(X[:48], y[:48])
    np.testing.assert_allclose(Z1, est.transform(X[:48]), rtol=1e-5, atol=1e-6)


def test_alpha_and_mask_change_output(clip, data):
    X, y = data
    base = CoRITInjector(clip, layers=[1], alpha=0.0).fit(X, y).transform(X[:8])
    inj = CoRITInjector(clip, layers=[1], alpha=1.0).fit(X, y).transform(X[:8])
    assert not np.allclose(base, inj)


def test_multiview_and_skip(clip, tmp_path):
    X, y = planted(n=24, seed=2)
    mv = np.stack([X, X[:, ::-1]], axis=1)  # (n, 2, 32, 32, 3)
    est = CoRITInjector(clip, layers=[0, 3]).fit(mv, y)
    assert est.transform(mv).shape == (24, 64)
    assert est.get_feature_names_out()[32] == "view1_corit0"
    est_mean = CoRITInjector(clone(clip).set_params(view_pooling="mean"), layers=[0, 3])
    assert est_mean.fit(mv, y).transform(mv).shape == (24, 32)

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    from PIL import Image

    paths = []
    for i, im in enumerate(X):
        p = tmp_path / f"{i}.png"
        Image.fromarray(im).save(p)
        paths.append(str(p))
    paths[3] = str(bad)
    skip = CoRITInjector(clone(clip).set_params(on_error="skip"), layers=[0])
    with pytest.warns(UserWarning, match="could not be read"):
        Z = skip.fit(paths, y).transform(paths)
    assert np.isnan(Z[3]).all() and np.isfinite(np.delete(Z, 3, axis=0)).all()
    with pytest.warns(UserWarning, match="could not be read"):
        Z2 = clone(skip).fit_transform(paths, y)
    np.testing.assert_allclose(Z2, Z, rtol=1e-5, atol=1e-6)
    Z3 = CoRITInjector(clone(clip).set_params(view_pooling="mean"), layers=[0, 3]).fit_transform(
        mv, y
    )
    np.testing.assert_allclose(Z3, est_mean.transform(mv), rtol=1e-5, atol=1e-6)


def test_errors(clip, data):
    X, y = data
    with pytest.raises(ValueError, match="requires y"):
        CoRITInjector(clip).fit(X)
    with pytest.raises(ValueError, match="requires y"):
        CoRITInjector(clip).fit(X, None)
    with pytest.raises(ValueError, match="exactly 2 classes"):
        CoRITInjector(clip).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="exactly 2 classes"):
        CoRITInjector(clip).fit(X, np.arange(len(X)) % 3)
    with pytest.raises(ValueError, match="samples but y has"):
        CoRITInjector(clip).fit(X, y[:-1])
    with pytest.raises(ValueError, match="exceeds the backbone's 4x4 patch grid"):
        CoRITInjector(clip, grid=5).fit(X, y)
    with pytest.raises(ValueError, match="out of range"):
        CoRITInjector(clip, layers=[4]).fit(X, y)
    with pytest.raises(ValueError, match="same block twice"):
        CoRITInjector(clip, layers=[1, -3]).fit(X, y)
    with pytest.raises(ValueError, match="mask_quantile"):
        CoRITInjector(clip, mask_quantile=1.5).fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        CoRITInjector(clip, alpha=-1).fit(X, y)
    with pytest.raises(NotFittedError):
        CoRITInjector(clip).transform(X)


def test_region_mask_display(fitted, data):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    from skforensics import RegionMaskDisplay

    X, _ = data
    disp = RegionMaskDisplay.from_estimator(fitted, image=X[0], layers=[0, -1])
    assert disp.ax_.shape == (2,) and disp.layers == [0, 3]
    assert disp.image.shape == (32, 32, 3)
    # suppressed regions are shaded (filled patches), kept ones outlined
    filled = [p for p in disp.ax_[0].patches if p.get_fill()]
    assert len(filled) == int((~fitted.region_mask_[0]).sum())
    disp2 = RegionMaskDisplay.from_estimator(fitted)  # no image: GSNR heat map
    assert disp2.ax_.shape == (4,)
    with pytest.raises(ValueError, match="not in estimator.layers_"):
        RegionMaskDisplay.from_estimator(
            CoRITInjector(fitted.backbone, layers=[1]).fit(X[:20], np.arange(20) % 2),
            layers=[2],
        )
    plt.close("all")


def test_avg_pooling_backbone_readout(clip, data):
    # open_clip ViTs with pool_type="avg" pool the patch tokens: the read-out
    # goes through the model's own pooling (general, per-block path)
    X, y = data
    X, y = X[:24], y[:24]
    est = CoRITInjector(clip, layers=[-1], alpha=0.0).fit(X, y)
    ref = clone(clip).set_params(layers="last").fit(X)
    est.backbone_.model_.pool_type = "avg"
    ref.model_.pool_type = "avg"
    np.testing.assert_allclose(est.transform(X), ref.transform(X), rtol=1e-5, atol=1e-6)
    est.set_params(alpha=1.0)
    Z = est.transform(X)
    assert Z.shape == (24, 32) and np.isfinite(Z).all()
    assert not np.allclose(Z, ref.transform(X))
