"""CLIP image features (open_clip) as a scikit-learn transformer."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._image_io import check_images, view_feature_names, warn_failed

__all__ = ["CLIPFeatureExtractor", "build_clip_visual"]

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
        why = (" The Hugging Face hub cannot be reached from this machine and the weights "
               "are not in the local cache." if offline else "")
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


def encode_batch(visual, x, blocks=(), need_embed=True):
    """Run the image tower on a batch and capture intermediate block outputs.

    Parameters
    ----------
    visual : torch.nn.Module
        An open_clip ``VisionTransformer``.
    x : torch.Tensor of shape (B, 3, S, S)
    blocks : sequence of int
        Non-negative indices into ``visual.transformer.resblocks``.
    need_embed : bool
        Whether the final (projected) embedding is needed.

    Returns
    -------
    embed : torch.Tensor of shape (B, D) or None
    tokens : dict int -> torch.Tensor of shape (B, T, W)
        Token outputs of each requested block, batch first (class token first).
    """
    tokens, handles = {}, []
    batch_first = getattr(visual.transformer, "batch_first", True)

    class _Stop(Exception):
        pass

    last_needed = max(blocks) if blocks else -1

    def make_hook(b):
        def hook(module, inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            tokens[b] = out if batch_first else out.transpose(0, 1)
            if not need_embed and b == last_needed:
                raise _Stop  # later blocks are not needed

        return hook

    resblocks = visual.transformer.resblocks
    for b in sorted(set(blocks)):
        handles.append(resblocks[b].register_forward_hook(make_hook(b)))
    embed = None
    try:
        embed = visual(x)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    if isinstance(embed, tuple):  # output_tokens=True configs
        embed = embed[0]
    return embed, tokens


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


def iter_batches(coll, preprocess, image_size, batch_size, num_workers, on_error, verbose, desc):
    """Yield ``(flat_indices, tensor, errors)`` batches decoded by a DataLoader.

    Flat index ``k`` is sample ``k // n_views``, view ``k % n_views``. ``errors``
    holds the message of each item that failed (empty string when it loaded).
    """
    from torch.utils.data import DataLoader

    from ._torch_utils import progress

    ds = _ViewDataset(coll, preprocess, on_error)
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


class CLIPFeatureExtractor(TransformerMixin, BaseEstimator):
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
        "device": [str, object],
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
    def _resolve_layers(self, n_blocks):
        layers = self.layers
        if isinstance(layers, str):
            return ["last"] if layers == "last" else list(range(n_blocks))
        if isinstance(layers, Integral):
            layers = [layers]
        if len(layers) == 0:
            raise ValueError("layers must not be empty")
        out = []
        for layer in layers:
            if isinstance(layer, str):
                if layer != "last":
                    raise ValueError(f"layers entries must be ints or 'last', got {layer!r}")
                out.append("last")
            elif isinstance(layer, Integral) and not isinstance(layer, bool):
                b = int(layer)
                if not -n_blocks <= b < n_blocks:
                    raise ValueError(
                        f"layer {b} is out of range for {self.model_name!r}, which has "
                        f"{n_blocks} transformer blocks (valid: {-n_blocks}..{n_blocks - 1})"
                    )
                out.append(b % n_blocks)
            else:
                raise ValueError(f"layers entries must be ints or 'last', got {layer!r}")
        if len(set(out)) != len(out):
            raise ValueError(f"layers {self.layers!r} names the same layer twice")
        return out

    def _build(self):
        from ._torch_utils import resolve_device

        self.device_ = resolve_device(self.device)
        visual, self._preprocess = build_clip_visual(
            self.model_name, self.pretrained, random_state=self.random_state
        )
        self.model_ = visual.to(self.device_)
        self.image_size_ = tuple(visual.preprocess_cfg["size"])
        self.layers_ = self._resolve_layers(_n_blocks(visual))
        width = visual.transformer.width
        pool_mult = 2 if self.pooling == "cls_mean" else 1
        self._dims = [
            visual.output_dim if layer == "last" else width * pool_mult for layer in self.layers_
        ]

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
        self._validate_params()
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

    def _features_from_batch(self, x):
        """Features ``(B, sum(dims))`` of a preprocessed batch, as float32 tensor."""
        import torch

        blocks = [layer for layer in self.layers_ if layer != "last"]
        need_embed = "last" in self.layers_
        with self._autocast():
            embed, tokens = encode_batch(self.model_, x, blocks, need_embed)
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
        import torch

        check_is_fitted(self, "model_")
        coll = check_images(X)
        if self.view_pooling == "concat" and coll.n_views != self.n_views_:
            raise ValueError(
                f"X has {coll.n_views} views per sample but the extractor was fitted on "
                f"{self.n_views_} (view_pooling='concat' needs the same number)"
            )
        n, n_views = len(coll), coll.n_views
        d = int(sum(self._dims))
        feats = np.empty((n * n_views, d), dtype=np.float32)
        failed = []
        with torch.inference_mode():
            for k, x, errors in iter_batches(
                coll, self._preprocess, self.image_size_, self.batch_size, self.num_workers,
                self.on_error, self.verbose, "CLIP features",
            ):
                out = self._features_from_batch(x.to(self.device_, non_blocking=True))
                feats[k] = out.cpu().numpy()
                for kk, err in zip(k, errors):
                    if err:
                        feats[kk] = np.nan
                        failed.append((int(kk) // n_views, err))
        warn_failed(failed)
        feats = feats.reshape(n, n_views, d)
        if self.view_pooling == "mean":
            return feats.mean(axis=1)
        return feats.reshape(n, n_views * d)

    def get_feature_names_out(self, input_features=None):
        """Feature names: ``clip_embed{k}``, ``block{b}_{pooling}{k}``, view-prefixed.

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
        state.pop("_preprocess", None)
        if model is not None:
            from ._torch_utils import state_dict_to_bytes

            state["_model_state"] = state_dict_to_bytes(model)
        return state

    def __setstate__(self, state):
        model_state = state.pop("_model_state", None)
        self.__dict__.update(state)
        if model_state is not None:
            from ._torch_utils import bytes_to_state_dict, load_device

            visual, self._preprocess = build_clip_visual(
                self.model_name, self.pretrained, load_weights=False
            )
            visual.load_state_dict(bytes_to_state_dict(model_state))
            dev = self.device_
            if dev.type != "cpu" and load_device().type == "cpu":
                dev = load_device()
            self.device_ = dev
            self.model_ = visual.to(dev)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        tags.transformer_tags.preserves_dtype = []
        return tags
