"""Does a detector read the orientation, the resampling or the compression of an image?

``diffusiondb_coco``'s real photos were resized to 512x512 by the set's
pipeline, and typical COCO and ImageNet photos are landscape (640x480,
500x375): our reading is that most were up-sampled more vertically than
horizontally, which leaves less fine detail along the vertical axis than
along the horizontal one; the generated images show no such difference. A
detector can learn "smoother vertically" as a sign of a real photo, a cue
that real photos from elsewhere need not carry.

This script measures, in one run:

* ``spectra`` -- for every generator (and real source) of ``diffusiondb_coco``
  and ``multigen``: the share of the (luminance, per-image normalised)
  amplitude spectrum above 0.85 Nyquist along the horizontal and the vertical
  axis, and their ratio (1 for an isotropic image);
* ``rotation`` -- the shipped detector's ``prob_fake`` for the same images
  upright and rotated by 90 degrees (``np.rot90``, lossless): the mean change
  and the mean absolute change per class and set, and the ROC AUC both ways.
  A detector that reads only generator traces is indifferent to the rotation
  (the traces of an up-sampling decoder are the same along both axes).
* ``resampling`` -- the detector's ``prob_fake`` for the same images as given
  and resized (bicubic, anti-aliased when down-scaling, kept lossless): by
  0.35, 1/2, 3/4, 5/4, 3/2 and 2, and to a new
  aspect ratio as a data set resizing a 640x480 photo to a square would
  (width x0.8, height x16/15). Users and data sets resize real photos;
  resizing an image does not make it generated, and a residual detector that
  reads the correlations left by up-sampling may still take them for a
  generator's.
* ``compression`` -- the same, for the edits that images get on the web:
  JPEG at quality 90, 75 (Pillow's default) and 50, lossy WEBP at quality 80,
  a 256-colour dithered palette (GIF, palette PNG) and a Gaussian blur of
  radius 1. None of them makes an image generated; a detector whose scores
  move with them reads the edit.

The shipped detector trained on these images: the rotation check measures
what it learned, not how it generalises.

Usage::

    python benchmarks/bench_orientation.py          # under a minute, one torch thread
    python benchmarks/bench_orientation.py --step 1 # score every image
    python benchmarks/bench_orientation.py --model det.skf --out /tmp/o.json  # another detector
    python benchmarks/bench_orientation.py --checks resampling  # one check (also: rotation)
    python benchmarks/bench_orientation.py --checks compression --out benchmarks/results/bench_orientation_compression.json

Writes ``benchmarks/results/bench_orientation.json``.
"""

import argparse
import csv
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SETS = ("diffusiondb_coco", "multigen")
# (name, width factor, height factor) of the resampling check
RESIZES = (
    ("x0.35", 0.35, 0.35),
    ("x0.5", 0.5, 0.5),
    ("x0.75", 0.75, 0.75),
    ("x1.25", 1.25, 1.25),
    ("x1.5", 1.5, 1.5),
    ("x2", 2.0, 2.0),
    ("640x480_to_square", 0.8, 16 / 15),
)


def resize(img, fx, fy):
    from PIL import Image

    h, w = img.shape[:2]
    size = (int(round(w * fx)), int(round(h * fy)))
    return np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC))


def _reencoded(img, **save):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, **save)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


def _blurred(img, radius):
    from PIL import Image, ImageFilter

    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius)))


def _palette(img):
    from PIL import Image

    return np.asarray(Image.fromarray(img).quantize(256).convert("RGB"))


# the compression check: lossy containers and the other edits that images of the wild get
COMPRESSIONS = {
    "jpeg_q90": lambda im: _reencoded(im, format="JPEG", quality=90),
    "jpeg_q75": lambda im: _reencoded(im, format="JPEG", quality=75),
    "jpeg_q50": lambda im: _reencoded(im, format="JPEG", quality=50),
    "webp_q80": lambda im: _reencoded(im, format="WEBP", quality=80),
    "palette_256": _palette,  # 256 colours, dithered (GIF, palette PNG)
    "gaussian_blur_1": lambda im: _blurred(im, 1.0),
}


def transform_check(det, name, checked_images, transforms):
    """``prob_fake`` of one set's images as given and after each ``(name, function)``."""
    from sklearn.metrics import roc_auc_score

    out, scores = {}, {}
    for label in (0, 1):
        paths, imgs = checked_images(name, label)
        given = det.predict_proba(imgs)[:, 1]
        key = f"{name}:{'fake' if label else 'real'}"
        row = {
            "n": len(paths),
            "mean_prob_fake_given": round(float(given.mean()), 4),
            "flagged_given": round(float(np.mean(given > 0.5)), 3),
        }
        scores[label] = {"given": given}
        for tname, fn in transforms:
            s_ = det.predict_proba([fn(im) for im in imgs])[:, 1]
            scores[label][tname] = s_
            row[tname] = {
                "mean_prob_fake": round(float(s_.mean()), 4),
                "mean_change": round(float((s_ - given).mean()), 4),
                "flagged": round(float(np.mean(s_ > 0.5)), 3),
            }
        out[key] = row
        print(
            f"{key:22s} n={len(paths):3d} prob_fake given {given.mean():.3f}; "
            + ", ".join(f"{t} {row[t]['mean_prob_fake']:.3f}" for t, _ in transforms),
            flush=True,
        )
    y = np.r_[np.zeros(len(scores[0]["given"])), np.ones(len(scores[1]["given"]))]
    aucs = {
        t: round(float(roc_auc_score(y, np.r_[scores[0][t], scores[1][t]])), 4) for t in scores[0]
    }
    out[f"{name}:roc_auc"] = aucs
    print(f"{name}: ROC AUC " + ", ".join(f"{t} {a:.3f}" for t, a in aucs.items()), flush=True)
    return out


