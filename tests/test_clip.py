import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline

from skforensics import CLIPFeatureExtractor, ImageLoadError
from skforensics.datasets import load_sample_images


@pytest.fixture(scope="module")
def sample():
    return load_sample_images("cifake")


def _tiny(**kw):
    params = dict(model_name="skf-tiny-vit", pretrained=None, random_state=0, batch_size=16)
    params.update(kw)
    return CLIPFeatureExtractor(**params)


def test_init_stores_params_only():
    est = CLIPFeatureExtractor()
    assert not hasattr(est, "model_")
    assert est.get_params()["pretrained"] == "openai"
    est.set_params(layers=[-1, -2])
    assert clone(est).layers == [-1, -2]


def test_layers_and_feature_names(sample):
    full = _tiny(layers="all", pooling="cls_mean").fit(sample.paths)
    F = full.transform(sample.paths)
    assert F.shape == (48, 4 * 128)
    assert full.layers_ == [0, 1, 2, 3]
    names = full.get_feature_names_out()
    assert len(names) == F.shape[1] and names[128] == "block1_cls_mean0"
    # negative indices count from the end, order is kept
    part = _tiny(layers=[-1, 1], pooling="cls_mean").fit(sample.paths)
    P = part.transform(sample.paths)
    np.testing.assert_allclose(P[:, :128], F[:, 3 * 128 :], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(P[:, 128:], F[:, 128:256], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="out of range"):
        _tiny(layers=[7]).fit(sample.paths)
    with pytest.raises(ValueError, match="same block twice"):
        _tiny(layers=[3, -1]).fit(sample.paths)


def test_last_embedding_matches_encode_image(sample):
    import torch

    est = _tiny().fit(sample.paths)
    x = torch.stack(
        [est.preprocess_(__import__("PIL").Image.open(p).convert("RGB")) for p in sample.paths[:4]]
    )
    with torch.inference_mode():
        ref = est.model_(x).numpy()
    np.testing.assert_allclose(est.transform(sample.paths[:4]), ref, rtol=1e-5, atol=1e-6)


def test_deterministic_and_random_state(sample):
    a = _tiny().fit(sample.paths)
    Fa = a.transform(sample.paths)
    np.testing.assert_array_equal(Fa, a.transform(sample.paths))
    np.testing.assert_array_equal(Fa, _tiny().fit(sample.paths).transform(sample.paths))
    assert not np.allclose(Fa, _tiny(random_state=1).fit(sample.paths).transform(sample.paths))


def test_input_types_agree(sample):
    from PIL import Image

    est = _tiny().fit(sample.paths)
    arrays = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sample.paths[:6]])
    F = est.transform(sample.paths[:6])
    np.testing.assert_allclose(est.transform(arrays), F, atol=1e-6)
    np.testing.assert_allclose(est.transform([Image.fromarray(a) for a in arrays]), F, atol=1e-6)


def test_multiview_pooling(sample):
    from PIL import Image

    arrays = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sample.paths[:5]])
    views = np.stack([arrays, arrays[:, ::-1]], axis=1)  # (5, 2, 32, 32, 3)
    single = _tiny().fit(arrays)
    concat = _tiny().fit(views)
    mean = _tiny(view_pooling="mean").fit(views)
    Fc, Fm = concat.transform(views), mean.transform(views)
    assert Fc.shape == (5, 64) and Fm.shape == (5, 32)
    v0, v1 = single.transform(arrays), single.transform(np.ascontiguousarray(arrays[:, ::-1]))
    np.testing.assert_allclose(Fc, np.hstack([v0, v1]), atol=1e-5)
    np.testing.assert_allclose(Fm, (v0 + v1) / 2, atol=1e-5)
    assert concat.get_feature_names_out()[32] == "view1_clip_embed0"
    with pytest.raises(ValueError, match="views per sample"):
        concat.transform(arrays)


