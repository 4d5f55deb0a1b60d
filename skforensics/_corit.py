"""CoRIT: contrastive gradient proxy, regional injection and hierarchical integration.

A training-free reading of the Contrastive Regional Injection Transformer
(CoRIT) of "Beyond Semantic Priors: Mitigating Optimization Collapse for
Generalizable Visual Forensics" (2026). Only the paper's abstract is public:
every formula here is ours (see ``docs/user_guide/corit.rst``).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._clip import (
    CLIPFeatureExtractor,
    CLIPTransformerBase,
    iter_batches,
    pool_views,
    pools_class_token,
    resolve_blocks,
)
from ._compat import HasMethods, Interval, StrOptions, fit_context
from ._image_io import check_images, view_feature_names, warn_failed
from ._torch_utils import DEVICE_CONSTRAINT

__all__ = ["CoRITInjector"]


def _region_bins(n, grid):
    """Split ``range(n)`` into ``grid`` contiguous, near-equal bins (like array_split)."""
    return [b.tolist() for b in np.array_split(np.arange(n), grid)]


def _region_matrix(grid_size, grid):
    """Averaging matrix ``(R, P)`` from patch tokens (row-major) to grid regions.

    Also returns the region boxes ``(R, 4)`` as ``(row0, row1, col0, col1)`` in
    patch units (end exclusive), row-major over the region grid.
    """
    gh, gw = grid_size
    rows, cols = _region_bins(gh, grid), _region_bins(gw, grid)
    A = np.zeros((grid * grid, gh * gw), dtype=np.float64)
    boxes = np.zeros((grid * grid, 4), dtype=np.int64)
    for i, rr in enumerate(rows):
        for j, cc in enumerate(cols):
            r = i * grid + j
            for pr in rr:
                for pc in cc:
                    A[r, pr * gw + pc] = 1.0
            A[r] /= A[r].sum()
            boxes[r] = (rr[0], rr[-1] + 1, cc[0], cc[-1] + 1)
    return A, boxes


def _fisher_gsnr(n, s, ss, eps=1e-12):
    """GSNR of the contrastive gradient proxy from class-wise sufficient statistics.

    ``n`` (2,), ``s`` and ``ss`` (2, ...) are the counts, sums and sums of
    squares of the features of class 0 and class 1. With per-sample proxy
    gradient ``g_i = s_i (z_i - c)`` (``s_i = +1`` for class 1, ``-1`` for class
    0, ``c`` the class-balanced mean, both classes weighted 1/2):
    ``E[g] = (m1 - m0) / 2`` and ``Var[g] = (v1 + v0) / 2``, so the per-dimension
    GSNR is ``(m1 - m0)^2 / (2 (v1 + v0))``.

    Returns ``(gsnr, mean_gradient)``, both of the shape of ``s[0]``.
    """
    shape = (2,) + (1,) * (s.ndim - 1)
    cnt = n.reshape(shape).astype(np.float64)
    m = s / cnt
    v = np.maximum(ss / cnt - m**2, 0.0)
    diff = m[1] - m[0]
    noise = v[0] + v[1]
    floor = eps * (float(noise.mean()) + 1e-30)
    return diff**2 / (2.0 * np.maximum(noise, floor)), diff / 2.0


class CoRITInjector(CLIPTransformerBase):
    """CLIP features with a contrastive gradient proxy, regional injection and
    hierarchical integration (a training-free reading of CoRIT).

    A meta-transformer over a :class:`~skforensics.CLIPFeatureExtractor`
    backbone. :meth:`fit` runs the frozen backbone once over labelled images
    and computes statistics only (no backpropagation, no training):

    1. **Contrastive Gradient Proxy (CGP).** For every selected transformer
       block ``b`` the patch grid is cut into ``grid x grid`` regions and the
       patch tokens of each region are averaged into ``z_b,r(x)``. The proxy
       gradient of sample ``i`` is ``g_i = s_i (z_b,r(x_i) - c_b,r)``, with
       ``s_i = +1`` for the second class (fake) and ``-1`` for the first (real)
       and ``c`` the class-balanced mean: the per-sample gradient, with respect
       to a linear read-out ``w`` of the region's tokens at ``w = 0``, of the
       contrastive objective ``-E[s_i w . z_i]`` that pushes the two classes
       apart. Its signal-to-noise ratio across samples,
       ``E[g]^2 / Var[g]`` (classes weighted equally), is averaged over the
       token dimensions into the region's GSNR ``region_snr_[b, r]``; it reduces
       to the per-dimension Fisher ratio ``(m1 - m0)^2 / (2 (v1 + v0))``.
    2. **Region Refinement Mask.** In every block, the regions whose GSNR is at
       least the ``mask_quantile`` quantile of that block's region GSNRs are
       kept (``region_mask_``); the others, whose proxy gradient is dominated
       by variance, are suppressed.
    3. **Regional Signal Injection.** At transform time the kept regions'
       pooled tokens, weighted by their GSNR (``region_weights_``), are added
       with strength ``alpha`` to the block's class token, which is then read
       out (``readout="proj"``: the backbone's final norm, pooling and
       projection, as for the last block; ``"token"``: the raw class token).
       The regional signal thus reaches the output directly instead of being
       attenuated by the later blocks.
    4. **Hierarchical Representation Integration.** The read-outs of the
       selected blocks are combined with ``layer_weights_``: proportional to
       each block's GSNR over its kept regions (``layer_snr_``,
       ``integration="gsnr"``), equal (``"uniform"``), or concatenated
       (``"concat"``).

    :meth:`transform` runs the backbone once (open_clip's ``forward_intermediates``,
    stopping after the deepest selected block), so its cost
    is that of :meth:`CLIPFeatureExtractor.transform` plus a few small matrix
    products. With ``alpha=0`` and the single last block (``layers=[-1]``,
    ``readout="proj"``) the output is exactly the backbone's final CLIP
    embedding.

    Parameters
    ----------
    backbone : CLIPFeatureExtractor or None, default=None
        Template of the backbone, cloned into ``backbone_`` in fit (None: a
        default ``CLIPFeatureExtractor()``, which needs the ``openai`` weights).
        Its ``model_name``, ``pretrained``, ``precision``, ``num_workers``,
        ``on_error``, ``view_pooling`` and ``random_state`` are used and can be
        searched as ``backbone__<param>``; its ``layers`` and ``pooling`` are
        ignored, and its ``device``, ``batch_size`` and ``verbose`` are
        replaced by this estimator's.
    layers : "auto", int or list of int, default="auto"
        Transformer blocks to use (negative counts from the end). ``"auto"``
        uses every block and lets the GSNR weigh them.
    grid : int, default=4
        The patch grid is split into ``grid x grid`` near-equal regions;
        must not exceed the patch grid of the backbone.
    mask_quantile : float in [0, 1], default=0.5
        Regions with GSNR below this quantile of their block's region GSNRs
        are suppressed. 0 keeps every region; 1 keeps only the best region(s).
    alpha : float >= 0, default=1.0
        Injection strength. 0 disables the Regional Signal Injection.
    integration : {"gsnr", "uniform", "concat"}, default="gsnr"
        How the block read-outs are combined (see above).
    readout : {"proj", "token"}, default="proj"
        Read-out of each (injected) class token: through the backbone's final
        layer norm, pooling and projection into the CLIP embedding space
        (dimension ``output_dim``), or the raw token (dimension ``width``, as
        :class:`CLIPFeatureExtractor` returns for block layers with
        ``pooling="cls"``).
    device : str, default="auto"
        ``"auto"`` uses CUDA when available. Resolved into ``device_`` in fit.
    batch_size : int, default=32
    verbose : bool, default=False
        Show progress bars.

    Attributes
    ----------
    backbone_ : CLIPFeatureExtractor
        The fitted clone of ``backbone``.
    classes_ : ndarray of shape (2,)
        Class labels; ``classes_[1]`` gets ``s_i = +1`` in the proxy.
    layers_ : list of int
        Non-negative indices of the selected blocks, in increasing depth.
    region_boxes_ : ndarray of shape (grid * grid, 4)
        ``(row0, row1, col0, col1)`` of each region on the patch grid (end
        exclusive), row-major.
    cgp_ : ndarray of shape (n_layers, grid * grid, width)
        Mean contrastive proxy gradient ``(m1 - m0) / 2`` of each region.
    region_snr_ : ndarray of shape (n_layers, grid * grid)
        GSNR of the proxy gradient of each region, per block.
    cls_snr_ : ndarray of shape (n_layers,)
        The same GSNR for each block's class token (diagnostic).
    region_mask_ : ndarray of bool, shape (n_layers, grid * grid)
        Kept regions.
    region_weights_ : ndarray of shape (n_layers, grid * grid)
        Injection weights: the kept regions' GSNR, normalised to sum to 1.
    layer_snr_ : ndarray of shape (n_layers,)
        Mean GSNR of the kept regions of each block.
    layer_weights_ : ndarray of shape (n_layers,)
        Integration weights (sum to 1, or all 1 for ``"concat"``).
    n_features_out_ : int
    n_views_ : int
    device_ : torch.device

    See Also
    --------
    skforensics.CLIPFeatureExtractor : The backbone.
    skforensics.RegionMaskDisplay : Draws ``region_mask_`` over an image.

    Notes
    -----
    The GSNR estimates are biased upwards by sampling noise: with ``n``
    balanced samples and no signal, the expected per-dimension value is about
    ``1 / n``. The mask and the ``"gsnr"`` weights depend only on ratios, so
    this bias makes the weights more uniform but does not change the ranking.
    Failed images (``backbone__on_error="skip"``) are left out of the
    statistics and give NaN rows in :meth:`transform`. With multi-view input
    each view counts as a sample with its image's label.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skforensics import CLIPFeatureExtractor, CoRITInjector
    >>> from skforensics.datasets import load_sample_images
    >>> data = load_sample_images("cifake")
    >>> clip = CLIPFeatureExtractor("skf-tiny-vit", pretrained=None, random_state=0)
    >>> corit = CoRITInjector(clip, grid=2, mask_quantile=0.5, alpha=1.0)
    >>> corit.fit_transform(data.paths, data.y).shape
    (48, 32)
    >>> corit.region_mask_.shape, corit.layer_weights_.shape
    ((4, 4), (4,))
    >>> bool(abs(corit.layer_weights_.sum() - 1) < 1e-9)
    True
    >>> corit.get_feature_names_out()[:2]
    array(['corit0', 'corit1'], dtype=object)
    >>> pipe = make_pipeline(corit, LogisticRegression()).fit(data.paths, data.y)
    >>> pipe.predict_proba(data.paths[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        "backbone": [HasMethods(["fit", "transform"]), None],
        "layers": [StrOptions({"auto"}), Integral, list, tuple],
        "grid": [Interval(Integral, 1, None, closed="left")],
        "mask_quantile": [Interval(Real, 0, 1, closed="both")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "integration": [StrOptions({"gsnr", "uniform", "concat"})],
        "readout": [StrOptions({"proj", "token"})],
        "device": DEVICE_CONSTRAINT,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        backbone=None,
        *,
        layers="auto",
        grid=4,
        mask_quantile=0.5,
        alpha=1.0,
        integration="gsnr",
        readout="proj",
        device="auto",
        batch_size=32,
        verbose=False,
    ):
        self.backbone = backbone
        self.layers = layers
        self.grid = grid
        self.mask_quantile = mask_quantile
        self.alpha = alpha
        self.integration = integration
        self.readout = readout
        self.device = device
        self.batch_size = batch_size
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def _check_y(self, y, n):
        if y is None:
            raise ValueError(
                "CoRITInjector requires y: the contrastive gradient proxy is computed from "
                "labelled real and fake images (fit(X, y))"
            )
        y = column_or_1d(y, warn=True)
        if len(y) != n:
            raise ValueError(f"X has {n} samples but y has {len(y)}")
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(
                f"CoRITInjector needs exactly 2 classes (real and fake) in y, got "
                f"{len(classes)}: {classes[:10]!r}"
            )
        return classes, (y == classes[1]).astype(np.int64)

    _progress_desc = "CoRIT features"

    @fit_context(prefer_skip_nested_validation=False)  # the backbone validates its own
    def fit(self, X, y=None):
        """Run the backbone over ``X`` and compute the CGP statistics, mask and weights.

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays, or uint8 ndarray
            Images (see :mod:`skforensics._image_io`).
        y : array-like of shape (n_samples,)
            Binary labels (e.g. 0 = real, 1 = fake). Required: None raises a
            ValueError.

        Returns
        -------
        self : CoRITInjector
        """
        self._fit(X, y, keep_tokens=False)
        return self

    @fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y=None, **fit_params):
        """Fit and transform ``X`` with a single pass of the backbone.

        Equivalent to ``fit(X, y).transform(X)``; the pooled class and region
        tokens of the fit pass are kept in memory (when they need less than
        ``2**30`` bytes and the read-out allows it) instead of running the
        backbone a second time.

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays, or uint8 ndarray
        y : array-like of shape (n_samples,)
            Binary labels; required.
        **fit_params : dict
            Unused.

        Returns
        -------
        features : ndarray of shape (n_samples, ``n_features_out_``), dtype float32
        """
        coll = check_images(X)
        cache = self._fit(coll, y, keep_tokens=True)
        if cache is None:
            return self.transform(coll)
        return self._transform_cached(*cache)

    def _cacheable(self, visual):
        return self.readout == "token" or pools_class_token(visual)

    def _fit(self, X, y, keep_tokens):
        import torch

        coll = check_images(X)
        self.classes_, yb = self._check_y(y, len(coll))

        backbone = CLIPFeatureExtractor() if self.backbone is None else self.backbone
        self.backbone_ = clone(backbone).set_params(
            device=self.device, batch_size=self.batch_size, verbose=False, layers="last"
        )
        self.backbone_.fit(coll)
        visual = self.backbone_.model_
        self.device_ = self.backbone_.device_
        self.n_views_ = coll.n_views
        self.layers_ = sorted(
            resolve_blocks(
                self.layers,
                len(visual.transformer.resblocks),
                name="the backbone",
                allow_last=False,
            )
        )

        gh, gw = visual.grid_size
        if self.grid > min(gh, gw):
            raise ValueError(
                f"grid={self.grid} exceeds the backbone's {gh}x{gw} patch grid; use "
                f"grid <= {min(gh, gw)}"
            )
        A, self.region_boxes_ = _region_matrix((gh, gw), self.grid)
        self.grid_shape_ = (gh, gw)
        R = A.shape[0]
        L = len(self.layers_)
        W = visual.transformer.width

        # class-wise sufficient statistics of [region tokens..., class token] per block
        cnt = np.zeros(2, dtype=np.int64)
        s = np.zeros((2, L, R + 1, W), dtype=np.float64)
        ss = np.zeros((2, L, R + 1, W), dtype=np.float64)
        A_t = torch.as_tensor(A, dtype=torch.float32, device=self.device_)
        n_views = coll.n_views
        n_items = len(coll) * n_views
        cache = None
        if keep_tokens and self._cacheable(visual) and n_items * L * (R + 1) * W * 4 <= 2**30:
            cache = np.full((n_items, L, R + 1, W), np.nan, dtype=np.float32)
        failed = []
        with torch.inference_mode():
            for k, x, errors in iter_batches(
                coll,
                self.backbone_.preprocess_,
                self.backbone_.image_size_,
                batch_size=self.batch_size,
                num_workers=self.backbone_.num_workers,
                on_error=self.backbone_.on_error,
                verbose=self.verbose,
                desc="CoRIT statistics",
            ):
                ok = np.array([not e for e in errors], dtype=bool)
                failed += [(int(kk) // n_views, e) for kk, e in zip(k, errors) if e]
                if not ok.any():
                    continue
                x = x[torch.from_numpy(ok)].to(self.device_, non_blocking=True)
                lab = torch.as_tensor(yb[k[ok] // n_views], device=self.device_)
                _, tokens = self.backbone_.encode(x, self.layers_, need_embed=False)
                feats = torch.stack(
                    [
                        torch.cat(
                            [
                                torch.einsum("rp,bpw->brw", A_t, tokens[b][:, 1:].float()),
                                tokens[b][:, :1].float(),
                            ],
                            dim=1,
                        )
                        for b in self.layers_
                    ],
                    dim=1,
                )  # (B, L, R + 1, W)
                if cache is not None:
                    cache[k[ok]] = feats.cpu().numpy()
                feats = feats.double()
                for c in (0, 1):
                    f = feats[lab == c]
                    cnt[c] += f.shape[0]
                    s[c] += f.sum(0).cpu().numpy()
                    ss[c] += (f * f).sum(0).cpu().numpy()
        if cache is None:
            warn_failed(failed)
        if cnt.min() < 2:
            raise ValueError(
                f"each class needs at least 2 readable images to estimate the CGP "
                f"statistics; got {cnt.tolist()} for classes {self.classes_.tolist()}"
            )

        gsnr, mean_grad = _fisher_gsnr(cnt, s, ss)  # (L, R + 1, W)
        self.cgp_ = mean_grad[:, :R].astype(np.float32)
        self.region_snr_ = gsnr[:, :R].mean(axis=2)
        self.cls_snr_ = gsnr[:, R].mean(axis=1)

        thr = np.quantile(self.region_snr_, self.mask_quantile, axis=1, keepdims=True)
        mask = self.region_snr_ >= thr
        mask[np.arange(L), self.region_snr_.argmax(axis=1)] = True  # never empty
        self.region_mask_ = mask
        w = np.where(mask, self.region_snr_, 0.0)
        self.region_weights_ = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
        self.layer_snr_ = w.sum(axis=1) / mask.sum(axis=1)
        if self.integration == "gsnr":
            total = self.layer_snr_.sum()
            self.layer_weights_ = self.layer_snr_ / total if total > 0 else np.full(L, 1.0 / L)
        elif self.integration == "uniform":
            self.layer_weights_ = np.full(L, 1.0 / L)
        else:
            self.layer_weights_ = np.ones(L)
        # per-patch injection weights: region weights spread over their patches
        self._patch_weights = (self.region_weights_ @ A).astype(np.float32)  # (L, P)

        self._dim = visual.output_dim if self.readout == "proj" else W
        d = self._dim * (L if self.integration == "concat" else 1)
        concat_views = self.backbone_.view_pooling == "concat"
        self.n_features_out_ = d * coll.n_views if concat_views else d
        return None if cache is None else (cache, len(coll), failed)

    def _transform_cached(self, cache, n, failed):
        """Features from the class and region tokens kept by the fit pass."""
        import torch

        rw = torch.as_tensor(self.region_weights_, dtype=torch.float32, device=self.device_)
        outs = []
        with torch.inference_mode():
            for start in range(0, cache.shape[0], 256):
                c = torch.from_numpy(cache[start : start + 256]).to(self.device_)
                inj = None
                if self.alpha != 0:
                    inj = self.alpha * torch.einsum("blrw,lr->blw", c[:, :, :-1], rw)
                outs.append(self._combine(c[:, :, -1], inj).cpu().numpy())
        feats = np.concatenate(outs).astype(np.float32, copy=False)
        warn_failed(failed)
        return pool_views(feats, n, self.backbone_.view_pooling)

    # ------------------------------------------------------------ transform
    def _readout(self, t, inj):
        """Read out block tokens ``t`` (B, T, W) with ``inj`` (B, W) added."""
        visual = self.backbone_.model_
        if self.readout == "token":
            cls = t[:, 0]
            return cls if inj is None else cls + inj
        pool_type = getattr(visual, "pool_type", "tok")
        if pools_class_token(visual):
            x = t[:, :1]  # layer norm and pooling act on the class token only
            if inj is not None:
                x = x + inj[:, None]
        else:
            x = t
            if inj is not None:
                if pool_type == "avg":  # the model pools the patch tokens
                    x = x + inj[:, None]
                    x = x.clone()
                    x[:, 0] = t[:, 0]
                else:
                    x = x.clone()
                    x[:, 0] = x[:, 0] + inj
        return self.backbone_.project(x)

    def _combine(self, cls, inj):
        """Read out and integrate class tokens ``cls`` (B, L, W) + injections ``inj``.

        Only for read-outs that need the class token alone (``_cacheable``).
        """
        import torch

        h = cls if inj is None else cls + inj
        B, L, W = h.shape
        if self.readout == "proj":  # final norm and projection of the class token
            h = self.backbone_.project(h.reshape(B * L, 1, W)).reshape(B, L, -1)
        h = h.float()
        if self.integration == "concat":
            return h.reshape(B, -1)
        w = torch.as_tensor(self.layer_weights_, dtype=torch.float32, device=h.device)
        return torch.einsum("bld,l->bd", h, w)

    def _clip_extractor(self):
        return self.backbone_

    def _n_features_view(self):
        return self._dim * (len(self.layers_) if self.integration == "concat" else 1)

    def _features_from_batch(self, x):
        import torch

        visual = self.backbone_.model_
        patch_weights = torch.as_tensor(self._patch_weights, device=self.device_)
        _, tokens = self.backbone_.encode(x, self.layers_, need_embed=False)
        if self._cacheable(visual):  # a few batched ops whatever the number of blocks
            cls = torch.stack([tokens[b][:, 0] for b in self.layers_], dim=1)
            inj = None
            if self.alpha != 0:
                patches = torch.stack([tokens[b][:, 1:] for b in self.layers_], dim=1)
                pw = patch_weights.to(patches.dtype)
                inj = self.alpha * torch.einsum("blpw,lp->blw", patches, pw)
            return self._combine(cls, inj)
        parts = []  # pooling over all tokens (avg / attentional pooling models)
        for i, b in enumerate(self.layers_):
            t = tokens[b]
            inj = None
            if self.alpha != 0:
                pw = patch_weights[i].to(t.dtype)
                inj = self.alpha * torch.einsum("bpw,p->bw", t[:, 1:], pw)
            parts.append(self._readout(t, inj).float() * float(self.layer_weights_[i]))
        if self.integration == "concat":
            return torch.cat(parts, dim=1)
        return sum(parts[1:], parts[0])

    def transform(self, X):
        """Compute the integrated, regionally injected CLIP features.

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays, or uint8 ndarray
            Images; multi-view samples are pooled by the backbone's
            ``view_pooling``.

        Returns
        -------
        features : ndarray of shape (n_samples, ``n_features_out_``), dtype float32
            Rows of images that failed to load with ``on_error="skip"`` are NaN.
        """
        check_is_fitted(self, "region_mask_")
        return self._batched_transform(X)

    def get_feature_names_out(self, input_features=None):
        """Feature names: ``corit{k}``, or ``corit_block{b}_{k}`` with ``"concat"``.

        Multi-view input concatenated by the backbone is prefixed ``view{v}_``.

        Parameters
        ----------
        input_features : None
            Ignored (the names come from the fitted model).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "region_mask_")
        if self.integration == "concat":
            names = [f"corit_block{b}_{k}" for b in self.layers_ for k in range(self._dim)]
        else:
            names = [f"corit{k}" for k in range(self._dim)]
        if self.backbone_.view_pooling == "concat" and self.n_views_ > 1:
            names = view_feature_names(names, self.n_views_)
        return np.asarray(names, dtype=object)

    def __setstate__(self, state):
        super().__setstate__(state)  # new parameters get their defaults
        if "backbone_" in state:  # the backbone may have moved device when unpickled
            self.device_ = self.backbone_.device_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
