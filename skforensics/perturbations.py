"""Image perturbations for robustness evaluation, as scikit-learn transformers.

Each transformer takes images in any form accepted by skforensics (paths, PIL
images, uint8 arrays, multi-view samples, see :mod:`skforensics._image_io`)
and returns perturbed ``(H, W, 3)`` uint8 images: one ``(n, H, W, 3)`` array
when all outputs share a shape, otherwise a list of arrays (multi-view input
gives ``(n, V, H, W, 3)`` or a list of lists). They are stateless: ``fit`` only
validates the parameters and ``transform`` may be called without it.

They implement the perturbations of the usual robustness protocol (Wang et
al. 2020 "CNN-generated images are surprisingly easy to spot... for now";
UnivFD; AIGCDetectBenchmark): JPEG re-compression, Gaussian blur,
down-/up-scaling and cropping of the *test* images. See
:func:`skforensics.model_selection.robustness_report`.
"""

from __future__ import annotations

import io
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state

from ._compat import Interval, StrOptions, fit_context
from ._image_io import MIN_IMAGE_SIZE, check_images, warn_failed
from ._persistence import DefaultParamsOnLoadMixin

__all__ = [
    "GaussianBlur",
    "JPEGCompression",
    "RandomCrop",
    "RandomPerturbation",
    "RandomReencode",
    "Resize",
]


def _save_and_decode(pil, **save_kwargs):
    """Save a PIL image to memory with ``save_kwargs`` and decode it back (uint8 RGB)."""
    from PIL import Image

    buf = io.BytesIO()
    pil.save(buf, **save_kwargs)
    buf.seek(0)
    with Image.open(buf) as out:
        return np.asarray(out.convert("RGB"), dtype=np.uint8).copy()


class _PerturbationBase(DefaultParamsOnLoadMixin, TransformerMixin, BaseEstimator):
    # DefaultParamsOnLoadMixin: a perturbation saved before a parameter was added loads
    # with its default
    _parameter_constraints: dict = {"on_error": [StrOptions({"raise", "skip"})]}

    @fit_context(prefer_skip_nested_validation=False)  # RandomPerturbation's candidates
    def fit(self, X, y=None):
        """Validate the parameters and ``X`` (stateless: nothing is learned).

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays, or uint8 ndarray
            Images.
        y : ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            The transformer.
        """
        check_images(X)
        return self

    def transform(self, X):
        """Perturb every image of ``X``.

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays, or uint8 ndarray
            Images (multi-view samples are perturbed view by view).

        Returns
        -------
        images : ndarray of uint8 or list
            ``(n, H, W, 3)`` (``(n, V, H, W, 3)`` for multi-view input) when all
            outputs share one shape, else a list of ``(H, W, 3)`` arrays (lists
            of them for multi-view input). With ``on_error="skip"`` an
            unreadable image is passed through unchanged (e.g. its path), so
            that the next step reports it (feature extractors with
            ``on_error="skip"`` give it a NaN row), and the output is a list.
        """
        self._validate_params()
        coll = check_images(X)
        rng = check_random_state(getattr(self, "random_state", None))
        apply = self._image_function()
        out, failed = [], []
        for i in range(len(coll)):
            views = []
            for v in range(coll.n_views):
                img, err = coll.load_safe(i, v, self.on_error)
                if err is not None:
                    failed.append((i, err))
                    src = coll.items[i] if coll.array is None else None
                    views.append(src[v] if coll.n_views > 1 else src)
                else:
                    views.append(apply(img, rng))
            out.append(views if coll.n_views > 1 else views[0])
        warn_failed(failed)
        if failed:
            return out
        shapes = {a.shape for s in out for a in (s if coll.n_views > 1 else [s])}
        if len(shapes) == 1:
            return np.stack([np.stack(s) if coll.n_views > 1 else s for s in out])
        return out

    def _image_function(self):
        """``(img, rng) -> img`` applied to every image; set-up done once per call."""
        return self._apply

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = []
        return tags