def test_bad_input_errors(tmp_path, sample):
    est = _tiny().fit(sample.paths)
    bad = tmp_path / "fake.jpg"
    bad.write_text("not a jpeg")
    with pytest.raises(ImageLoadError, match=r"fake\.jpg' is not a readable image"):
        est.transform(sample.paths[:2] + [str(bad)])
    with pytest.raises(ValueError, match="empty"):
        est.transform([])
    with pytest.raises(ValueError, match="NaN"):
        est.transform(np.full((2, 32, 32, 3), np.nan))
    one = tmp_path / "one.png"
    __import__("PIL").Image.new("RGB", (1, 1)).save(one)
    with pytest.raises(ImageLoadError, match="1x1"):
        est.transform([str(one)])
    skip = _tiny(on_error="skip").fit(sample.paths)
    with pytest.warns(UserWarning, match="could not be read"):
        F = skip.transform(sample.paths[:3] + [str(bad)])
    assert np.isnan(F[3]).all() and np.isfinite(F[:3]).all()
    np.testing.assert_allclose(F[:3], est.transform(sample.paths[:3]), atol=1e-6)
    with pytest.raises(ValueError, match="on_error"):
        _tiny(on_error="ignore").fit(sample.paths)


def test_pickle_roundtrip_and_unfitted_clone(sample):
    est = _tiny(layers=["last", 0]).fit(sample.paths)
    F = est.transform(sample.paths)
    blob = pickle.dumps(est)
    assert len(blob) < 5_000_000
    est2 = pickle.loads(blob)
    np.testing.assert_array_equal(est2.transform(sample.paths), F)
    assert str(est2.device_) == "cpu"
    assert not hasattr(clone(est), "model_")


def test_local_checkpoint_path(tmp_path, sample):
    import open_clip
    import torch

    from skforensics._clip import _open_clip

    _open_clip()
    with torch.random.fork_rng():
        torch.manual_seed(123)
        model = open_clip.create_model("skf-tiny-vit", pretrained=None)
    ckpt = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), ckpt)
    est = CLIPFeatureExtractor("skf-tiny-vit", pretrained=str(ckpt)).fit(sample.paths)
    for a, b in zip(est.model_.state_dict().values(), model.visual.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(RuntimeError, match="local checkpoint"):
        CLIPFeatureExtractor("skf-tiny-vit", pretrained=str(tmp_path / "nope.pt")).fit(["x"])
    with pytest.raises(ValueError, match="Unknown open_clip model_name"):
        CLIPFeatureExtractor("no-such-model", pretrained=None).fit(["x"])


def test_diffusiondb_pipeline(diffusiondb):
    paths, y, _ = diffusiondb
    pipe = make_pipeline(
        _tiny(layers="all", pooling="mean", batch_size=64), LogisticRegression(max_iter=2000)
    )
    pipe.fit(paths, y)
    clip = pipe[0]
    F = clip.transform(paths[::15])
    assert F.shape == (40, 256) and np.isfinite(F).all()
    np.testing.assert_array_equal(F, clip.transform(paths[::15]))  # identical input, output
    proba = pipe.predict_proba(paths[::15])
    assert proba.shape == (40, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # the fitted pipeline separates its training images better than chance
    assert (pipe.predict(paths[::5]) == y[::5]).mean() > 0.6


def test_grid_search_parallel(sample):
    pipe = make_pipeline(_tiny(), LogisticRegression(max_iter=500))
    gs = GridSearchCV(pipe, {"clipfeatureextractor__layers": ["last", [-1]]}, cv=2, n_jobs=2)
    gs.fit(sample.paths, sample.y)
    assert list(gs.cv_results_["param_clipfeatureextractor__layers"]) == ["last", [-1]]
    assert np.isfinite(gs.cv_results_["mean_test_score"]).all()
    scores = cross_val_score(pipe, sample.paths, sample.y, cv=2)
    assert scores.shape == (2,)
