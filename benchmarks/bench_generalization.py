"""Generalization benchmark: detectors on generators, sizes and containers they never saw.

Three protocols, every test image scored as given, re-encoded as JPEG q90,
as JPEG q75 (``jpeg75``: Pillow's default quality, common on the web),
re-encoded as PNG (both classes the same way, so the container cannot decide)
and down-scaled by 2 (``half``: bicubic, anti-aliased, kept lossless; most
real photos people check were down-scaled, and down-scaling erases a
generator's traces, so ``half`` measures where trace-free images land),
and ``reals_half``: the real images down-scaled by 2 against the generated
ones as given, as in the wild, where photos were down-scaled from a camera's
resolution and generated images come at the size they were made:

* **cross-source**: train on one source (``diffusiondb_coco``, ``cifake``,
  all of ``multigen``, or one ``multigen`` generator against the FFHQ reals),
  test on every source. Each set is split once into a training part (2/3) and
  a test part (1/3); a model is tested on the test part of the sets it shares
  images with, and on the whole of the other sets.
* **leave-one-generator-out (LOGO) in multigen**: train on the five other
  generators, test on the held-out one. Reals are paired by content: the face
  generators (StyleGAN2-ADA, StyleGAN3, the unnamed face GAN) with held-out
  FFHQ faces, the text-to-image ones (DALL-E 2, Midjourney v4, Stable
  Diffusion) with held-out real photos of ``diffusiondb_coco`` (COCO /
  ImageNet). Training reals: the other FFHQ faces and 100 other real photos.
* **leave one generator out of everything (``logo_all``)**: what the shipped
  detector would be without one generator: trained on all the shared training
  data it is built from (``diffusiondb_coco`` and ``multigen``, training
  folds) except that generator's images, tested on them. For the held-out
  Stable Diffusion images, the DiffusionDB fakes (Stable Diffusion 1.x, the
  same family) are left out of training too; its real photos stay. Reals
  paired as in LOGO: test-fold FFHQ faces for the face generators, the
  ``diffusiondb_coco`` test-fold photos for the others.
* **pseudo-fake ablation**: the recipe without pseudo-fakes, and real-only
  training (real photos against their pseudo-fakes, no generated image at all).

Models, all trained here from scratch in the same run:

* ``recipe``: :func:`skforensics.make_default_detector` (the shipped recipe:
  NPRNet on crops, RandomReencode of a window of both classes at every epoch,
  two pseudo-fakes per real image, balanced classes, a canonical JPEG q95
  container, 64-crop scoring, training crops turned a random quarter turn);
  ``recipe-rot`` is the same with ``rotate_crops=True`` spelled out, and
  ``recipe-upright`` the recipe without turned crops (the previous shipped
  recipe; results files written before the change call it ``recipe``).
  ``recipe-resample`` also rescales half of the re-encoded windows of both
  classes (factor 2/3-3/2, aspect ratio changed by up to 5/4), so that the
  resampling of real photos (data sets resize photos to a square, users
  up-scale them) is not read as a generator's trace. ``recipe-down`` adds a
  copy of every other real training image, down-scaled by 0.3-0.8, as a real
  image (``make_default_detector(downscaled_reals=0.5)``). ``recipe-f24``
  makes its pseudo-fakes with 2x and 4x decoders (``factor="random"``; the
  recipe: 2x only). ``recipe-lowq`` re-encodes 3 of 5 training windows as
  JPEG at quality 50-100, the recipe's re-encoding since this release, spelled
  out; ``recipe-q65`` re-encodes as the recipe did before (2 of 4 windows as
  JPEG, quality 65-100; results files written before the change call it
  ``recipe``); ``recipe-down-lowq`` is ``recipe-down`` with the new
  re-encoding.
* ``npr``: a reproduction of NPR (Tan et al., CVPR 2024): the same residual
  network, crops and epochs, trained on the images as they come (no
  re-encoding, no pseudo-fakes, no balancing, no canonical container), scored
  on a grid of 16 crops.
* ``radial-logreg``: the 64-bin radial spectrum baseline (Durall et al. 2020).

Run::

    python benchmarks/bench_generalization.py            # about 90 min, one torch thread
    python benchmarks/bench_generalization.py --quick    # smoke test, ~10 min
    python benchmarks/bench_generalization.py --rescore --out FILE  # flag rates, no training

Results go to ``benchmarks/results/bench_generalization.json`` (written after
every trained model, so an interrupted run keeps what it measured, and
``--resume`` skips the models already there). Every ROC AUC comes with a 95%
stratified bootstrap interval (``roc_auc_ci95``; the LOGO means too): a face
test set has only 6-7 real faces, so its AUC moves in steps of 1/120 and its
interval is wide.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FACE_GENERATORS = ("stylegan2-ada-ffhq", "stylegan3-r-ffhq", "gan-face-unspecified")


# --------------------------------------------------------------------- data
def _shared_root():
    return os.environ.get(
        "SKFORENSICS_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data")
    )


def load_sets(root, cifake_per_class, quick, seed=0):
    """Every image of the shared sets, decoded, with label, set, generator and fold."""
    from skforensics.datasets import load_images

    rng = np.random.default_rng(seed)
    rows = list(csv.DictReader(open(os.path.join(root, "MANIFEST.csv"))))
    items = []
    for name in ("diffusiondb_coco", "multigen", "cifake"):
        sel = [r for r in rows if r["path"].startswith(name + "/")]
        cap = cifake_per_class if name == "cifake" else None
        if quick:
            cap = 12 if name != "multigen" else 6
        by_gen = {}
        for r in sel:
            by_gen.setdefault(r["generator"], []).append(r)
        for gen, rs in sorted(by_gen.items()):
            rs = [rs[i] for i in rng.permutation(len(rs))]
            if cap:
                rs = rs[:cap]
            n_test = max(1, len(rs) // 3)
            for k, r in enumerate(rs):
                items.append(
                    {
                        "path": os.path.join(root, r["path"]),
                        "label": int(r["label"]),
                        "set": name,
                        "generator": gen,
                        "fold": "test" if k < n_test else "train",
                    }
                )
    imgs = load_images([it["path"] for it in items])
    for it, img in zip(items, imgs):
        it["img"] = img
    return items


def reencode(img, fmt):
    from PIL import Image

    if fmt == "given":
        return img
    if fmt == "half":  # down-scaled as most real photos are (bicubic, anti-aliased), lossless
        h, w = img.shape[:2]
        return np.array(Image.fromarray(img).resize((w // 2, h // 2), Image.BICUBIC))
    buf = io.BytesIO()
    if fmt in ("jpeg90", "jpeg75"):  # jpeg75: Pillow's default quality, common on the web
        Image.fromarray(img).save(buf, format="JPEG", quality=int(fmt[4:]))
    else:
        Image.fromarray(img).save(buf, format="PNG")
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


ENCODINGS = ("given", "jpeg90", "jpeg75", "png", "half")
# reported beside the encodings: the real images down-scaled by 2 ("half") against the
# generated ones as given, as in the wild, where real photos were down-scaled from a
# camera's resolution and generated images come at the size they were made
REPORTED = (*ENCODINGS, "reals_half")
N_BOOT = 2000
MAX_KEPT_SCORES = 500  # test sets up to this size keep their per-image scores in the JSON


def bootstrap_aucs(y, s, n_boot=N_BOOT, seed=0):
    """ROC AUCs of ``n_boot`` stratified resamples (reals and fakes resampled apart)."""
    from scipy.stats import rankdata

    y, s = np.asarray(y), np.asarray(s, dtype=float)
    pos, neg = s[y == 1], s[y == 0]
    if pos.size == 0 or neg.size == 0:
        return None
    rng = np.random.default_rng(seed)
    P = pos[rng.integers(0, pos.size, (n_boot, pos.size))]
    N = neg[rng.integers(0, neg.size, (n_boot, neg.size))]
    r = rankdata(np.concatenate([P, N], axis=1), axis=1)  # ties get the mean rank
    u = r[:, : pos.size].sum(axis=1) - pos.size * (pos.size + 1) / 2
    return u / (pos.size * neg.size)


def ci95(samples):
    return [round(float(v), 4) for v in np.percentile(samples, [2.5, 97.5])]


def score_entry(y, s, keep):
    """ROC AUC (with its interval), accuracy and flag rates of scores ``s``."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    y, s = np.asarray(y), np.asarray(s)
    boot = bootstrap_aucs(y, s)
    out = {
        "roc_auc": round(float(roc_auc_score(y, s)), 4) if len(set(y)) == 2 else None,
        "roc_auc_ci95": None if boot is None else ci95(boot),
        "accuracy": round(float(accuracy_score(y, s >= 0.5)), 4),
        "flagged": flag_rates(y, s),
    }
    if keep:
        out["scores"] = [round(float(v), 5) for v in s]
    return out


