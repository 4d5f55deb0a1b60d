"""Does MultiScaleStyleRetrospection make a detector robust to downscaling? (HRR Table V)

Data: the 600 images of ``diffusiondb_coco`` (300 real photos, 300 Stable
Diffusion 1.x; all 512x512 JPEG q95). Every image is centre-cropped to 256x256
*native* pixels: that is the training resolution. Test copies are downscaled
(PIL, antialiased bilinear) to 0.5x (128 px) and 0.25x (64 px), the "washing"
of HRR's Table V; nothing is trained on downscaled images.

Detector (weight-free, no pretrained weights exist offline):
``skforensics.features`` spectral + residual (NPR) statistics ->
StandardScaler -> LogisticRegression, 5-fold stratified cross-validation
(train on the 1x images of 4 folds, test on the 5th fold at 1x / 0.5x / 0.25x).

Pipelines compared:

* ``baseline-native``: features of the image as it comes (a 64 px test image
  gives features of a 64 px image);
* ``baseline-resize256``: the image is first resized to 256x256 (what a fixed
  input size detector does);
* ``msr-concat``: MSR views (scales 1, 0.5, 0.25; output 256) -> features of
  every view concatenated -> one logistic regression;
* ``msr-views``: MSR views used as HRR uses them, as multi-scale training
  samples: the logistic regression is fit on every view of every training
  image (label of its image), and a test image's score is the mean
  probability over its views;
* ``msr-views-nolines``: the same without line enhancement (``sharpen_iter=0``),
  to separate the multi-scale part from Eq. 2.

Run:  python benchmarks/bench_msr_robustness.py [--n-per-class N] [--folds K]
Writes benchmarks/results/bench_msr_robustness.json.
"""

import argparse
import csv
import json
import os
import platform
import sys
import time

import numpy as np
from PIL import Image
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from skforensics import MultiScaleStyleRetrospection  # noqa: E402
from skforensics.features import ResidualFeatureExtractor, SpectralFeatureExtractor  # noqa: E402

DATA = os.environ.get(
    "SKFORENSICS_SHARED_DATA", os.path.join(os.path.dirname(HERE), "..", "shared", "data")
)
CROP = 256
FACTORS = (1.0, 0.5, 0.25)


def load_crops(n_per_class, seed):
    with open(os.path.join(DATA, "MANIFEST.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].startswith("diffusiondb_coco/")]
    y = np.array([int(r["label"]) for r in rows])
    keep = np.arange(len(rows))
    if n_per_class:
        rng = np.random.RandomState(seed)
        keep = np.sort(
            np.concatenate(
                [rng.choice(np.flatnonzero(y == c), n_per_class, replace=False) for c in (0, 1)]
            )
        )
    imgs = []
    for i in keep:
        with Image.open(os.path.join(DATA, rows[i]["path"])) as im:
            im = im.convert("RGB")
            w, h = im.size
            left, top = (w - CROP) // 2, (h - CROP) // 2
            imgs.append(np.asarray(im.crop((left, top, left + CROP, top + CROP))))
    return np.stack(imgs), y[keep]


def downscale(X, factor):
    if factor == 1.0:
        return X
    s = int(round(CROP * factor))
    return np.stack([np.asarray(Image.fromarray(x).resize((s, s), Image.BILINEAR)) for x in X])


def resize_to(X, size):
    if X.shape[1] == size:
        return X
    return np.stack(
        [np.asarray(Image.fromarray(x).resize((size, size), Image.BILINEAR)) for x in X]
    )


def features(X):
    """Spectral + NPR residual features of (n, H, W, 3) or (n, V, H, W, 3) images."""
    spec = SpectralFeatureExtractor(n_bins=32, max_size=None)
    res = ResidualFeatureExtractor(groups=("npr", "chroma"), max_size=None)
    return np.hstack([spec.fit_transform(X), res.fit_transform(X)])


def per_view_features(V):
    """(n, V, S, S, 3) views -> (n, V, d) features."""
    n, v = V.shape[:2]
    F = features(V.reshape((n * v,) + V.shape[2:]))
    return F.reshape(n, v, -1)


HEAD = "logreg"


def head():
    if HEAD == "hgb":
        return HistGradientBoostingClassifier(max_iter=100, random_state=0)
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=3000))