class JPEGCompression(_PerturbationBase):
    """Re-compress images as JPEG at a given quality.

    Parameters
    ----------
    quality : int, default=75
        JPEG quality, 1 (worst) to 100, with PIL's default 4:2:0 chroma
        sub-sampling (as most web pipelines).
    n_passes : int, default=1
        Times each image is saved and decoded. Repeated compression at one
        quality converges, so with two passes an image and its JPEG copy at
        that quality come out nearly identical: a canonical container (see
        :func:`skforensics.make_default_detector`).
    on_error : {"raise", "skip"}, default="raise"
        Unreadable images raise :class:`~skforensics.ImageLoadError` or are
        passed through (see :meth:`transform`).

    Examples
    --------
    >>> from skforensics.datasets import load_sample_images
    >>> from skforensics.perturbations import JPEGCompression
    >>> X = load_sample_images("cifake").paths[:4]
    >>> JPEGCompression(quality=50).transform(X).shape
    (4, 32, 32, 3)
    """

    _parameter_constraints: dict = {
        **_PerturbationBase._parameter_constraints,
        "quality": [Interval(Integral, 1, 100, closed="both")],
        "n_passes": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, quality=75, *, n_passes=1, on_error="raise"):
        self.quality = quality
        self.n_passes = n_passes
        self.on_error = on_error

    def _apply(self, img, rng):
        from PIL import Image

        for _ in range(int(self.n_passes)):
            img = _save_and_decode(Image.fromarray(img), format="JPEG", quality=int(self.quality))
        return img


class Resize(_PerturbationBase):
    """Rescale images by a factor (down- or up-sampling).

    Parameters
    ----------
    scale : float, default=0.5
        Size factor; the new size is ``round(scale * H) x round(scale * W)``,
        at least 8 pixels a side.
    interpolation : {"bilinear", "bicubic", "nearest", "lanczos"}, default="bilinear"
        PIL resampling filter (anti-aliased when down-sampling).
    on_error : {"raise", "skip"}, default="raise"
        Unreadable images raise or are passed through.

    Examples
    --------
    >>> from skforensics.datasets import load_sample_images
    >>> from skforensics.perturbations import Resize
    >>> X = load_sample_images("cifake").paths[:4]
    >>> Resize(scale=2.0).transform(X).shape
    (4, 64, 64, 3)
    """

    _parameter_constraints: dict = {
        **_PerturbationBase._parameter_constraints,
        "scale": [Interval(Real, 0, None, closed="neither")],
        "interpolation": [StrOptions({"bilinear", "bicubic", "nearest", "lanczos"})],
    }

    def __init__(self, scale=0.5, *, interpolation="bilinear", on_error="raise"):
        self.scale = scale
        self.interpolation = interpolation
        self.on_error = on_error

    def _apply(self, img, rng):
        from PIL import Image

        h, w = img.shape[:2]
        nh = max(MIN_IMAGE_SIZE, round(h * self.scale))
        nw = max(MIN_IMAGE_SIZE, round(w * self.scale))
        resample = getattr(Image.Resampling, self.interpolation.upper())
        return np.asarray(Image.fromarray(img).resize((nw, nh), resample), dtype=np.uint8)


