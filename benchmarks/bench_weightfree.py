"""Benchmark of the weight-free detectors (CPU).

5-fold stratified cross-validation (shuffled, seed 0) of

* ``radial64+LR``: the 64-bin azimuthal log power spectrum (Durall et al.)
  with StandardScaler + LogisticRegression: the baseline;
* ``spectral+LR``: :class:`SpectralFeatureExtractor` (radial + directional
  residual spectra);
* ``residual+LR``: :class:`ResidualFeatureExtractor` (NPR, co-occurrences,
  chroma);
* ``spectral+residual+LR`` and ``spectral+residual+CSAM``: both, with
  LogisticRegression or CorrentropySparseAdditiveClassifier (the
  ``spectral-logreg`` and ``spectral-csam`` pipelines),

on diffusiondb_coco (600 images, 512x512) and a CIFAKE subset (2 x 3000
by default, 32x32), then :func:`robustness_report` of ``spectral-logreg`` and of the
baseline trained on half of diffusiondb_coco and tested on the other half,
clean and perturbed, and of ``spectral-logreg`` trained on that half plus one
:class:`~skforensics.perturbations.RandomPerturbation` copy of it (training-time
augmentation). Features are computed once per image set (the
extractors are stateless), the classifiers are cross-validated on them.

Run: ``python benchmarks/bench_weightfree.py [--data DIR] [--quick]``.
Prints a summary and writes ``benchmarks/results/bench_weightfree.json``.
"""

import argparse
import csv
import json
import os
import platform
import time
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skforensics
from skforensics._pipelines import make_named_pipeline
from skforensics.features import ResidualFeatureExtractor, SpectralFeatureExtractor
from skforensics.model_selection import default_perturbations, robustness_report
from skforensics.perturbations import RandomPerturbation

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.environ.get(
    "SKFORENSICS_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data")
)


def load_set(data_dir, name, n_per_class=None, seed=0):
    with open(os.path.join(data_dir, "MANIFEST.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].startswith(name + "/")]
    paths = np.array([os.path.join(data_dir, r["path"]) for r in rows])
    y = np.array([int(r["label"]) for r in rows])
    if n_per_class is not None:
        rng = np.random.RandomState(seed)
        keep = np.sort(
            np.concatenate(
                [rng.choice(np.flatnonzero(y == c), n_per_class, replace=False) for c in (0, 1)]
            )
        )
        paths, y = paths[keep], y[keep]
    return list(paths), y


def classifiers():
    out = {"LR": make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))}
    try:
        from skforensics import CorrentropySparseAdditiveClassifier as CSAM

        out["CSAM"] = make_pipeline(
            StandardScaler(), CSAM(n_knots=3, degree=1, lam=1e-2, random_state=0)
        )
    except ImportError:  # pragma: no cover
        pass
    return out


def cv_scores(clf, F, y):
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = cross_validate(clf, F, y, cv=cv, scoring=("accuracy", "average_precision"))
    return {
        "accuracy": float(res["test_accuracy"].mean()),
        "accuracy_std": float(res["test_accuracy"].std()),
        "average_precision": float(res["test_average_precision"].mean()),
        "fit_seconds": round(time.perf_counter() - t, 2),
    }


def bench_set(name, paths, y, n_jobs):
    feats, timing = {}, {}
    for key, ext in [
        ("radial64", SpectralFeatureExtractor(n_bins=64, axis_profiles=False, n_jobs=n_jobs)),
        ("spectral", SpectralFeatureExtractor(n_jobs=n_jobs)),
        ("residual", ResidualFeatureExtractor(n_jobs=n_jobs)),
    ]:
        t = time.perf_counter()
        feats[key] = ext.fit_transform(paths)
        timing[key] = round((time.perf_counter() - t) / len(paths) * 1000, 2)
    feats["spectral+residual"] = np.hstack([feats["spectral"], feats["residual"]])
    results = {}
    clfs = classifiers()
    for fkey in ("radial64", "spectral", "residual", "spectral+residual"):
        for ckey, clf in clfs.items():
            if ckey == "CSAM" and fkey not in ("radial64", "spectral+residual"):
                continue
            r = cv_scores(clf, feats[fkey], y)
            results[f"{fkey}+{ckey}"] = {"n_features": feats[fkey].shape[1], **r}
            print(
                f"  {name:17s} {fkey + '+' + ckey:24s} acc {r['accuracy']:.3f} "
                f"+- {r['accuracy_std']:.3f}  AP {r['average_precision']:.3f}",
                flush=True,
            )
    return {
        "n_images": len(y),
        "n_fake": int(y.sum()),
        "results": results,
        "feature_ms_per_image_wall": timing,
    }


def bench_robustness(paths, y, n_jobs, quick):
    Xtr, Xte, ytr, yte = train_test_split(paths, y, test_size=0.5, stratify=y, random_state=0)
    perts = default_perturbations()
    if quick:
        perts = {k: perts[k] for k in ("jpeg_q75", "blur_sigma1")}
    out = {}
    # training-time augmentation: every training image once clean and once with a random
    # JPEG / blur / down-scaling (RandomPerturbation's default menu)
    Xaug = list(Xtr) + list(RandomPerturbation(random_state=0).transform(Xtr))  # paths + arrays
    yaug = np.r_[ytr, ytr]
    for name, how in (
        ("spectral-logreg", "clean"),
        ("radial-logreg", "clean"),
        ("spectral-logreg", "augmented"),
    ):
        if how == "clean":
            clf = make_named_pipeline(name, n_jobs=n_jobs).fit(Xtr, ytr)
        else:
            clf = make_named_pipeline(name, n_jobs=n_jobs).fit(Xaug, yaug)
        rep = robustness_report(clf, Xte, yte, perts)
        trained = (
            f"{len(ytr)} clean images"
            if how == "clean"
            else f"{len(ytr)} clean images + {len(ytr)} randomly perturbed copies"
        )
        print(f"robustness of {name} (trained on {trained}, tested on {len(yte)}):")
        print(rep)
        out[name if how == "clean" else f"{name}+augmented"] = rep.to_dict("records")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="shared data folder (MANIFEST.csv)")
    ap.add_argument("--quick", action="store_true", help="smaller CIFAKE subset, 2 perturbations")
    ap.add_argument(
        "--cifake-per-class",
        type=int,
        default=3000,
        help="CIFAKE images per class (the set has 10000 of each)",
    )
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "bench_weightfree.json"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    report = {
        "benchmark": "bench_weightfree",
        "protocol": "5-fold stratified CV (shuffle, seed 0) on precomputed features; "
        "robustness: train on a stratified half (seed 0), test on the other half",
        "versions": {"skforensics": skforensics.__version__, "python": platform.python_version()},
        "machine": {"cpus": os.cpu_count(), "note": "shared CPU, timings are noisy"},
        "sets": {},
    }
    sets = [("diffusiondb_coco", None), ("cifake", 250 if args.quick else args.cifake_per_class)]
    for name, n in sets:
        paths, y = load_set(args.data, name, n)
        print(f"{name}: {len(y)} images", flush=True)
        report["sets"][name] = bench_set(name, paths, y, args.n_jobs)
    paths, y = load_set(args.data, "diffusiondb_coco")
    report["robustness_diffusiondb_coco"] = bench_robustness(paths, y, args.n_jobs, args.quick)
    report["total_seconds"] = round(time.perf_counter() - t0, 1)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.out} ({report['total_seconds']} s)")


if __name__ == "__main__":
    main()
