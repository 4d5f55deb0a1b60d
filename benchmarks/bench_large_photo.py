"""Decoding a 108 Mpx phone photo: peak memory and time, full vs reduced decode.

A synthetic 12000 x 9000 JPEG (mostly flat, so small on disk) is decoded in a
fresh interpreter per case, and the peak resident memory of that process
(``VmHWM`` in ``/proc/self/status``, Linux only) is recorded:

* ``baseline``: the interpreter with skforensics imported, no image;
* ``full``: ``load_images([path])``, full resolution (what the crop-based
  weight-free extractors need);
* ``reduce_224``: ``load_image(path, reduce_to=224)``, what
  CLIPFeatureExtractor asks for (JPEG draft mode, 1/8 scale here);
* ``pillow_bare``: ``np.asarray(Image.open(path).convert("RGB")).copy()``,
  the naive peer, for the ratio.

Usage::

    python benchmarks/bench_large_photo.py

Writes ``benchmarks/results/bench_large_photo.json``.
"""

import json
import os
import subprocess
import sys
import tempfile

# every case imports the same modules first, so the peaks share one baseline
SETUP = (
    "import warnings\nimport numpy as np\nfrom PIL import Image\n"
    "from skforensics.datasets import load_images\nfrom skforensics._image_io import load_image"
)
CASES = {
    "baseline": "a = None",
    "full": "a = load_images([P])[0]",
    "reduce_224": "a = load_image(P, reduce_to=224)",
    "pillow_bare": (
        "Image.MAX_IMAGE_PIXELS = None\na = np.asarray(Image.open(P).convert('RGB')).copy()"
    ),
}


def run(code, path):
    prog = (
        f"import time\n{SETUP}\nP = {path!r}\nt = time.perf_counter()\n{code}\n"
        "dt = time.perf_counter() - t\nshape = getattr(a, 'shape', None)\n"
        "hwm = [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')]\n"
        "print(hwm[0] // 1024, round(dt, 3), shape)"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", prog], capture_output=True, text=True, check=True, env=env
    ).stdout.split(maxsplit=2)
    return {"peak_mb": int(out[0]), "seconds": float(out[1]), "shape": out[2].strip()}


def main():
    from PIL import Image

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "phone_108mp.jpg")
        img = Image.new("RGB", (12000, 9000), (120, 130, 140))
        img.paste((200, 10, 10), (0, 0, 3000, 2000))
        img.save(path, quality=85)
        del img
        size = os.path.getsize(path)
        res = {name: run(code, path) for name, code in CASES.items()}
    base = res["baseline"]["peak_mb"]
    for name, r in res.items():
        r["above_baseline_mb"] = r["peak_mb"] - base
        print(
            f"{name:12s} peak {r['peak_mb']:5d} MB (+{r['above_baseline_mb']:5d})  "
            f"{r['seconds']:6.3f} s  {r['shape']}"
        )
    full, bare = res["full"]["above_baseline_mb"], res["pillow_bare"]["above_baseline_mb"]
    out = {
        "image": "12000x9000 JPEG q85, mostly flat",
        "file_bytes": size,
        "cases": res,
        "full_over_pillow_bare_memory": round(full / bare, 3),
        "reduce_over_full_memory": round(res["reduce_224"]["above_baseline_mb"] / full, 3),
        "bytes_per_pixel_full": round(full * 2**20 / 108e6, 2),
    }
    print(json.dumps({k: v for k, v in out.items() if k != "cases"}))
    dest = os.path.join(os.path.dirname(__file__), "results", "bench_large_photo.json")
    with open(dest, "w") as f:
        json.dump(out, f, indent=2)
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
