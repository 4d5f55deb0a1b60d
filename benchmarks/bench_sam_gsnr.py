"""Cost of SAM and of the vectorised GSNR.

1. SAM step time / plain step time, on the same network (SmallForensicCNN)
   and the same batch (128 CIFAKE-sized 32x32 images): a plain step is one
   forward/backward + SGD update, a SAM step two forward/backward passes plus
   the perturbation. The floor is 2.0; the target <= 2.1. GRACE is timed too.
2. GSNR of per-sample gradients: ``method="auto"`` (batched layer rules:
   hooks on Linear/Conv/norm layers, vmap for the rest) and ``method="vmap"``
   (``torch.func`` vmap + grad) against ``method="loop"``, a Python loop over
   samples (one backward pass each), same fitted network and data: speed-ups
   (target >= 10x vs the loop) and the largest relative difference of the
   per-layer values. auto and vmap: median of ``--repeats`` runs; loop: one.

Plain and SAM steps are interleaved and the medians of per-step wall and CPU
times reported, because the CPU is shared with other jobs (load averages are
recorded). Usage::

    python benchmarks/bench_sam_gsnr.py [--threads 1] [--steps 30] [--repeats 3]

Writes ``benchmarks/results/bench_sam_gsnr.json``.
"""

import argparse
import json
import os
import platform
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "results", "bench_sam_gsnr.json")


