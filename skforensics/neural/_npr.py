"""NPR-style residual network and the crop helpers of crop-based training and scoring.

Our reading of NPR (Tan, Liu, Zhao, Wei, Gu, Wei; "Rethinking the Up-Sampling
Operations in CNN-based Generative Network for Generalizable Deepfake
Detection", CVPR 2024): generators end with up-sampling layers, which make
the pixels of each small neighbourhood correlated in a way camera images are
not. NPR exposes it with the *neighbouring pixel relationships* residual
``x - up(down(x))`` (nearest-neighbour down- and up-sampling by 2: every pixel
minus the top-left pixel of its 2x2 block) and feeds that residual, instead of
the image, to a truncated ResNet. The paper uses the first two stages of a
ResNet-50 on 224x224 crops; here the network is a small ResNet (stem, two
residual stages, global average pooling) sized to train on a CPU.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from torch import nn
from torch.nn import functional as F

from .._compat import HasMethods, Interval, validate_params

__all__ = ["NPRNet", "grid_crop_boxes", "random_crops"]


def npr_residual_torch(x, factor=2):
    """``x - up(down(x))`` with nearest-neighbour resampling by ``factor`` (NCHW)."""
    h, w = x.shape[-2:]
    hh, ww = h - h % factor, w - w % factor
    x = x[..., :hh, :ww]
    down = x[..., ::factor, ::factor]
    return x - down.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


class _BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class NPRNet(nn.Module):
    """Small ResNet on the neighbouring-pixel residual (NPR, Tan et al., CVPR 2024).

    Input: images as float ``(n, 3, H, W)`` in [0, 1] (what
    :class:`~skforensics.neural.SAMNetClassifier` gives image modules); H and W
    even. The residual ``x - up(down(x))`` goes through a stride-2 stem, two
    residual stages (each halving the resolution) and global average pooling,
    so any crop size works. Train it on crops
    (``SAMNetClassifier(NPRNet, crop_size=64)``), never on resized images:
    resizing erases the up-sampling traces it reads.

    Parameters
    ----------
    n_classes : int, default=2
        Number of outputs (filled in by SAMNetClassifier).
    width : int, default=16
        Channels of the stem; the stages have 2x and 4x as many.
    residual_gain : float, default=6.0
        The residual is multiplied by this before the stem (it is small: a few
        grey levels), as NPR's ``2/3`` scaling of an image in [-1, 1] does.
    dropout : float, default=0.0
        Dropout before the linear read-out.

    Examples
    --------
    >>> import torch
    >>> from skforensics.neural import NPRNet
    >>> NPRNet(width=4)(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 2])
    """

    input_kind = "images"

    def __init__(self, n_classes=2, width=16, residual_gain=6.0, dropout=0.0):
        super().__init__()
        self.residual_gain = float(residual_gain)
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.stage1 = _BasicBlock(width, 2 * width, 2)
        self.stage2 = _BasicBlock(2 * width, 4 * width, 2)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(4 * width, n_classes)

    def forward(self, x, return_features=False):
        r = npr_residual_torch(x) * self.residual_gain
        f = self.stage2(self.stage1(self.stem(r))).mean(dim=(2, 3))
        logits = self.fc(self.dropout(f))
        return (logits, f) if return_features else logits


def _pad_to(img, size):
    """Reflect-pad an image smaller than ``size`` on a side (centred)."""
    h, w = img.shape[:2]
    ph, pw = max(size - h, 0), max(size - w, 0)
    if not (ph or pw):
        return img
    return np.pad(img, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="reflect")


_POSITIVE = Interval(Integral, 1, None, closed="left")


@validate_params(
    {"height": [_POSITIVE], "width": [_POSITIVE], "size": [_POSITIVE], "max_crops": [_POSITIVE]},
    prefer_skip_nested_validation=True,
)
def grid_crop_boxes(height, width, size, max_crops):
    """Top-left corners of an even grid of ``size`` crops over an image.

    The grid covers the image (``ceil(H/size) x ceil(W/size)`` crops) when that
    is at most ``max_crops``, else it is thinned to an evenly spaced ``k x k``
    grid; corners are multiples of 8 so that up-sampling and JPEG grids stay
    aligned.

    Parameters
    ----------
    height : int
        Height of the image, in pixels.
    width : int
        Width of the image, in pixels.
    size : int
        Side of the square crops. On a side where the image is not larger than
        ``size``, the only corner is 0 (the crop is the whole side).
    max_crops : int
        Largest number of crops; the grid is thinned to stay within it.

    Returns
    -------
    boxes : list of (top, left)

    Examples
    --------
    >>> from skforensics.neural import grid_crop_boxes
    >>> grid_crop_boxes(128, 128, 64, 9)
    [(0, 0), (0, 64), (64, 0), (64, 64)]
    """
    return _grid_crop_boxes(height, width, size, max_crops)


def _grid_crop_boxes(height, width, size, max_crops):
    # unvalidated: grid_crops calls it once per image scored

    def positions(n_pix, k):
        if n_pix <= size:
            return [0]
        last = (n_pix - size) // 8 * 8
        return sorted({int(round(p / 8)) * 8 for p in np.linspace(0, last, k)})

    ny, nx = -(-height // size), -(-width // size)
    while ny * nx > max_crops and (ny > 1 or nx > 1):
        if ny >= nx:
            ny -= 1
        else:
            nx -= 1
    return [(top, left) for top in positions(height, ny) for left in positions(width, nx)]


def grid_crops(images, size, max_crops):
    """Crops of every image on its grid, and the image index of each crop.

    An image smaller than ``size`` on a side is scored whole on that side (the
    network pools globally), not padded. An image that fits in one crop is
    scored as its four flips (identity, left-right, up-down, both): one small
    crop gives a noisy score, and the flips average it.

    Returns
    -------
    crops : list of ndarray
        uint8 crops; their shapes differ only where images were small.
    owner : ndarray of int
        The image each crop comes from.
    """
    crops, owner = [], []
    for i, img in enumerate(images):
        if img.shape[0] <= size and img.shape[1] <= size:
            views = [img, img[:, ::-1], img[::-1], img[::-1, ::-1]]
            crops += [np.ascontiguousarray(v) for v in views]
            owner += [i] * len(views)
            continue
        for top, left in _grid_crop_boxes(img.shape[0], img.shape[1], size, max_crops):
            crops.append(img[top : top + size, left : left + size])
            owner.append(i)
    return crops, np.asarray(owner)


def group_by_shape(arrays):
    """``{shape: indices}`` of a list of arrays, so each group stacks into one batch."""
    groups = {}
    for i, a in enumerate(arrays):
        groups.setdefault(a.shape, []).append(i)
    return {k: np.asarray(v) for k, v in groups.items()}


@validate_params(
    {
        "images": ["array-like"],
        "size": [_POSITIVE],
        "n_per_image": [_POSITIVE],
        "rng": [HasMethods(["integers"])],
    },
    prefer_skip_nested_validation=True,
)
def random_crops(images, size, n_per_image, rng):
    """``n_per_image`` random ``size`` crops of each image (corners on multiples of 8).

    Parameters
    ----------
    images : list of ndarray or ndarray
        ``(H, W, C)`` images; sizes may differ. An image smaller than ``size``
        on a side is first reflect-padded (centred) to ``size``.
    size : int
        Side of the square crops.
    n_per_image : int
        Number of crops drawn from each image.
    rng : numpy.random.Generator
        Source of the crop positions (``rng.integers``).

    Returns
    -------
    crops : ndarray of shape (len(images) * n_per_image, size, size, C)
        The crops of the first image, then those of the second, and so on.

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics.neural import random_crops
    >>> imgs = [np.zeros((80, 96, 3), np.uint8)]
    >>> random_crops(imgs, 32, 3, np.random.default_rng(0)).shape
    (3, 32, 32, 3)
    """
    out = []
    for img in images:
        img = _pad_to(img, size)
        h, w = img.shape[:2]
        for _ in range(n_per_image):
            top = int(rng.integers(0, (h - size) // 8 + 1)) * 8
            left = int(rng.integers(0, (w - size) // 8 + 1)) * 8
            out.append(img[top : top + size, left : left + size])
    return np.stack(out)


def mean_by_owner(values, owner, n):
    """Mean of the rows of ``values`` belonging to each of ``n`` owners."""
    sums = np.zeros((n,) + values.shape[1:], dtype=np.float64)
    np.add.at(sums, owner, values)
    counts = np.bincount(owner, minlength=n).reshape((n,) + (1,) * (values.ndim - 1))
    return sums / np.maximum(counts, 1)
