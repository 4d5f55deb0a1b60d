"""Ready-made torch modules for :class:`~skforensics.neural.SAMNetClassifier`.

Every module returns class logits from ``forward(x)``, and ``(logits,
features)`` from ``forward(x, return_features=True)`` (used by
:class:`~skforensics.neural.FeatureAlignmentLoss`). ``input_kind`` tells the
classifier whether the module takes feature matrices (``"features"``, float
``(n, d)``) or images (``"images"``, float ``(n, 3, H, W)`` in ``[0, 1]``).
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

__all__ = ["LinearProbe", "MLPHead", "SmallForensicCNN", "CLIPFineTuneHead"]


def _check_int(name, value, low=1):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_dropout(dropout):
    if not isinstance(dropout, numbers.Real) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    return float(dropout)


class LinearProbe(nn.Module):
    """A linear classifier on feature vectors (logistic regression as a module).

    Parameters
    ----------
    n_features : int
        Input dimension (filled in by :class:`SAMNetClassifier` from ``X``).
    n_classes : int, default=2
        Number of classes (filled in from ``y``).

    Examples
    --------
    >>> import torch
    >>> from skforensics.neural import LinearProbe
    >>> LinearProbe(8)(torch.zeros(3, 8)).shape
    torch.Size([3, 2])
    """

    input_kind = "features"

    def __init__(self, n_features, n_classes=2):
        super().__init__()
        self.n_features = _check_int("n_features", n_features)
        self.n_classes = _check_int("n_classes", n_classes, 2)
        self.linear = nn.Linear(self.n_features, self.n_classes)

    def forward(self, x, return_features=False):
        logits = self.linear(x)
        return (logits, x) if return_features else logits


class MLPHead(nn.Module):
    """A multi-layer perceptron on feature vectors.

    Parameters
    ----------
    n_features : int
        Input dimension (filled in from ``X``).
    n_classes : int, default=2
        Number of classes (filled in from ``y``).
    hidden_sizes : tuple of int, default=(256,)
        Widths of the hidden layers (LayerNorm + GELU after each).
    dropout : float, default=0.1
        Dropout before every linear layer after the first.

    Examples
    --------
    >>> import torch
    >>> from skforensics.neural import MLPHead
    >>> MLPHead(8, hidden_sizes=(16, 4))(torch.zeros(3, 8)).shape
    torch.Size([3, 2])
    """

    input_kind = "features"

    def __init__(self, n_features, n_classes=2, hidden_sizes=(256,), dropout=0.1):
        super().__init__()
        self.n_features = _check_int("n_features", n_features)
        self.n_classes = _check_int("n_classes", n_classes, 2)
        hidden_sizes = tuple(hidden_sizes)
        for h in hidden_sizes:
            _check_int("hidden_sizes items", h)
        dropout = _check_dropout(dropout)
        layers, d = [], self.n_features
        for i, h in enumerate(hidden_sizes):
            if i > 0 and dropout:
                layers.append(nn.Dropout(dropout))
            layers += [nn.Linear(d, h), nn.LayerNorm(h), nn.GELU()]
            d = h
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.out = nn.Linear(d, self.n_classes)

    def forward(self, x, return_features=False):
        f = self.body(x)
        logits = self.out(self.dropout(f))
        return (logits, f) if return_features else logits


class SmallForensicCNN(nn.Module):
    """A small CNN trained from scratch on raw pixels.

    One 3x3 conv + BatchNorm + ReLU per stage, 2x2 max pooling between
    stages, then global average pooling, dropout and a linear layer. The first
    stage sees the full resolution, so the high-frequency traces of
    generators are filtered before any pooling. Sized for small images
    (CIFAKE's 32x32: four stages end at 4x4); any size works thanks to the
    global pooling. Convolutions run in channels-last layout, faster on CPUs.

    Parameters
    ----------
    n_classes : int, default=2
        Number of classes (filled in from ``y``).
    widths : tuple of int, default=(32, 64, 128, 128)
        Channels of each stage.
    dropout : float, default=0.1
        Dropout before the classifier.

    Examples
    --------
    >>> import torch
    >>> from skforensics.neural import SmallForensicCNN
    >>> SmallForensicCNN(widths=(8, 16))(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 2])
    """

    input_kind = "images"

    def __init__(self, n_classes=2, widths=(32, 64, 128, 128), dropout=0.1):
        super().__init__()
        self.n_classes = _check_int("n_classes", n_classes, 2)
        widths = tuple(widths)
        if not widths:
            raise ValueError("widths must hold at least one stage width")
        for w in widths:
            _check_int("widths items", w)
        dropout = _check_dropout(dropout)
        layers, cin = [], 3
        for s, cout in enumerate(widths):
            if s > 0:
                layers.append(nn.MaxPool2d(2))
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.out = nn.Linear(cin, self.n_classes)
        self.to(memory_format=torch.channels_last)

    def forward(self, x, return_features=False):
        # images from SAMNetClassifier are channels-last already (NHWC uint8 permuted)
        x = (x - 0.5) * 4.0
        f = self.pool(self.features(x)).flatten(1)
        logits = self.out(self.dropout(f))
        return (logits, f) if return_features else logits


class CLIPFineTuneHead(nn.Module):
    """Fine-tune the last blocks of an open_clip ViT image tower, plus a linear head.

    The tower is built with the same settings as
    :class:`~skforensics.CLIPFeatureExtractor` (``model_name``,
    ``pretrained``); every parameter is frozen except those of the last
    ``n_trainable_blocks`` residual blocks, the final LayerNorm and
    projection, and the new linear head. Images (float ``(n, 3, H, W)`` in
    ``[0, 1]``) are resized to the tower's input size (bicubic) and normalised
    with the tower's mean and std.

    Parameters
    ----------
    model_name : str, default="ViT-B-32"
        open_clip architecture, as in ``CLIPFeatureExtractor``.
    pretrained : str or None, default="openai"
        open_clip pretrained tag or checkpoint, as in ``CLIPFeatureExtractor``.
    n_trainable_blocks : int, default=1
        How many of the last transformer blocks are fine-tuned (0: only the
        head, the final LayerNorm and projection).
    n_classes : int, default=2
        Number of classes (filled in from ``y``).
    random_state : int or None, default=None
        Seeds the random initialisation of the tower when ``pretrained`` is None.

    Notes
    -----
    To mirror a fitted or configured extractor ``ext``, pass
    ``module__model_name=ext.model_name, module__pretrained=ext.pretrained``
    to :class:`SAMNetClassifier`.

    Examples
    --------
    >>> import torch
    >>> from skforensics.neural import CLIPFineTuneHead
    >>> head = CLIPFineTuneHead("skf-tiny-vit", pretrained=None, random_state=0)
    >>> head(torch.rand(2, 3, 48, 48)).shape
    torch.Size([2, 2])
    """

    input_kind = "images"

    def __init__(
        self,
        model_name="ViT-B-32",
        pretrained="openai",
        n_trainable_blocks=1,
        n_classes=2,
        random_state=None,
    ):
        super().__init__()
        from .._clip import build_clip_visual

        self.n_classes = _check_int("n_classes", n_classes, 2)
        n_trainable_blocks = _check_int("n_trainable_blocks", n_trainable_blocks, 0)
        visual, _ = build_clip_visual(model_name, pretrained, random_state=random_state)
        blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
        if blocks is None:
            raise ValueError(
                f"model {model_name!r} has no ViT image tower (visual.transformer.resblocks); "
                "CLIPFineTuneHead supports open_clip ViTs only"
            )
        if n_trainable_blocks > len(blocks):
            raise ValueError(
                f"n_trainable_blocks={n_trainable_blocks} but {model_name!r} has only "
                f"{len(blocks)} blocks"
            )
        for p in visual.parameters():
            p.requires_grad_(False)
        trainable = list(blocks[len(blocks) - n_trainable_blocks :]) if n_trainable_blocks else []
        for name in ("ln_post",):
            if hasattr(visual, name):
                trainable.append(getattr(visual, name))
        for m in trainable:
            for p in m.parameters():
                p.requires_grad_(True)
        if isinstance(getattr(visual, "proj", None), nn.Parameter):
            visual.proj.requires_grad_(True)
        self.visual = visual
        size = getattr(visual, "image_size", 224)
        self.image_size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        mean = getattr(visual, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073)
        std = getattr(visual, "image_std", None) or (0.26862954, 0.26130258, 0.27577711)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        out_dim = getattr(visual, "output_dim", None)
        if out_dim is None:
            with torch.no_grad():
                out_dim = visual(torch.zeros(1, 3, *self.image_size)).shape[-1]
        self.out = nn.Linear(out_dim, self.n_classes)

    def forward(self, x, return_features=False):
        if tuple(x.shape[-2:]) != self.image_size:
            x = nn.functional.interpolate(
                x, size=self.image_size, mode="bicubic", align_corners=False, antialias=True
            ).clamp_(0.0, 1.0)
        x = (x - self.mean) / self.std
        f = self.visual(x)
        if isinstance(f, (tuple, list)):
            f = f[0]
        logits = self.out(f)
        return (logits, f) if return_features else logits
