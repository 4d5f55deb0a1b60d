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


@pytest.fixture(scope="module")
def bench():
    path = os.path.join(HERE, "..", "benchmarks", "bench_generalization.py")
    spec = importlib.util.spec_from_file_location("bench_generalization", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
