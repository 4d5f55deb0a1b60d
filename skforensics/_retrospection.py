"""Multi-scale style retrospection (MSR), the view generator of HRR.

See :class:`MultiScaleStyleRetrospection` and ``docs/user_guide/hrr_msr.rst``.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._compat import Interval, fit_context
from ._image_io import check_images
from ._persistence import DefaultParamsOnLoadMixin
from ._pixels import LUMA, resize_rgb

# fixed constants of our reading of HRR Eq. 2 (see the user guide)
_SHARPEN_SIGMA = 1.0  # unsharp-mask Gaussian of the sharpening function f
_SHARPEN_AMOUNT = 0.5  # unsharp-mask gain of f
_DOG_RATIO = 1.6  # sigma ratio of the difference-of-Gaussians sketch g


class _DroppedDiffusion:
    """Stands in for in-memory diffusion components that were not pickled.

    ``source`` is the ``name_or_path`` the components were loaded from, if known.
    """

    def __init__(self, source=None):
        self.source = source

    def __repr__(self):
        src = f" loaded from {self.source!r}" if self.source else ""
        return f"<in-memory diffusion components{src}, not pickled>"

    def __eq__(self, other):
        return isinstance(other, _DroppedDiffusion) and other.source == self.source

    def __hash__(self):
        return hash(("_DroppedDiffusion", self.source))


def _is_in_memory(diffusion):
    return diffusion is not None and not isinstance(
        diffusion, (str, os.PathLike, _DroppedDiffusion)
    )


def _source_name(diffusion):
    """``name_or_path`` of an in-memory pipeline, if it has one."""
    name = getattr(diffusion, "name_or_path", None)
    if name is None and hasattr(diffusion, "config"):
        name = getattr(diffusion.config, "_name_or_path", None)
    if isinstance(diffusion, dict):
        name = diffusion.get("name_or_path")
    return os.fspath(name) if isinstance(name, (str, os.PathLike)) and name else None


# ---------------------------------------------------------------------------
# classical path: torch, batched, on any device
# ---------------------------------------------------------------------------


def _gaussian_taps(sigma):
    radius = max(1, int(np.ceil(3.0 * sigma)))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _filter1d(x, taps, dim, torch):
    """Correlate ``x`` along ``dim`` (-1 or -2) with ``taps`` (reflect borders).

    Shifted-slice accumulation: on CPU this is several times faster than
    ``conv2d`` with single-channel kernels.
    """
    F = torch.nn.functional
    n = x.shape[dim]
    r = len(taps) // 2
    if r >= n:  # tiny images: shrink the kernel to fit the reflect padding
        taps = taps[r - (n - 1) : r + n]
        taps = taps / taps.sum()
        r = n - 1
    if r == 0:
        return x * float(taps[0])
    pad = (r, r, 0, 0) if dim == -1 else (0, 0, r, r)
    p = F.pad(x, pad, mode="reflect")
    y = p.narrow(dim, 0, n) * float(taps[0])
    for i in range(1, len(taps)):
        y.add_(p.narrow(dim, i, n), alpha=float(taps[i]))
    return y


def _max1d(x, radius, dim, torch):
    """Running maximum of half-width ``radius`` along ``dim`` (zero borders, x >= 0)."""
    n = x.shape[dim]
    pad = (radius, radius, 0, 0) if dim == -1 else (0, 0, radius, radius)
    p = torch.nn.functional.pad(x, pad)
    y = p.narrow(dim, 0, n).clone()
    for i in range(1, 2 * radius + 1):
        torch.maximum(y, p.narrow(dim, i, n), out=y)
    return y


def _blur(x, sigma, torch):
    """Separable Gaussian blur of ``x`` (N, C, H, W) with reflect borders."""
    taps = _gaussian_taps(sigma)
    return _filter1d(_filter1d(x, taps, -1, torch), taps, -2, torch)


def _line_enhance(x, sharpen_iter, edge_sigma, edge_quantile, dilation, torch):
    """HRR Eq. 2, ``I + h(g(f^n(I)))``, on a batch ``x`` (N, 3, H, W) in [0, 1].

    f: unsharp masking of the luminance (n times); g: difference-of-Gaussians
    sketch of the sharpened luminance; h: keep responses above the per-image
    ``edge_quantile``, drop isolated pixels, dilate by ``dilation`` pixels, and
    gate the detail that sharpening added, ``f^n(L) - L``, with that edge mask;
    the gated detail is added to every colour channel.
    """
    if sharpen_iter == 0:
        return x
    luma = torch.as_tensor(LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    gray = (x * luma).sum(dim=1, keepdim=True)
    s = gray
    for _ in range(sharpen_iter):  # f^n
        s = (s + _SHARPEN_AMOUNT * (s - _blur(s, _SHARPEN_SIGMA, torch))).clamp_(0.0, 1.0)
    # g: difference-of-Gaussians sketch of the sharpened luminance
    edge = (_blur(s, edge_sigma, torch) - _blur(s, _DOG_RATIO * edge_sigma, torch)).abs_()
    # h: outlier filtering -- per-image quantile threshold (on a strided subsample) ...
    n = edge.shape[0]
    flat = edge[:, :, ::2, ::2].reshape(n, -1)
    k = min(flat.shape[1], max(1, int(np.ceil(edge_quantile * flat.shape[1]))))
    thr = flat.kthvalue(k, dim=1).values.view(n, 1, 1, 1)
    mask = (edge > thr).to(x.dtype)
    # ... isolated edge pixels (no 8-neighbour on the mask) are dropped ...
    box = np.ones(3)
    neigh = _filter1d(_filter1d(mask, box, -1, torch), box, -2, torch) - mask
    mask.mul_((neigh > 0.5).to(x.dtype))
    if dilation > 0:  # ... and the mask is dilated (separable max filter)
        mask = _max1d(_max1d(mask, int(dilation), -1, torch), int(dilation), -2, torch)
    return (x + mask * (s - gray)).clamp_(0.0, 1.0)


def _views_classical(x, scales, noise_std, seeds, line_kw, torch):
    """Multi-scale, line-enhanced views of ``x`` (B, 3, S, S) in [0, 1].

    Per scale: resize to ``scale * S`` (antialiased), add Gaussian noise,
    enhance the lines at that scale, resize back to ``S`` (bilinear). Returns
    (B * V, 3, S, S), view-major within each image.
    """
    F = torch.nn.functional
    b, size = x.shape[0], x.shape[-1]
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    out = torch.empty((b, len(scales), 3, size, size), device=x.device, dtype=x.dtype)
    for j, scale in enumerate(scales):
        m = max(1, int(round(scale * size)))
        if m == size:
            out[:, j] = _line_enhance(x, **line_kw, torch=torch)
            continue
        lo = F.interpolate(x, size=(m, m), mode="bilinear", align_corners=False, antialias=True)
        if noise_std > 0:
            noise = torch.stack([torch.randn((3, m, m), generator=g) for g in gens])
            lo = (lo + noise.to(device=x.device, dtype=x.dtype) * (noise_std / 255.0)).clamp_(0, 1)
        lo = _line_enhance(lo, **line_kw, torch=torch)
        out[:, j] = F.interpolate(lo, size=(size, size), mode="bilinear", align_corners=False)
    return out.reshape(b * len(scales), 3, size, size)


# ---------------------------------------------------------------------------
# diffusion path
# ---------------------------------------------------------------------------


def _encode_prompt(comp, prompt, device):
    """Text embeddings of ``prompt`` with the tokenizers / text encoders in ``comp``."""
    import torch

    pairs = [
        (comp.get(t), comp.get(e))
        for t, e in (("tokenizer", "text_encoder"), ("tokenizer_2", "text_encoder_2"))
        if comp.get(t) is not None and comp.get(e) is not None
    ]
    if not pairs:
        raise ValueError(
            "the diffusion components have no tokenizer/text_encoder to encode the prompt: pass "
            "'prompt_embeds' (a (1, 77, dim) tensor, e.g. the empty-prompt embedding of your "
            "model) in the diffusion dict"
        )
    sdxl = getattr(comp["unet"].config, "addition_embed_type", None) == "text_time"
    embeds, pooled = [], None
    with torch.no_grad():
        for tok, enc in pairs:
            ids = tok(
                [prompt],
                padding="max_length",
                max_length=tok.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids.to(enc.device)
            if sdxl:
                out = enc(ids, output_hidden_states=True)
                embeds.append(out.hidden_states[-2])
                pooled = out[0]
            else:
                embeds.append(enc(ids)[0])
    return torch.cat(embeds, dim=-1).detach().cpu(), (
        None if pooled is None else pooled.detach().cpu()
    )


def _load_components(source, device, need_text):
    """Load VAE, UNet, scheduler (and text encoders when ``need_text``) from a hub id or folder."""
    import torch

    try:
        from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    except ImportError as exc:  # pragma: no cover - diffusers is a dependency
        raise ImportError("diffusion= needs the 'diffusers' package") from exc

    source = os.fspath(source)
    local = os.path.isdir(source)
    from ._hub import hub_unreachable

    unreachable = not local and hub_unreachable()  # no minute of retries when air-gapped
    offline = (
        local
        or unreachable
        or os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    )
    half = torch.device(device).type == "cuda"

    def _load(cls, sub, **kw):
        try:
            return cls.from_pretrained(source, subfolder=sub, local_files_only=True, **kw)
        except Exception:
            if offline:
                raise
            return cls.from_pretrained(source, subfolder=sub, **kw)

    try:
        comp = {
            # the VAE stays in float32: SD-XL VAEs overflow in float16
            "vae": _load(AutoencoderKL, "vae"),
            "unet": _load(
                UNet2DConditionModel, "unet", torch_dtype=torch.float16 if half else torch.float32
            ),
            "scheduler": _load(DDIMScheduler, "scheduler"),
        }
    except Exception as exc:
        where = "folder" if local else "Hugging Face hub id (looked up in the local cache first)"
        if unreachable:
            where += ", the hub being unreachable from this machine,"
        raise OSError(
            f"MultiScaleStyleRetrospection could not load the latent-diffusion weights from "
            f"{where} {source!r}: {type(exc).__name__}: {exc}. diffusion= needs a Stable "
            "Diffusion-style checkpoint with 'vae/', 'unet/' and 'scheduler/' subfolders (e.g. "
            "'stabilityai/stable-diffusion-2-1-base' or "
            "'stabilityai/stable-diffusion-xl-refiner-1.0', downloaded beforehand when offline), "
            "a diffusers pipeline object, a dict of components, or None to skip the "
            "style-retrospection pass"
        ) from exc
    if need_text:
        from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

        for tok_sub, enc_sub, enc_cls in (
            ("tokenizer", "text_encoder", CLIPTextModel),
            ("tokenizer_2", "text_encoder_2", CLIPTextModelWithProjection),
        ):
            try:
                comp[tok_sub] = _load(CLIPTokenizer, tok_sub)
                comp[enc_sub] = _load(enc_cls, enc_sub)
            except Exception:  # SD has no *_2, the SD-XL refiner has no text_encoder
                comp.pop(tok_sub, None)
                comp.pop(enc_sub, None)
    return comp


# ---------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------


class MultiScaleStyleRetrospection(DefaultParamsOnLoadMixin, TransformerMixin, BaseEstimator):
    """Multi-scale, line-enhanced, style-stripped views of images (HRR's MSR).

    Implements the multi-scale style retrospection module of HRR (section
    III-A). Every image is resized to ``output_size`` and, for every entry of
    ``scales``:

    1. *multi-scale*: downsampled to ``scale * output_size`` pixels, perturbed
       with small Gaussian noise (``noise_std``, for edge continuity) and
       upsampled back to ``output_size``;
    2. *line enhancement* (HRR Eq. 2): ``I + h(g(f^n(I)))`` with ``f`` an
       unsharp mask applied ``sharpen_iter`` times, ``g`` a difference-of-
       Gaussians sketch (``edge_sigma``) and ``h`` quantile thresholding
       (``edge_quantile``), removal of isolated edge pixels and dilation
       (``dilation``): the detail added by sharpening is kept on the edges only;
    3. *style retrospection* (optional, ``diffusion``): a latent-diffusion
       img2img pass -- VAE encoding, noising to ``strength``, denoising with the
       UNet under empty-prompt conditioning, VAE decoding.

    The output keeps one row per image: a uint8 array of shape
    ``(n_samples, len(scales), output_size, output_size, 3)``, which
    :class:`~skforensics.CLIPFeatureExtractor` (and every skforensics image
    transformer) accepts as multi-view input and pools over the views. It can
    also serve as a training-time augmentation (see :meth:`transform_tensor`).

    Read more in the :ref:`User Guide <hrr_msr>`.

    Parameters
    ----------
    scales : tuple of float, default=(1.0, 0.5, 0.25)
        Scales of the views, relative to ``output_size``; one view per scale.
        A scale that maps to ``output_size`` pixels is not resampled (no noise).
    output_size : int, default=224
        Side of the square views. Images are first resized (not cropped) to
        ``output_size x output_size``. Must be a multiple of the VAE's
        downsampling factor (8 for Stable Diffusion) when ``diffusion`` is set.
    noise_std : float, default=1.0
        Standard deviation, in 8-bit intensity units, of the Gaussian noise added
        to the downsampled image before it is upsampled back.
    sharpen_iter : int, default=2
        Number ``n`` of sharpening passes of Eq. 2. ``0`` disables the line
        enhancement.
    edge_sigma : float, default=1.0
        Standard deviation, in pixels, of the narrower Gaussian of the
        difference-of-Gaussians sketch (the wider one is 1.6 times larger).
    edge_quantile : float, default=0.85
        Per-image quantile of the sketch response below which pixels are not
        edges (outlier filtering); in [0, 1).
    dilation : int, default=1
        Radius, in pixels, of the dilation of the edge mask.
    diffusion : None, str, path, diffusers pipeline or dict, default=None
        The latent diffusion model of the style-retrospection pass. ``None``
        skips it. A str or path is a Hugging Face hub id or a local folder with
        ``vae/``, ``unet/`` and ``scheduler/`` subfolders (Stable Diffusion 1.x /
        2.x, SD-XL, SD-XL refiner), loaded in :meth:`fit` and reloaded on demand
        after unpickling (the weights are never pickled). A pipeline object (e.g.
        ``StableDiffusionImg2ImgPipeline``) or a dict with keys ``"vae"``,
        ``"unet"``, ``"scheduler"`` and either ``"prompt_embeds"`` (a
        ``(1, L, dim)`` tensor; plus ``"pooled_prompt_embeds"`` for SD-XL) or
        ``"tokenizer"``/``"text_encoder"`` is used in place: its modules are moved
        to ``device`` and kept in their dtype. :func:`sklearn.base.clone` shares
        in-memory components by reference (no copy of the weights); pickling
        drops them -- the unpickled estimator raises until
        ``set_params(diffusion=...)`` re-attaches them.
    strength : float, default=0.3
        img2img strength in [0, 1]: the fraction of the ``num_inference_steps``
        noise schedule applied to the encoded view before denoising. ``0``
        returns the VAE reconstruction of the view.
    num_inference_steps : int, default=10
        Length of the denoising schedule (only ``int(strength * steps)`` steps
        run).
    guidance : str, default="empty"
        Conditioning of the UNet: ``"empty"`` is the empty prompt (no
        classifier-free guidance); any other string is used as a text prompt
        (needs the text encoder). With a hub id or folder, the prompt embedding
        is computed once (with ``transformers``) and cached in the estimator, so
        reloading after unpickling needs no text encoder.
    device : str, default="auto"
        Torch device; ``"auto"`` picks CUDA when available. Resolved in
        :meth:`fit` into ``device_``. The classical steps run there too.
    batch_size : int, default=4
        Images processed together (each makes ``len(scales)`` views). Small
        batches keep the classical filters' working set in the CPU caches; the
        diffusion pass may want larger ones on a GPU.
    n_threads : int or None, default=None
        CPU threads of :meth:`transform` on CPU. The classical path runs
        batches side by side on ``n_threads`` Python threads, each with
        single-threaded torch kernels (torch's own thread count is set to 1
        for the duration of the call and restored afterwards); the diffusion
        pass runs batches one after the other with ``n_threads`` torch
        threads. ``None`` picks a default that never oversubscribes: 1 when
        called from a worker thread (Dask tasks, joblib's threading backend),
        otherwise the CPUs available to the process capped by
        ``torch.get_num_threads()`` -- which follows ``OMP_NUM_THREADS``, the
        limit Dask and joblib set in their worker processes. Ignored on GPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling noise and the diffusion noise. With an int, the
        output is a deterministic function of ``X``; ``None`` draws fresh noise
        at every call (useful for augmentation).
    verbose : bool or int, default=False
        Show a progress bar.

    Attributes
    ----------
    device_ : torch.device
        The device used.
    scales_ : tuple of float
        The validated scales.
    n_views_ : int
        Number of views per image, ``len(scales)``.

    See Also
    --------
    skforensics.CLIPFeatureExtractor : Embeds (multi-view) images and pools the views.

    Notes
    -----
    The classical steps are batched torch operations (no Python loop over
    pixels), run with single-threaded torch kernels on small batches, the
    batches side by side on ``n_threads`` threads: torch's OpenMP
    multi-threading on these small kernels was an order of magnitude *slower*
    than one thread on a shared CPU (``benchmarks/bench_msr_speed.py``). The
    diffusion pass runs on ``device_``, in float16 on CUDA for weights loaded
    from a hub id or folder.

    References
    ----------
    .. [1] HRR: Hierarchical Retrospection Refinement for Generated Image
       Detection, section III-A (multi-scale style retrospection).

    Examples
    --------
    >>> from skforensics import MultiScaleStyleRetrospection
    >>> from skforensics.datasets import load_sample_images
    >>> paths = load_sample_images("diffusiondb_coco").paths[:2]
    >>> msr = MultiScaleStyleRetrospection(output_size=64, random_state=0)
    >>> views = msr.fit_transform(paths)
    >>> views.shape, views.dtype
    ((2, 3, 64, 64, 3), dtype('uint8'))
    """

    _parameter_constraints: dict = {
        "scales": ["array-like", Interval(Real, 0, None, closed="neither")],
        "output_size": [Interval(Integral, 8, None, closed="left")],
        "noise_std": [Interval(Real, 0, None, closed="left")],
        "sharpen_iter": [Interval(Integral, 0, None, closed="left")],
        "edge_sigma": [Interval(Real, 0, None, closed="neither")],
        "edge_quantile": [Interval(Real, 0, 1, closed="left")],
        "dilation": [Interval(Integral, 0, None, closed="left")],
        "diffusion": "no_validation",  # None, str, path, pipeline or dict: checked in fit
        "strength": [Interval(Real, 0, 1, closed="both")],
        "num_inference_steps": [Interval(Integral, 1, None, closed="left")],
        "guidance": [str],
        "device": "no_validation",  # checked by resolve_device in fit
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        scales=(1.0, 0.5, 0.25),
        *,
        output_size=224,
        noise_std=1.0,
        sharpen_iter=2,
        edge_sigma=1.0,
        edge_quantile=0.85,
        dilation=1,
        diffusion=None,
        strength=0.3,
        num_inference_steps=10,
        guidance="empty",
        device="auto",
        batch_size=4,
        n_threads=None,
        random_state=None,
        verbose=False,
    ):
        self.scales = scales
        self.output_size = output_size
        self.noise_std = noise_std
        self.sharpen_iter = sharpen_iter
        self.edge_sigma = edge_sigma
        self.edge_quantile = edge_quantile
        self.dilation = dilation
        self.diffusion = diffusion
        self.strength = strength
        self.num_inference_steps = num_inference_steps
        self.guidance = guidance
        self.device = device
        self.batch_size = batch_size
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # -- sklearn plumbing ---------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # image collections, not feature matrices
        tags.transformer_tags.preserves_dtype = []  # always uint8 images out
        tags.non_deterministic = self.random_state is None
        tags._skip_test = True  # sklearn's common checks feed 2-D float data
        return tags

    def __sklearn_clone__(self):
        diffusion = self.diffusion
        if not _is_in_memory(diffusion):
            return super().__sklearn_clone__()
        # share in-memory weights by reference instead of deep-copying them
        self.diffusion = None
        try:
            new = super().__sklearn_clone__()
        finally:
            self.diffusion = diffusion
        new.diffusion = dict(diffusion) if isinstance(diffusion, dict) else diffusion
        return new

    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        state.pop("_components", None)
        state.pop("_components_key", None)
        if _is_in_memory(state.get("diffusion")):
            state["diffusion"] = _DroppedDiffusion(_source_name(state["diffusion"]))
            state.pop("_embed_cache", None)
        return state

    # -- validation ---------------------------------------------------------

    def _check_scales(self):
        scales = self.scales
        if isinstance(scales, (Real, np.number)) and not isinstance(scales, bool):
            scales = (scales,)
        try:
            scales = tuple(float(s) for s in scales)
        except (TypeError, ValueError):
            raise ValueError(
                f"scales must be a sequence of positive numbers, got {self.scales!r}"
            ) from None
        if not scales or not all(np.isfinite(s) and s > 0 for s in scales):
            raise ValueError(
                f"scales must be a non-empty sequence of positive numbers, got {self.scales!r}"
            )
        return scales

    def _check_diffusion(self):
        d = self.diffusion
        if d is None or isinstance(d, (str, os.PathLike)):
            if isinstance(d, (str, os.PathLike)) and not os.fspath(d):
                raise ValueError("diffusion must not be an empty string")
            return
        if isinstance(d, _DroppedDiffusion):
            src = f" (they were loaded from {d.source!r})" if d.source else ""
            raise RuntimeError(
                "this MultiScaleStyleRetrospection was unpickled without its in-memory "
                f"diffusion components{src}: in-memory weights are never pickled. Re-attach "
                "them with est.set_params(diffusion=...) (a pipeline, a dict of components, a "
                "hub id or a folder)"
            )
        if isinstance(d, dict):
            missing = [k for k in ("vae", "unet", "scheduler") if d.get(k) is None]
            if missing:
                raise ValueError(
                    f"the diffusion dict lacks {missing}; it needs 'vae', 'unet', 'scheduler' "
                    "and 'prompt_embeds' (or 'tokenizer' + 'text_encoder')"
                )
            return
        if all(hasattr(d, a) for a in ("vae", "unet", "scheduler")):
            return
        raise ValueError(
            "diffusion must be None, a hub id or folder (str), a diffusers pipeline with vae, "
            f"unet and scheduler, or a dict of components; got {type(d).__name__}"
        )

    # -- fit / transform ----------------------------------------------------

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Validate the parameters (and ``X``), resolve the device, load the diffusion model.

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays, or uint8 array, optional
            Images; only validated (nothing is learned from them).
        y : None
            Ignored.

        Returns
        -------
        self : MultiScaleStyleRetrospection
        """
        from ._torch_utils import resolve_device

        scales = self._check_scales()
        self._check_diffusion()
        if X is not None:
            check_images(X, allow_multiview=False)
        self.device_ = resolve_device(self.device)
        self.scales_ = scales
        self.n_views_ = len(scales)
        if self.diffusion is not None:
            self._get_components()
        return self

    def transform(self, X):
        """Make the views of every image.

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays, or uint8 array
            Images of any sizes, one view each.

        Returns
        -------
        views : ndarray of shape (n_samples, n_views, output_size, output_size, 3), dtype uint8
            The views of every image, in the order of ``scales``.

        Raises
        ------
        ImageLoadError
            If an image cannot be read (the message names the file and index).
        """
        import torch

        from ._torch_utils import default_n_threads, progress, single_torch_thread

        check_is_fitted(self, "device_")
        coll = check_images(X, allow_multiview=False)
        n, size, v = len(coll), int(self.output_size), self.n_views_
        seeds = check_random_state(self.random_state).randint(0, 2**31 - 1, size=(n, 2))
        out = np.empty((n, v, size, size, 3), dtype=np.uint8)
        bs = int(self.batch_size)
        starts = range(0, n, bs)

        def one_batch(start):
            idx = range(start, min(start + bs, n))
            batch = np.stack([resize_rgb(coll.load(i), size, reducing_gap=3.0) for i in idx])
            x = torch.from_numpy(batch).to(self.device_).permute(0, 3, 1, 2).float().div_(255.0)
            with torch.no_grad():
                views = self._views(x, seeds[idx.start : idx.stop])
            # views are in [0, 1]: +0.5 then truncation rounds to nearest
            out[idx.start : idx.stop] = (
                views.mul_(255.0).add_(0.5).to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()
            )

        cpu = torch.device(self.device_).type == "cpu"
        n_threads = (
            1 if not cpu else default_n_threads() if self.n_threads is None else int(self.n_threads)
        )
        if not cpu:
            scope, workers = contextlib.nullcontext(), 1
        elif self.diffusion is not None:  # big kernels: torch's intra-op threads pay off
            scope, workers = _torch_threads(n_threads), 1
        else:  # many small kernels: one torch thread each, batches side by side
            scope, workers = single_torch_thread(), min(n_threads, len(starts))
        with scope:
            if workers <= 1:
                for start in progress(starts, self.verbose, desc="MSR", total=len(starts)):
                    one_batch(start)
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=workers) as pool:
                    done = pool.map(one_batch, starts)
                    for _ in progress(done, self.verbose, desc="MSR", total=len(starts)):
                        pass
        return out

    def transform_tensor(self, x, random_state=None):
        """Make the views of a batch of float images, in torch (for augmentation).

        Parameters
        ----------
        x : torch.Tensor of shape (B, 3, H, W)
            Images with values in [0, 1], on any device; resized to
            ``output_size`` first when needed.
        random_state : int, RandomState instance or None, default=None
            Seeds the noise of this call (``None``: fresh noise).

        Returns
        -------
        views : torch.Tensor of shape (B, n_views, 3, output_size, output_size)
            Values in [0, 1], on the device of ``x`` and without gradient.
        """
        import torch

        check_is_fitted(self, "device_")
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError("x must be a float tensor of shape (B, 3, H, W) with values in [0, 1]")
        size = int(self.output_size)
        seeds = check_random_state(random_state).randint(0, 2**31 - 1, size=(x.shape[0], 2))
        with torch.no_grad():
            y = x.detach().float()
            if y.shape[-2:] != (size, size):
                y = torch.nn.functional.interpolate(
                    y, size=(size, size), mode="bilinear", align_corners=False, antialias=True
                )
            return self._views(y.clamp(0, 1), seeds).to(x.device)

    def _views(self, x, seeds):
        """(B, 3, S, S) in [0, 1] -> (B, V, 3, S, S) in [0, 1]."""
        import torch

        b, size = x.shape[0], x.shape[-1]
        line_kw = dict(
            sharpen_iter=int(self.sharpen_iter), edge_sigma=float(self.edge_sigma),
            edge_quantile=float(self.edge_quantile), dilation=int(self.dilation),
        )  # fmt: skip
        v = _views_classical(x, self.scales_, float(self.noise_std), seeds[:, 0], line_kw, torch)
        if self.diffusion is not None:
            view_seeds = (seeds[:, 1:2] + np.arange(self.n_views_)[None, :]).ravel() % (2**31 - 1)
            # the pass starts from the 8-bit views, as if they had been saved as images
            v = self._img2img(v.mul(255.0).round_().div_(255.0), view_seeds)
        return v.reshape(b, self.n_views_, 3, size, size)

    # -- diffusion ------------------------------------------------------------

    def _get_components(self):
        """Resolve ``diffusion`` into a dict of modules on ``device_`` (cached, not pickled)."""
        import torch

        self._check_diffusion()
        d = self.diffusion
        key = (id(d), os.fspath(d) if isinstance(d, (str, os.PathLike)) else None,
               self.guidance, str(self.device_))  # fmt: skip
        if getattr(self, "_components_key", None) == key and getattr(self, "_components", None):
            return self._components
        cache = getattr(self, "_embed_cache", None) or {}
        if isinstance(d, (str, os.PathLike)):
            cached = cache.get((os.fspath(d), self.guidance))
            comp = _load_components(d, self.device_, need_text=cached is None)
            if cached is not None:
                comp["prompt_embeds"], comp["pooled_prompt_embeds"] = cached
        elif isinstance(d, dict):
            comp = dict(d)
        else:
            comp = {
                k: getattr(d, k, None)
                for k in ("vae", "unet", "scheduler", "tokenizer", "text_encoder",
                          "tokenizer_2", "text_encoder_2")
            }  # fmt: skip
        for k in ("vae", "unet", "text_encoder", "text_encoder_2"):
            if comp.get(k) is not None:
                comp[k] = comp[k].to(self.device_).eval()
        if comp.get("prompt_embeds") is None or (
            self.guidance != "empty" and not isinstance(d, (str, os.PathLike))
        ):
            prompt = "" if self.guidance == "empty" else self.guidance
            comp["prompt_embeds"], comp["pooled_prompt_embeds"] = _encode_prompt(
                comp, prompt, self.device_
            )
        pe = comp["prompt_embeds"]
        if not isinstance(pe, torch.Tensor) or pe.ndim not in (2, 3):
            raise ValueError("prompt_embeds must be a (1, L, dim) or (L, dim) torch tensor")
        if isinstance(d, (str, os.PathLike)):
            cache[(os.fspath(d), self.guidance)] = (
                pe.detach().cpu(),
                None if comp.get("pooled_prompt_embeds") is None
                else comp["pooled_prompt_embeds"].detach().cpu(),
            )  # fmt: skip
            self._embed_cache = cache
            for k in ("tokenizer", "text_encoder", "tokenizer_2", "text_encoder_2"):
                comp.pop(k, None)  # the embedding is cached: free the text encoders
        self._components, self._components_key = comp, key
        return comp

    def _img2img(self, x, seeds):
        """Latent-diffusion img2img of (N, 3, S, S) images in [0, 1] under empty conditioning."""
        import torch

        comp = self._get_components()
        vae, unet, sched = comp["vae"], comp["unet"], comp["scheduler"]
        dev, n, size = self.device_, x.shape[0], x.shape[-1]
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        if size % factor:
            raise ValueError(
                f"output_size={size} must be a multiple of the VAE downsampling factor {factor} "
                "when diffusion is set"
            )
        sf = float(getattr(vae.config, "scaling_factor", 1.0) or 1.0)
        shift = float(getattr(vae.config, "shift_factor", None) or 0.0)
        pe = comp["prompt_embeds"]
        pe = (pe if pe.ndim == 3 else pe[None]).to(dev, unet.dtype)
        added = None
        if getattr(unet.config, "addition_embed_type", None) == "text_time":
            pooled = comp.get("pooled_prompt_embeds")
            if pooled is None:
                raise ValueError(
                    "this SD-XL UNet needs 'pooled_prompt_embeds' in the diffusion dict"
                )
            pooled = pooled.reshape(1, -1).to(dev, unet.dtype)
            n_time = (
                unet.add_embedding.linear_1.in_features - pooled.shape[-1]
            ) // unet.config.addition_time_embed_dim
            ids = [size, size, 0, 0, 6.0] if n_time == 5 else [size, size, 0, 0, size, size]
            added = {"text_embeds": pooled, "time_ids": torch.tensor([ids], device=dev)}
        bs = int(self.batch_size)
        out = []
        for s in range(0, n, bs):
            xb = x[s : s + bs].to(dev, vae.dtype) * 2.0 - 1.0
            m = xb.shape[0]
            lat = (vae.encode(xb).latent_dist.mode() - shift) * sf
            steps = int(self.num_inference_steps)
            sched.set_timesteps(steps, device=dev)
            init = min(int(steps * float(self.strength)), steps)
            t_start = (steps - init) * getattr(sched, "order", 1)
            timesteps = sched.timesteps[t_start:]
            if hasattr(sched, "set_begin_index"):
                sched.set_begin_index(t_start)
            if len(timesteps):
                noise = torch.stack(
                    [torch.randn(lat.shape[1:], generator=torch.Generator().manual_seed(int(z)))
                     for z in seeds[s : s + m]]
                ).to(dev, lat.dtype)  # fmt: skip
                lat = sched.add_noise(lat, noise, timesteps[:1].repeat(m)).to(unet.dtype)
                # stochastic schedulers draw noise in step(); PNDM & co. take no generator
                step_kw = {}
                if "generator" in inspect.signature(sched.step).parameters:
                    step_kw["generator"] = torch.Generator(device=dev).manual_seed(int(seeds[s]))
                cond = pe.expand(m, -1, -1)
                kw = {}
                if added is not None:
                    kw["added_cond_kwargs"] = {
                        "text_embeds": added["text_embeds"].expand(m, -1),
                        "time_ids": added["time_ids"].expand(m, -1).to(unet.dtype),
                    }
                for t in timesteps:
                    inp = sched.scale_model_input(lat, t)
                    eps = unet(inp, t, encoder_hidden_states=cond, **kw).sample
                    lat = sched.step(eps, t, lat, **step_kw).prev_sample
            dec = vae.decode(lat.to(vae.dtype) / sf + shift).sample
            out.append((dec.float() / 2.0 + 0.5).clamp_(0, 1).to(x.device))
        return torch.cat(out)


@contextlib.contextmanager
def _torch_threads(n):
    """Set torch's intra-op thread count to ``n`` for the block, then restore it."""
    import torch

    saved = torch.get_num_threads()
    if saved != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if saved != n:
            torch.set_num_threads(saved)
