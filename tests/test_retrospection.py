"""Tests of MultiScaleStyleRetrospection (HRR's multi-scale style retrospection).

The diffusion path runs on a tiny UNet / VAE / text encoder built from configs:
no weights, no network, CPU only.
"""

import json
import os
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skforensics import MultiScaleStyleRetrospection
from skforensics._image_io import ImageLoadError, check_images
from skforensics.datasets import load_sample_images

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def photos():
    """4 real 512x512 sample images (2 real, 2 generated) as uint8 arrays."""
    from PIL import Image

    paths = load_sample_images("diffusiondb_coco").paths
    pick = [paths[0], paths[1], paths[-1], paths[-2]]
    return [np.asarray(Image.open(p).convert("RGB")) for p in pick]


@pytest.fixture(scope="module")
def tiny_components():
    """A tiny VAE (x2 downsampling), UNet and DDIM scheduler built from configs."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4,
        layers_per_block=1,
    )
    sched = DDIMScheduler(num_train_timesteps=100)
    return {"vae": vae.eval(), "unet": unet.eval(), "scheduler": sched}


@pytest.fixture
def comp(tiny_components):
    return dict(tiny_components, prompt_embeds=torch.zeros(1, 8, 16))


def _tiny_text(tmp_path):
    """A tiny CLIP tokenizer + text encoder (transformers), saved under ``tmp_path``."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "!": 3}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(
        str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"), model_max_length=8
    )
    cfg = CLIPTextConfig(
        vocab_size=4, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=8, projection_dim=16,
        bos_token_id=0, eos_token_id=1, pad_token_id=1,
    )  # fmt: skip
    torch.manual_seed(1)
    return tok, CLIPTextModel(cfg).eval()


def _edge_energy(img):
    g = img.astype(np.float64).mean(axis=-1)
    return float((np.diff(g, axis=0) ** 2).mean() + (np.diff(g, axis=1) ** 2).mean())


# ------------------------------------------------------------------ classical path


def test_shapes_dtype_and_mixed_inputs(photos):
    from PIL import Image

    X = [photos[0], Image.fromarray(photos[1][:300, :200]), load_sample_images().paths[-1]]
    msr = MultiScaleStyleRetrospection(scales=(1.0, 0.5), output_size=48, random_state=0)
    out = msr.fit_transform(X)
    assert out.shape == (3, 2, 48, 48, 3) and out.dtype == np.uint8
    assert msr.n_views_ == 2 and msr.scales_ == (1.0, 0.5)
    assert str(msr.device_) == "cpu"
    # the output is a valid multi-view input of every skforensics image transformer
    coll = check_images(out)
    assert len(coll) == 3 and coll.n_views == 2


def test_deterministic_given_random_state(photos):
    X = np.stack([p[:128, :128] for p in photos])
    a = MultiScaleStyleRetrospection(output_size=64, random_state=0).fit_transform(X)
    b = MultiScaleStyleRetrospection(output_size=64, random_state=0, batch_size=3).fit(X)
    assert np.array_equal(a, b.transform(X))  # batch size does not matter
    assert np.array_equal(a, b.transform(X))  # repeated calls agree
    c = MultiScaleStyleRetrospection(output_size=64, random_state=1).fit_transform(X)
    assert not np.array_equal(a[:, 1:], c[:, 1:])  # the noise depends on the seed
    assert np.array_equal(a[:, 0], c[:, 0])  # scale 1.0 is not resampled: no noise
    free = MultiScaleStyleRetrospection(output_size=64).fit(X)
    assert not np.array_equal(free.transform(X), free.transform(X))


def test_identity_when_everything_is_off(photos):
    img = photos[0][:64, :64]
    msr = MultiScaleStyleRetrospection(scales=(1.0,), output_size=64, sharpen_iter=0)
    out = msr.fit_transform([img])
    assert np.array_equal(out[0, 0], img)


def test_lower_scales_lose_detail(photos):
    out = MultiScaleStyleRetrospection(
        output_size=128, sharpen_iter=0, random_state=0
    ).fit_transform(photos)
    for views in out:
        e = [_edge_energy(v) for v in views]
        assert e[0] > e[1] > e[2]