class GaussianBlur(_PerturbationBase):
    """Blur images with an isotropic Gaussian kernel.

    Parameters
    ----------
    sigma : float, default=1.0
        Standard deviation in pixels (``0``: images unchanged). The kernel is
        truncated at ``4 * sigma``; borders are reflected.
    on_error : {"raise", "skip"}, default="raise"
        Unreadable images raise or are passed through.

    Examples
    --------
    >>> from skforensics.datasets import load_sample_images
    >>> from skforensics.perturbations import GaussianBlur
    >>> X = load_sample_images("cifake").paths[:4]
    >>> GaussianBlur(sigma=2.0).transform(X).dtype
    dtype('uint8')
    """

    _parameter_constraints: dict = {
        **_PerturbationBase._parameter_constraints,
        "sigma": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, sigma=1.0, *, on_error="raise"):
        self.sigma = sigma
        self.on_error = on_error

    def _apply(self, img, rng):
        if self.sigma == 0:
            return img.copy()
        from scipy.ndimage import gaussian_filter

        out = gaussian_filter(img.astype(np.float32), sigma=(self.sigma, self.sigma, 0))
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class RandomCrop(_PerturbationBase):
    """Crop a window at a random position of every image.

    Parameters
    ----------
    size : int or tuple of int, default=224
        Crop height and width (an int for a square). Images smaller than this
        on a side keep their full extent on that side (no padding).
    random_state : int, RandomState instance or None, default=None
        Positions of the crops; an int gives the same crops at every call.
    on_error : {"raise", "skip"}, default="raise"
        Unreadable images raise or are passed through.

    Examples
    --------
    >>> from skforensics.datasets import load_sample_images
    >>> from skforensics.perturbations import RandomCrop
    >>> X = load_sample_images("cifake").paths[:4]
    >>> RandomCrop(size=16, random_state=0).transform(X).shape
    (4, 16, 16, 3)
    """

    _parameter_constraints: dict = {
        **_PerturbationBase._parameter_constraints,
        "size": [Interval(Integral, MIN_IMAGE_SIZE, None, closed="left"), tuple],
        "random_state": ["random_state"],
    }

    def __init__(self, size=224, *, random_state=None, on_error="raise"):
        self.size = size
        self.random_state = random_state
        self.on_error = on_error

    def _crop_size(self):
        if isinstance(self.size, tuple):
            if len(self.size) != 2 or not all(
                isinstance(s, Integral) and s >= MIN_IMAGE_SIZE for s in self.size
            ):
                raise ValueError(
                    f"size must be an int or a (height, width) pair of ints >= "
                    f"{MIN_IMAGE_SIZE}, got {self.size!r}"
                )
            return self.size
        return self.size, self.size

    def _apply(self, img, rng):
        ch, cw = self._crop_size()
        h, w = img.shape[:2]
        ch, cw = min(ch, h), min(cw, w)
        top = rng.randint(0, h - ch + 1)
        left = rng.randint(0, w - cw + 1)
        return img[top : top + ch, left : left + cw].copy()


def _default_augmentations():
    return (
        [JPEGCompression(quality=q) for q in (50, 70, 90)]
        + [GaussianBlur(sigma=s) for s in (0.5, 1.0, 2.0)]
        + [Resize(scale=s) for s in (0.5, 0.75)]
    )