def reals_half(y, given, half, keep):
    """:func:`score_entry` of the reals' ``half`` scores with the fakes' ``given`` ones."""
    y = np.asarray(y)
    return score_entry(y, np.where(y == 0, half, given), keep)


def flag_rates(y, s, shift=0.0):
    """Shares of fakes and of reals with ``prob_fake > 0.5`` after adding ``shift`` to the logit."""
    from scipy.special import expit, logit

    y = np.asarray(y)
    p = expit(logit(np.clip(np.asarray(s, dtype=float), 1e-7, 1 - 1e-7)) + shift)
    return {
        "fakes_flagged": round(float(np.mean(p[y == 1] > 0.5)), 4) if (y == 1).any() else None,
        "reals_flagged": round(float(np.mean(p[y == 0] > 0.5)), 4) if (y == 0).any() else None,
    }


def shipped_bias_shift():
    """The read-out shift of the shipped file (``build_default_detector.py``), or None."""
    path = os.path.join(HERE, "results", "build_default_detector.json")
    if not os.path.exists(path):
        return None
    return json.load(open(path)).get("bias_shift")


def rescore(path):
    """Recompute what stored per-image scores give, without retraining (``--rescore``).

    Adds to every test set that kept its scores the shares of fakes and reals
    flagged at 0.5 (``flagged``) and after the shipped file's read-out shift
    (``flagged_with_shipped_shift``, recipe models only: what the shipped
    calibration would do to these models, which have none), prints them, and
    rewrites ``path``.
    """
    data = json.load(open(path))
    shift = shipped_bias_shift()
    for protocol, models in data["results"].items():
        for model, runs in models.items():
            for key, run in runs.items():
                for tname, res in run["tests"].items():
                    if "labels" not in res:
                        continue
                    if "reals_half" not in res and "scores" in res.get("half", {}):
                        res["reals_half"] = reals_half(
                            res["labels"], res["given"]["scores"], res["half"]["scores"], True
                        )
                    for enc in (e for e in REPORTED if e in res):
                        r = res[enc]
                        r["flagged"] = flag_rates(res["labels"], r["scores"])
                        if shift is not None and model.startswith("recipe"):
                            r["flagged_with_shipped_shift"] = flag_rates(
                                res["labels"], r["scores"], shift
                            )
                    g, sh = res["given"]["flagged"], res["given"].get("flagged_with_shipped_shift")
                    print(
                        f"[{protocol}] {model:14s} {key:34s} {tname:44s} given: fakes/reals "
                        f"flagged at 0.5 {g['fakes_flagged']}/{g['reals_flagged']}"
                        + (
                            f", with the shipped shift {shift:+.2f}: "
                            f"{sh['fakes_flagged']}/{sh['reals_flagged']}"
                            if sh
                            else ""
                        )
                    )
    data["config"]["rescored_with_shipped_shift"] = shift
    data["summary"] = summarize(data["results"])
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