def test_line_enhancement_raises_edge_energy(photos):
    kw = dict(output_size=128, random_state=0)
    plain = MultiScaleStyleRetrospection(sharpen_iter=0, **kw).fit_transform(photos)
    lined = MultiScaleStyleRetrospection(sharpen_iter=2, **kw).fit_transform(photos)
    for i in range(len(photos)):
        for v in range(3):
            assert _edge_energy(lined[i, v]) > 1.05 * _edge_energy(plain[i, v])
    # the enhancement is local to edges: most pixels are untouched
    same = (lined == plain).all(axis=-1).mean()
    assert 0.2 < same < 0.95
    # more sharpening, more edge energy; dilation 0 touches fewer pixels
    more = MultiScaleStyleRetrospection(sharpen_iter=4, **kw).fit_transform(photos)
    assert _edge_energy(more[0, 0]) > _edge_energy(lined[0, 0])
    thin = MultiScaleStyleRetrospection(dilation=0, **kw).fit_transform(photos)
    assert (thin == plain).all(axis=-1).mean() > same


def test_transform_tensor(photos):
    msr = MultiScaleStyleRetrospection(output_size=64).fit()
    x = torch.rand(2, 3, 80, 96)
    v = msr.transform_tensor(x, random_state=0)
    assert v.shape == (2, 3, 3, 64, 64) and 0 <= float(v.min()) and float(v.max()) <= 1
    assert torch.equal(v, msr.transform_tensor(x, random_state=0))
    with pytest.raises(ValueError, match="B, 3, H, W"):
        msr.transform_tensor(torch.rand(3, 8, 8))


# ------------------------------------------------------------------ diffusion path


