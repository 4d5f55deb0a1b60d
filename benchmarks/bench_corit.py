"""Benchmark CoRITInjector against plain CLIP features (the UnivFD recipe).

On ``diffusiondb_coco`` (300 real COCO/ImageNet photos, 300 Stable Diffusion
images, 512x512) with one random-init open_clip ViT (no pretrained weights are
available offline), in one run and on the same stratified 5-fold split:

* ``clip_last + logreg``: final CLIP embedding + StandardScaler +
  LogisticRegression (UnivFD's linear probe; features computed once, they do
  not depend on labels);
* ``corit + csam``: CoRITInjector (fitted inside each fold on the training part
  only) + StandardScaler + CorrentropySparseAdditiveClassifier;
* the two cross combinations (``corit + logreg``, ``clip_last + csam``) to
  separate the effect of the features from that of the classifier.

It also reports the layer-wise GSNR profile of the backbone on the same data
(CoRIT's CGP GSNR per block, averaged over folds, and
``skforensics.metrics.layerwise_gsnr`` when that module exists), and the time
of ``CoRITInjector.transform`` relative to ``CLIPFeatureExtractor.transform``
on the same backbone and images.

Images are decoded and resized to the model resolution once, with the
backbone's own Resize/CenterCrop (checked to give the same features as the
file paths), so the timings compare the model work of both transforms.

Usage::

    python benchmarks/bench_corit.py --model skf-tiny-vit
    python benchmarks/bench_corit.py --model ViT-B-32 --timing-n 64

Results are printed and merged, under the model name, into
``benchmarks/results/bench_corit.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

DATA = os.environ.get(
    "SKFORENSICS_SHARED_DATA", os.path.join(os.path.dirname(HERE), "..", "shared", "data")
)


def load_diffusiondb():
    with open(os.path.join(DATA, "MANIFEST.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].startswith("diffusiondb_coco/")]
    paths = [os.path.join(DATA, r["path"]) for r in rows]
    return (
        paths,
        np.array([int(r["label"]) for r in rows]),
        np.array([r["generator"] for r in rows]),
    )


def resize_like_backbone(clip, paths):
    """Decode every file once and apply the backbone's Resize + CenterCrop."""
    from PIL import Image

    from skforensics._image_io import load_image

    geometric = [
        t
        for t in clip.preprocess_.transforms
        if type(t).__name__ in ("Resize", "CenterCrop", "ResizeKeepRatio")
    ]
    out = []
    for i, p in enumerate(paths):
        img = Image.fromarray(load_image(p, index=i))
        for t in geometric:
            img = t(img)
        out.append(np.asarray(img, dtype=np.uint8))
    return np.stack(out)


def scores(y, proba):
    from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

    return {
        "accuracy": float(accuracy_score(y, proba >= 0.5)),
        "roc_auc": float(roc_auc_score(y, proba)),
        "average_precision": float(average_precision_score(y, proba)),
    }


def summarise(folds):
    keys = folds[0].keys()
    return {
        k: {
            "mean": float(np.mean([f[k] for f in folds])),
            "std": float(np.std([f[k] for f in folds])),
            "folds": [round(f[k], 4) for f in folds],
        }
        for k in keys
    }