# --------------------------------------------------------------------- models
def _recipe_epochs():
    import inspect

    from skforensics import make_default_detector

    return inspect.signature(make_default_detector).parameters["max_epochs"].default


# make_default_detector's training re-encoding: recipe-lowq, 3 of 5 windows as JPEG at
# quality 50-100 (the recipe's since it was measured here, spelled out); recipe-q65, the
# recipe's before (2 of 4, 65-100)
LOWQ = {"formats": ("jpeg", "jpeg", "jpeg", "png", "webp"), "quality": (50, 100)}
Q65 = {"formats": ("jpeg", "jpeg", "png", "webp"), "quality": (65, 100)}


def make_model(name, epochs, crop, seed=0):
    import torch

    from skforensics import make_default_detector, make_named_pipeline
    from skforensics.neural import NPRNet, SAMNetClassifier

    if name == "recipe":
        return make_default_detector(max_epochs=epochs, crop_size=crop, random_state=seed)
    if name in ("recipe-rot", "recipe-upright"):  # training crops turned or not (recipe: turned)
        return make_default_detector(
            max_epochs=epochs,
            crop_size=crop,
            rotate_crops=name == "recipe-rot",
            random_state=seed,
        )
    if name == "recipe-resample":  # both classes also resampled: half the windows, new shapes
        return make_default_detector(
            max_epochs=epochs, crop_size=crop, resample=True, random_state=seed
        )
    if name == "recipe-down":  # a real copy down-scaled by 0.3-0.8 per two real images
        return make_default_detector(
            max_epochs=epochs, crop_size=crop, downscaled_reals=0.5, random_state=seed
        )
    if name == "recipe-f24":  # pseudo-fakes from 2x and 4x decoders (the recipe: 2x only)
        return make_default_detector(
            max_epochs=epochs, crop_size=crop, random_state=seed
        ).set_params(factor="random")
    if name in ("recipe-lowq", "recipe-down-lowq", "recipe-q65"):  # training re-encodings
        down = 0.5 if name == "recipe-down-lowq" else 0.0
        return make_default_detector(
            max_epochs=epochs,
            crop_size=crop,
            downscaled_reals=down,
            random_state=seed,
            **(Q65 if name == "recipe-q65" else LOWQ),
        )
    if name == "recipe-no-pf":
        return make_default_detector(
            max_epochs=epochs, crop_size=crop, random_state=seed
        ).set_params(pseudo_fake_ratio=0.0)
    if name == "real-only":
        return make_default_detector(max_epochs=epochs, crop_size=crop, random_state=seed)
    if name == "npr":
        return SAMNetClassifier(
            NPRNet,
            optimizer=torch.optim.AdamW,
            lr=2e-3,
            max_epochs=epochs,
            batch_size=64,
            crop_size=crop,
            crops_per_image=4,
            max_test_crops=16,
            random_state=seed,
        )
    if name == "radial-logreg":
        return make_named_pipeline("radial-logreg")
    raise ValueError(name)


