"""SmallForensicCNN from scratch on CIFAKE: SGD / Adam vs SAM vs GRACE.

All 20,000 CIFAKE images (32x32) are decoded once into a uint8 array, split
80/20 (stratified, fixed seed), and the same network is trained with each
optimizer for the same number of epochs (one-cycle learning-rate schedule).
SAM and GRACE cost two forward/backward passes per step.

Timing: the CPU of the development machine is shared with other jobs, so both
the wall-clock time and the CPU time of this process are recorded, with the
load average before and after each run. ``cpu_s / threads`` estimates the wall
time on otherwise idle cores.

Usage::

    python benchmarks/bench_cifake_sam.py                     # all optimizers
    python benchmarks/bench_cifake_sam.py --optimizers sam sgd --epochs 5

Results are merged into ``benchmarks/results/bench_cifake_sam.json`` (one entry
per optimizer, so runs can be split over several invocations).
"""

import argparse
import csv
import json
import os
import platform
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")
OUT = os.path.join(HERE, "results", "bench_cifake_sam.json")


def load_cifake(data_dir):
    from skforensics._image_io import load_images

    with open(os.path.join(data_dir, "MANIFEST.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].startswith("cifake/")]
    paths = [os.path.join(data_dir, r["path"]) for r in rows]
    y = np.array([int(r["label"]) for r in rows])
    X = np.stack(load_images(paths))
    return X, y


def make_classifier(name, epochs, n_train, batch_size, seed):
    import torch
    from skorch.callbacks import LRScheduler

    from skforensics.neural import SAMNetClassifier, SmallForensicCNN
    from skforensics.optim import GRACE, SAM

    steps = epochs * int(np.ceil(n_train / batch_size))
    sgd = dict(optimizer__momentum=0.9, optimizer__nesterov=True, optimizer__weight_decay=5e-4)
    if name == "sgd":
        opt, lr, kw = torch.optim.SGD, 0.1, sgd
    elif name == "adam":
        opt, lr, kw = torch.optim.AdamW, 3e-3, dict(optimizer__weight_decay=5e-4)
    elif name == "sam":
        opt, lr, kw = SAM, 0.1, dict(optimizer__rho=0.05, **sgd)
    elif name == "grace":
        opt, lr, kw = GRACE, 0.1, dict(optimizer__rho=0.05, optimizer__curvature_power=0.5, **sgd)
    else:
        raise ValueError(name)
    sched = LRScheduler(
        torch.optim.lr_scheduler.OneCycleLR, max_lr=lr, total_steps=steps, step_every="batch"
    )
    return SAMNetClassifier(
        SmallForensicCNN,
        optimizer=opt,
        lr=lr,
        max_epochs=epochs,
        batch_size=batch_size,
        callbacks=[("onecycle", sched)],
        random_state=seed,
        verbose=1,
        **kw,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("SKFORENSICS_SHARED_DATA", DEFAULT_DATA))
    ap.add_argument("--optimizers", nargs="+", default=["sam", "sgd", "grace", "adam"])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--tag", default="", help="suffix of the result keys (e.g. a repeat)")
    args = ap.parse_args()

    import warnings

    import torch

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")

    t0 = time.time()
    X, y = load_cifake(os.path.abspath(args.data))
    load_s = time.time() - t0
    from sklearn.model_selection import train_test_split

    idx_tr, idx_te = train_test_split(
        np.arange(len(y)), test_size=0.2, stratify=y, random_state=args.seed
    )
    print(f"loaded {X.shape} uint8 in {load_s:.1f}s; train {len(idx_tr)}, test {len(idx_te)}")

    results = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)
    results.setdefault("runs", {})
    results["setup"] = {
        "data": "cifake: 10,000 real (CIFAR-10) + 10,000 SD1.4 fakes, 32x32 JPEG",
        "split": f"stratified 80/20, seed {args.seed}: {len(idx_tr)} train / {len(idx_te)} test",
        "model": "SmallForensicCNN(widths=(32, 64, 128, 128)), from scratch",
        "schedule": "OneCycleLR per batch; SGD-type: momentum 0.9 nesterov, wd 5e-4",
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "reference": "CIFAKE paper CNN: 92.98% accuracy",
        "timing_note": (
            "CPU shared with other engineers' jobs (see load averages); "
            "cpu_s/threads estimates the time on idle cores"
        ),
    }
    for name in args.optimizers:
        clf = make_classifier(name, args.epochs, len(idx_tr), args.batch_size, args.seed)
        load_before = os.getloadavg()
        w0, c0 = time.time(), time.process_time()
        clf.fit(X[idx_tr], y[idx_tr])
        wall, cpu = time.time() - w0, time.process_time() - c0
        acc = float(np.mean(clf.predict(X[idx_te]) == y[idx_te]))
        hist = [
            {
                "epoch": h["epoch"],
                "train_loss": round(h["train_loss"], 4),
                "dur_s": round(h["dur"], 1),
            }
            for h in clf.history
        ]
        run = {
            "optimizer": name,
            "epochs": args.epochs,
            "test_accuracy": round(acc, 4),
            "fit_wall_s": round(wall, 1),
            "fit_cpu_s": round(cpu, 1),
            "est_idle_wall_s": round(cpu / args.threads, 1),
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
            "history": hist,
        }
        results["runs"][f"{name}_e{args.epochs}{args.tag}"] = run
        print(json.dumps({k: v for k, v in run.items() if k != "history"}), flush=True)
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        if os.path.exists(args.out):  # merge with runs written meanwhile by other invocations
            with open(args.out) as f:
                on_disk = json.load(f).get("runs", {})
            results["runs"] = {**on_disk, **results["runs"]}
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
