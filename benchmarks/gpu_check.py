"""Every CUDA path of skforensics, checked against the CPU and timed, in one run.

Meant for a lent GPU machine (about 8 minutes on one GPU), and dry-runnable on
the CPU (``--device cpu --quick``: the same code with tiny sizes, the "device"
side then being the CPU too). It

1. runs the tests marked ``gpu`` (``pytest -m gpu tests``);
2. checks that each device path gives the CPU's answer within a stated
   tolerance, with tiny or ``pretrained=None`` models:
   CLIPFeatureExtractor at fp32/fp16/bf16, CoRITInjector,
   MultiScaleStyleRetrospection with a tiny diffusers UNet (fp16 on CUDA) and
   VAE, CorrentropySparseAdditiveClassifier ``backend="torch"`` on the device
   against numpy, one SAM and one GRACE step, GSNR ``method="auto"`` on the
   device against ``method="loop"`` on the CPU; saves a device-fitted model and
   loads it on the CPU (CUDA hidden);
3. measures speed as ratios within the run: CLIP ViT-B-32 / ViT-L-14 images/s
   end to end from JPEG files against the bare image-tower forward on
   pre-made device tensors (bf16), CSAM torch-on-device against numpy-on-CPU
   (50,000 x 512), a SAM step against a plain step, GSNR auto against the loop;
4. writes one JSON file with every figure: ``--out``, else ``$OUT/gpu_check.json``
   when ``$OUT`` is set, else ``benchmarks/results/gpu_check_<device>.json``.

Each check is isolated: a failure is recorded (with its traceback) and the run
goes on. The JPEG files are synthetic (written at start, 512x512, quality 95),
so no data set is needed. Usage::

    python benchmarks/gpu_check.py                      # on a GPU machine
    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/gpu_dry.json
"""

import argparse
import contextlib
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TINY_CLIP = "skf-tiny-vit"

# stated tolerances: relative max-abs difference (max|a - b| / max|ref|) unless named
TOL = {
    "clip_fp32": 1e-3,  # TF32 matmuls on Ampere+ allow ~1e-3
    "clip_fp16": 3e-2,
    "clip_bf16": 6e-2,
    "corit": 1e-3,
    "msr_fp16_mean_abs_pixels": 3.0,  # uint8 views: mean |dev - cpu| in grey levels
    "csam_proba_abs": 1e-3,
    "sam_step_params": 5e-3,
    "grace_step_params": 5e-3,
    "gsnr_auto_vs_loop": 2e-2,  # per-layer relative GSNR difference
    "cuda_to_cpu_proba_abs": 1e-3,
}


