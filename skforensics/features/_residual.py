"""Neighbouring-pixel residual statistics (NPR / SPAM style), weight-free."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from .._compat import Interval, validate_params
from ._base import ImageFeatureExtractorBase, ycbcr

__all__ = ["ResidualFeatureExtractor"]

_GROUPS = ("npr", "cooccurrence", "chroma")
_NPR_RANGE = 8  # NPR residual histogram: integer bins -8 .. 8
_N_COLOR_HIST = 16


def _npr_residual(plane):
    h, w = plane.shape
    h2, w2 = h - h % 2, w - w % 2
    p = plane[:h2, :w2]
    anchor = np.repeat(np.repeat(p[::2, ::2], 2, axis=0), 2, axis=1)
    return p - anchor


@validate_params(
    {"plane": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def npr_residual(plane):
    """Nearest-neighbour up-sampling residual of one plane (Tan et al., CVPR 2024).

    ``x - up2(x[::2, ::2])``: every pixel minus the top-left pixel of its 2x2
    block. Generators whose decoders up-sample by 2 leave correlated pixel
    neighbourhoods that change the distribution of this residual.

    Parameters
    ----------
    plane : array-like of shape (H, W)
        One image channel.

    Returns
    -------
    residual : ndarray of shape (H - H % 2, W - W % 2)
        Zero at the anchor pixel of every 2x2 block.

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics.features import npr_residual
    >>> npr_residual(np.arange(16.0).reshape(4, 4))[:2]
    array([[0., 1., 0., 1.],
           [4., 5., 4., 5.]])
    """
    return _npr_residual(np.asarray(plane))


def _npr_stats_rgb(img):
    """Moments and log-histogram of the NPR residual of the three RGB channels.

    The residual is an integer in [-255, 255]; its exact histogram is counted
    once per channel and every statistic is derived from it.
    """
    h, w = img.shape[:2]
    p = img[: h - h % 2, : w - w % 2].astype(np.int32)
    hh, ww = p.shape[0] // 2, p.shape[1] // 2
    r = p.reshape(hh, 2, ww, 2, 3) - p[::2, ::2].reshape(hh, 1, ww, 1, 3)
    r += 255 + 511 * np.arange(3, dtype=np.int32)
    counts = np.bincount(r.ravel(), minlength=3 * 511).reshape(3, 511).astype(np.float64)
    prob = counts / counts.sum(axis=1, keepdims=True)
    v = np.arange(-255, 256, dtype=np.float64)
    mean = prob @ v
    mad = prob @ np.abs(v)
    var = prob @ (v**2) - mean**2
    kurt = (prob @ (v**4)) / (var**2 + 1e-6)
    lo = 255 - _NPR_RANGE
    hist = prob[:, lo : lo + 2 * _NPR_RANGE + 1].copy()
    hist[:, 0] += prob[:, :lo].sum(axis=1)  # clipped tails
    hist[:, -1] += prob[:, lo + 2 * _NPR_RANGE + 1 :].sum(axis=1)
    stats = np.column_stack([mad, np.sqrt(np.maximum(var, 0)), kurt, np.log(hist + 1e-6)])
    return stats.ravel()


def _cooccurrence(plane, truncation):
    t = truncation
    n = 2 * t + 1
    out = []
    for axis in (0, 1):
        d = np.clip(np.rint(np.diff(plane, axis=axis)), -t, t).astype(np.intp) + t
        if axis == 0:
            a, b, c = d[:-2], d[1:-1], d[2:]
        else:
            a, b, c = d[:, :-2], d[:, 1:-1], d[:, 2:]
        h = np.bincount(((a * n + b) * n + c).ravel(), minlength=n**3).astype(np.float64)
        out.append(h / max(h.sum(), 1.0))
    return np.concatenate(out)


@validate_params(
    {"plane": ["array-like"], "truncation": [Interval(Integral, 1, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def cooccurrence(plane, truncation):
    """Normalised co-occurrences of three consecutive truncated first differences.

    SPAM-style (Pevny et al., 2010): the difference ``x[k+1] - x[k]`` is rounded,
    clipped to ``[-T, T]`` and the joint histogram of three consecutive
    differences is taken, along rows and along columns; ``2 (2T+1)^3`` values.

    Parameters
    ----------
    plane : array-like of shape (H, W)
        One image channel (pixel units: differences are rounded to integers).
    truncation : int >= 1
        ``T``: differences are clipped to ``[-T, T]``.

    Returns
    -------
    histogram : ndarray of shape (2 * (2 * truncation + 1) ** 3,)
        Row then column co-occurrences, each summing to 1.

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics.features import cooccurrence
    >>> h = cooccurrence(np.random.RandomState(0).randint(0, 256, (16, 16)), truncation=1)
    >>> h.shape, float(h.sum())
    ((54,), 2.0)
    """
    return _cooccurrence(np.asarray(plane, dtype=np.float64), truncation)


def _color_stats(img, y, cb, cr):
    r, g, b = img[:, :, 0], img[:, :, 1], img[:, :, 2]
    mx, mn = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    sat = (mx.astype(np.float32) - mn) / (mx + np.float32(1.0))
    moments = [cb.mean(), cb.std(), cr.mean(), cr.std(), y.std(), sat.mean(), sat.std()]
    k = _N_COLOR_HIST
    hs = np.bincount(np.minimum((sat * k).astype(np.intp), k - 1).ravel(), minlength=k)
    hy = np.bincount(np.clip((y * (k / 256.0)).astype(np.intp), 0, k - 1).ravel(), minlength=k)
    return np.concatenate([moments, hs / sat.size, hy / y.size])


class ResidualFeatureExtractor(ImageFeatureExtractorBase):
    """Statistics of neighbouring-pixel residuals (weight-free, NPR / SPAM style).

    Generative models synthesise pixels with up-sampling decoders and
    denoisers that leave local correlations different from those of a camera
    pipeline. This extractor measures them with three groups of statistics:

    ``"npr"``
        Neighbouring Pixel Relationships (Tan et al., CVPR 2024): the residual
        ``x - up2(x[::2, ::2])`` of nearest-neighbour 2x down/up-sampling, per
        RGB channel: mean absolute value, standard deviation, kurtosis and a
        17-bin log-histogram of the integer residual (60 features).
    ``"cooccurrence"``
        High-pass residual co-occurrences (SPAM, Pevny et al. 2010) on the luma:
        the first-order difference is rounded, clipped to ``[-truncation,
        truncation]`` and the joint histogram of three consecutive differences
        is taken along rows and along columns (``2 (2T+1)^3`` features, 250 for
        ``T=2``).
    ``"chroma"``
        The same co-occurrences on the Cb and Cr planes with ``T=1``
        (``4 * 27`` features) plus 39 colour statistics (Cb/Cr/luma moments,
        saturation and luma histograms): diffusion models reproduce colour
        noise and saturation differently from cameras.

    Pure numpy, vectorised: about 40 ms per 512x512 image.

    Parameters
    ----------
    groups : tuple of str, default=("npr", "cooccurrence", "chroma")
        Which feature groups to compute, any non-empty subset, in this order.
    truncation : int, default=2
        Clipping threshold ``T`` of the luma co-occurrences.
    max_size : int or None, default=512
        Images larger than ``max_size`` on a side are centre-cropped to at most
        ``max_size x max_size`` (never resampled). ``None``: whole image.
    on_error : {"raise", "skip"}, default="raise"
        Unreadable images raise :class:`~skforensics.ImageLoadError`, or get NaN
        rows and a warning.
    n_jobs : int or None, default=None
        Threads for decoding and computing (``-1``: all CPUs).
    verbose : bool or int, default=False
        Show a progress bar.

    Attributes
    ----------
    n_views_ : int
        Number of views per sample seen in :meth:`fit`.
    n_features_out_ : int
        Number of output features.

    See Also
    --------
    SpectralFeatureExtractor : frequency-domain features; complementary.

    References
    ----------
    C. Tan et al. "Rethinking the Up-Sampling Operations in CNN-based
    Generative Network for Generalizable Deepfake Detection." CVPR 2024.
    T. Pevny, P. Bas, J. Fridrich. "Steganalysis by Subtractive Pixel Adjacency
    Matrix." IEEE TIFS 2010.

    Examples
    --------
    >>> from skforensics.datasets import load_sample_images
    >>> from skforensics.features import ResidualFeatureExtractor
    >>> data = load_sample_images("cifake")
    >>> res = ResidualFeatureExtractor(groups=("npr",)).fit(data.paths)
    >>> res.transform(data.paths).shape
    (48, 60)
    >>> ResidualFeatureExtractor().fit(data.paths).n_features_out_
    457
    """

    _parameter_constraints: dict = {
        **ImageFeatureExtractorBase._parameter_constraints,
        "groups": [tuple, list],
        "truncation": [Interval(Integral, 1, 10, closed="both")],
    }

    def __init__(
        self,
        groups=_GROUPS,
        *,
        truncation=2,
        max_size=512,
        on_error="raise",
        n_jobs=None,
        verbose=False,
    ):
        self.groups = groups
        self.truncation = truncation
        self.max_size = max_size
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_extra_params(self):
        groups = list(self.groups)
        bad = [g for g in groups if g not in _GROUPS]
        if not groups or bad or len(set(groups)) != len(groups):
            raise ValueError(
                f"groups must be a non-empty subset of {_GROUPS} without repeats, got "
                f"{self.groups!r}"
            )

    def _sizes(self):
        n = 2 * self.truncation + 1
        return {
            "npr": 3 * (3 + 2 * _NPR_RANGE + 1),
            "cooccurrence": 2 * n**3,
            "chroma": 4 * 27 + 7 + 2 * _N_COLOR_HIST,
        }

    def _ordered_groups(self):
        return [g for g in _GROUPS if g in self.groups]

    def _n_features_one(self):
        sizes = self._sizes()
        return sum(sizes[g] for g in self._ordered_groups())

    def _names_one(self):
        names = []
        for g in self._ordered_groups():
            if g == "npr":
                for c in "RGB":
                    names += [f"npr_{c}_{s}" for s in ("mad", "std", "kurtosis")]
                    names += [f"npr_{c}_hist{k:+d}" for k in range(-_NPR_RANGE, _NPR_RANGE + 1)]
            elif g == "cooccurrence":
                m = 2 * self.truncation + 1
                names += [
                    f"cooc_{ax}_{k}" for ax in ("vertical", "horizontal") for k in range(m**3)
                ]
            else:
                names += [
                    f"chroma_cooc_{p}_{ax}_{k}"
                    for p in ("Cb", "Cr")
                    for ax in ("vertical", "horizontal")
                    for k in range(27)
                ]
                names += ["Cb_mean", "Cb_std", "Cr_mean", "Cr_std", "Y_std", "sat_mean", "sat_std"]
                names += [f"sat_hist{k}" for k in range(_N_COLOR_HIST)]
                names += [f"Y_hist{k}" for k in range(_N_COLOR_HIST)]
        return names

    def _features_one(self, img):
        y, cb, cr = ycbcr(img)
        parts = []
        for g in self._ordered_groups():
            if g == "npr":
                parts.append(_npr_stats_rgb(img))
            elif g == "cooccurrence":
                parts.append(_cooccurrence(np.rint(y), self.truncation))
            else:
                parts += [_cooccurrence(cb, 1), _cooccurrence(cr, 1), _color_stats(img, y, cb, cr)]
        return np.concatenate(parts)
