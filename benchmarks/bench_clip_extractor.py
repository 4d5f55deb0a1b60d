"""End-to-end CLIPFeatureExtractor throughput vs the bare image-tower forward.

Both run in the same process on the same model, batch size and images:

* ``bare``: ``model.visual(x)`` on tensors preprocessed beforehand (no I/O);
* ``end_to_end``: ``CLIPFeatureExtractor.transform(paths)`` from JPEG files on
  disk (decode, RGB conversion, open_clip preprocessing, DataLoader, forward).

The ratio end_to_end / bare is what the extractor's input layer costs
(1.0 = free). Peak resident memory of the process is reported too.

Usage::

    python benchmarks/bench_clip_extractor.py [--model ViT-B-32] [--n 128] [--batch-size 32]
"""

import argparse
import json
import os
import platform
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("SKFORENSICS_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data"))


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--n", type=int, default=128, help="number of 512x512 JPEG images")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "bench_clip_extractor.json"))
    args = ap.parse_args(argv)

    import torch
    from PIL import Image

    from skforensics import CLIPFeatureExtractor

    folder = os.path.join(DATA, "diffusiondb_coco")
    paths = sorted(
        os.path.join(folder, c, f)
        for c in ("real", "fake")
        for f in os.listdir(os.path.join(folder, c))
    )[: args.n]
    est = CLIPFeatureExtractor(
        args.model, pretrained=None, batch_size=args.batch_size, random_state=0
    ).fit(paths)
    model = est.model_
    x_all = torch.stack([est.preprocess_(Image.open(p).convert("RGB")) for p in paths])
    rss_after_setup = peak_rss_mb()

    def bare():
        with torch.inference_mode():
            for i in range(0, len(x_all), args.batch_size):
                model(x_all[i : i + args.batch_size])

    def e2e(workers):
        est.set_params(num_workers=workers)
        est.transform(paths)

    bare()  # warm-up
    results = {"bare": [], "end_to_end_workers0": [], "end_to_end_workers1": []}
    for _ in range(args.repeats):  # interleave to share any background load fairly
        for name, fn in (
            ("bare", bare),
            ("end_to_end_workers0", lambda: e2e(0)),
            ("end_to_end_workers1", lambda: e2e(1)),
        ):
            t = time.perf_counter()
            fn()
            results[name].append(len(paths) / (time.perf_counter() - t))
    best = {k: max(v) for k, v in results.items()}
    out = {
        "benchmark": "bench_clip_extractor",
        "command": "python "
        + " ".join(
            [os.path.relpath(__file__, os.path.join(HERE, ".."))]
            + (argv if argv is not None else sys.argv[1:])
        ),
        "model": args.model,
        "pretrained": None,
        "n_images": len(paths),
        "image_size_on_disk": "512x512 JPEG q95",
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "device": "cpu",
        "platform": platform.platform(),
        "images_per_s_all_repeats": results,
        "images_per_s_best": best,
        "ratio_end_to_end_workers0_vs_bare": best["end_to_end_workers0"] / best["bare"],
        "ratio_end_to_end_workers1_vs_bare": best["end_to_end_workers1"] / best["bare"],
        "peak_rss_mb_after_setup": rss_after_setup,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(out, indent=2))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