def fit_score(name, train, tests, epochs, seed=0):
    """Fit model ``name`` on ``train`` items; scores of every test set and encoding."""
    crop = 64 if min(min(it["img"].shape[:2]) for it in train) >= 64 else 32
    model = make_model(name, epochs, crop, seed)
    X = [it["img"] for it in train]
    y = np.array([it["label"] for it in train])
    if name == "real-only":
        X, y = [x for x, t in zip(X, y) if t == 0], y[y == 0]
    t0 = time.perf_counter()
    model.fit(X, y)
    fit_s = time.perf_counter() - t0
    out = {"fit_s": round(fit_s, 1), "n_train": len(X), "crop": crop, "tests": {}}
    for tname, titems in tests.items():
        yt = np.array([it["label"] for it in titems])
        res = {"n_real": int((yt == 0).sum()), "n_fake": int((yt == 1).sum())}
        keep = len(titems) <= MAX_KEPT_SCORES  # per-image scores, for intervals of means
        if keep:
            res["labels"] = yt.tolist()
        scores = {}
        for enc in ENCODINGS:
            s = scores[enc] = model.predict_proba([reencode(it["img"], enc) for it in titems])[:, 1]
            res[enc] = score_entry(yt, s, keep)
            if enc == "png":
                res["png_max_abs_diff_to_given"] = float(np.abs(s - scores["given"]).max())
        res["reals_half"] = reals_half(yt, scores["given"], scores["half"], keep)
        out["tests"][tname] = res
    return out


# ------------------------------------------------------------------ protocols
def source_items(items, source, fold="train"):
    if source.startswith("multigen:"):
        gen = source.split(":", 1)[1]
        return [
            it
            for it in items
            if it["set"] == "multigen"
            and it["fold"] == fold
            and (it["label"] == 0 or it["generator"] == gen)
        ]
    return [it for it in items if it["set"] == source and it["fold"] == fold]