# ----------------------------------------------------------------- utilities
def _sync(device):
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device, repeats=1):
    """Best (min) wall time of ``repeats`` calls, device synchronised."""
    best = float("inf")
    out = None
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best, out


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def _cos_min(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30
    return float((num / den).min())


@contextlib.contextmanager
def _cuda_hidden():
    """Make ``torch.cuda.is_available()`` False (to load as on a CPU-only machine)."""
    import torch

    real = torch.cuda.is_available
    torch.cuda.is_available = lambda: False
    try:
        yield
    finally:
        torch.cuda.is_available = real


class Runner:
    def __init__(self, args):
        self.args = args
        self.results = {}
        self.t0 = time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.t0

    def run(self, name, fn, *, speed=False):
        if speed and self.elapsed() > self.args.budget_s:
            self.results[name] = {"skipped": f"time budget of {self.args.budget_s} s spent"}
            print(f"[skip] {name}: budget spent", flush=True)
            return
        t = time.perf_counter()
        try:
            res = fn()
        except Exception as exc:  # record and go on: one bug must not hide the others
            res = {
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()[-3000:],
            }
        res["seconds"] = round(time.perf_counter() - t, 3)
        self.results[name] = res
        flag = {True: "ok", False: "FAIL", None: "--"}[res.get("ok")]
        brief = {k: v for k, v in res.items() if k not in ("traceback", "output_tail")}
        print(f"[{flag}] {name}: {json.dumps(brief, default=str)[:400]}", flush=True)


def _make_jpegs(folder, n, size=512):
    from PIL import Image

    rng = np.random.RandomState(0)
    paths = []
    for i in range(n):
        low = (rng.rand(16, 16, 3) * 255).astype(np.uint8)
        img = Image.fromarray(low).resize((size, size), Image.BICUBIC)
        arr = np.asarray(img).astype(np.int16) + rng.randint(-8, 9, (size, size, 3))
        p = os.path.join(folder, f"img{i:04d}.jpg")
        Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(p, quality=95)
        paths.append(p)
    return paths


def _small_images(n, size=64, seed=0):
    rng = np.random.RandomState(seed)
    X = (rng.rand(n, size, size, 3) * 255).astype(np.uint8)
    y = np.arange(n) % 2
    X[y == 1, ::2, ::2] = 255 - X[y == 1, ::2, ::2]  # a learnable trace
    return X, y


# ----------------------------------------------------------------- the checks
def check_gpu_tests(args):
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-m",
        "gpu",
        "tests",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.tests_timeout)
    tail = (proc.stdout + proc.stderr)[-4000:]
    last = [ln for ln in tail.splitlines() if ln.strip()][-1:] or [""]
    # rc 5: no test collected/selected; fine on a CPU dry run
    return {
        "ok": proc.returncode in (0, 5),
        "returncode": proc.returncode,
        "summary": last[0],
        "command": " ".join(cmd[1:]),
        "output_tail": tail,
    }


def check_clip(args, device, images, precision):
    from skforensics import CLIPFeatureExtractor

    kw = dict(pretrained=None, random_state=0, batch_size=16)
    ref = CLIPFeatureExtractor(TINY_CLIP, device="cpu", **kw).fit(images).transform(images)
    dev = CLIPFeatureExtractor(TINY_CLIP, device=device, precision=precision, **kw).fit(images)
    out = dev.transform(images)
    rel = _rel(out, ref)
    tol = TOL[f"clip_{precision}"]
    return {
        "ok": bool(rel <= tol),
        "rel_max_abs_diff": rel,
        "min_cosine": _cos_min(out, ref),
        "tolerance": tol,
        "device_": str(dev.device_),
        "n_images": len(images),
    }


def check_corit(args, device, images, y):
    from skforensics import CLIPFeatureExtractor, CoRITInjector

    def make(dev):
        return CoRITInjector(
            backbone=CLIPFeatureExtractor(TINY_CLIP, pretrained=None, random_state=0),
            grid=2,
            batch_size=16,
            device=dev,
        )

    ref = make("cpu").fit(images, y).transform(images)
    est = make(device).fit(images, y)
    out = est.transform(images)
    rel = _rel(out, ref)
    return {
        "ok": bool(rel <= TOL["corit"]),
        "rel_max_abs_diff": rel,
        "tolerance": TOL["corit"],
        "device_": str(est.device_),
    }


def _tiny_diffusion(dtype_unet, device):
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4,
        layers_per_block=1,
    )
    return {
        "vae": vae.eval().to(device),
        "unet": unet.eval().to(device=device, dtype=dtype_unet),
        "scheduler": DDIMScheduler(num_train_timesteps=100),
        "prompt_embeds": torch.zeros(1, 8, 16, device=device, dtype=dtype_unet),
    }


