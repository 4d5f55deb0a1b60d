"""SAMNetClassifier: a skorch classifier trained with SAM / GRACE (or any optimizer)."""

from __future__ import annotations

import contextlib
import inspect
import numbers
import pickle
from collections.abc import Mapping

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.dataset import unpack_data
from skorch.net import NeuralNet
from skorch.utils import TeeGenerator, to_tensor

from .._image_io import check_images
from .._pixels import resize_rgb
from .._torch_utils import load_device, resolve_device, seed_from_random_state
from ..optim import SAM
from ._losses import RetrospectionKLLoss, ViewOutput
from ._modules import SmallForensicCNN
from ._npr import grid_crops, group_by_shape, mean_by_owner, random_crops

__all__ = ["SAMNetClassifier"]


def _check_image_size(image_size):
    if image_size is None:
        return None
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    try:
        h, w = (int(s) for s in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be None, an int or (height, width); got {image_size!r}")
    if h < 8 or w < 8:
        raise ValueError(f"image_size must be at least 8x8, got {image_size!r}")
    return (h, w)


def _decode_images(X, image_size, name="X"):
    """Decode image input ``X`` into one uint8 array (n, H, W, 3) (or (n, V, H, W, 3))."""
    coll = check_images(X, name=name)
    size = _check_image_size(image_size)
    if coll.array is not None:
        arr = coll.array  # (n, V, H, W, 3)
        if size is not None and arr.shape[2:4] != size:
            arr = np.stack(
                [
                    np.stack([resize_rgb(arr[i, v], size) for v in range(arr.shape[1])])
                    for i in range(len(arr))
                ]
            )
        return arr[:, 0] if arr.shape[1] == 1 else arr
    imgs = []
    for i in range(len(coll)):
        views = [coll.load(i, v) for v in range(coll.n_views)]
        if size is not None:
            views = [resize_rgb(im, size) for im in views]
        imgs.append(views)
    shapes = {im.shape for views in imgs for im in views}
    if len(shapes) > 1:
        raise ValueError(
            f"the images of {name} have different sizes ({sorted(s[:2] for s in shapes)[:5]}...); "
            "set image_size=(height, width) to resize them, or crop them beforehand"
        )
    arr = np.asarray(imgs, dtype=np.uint8)
    return arr[:, 0] if arr.shape[1] == 1 else arr


def _is_feature_matrix(X):
    if isinstance(X, (list, tuple)) or not hasattr(X, "shape"):
        return False
    if hasattr(X, "dtype") and (getattr(X.dtype, "kind", None) == "O" or X.dtype == np.uint8):
        return False
    return len(X.shape) == 2


class SAMNetClassifier(NeuralNetClassifier):
    """skorch classifier trained with Sharpness-Aware Minimization (or GRACE).

    A :class:`skorch.NeuralNetClassifier` whose ``train_step`` runs the two
    passes of SAM explicitly: gradients at ``w``, ascent to ``w + e``, fresh
    gradients at ``w + e`` with BatchNorm statistics frozen, restore ``w``,
    base-optimizer step. Any :class:`~skforensics.optim.SAM` subclass works
    (``optimizer=GRACE``); a plain torch optimizer (``optimizer=torch.optim.SGD``)
    gives ordinary one-pass training, for baselines.

    ``X`` is either a feature matrix (float, ``(n, d)``; e.g. the output of
    :class:`~skforensics.CLIPFeatureExtractor`) for feature modules
    (:class:`LinearProbe`, :class:`MLPHead`), or images (file paths, PIL
    images, uint8 arrays ``(n, H, W, 3)``) through the image input layer for
    image modules (:class:`SmallForensicCNN`, :class:`CLIPFineTuneHead`).
    Images are decoded once per ``fit``/``predict`` call. ``y`` may hold any
    labels; ``n_features`` and ``n_classes`` module arguments are filled in
    from the data unless given as ``module__...``.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=SmallForensicCNN
        The network; see :mod:`skforensics.neural` for ready ones.
    criterion : class, default=RetrospectionKLLoss
        Loss. The default is cross-entropy, plus HRR's KL term (``gamma=0.8``)
        when training with ``augment``. Use ``FeatureAlignmentLoss`` for
        GRACE's Gram alignment.
    optimizer : class, default=SAM
        ``SAM``, ``GRACE`` or any torch optimizer. Tune its radius with
        ``optimizer__rho`` (e.g. in ``GridSearchCV``), the base optimizer with
        ``optimizer__base_optimizer`` and its arguments with
        ``optimizer__momentum`` and so on.
    lr : float, default=0.05
        Learning rate of the (base) optimizer.
    max_epochs : int, default=10
        Number of epochs.
    batch_size : int, default=128
        Mini-batch size (training and prediction).
    train_split : callable or None, default=None
        skorch's internal validation split. None trains on all of ``X`` (use
        sklearn's cross-validation tools for validation).
    augment : transformer or None, default=None
        An image transformer such as
        :class:`~skforensics.MultiScaleStyleRetrospection` whose
        ``fit(X).transform(X)`` returns ``V`` views per image (uint8
        ``(n, V, S, S, 3)``). A clone is fitted on the training images at
        ``fit`` and the views computed once; during training the criterion
        sees the predictions (and features) on the views too. Prediction uses
        the original images only.
    image_size : int, (int, int) or None, default=None
        Resize every image to this size (bicubic). None requires all images
        of one call to share their size.
    crop_size : int or None, default=None
        Crop instead of resizing (for residual networks such as
        :class:`NPRNet`, whose traces resizing would erase): images of any
        sizes are decoded at full resolution; training draws
        ``crops_per_image`` random crops of this size per image at every epoch
        (corners on multiples of 8, images smaller than a crop reflect-padded),
        and prediction averages the logits of a grid of at most
        ``max_test_crops`` crops covering each image (an image that fits in one
        crop: of its four flips).
    crops_per_image : int, default=4
        Random training crops per image and epoch (``crop_size`` set).
    max_test_crops : int, default=16
        Most crops scored per image at prediction (``crop_size`` set).
    rotate_crops : bool, default=False
        Rotate every training crop by a random multiple of 90 degrees
        (``crop_size`` set), so that the network cannot learn which way up an
        image is. Photos resized by a data set's pipeline can carry less
        vertical than horizontal high-frequency energy (``diffusiondb_coco``'s
        do, its generated images hardly: ``benchmarks/bench_orientation.py``),
        and a network trained on upright crops of them scores the same photos
        turned 90 degrees as more fake.
    train_transform : transformer or None, default=None
        Image transformer applied afresh to the training images at every
        epoch, before cropping (``crop_size`` set), e.g.
        :class:`~skforensics.perturbations.RandomReencode` for format- and
        size-blind training. Its ``random_state`` is redrawn per epoch.
    input_transform : transformer or None, default=None
        Stateless image transformer applied to every image the network sees,
        at fit (after ``train_transform``) and at prediction, e.g.
        ``JPEGCompression(quality=95)`` to score every image in one canonical
        container whatever file it came in.
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, dropout and shuffling (inside a forked
        torch RNG: the global torch seed is untouched).
    device : str, default="auto"
        ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        Resolved at ``fit`` into ``device_``.
    verbose : int, default=0
        Print skorch's per-epoch log when > 0.
    **kwargs
        Any other skorch argument (``callbacks``, ``iterator_train__...``,
        ``module__...``, ``optimizer__...``, ``criterion__...``).

    Attributes
    ----------
    classes_ : ndarray
        The class labels.
    n_features_in_ : int
        Number of features (feature input only).
    input_kind_ : {"features", "images"}
        Kind of ``X`` seen at fit.
    device_ : torch.device
        Device the network lives on.
    module_, optimizer_, criterion_ : torch objects
        The fitted network, optimizer and loss.
    augment_ : transformer or None
        The fitted clone of ``augment``.

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics.neural import SAMNetClassifier, LinearProbe
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(60, 4).astype(np.float32); y = (X[:, 0] > 0).astype(int)
    >>> clf = SAMNetClassifier(LinearProbe, lr=0.5, max_epochs=20, batch_size=16,
    ...                        optimizer__rho=0.05, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    def __init__(
        self,
        module=SmallForensicCNN,
        *,
        criterion=RetrospectionKLLoss,
        optimizer=SAM,
        lr=0.05,
        max_epochs=10,
        batch_size=128,
        train_split=None,
        augment=None,
        image_size=None,
        crop_size=None,
        crops_per_image=4,
        max_test_crops=16,
        rotate_crops=False,
        train_transform=None,
        input_transform=None,
        random_state=None,
        device="auto",
        verbose=0,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.augment = augment
        self.image_size = image_size
        self.crop_size = crop_size
        self.crops_per_image = crops_per_image
        self.max_test_crops = max_test_crops
        self.rotate_crops = rotate_crops
        self.train_transform = train_transform
        self.input_transform = input_transform
        self.random_state = random_state

    # Parameters that hold an estimator: ``train_transform__scale=...`` goes to it, as in
    # scikit-learn (skorch's own set_params keeps such keys for module__, optimizer__, ...)
    _estimator_params = ("augment", "train_transform", "input_transform")

    def set_params(self, **params):
        """Set the parameters of this estimator.

        Besides skorch's (``module__width``, ``optimizer__rho``, ...), a key
        ``<name>__<param>`` sets a parameter of the transformer held in
        ``augment``, ``train_transform`` or ``input_transform``, as in
        scikit-learn, so that ``GridSearchCV`` can tune it.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : SAMNetClassifier
            This estimator.
        """
        nested = {}
        for key in list(params):
            name, sep, sub = key.partition("__")
            if sep and name in self._estimator_params:
                nested.setdefault(name, {})[sub] = params.pop(key)
        super().set_params(**params)  # a new transformer first, then its parameters
        for name, sub_params in nested.items():
            holder = getattr(self, name)
            if not hasattr(holder, "set_params"):
                raise ValueError(
                    f"Invalid parameters {sorted(sub_params)} for {name}: it is {holder!r}, "
                    "which has no parameters to set"
                )
            holder.set_params(**sub_params)
        return self

    # ------------------------------------------------------------------ device
    def _resolve_device(self, reset=False):
        """The one place where ``device`` becomes ``device_`` (always a ``torch.device``)."""
        if reset or not hasattr(self, "device_"):
            self.device_ = resolve_device(self.device)
        return self.device_

    @contextlib.contextmanager
    def _resolved_device(self):
        """Let skorch's initialisation, which moves modules to ``self.device``, see ``device_``.

        skorch has no "auto" device; ``device`` keeps the value the user gave
        (``get_params`` and ``clone`` see it), ``device_`` the resolved one.
        """
        self._resolve_device()
        requested = self.device
        self.device = self.device_
        try:
            yield
        finally:
            self.device = requested

    def initialize(self):
        """Resolve ``device`` into ``device_`` and initialise the torch components."""
        self._resolve_device(reset=True)
        with self._resolved_device():
            return super().initialize()

    def _initialize_module(self, reason=None):
        with self._resolved_device():
            return super()._initialize_module(reason=reason)

    def _initialize_criterion(self, reason=None):
        with self._resolved_device():
            return super()._initialize_criterion(reason=reason)

    def __getstate__(self):
        from .._persistence import pack_tensors, saving_model

        if not saving_model():
            return super().__getstate__()
        # skforensics.save: the torch components' state_dicts go to safetensors
        # (pack_tensors) instead of skorch's pickle; __setstate__ rebuilds them
        # from the (trusted) module / criterion / optimizer parameters.
        if isinstance(self.module, torch.nn.Module):
            raise TypeError(
                "skforensics.save needs SAMNetClassifier(module=...) to be a module class "
                "(with module__ arguments), not a module instance"
            )
        state = self.__dict__.copy()
        torch_state = {}
        prefixes = tuple(self.cuda_dependent_attributes_)
        for key, obj in list(state.items()):
            if key.startswith(prefixes) and isinstance(
                obj, (torch.nn.Module, torch.optim.Optimizer)
            ):
                torch_state[key] = pack_tensors(state.pop(key).state_dict())
        # callbacks and virtual params (functools.partial) are rebuilt on load
        rebuild = [k for k in ("callbacks_", "virtual_params_") if state.pop(k, None) is not None]
        state["_skf_torch_state"] = {"rebuild": rebuild, "state": torch_state}
        return state

    def _restore_torch_state(self, torch_state):
        from .._persistence import unpack_tensors

        if "virtual_params_" in torch_state["rebuild"]:
            self._initialize_virtual_params()  # the optimizer's are set again below
        if "callbacks_" in torch_state["rebuild"]:
            self._initialize_callbacks()
        torch_state = torch_state["state"]
        if not torch_state:
            return
        verbose, self.verbose = self.verbose, 0
        try:
            with torch.random.fork_rng(devices=[]):  # rebuilding must not touch the global RNG
                self._initialize_module()
                self._initialize_criterion()
                self._initialize_optimizer()
        finally:
            self.verbose = verbose
        for key, packed in torch_state.items():
            getattr(self, key).load_state_dict(unpack_tensors(packed, map_location=self.device_))

    def __setstate__(self, state):
        torch_state = state.pop("_skf_torch_state", None)
        if torch_state is not None:  # written by skforensics.save: nothing pickled
            state["__cuda_dependent_attributes__"] = pickle.dumps({})
        # a state saved before a parameter existed lacks it: fill_default_params gives
        # it its default (device included)
        has_device = "device" in state
        requested = state.get("device")
        if "device_" in state:
            # restore on the fitted device if possible, else where CUDA allows
            dev = state["device_"]
            if torch.device(dev).type == "cuda" and not torch.cuda.is_available():
                dev = load_device()
            state["device"] = str(dev)
        elif requested in (None, "auto"):
            state["device"] = str(load_device())
        super().__setstate__(state)
        from .._persistence import fill_default_params

        # a model saved before a parameter existed (e.g. rotate_crops) gets its default
        fill_default_params(self)
        if "device_" in state:
            self.device_ = torch.device(self.device)
        if torch_state is not None:
            self._restore_torch_state(torch_state)
        if has_device:
            self.device = requested
        else:
            del self.device
            fill_default_params(self)

    # ---------------------------------------------------------- initialisation
    def initialize_module(self):
        kwargs = self.get_params_for("module")
        module = self.module
        if not isinstance(module, torch.nn.Module):
            try:
                sig = inspect.signature(module).parameters
            except (TypeError, ValueError):
                sig = {}
            if (
                "n_features" in sig
                and "n_features" not in kwargs
                and hasattr(self, "n_features_in_")
            ):
                kwargs["n_features"] = self.n_features_in_
            if (
                "n_classes" in sig
                and "n_classes" not in kwargs
                and hasattr(self, "classes_inferred_")
            ):
                kwargs["n_classes"] = len(self.classes_inferred_)
        self.module_ = self.initialized_instance(module, kwargs)
        return self

    def get_iterator(self, dataset, training=False):
        # as skorch's, but training batches are shuffled unless told otherwise
        if training:
            kwargs = self.get_params_for("iterator_train")
            kwargs.setdefault("shuffle", True)
            iterator = self.iterator_train
        else:
            kwargs = self.get_params_for("iterator_valid")
            # a private generator: iterating a DataLoader draws a seed from the
            # global torch RNG otherwise, and prediction must not touch it
            kwargs.setdefault("generator", torch.Generator())
            iterator = self.iterator_valid
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        return iterator(dataset, **kwargs)

    @contextlib.contextmanager
    def _torch_rng(self, seed):
        dev = getattr(self, "device_", torch.device("cpu"))
        devices = [dev.index or 0] if dev.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    # ------------------------------------------------------------------- data
    def _module_input_kind(self):
        module = self.module
        kind = getattr(module, "input_kind", None)
        return kind

    def _prepare_X(self, X, reset):
        """Validate ``X`` and return it as a float32 matrix or a uint8 image array."""
        if isinstance(X, Mapping):
            raise TypeError("SAMNetClassifier takes images or a feature matrix, not a dict")
        if _is_feature_matrix(X):
            from sklearn.utils.validation import check_array

            Xf = check_array(X, dtype=np.float32, ensure_all_finite=True)
            if reset:
                self.input_kind_ = "features"
                self.n_features_in_ = Xf.shape[1]
            else:
                if self.input_kind_ != "features":
                    raise ValueError(
                        "this classifier was fitted on images but X is a feature matrix"
                    )
                if Xf.shape[1] != self.n_features_in_:
                    raise ValueError(
                        f"X has {Xf.shape[1]} features, but {type(self).__name__} was fitted "
                        f"with {self.n_features_in_}"
                    )
            return Xf
        if (
            isinstance(X, np.ndarray)
            and X.dtype.kind in "fiu"
            and X.dtype != np.uint8
            and X.ndim != 2
        ):
            raise ValueError(
                f"X has shape {X.shape} and dtype {X.dtype}: pass a 2-D feature matrix, or "
                "images as uint8 arrays (n, H, W, 3), file paths or PIL images"
            )
        if self.crop_size is not None:
            return self._prepare_crop_images(X, reset)
        arr = _decode_images(X, self.image_size)
        if self.input_transform is not None and arr.ndim == 4:
            arr = np.asarray(self._input_transform(arr))
        if arr.ndim == 5:
            raise ValueError(
                f"X holds {arr.shape[1]} views per image; pass the original images (the views "
                "are made by the augment transformer)"
            )
        if reset:
            self.input_kind_ = "images"
            self.image_shape_ = arr.shape[1:3]
        elif self.input_kind_ != "images":
            raise ValueError("this classifier was fitted on a feature matrix but X holds images")
        return arr

    def _check_crop_params(self):
        for name in ("crop_size", "crops_per_image", "max_test_crops"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        if not isinstance(self.rotate_crops, (bool, np.bool_)):
            raise ValueError(f"rotate_crops must be a bool; got {self.rotate_crops!r}")
        if self.crop_size < 8 or self.crop_size % 2:
            raise ValueError(f"crop_size must be an even int >= 8; got {self.crop_size!r}")
        if self.image_size is not None:
            raise ValueError(
                "crop_size and image_size exclude each other: crop or resize, not both"
            )
        if self.augment is not None:
            raise ValueError("crop_size does not combine with augment (views); use train_transform")

    def _prepare_crop_images(self, X, reset):
        """Images of any sizes, decoded at full resolution, as a list (crop mode)."""
        self._check_crop_params()
        coll = check_images(X, allow_multiview=False)
        imgs = [coll.load(i) for i in range(len(coll))]
        if reset:
            self.input_kind_ = "images"
            self.image_shape_ = None
        elif self.input_kind_ != "images":
            raise ValueError("this classifier was fitted on a feature matrix but X holds images")
        return imgs

    def _epoch_crops(self, imgs, yp, epoch):
        """Training data of one epoch: fresh ``train_transform`` draws, then random crops."""
        rng = np.random.default_rng([self.seed_, epoch])
        if self.train_transform is not None:
            from sklearn.base import clone

            tf = clone(self.train_transform)
            if "random_state" in tf.get_params():
                tf.set_params(random_state=int(rng.integers(2**31)))
            imgs = tf.fit_transform(imgs)
        imgs = self._input_transform(imgs)
        k = self.crops_per_image
        crops = random_crops(imgs, self.crop_size, k, rng)
        if self.rotate_crops:
            turns = rng.integers(0, 4, size=len(crops))
            crops = np.stack([np.rot90(c, t) for c, t in zip(crops, turns)])
        return crops, np.repeat(yp, k)

    def _crop_logits(self, imgs):
        """Mean logits over a grid of crops of every image (crop mode)."""
        crops, owner = grid_crops(self._input_transform(imgs), self.crop_size, self.max_test_crops)
        logits = None
        for shape, idx in group_by_shape(crops).items():
            out = super().forward(np.stack([crops[i] for i in idx])).numpy()
            if logits is None:
                logits = np.empty((len(crops), out.shape[1]), dtype=np.float64)
            logits[idx] = out
        return mean_by_owner(logits, owner, len(imgs))

    def _input_transform(self, imgs):
        if self.input_transform is None:
            return imgs
        return self.input_transform.transform(imgs)

    def _check_module_kind(self):
        kind = self._module_input_kind()
        if kind is not None and kind != self.input_kind_:
            what = "a feature matrix" if self.input_kind_ == "features" else "images"
            raise ValueError(
                f"module {getattr(self.module, '__name__', type(self.module).__name__)} takes "
                f"{kind} but X is {what}; use LinearProbe/MLPHead on features, "
                "SmallForensicCNN/CLIPFineTuneHead on images"
            )

    def _encode_y(self, y, reset):
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import column_or_1d

        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if reset:
            classes, y_enc = np.unique(y, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(
                    f"y has a single class ({classes[0]!r}); a classifier needs at least two"
                )
            self.classes_inferred_ = classes
            return y_enc.astype(np.int64)
        classes = self.classes_
        idx = np.searchsorted(classes, y)
        idx = np.clip(idx, 0, len(classes) - 1)
        if not np.all(classes[idx] == y):
            raise ValueError(f"y contains labels not seen at fit: {sorted(set(y) - set(classes))}")
        return idx.astype(np.int64)

    def _prepare_training_data(self, X, y, reset):
        if y is None:
            raise ValueError("SAMNetClassifier.fit needs y")
        if self.rotate_crops and self.crop_size is None:
            raise ValueError("rotate_crops=True rotates training crops: it needs crop_size")
        Xp = self._prepare_X(X, reset=reset)
        yp = self._encode_y(y, reset=reset)
        if len(yp) != len(Xp):
            raise ValueError(f"X has {len(Xp)} samples but y has {len(yp)}")
        if reset:
            self._check_module_kind()
            self.seed_ = seed_from_random_state(self.random_state)
            self.augment_ = None
            if self.augment is not None:
                if self.input_kind_ != "images":
                    raise ValueError("augment= needs image input, but X is a feature matrix")
                from sklearn.base import clone

                self.augment_ = clone(self.augment).fit(Xp)
        if getattr(self, "augment_", None) is not None:
            views = np.asarray(self.augment_.transform(Xp))
            if views.dtype != np.uint8 or views.ndim not in (4, 5) or len(views) != len(Xp):
                raise ValueError(
                    f"augment.transform returned {views.dtype} {views.shape}; expected uint8 "
                    f"views of shape (n={len(Xp)}, V, S, S, 3)"
                )
            if views.ndim == 4:
                views = views[:, None]
            return {"X": Xp, "views": views}, yp
        return Xp, yp

    def check_data(self, X, y):
        # classes are set by _encode_y; skorch would overwrite them with the codes
        pass

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, **fit_params):
        """Fit the network.

        Parameters
        ----------
        X : array-like of shape (n, d), or images
            Feature matrix or images (paths, PIL images, uint8 arrays).
        y : array-like of shape (n,)
            Labels.
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self
        """
        reset = not (self.warm_start and getattr(self, "initialized_", False))
        return self._train(X, y, reset, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs (initialising on the first call).

        Parameters
        ----------
        X, y
            As for :meth:`fit`.
        classes : ignored
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self
        """
        return self._train(X, y, not getattr(self, "initialized_", False), **fit_params)

    def _train(self, X, y, reset, **fit_params):
        """Prepare the data, (re)initialise when ``reset``, run ``max_epochs`` epochs."""
        Xp, yp = self._prepare_training_data(X, y, reset=reset)
        if reset:
            self._resolve_device(reset=True)  # before the RNG fork, which needs the device
        seed = self.seed_ + (0 if reset else len(self.history_))
        with self._torch_rng(seed):
            if reset:
                self.initialize()
            if self.crop_size is None:
                NeuralNet.partial_fit(self, Xp, yp, **fit_params)
                return self
            # crop mode: new transform draws and crops at every epoch
            first = len(self.history_)
            for epoch in range(first, first + self.max_epochs):
                Xe, ye = self._epoch_crops(Xp, yp, epoch)
                NeuralNet.partial_fit(self, Xe, ye, epochs=1, **fit_params)
        return self

    # ---------------------------------------------------------------- forward
    def prepare_inputs(self, X, y=None):
        """Validate ``X`` (and ``y``) as :meth:`predict` does; return the module-ready data.

        Used by :mod:`skforensics.metrics` to compute per-sample gradients on
        exactly the data the network is trained on.

        Parameters
        ----------
        X : array-like of shape (n, d), or images
            Feature matrix or images (paths, PIL images, uint8 arrays) of the
            kind seen in fit.
        y : array-like of shape (n,), default=None
            Labels among ``classes_``.

        Returns
        -------
        X_prepared : ndarray
            float32 ``(n, d)`` features or uint8 ``(n, H, W, 3)`` images; pass
            batches of it through :meth:`to_module_input`.
        y_encoded : ndarray of shape (n,), dtype int64, or None
            Indices into ``classes_``; None when ``y`` is None.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "input_kind_")
        Xp = self._prepare_X(X, reset=False)
        yp = None if y is None else self._encode_y(y, reset=False)
        return Xp, yp

    def to_module_input(self, x):
        """A batch of :meth:`prepare_inputs` output as the module's input tensor on ``device_``.

        Parameters
        ----------
        x : ndarray or torch.Tensor
            float32 features ``(B, d)`` or uint8 images ``(B, H, W, 3)``.

        Returns
        -------
        tensor : torch.Tensor
            Features, or images as float ``(B, 3, H, W)`` in ``[0, 1]``.
        """
        x = to_tensor(x, device=self.device_)
        if x.dtype == torch.uint8:
            x = x.permute(0, 3, 1, 2).float().div_(255.0)
        return x

    def infer(self, x, **fit_params):
        views = None
        if isinstance(x, Mapping):
            views = x.get("views")
            x = x["X"]
        x = self.to_module_input(x)
        if views is None or not self.module_.training:
            return self.module_(x, **fit_params)
        b, v = views.shape[:2]
        views = self.to_module_input(views.reshape(b * v, *views.shape[2:]))
        feats = getattr(self.criterion_, "needs_features", False)
        kw = dict(fit_params, return_features=True) if feats else fit_params
        if views.shape[1:] == x.shape[1:]:
            out = self.module_(torch.cat([x, views]), **kw)
            if feats:
                logits, f = out
                return ViewOutput(
                    logits[:b], logits[b:].reshape(b, v, -1), f[:b], f[b:].reshape(b, v, -1)
                )
            return ViewOutput(out[:b], out[b:].reshape(b, v, -1))
        out, out_v = self.module_(x, **kw), self.module_(views, **kw)
        if feats:
            return ViewOutput(
                out[0], out_v[0].reshape(b, v, -1), out[1], out_v[1].reshape(b, v, -1)
            )
        return ViewOutput(out, out_v.reshape(b, v, -1))

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device_)
        if isinstance(y_pred, ViewOutput) and not isinstance(self.criterion_, RetrospectionKLLoss):
            y_pred = y_pred.logits
        return self.criterion_(y_pred, y_true)

    def train_step(self, batch, **fit_params):
        """One training step; two fresh forward/backward passes for SAM-type optimizers."""
        opt = self.optimizer_
        if not isinstance(opt, SAM) or len(self._optimizers) != 1:
            return super().train_step(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        first = {}

        def closure():
            # called twice by SAM.step: at w, then at w + e with BatchNorm frozen;
            # each call computes fresh gradients
            self._zero_grad_optimizer()
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
            loss.backward()
            if not first:
                first.update(loss=loss, y_pred=y_pred)
                self.notify(
                    "on_grad_computed",
                    named_parameters=TeeGenerator(self.get_all_learnable_params()),
                    batch=batch,
                    training=True,
                )
            return loss

        opt.step(closure, bn_module=self.module_)
        return {"loss": first["loss"], "y_pred": first["y_pred"]}

    # ---------------------------------------------------------------- predict
    def _prepare_predict(self, X):
        self.check_is_fitted()
        return self._prepare_X(X, reset=False)

    def predict_proba(self, X):
        """Class probabilities, shape (n, n_classes).

        With ``crop_size`` set, the softmax of the logits averaged over a grid
        of crops of each full-resolution image.
        """
        Xp = self._prepare_predict(X)
        if self.crop_size is not None:
            from scipy.special import softmax

            return softmax(self._crop_logits(Xp), axis=1).astype(np.float32)
        return super().predict_proba(Xp)

    def predict(self, X):
        """Predicted class labels, shape (n,)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def decision_function(self, X):
        """Logit margin of the last class for binary problems, logits otherwise.

        Parameters
        ----------
        X : array-like of shape (n, d), or images
            Feature matrix or images, of the kind seen in fit.

        Returns
        -------
        scores : ndarray of shape (n,) or (n, n_classes)
        """
        Xp = self._prepare_predict(X)
        if self.crop_size is not None:
            logits = self._crop_logits(Xp)
        else:
            logits = super().forward(Xp).numpy()
        if logits.shape[1] == 2:
            return logits[:, 1] - logits[:, 0]
        return logits
