"""The general detection recipe and the detector shipped with skforensics.

* :class:`PseudoFakeClassifier` adds pseudo-fakes (real training photos passed
  through generator-like decoders, :func:`skforensics.datasets.make_pseudo_fakes`)
  to the training set of any image classifier and balances the classes.
* :func:`make_default_detector` builds the recipe of the shipped detector: an
  NPR residual network trained on crops, on format- and size-blind
  re-encodings of both classes, with pseudo-fakes.
* :func:`load_default_detector` loads the fitted detector that ships inside
  the package (a safe model file: skops + safetensors, no pickle).

The recipe, its training data and its measured generalization are documented
on the "Generalization and the default detector" page of the user guide.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._compat import HasMethods, Interval, Options, StrOptions, fit_context, validate_params
from ._image_io import check_images
from ._persistence import DefaultParamsOnLoadMixin

__all__ = [
    "DEFAULT_DETECTOR_PATH",
    "PseudoFakeClassifier",
    "load_default_detector",
    "make_default_detector",
]

#: Where the shipped detector lives inside the installed package.
DEFAULT_DETECTOR_PATH = os.path.join(os.path.dirname(__file__), "_models", "default_detector.skf")

# make_default_detector(resample=True): half the re-encoded windows of both classes are
# rescaled by 2/3-3/2 and their aspect ratio changed by up to 5/4 (RandomReencode)
RESAMPLING = {"scale": (2 / 3, 1.5), "aspect": (0.8, 1.25), "scale_p": 0.5}


class PseudoFakeClassifier(
    DefaultParamsOnLoadMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator
):
    """Train an image classifier with pseudo-fakes made from its real training images.

    At ``fit``, a share of the real images (label ``real_label``) is passed
    through generator-like decoders
    (:func:`skforensics.datasets.make_pseudo_fakes`) and added to the training
    set as fakes; the classes are then balanced by repeating the images of the
    smaller class, so that a threshold of 0.5 on ``predict_proba`` means
    equal priors. Real photo and pseudo-fake differ only in the decoder's
    traces, not in content, size or format, so the classifier has to learn
    those traces. Prediction is the wrapped classifier's.

    Parameters
    ----------
    estimator : classifier
        Image classifier (takes a list of images), e.g.
        ``SAMNetClassifier(NPRNet, crop_size=64)``.
    real_label : int or str, default=0
        The label of real images in ``y``.
    fake_label : int or str, default=1
        The label of generated images, given to the pseudo-fakes. ``y`` may
        hold real images only: the classifier then learns real photos
        against their pseudo-fakes (real-only training).
    pseudo_fake_ratio : float, default=1.0
        Pseudo-fakes made per real training image (0 adds none: then the
        classifier only gets the class balancing).
    balance : bool, default=True
        Repeat images of the smaller class until both classes have as many.
    downscaled_reals : float, default=0.0
        Down-scaled copies made per real training image and added as real
        images, before the pseudo-fakes are drawn (from originals and copies
        alike). Most real photos people check were down-scaled from a
        camera's resolution; a detector trained on photos of one resampling
        history takes the full-band, trace-free look of a down-scaled photo
        for a generator's (see the resampling check in the user guide).
    downscale : (float, float), default=(0.3, 0.8)
        Range of the down-scaling factor of those copies, drawn
        log-uniformly, with a random anti-aliasing filter (box, bilinear,
        bicubic or Lanczos); a copy keeps at least 64 pixels a side.
    method : {"upsampling", "vae"}, default="upsampling"
        Decoder family of :func:`~skforensics.datasets.make_pseudo_fakes`.
    factor : {2, 4, 8} or "random", default=2
        Up-sampling factor of the decoders
        (:func:`~skforensics.datasets.make_pseudo_fakes`; ``"random"``: 2 or 4
        per decoder).
    n_decoders : int, default=4
        Number of decoders.
    fit_steps : int, default=100
        Fitting steps of each decoder.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of images, the decoders and the classifier's
        ``random_state`` when it has one and it is None.

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone of ``estimator``.
    classes_ : ndarray of shape (2,)
        The class labels.
    n_pseudo_fakes_ : int
        Pseudo-fakes added to the training set.
    n_downscaled_reals_ : int
        Down-scaled real copies added to the training set.

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics import PseudoFakeClassifier
    >>> from skforensics.features import SpectralFeatureExtractor
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> rng = np.random.RandomState(0)
    >>> X = [rng.randint(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(8)]
    >>> y = [0, 0, 0, 0, 1, 1, 1, 1]
    >>> clf = PseudoFakeClassifier(
    ...     make_pipeline(SpectralFeatureExtractor(n_bins=8), LogisticRegression()),
    ...     n_decoders=1, fit_steps=2, random_state=0).fit(X, y)
    >>> clf.n_pseudo_fakes_, clf.predict_proba(X).shape
    (4, (8, 2))
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "real_label": [Integral, str],
        "fake_label": [Integral, str],
        "pseudo_fake_ratio": [Interval(Real, 0, None, closed="left")],
        "balance": ["boolean"],
        "downscaled_reals": [Interval(Real, 0, None, closed="left")],
        "downscale": [tuple, list],
        "method": [StrOptions({"upsampling", "vae"})],
        "factor": [StrOptions({"random"}), Options(Integral, {2, 4, 8})],
        "n_decoders": [Interval(Integral, 1, None, closed="left")],
        "fit_steps": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator,
        *,
        real_label=0,
        fake_label=1,
        pseudo_fake_ratio=1.0,
        balance=True,
        downscaled_reals=0.0,
        downscale=(0.3, 0.8),
        method="upsampling",
        factor=2,
        n_decoders=4,
        fit_steps=100,
        random_state=None,
    ):
        self.estimator = estimator
        self.real_label = real_label
        self.fake_label = fake_label
        self.pseudo_fake_ratio = pseudo_fake_ratio
        self.balance = balance
        self.downscaled_reals = downscaled_reals
        self.downscale = downscale
        self.method = method
        self.factor = factor
        self.n_decoders = n_decoders
        self.fit_steps = fit_steps
        self.random_state = random_state

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Make pseudo-fakes from the real images of ``X``, balance, fit the classifier.

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays
            Training images (any sizes).
        y : array-like of shape (n,)
            ``real_label`` and ``fake_label``, or ``real_label`` only
            (real-only training: then ``pseudo_fake_ratio`` must be > 0).

        Returns
        -------
        self : object
            The fitted classifier.
        """
        from .datasets import make_pseudo_fakes

        y = np.asarray(y)
        classes = np.unique(y)
        if self.real_label == self.fake_label:
            raise ValueError(f"real_label and fake_label are both {self.real_label!r}")
        if self.real_label not in classes or not set(classes) <= {self.real_label, self.fake_label}:
            raise ValueError(
                f"y must hold real_label={self.real_label!r} and optionally fake_label="
                f"{self.fake_label!r}; it has {classes.tolist()}"
            )
        if len(classes) == 1 and self.pseudo_fake_ratio == 0:
            raise ValueError("y holds real images only: pseudo_fake_ratio must be > 0")
        coll = check_images(X, allow_multiview=False)
        if len(coll) != len(y):
            raise ValueError(f"X has {len(coll)} images but y has {len(y)} labels")
        lo, hi = _check_downscale(self.downscale)
        imgs = [coll.load(i) for i in range(len(coll))]
        rng = check_random_state(self.random_state)
        real_idx = np.flatnonzero(y == self.real_label)
        n_down = int(round(self.downscaled_reals * len(real_idx)))
        if n_down:
            src = rng.choice(real_idx, size=n_down, replace=n_down > len(real_idx))
            imgs += [_downscale(imgs[i], lo, hi, rng) for i in src]
            y = np.concatenate([y, y[src]])
            real_idx = np.flatnonzero(y == self.real_label)
        n_pf = int(round(self.pseudo_fake_ratio * len(real_idx)))
        pseudo = []
        if n_pf:
            src = rng.choice(real_idx, size=n_pf, replace=n_pf > len(real_idx))
            pseudo = make_pseudo_fakes(
                [imgs[i] for i in src],
                method=self.method,
                factor=self.factor,
                n_decoders=self.n_decoders,
                fit_steps=self.fit_steps,
                random_state=rng.randint(2**31),
            )
        X_all = imgs + list(pseudo)
        y_all = np.asarray(y.tolist() + [self.fake_label] * len(pseudo))
        if self.balance:
            X_all, y_all = _balance(X_all, y_all, rng)
        est = clone(self.estimator)
        params = est.get_params()
        if "random_state" in params and params["random_state"] is None:
            est.set_params(random_state=rng.randint(2**31))
        self.estimator_ = est.fit(X_all, y_all)
        self.classes_ = self.estimator_.classes_
        self.n_pseudo_fakes_ = len(pseudo)
        self.n_downscaled_reals_ = n_down
        return self

    def predict_proba(self, X):
        """Class probabilities of the fitted classifier, shape (n, 2).

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays
            Images.

        Returns
        -------
        proba : ndarray of shape (n, 2)
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        """Predicted labels of the fitted classifier.

        Parameters
        ----------
        X : list of paths, PIL images or uint8 arrays
            Images.

        Returns
        -------
        labels : ndarray of shape (n,)
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.classifier_tags.multi_class = False
        return tags


# a down-scaled real copy keeps at least this many pixels a side (the recipe's crops are 64)
_MIN_DOWNSCALED_SIDE = 64


def _check_downscale(value):
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"downscale must be a (low, high) pair; got {value!r}") from None
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"downscale must satisfy 0 < low <= high <= 1; got {value!r}")
    return lo, hi


def _downscale(img, lo, hi, rng):
    """``img`` down-scaled by a log-uniform factor in ``[lo, hi]`` with a random filter."""
    from PIL import Image

    f = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    f = max(f, min(1.0, _MIN_DOWNSCALED_SIDE / min(img.shape[:2])))
    filt = (Image.BOX, Image.BILINEAR, Image.BICUBIC, Image.LANCZOS)[rng.randint(4)]
    h, w = img.shape[:2]
    size = (max(1, int(round(w * f))), max(1, int(round(h * f))))
    if size == (w, h):
        return img
    return np.array(Image.fromarray(img).resize(size, filt))  # writable, as decoded images


def _balance(X, y, rng):
    """Repeat images of the smaller class (drawn at random) until the classes are even."""
    classes, counts = np.unique(y, return_counts=True)
    extra = []
    for c, n in zip(classes, counts):
        idx = np.flatnonzero(y == c)
        if counts.max() > n:
            extra.append(rng.choice(idx, size=counts.max() - n, replace=True))
    if not extra:
        return X, y
    extra = np.concatenate(extra)
    return list(X) + [X[i] for i in extra], np.concatenate([y, y[extra]])


@validate_params(
    {
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        # SAMNetClassifier.fit also requires an even size
        "crop_size": [Interval(Integral, 8, None, closed="left")],
        "optimizer": [StrOptions({"adamw", "sam"})],
        "rotate_crops": ["boolean"],
        "resample": ["boolean"],
        "downscaled_reals": [Interval(Real, 0, None, closed="left")],
        "formats": [list, tuple],
        "quality": [list, tuple],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_default_detector(
    *,
    max_epochs=24,
    crop_size=64,
    optimizer="adamw",
    rotate_crops=True,
    resample=False,
    downscaled_reals=0.0,
    formats=("jpeg", "jpeg", "jpeg", "png", "webp"),
    quality=(50, 100),
    random_state=0,
):
    """The recipe of the shipped detector, unfitted.

    An :class:`~skforensics.neural.NPRNet` (a small ResNet on the
    neighbouring-pixel residual of Tan et al., CVPR 2024) trained through
    :class:`~skforensics.neural.SAMNetClassifier` on random 64x64 crops at full
    resolution. At every epoch, a random window three crops wide (192x192) of
    each training image (both classes) is re-encoded the same random way
    (:class:`~skforensics.perturbations.RandomReencode`: three windows in five
    as JPEG, the others as PNG or WEBP, at quality 50-100) and four crops are
    drawn from it, each turned a random quarter
    turn. Two pseudo-fakes per real
    image, from eight up-sampling decoders (:class:`PseudoFakeClassifier`),
    join the generated images, and the classes are balanced. Every image the
    network sees, in training and scoring, is first put in one canonical
    container (JPEG quality 95, two passes), so that the file an image comes
    in cannot change its score. Scores average the logits of up to 64 crops covering
    the whole image.

    Parameters
    ----------
    max_epochs : int, default=24
        Training epochs (each with new crops and encodings).
    crop_size : int, default=64
        Side of the training and scoring crops.
    optimizer : {"adamw", "sam"}, default="adamw"
        AdamW, or SAM around AdamW (``rho=0.05``; twice the cost per step).
    rotate_crops : bool, default=True
        Turn every training crop a random multiple of 90 degrees
        (:class:`~skforensics.neural.SAMNetClassifier`), so that the
        network cannot learn which way up real photos are. ``False`` gives
        the recipe of the previous shipped file.
    resample : bool, default=False
        Also rescale half of the re-encoded windows of both classes, by a
        random factor of 2/3 to 3/2 and to a new aspect ratio (by up to 5/4),
        so that resized real photos (data sets resize photos to a square,
        users and web sites up- and down-scale them) are not read as a
        generator's up-sampling.
    downscaled_reals : float, default=0.0
        Down-scaled copies (by 0.3-0.8) per real training image, added as
        real images (:class:`PseudoFakeClassifier`), so that a down-scaled
        photo is not taken for a generated image.
    formats : sequence of str, default=("jpeg", "jpeg", "jpeg", "png", "webp")
        Containers of the training re-encoding
        (:class:`~skforensics.perturbations.RandomReencode` ``formats``).
    quality : (int, int), default=(50, 100)
        Quality range of its JPEG and WEBP encodings. JPEG q75 is Pillow's
        default and common on the web; with ``formats=("jpeg", "jpeg", "png",
        "webp")`` and ``quality=(65, 100)``, the recipe of the previous
        shipped file, the detector lost much of its ranking on images
        re-encoded at q75 (see "Compressed, blurred and palette images" in
        the user guide).
    random_state : int, RandomState instance or None, default=0
        Seeds everything random in the recipe.

    Returns
    -------
    detector : PseudoFakeClassifier
        Unfitted; ``fit(images, y)`` with ``y`` 0 for real, 1 for generated.

    Examples
    --------
    >>> from skforensics import make_default_detector
    >>> det = make_default_detector(max_epochs=1)
    >>> det.estimator.crop_size
    64
    """
    import torch

    from .neural import NPRNet, SAMNetClassifier
    from .optim import SAM
    from .perturbations import JPEGCompression, RandomReencode

    if optimizer == "sam":
        opt = {
            "optimizer": SAM,
            "optimizer__base_optimizer": torch.optim.AdamW,
            "optimizer__rho": 0.05,
        }
    else:
        opt = {"optimizer": torch.optim.AdamW}
    resampling = RESAMPLING if resample else {}
    net = SAMNetClassifier(
        NPRNet,
        lr=2e-3,
        max_epochs=max_epochs,
        batch_size=64,
        crop_size=crop_size,
        crops_per_image=4,
        max_test_crops=64,
        rotate_crops=rotate_crops,
        train_transform=RandomReencode(
            formats=tuple(formats), quality=tuple(quality), crop=3 * crop_size, **resampling
        ),
        input_transform=JPEGCompression(quality=95, n_passes=2),
        random_state=random_state,
        **opt,
    )
    return PseudoFakeClassifier(
        net,
        pseudo_fake_ratio=2.0,
        downscaled_reals=downscaled_reals,
        n_decoders=8,
        random_state=random_state,
    )


@validate_params({}, prefer_skip_nested_validation=True)
def load_default_detector():
    """Load the detector that ships with skforensics, fitted and ready to score.

    It is the recipe of :func:`make_default_detector` trained on the shared
    data sets (see the model card in the user guide); ``skforensics scan`` and
    ``skforensics evaluate`` use it when no ``--model`` is given. The file is a
    safe model file (skops + safetensors): loading it cannot run code.

    The network runs on CUDA when available, else on the CPU.

    Returns
    -------
    detector : PseudoFakeClassifier
        ``predict_proba(images)[:, 1]`` is the probability that an image is
        generated.

    Examples
    --------
    >>> from skforensics import load_default_detector
    >>> det = load_default_detector()  # doctest: +SKIP
    >>> det.predict_proba(["photo.jpg"])[:, 1]  # doctest: +SKIP
    """
    from ._persistence import load

    if not os.path.exists(DEFAULT_DETECTOR_PATH):
        raise FileNotFoundError(
            f"the default detector {DEFAULT_DETECTOR_PATH!r} is missing from this installation; "
            "rebuild it with 'python benchmarks/build_default_detector.py' or pass --model"
        )
    return load(DEFAULT_DETECTOR_PATH)