def fit_score(kind, Ftr, ytr, Ftests):
    """Fit the head once on the training features, score every test set."""
    if kind == "flat":
        clf = head().fit(Ftr, ytr)
        return [clf.predict_proba(F)[:, 1] for F in Ftests]
    if kind == "concat":
        clf = head().fit(Ftr.reshape(len(Ftr), -1), ytr)
        return [clf.predict_proba(F.reshape(len(F), -1))[:, 1] for F in Ftests]
    if kind == "views":
        n, v, d = Ftr.shape
        clf = head().fit(Ftr.reshape(n * v, d), np.repeat(ytr, v))
        return [
            clf.predict_proba(F.reshape(len(F) * v, d))[:, 1].reshape(len(F), v).mean(axis=1)
            for F in Ftests
        ]
    raise ValueError(kind)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-per-class", type=int, default=0, help="0: all 300 + 300 images")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--head",
        choices=("logreg", "hgb"),
        default="logreg",
        help="classifier on the features (logistic regression or gradient boosting)",
    )
    ap.add_argument("--cache", default=None, help="npz file to save / reuse the features in")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "bench_msr_robustness.json"))
    args = ap.parse_args()
    global HEAD
    HEAD = args.head
    t0 = time.perf_counter()
    X, y = load_crops(args.n_per_class, args.seed)
    print(f"{len(y)} images ({int(y.sum())} generated), {CROP}x{CROP} native crops", flush=True)

    msr_kw = dict(output_size=CROP, random_state=args.seed, batch_size=8)
    pipelines = {
        "baseline-native": ("flat", lambda Z: features(Z)),
        "baseline-resize256": ("flat", lambda Z: features(resize_to(Z, CROP))),
        "msr-concat": ("concat", None),
        "msr-views": ("views", None),
        "msr-views-nolines": ("views", None),
    }
    msr = {
        "msr": MultiScaleStyleRetrospection(**msr_kw).fit(),
        "msr-nolines": MultiScaleStyleRetrospection(sharpen_iter=0, **msr_kw).fit(),
    }
    feats = {}  # (pipeline, factor) -> features of all images
    timing = {}
    if args.cache and os.path.exists(args.cache):
        with np.load(args.cache) as z:
            feats = {(k.split("|")[0], float(k.split("|")[1])): z[k] for k in z.files}
            timing = {"cached": args.cache}
    else:
        for f in FACTORS:
            Z = downscale(X, f)
            t = time.perf_counter()
            feats[("baseline-native", f)] = pipelines["baseline-native"][1](Z)
            feats[("baseline-resize256", f)] = pipelines["baseline-resize256"][1](Z)
            timing[f"baselines@{f}"] = time.perf_counter() - t
            for name, est in msr.items():
                t = time.perf_counter()
                V = est.transform(Z)
                t_msr = time.perf_counter() - t
                F = per_view_features(V)
                t_feat = time.perf_counter() - t - t_msr
                timing[f"{name}@{f}"] = {"msr_s": t_msr, "features_s": t_feat}
                if name == "msr":
                    feats[("msr-concat", f)] = F
                    feats[("msr-views", f)] = F
                else:
                    feats[("msr-views-nolines", f)] = F
            print(f"features at {f}x done ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.cache and not os.path.exists(args.cache):
        np.savez(args.cache, **{f"{k[0]}|{k[1]}": v for k, v in feats.items()})
    cv = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    results = {}
    for name, (kind, _) in pipelines.items():
        acc = {f: [] for f in FACTORS}
        auc = {f: [] for f in FACTORS}
        for tr, te in cv.split(np.zeros(len(y)), y):
            tests = [feats[(name, f)][te] for f in FACTORS]
            for f, s in zip(FACTORS, fit_score(kind, feats[(name, 1.0)][tr], y[tr], tests)):
                acc[f].append(accuracy_score(y[te], s > 0.5))
                auc[f].append(roc_auc_score(y[te], s))
        results[name] = {
            f"{f}x": {
                "accuracy": float(np.mean(acc[f])),
                "accuracy_std": float(np.std(acc[f])),
                "roc_auc": float(np.mean(auc[f])),
            }
            for f in FACTORS
        }
        base = results[name]["1.0x"]["accuracy"]
        for f in FACTORS[1:]:
            results[name][f"{f}x"]["accuracy_drop"] = base - results[name][f"{f}x"]["accuracy"]

    header = f"{'pipeline':22s}" + "".join(f"{f'acc@{f}x':>12s}" for f in FACTORS)
    header += f"{'drop@0.5x':>11s}{'drop@0.25x':>11s}"
    header += "".join(f"{f'auc@{f}x':>11s}" for f in FACTORS)
    lines = [header]
    for name, r in results.items():
        line = f"{name:22s}" + "".join(
            f"{r[f'{f}x']['accuracy']:>7.3f}±{r[f'{f}x']['accuracy_std']:.2f}" for f in FACTORS
        )
        line += f"{r['0.5x']['accuracy_drop']:>11.3f}{r['0.25x']['accuracy_drop']:>11.3f}"
        line += "".join(f"{r[f'{f}x']['roc_auc']:>11.3f}" for f in FACTORS)
        lines.append(line)
    table = "\n".join(lines)
    print(table)
    import torch

    out = {
        "command": "python " + " ".join(sys.argv),
        "data": f"diffusiondb_coco, {len(y)} images, centre-cropped {CROP}x{CROP} native pixels; "
        "test copies downscaled with PIL bilinear (antialiased)",
        "detector": "SpectralFeatureExtractor(n_bins=32) + "
        "ResidualFeatureExtractor(npr, chroma) -> " + repr(head()),
        "cv": f"StratifiedKFold({args.folds}, shuffle=True, random_state={args.seed}); "
        "trained on 1x images only",
        "msr_params": MultiScaleStyleRetrospection(**msr_kw).get_params(),
        "results": results,
        "table": table,
        "timing_s": timing,
        "total_s": time.perf_counter() - t0,
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "platform": platform.platform(),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2, default=str)
    print(f"wrote {args.out} ({out['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
