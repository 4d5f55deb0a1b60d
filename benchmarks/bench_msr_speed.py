"""Throughput of MultiScaleStyleRetrospection's classical path (no diffusion), CPU.

256x256 inputs (centre crops of diffusiondb_coco images, held in memory as a
uint8 array, and the same crops read from JPEG files), default parameters
(scales 1 / 0.5 / 0.25, line enhancement with n=2) with ``output_size=256``.
Each setting is timed ``--repeats`` times; the best and the median are
reported (the machine is shared, so timings are noisy; the load average is
recorded). Torch's intra-op thread count is varied: with other processes
competing for the cores, OpenMP threads that wait on each other can be much
slower than a single thread.

Run:  python benchmarks/bench_msr_speed.py [--n 128] [--repeats 3]
Writes benchmarks/results/bench_msr_speed.json.
"""

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from skforensics import MultiScaleStyleRetrospection  # noqa: E402

DATA = os.environ.get(
    "SKFORENSICS_SHARED_DATA", os.path.join(os.path.dirname(HERE), "..", "shared", "data")
)


def crops(n, size=256):
    with open(os.path.join(DATA, "MANIFEST.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].startswith("diffusiondb_coco/")]
    out = []
    for r in rows[:: max(1, len(rows) // n)][:n]:
        with Image.open(os.path.join(DATA, r["path"])) as im:
            im = im.convert("RGB")
            left, top = (im.size[0] - size) // 2, (im.size[1] - size) // 2
            out.append(np.asarray(im.crop((left, top, left + size, top + size))))
    return np.stack(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "bench_msr_speed.json"))
    args = ap.parse_args()
    import torch

    X = crops(args.n)
    tmp = tempfile.mkdtemp()
    paths = []
    for i, x in enumerate(X):
        p = os.path.join(tmp, f"{i}.jpg")
        Image.fromarray(x).save(p, quality=95)
        paths.append(p)
    default_threads = torch.get_num_threads()
    rows = []
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        for batch_size in (8, 32):
            for source, data in (("array", X), ("jpeg-files", paths)):
                msr = MultiScaleStyleRetrospection(
                    output_size=256, batch_size=batch_size, random_state=0
                ).fit()
                msr.transform(data[:batch_size])  # warm-up
                rates = []
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    msr.transform(data)
                    rates.append(len(X) / (time.perf_counter() - t))
                row = {
                    "torch_threads": threads,
                    "batch_size": batch_size,
                    "input": source,
                    "best_images_per_s": max(rates),
                    "median_images_per_s": float(np.median(rates)),
                    "load_average": os.getloadavg(),
                }
                rows.append(row)
                print(
                    f"threads={threads} batch={batch_size:3d} {source:10s} "
                    f"best {max(rates):6.1f} img/s  median {np.median(rates):6.1f} img/s  "
                    f"(load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    torch.set_num_threads(default_threads)
    out = {
        "command": "python " + " ".join(sys.argv),
        "what": f"{len(X)} images of 256x256, output_size=256, scales=(1.0, 0.5, 0.25), "
        "sharpen_iter=2, no diffusion, CPU",
        "results": rows,
        "cpu_count": os.cpu_count(),
        "torch_version": torch.__version__,
        "platform": platform.platform(),
        "note": "shared machine: other engineers' jobs compete for the 2 cores",
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
