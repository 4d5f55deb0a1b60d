"""Scanning 2,000 images on a Dask LocalCluster: 2 workers vs 1 worker with 1 thread.

A weight-free detector (the named pipeline ``spectral-csam``: spectral +
residual statistics and a CorrentropySparseAdditiveClassifier) is fitted on
200 CIFAKE images, then scores ``--n`` images (all 600 of diffusiondb_coco,
512x512, and CIFAKE 32x32 images for the rest) with
:func:`skforensics.scanning.iter_scores` on

* a ``LocalCluster(n_workers=1, threads_per_worker=1)`` -- the peer;
* a ``LocalCluster(n_workers=2, threads_per_worker=1)``;

(both with worker processes; each cluster is started and warmed up on 16
images before the clock starts; the model is scattered inside the timed
part) and, for the identity check, locally without Dask. The script checks
that the three runs give identical records and prints the speed-up of 2
workers over 1, measured in the same run.

Run:  flock /tmp/skf-heavy.lock python benchmarks/bench_dask.py [--n 2000] [--repeats 2]
Writes benchmarks/results/bench_dask.json.
"""

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


def load(prefix):
    with open(os.path.join(DATA, "MANIFEST.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].startswith(prefix + "/")]
    return [os.path.join(DATA, r["path"]) for r in rows], np.array([int(r["label"]) for r in rows])


def records_key(records):
    return [(r.path, r.prob_fake, r.verdict, r.error) for r in records]


def scan(model, paths, client, batch_size):
    from skforensics.scanning import iter_scores

    return list(iter_scores(model, paths, batch_size=batch_size, client=client))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "bench_dask.json"))
    args = ap.parse_args()

    from distributed import Client, LocalCluster

    from skforensics._pipelines import make_named_pipeline

    ddb, _ = load("diffusiondb_coco")
    cif, cif_y = load("cifake")
    rng = np.random.RandomState(0)
    train_idx = np.concatenate([rng.choice(np.flatnonzero(cif_y == c), 100, replace=False)
                                for c in (0, 1)])  # fmt: skip
    rest = np.setdiff1d(np.arange(len(cif)), train_idx)
    paths = ddb[: args.n] + [cif[i] for i in rng.choice(rest, max(0, args.n - len(ddb)), False)]
    paths = paths[: args.n]
    model = make_named_pipeline("spectral-csam").fit([cif[i] for i in train_idx],
                                                     cif_y[train_idx])  # fmt: skip

    t = time.perf_counter()
    local = scan(model, paths, None, args.batch_size)
    t_local = time.perf_counter() - t
    print(f"local (no Dask, this process): {t_local:.1f} s", flush=True)

    results, timings = {}, {}
    for n_workers in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)  # fmt: skip
        with cluster, Client(cluster) as client:
            scan(model, paths[:16], client, 8)  # warm-up: imports on the workers
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                results[n_workers] = scan(model, paths, client, args.batch_size)
                times.append(time.perf_counter() - t)
            timings[n_workers] = times
        print(f"{n_workers} worker(s) x 1 thread: {[round(x, 1) for x in times]} s "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip

    identical = records_key(results[1]) == records_key(results[2]) == records_key(local)
    best = {k: min(v) for k, v in timings.items()}
    ratio_best = best[1] / best[2]
    ratio_median = float(np.median(timings[1]) / np.median(timings[2]))
    print(f"2 workers vs 1 worker: {ratio_best:.2f}x (best), {ratio_median:.2f}x (median); "
          f"{len(paths)} images, {len(paths) / best[2]:.0f} images/s on 2 workers; "
          f"identical records: {identical}")  # fmt: skip
    out = {
        "command": "python " + " ".join(sys.argv),
        "what": f"iter_scores of {len(paths)} images ({min(len(ddb), args.n)} diffusiondb_coco "
        "512x512, the rest CIFAKE 32x32) with the fitted spectral-csam pipeline, "
        f"batch_size={args.batch_size}, LocalCluster(processes=True, threads_per_worker=1)",
        "seconds_local_no_dask": t_local,
        "seconds_1_worker": timings[1],
        "seconds_2_workers": timings[2],
        "speedup_2_vs_1_best": ratio_best,
        "speedup_2_vs_1_median": ratio_median,
        "identical_records": identical,
        "n_errors": sum(r.error is not None for r in local),
        "cpu_count": os.cpu_count(),
        "load_average_end": os.getloadavg(),
        "platform": platform.platform(),
        "note": "shared 2-core machine: other jobs compete for the cores",
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    print(f"wrote {args.out}")
    if not identical:
        sys.exit("records differ between the runs")


if __name__ == "__main__":
    main()