def check_msr(args, device, X):
    import torch

    from skforensics import MultiScaleStyleRetrospection

    cuda = torch.device(device).type == "cuda"
    dtype = torch.float16 if cuda else torch.float32  # CPU dry run: fp32 on both sides
    kw = dict(output_size=32, num_inference_steps=4, strength=0.5, random_state=0)
    ref = MultiScaleStyleRetrospection(
        diffusion=_tiny_diffusion(torch.float32, "cpu"), device="cpu", **kw
    ).fit_transform(X)
    out = MultiScaleStyleRetrospection(
        diffusion=_tiny_diffusion(dtype, device), device=device, **kw
    ).fit_transform(X)
    diff = np.abs(out.astype(np.int16) - ref.astype(np.int16))
    mean = float(diff.mean())
    tol = TOL["msr_fp16_mean_abs_pixels"]
    return {
        "ok": bool(mean <= tol),
        "mean_abs_pixels": mean,
        "max_abs_pixels": int(diff.max()),
        "tolerance_mean_abs_pixels": tol,
        "unet_dtype": str(dtype),
        "shape": list(out.shape),
    }


def _csam_data(n, p, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, p).astype(np.float32)
    f = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 - 1 + 0.5 * np.abs(X[:, 2])
    y = (f + 0.3 * rng.randn(n) > 0).astype(int)
    return X, y


def check_csam(args, device):
    from skforensics import CorrentropySparseAdditiveClassifier as CSAM

    X, y = _csam_data(2000, 32)
    ref = CSAM(backend="numpy", random_state=0).fit(X, y)
    est = CSAM(backend="torch", device=device, random_state=0).fit(X, y)
    d = float(np.max(np.abs(est.predict_proba(X) - ref.predict_proba(X))))
    agree = float(np.mean(est.predict(X) == ref.predict(X)))
    return {
        "ok": bool(d <= TOL["csam_proba_abs"]),
        "max_abs_proba_diff": d,
        "prediction_agreement": agree,
        "tolerance": TOL["csam_proba_abs"],
        "device_": str(est.device_),
        "n": 2000,
        "p": 32,
    }


def _step(kind, device, x, y, seed=0):
    import torch

    from skforensics.neural import SmallForensicCNN
    from skforensics.optim import GRACE, SAM

    torch.manual_seed(seed)
    net = SmallForensicCNN(widths=(8, 16, 32), dropout=0.0).to(device)
    params = list(net.parameters())
    if kind == "plain":
        opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    else:
        cls = SAM if kind == "sam" else GRACE
        opt = cls(params, torch.optim.SGD, rho=0.05, lr=0.05, momentum=0.9)
    x, y = x.to(device), y.to(device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def closure():
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        return loss

    return net, opt, closure


def _one_step(kind, device, x, y):
    net, opt, closure = _step(kind, device, x, y)
    if kind == "plain":
        closure()
        opt.step()
    else:
        opt.step(closure)
    return [p.detach().cpu().numpy() for p in net.parameters()]


def check_sam_step(args, device, kind):
    import torch

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 3, 32, 32, generator=g), torch.randint(0, 2, (32,), generator=g)
    ref = _one_step(kind, "cpu", x, y)
    out = _one_step(kind, device, x, y)
    rel = max(_rel(a, b) for a, b in zip(out, ref))
    tol = TOL[f"{kind}_step_params"]
    return {"ok": bool(rel <= tol), "rel_max_abs_param_diff": rel, "tolerance": tol}


def _fitted_net(device, X, y, epochs=2):
    from skforensics.neural import SAMNetClassifier, SmallForensicCNN

    return SAMNetClassifier(
        SmallForensicCNN,
        module__widths=(8, 16),
        module__dropout=0.0,
        max_epochs=epochs,
        batch_size=32,
        lr=0.05,
        random_state=0,
        device=device,
    ).fit(X, y)


def _on_device(net, device):
    import torch

    net = copy.deepcopy(net)
    net.module_.to(device)
    net.criterion_.to(device)
    net.device_ = torch.device(device)
    return net