def _shared_root():
    return os.environ.get(
        "SKFORENSICS_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data")
    )


def top_band_shares(img, *, cut=0.85, side=256):
    """Shares of the amplitude spectrum above ``cut`` Nyquist, horizontal and vertical axis.

    On the luminance of the top-left ``side x side`` window, mean removed; each
    axis's 1-D amplitude spectra (over rows, or over columns) are averaged and
    normalised to sum to one without the DC term.
    """
    y = img[:side, :side].astype(float) @ np.array([0.299, 0.587, 0.114])
    y -= y.mean()
    out = []
    for axis in (1, 0):  # along rows: horizontal frequencies; along columns: vertical
        a = np.abs(np.fft.rfft(y, axis=axis)).mean(axis=1 - axis)[1:]
        a /= a.sum()
        f = np.arange(1, a.size + 1) / a.size  # fraction of Nyquist
        out.append(float(a[f > cut].sum()))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=_shared_root())
    p.add_argument("--step", type=int, default=3, help="score every STEP-th image of each group")
    p.add_argument("--out", default=os.path.join(HERE, "results", "bench_orientation.json"))
    p.add_argument(
        "--model",
        default=None,
        help="a saved detector (skforensics.save) to check instead of the shipped one",
    )
    p.add_argument("--checks", default="rotation,resampling", help="comma-separated")
    args = p.parse_args(argv)

    import torch
    from sklearn.metrics import roc_auc_score

    from skforensics import load, load_default_detector
    from skforensics.datasets import load_images

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows = list(csv.DictReader(open(os.path.join(args.data, "MANIFEST.csv"))))
    groups = {}
    for r in rows:
        name = r["path"].split("/")[0]
        if name in SETS:
            groups.setdefault((name, r["generator"], int(r["label"])), []).append(r["path"])

    spectra, decoded = {}, {}  # decoded once: the rotation check reuses the images
    for (name, gen, label), paths in sorted(groups.items()):
        paths = sorted(paths)
        imgs = load_images([os.path.join(args.data, q) for q in paths])
        decoded.update(zip(paths, imgs))
        h, v = np.array([top_band_shares(im) for im in imgs]).mean(axis=0)
        spectra[f"{name}:{gen}"] = {
            "label": label,
            "n": len(imgs),
            "top_band_horizontal": round(float(h), 4),
            "top_band_vertical": round(float(v), 4),
            "vertical_over_horizontal": round(float(v / h), 3),
        }
        print(
            f"{name:17s} {gen[:36]:36s} n={len(imgs):3d} above 0.85 Nyquist: "
            f"horizontal {h:.4f} vertical {v:.4f} (ratio {v / h:.2f})",
            flush=True,
        )

    det = load_default_detector() if args.model is None else load(args.model)

    def checked_images(name, label):  # every args.step-th image of a set's class, in path order
        paths = sorted(
            q for (s, _, lab), ps in groups.items() if s == name and lab == label for q in ps
        )[:: args.step]
        return paths, [decoded[q] for q in paths]

    checks = args.checks.split(",")
    rotation = {}
    for name in SETS if "rotation" in checks else ():
        scores = {}
        for label in (0, 1):
            paths, imgs = checked_images(name, label)
            up = det.predict_proba(imgs)[:, 1]
            rot = det.predict_proba([np.ascontiguousarray(np.rot90(im)) for im in imgs])[:, 1]
            scores[label] = (up, rot)
            d = rot - up
            key = f"{name}:{'fake' if label else 'real'}"
            rotation[key] = {
                "n": len(paths),
                "mean_prob_fake_upright": round(float(up.mean()), 4),
                "mean_prob_fake_rotated": round(float(rot.mean()), 4),
                "mean_change": round(float(d.mean()), 4),
                "mean_abs_change": round(float(np.abs(d).mean()), 4),
                "flagged_upright": round(float(np.mean(up > 0.5)), 3),
                "flagged_rotated": round(float(np.mean(rot > 0.5)), 3),
            }
            print(
                f"{key:22s} n={len(paths):3d} prob_fake upright {up.mean():.3f} rotated "
                f"{rot.mean():.3f}: change {d.mean():+.3f} (mean |change| {np.abs(d).mean():.3f})",
                flush=True,
            )
        y = np.r_[np.zeros(len(scores[0][0])), np.ones(len(scores[1][0]))]
        for k, which in ((0, "upright"), (1, "rotated")):
            auc = roc_auc_score(y, np.r_[scores[0][k], scores[1][k]])
            rotation[f"{name}:roc_auc_{which}"] = round(float(auc), 4)
        print(
            f"{name}: ROC AUC upright {rotation[f'{name}:roc_auc_upright']:.3f}, rotated "
            f"{rotation[f'{name}:roc_auc_rotated']:.3f}",
            flush=True,
        )

    transforms = {
        "resampling": [(r, lambda im, fx=fx, fy=fy: resize(im, fx, fy)) for r, fx, fy in RESIZES],
        "compression": list(COMPRESSIONS.items()),
    }
    results = {}
    for check in ("resampling", "compression"):
        results[check] = {}
        for name in SETS if check in checks else ():
            results[check].update(transform_check(det, name, checked_images, transforms[check]))

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    result = {
        "config": {
            "step": args.step,
            "model": args.model,
            "checks": checks,
            "python": sys.version.split()[0],
        },
        "spectra": spectra,
        "rotation": rotation,
        "resampling": results["resampling"],
        "compression": results["compression"],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {args.out} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
