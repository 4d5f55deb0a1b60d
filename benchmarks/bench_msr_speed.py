"""Throughput of MultiScaleStyleRetrospection's classical path (no diffusion), CPU.

256x256 inputs (centre crops of diffusiondb_coco images, held in memory as a
uint8 array, and the same crops read from JPEG files), default parameters
(scales 1 / 0.5 / 0.25, line enhancement with n=2) with ``output_size=256``.

Three settings, timed in interleaved rounds so that the machine's load hits
them alike (``--repeats`` rounds; best and median reported, with the load
average):

* ``default`` -- ``MultiScaleStyleRetrospection(output_size=256)``, nothing
  else set: whatever the defaults choose (threads, batch size);
* ``one-thread`` -- the peer: ``n_threads=1`` (one thread, torch kernels
  single-threaded), same batch size;
* ``legacy`` -- what the estimator did before ``n_threads`` existed: batches of
  8 one after the other with torch's default intra-op threads.

The ratios default / one-thread and default / legacy are measured in the same
run. The default output is checked to be identical to the one-thread output.
Run it with no ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` set (the script
refuses otherwise, unless ``--allow-env``).

Run:  python benchmarks/bench_msr_speed.py [--n 128] [--repeats 5]
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
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


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


def legacy_transform(msr, X, batch_size=8):
    """The pre-``n_threads`` transform: sequential batches, torch's default threads."""
    import torch

    from skforensics._image_io import check_images
    from skforensics._retrospection import _resize

    coll = check_images(X, allow_multiview=False)
    n, size = len(coll), int(msr.output_size)
    seeds = np.random.RandomState(0).randint(0, 2**31 - 1, size=(n, 2))
    out = np.empty((n, msr.n_views_, size, size, 3), dtype=np.uint8)
    for s in range(0, n, batch_size):
        idx = range(s, min(s + batch_size, n))
        batch = np.stack([_resize(coll.load(i), size) for i in idx])
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)
        with torch.no_grad():
            v = msr._views(x, seeds[idx.start : idx.stop])
        out[idx.start : idx.stop] = (
            v.mul_(255.0).add_(0.5).to(torch.uint8).permute(0, 1, 3, 4, 2).numpy()
        )
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--allow-env", action="store_true",
                    help="run even with OMP_NUM_THREADS & co. set")  # fmt: skip
    ap.add_argument("--out", default=os.path.join(HERE, "results", "bench_msr_speed.json"))
    args = ap.parse_args()
    set_vars = {k: os.environ[k] for k in THREAD_VARS if k in os.environ}
    if set_vars and not args.allow_env:
        sys.exit(f"unset {sorted(set_vars)} first: the benchmark measures the defaults")
    import torch

    torch_default_threads = torch.get_num_threads()
    X = crops(args.n)
    tmp = tempfile.mkdtemp()
    paths = []
    for i, x in enumerate(X):
        p = os.path.join(tmp, f"{i}.jpg")
        Image.fromarray(x).save(p, quality=95)
        paths.append(p)

    default = MultiScaleStyleRetrospection(output_size=256, random_state=0).fit()
    one = MultiScaleStyleRetrospection(output_size=256, random_state=0, n_threads=1).fit()
    settings = {
        "default": default.transform,
        "one-thread": one.transform,
        "legacy": lambda data: legacy_transform(default, data),
    }
    # correctness: default == one thread, bit for bit (per-image noise seeds)
    same = bool(np.array_equal(default.transform(X[:16]), one.transform(X[:16])))
    rows = []
    for source, data in (("array", X), ("jpeg-files", paths)):
        rates = {k: [] for k in settings}
        loads = []
        for name, fn in settings.items():
            fn(data[:8])  # warm-up
        for _ in range(args.repeats):
            for name, fn in settings.items():
                t = time.perf_counter()
                fn(data)
                rates[name].append(len(X) / (time.perf_counter() - t))
            loads.append(os.getloadavg()[0])
        assert torch.get_num_threads() == torch_default_threads, "torch threads not restored"
        med = {k: float(np.median(v)) for k, v in rates.items()}
        for name in settings:
            row = {
                "setting": name,
                "input": source,
                "best_images_per_s": max(rates[name]),
                "median_images_per_s": med[name],
                "all_images_per_s": rates[name],
            }
            rows.append(row)
            print(f"{source:10s} {name:10s} best {max(rates[name]):6.1f} img/s  "
                  f"median {med[name]:6.1f} img/s", flush=True)  # fmt: skip
        for ref in ("one-thread", "legacy"):
            r = med["default"] / med[ref]
            rows.append({"ratio": f"default / {ref}", "input": source, "median_ratio": r})
            print(f"{source:10s} default / {ref}: {r:.2f}x (medians)")
        print(f"{source:10s} load average during the rounds: {np.round(loads, 1).tolist()}")
    out = {
        "command": "python " + " ".join(sys.argv),
        "what": f"{len(X)} images of 256x256, output_size=256, scales=(1.0, 0.5, 0.25), "
        "sharpen_iter=2, no diffusion, CPU; settings timed in interleaved rounds",
        "defaults_chosen": {
            "batch_size": default.batch_size,
            "n_threads": "None -> "
            + str(__import__("skforensics._torch_utils", fromlist=["x"]).default_n_threads()),
        },
        "default_equals_one_thread": same,
        "torch_default_threads": torch_default_threads,
        "thread_env": set_vars,
        "results": rows,
        "cpu_count": os.cpu_count(),
        "load_average_end": os.getloadavg(),
        "torch_version": torch.__version__,
        "platform": platform.platform(),
        "note": "shared machine: other engineers' jobs compete for the 2 cores",
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    print(f"default == one-thread output: {same}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