def check_gsnr(args, device, X, y):
    from skforensics.metrics import layerwise_gsnr

    net = _fitted_net("cpu", X, y)
    ref = layerwise_gsnr(net, X, y, method="loop", batch_size=64)
    out = layerwise_gsnr(_on_device(net, device), X, y, method="auto", batch_size=64)
    rel = float(
        np.max(
            np.abs(np.asarray(out.gsnr) - np.asarray(ref.gsnr))
            / np.maximum(np.abs(np.asarray(ref.gsnr)), 1e-12)
        )
    )
    return {
        "ok": bool(rel <= TOL["gsnr_auto_vs_loop"]),
        "max_rel_layer_diff": rel,
        "tolerance": TOL["gsnr_auto_vs_loop"],
        "n_layers": len(ref.gsnr),
        "n_samples": len(X),
    }


def check_save_device_load_cpu(args, device, images, y_img, X, y):
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import skforensics
    from skforensics import CLIPFeatureExtractor

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        clf = make_pipeline(
            CLIPFeatureExtractor(TINY_CLIP, pretrained=None, random_state=0, device=device),
            LogisticRegression(max_iter=500),
        ).fit(images, y_img)
        p = os.path.join(tmp, "clip.skf")
        skforensics.save(clf, p)
        with _cuda_hidden():
            loaded = skforensics.load(p)
        d = float(np.max(np.abs(loaded.predict_proba(images) - clf.predict_proba(images))))
        out["clip_pipeline"] = {
            "max_abs_proba_diff": d,
            "loaded_device": str(loaded[0].device_),
            "file_mb": round(os.path.getsize(p) / 2**20, 3),
        }
        net = _fitted_net(device, X, y, epochs=1)
        p = os.path.join(tmp, "net.skf")
        skforensics.save(net, p)
        with _cuda_hidden():
            loaded_net = skforensics.load(p)
        d2 = float(np.max(np.abs(loaded_net.predict_proba(X) - net.predict_proba(X))))
        out["samnet_cnn"] = {
            "max_abs_proba_diff": d2,
            "loaded_device": str(loaded_net.device_),
            "params_on": str(next(loaded_net.module_.parameters()).device),
        }
    ok = (
        max(out["clip_pipeline"]["max_abs_proba_diff"], d2) <= TOL["cuda_to_cpu_proba_abs"]
        and out["clip_pipeline"]["loaded_device"] == "cpu"
        and out["samnet_cnn"]["params_on"] == "cpu"
    )
    out.update(
        ok=bool(ok),
        tolerance=TOL["cuda_to_cpu_proba_abs"],
        cuda_available=torch.cuda.is_available(),
    )
    return out