def test_sets(items, train_sets):
    """Test sets of the cross-source matrix, held-out parts where they share images."""
    gens = sorted({it["generator"] for it in items if it["set"] == "multigen" and it["label"]})
    tests = {}
    for name in ("diffusiondb_coco", "cifake", "multigen"):
        part = "test" if name in train_sets else None
        tests[name] = [
            it for it in items if it["set"] == name and (part is None or it["fold"] == part)
        ]
    for g in gens:
        part = "test" if "multigen" in train_sets else None
        tests[f"multigen:{g}"] = [
            it
            for it in items
            if it["set"] == "multigen"
            and (it["label"] == 0 or it["generator"] == g)
            and (part is None or it["fold"] == part)
        ]
    return tests


def logo_split(items, held_out, rng, n_photo_train=100, n_photo_test=60):
    mg = [it for it in items if it["set"] == "multigen"]
    photos = [it for it in items if it["set"] == "diffusiondb_coco" and it["label"] == 0]
    photos = [photos[i] for i in rng.permutation(len(photos))]
    ph_train, ph_test = photos[:n_photo_train], photos[n_photo_train : n_photo_train + n_photo_test]
    train = [it for it in mg if it["label"] == 1 and it["generator"] != held_out]
    train += [it for it in mg if it["label"] == 0 and it["fold"] == "train"] + ph_train
    fakes = [it for it in mg if it["label"] == 1 and it["generator"] == held_out]
    if held_out in FACE_GENERATORS:
        reals = [it for it in mg if it["label"] == 0 and it["fold"] == "test"]
    else:
        reals = ph_test
    return train, {f"multigen:{held_out}": fakes + reals}


def logo_all_split(items, held_out):
    """Training folds of diffusiondb_coco and multigen without ``held_out``; its fakes to test."""
    pool = [it for it in items if it["set"] in ("diffusiondb_coco", "multigen")]
    same_family = held_out.startswith("stable-diffusion")  # DiffusionDB is Stable Diffusion 1.x
    train = [
        it
        for it in pool
        if it["generator"] != held_out
        and (it["set"] == "multigen" and it["label"] == 1 or it["fold"] == "train")
        and not (same_family and it["set"] == "diffusiondb_coco" and it["label"] == 1)
    ]
    fakes = [it for it in pool if it["label"] == 1 and it["generator"] == held_out]
    real_set = "multigen" if held_out in FACE_GENERATORS else "diffusiondb_coco"
    reals = [
        it for it in pool if it["label"] == 0 and it["set"] == real_set and it["fold"] == "test"
    ]
    return train, {f"multigen:{held_out}": fakes + reals}


def summarize(results):
    """The headline numbers: LOGO mean and the two cross-source directions."""
    summary = {}
    for protocol in ("logo", "logo_all"):
        for model, runs in results.get(protocol, {}).items():
            tests = [r["tests"][t] for r in runs.values() for t in r["tests"]]
            for enc in REPORTED:
                if not all(enc in t for t in tests):  # result files from before an encoding
                    continue
                aucs = [t[enc]["roc_auc"] for t in tests]
                aucs = [a for a in aucs if a is not None]  # a one-class test set (--quick) has none
                if not aucs:
                    continue
                row = summary.setdefault(model, {})
                row[f"{protocol}_mean_auc_{enc}"] = round(float(np.mean(aucs)), 4)
                if all("scores" in t[enc] and t[enc]["roc_auc"] is not None for t in tests):
                    # interval of the mean: every fold resampled independently
                    boot = [bootstrap_aucs(t["labels"], t[enc]["scores"]) for t in tests]
                    row[f"{protocol}_mean_auc_{enc}_ci95"] = ci95(np.mean(boot, axis=0))
    for model, runs in results.get("cross_source", {}).items():
        for src, tgt in (("diffusiondb_coco", "multigen"), ("multigen", "diffusiondb_coco")):
            if src in runs:
                for enc in REPORTED:
                    if enc in runs[src]["tests"][tgt]:
                        summary.setdefault(model, {})[f"{src}->{tgt}_auc_{enc}"] = runs[src][
                            "tests"
                        ][tgt][enc]["roc_auc"]
    return summary


