"""The generalization benchmark's protocols: no test image, and no held-out generator, in training.

``benchmarks/bench_generalization.py`` is a script, not part of the package; its
splits decide what every number on the generalization page means, so they are
checked here on a synthetic manifest (no image is read).
"""

import importlib.util
import os

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))


def _script(name):
    """A benchmark script of ``benchmarks/``, imported as a module."""
    path = os.path.join(HERE, "..", "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _script("bench_generalization")


def _items():
    items = []
    gens = {
        "multigen": ["dall-e-2", "midjourney-v4", "stable-diffusion-unspecified-version"]
        + ["stylegan2-ada-ffhq", "stylegan3-r-ffhq", "gan-face-unspecified"],
        "diffusiondb_coco": ["stable-diffusion-v1.x (DiffusionDB 2M)"],
    }
    reals = {"multigen": "real:ffhq", "diffusiondb_coco": "real:coco"}
    for name in ("multigen", "diffusiondb_coco"):
        for gen in [reals[name], *gens[name]]:
            for k in range(9):
                items.append(
                    {
                        "path": f"{name}/{gen}/{k}.png",
                        "label": int(not gen.startswith("real:")),
                        "set": name,
                        "generator": gen,
                        "fold": "test" if k < 3 else "train",
                    }
                )
    return items


@pytest.mark.parametrize("split", ["logo", "logo_all"])
def test_leave_one_generator_out_splits_do_not_leak(bench, split):
    items = _items()
    gens = sorted({it["generator"] for it in items if it["set"] == "multigen" and it["label"]})
    for g in gens:
        if split == "logo":
            rng = np.random.default_rng(0)  # 9 photos here: 5 to train on, 4 to test
            train, tests = bench.logo_split(items, g, rng, n_photo_train=5, n_photo_test=4)
        else:
            train, tests = bench.logo_all_split(items, g)
        (test,) = tests.values()
        train_paths = {it["path"] for it in train}
        assert not train_paths & {it["path"] for it in test}  # no test image in training
        assert g not in {it["generator"] for it in train}  # the held-out generator is unseen
        assert {it["generator"] for it in test if it["label"]} == {g}
        face = g in bench.FACE_GENERATORS
        # reals paired by content: held-out faces for face GANs, photos for the others
        assert {it["generator"] for it in test if not it["label"]} == (
            {"real:ffhq"} if face else {"real:coco"}
        )
        if split == "logo_all":
            train_sets = {it["set"] for it in train if it["label"]}
            # DiffusionDB (Stable Diffusion 1.x) is left out with a Stable Diffusion fold
            assert ("diffusiondb_coco" in train_sets) != g.startswith("stable-diffusion")


def test_bootstrap_interval_brackets_the_auc(bench):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [40, 25])
    s = rng.normal(size=65) + 1.0 * y
    boot = bench.bootstrap_aucs(y, s, n_boot=500)
    lo, hi = bench.ci95(boot)
    auc = roc_auc_score(y, s)
    assert lo < auc < hi and hi - lo < 0.4
    # the rank formula is the AUC: a resample of everything once is the plain AUC
    np.testing.assert_allclose(np.median(boot), auc, atol=0.03)
    assert bench.bootstrap_aucs(np.zeros(5), np.arange(5)) is None  # one class: no interval


def test_flag_rates_and_shift(bench):
    y = np.array([0, 0, 1, 1])
    s = np.array([0.2, 0.6, 0.4, 0.9])
    assert bench.flag_rates(y, s) == {"fakes_flagged": 0.5, "reals_flagged": 0.5}
    # a large positive logit shift flags everything
    assert bench.flag_rates(y, s, shift=10.0) == {"fakes_flagged": 1.0, "reals_flagged": 1.0}


@pytest.fixture(scope="module")
def orientation():
    return _script("bench_orientation")


class _Sharpness:
    """A stand-in detector: prob_fake grows with the mean absolute horizontal gradient."""

    def predict_proba(self, imgs):
        g = np.array([np.abs(np.diff(im.astype(float), axis=1)).mean() for im in imgs])
        p = g / (g + 10.0)
        return np.column_stack([1 - p, p])


def test_compression_check_scores_every_edit(orientation):
    rng = np.random.RandomState(0)
    imgs = {
        label: [rng.randint(0, 256, (48, 40, 3), dtype=np.uint8) for _ in range(3)]
        for label in (0, 1)
    }
    for label in (0, 1):  # the generated stand-ins are smooth
        imgs[label] = [(im // 4 + 96).astype(np.uint8) if label else im for im in imgs[label]]
    for name, fn in orientation.COMPRESSIONS.items():
        out = fn(imgs[0][0])
        assert out.shape == (48, 40, 3) and out.dtype == np.uint8, name
        assert not np.array_equal(out, imgs[0][0]), f"{name} kept the pixels"

    def checked(name, label):
        return [f"{label}/{k}" for k in range(3)], imgs[label]

    res = orientation.transform_check(
        _Sharpness(), "toy", checked, list(orientation.COMPRESSIONS.items())
    )
    assert set(res) == {"toy:real", "toy:fake", "toy:roc_auc"}
    assert set(res["toy:roc_auc"]) == {"given", *orientation.COMPRESSIONS}
    real = res["toy:real"]
    assert real["n"] == 3 and real["flagged_given"] == 1.0  # noise is sharp: "fake" at 0.5
    # blurring noise removes most of its gradient: lower prob_fake, shift recorded
    blur = real["gaussian_blur_1"]
    assert blur["mean_prob_fake"] < real["mean_prob_fake_given"]
    assert blur["mean_change"] == pytest.approx(
        blur["mean_prob_fake"] - real["mean_prob_fake_given"], abs=1e-3
    )


def test_reals_half_pairs_down_scaled_reals_with_fakes_as_given(bench):
    y = np.array([0, 0, 1, 1])
    given = np.array([0.1, 0.2, 0.8, 0.9])
    half = np.array([0.95, 0.85, 0.1, 0.2])  # down-scaled reals look generated
    res = bench.reals_half(y, given, half, keep=True)
    assert res["scores"] == [0.95, 0.85, 0.8, 0.9]
    assert res["roc_auc"] == 0.25  # 1 of the 4 (fake, real) pairs is ranked right
    assert res["flagged"] == {"fakes_flagged": 1.0, "reals_flagged": 1.0}
    assert res["accuracy"] == 0.5


def test_balanced_shift_of_the_default_detector_build():
    build = _script("build_default_detector")
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(300, int), np.ones(100, int)]  # unequal classes: balanced weights
    d = np.where(y == 1, 1.0, -1.0) * 2.0 + rng.randn(400)  # symmetric around 0
    assert abs(build.balanced_shift(d, y)) < 0.2
    assert build.balanced_shift(d - 1.5, y) == pytest.approx(
        1.5 + build.balanced_shift(d, y), abs=1e-3
    )
    # margins of several encodings: y is tiled over them
    assert build.balanced_shift(np.r_[d, d] - 1.5, y) == pytest.approx(
        build.balanced_shift(d - 1.5, y), abs=1e-3
    )