# ------------------------------------------------------------------- speed
def speed_clip(args, device, model_name, jpegs, batch_size):
    import torch
    from PIL import Image

    from skforensics import CLIPFeatureExtractor

    precision = "bf16" if not args.quick or torch.device(device).type == "cuda" else "fp32"
    est = CLIPFeatureExtractor(
        model_name,
        pretrained=None,
        random_state=0,
        device=device,
        batch_size=batch_size,
        precision=precision,
        num_workers=args.workers,
    ).fit(jpegs)
    model = est.model_
    x = torch.stack([est.preprocess_(Image.open(p).convert("RGB")) for p in jpegs[:batch_size]])
    x = x.to(est.device_)
    n_batches = max(1, len(jpegs) // batch_size)

    cast = (
        torch.autocast(device_type=est.device_.type, dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )

    def bare():
        with torch.inference_mode(), cast:
            for _ in range(n_batches):
                model(x)

    def e2e():
        return est.transform(jpegs[: n_batches * batch_size])

    bare()  # warm-up (cudnn autotune, allocator)
    e2e()
    t_bare, _ = _timed(bare, device, args.repeats)
    t_e2e, _ = _timed(e2e, device, args.repeats)
    n = n_batches * batch_size
    ratio = (n / t_e2e) / (n / t_bare)
    return {
        "ok": None,
        "model": model_name,
        "precision": precision,
        "batch_size": batch_size,
        "n_images": n,
        "num_workers": args.workers,
        "bare_images_per_s": n / t_bare,
        "end_to_end_images_per_s": n / t_e2e,
        "ratio_end_to_end_vs_bare": ratio,
        "target_ratio": 0.85,
    }


def speed_csam(args, device):
    from skforensics import CorrentropySparseAdditiveClassifier as CSAM

    n, p = (2000, 64) if args.quick else (50_000, 512)
    X, y = _csam_data(n, p)
    t_np, ref = _timed(lambda: CSAM(backend="numpy", random_state=0).fit(X, y), "cpu")
    CSAM(backend="torch", device=device, random_state=0).fit(X[:500], y[:500])  # warm-up
    t_t, est = _timed(
        lambda: CSAM(backend="torch", device=device, random_state=0).fit(X, y), device
    )
    agree = float(np.mean(est.predict(X) == ref.predict(X)))
    return {
        "ok": None,
        "n": n,
        "p": p,
        "numpy_cpu_fit_s": t_np,
        "torch_device_fit_s": t_t,
        "speedup_torch_device_vs_numpy_cpu": t_np / t_t,
        "prediction_agreement": agree,
    }


def speed_sam(args, device):
    import torch

    g = torch.Generator().manual_seed(0)
    bs = 32 if args.quick else 128
    x, y = torch.rand(bs, 3, 32, 32, generator=g), torch.randint(0, 2, (bs,), generator=g)
    steps = 5 if args.quick else 50
    res = {}
    for kind in ("plain", "sam", "grace"):
        net, opt, closure = _step(kind, device, x, y)

        def run():
            for _ in range(steps):
                if kind == "plain":
                    closure()
                    opt.step()
                else:
                    opt.step(closure)

        run()  # warm-up
        res[kind] = _timed(run, device, args.repeats)[0] / steps
    return {
        "ok": None,
        "batch_size": bs,
        "steps": steps,
        "step_s": res,
        "ratio_sam_vs_plain": res["sam"] / res["plain"],
        "ratio_grace_vs_plain": res["grace"] / res["plain"],
        "floor": 2.0,
    }


def speed_gsnr(args, device, X, y):
    from skforensics.metrics import layerwise_gsnr

    net = _on_device(_fitted_net("cpu", X, y, epochs=1), device)
    layerwise_gsnr(net, X[:32], y[:32], method="auto")  # warm-up
    t_auto, _ = _timed(lambda: layerwise_gsnr(net, X, y, method="auto"), device, args.repeats)
    t_loop, _ = _timed(lambda: layerwise_gsnr(net, X, y, method="loop"), device)
    return {
        "ok": None,
        "n_samples": len(X),
        "auto_s": t_auto,
        "loop_s": t_loop,
        "speedup_auto_vs_loop": t_loop / t_auto,
    }


# ---------------------------------------------------------------------- main
def _versions():
    from importlib import metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in (
        "torch",
        "scikit-learn",
        "numpy",
        "open_clip_torch",
        "diffusers",
        "skorch",
        "skops",
        "safetensors",
        "transformers",
        "timm",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="device under test (default cuda)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes (a CPU dry run: tiny CLIP instead of ViT-B-32/L-14, ...)",
    )
    ap.add_argument("--out", default=None, help="JSON file to write")
    ap.add_argument("--no-tests", action="store_true", help="skip the pytest -m gpu run")
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="DataLoader workers for the end-to-end CLIP run (default: 8 on CUDA, 0 else)",
    )
    ap.add_argument("--repeats", type=int, default=None, help="timing repeats (best kept)")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1 for --device cpu, torch's default else)",
    )
    ap.add_argument(
        "--budget-s",
        type=float,
        default=420.0,
        help="skip the remaining speed checks after this many seconds",
    )
    ap.add_argument("--tests-timeout", type=float, default=240.0)
    args = ap.parse_args(argv)

    import torch

    cuda = torch.device(args.device).type == "cuda"
    if cuda and not torch.cuda.is_available():
        ap.error("--device cuda but CUDA is not available here; use --device cpu for a dry run")
    if args.threads or not cuda:
        torch.set_num_threads(args.threads or 1)
    if args.workers is None:
        args.workers = 8 if cuda else 0
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    out_path = args.out or (
        os.path.join(os.environ["OUT"], "gpu_check.json")
        if os.environ.get("OUT")
        else os.path.join(HERE, "results", f"gpu_check_{torch.device(args.device).type}.json")
    )
    sys.path.insert(0, ROOT)  # the checkout's skforensics when not installed

    r = Runner(args)
    env = {
        "device": args.device,
        "quick": args.quick,
        "versions": _versions(),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "command": "python benchmarks/gpu_check.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    if cuda:
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cuda"] = torch.version.cuda
        env["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
        env["tf32_cudnn"] = torch.backends.cudnn.allow_tf32

    from skforensics.datasets import load_sample_images

    sample = load_sample_images("diffusiondb_coco")
    n_img = 8 if args.quick else 32
    pick = list(sample.paths[: n_img // 2]) + list(sample.paths[-(n_img // 2) :])
    y_img = np.array([0] * (n_img // 2) + [1] * (n_img // 2))
    X_small, y_small = _small_images(4 if args.quick else 8, size=48)
    X_net, y_net = _small_images(64 if args.quick else 256, size=32, seed=1)

    if not args.no_tests:
        r.run("pytest_gpu_marked", lambda: check_gpu_tests(args))
    dev = args.device
    for prec in ("fp32", "fp16", "bf16"):
        r.run(f"equiv_clip_{prec}", lambda prec=prec: check_clip(args, dev, pick, prec))
    r.run("equiv_corit", lambda: check_corit(args, dev, pick, y_img))
    r.run("equiv_msr_tiny_diffusion", lambda: check_msr(args, dev, X_small))
    r.run("equiv_csam_torch_vs_numpy", lambda: check_csam(args, dev))
    r.run("equiv_sam_step", lambda: check_sam_step(args, dev, "sam"))
    r.run("equiv_grace_step", lambda: check_sam_step(args, dev, "grace"))
    r.run("equiv_gsnr_auto_vs_cpu_loop", lambda: check_gsnr(args, dev, X_net, y_net))
    r.run(
        "save_on_device_load_on_cpu",
        lambda: check_save_device_load_cpu(args, dev, pick, y_img, X_net[:64], y_net[:64]),
    )

    with tempfile.TemporaryDirectory() as tmp:
        if args.quick:
            plan = [(TINY_CLIP, 16, 32)]
        else:
            plan = [
                ("ViT-B-32", 64, 512),
                ("ViT-B-32", 256, 1024),
                ("ViT-L-14", 64, 256),
                ("ViT-L-14", 256, 512),
            ]
        jpegs = _make_jpegs(tmp, max(n for _, _, n in plan), size=128 if args.quick else 512)
        for model_name, bs, n in plan:
            r.run(
                f"speed_clip_{model_name}_b{bs}",
                lambda m=model_name, bs=bs, n=n: speed_clip(args, dev, m, jpegs[:n], bs),
                speed=True,
            )
    r.run("speed_csam_torch_vs_numpy", lambda: speed_csam(args, dev), speed=True)
    r.run("speed_sam_vs_plain_step", lambda: speed_sam(args, dev), speed=True)
    r.run(
        "speed_gsnr_auto_vs_loop",
        lambda: speed_gsnr(
            args, dev, X_net[: 64 if args.quick else 256], y_net[: 64 if args.quick else 256]
        ),
        speed=True,
    )

    checks = {k: v for k, v in r.results.items() if "ok" in v}
    failed = sorted(k for k, v in checks.items() if v["ok"] is False)
    report = {
        "benchmark": "gpu_check",
        "environment": env,
        "tolerances": TOL,
        "total_seconds": round(r.elapsed(), 1),
        "failed": failed,
        "results": r.results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(report, f, indent=2, default=str)
    print(f"wrote {out_path}; {len(failed)} failed: {failed}; {report['total_seconds']} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
