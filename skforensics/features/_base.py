"""Shared machinery of the weight-free image feature extractors."""

from __future__ import annotations

import os
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._compat import Interval, StrOptions, fit_context
from .._image_io import check_images, view_feature_names, warn_failed
from .._persistence import DefaultParamsOnLoadMixin
from .._pixels import LUMA

_CB = np.array([-0.168736, -0.331264, 0.5], dtype=np.float32)
_CR = np.array([0.5, -0.418688, -0.081312], dtype=np.float32)


def center_crop(img, max_size):
    """Centre-crop ``img`` so that no side exceeds ``max_size`` (no resampling)."""
    if max_size is None:
        return img
    h, w = img.shape[:2]
    top = max((h - max_size) // 2, 0)
    left = max((w - max_size) // 2, 0)
    return img[top : top + min(h, max_size), left : left + min(w, max_size)]


def to_float_planes(img, channels):
    """``(C, H, W)`` float32 planes: luma only (``"gray"``) or R, G, B (``"rgb"``)."""
    x = img.astype(np.float32)
    if channels == "gray":
        return (x @ LUMA)[None]
    return np.moveaxis(x, 2, 0)


def ycbcr(img):
    """Y, Cb, Cr float32 planes (JPEG convention, Cb/Cr centred on 0)."""
    x = img.astype(np.float32)
    return x @ LUMA, x @ _CB, x @ _CR


class ImageFeatureExtractorBase(DefaultParamsOnLoadMixin, TransformerMixin, BaseEstimator):
    """Base class: loops over the images of ``X`` and stacks per-image features.

    Subclasses implement ``_features_one(img)`` (1-D float array for one
    ``(H, W, 3)`` uint8 image), ``_n_features_one()`` and ``_names_one()``.
    Multi-view samples get the features of every view concatenated.
    """

    _parameter_constraints: dict = {
        "max_size": [Interval(Integral, 8, None, closed="left"), None],
        "on_error": [StrOptions({"raise", "skip"})],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def _check_extra_params(self):
        """Hook for checks that ``_parameter_constraints`` cannot express."""

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters and the container ``X`` (no image is decoded).

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays, or uint8 ndarray
            Images (see :mod:`skforensics._image_io`).
        y : ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            The fitted extractor.
        """
        self._check_extra_params()
        coll = check_images(X)
        self.n_views_ = coll.n_views
        self.n_features_out_ = self._n_features_one() * coll.n_views
        return self

    def transform(self, X):
        """Compute the features of every image of ``X``.

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays, or uint8 ndarray
            Images of any size; multi-view samples get their views' features
            concatenated.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out_), dtype float64
            Rows of images that could not be read with ``on_error="skip"`` are NaN
            (a :class:`~skforensics.SkippedImageWarning` lists them).
        """
        check_is_fitted(self, "n_features_out_")
        coll = check_images(X)
        if coll.n_views != self.n_views_:
            raise ValueError(
                f"X has {coll.n_views} view(s) per sample but {type(self).__name__} was "
                f"fitted on {self.n_views_}"
            )
        n, n_views, d = len(coll), coll.n_views, self._n_features_one()
        out = np.full((n, n_views, d), np.nan)
        jobs = [(i, v) for i in range(n) for v in range(n_views)]

        def one(job):
            i, v = job
            img, err = coll.load_safe(i, v, self.on_error)
            if err is not None:
                return job, None, err
            return job, self._features_one(center_crop(img, self.max_size)), None

        failed = []
        if self.n_jobs in (None, 1) or len(jobs) < 2:
            results = map(one, jobs)
        else:
            from concurrent.futures import ThreadPoolExecutor

            workers = os.cpu_count() if self.n_jobs < 0 else self.n_jobs
            pool = ThreadPoolExecutor(max_workers=max(1, workers))
            results = pool.map(one, jobs)
        from .._torch_utils import progress

        for (i, v), feats, err in progress(
            results, self.verbose, desc=type(self).__name__, total=len(jobs)
        ):
            if err is not None:
                failed.append((i, err))
            else:
                out[i, v] = feats
        if self.n_jobs not in (None, 1) and len(jobs) >= 2:
            pool.shutdown()
        warn_failed(failed)
        return out.reshape(n, n_views * d)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features (view-prefixed for multi-view input).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "n_features_out_")
        names = self._names_one()
        if self.n_views_ > 1:
            names = view_feature_names(names, self.n_views_)
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = True
        tags.transformer_tags.preserves_dtype = []
        return tags