def heads(random_state):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = {"logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))}
    try:
        from skforensics import CorrentropySparseAdditiveClassifier
    except (ImportError, AttributeError) as exc:  # another engineer's module, may be absent
        print(f"CorrentropySparseAdditiveClassifier not available ({exc}); skipping csam")
    else:
        out["csam"] = make_pipeline(
            StandardScaler(), CorrentropySparseAdditiveClassifier(random_state=random_state)
        )
    return out


def time_transforms(clip, corit, X, reps):
    """Wall and CPU time of both transforms on the same images, interleaved.

    The machine is shared, so both the median and the minimum (the least
    disturbed repetition) are reported.
    """
    t = {"clip": {"wall": [], "cpu": []}, "corit": {"wall": [], "cpu": []}}
    clip.transform(X[:8]), corit.transform(X[:8])  # warm-up
    for r in range(reps):
        order = [("clip", clip), ("corit", corit)]
        if r % 2:
            order.reverse()
        for name, est in order:
            w0, c0 = time.perf_counter(), time.process_time()
            est.transform(X)
            t[name]["wall"].append(time.perf_counter() - w0)
            t[name]["cpu"].append(time.process_time() - c0)
    return t


def library_gsnr(clip, X, y, tr, te, seed):
    """skforensics.metrics.layerwise_gsnr of a linear probe on every block.

    For each block ``b``: the mean patch token of the block (the tokens the CGP
    is computed from, all regions together), standardised on the training
    part, a ``LinearProbe`` trained with SAM on the training part of fold 0,
    and ``layerwise_gsnr`` of its parameters on the held-out part.
    """
    try:
        from skforensics.metrics import layerwise_gsnr
        from skforensics.neural import LinearProbe, SAMNetClassifier
    except ImportError as exc:
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    from sklearn.base import clone
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    blocks = clone(clip).set_params(layers="all", pooling="mean").fit(X[:1])
    F = blocks.transform(X)
    width = F.shape[1] // len(blocks.layers_)
    rows = []
    for i, b in enumerate(blocks.layers_):
        Fb = F[:, i * width : (i + 1) * width]
        sc = StandardScaler().fit(Fb[tr])
        A_tr, A_te = (
            sc.transform(Fb[tr]).astype(np.float32),
            sc.transform(Fb[te]).astype(np.float32),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probe = SAMNetClassifier(
                LinearProbe, lr=0.05, max_epochs=10, batch_size=64, random_state=seed, device="cpu"
            ).fit(A_tr, y[tr])
            table = layerwise_gsnr(probe, A_te, y[te])
        rows.append(
            {
                "block": int(b),
                "gsnr": float(np.mean(table.gsnr)),
                "probe_test_accuracy": float(probe.score(A_te, y[te])),
            }
        )
    return {
        "available": True,
        "what": "layerwise_gsnr of a SAM-trained LinearProbe on each "
        "block's standardised mean patch token; fold 0 (train: fit, test: GSNR)",
        "n_test": len(te),
        "blocks": rows,
        "seconds": time.perf_counter() - t0,
    }


def run(args):
    import torch
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    from skforensics import CLIPFeatureExtractor, CoRITInjector

    torch.set_num_threads(args.threads)
    paths, y, gen = load_diffusiondb()
    if args.n_per_class:
        rng = np.random.RandomState(args.seed)
        keep = np.sort(
            np.concatenate(
                [
                    rng.choice(np.flatnonzero(y == c), args.n_per_class, replace=False)
                    for c in (0, 1)
                ]
            )
        )
        paths, y, gen = [paths[i] for i in keep], y[keep], gen[keep]
    clip = CLIPFeatureExtractor(
        args.model,
        pretrained=None,
        layers="last",
        device="cpu",
        batch_size=args.batch_size,
        random_state=args.seed,
    )
    clip.fit(paths[:1])
    t0 = time.perf_counter()
    X = resize_like_backbone(clip, paths)
    t_decode = time.perf_counter() - t0
    check = float(np.abs(clip.transform(paths[:4]) - clip.transform(X[:4])).max())
    print(
        f"{args.model}: {len(y)} images at {X.shape[1:]} (decode {t_decode:.1f}s); "
        f"max |feat(paths) - feat(resized arrays)| = {check:.2e}"
    )

    corit_tpl = CoRITInjector(
        clip,
        layers="auto",
        grid=args.grid,
        mask_quantile=args.mask_quantile,
        alpha=args.alpha,
        integration=args.integration,
        device="cpu",
        batch_size=args.batch_size,
    )

    t0 = time.perf_counter()
    F_clip = clip.transform(X)
    t_clip_all = time.perf_counter() - t0
    print(f"clip_last features {F_clip.shape} in {t_clip_all:.1f}s")

    skf = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    res = {}
    profiles = []
    fitted = None
    for fold, (tr, te) in enumerate(skf.split(X, y)):
        t0 = time.perf_counter()
        corit = clone(corit_tpl)
        Z_tr = corit.fit_transform(X[tr], y[tr])
        Z_te = corit.transform(X[te])
        t_feat = time.perf_counter() - t0
        profiles.append(
            {
                "region_snr_mean": corit.region_snr_.mean(axis=1),
                "region_snr_max": corit.region_snr_.max(axis=1),
                "layer_snr": corit.layer_snr_,
                "cls_snr": corit.cls_snr_,
                "layer_weights": corit.layer_weights_,
                "mask": corit.region_mask_,
            }
        )
        for feat_name, (A_tr, A_te) in {
            "corit": (Z_tr, Z_te),
            "clip_last": (F_clip[tr], F_clip[te]),
        }.items():
            for head_name, head in heads(args.seed).items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t1 = time.perf_counter()
                    model = clone(head).fit(A_tr, y[tr])
                    proba = model.predict_proba(A_te)[:, 1]
                    t_head = time.perf_counter() - t1
                sc = scores(y[te], proba)
                sc["head_fit_s"] = t_head
                res.setdefault(f"{feat_name}+{head_name}", []).append(sc)
        print(
            f"fold {fold}: corit features {t_feat:.1f}s; "
            + ", ".join(
                f"{k}: auc={v[-1]['roc_auc']:.3f} acc={v[-1]['accuracy']:.3f}"
                for k, v in res.items()
            )
        )
        fitted = corit

    results = {k: summarise(v) for k, v in res.items()}
    ablation = {}
    if args.ablation:
        variants = {
            "alpha=0 (integration only)": {"alpha": 0.0},
            "alpha=1 (default)": {},
            "alpha=4": {"alpha": 4.0},
            "mask_quantile=0 (no mask)": {"mask_quantile": 0.0},
            "mask_quantile=0.9": {"mask_quantile": 0.9},
            "integration=uniform": {"integration": "uniform"},
            "integration=concat": {"integration": "concat"},
            "last block only, alpha=1": {"layers": [-1]},
            "readout=token": {"readout": "token"},
        }
        lr_head = heads(args.seed)["logreg"]
        for name, params in variants.items():
            folds = []
            for tr, te in skf.split(X, y):
                est = clone(corit_tpl).set_params(**params)
                Z_tr = est.fit_transform(X[tr], y[tr])
                proba = clone(lr_head).fit(Z_tr, y[tr]).predict_proba(est.transform(X[te]))[:, 1]
                folds.append(scores(y[te], proba))
            ablation[name] = summarise(folds)
            print(
                f"ablation {name:<28} + logreg: auc {ablation[name]['roc_auc']['mean']:.3f}"
                f"±{ablation[name]['roc_auc']['std']:.3f}"
            )
    n_train = len(y) * (args.folds - 1) / args.folds
    masks = np.stack([p["mask"] for p in profiles])
    profile = {
        k: {
            "mean": np.mean([p[k] for p in profiles], axis=0).round(6).tolist(),
            "std": np.std([p[k] for p in profiles], axis=0).round(6).tolist(),
        }
        for k in ("region_snr_mean", "region_snr_max", "layer_snr", "cls_snr", "layer_weights")
    }
    profile["null_level_1_over_n_train"] = 1.0 / n_train
    profile["mask_fold_agreement"] = float((masks == masks[0]).mean())
    profile["region_mask_fraction_kept_across_folds"] = masks.mean(axis=0).round(3).tolist()
    profile["blocks"] = fitted.layers_
    tr0, te0 = next(iter(skf.split(X, y)))
    try:
        profile["library_layerwise_gsnr"] = (
            library_gsnr(clip, X, y, tr0, te0, args.seed)
            if not args.skip_library_gsnr
            else {"available": True, "status": "skipped (--skip-library-gsnr)"}
        )
    except Exception as exc:  # noqa: BLE001 - another module: report it, keep the run
        profile["library_layerwise_gsnr"] = {"available": True, "error": repr(exc)}
    lib = profile["library_layerwise_gsnr"]
    if lib.get("blocks"):
        print(
            "skforensics.metrics.layerwise_gsnr, linear probe per block (fold 0): "
            + ", ".join(
                f"b{r['block']}={r['gsnr']:.4f} (acc {r['probe_test_accuracy']:.2f})"
                for r in lib["blocks"]
            )
        )
    else:
        print("skforensics.metrics.layerwise_gsnr:", lib)

    n_t = min(args.timing_n, len(X))
    t = time_transforms(clip, fitted, X[:n_t], args.timing_reps)
    timing = {"n_images": n_t, "reps": args.timing_reps}
    for stat, fn in (("median", np.median), ("min", np.min)):
        for kind in ("wall", "cpu"):
            timing[f"ratio_{stat}_{kind}"] = float(fn(t["corit"][kind]) / fn(t["clip"][kind]))
    for name in t:
        for kind in ("wall", "cpu"):
            timing[f"{name}_transform_{kind}_s"] = [round(v, 3) for v in t[name][kind]]
    timing["within_1_3x"] = bool(
        timing["ratio_min_wall"] <= 1.3 and timing["ratio_median_wall"] <= 1.3
    )
    print(
        f"transform on {n_t} images, {args.timing_reps} reps: clip wall min/median "
        f"{min(t['clip']['wall']):.2f}/{np.median(t['clip']['wall']):.2f}s, corit "
        f"{min(t['corit']['wall']):.2f}/{np.median(t['corit']['wall']):.2f}s; ratio "
        f"min {timing['ratio_min_wall']:.3f}, median {timing['ratio_median_wall']:.3f}, "
        f"cpu-time median {timing['ratio_median_cpu']:.3f}"
    )

    print(f"\n{'features + head':<22}{'roc_auc':>16}{'accuracy':>16}{'avg_prec':>16}")
    for k, v in results.items():
        print(
            f"{k:<22}"
            + "".join(
                f"{v[m]['mean']:>10.3f}±{v[m]['std']:.3f}"
                for m in ("roc_auc", "accuracy", "average_precision")
            )
        )
    print(f"\nCGP GSNR per block (mean over folds; null level 1/n_train = {1 / n_train:.4f}):")
    for i, b in enumerate(fitted.layers_):
        print(
            f"  block {b:>2}: regions mean {profile['region_snr_mean']['mean'][i]:.4f} "
            f"max {profile['region_snr_max']['mean'][i]:.4f} kept {profile['layer_snr']['mean'][i]:.4f} "
            f"cls {profile['cls_snr']['mean'][i]:.4f} weight {profile['layer_weights']['mean'][i]:.3f}"
        )

    return {
        "model": args.model,
        "pretrained": None,
        "random_state": args.seed,
        "data": {
            "set": "diffusiondb_coco",
            "n": len(y),
            "n_fake": int(y.sum()),
            "generators": {g: int((gen == g).sum()) for g in np.unique(gen)},
        },
        "cv": {"folds": args.folds, "splitter": "StratifiedKFold(shuffle=True)"},
        "corit_params": {
            k: v for k, v in corit_tpl.get_params(deep=False).items() if k != "backbone"
        },
        "input_check_max_abs_diff": check,
        "results": results,
        "ablation_corit_logreg": ablation,
        "gsnr_profile": profile,
        "timing": timing,
        "env": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="skf-tiny-vit")
    p.add_argument("--n-per-class", type=int, default=0, help="0: all 300 per class")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--grid", type=int, default=4)
    p.add_argument("--mask-quantile", type=float, default=0.5)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--integration", default="gsnr")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--timing-n", type=int, default=200)
    p.add_argument("--timing-reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--skip-library-gsnr",
        action="store_true",
        help="do not run skforensics.metrics.layerwise_gsnr (one more backbone pass)",
    )
    p.add_argument(
        "--ablation",
        action="store_true",
        help="also cross-validate CoRIT variants with the logistic head",
    )
    p.add_argument("--out", default=os.path.join(HERE, "results", "bench_corit.json"))
    args = p.parse_args(argv)
    out = run(args)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    allres = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            allres = json.load(f)
    allres[args.model] = out
    with open(args.out, "w") as f:
        json.dump(allres, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