def _versions():
    import importlib.metadata as md
    import platform
    import subprocess

    out = {"python": platform.python_version()}
    for dist in ("numpy", "pillow", "scikit-learn", "torch", "skforensics"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        )
        out["git_commit"] = rev.stdout.strip() or None
    except OSError:
        out["git_commit"] = None
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=_shared_root())
    p.add_argument("--out", default=os.path.join(HERE, "results", "bench_generalization.json"))
    p.add_argument(
        "--epochs", type=int, default=None, help="default: the recipe's (make_default_detector)"
    )
    p.add_argument("--cifake-per-class", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--seed", type=int, default=0, help="seeds the models (the data splits stay the same)"
    )
    p.add_argument("--models", default="recipe,npr,radial-logreg")
    p.add_argument(
        "--protocols",
        default="cross_source,logo,logo_all,ablation",
        help="comma-separated; cross_source_head: the two headline cross-source trainings only",
    )
    p.add_argument(
        "--generators",
        default=None,
        help="comma-separated multigen generators to hold out in logo / logo_all (default: all)",
    )
    p.add_argument("--quick", action="store_true", help="a few images per set, 1 epoch")
    p.add_argument("--resume", action="store_true", help="skip models already in --out")
    p.add_argument(
        "--rescore",
        action="store_true",
        help="recompute flag rates from the per-image scores kept in --out; no training",
    )
    args = p.parse_args(argv)
    if args.rescore:
        rescore(args.out)
        return 0
    import torch

    torch.set_num_threads(args.threads)
    epochs = 1 if args.quick else (args.epochs or _recipe_epochs())
    t0 = time.perf_counter()
    items = load_sets(args.data, args.cifake_per_class, args.quick)
    print(f"{len(items)} images decoded in {time.perf_counter() - t0:.0f} s", flush=True)
    results = {}
    if args.resume and os.path.exists(args.out):
        results = json.load(open(args.out)).get("results", {})
    config = {k: v for k, v in vars(args).items() if k not in ("resume",)}
    # JPEG coding and decoding differ between Pillow builds, and training between torch
    # versions: a rerun on another install moves single rows (see the generalization page)
    config["versions"] = _versions()

    def record(protocol, model, key, value):
        results.setdefault(protocol, {}).setdefault(model, {})[key] = value
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(
                {"config": config, "summary": summarize(results), "results": results}, f, indent=1
            )
        os.replace(tmp, args.out)

    def done(protocol, model, key):
        return key in results.get(protocol, {}).get(model, {})

    def run(protocol, model, key, train, tests):
        if done(protocol, model, key):
            return
        t = time.perf_counter()
        r = fit_score(model, train, tests, epochs, args.seed)
        record(protocol, model, key, r)
        heads = ", ".join(
            f"{tn} {v['given']['roc_auc']}/{v['jpeg90']['roc_auc']}" for tn, v in r["tests"].items()
        )
        print(
            f"[{protocol}] {model:14s} train={key:34s} ({time.perf_counter() - t:5.0f} s) "
            f"AUC given/jpeg90: {heads}",
            flush=True,
        )

    protocols = args.protocols.split(",")
    models = args.models.split(",")
    gens = sorted({it["generator"] for it in items if it["set"] == "multigen" and it["label"]})
    held_out = gens
    if args.generators:
        held_out = args.generators.split(",")
        unknown = sorted(set(held_out) - set(gens))
        if unknown:
            p.error(f"--generators: unknown {unknown}; multigen has {gens}")
    # most telling first: an interrupted run keeps the headline numbers
    sources = ["diffusiondb_coco", "multigen", "cifake"] + [f"multigen:{g}" for g in gens]
    head, rest = sources[:2], sources[2:]

    def cross(srcs, mods):
        for src in srcs:
            train = source_items(items, src)
            tests = test_sets(items, {src.split(":")[0]})
            for model in mods:
                run("cross_source", model, src, train, tests)

    if "cross_source" in protocols or "cross_source_head" in protocols:
        cross(head, models)
    if "logo" in protocols:
        for g in held_out:
            train, tests = logo_split(items, g, np.random.default_rng(0))
            for model in models:
                run("logo", model, g, train, tests)
    if "logo_all" in protocols:
        for g in held_out:
            train, tests = logo_all_split(items, g)
            for model in models:
                run("logo_all", model, g, train, tests)
    if "ablation" in protocols:
        cross(head, ("recipe-no-pf", "real-only"))
    if "cross_source" in protocols:
        cross(rest, models)
    summary = summarize(results)
    print(json.dumps(summary, indent=1))
    print(f"total {time.perf_counter() - t0:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