def _batch(n, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 32, 32, generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    return x, y


def time_steps(steps, batch_size, widths):
    import copy

    import torch

    from skforensics.neural import SmallForensicCNN
    from skforensics.optim import GRACE, SAM

    torch.manual_seed(0)
    base = SmallForensicCNN(widths=widths)
    nets = {k: copy.deepcopy(base) for k in ("plain", "sam", "grace")}
    opts = {
        "plain": torch.optim.SGD(nets["plain"].parameters(), lr=0.01, momentum=0.9),
        "sam": SAM(nets["sam"].parameters(), torch.optim.SGD, rho=0.05, lr=0.01, momentum=0.9),
        "grace": GRACE(
            nets["grace"].parameters(), torch.optim.SGD, rho=0.05, lr=0.01, momentum=0.9
        ),
    }
    x, y = _batch(batch_size)
    loss_fn = torch.nn.functional.cross_entropy

    def plain_step():
        net, opt = nets["plain"], opts["plain"]
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()

    def sam_step(name):
        net, opt = nets[name], opts[name]

        def closure():
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            return loss

        opt.step(closure, bn_module=net)

    fns = {"plain": plain_step, "sam": lambda: sam_step("sam"), "grace": lambda: sam_step("grace")}
    for f in fns.values():  # warm-up
        f()
        f()
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(steps):
        for k, f in fns.items():  # interleaved: contention hits all alike
            w0, c0 = time.perf_counter(), time.process_time()
            f()
            wall[k].append(time.perf_counter() - w0)
            cpu[k].append(time.process_time() - c0)
    med = {k: float(np.median(v)) for k, v in wall.items()}
    medc = {k: float(np.median(v)) for k, v in cpu.items()}
    return {
        "net": f"SmallForensicCNN(widths={widths})",
        "batch": f"{batch_size} x 3 x 32 x 32",
        "steps": steps,
        "plain_step_ms": round(1e3 * med["plain"], 2),
        "sam_step_ms": round(1e3 * med["sam"], 2),
        "grace_step_ms": round(1e3 * med["grace"], 2),
        "sam_over_plain_wall": round(med["sam"] / med["plain"], 3),
        "grace_over_plain_wall": round(med["grace"] / med["plain"], 3),
        "sam_over_plain_cpu": round(medc["sam"] / medc["plain"], 3),
        "grace_over_plain_cpu": round(medc["grace"] / medc["plain"], 3),
        "floor": 2.0,
        "target": 2.1,
    }


def _timed(fn, repeats):
    """Median wall and CPU seconds of ``repeats`` calls, and the last result."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu)), out


def _gsnr_case(name, clf, X, y, repeats, batch_size=256):
    from skforensics.metrics import layerwise_gsnr

    clf.fit(X, y)
    run = {
        m: _timed(lambda m=m: layerwise_gsnr(clf, X, y, batch_size=batch_size, method=m), repeats)
        for m in ("auto", "vmap")
    }
    run["loop"] = _timed(lambda: layerwise_gsnr(clf, X, y, method="loop"), 1)
    ref = run["loop"][2].gsnr

    def rel(m):
        return float(np.max(np.abs(run[m][2].gsnr - ref) / np.abs(ref)))

    res = {"case": name, "n_params": int(sum(run["loop"][2].n_params)), "n_samples": len(y)}
    for m in ("auto", "vmap", "loop"):
        res[f"{m}_wall_s"] = round(run[m][0], 4)
    for m in ("auto", "vmap", "loop"):
        res[f"{m}_cpu_s"] = round(run[m][1], 4)
    res.update(
        speedup_auto_vs_loop_wall=round(run["loop"][0] / run["auto"][0], 1),
        speedup_auto_vs_loop_cpu=round(run["loop"][1] / run["auto"][1], 1),
        speedup_auto_vs_vmap_wall=round(run["vmap"][0] / run["auto"][0], 1),
        speedup_vmap_vs_loop_wall=round(run["loop"][0] / run["vmap"][0], 1),
        max_rel_diff_layer_gsnr_auto=rel("auto"),
        max_rel_diff_layer_gsnr_vmap=rel("vmap"),
    )
    return res


def time_gsnr(repeats):
    from skforensics.neural import LinearProbe, MLPHead, SAMNetClassifier, SmallForensicCNN

    rng = np.random.RandomState(0)
    cases = []
    y = rng.randint(0, 2, 1024)
    X = rng.randn(1024, 768).astype(np.float32)
    cases.append(
        (
            "LinearProbe on 768-d features (CLIP ViT-L/14 size)",
            SAMNetClassifier(LinearProbe, max_epochs=1, random_state=0),
            X,
            y,
        )
    )
    X = rng.randn(1024, 64).astype(np.float32)
    cases.append(
        (
            "MLPHead(64 -> 32 -> 2) on 64-d features",
            SAMNetClassifier(MLPHead, module__hidden_sizes=(32,), max_epochs=1, random_state=0),
            X,
            y,
        )
    )
    X = rng.randn(512, 512).astype(np.float32)
    cases.append(
        (
            "MLPHead(512 -> 256 -> 2) on 512-d features",
            SAMNetClassifier(MLPHead, module__hidden_sizes=(256,), max_epochs=1, random_state=0),
            X,
            y[:512],
        )
    )
    X = rng.randint(0, 256, (128, 32, 32, 3)).astype(np.uint8)
    cases.append(
        (
            "SmallForensicCNN (default widths) on 32x32 images",
            SAMNetClassifier(SmallForensicCNN, max_epochs=1, random_state=0),
            X,
            y[:128],
        )
    )
    out = []
    for name, clf, X, yy in cases:
        r = _gsnr_case(name, clf, X, yy, repeats)
        print(json.dumps(r), flush=True)
        out.append(r)
    return {
        "target_speedup": 10,
        "batch_size": 256,
        "repeats_auto_vmap": repeats,
        "repeats_loop": 1,
        "cases": out,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    widths = (32, 64, 128, 128)
    load0 = os.getloadavg()
    res = {
        "setup": {
            "threads": args.threads,
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "loadavg_before": [round(v, 2) for v in load0],
            "note": "CPU shared with other jobs; medians of interleaved steps",
        }
    }
    res["sam_step"] = time_steps(args.steps, args.batch_size, widths)
    print(json.dumps(res["sam_step"], indent=2), flush=True)
    res["gsnr"] = time_gsnr(args.repeats)
    res["setup"]["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