class RandomPerturbation(_PerturbationBase):
    """Apply one randomly chosen perturbation to each image (training augmentation).

    The robustness protocol perturbs *test* images; this transformer is for
    the other side: augmenting a *training* set so that the detector sees
    compressed, blurred and rescaled images during ``fit`` (the blur + JPEG
    augmentation of Wang et al. 2020).  Use it on the data, not inside a
    pipeline (a pipeline would also perturb the images at predict time)::

        X_aug = RandomPerturbation(random_state=0).transform(X_train)
        detector.fit(list(X_train) + list(X_aug), np.r_[y_train, y_train])

    Parameters
    ----------
    perturbations : list of perturbation transformers, default=None
        Candidates, drawn uniformly for every image.  ``None``:
        ``JPEGCompression`` at quality 50, 70, 90, ``GaussianBlur`` with sigma
        0.5, 1, 2 and ``Resize`` by 0.5 and 0.75.
    p : float, default=1.0
        Probability that an image is perturbed at all (otherwise it is
        returned unchanged).
    random_state : int, RandomState instance or None, default=None
        Draws of the perturbations (and of random crops); an int gives the
        same draws at every call.
    on_error : {"raise", "skip"}, default="raise"
        Unreadable images raise or are passed through.

    Examples
    --------
    >>> from skforensics.datasets import load_sample_images
    >>> from skforensics.perturbations import GaussianBlur, JPEGCompression, RandomPerturbation
    >>> X = load_sample_images("cifake").paths[:4]
    >>> aug = RandomPerturbation([JPEGCompression(60), GaussianBlur(1.0)], random_state=0)
    >>> aug.transform(X).shape
    (4, 32, 32, 3)
    """

    _parameter_constraints: dict = {
        **_PerturbationBase._parameter_constraints,
        "perturbations": [list, tuple, None],
        "p": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(self, perturbations=None, *, p=1.0, random_state=None, on_error="raise"):
        self.perturbations = perturbations
        self.p = p
        self.random_state = random_state
        self.on_error = on_error

    def _candidates(self):
        cands = _default_augmentations() if self.perturbations is None else list(self.perturbations)
        if not cands or not all(isinstance(c, _PerturbationBase) for c in cands):
            raise ValueError(
                "perturbations must be a non-empty list of skforensics.perturbations "
                f"transformers (JPEGCompression, Resize, GaussianBlur, RandomCrop); got "
                f"{self.perturbations!r}"
            )
        for c in cands:
            c._validate_params()
        return cands

    def _image_function(self):
        cands = self._candidates()  # built and validated once, before any image is decoded

        def apply(img, rng):
            if rng.uniform() >= self.p:
                return img.copy()
            return cands[rng.randint(len(cands))]._apply(img, rng)

        return apply


_REENCODE_FORMATS = ("jpeg", "png", "webp", "webp-lossless")


def _factor_range(value, name):
    """A validated ``(low, high)`` range of positive factors, or None."""
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be None or a (low, high) pair; got {value!r}") from None
    if not 0 < lo <= hi:
        raise ValueError(f"{name} must satisfy 0 < low <= high; got {value!r}")
    return lo, hi


def _log_uniform(rng, bounds):
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


class RandomReencode(_PerturbationBase):
    """Crop, rescale and re-encode each image a random way (format- and size-blind training).

    Real photos are usually JPEG and generator outputs often PNG or WEBP, at
    other sizes: a detector trained on them as they come can learn the
    container and the size instead of the generator. Passing *both* classes of
    a training set through this transformer, with the same random draws for
    either class, takes those shortcuts away: every image is (optionally)
    cropped, (optionally) rescaled, then saved and decoded again in a format
    drawn from ``formats``, JPEG and lossy WEBP at a quality drawn from
    ``quality`` and JPEG with a random chroma sub-sampling. Use it on training
    data, not inside a pipeline (it would also re-encode the test images);
    :class:`~skforensics.neural.SAMNetClassifier` takes it as
    ``train_transform`` and draws new encodings at every epoch.

    Parameters
    ----------
    formats : sequence of {"jpeg", "png", "webp", "webp-lossless"}, \
            default=("jpeg", "jpeg", "png", "webp")
        Containers drawn uniformly for each image (repeat a name to weight
        it). ``"png"`` and ``"webp-lossless"`` keep the pixels.
    quality : (int, int), default=(65, 100)
        Inclusive range of the JPEG and lossy WEBP quality.
    scale : (float, float) or None, default=None
        Range of a random rescaling factor (drawn log-uniformly; bicubic, or
        area averaging when shrinking). None keeps the size. Rescaling
        blurs the up-sampling traces that residual detectors read, so keep
        it narrow (e.g. ``(0.9, 1.1)``) or rare (``scale_p``) for those.
    scale_p : float, default=1.0
        Probability that an image is rescaled (when ``scale`` or ``aspect``
        is set).
    aspect : (float, float) or None, default=None
        Range of a random change of aspect ratio applied with the rescaling
        (drawn log-uniformly: the width is multiplied by ``sqrt(a)`` and the
        height divided by it, on top of ``scale``). Photos are often
        resized to a new shape, a square for many data sets, which stretches
        one axis more than the other; drawing it for both classes keeps a
        detector from reading the resampling of real photos as a trace of a
        generator. None keeps the aspect ratio.
    crop : int or None, default=None
        Side of a random square crop taken first (at offsets that are
        multiples of 16, so the JPEG grids of the original, chroma MCUs of
        4:2:0 sub-sampling included, and its up-sampling grids stay aligned);
        images smaller than it are not cropped. Cropping first also makes the
        re-encoding cheaper: with ``SAMNetClassifier(crop_size=64)``, a crop
        of 192 leaves room for the training crops at about a seventh of the
        cost of re-encoding a 512x512 image.
    random_state : int, RandomState instance or None, default=None
        Draws of formats, qualities, scales and crops; an int gives the same
        draws at every call.
    on_error : {"raise", "skip"}, default="raise"
        Unreadable images raise or are passed through.

    Examples
    --------
    >>> from skforensics.datasets import load_sample_images
    >>> from skforensics.perturbations import RandomReencode
    >>> X = load_sample_images("cifake").paths[:4]
    >>> RandomReencode(formats=["jpeg", "webp"], random_state=0).transform(X).shape
    (4, 32, 32, 3)
    """

    _parameter_constraints: dict = {
        **_PerturbationBase._parameter_constraints,
        "formats": [list, tuple],
        "quality": [tuple, list],
        "scale": [tuple, list, None],
        "scale_p": [Interval(Real, 0, 1, closed="both")],
        "aspect": [tuple, list, None],
        "crop": [Interval(Integral, MIN_IMAGE_SIZE, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        formats=("jpeg", "jpeg", "png", "webp"),
        *,
        quality=(65, 100),
        scale=None,
        scale_p=1.0,
        aspect=None,
        crop=None,
        random_state=None,
        on_error="raise",
    ):
        self.formats = formats
        self.quality = quality
        self.scale = scale
        self.scale_p = scale_p
        self.aspect = aspect
        self.crop = crop
        self.random_state = random_state
        self.on_error = on_error

    def _check(self):
        formats = list(self.formats)
        bad = [f for f in formats if f not in _REENCODE_FORMATS]
        if not formats or bad:
            raise ValueError(
                f"formats must be a non-empty list of {list(_REENCODE_FORMATS)}; got {self.formats!r}"
            )
        try:
            qlo, qhi = (int(q) for q in self.quality)
        except (TypeError, ValueError):
            raise ValueError(f"quality must be a (low, high) pair; got {self.quality!r}") from None
        if not 1 <= qlo <= qhi <= 100:
            raise ValueError(f"quality must satisfy 1 <= low <= high <= 100; got {self.quality!r}")
        return (
            formats,
            (qlo, qhi),
            _factor_range(self.scale, "scale"),
            _factor_range(self.aspect, "aspect"),
        )

    def _image_function(self):
        # once per call, before decoding
        formats, (qlo, qhi), scale, aspect = self._check()

        def apply(img, rng):
            from PIL import Image

            if self.crop is not None and min(img.shape[:2]) > self.crop:
                c = int(self.crop)
                top = rng.randint(0, (img.shape[0] - c) // 16 + 1) * 16
                left = rng.randint(0, (img.shape[1] - c) // 16 + 1) * 16
                img = img[top : top + c, left : left + c]
            pil = Image.fromarray(img)
            if (scale or aspect) is not None and rng.uniform() < self.scale_p:
                sx = sy = 1.0 if scale is None else _log_uniform(rng, scale)
                if aspect is not None:  # drawn after the scale: scale-only draws are unchanged
                    a = np.sqrt(_log_uniform(rng, aspect))
                    sx, sy = sx * a, sy / a
                w = max(MIN_IMAGE_SIZE, int(round(img.shape[1] * sx)))
                h = max(MIN_IMAGE_SIZE, int(round(img.shape[0] * sy)))
                if (w, h) != pil.size:
                    pil = pil.resize((w, h), Image.BOX if max(sx, sy) < 1 else Image.BICUBIC)
            fmt = formats[rng.randint(len(formats))]
            q = int(rng.randint(qlo, qhi + 1))
            if fmt == "jpeg":
                kw = {"format": "JPEG", "quality": q, "subsampling": int(rng.choice([0, 2]))}
            elif fmt == "webp":
                kw = {"format": "WEBP", "quality": q}
            elif fmt == "webp-lossless":
                kw = {"format": "WEBP", "lossless": True}
            else:
                kw = {"format": "PNG", "compress_level": 1}
            return _save_and_decode(pil, **kw)

        return apply
