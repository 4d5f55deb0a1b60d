"""CLIP image features (open_clip) as a scikit-learn transformer."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._compat import Interval, StrOptions, fit_context
from ._image_io import check_images, view_feature_names, warn_failed
from ._persistence import DefaultParamsOnLoadMixin
from ._torch_utils import DEVICE_CONSTRAINT

__all__ = [
    "CLIPFeatureExtractor",
    "CLIPTransformerBase",
    "build_clip_visual",
    "iter_batches",
    "pool_tokens",
    "pool_views",
    "resolve_blocks",
]

_CONFIG_DIR = os.path.join(os.path.dirname(__file__), "_configs")
_configs_added = False


def _open_clip():
    """Import open_clip and register the configs shipped with skforensics."""
    global _configs_added
    import open_clip

    if not _configs_added:
        open_clip.add_model_config(_CONFIG_DIR)
        _configs_added = True
    return open_clip


def build_clip_visual(model_name, pretrained, random_state=None, load_weights=True):
    """Build the image tower of an open_clip model and its preprocessing.

    Parameters
    ----------
    model_name : str
        An open_clip architecture (``"ViT-B-32"``, ``"ViT-L-14"``, the tiny
        ``"skf-tiny-vit"`` shipped for tests, ...) or a schema id
        (``"hf-hub:org/repo"``, ``"local-dir:/path"``) that carries its own weights.
    pretrained : str or None
        An open_clip pretrained tag (``"openai"``, ``"laion2b_s34b_b79k"``), a
        local checkpoint file, an ``"hf-hub:org/repo"`` id (used as ``model_name``)
        or None for random initialisation.
    random_state : int, RandomState or None
        Seeds the random initialisation when ``pretrained`` is None, inside a
        forked torch RNG so the global seed is untouched.
    load_weights : bool, default=True
        False builds the architecture only (used when unpickling).

    Returns
    -------
    visual : torch.nn.Module
        ``model.visual`` in eval mode, on the CPU. The text tower is dropped.
    preprocess : callable
        open_clip's evaluation transform: PIL image -> normalised tensor.
    """
    import torch

    from ._torch_utils import seed_from_random_state

    open_clip = _open_clip()
    if isinstance(pretrained, str) and pretrained.startswith("hf-hub:"):
        model_name, pretrained = pretrained, None
    has_schema = model_name.startswith(("hf-hub:", "local-dir:"))
    if isinstance(pretrained, os.PathLike):
        pretrained = os.fspath(pretrained)
    from ._hub import offline_unless_reachable

    from_hub = load_weights and (
        model_name.startswith("hf-hub:")
        or (not has_schema and isinstance(pretrained, str) and not os.path.isfile(pretrained))
    )
    logger = logging.getLogger()
    old_level = logger.level
    offline = False
    try:
        with contextlib.ExitStack() as stack:
            if from_hub:  # no minute of retries on an air-gapped machine
                offline = stack.enter_context(offline_unless_reachable())
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed_from_random_state(random_state))
                logger.setLevel(logging.ERROR)  # open_clip logs "initialized randomly"
                model = open_clip.create_model(
                    model_name,
                    pretrained=None if has_schema or not load_weights else pretrained,
                    load_weights=load_weights,
                )
    except Exception as exc:
        src = model_name if has_schema else f"{model_name!r} with pretrained={pretrained!r}"
        if pretrained is None and not has_schema and "not found" in str(exc).lower():
            raise ValueError(
                f"Unknown open_clip model_name {model_name!r}; see open_clip.list_models()"
            ) from exc
        why = (
            " The Hugging Face hub cannot be reached from this machine and the weights "
            "are not in the local cache."
            if offline
            else ""
        )
        raise RuntimeError(
            f"Could not build the CLIP model {src}: {str(exc).rstrip('.')}.{why} "
            "Pretrained weights cannot be "
            "downloaded without network access: pass a local checkpoint path as "
            "`pretrained`, a 'local-dir:' model_name, or pretrained=None for random weights."
        ) from exc
    finally:
        logger.setLevel(old_level)
    visual = model.visual.eval()
    for p in visual.parameters():
        p.requires_grad_(False)
    cfg = open_clip.transform.PreprocessCfg(**visual.preprocess_cfg)
    preprocess = open_clip.transform.image_transform_v2(cfg, is_train=False)
    return visual, preprocess


def _n_blocks(visual):
    return len(visual.transformer.resblocks)


def resolve_blocks(layers, n_blocks, *, name, allow_last=True):
    """Resolve a ``layers`` parameter into ``"last"`` and non-negative block indices.

    Parameters
    ----------
    layers : str, int or sequence of (int or "last")
        ``"last"``: the final embedding; ``"all"`` / ``"auto"``: every block; an
        int or a sequence of ints (negative counts from the end) and, when
        ``allow_last``, ``"last"`` entries. The order is kept.
    n_blocks : int
        Number of transformer blocks of the model.
    name : str
        The model, as named in the out-of-range message.
    allow_last : bool, default=True
        Whether ``"last"`` entries are accepted.

    Returns
    -------
    resolved : list of (int or "last")
    """
    if isinstance(layers, str):
        return ["last"] if layers == "last" else list(range(n_blocks))
    if isinstance(layers, Integral) and not isinstance(layers, bool):
        layers = [layers]
    if len(layers) == 0:
        raise ValueError("layers must not be empty")
    what = "ints or 'last'" if allow_last else "ints"
    out = []
    for layer in layers:
        if allow_last and layer == "last":
            out.append("last")
        elif isinstance(layer, Integral) and not isinstance(layer, bool):
            b = int(layer)
            if not -n_blocks <= b < n_blocks:
                raise ValueError(
                    f"layer {b} is out of range for {name}, which has {n_blocks} transformer "
                    f"blocks (valid: {-n_blocks}..{n_blocks - 1})"
                )
            out.append(b % n_blocks)
        else:
            raise ValueError(f"layers entries must be {what}, got {layer!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"layers {layers!r} names the same block twice")
    return out


def pools_class_token(visual):
    """Whether ``visual`` pools the class token alone (no attentional or average pooling)."""
    return (
        getattr(visual, "attn_pool", None) is None and getattr(visual, "pool_type", "tok") == "tok"
    )


def pool_tokens(t, pooling):
    """Pool block tokens ``(B, T, W)`` into ``(B, W)`` or ``(B, 2W)``."""
    import torch

    if pooling == "cls":
        return t[:, 0]
    if pooling == "mean":
        return t[:, 1:].mean(dim=1)
    return torch.cat([t[:, 0], t[:, 1:].mean(dim=1)], dim=1)


class _ViewDataset:
    """Map-style dataset over every (sample, view) pair of an ImageCollection."""

    def __init__(self, coll, preprocess, on_error):
        self.coll, self.preprocess, self.on_error = coll, preprocess, on_error
        self.size = None

    def __len__(self):
        return len(self.coll) * self.coll.n_views

    def __getitem__(self, k):
        import torch
        from PIL import Image

        i, v = divmod(k, self.coll.n_views)
        img, err = self.coll.load_safe(i, v, self.on_error)
        if err is not None:
            return torch.zeros(self.size), k, str(err)
        return self.preprocess(Image.fromarray(img)), k, ""


def iter_batches(coll, preprocess, image_size, *, batch_size, num_workers, on_error, verbose, desc):
    """Yield ``(flat_indices, tensor, errors)`` batches decoded by a DataLoader.

    Flat index ``k`` is sample ``k // n_views``, view ``k % n_views``. ``errors``
    holds the message of each item that failed (empty string when it loaded).
    """
    from torch.utils.data import DataLoader

    from ._torch_utils import progress

    # the preprocess resizes to image_size: very large photos may be decoded reduced
    ds = _ViewDataset(check_images(coll, reduce_to=min(image_size)), preprocess, on_error)
    ds.size = (3, *image_size)
    loader = DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        persistent_workers=False,
    )
    for x, k, errors in progress(loader, verbose, desc=desc):
        yield k.numpy(), x, list(errors)


def pool_views(feats, n, view_pooling):
    """Per-view features ``(n * n_views, d)`` into per-sample rows, by ``view_pooling``."""
    feats = feats.reshape(n, -1, feats.shape[1])
    if view_pooling == "mean":
        return feats.mean(axis=1)
    return feats.reshape(n, -1)


class CLIPTransformerBase(DefaultParamsOnLoadMixin, TransformerMixin, BaseEstimator):
    """Batched transform shared by the transformers built on a CLIP image tower.

    Subclasses (:class:`CLIPFeatureExtractor`, :class:`~skforensics.CoRITInjector`)
    set ``n_views_``, ``device_`` and ``n_features_out_`` in fit and implement:

    * ``_clip_extractor()``: the fitted :class:`CLIPFeatureExtractor` whose
      preprocessing, model and loading options run the batches;
    * ``_features_from_batch(x)``: float32 features ``(B, d)`` of a
      preprocessed batch on ``device_``;
    * ``_n_features_view()``: ``d``, the number of features of one view.

    Images are decoded by a DataLoader (``num_workers`` of the extractor),
    unreadable ones give NaN rows with ``on_error="skip"``, and multi-view
    samples are pooled by the extractor's ``view_pooling``.
    """

    _progress_desc = "CLIP features"

    def _check_n_views(self, coll, view_pooling):
        if view_pooling == "concat" and coll.n_views != self.n_views_:
            raise ValueError(
                f"X has {coll.n_views} views per sample but {type(self).__name__} was fitted "
                f"on {self.n_views_} (view_pooling='concat' needs the same number)"
            )

    def _batched_transform(self, X):
        import torch

        clip = self._clip_extractor()
        coll = check_images(X)
        self._check_n_views(coll, clip.view_pooling)
        n, n_views, d = len(coll), coll.n_views, self._n_features_view()
        feats = np.empty((n * n_views, d), dtype=np.float32)
        failed = []
        with torch.inference_mode():
            for k, x, errors in iter_batches(
                coll,
                clip.preprocess_,
                clip.image_size_,
                batch_size=self.batch_size,
                num_workers=clip.num_workers,
                on_error=clip.on_error,
                verbose=self.verbose,
                desc=self._progress_desc,
            ):
                out = self._features_from_batch(x.to(self.device_, non_blocking=True))
                feats[k] = out.cpu().numpy()
                for kk, err in zip(k, errors):
                    if err:
                        feats[kk] = np.nan
                        failed.append((int(kk) // n_views, err))
        warn_failed(failed)
        return pool_views(feats, n, clip.view_pooling)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        tags.transformer_tags.preserves_dtype = []
        return tags


class CLIPFeatureExtractor(CLIPTransformerBase):
    """Image features from an open_clip vision transformer.

    Turns images (file paths, PIL images or uint8 arrays, any size) into a
    feature matrix: the final CLIP image embedding and/or pooled token outputs
    of intermediate transformer blocks. This is the UnivFD recipe's feature
    stage (a linear probe on CLIP ViT-L/14 features) and the backbone of
    :class:`~skforensics.CoRITInjector`.

    The model is built in :meth:`fit` (which does not look at the pixels), never
    in ``__init__``, so the estimator clones cheaply and works in
    :class:`~sklearn.model_selection.GridSearchCV`.

    Parameters
    ----------
    model_name : str, default="ViT-B-32"
        open_clip architecture, or a schema id ``"hf-hub:org/repo"`` /
        ``"local-dir:/path"``. ``"skf-tiny-vit"`` is a 4-block, width-64 ViT
        shipped for tests.
    pretrained : str, path or None, default="openai"
        open_clip pretrained tag, a local checkpoint path, an ``"hf-hub:"`` id
        or None (random weights, seeded by ``random_state``). Downloading needs
        network access; without it, pass a local checkpoint.
    layers : "last", "all", int or list of (int or "last"), default="last"
        Which representations to return, concatenated in the given order:
        ``"last"`` is the final projected image embedding (what
        ``model.encode_image`` returns); an int ``b`` is the token output of
        transformer block ``b`` (negative counts from the end, ``-1`` is the
        last block, before ``ln_post``), pooled by ``pooling``. ``"all"`` is
        every block in increasing depth.
    pooling : {"cls", "mean", "cls_mean"}, default="cls"
        Pooling of block tokens: the class token, the mean of the patch
        tokens, or both concatenated. Does not affect ``"last"``.
    view_pooling : {"concat", "mean"}, default="concat"
        For multi-view input (``(n, V, H, W, 3)`` arrays, e.g. the output of
        :class:`~skforensics.MultiScaleStyleRetrospection`): concatenate the
        features of the ``V`` views (view-major) or average them.
    device : str, default="auto"
        ``"auto"`` uses CUDA when available. Resolved into ``device_`` in fit.
    batch_size : int, default=32
    precision : {"fp32", "fp16", "bf16"}, default="fp32"
        Autocast precision on CUDA (``"bf16"`` also on CPU). ``"fp16"`` on the
        CPU falls back to fp32 with a warning.
    num_workers : int, default=0
        DataLoader worker processes decoding images while the model runs.
    on_error : {"raise", "skip"}, default="raise"
        What to do with an unreadable image: raise an error naming the file and
        its index, or warn and return a row of NaN for it.
    random_state : int, RandomState or None, default=None
        Seeds the random weights when ``pretrained=None``.
    verbose : bool, default=False
        Show a progress bar over batches.

    Attributes
    ----------
    model_ : torch.nn.Module
        The image tower (``open_clip`` ``model.visual``), in eval mode.
    preprocess_ : callable
        open_clip's evaluation transform of the model: PIL image -> normalised
        tensor of shape ``(3, *image_size_)``.
    device_ : torch.device
        The device the model runs on.
    layers_ : list of (str or int)
        Resolved layers: ``"last"`` or non-negative block indices.
    n_views_ : int
        Views per sample seen in fit.
    n_features_out_ : int
        Number of output features.
    image_size_ : tuple of int
        Input resolution of the model.

    See Also
    --------
    skforensics.CoRITInjector : CLIP features with regional signal injection.

    Notes
    -----
    Pickling stores the image tower's weights as a CPU state dict; unpickling
    rebuilds the architecture without downloading anything and puts the model
    on CUDA when it is available, else on the CPU (``device_`` is updated).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skforensics import CLIPFeatureExtractor
    >>> from skforensics.datasets import load_sample_images
    >>> data = load_sample_images("cifake")
    >>> clip = CLIPFeatureExtractor("skf-tiny-vit", pretrained=None, layers=["last", -2],
    ...                             random_state=0)
    >>> clip.fit_transform(data.paths).shape
    (48, 96)
    >>> clip.get_feature_names_out()[[0, 32]]
    array(['clip_embed0', 'block2_cls0'], dtype=object)
    >>> pipe = make_pipeline(clip, LogisticRegression()).fit(data.paths, data.y)
    >>> pipe.predict_proba(data.paths[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        "model_name": [str],
        "pretrained": [str, os.PathLike, None],
        "layers": [StrOptions({"last", "all"}), Integral, list, tuple],
        "pooling": [StrOptions({"cls", "mean", "cls_mean"})],
        "view_pooling": [StrOptions({"concat", "mean"})],
        "device": DEVICE_CONSTRAINT,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "precision": [StrOptions({"fp32", "fp16", "bf16"})],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "on_error": [StrOptions({"raise", "skip"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        model_name="ViT-B-32",
        pretrained="openai",
        *,
        layers="last",
        pooling="cls",
        view_pooling="concat",
        device="auto",
        batch_size=32,
        precision="fp32",
        num_workers=0,
        on_error="raise",
        random_state=None,
        verbose=False,
    ):
        self.model_name = model_name
        self.pretrained = pretrained
        self.layers = layers
        self.pooling = pooling
        self.view_pooling = view_pooling
        self.device = device
        self.batch_size = batch_size
        self.precision = precision
        self.num_workers = num_workers
        self.on_error = on_error
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def _build(self):
        from ._torch_utils import resolve_device

        self.device_ = resolve_device(self.device)
        visual, self.preprocess_ = build_clip_visual(
            self.model_name, self.pretrained, random_state=self.random_state
        )
        self.model_ = visual.to(self.device_)
        self.image_size_ = tuple(visual.preprocess_cfg["size"])
        self.layers_ = resolve_blocks(self.layers, _n_blocks(visual), name=repr(self.model_name))
        width = visual.transformer.width
        pool_mult = 2 if self.pooling == "cls_mean" else 1
        self._dims = [
            visual.output_dim if layer == "last" else width * pool_mult for layer in self.layers_
        ]

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the CLIP model. The images are only validated, not read.

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays, or uint8 ndarray
            Images (see :mod:`skforensics._image_io`).
        y : ignored

        Returns
        -------
        self : CLIPFeatureExtractor
        """
        coll = check_images(X)
        self._build()
        self.n_views_ = coll.n_views
        d = int(sum(self._dims))
        self.n_features_out_ = d * coll.n_views if self.view_pooling == "concat" else d
        return self

    # ------------------------------------------------------------ transform
    def _autocast(self):
        import torch

        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
        if self.device_.type == "cpu" and self.precision == "fp16":
            warnings.warn("precision='fp16' is not supported on the CPU; using fp32", UserWarning)
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_.type, dtype=dtype)

    def encode(self, x, blocks=(), *, need_embed=True):
        """Run the image tower on a preprocessed batch; return its embedding and block tokens.

        Built on open_clip's ``forward_intermediates``; runs under the
        estimator's ``precision`` autocast. With ``need_embed=False`` the blocks
        after the last requested one are not run.

        Parameters
        ----------
        x : torch.Tensor of shape (B, 3, H, W)
            Images preprocessed by ``preprocess_``, on ``device_``.
        blocks : sequence of int, default=()
            Non-negative indices of the transformer blocks whose token outputs
            are wanted.
        need_embed : bool, default=True
            Whether the final (pooled, projected) CLIP embedding is needed.

        Returns
        -------
        embed : torch.Tensor of shape (B, output_dim) or None
            What ``model.encode_image`` returns; None when not ``need_embed``.
        tokens : dict of int to torch.Tensor of shape (B, T, width)
            Token outputs of each requested block, class token first.
        """
        import torch

        check_is_fitted(self, "model_")
        blocks = sorted({int(b) for b in blocks})
        with self._autocast():
            if not blocks:
                embed = self.model_(x) if need_embed else None
                if isinstance(embed, tuple):  # output_tokens=True configs
                    embed = embed[0]
                return embed, {}
            out = self.model_.forward_intermediates(
                x,
                indices=blocks,
                stop_early=not need_embed,
                intermediates_only=not need_embed,
                output_fmt="NLC",
                output_extra_tokens=True,
            )
        tokens = {
            b: torch.cat([cls, patches], dim=1)
            for b, cls, patches in zip(
                blocks, out["image_intermediates_prefix"], out["image_intermediates"]
            )
        }
        return out.get("image_features"), tokens

    def project(self, tokens):
        """Final norm, pooling and projection of block tokens into the embedding space.

        The path of the last block's tokens to the CLIP embedding, applied to
        any tokens (e.g. an intermediate block's, or a class token with a
        signal added). Runs under the estimator's ``precision`` autocast.

        Parameters
        ----------
        tokens : torch.Tensor of shape (B, T, width)
            Class token first; ``T = 1`` (the class token alone) suffices for
            models that pool the class token.

        Returns
        -------
        embed : torch.Tensor of shape (B, output_dim)
        """
        check_is_fitted(self, "model_")
        visual = self.model_
        with self._autocast():
            if pools_class_token(visual):  # layer norm acts per token: norm the class token
                pooled = visual.ln_post(tokens[:, 0])
            else:  # average or attentional pooling: open_clip's own pooling
                pooled, _ = visual._pool(tokens)
            if visual.proj is not None:
                pooled = pooled @ visual.proj
        return pooled

    def model_view(self, image):
        """One image as the model sees it: resized, cropped, un-normalised, uint8.

        Parameters
        ----------
        image : path, PIL image or uint8 array
            The image.

        Returns
        -------
        view : ndarray of shape (H, W, 3), dtype uint8
            ``H, W`` is ``image_size_``.
        """
        from PIL import Image

        from ._image_io import load_image

        check_is_fitted(self, "model_")
        x = self.preprocess_(Image.fromarray(load_image(image))).float().numpy()  # (3, H, W)
        cfg = self.model_.preprocess_cfg
        mean = np.asarray(cfg.get("mean", (0.0, 0.0, 0.0)), dtype=np.float32)[:, None, None]
        std = np.asarray(cfg.get("std", (1.0, 1.0, 1.0)), dtype=np.float32)[:, None, None]
        x = np.clip((x * std + mean) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return x.transpose(1, 2, 0)

    def _clip_extractor(self):
        return self

    def _n_features_view(self):
        return int(sum(self._dims))

    def _features_from_batch(self, x):
        """Features ``(B, sum(dims))`` of a preprocessed batch, as float32 tensor."""
        import torch

        blocks = [layer for layer in self.layers_ if layer != "last"]
        embed, tokens = self.encode(x, blocks, need_embed="last" in self.layers_)
        parts = [
            embed if layer == "last" else pool_tokens(tokens[layer], self.pooling)
            for layer in self.layers_
        ]
        return torch.cat([p.float() for p in parts], dim=1)

    def transform(self, X):
        """Compute CLIP features.

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays, or uint8 ndarray
            Images; multi-view samples are pooled by ``view_pooling``.

        Returns
        -------
        features : ndarray of shape (n_samples, ``n_features_out_``), dtype float32
            Rows of images that failed to load with ``on_error="skip"`` are NaN.
        """
        check_is_fitted(self, "model_")
        return self._batched_transform(X)

    def get_feature_names_out(self, input_features=None):
        """Feature names: ``clip_embed{k}``, ``block{b}_{pooling}{k}``, view-prefixed.

        Parameters
        ----------
        input_features : None
            Ignored (the names come from the fitted model).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "model_")
        names = []
        for layer, dim in zip(self.layers_, self._dims):
            prefix = "clip_embed" if layer == "last" else f"block{layer}_{self.pooling}"
            names += [f"{prefix}{k}" for k in range(dim)]
        if self.view_pooling == "concat" and self.n_views_ > 1:
            names = view_feature_names(names, self.n_views_)
        return np.asarray(names, dtype=object)

    # ----------------------------------------------------------- pickling
    def __getstate__(self):
        state = self.__dict__.copy()
        model = state.pop("model_", None)
        state.pop("preprocess_", None)
        if model is not None:
            from ._persistence import pack_tensors  # safetensors in skforensics.save

            state["_model_state"] = pack_tensors(model.state_dict())
        return state

    def __setstate__(self, state):
        model_state = state.pop("_model_state", None)
        super().__setstate__(state)  # new parameters get their defaults
        if model_state is not None:
            from ._persistence import unpack_tensors
            from ._torch_utils import load_device

            visual, self.preprocess_ = build_clip_visual(
                self.model_name, self.pretrained, load_weights=False
            )
            visual.load_state_dict(unpack_tensors(model_state))
            dev = self.device_
            if dev.type != "cpu" and load_device().type == "cpu":
                dev = load_device()
            self.device_ = dev
            self.model_ = visual.to(dev)