def _manual_roundtrip(vae, views_uint8):
    x = torch.from_numpy(views_uint8).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        lat = vae.encode(x * 2 - 1).latent_dist.mode()
        sf = vae.config.scaling_factor
        dec = vae.decode(lat * sf / sf).sample
    return ((dec / 2 + 0.5).clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def test_diffusion_shapes_determinism_and_strength(photos, comp):
    X = np.stack([p[:96, :96] for p in photos[:2]])
    kw = dict(output_size=24, diffusion=comp, num_inference_steps=4, random_state=0)
    msr = MultiScaleStyleRetrospection(strength=0.5, **kw).fit(X)
    a = msr.transform(X)
    assert a.shape == (2, 3, 24, 24, 3) and a.dtype == np.uint8
    assert np.array_equal(a, msr.transform(X))
    # strength=0: no denoising step, the output is the VAE reconstruction of the views
    zero = MultiScaleStyleRetrospection(strength=0.0, **kw).fit_transform(X)
    classical = MultiScaleStyleRetrospection(output_size=24, random_state=0).fit_transform(X)
    expected = _manual_roundtrip(comp["vae"], classical.reshape(-1, 24, 24, 3))
    assert np.abs(zero.reshape(-1, 24, 24, 3).astype(int) - expected).max() <= 1
    assert not np.array_equal(zero, classical)  # the (random) VAE did change the pixels
    assert np.abs(a.astype(int) - zero).mean() > 1.0  # denoising steps changed the latents
    other = MultiScaleStyleRetrospection(strength=0.5, **dict(kw, random_state=1)).fit(X)
    assert not np.array_equal(a, other.transform(X))


def test_diffusion_output_size_must_match_vae(comp):
    X = np.zeros((1, 40, 40, 3), np.uint8)
    msr = MultiScaleStyleRetrospection(output_size=33, diffusion=comp).fit(X)
    with pytest.raises(ValueError, match="multiple of the VAE downsampling factor 2"):
        msr.transform(X)


def test_diffusion_dict_errors(tiny_components):
    X = np.zeros((1, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="lacks \\['unet'\\]"):
        MultiScaleStyleRetrospection(diffusion={"vae": 1, "scheduler": 2}).fit(X)
    # no prompt embedding and no text encoder
    with pytest.raises(ValueError, match="prompt_embeds"):
        MultiScaleStyleRetrospection(diffusion=dict(tiny_components), output_size=16).fit(X)
    with pytest.raises(ValueError, match="diffusion must be None"):
        MultiScaleStyleRetrospection(diffusion=42).fit(X)


def test_pipeline_object_with_text_encoder(tmp_path, tiny_components, photos):
    from diffusers import StableDiffusionImg2ImgPipeline

    tok, enc = _tiny_text(tmp_path)
    pipe = StableDiffusionImg2ImgPipeline(
        **tiny_components, tokenizer=tok, text_encoder=enc, safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    X = [photos[0][:64, :64]]
    kw = dict(output_size=16, strength=0.5, num_inference_steps=2, random_state=0)
    out = MultiScaleStyleRetrospection(diffusion=pipe, **kw).fit_transform(X)
    # the same as a dict with the empty-prompt embedding computed by hand
    ids = tok([""], padding="max_length", max_length=8, return_tensors="pt").input_ids
    with torch.no_grad():
        pe = enc(ids)[0]
    ref = MultiScaleStyleRetrospection(
        diffusion=dict(tiny_components, prompt_embeds=pe), **kw
    ).fit_transform(X)
    assert np.array_equal(out, ref)
    prompted = MultiScaleStyleRetrospection(diffusion=pipe, guidance="a !", **kw).fit_transform(X)
    assert not np.array_equal(out, prompted)


def test_folder_loading_caches_prompt_and_pickles_without_weights(tmp_path, tiny_components):
    tok, enc = _tiny_text(tmp_path / "t") if (tmp_path / "t").mkdir() is None else None
    folder = tmp_path / "tiny-sd"
    tiny_components["vae"].save_pretrained(folder / "vae")
    tiny_components["unet"].save_pretrained(folder / "unet")
    tiny_components["scheduler"].save_pretrained(folder / "scheduler")
    tok.save_pretrained(folder / "tokenizer")
    enc.save_pretrained(folder / "text_encoder")
    X = np.random.RandomState(0).randint(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    msr = MultiScaleStyleRetrospection(
        output_size=16, diffusion=str(folder), strength=0.5, num_inference_steps=2,
        random_state=0,
    ).fit(X)  # fmt: skip
    a = msr.transform(X)
    blob = pickle.dumps(msr)
    assert len(blob) < 20_000  # the UNet / VAE weights are not inside
    # the empty-prompt embedding is cached: no text encoder needed on reload
    import shutil

    shutil.rmtree(folder / "text_encoder")
    shutil.rmtree(folder / "tokenizer")
    again = pickle.loads(blob)
    assert np.array_equal(again.transform(X), a)


@pytest.mark.parametrize("name", ["PNDMScheduler", "EulerAncestralDiscreteScheduler"])
def test_other_schedulers(tiny_components, name):
    cls = getattr(diffusers, name)
    kw = {"skip_prk_steps": True} if name == "PNDMScheduler" else {}
    comp = dict(tiny_components, scheduler=cls(num_train_timesteps=100, **kw))
    comp["prompt_embeds"] = torch.zeros(8, 16)  # (L, dim) is accepted too
    X = np.random.RandomState(0).randint(0, 256, (2, 20, 20, 3), dtype=np.uint8)
    msr = MultiScaleStyleRetrospection(
        scales=(1.0, 0.5), output_size=16, diffusion=comp, strength=0.6, num_inference_steps=5,
        random_state=0,
    ).fit(X)  # fmt: skip
    a = msr.transform(X)
    assert a.shape == (2, 2, 16, 16, 3)
    assert np.array_equal(a, msr.transform(X))


def test_missing_weights_offline_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    msr = MultiScaleStyleRetrospection(diffusion="no-such-org/no-such-model-skforensics")
    with pytest.raises(OSError, match="could not load the latent-diffusion weights"):
        msr.fit(np.zeros((1, 16, 16, 3), np.uint8))
    with pytest.raises(OSError, match="folder"):
        MultiScaleStyleRetrospection(diffusion=os.path.dirname(__file__)).fit()


# ------------------------------------------------------------------ sklearn plumbing


def test_get_set_params_and_clone(comp):
    msr = MultiScaleStyleRetrospection(scales=(1.0, 0.5), output_size=32, random_state=3)
    params = msr.get_params()
    assert params["scales"] == (1.0, 0.5) and params["random_state"] == 3
    assert params["device"] == "auto" and params["diffusion"] is None
    msr.set_params(strength=0.1, output_size=40)
    assert msr.strength == 0.1 and msr.output_size == 40
    c = clone(msr)
    assert c.get_params() == msr.get_params() and not hasattr(c, "device_")
    # in-memory components are shared by reference, not deep-copied
    m2 = MultiScaleStyleRetrospection(diffusion=comp)
    c2 = clone(m2)
    assert c2.diffusion is not comp and c2.diffusion["unet"] is comp["unet"]
    with pytest.raises(ValueError, match="Invalid parameter"):
        msr.set_params(nope=1)


def test_pickle_classical_roundtrip(photos):
    X = [p[:64, :64] for p in photos]
    msr = MultiScaleStyleRetrospection(output_size=32, random_state=0).fit(X)
    again = pickle.loads(pickle.dumps(msr))
    assert np.array_equal(again.transform(X), msr.transform(X))
    assert again.device_ == msr.device_


def test_pickle_drops_in_memory_components(comp):
    X = np.random.RandomState(0).randint(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    kw = dict(output_size=16, strength=0.5, num_inference_steps=2, random_state=0)
    msr = MultiScaleStyleRetrospection(diffusion=comp, **kw).fit(X)
    a = msr.transform(X)
    blob = pickle.dumps(msr)
    assert len(blob) < 20_000
    again = pickle.loads(blob)
    assert "not pickled" in repr(again.diffusion)
    with pytest.raises(RuntimeError, match="set_params\\(diffusion=...\\)"):
        again.transform(X)
    with pytest.raises(RuntimeError, match="never pickled"):
        clone(again).fit(X)
    again.set_params(diffusion=comp)
    assert np.array_equal(again.transform(X), a)


@pytest.mark.parametrize(
    "params, err, match",
    [
        ({"scales": ()}, ValueError, "non-empty"),
        ({"scales": (1.0, -0.5)}, ValueError, "positive"),
        ({"scales": ("a",)}, ValueError, "positive numbers"),
        ({"output_size": 4}, InvalidParameterError, "output_size"),
        ({"strength": 1.5}, InvalidParameterError, "strength"),
        ({"edge_quantile": 1.0}, InvalidParameterError, "edge_quantile"),
        ({"edge_sigma": 0}, InvalidParameterError, "edge_sigma"),
        ({"sharpen_iter": -1}, InvalidParameterError, "sharpen_iter"),
        ({"batch_size": 0}, InvalidParameterError, "batch_size"),
        ({"guidance": None}, InvalidParameterError, "guidance"),
        ({"diffusion": ""}, ValueError, "empty string"),
    ],
)
def test_bad_params(params, err, match):
    with pytest.raises(err, match=match):
        MultiScaleStyleRetrospection(**params).fit()


def test_bad_inputs(tmp_path):
    msr = MultiScaleStyleRetrospection(output_size=16)
    with pytest.raises(NotFittedError):
        msr.transform(np.zeros((1, 16, 16, 3), np.uint8))
    msr.fit()
    with pytest.raises(ValueError, match="dtype float64"):
        msr.transform(np.zeros((1, 16, 16, 3)))
    with pytest.raises(ValueError, match="views per sample"):
        msr.transform(np.zeros((2, 3, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="single str"):
        msr.transform("image.png")
    bad = str(tmp_path / "missing.png")
    with pytest.raises(ImageLoadError, match=r"missing\.png' does not exist"):
        msr.transform([np.zeros((16, 16, 3), np.uint8), bad])
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            MultiScaleStyleRetrospection(device="cuda").fit()


def test_sklearn_tags():
    tags = MultiScaleStyleRetrospection(random_state=0).__sklearn_tags__()
    assert tags.input_tags.two_d_array is False
    assert tags.requires_fit and not tags.non_deterministic
    assert MultiScaleStyleRetrospection().__sklearn_tags__().non_deterministic


def test_threads_do_not_change_the_views_and_torch_setting_is_restored():
    import threading

    import torch

    from skforensics._torch_utils import default_n_threads

    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(7, 40, 40, 3), dtype=np.uint8)
    one = MultiScaleStyleRetrospection(output_size=32, batch_size=2, n_threads=1, random_state=0)
    two = MultiScaleStyleRetrospection(output_size=32, batch_size=2, n_threads=3, random_state=0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ref = one.fit_transform(X)
        np.testing.assert_array_equal(two.fit_transform(X), ref)  # bit for bit, same order
        # the batch size does not change the views either (per-image noise seeds)
        np.testing.assert_array_equal(one.set_params(batch_size=5).transform(X), ref)
        assert torch.get_num_threads() == 2  # scoped: restored after transform
    finally:
        torch.set_num_threads(before)
    # default: never more than one thread from a worker thread (Dask, joblib threading)
    seen = []
    t = threading.Thread(target=lambda: seen.append(default_n_threads()))
    t.start()
    t.join()
    assert seen == [1]
    assert 1 <= default_n_threads() <= max(1, os.cpu_count())
    with pytest.raises(ValueError, match="n_threads"):
        MultiScaleStyleRetrospection(n_threads=0).fit()
