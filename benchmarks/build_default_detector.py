"""Rebuild the detector shipped with skforensics from the shared data sets.

Trains :func:`skforensics.make_default_detector` on every image of
``diffusiondb_coco`` and ``multigen`` (``cifake``'s 32x32 images are smaller
than the 64x64 training crops and are left out) and writes it, as a safe
model file, to ``skforensics/_models/default_detector.skf``, the file
:func:`skforensics.load_default_detector` and ``skforensics scan`` (without
``--model``) use. Also writes ``benchmarks/results/build_default_detector.json``
with the training set, the time and the file size.

Run::

    python benchmarks/build_default_detector.py            # about 5 min on 2 cores
    python benchmarks/build_default_detector.py --out /tmp/det.skf
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SETS = ("diffusiondb_coco", "multigen")


def main(argv=None):
    import skforensics
    from skforensics import DEFAULT_DETECTOR_PATH

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        default=os.environ.get(
            "SKFORENSICS_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data")
        ),
    )
    p.add_argument("--out", default=DEFAULT_DETECTOR_PATH)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    rows = [
        r
        for r in csv.DictReader(open(os.path.join(args.data, "MANIFEST.csv")))
        if r["path"].split("/")[0] in SETS
    ]
    paths = [os.path.join(args.data, r["path"]) for r in rows]
    y = np.array([int(r["label"]) for r in rows])
    t0 = time.perf_counter()
    det = skforensics.make_default_detector(max_epochs=args.epochs, random_state=args.seed)
    det.fit(skforensics.datasets.load_images(paths), y)
    fit_s = time.perf_counter() - t0
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    skforensics.save(det, args.out)
    gens = {}
    for r in rows:
        gens[r["generator"]] = gens.get(r["generator"], 0) + 1
    report = {
        "sets": list(SETS),
        "n_images": len(paths),
        "n_real": int((y == 0).sum()),
        "n_fake": int((y == 1).sum()),
        "n_pseudo_fakes": int(det.n_pseudo_fakes_),
        "generators": gens,
        "epochs": args.epochs,
        "seed": args.seed,
        "fit_s": round(fit_s, 1),
        "train_loss": [round(float(h["train_loss"]), 4) for h in det.estimator_.history_],
        "file": os.path.relpath(args.out, os.path.join(HERE, "..")),
        "file_bytes": os.path.getsize(args.out),
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "build_default_detector.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
