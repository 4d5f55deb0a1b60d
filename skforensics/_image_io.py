"""Image input layer shared by every image transformer of skforensics.

``X`` may be

* a list, tuple or 1-D object array of file paths (``str`` or ``os.PathLike``),
  PIL images or ``(H, W)`` / ``(H, W, C)`` uint8 arrays, mixed freely, of any sizes;
* a uint8 array of shape ``(n, H, W)``, ``(n, H, W, C)`` with ``C`` in {1, 3, 4};
* a *multi-view* collection: a uint8 array ``(n, V, H, W, 3)`` or a list whose
  items are lists/tuples of ``V`` images each (as produced by
  :class:`~skforensics.MultiScaleStyleRetrospection`).

Every image is decoded to 8-bit RGB: grayscale, RGBA (alpha dropped), palette,
CMYK, YCbCr, LAB and 16-bit images are converted, and the EXIF orientation is
applied. Corrupt, missing or truncated files raise :class:`ImageLoadError`,
whose message names the file and its index in ``X``. Decompression bombs (more
than :data:`MAX_IMAGE_PIXELS` pixels) are refused before any pixel is decoded.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

#: Images with more pixels than this are refused before decoding (decompression bombs).
MAX_IMAGE_PIXELS = 64_000_000
#: Smallest accepted side length, in pixels.
MIN_IMAGE_SIZE = 8

_ON_ERROR = ("raise", "skip")


class ImageLoadError(ValueError):
    """An image of ``X`` could not be read or is unusable.

    Attributes
    ----------
    index : int or None
        Position of the offending sample in ``X``.
    source : str
        The file path, or a short description of an in-memory image.
    """

    def __init__(self, message, index=None, source=None):
        super().__init__(message)
        self.index = index
        self.source = source


def _describe(obj):
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj)
    if isinstance(obj, np.ndarray):
        return f"array of shape {obj.shape} and dtype {obj.dtype}"
    return type(obj).__name__


def _where(index, view=None):
    if index is None:
        return ""
    return f" (X[{index}]" + (f", view {view})" if view is not None else ")")


def _to_uint8_rgb_from_pil(img):
    """Convert any PIL image to an 8-bit RGB PIL image."""
    from PIL import Image, ImageOps

    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # broken EXIF must not make a readable image unreadable
        pass
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(np.round(arr / hi * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError("floating-point image contains NaN or inf")
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        arr = np.clip(np.round(arr * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # drop alpha: composite on black would change pixels, so keep the colour planes
        return img.convert("RGBA").convert("RGB")
    return img.convert("RGB")


def _array_to_rgb(arr, index=None, view=None):
    """Validate one in-memory image array and return it as ``(H, W, 3)`` uint8."""
    arr = np.asarray(arr)
    where = _where(index, view)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ImageLoadError(f"image array{where} contains NaN or inf", index, _describe(arr))
    if arr.dtype != np.uint8:
        raise ImageLoadError(
            f"image array{where} has dtype {arr.dtype}; pass uint8 arrays with values in "
            "[0, 255] (e.g. (img * 255).round().astype(np.uint8)) or PIL images",
            index,
            _describe(arr),
        )
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ImageLoadError(
            f"image array{where} has shape {arr.shape}; expected (H, W) or (H, W, C)",
            index,
            _describe(arr),
        )
    c = arr.shape[2]
    if c == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif c == 4:
        arr = arr[:, :, :3]
    elif c != 3:
        raise ImageLoadError(
            f"image array{where} has {c} channels; expected 1 (gray), 3 (RGB) or 4 (RGBA)",
            index,
            _describe(arr),
        )
    _check_size(arr.shape[1], arr.shape[0], index, view, _describe(arr))
    return np.ascontiguousarray(arr)


def _check_size(w, h, index, view, source):
    where = _where(index, view)
    if w < MIN_IMAGE_SIZE or h < MIN_IMAGE_SIZE:
        raise ImageLoadError(
            f"image {source!r}{where} is {w}x{h} pixels; at least "
            f"{MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} is needed",
            index,
            source,
        )
    if w * h > MAX_IMAGE_PIXELS:
        raise ImageLoadError(
            f"image {source!r}{where} has {w}x{h} = {w * h} pixels, more than "
            f"skforensics._image_io.MAX_IMAGE_PIXELS={MAX_IMAGE_PIXELS} "
            "(possible decompression bomb)",
            index,
            source,
        )


def load_image(obj, index=None, view=None):
    """Load one image as an ``(H, W, 3)`` uint8 RGB array.

    Parameters
    ----------
    obj : str, os.PathLike, PIL.Image.Image or ndarray
        The image.
    index, view : int, optional
        Position in ``X``, used in error messages.

    Returns
    -------
    ndarray of shape (H, W, 3), dtype uint8

    Raises
    ------
    ImageLoadError
        If the file is missing, corrupt, truncated, too small or too large, or
        the array has the wrong dtype, shape or channels.
    """
    from PIL import Image

    where = _where(index, view)
    if isinstance(obj, np.ndarray):
        return _array_to_rgb(obj, index, view)
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        if not os.path.exists(path):
            raise ImageLoadError(f"image file {path!r}{where} does not exist", index, path)
        if os.path.isdir(path):
            raise ImageLoadError(f"image path {path!r}{where} is a directory", index, path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as img:
                    _check_size(img.size[0], img.size[1], index, view, path)
                    img.load()  # raises on truncated data
                    rgb = _to_uint8_rgb_from_pil(img)
                    return np.asarray(rgb, dtype=np.uint8).copy()
        except ImageLoadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageLoadError(
                f"image file {path!r}{where} is too large (possible decompression bomb): {exc}",
                index,
                path,
            ) from exc
        except Image.UnidentifiedImageError as exc:
            raise ImageLoadError(
                f"image file {path!r}{where} is not a readable image (corrupt, or not an "
                "image format PIL knows)",
                index,
                path,
            ) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageLoadError(
                f"image file {path!r}{where} could not be decoded (corrupt or truncated): {exc}",
                index,
                path,
            ) from exc
    if isinstance(obj, Image.Image):
        _check_size(obj.size[0], obj.size[1], index, view, "PIL image")
        try:
            return np.asarray(_to_uint8_rgb_from_pil(obj), dtype=np.uint8).copy()
        except (OSError, ValueError) as exc:
            raise ImageLoadError(f"PIL image{where} could not be converted: {exc}", index) from exc
    raise ImageLoadError(
        f"X[{index}] is a {type(obj).__name__}; expected a file path, a PIL image or a uint8 "
        "array",
        index,
        _describe(obj),
    )


@dataclass
class ImageCollection:
    """A validated, lazily decoded view of ``X``.

    Use :func:`check_images` to build one. ``len(coll)`` is the number of
    samples, ``coll.n_views`` the number of views per sample (1 for plain
    images) and ``coll.load(i, v)`` decodes view ``v`` of sample ``i``.
    """

    items: list
    n_views: int
    array: np.ndarray | None = None  # (n, V, H, W, 3) for array input

    def __len__(self):
        return len(self.items) if self.array is None else self.array.shape[0]

    def load(self, i, view=0):
        if self.array is not None:
            return self.array[i, view]
        item = self.items[i]
        if self.n_views > 1 or isinstance(item, (list, tuple)):
            return load_image(item[view], index=i, view=view)
        return load_image(item, index=i)

    def load_safe(self, i, view=0, on_error="raise"):
        """Like :meth:`load` but returns ``(None, error)`` when ``on_error='skip'``."""
        try:
            return self.load(i, view), None
        except ImageLoadError as exc:
            if on_error == "raise":
                raise
            return None, exc

    def iter_images(self, on_error="raise"):
        """Yield ``(i, v, image_or_None)`` for every view of every sample."""
        for i in range(len(self)):
            for v in range(self.n_views):
                img, _ = self.load_safe(i, v, on_error)
                yield i, v, img


def _is_view_group(item):
    return isinstance(item, (list, tuple))


def check_images(X, *, allow_multiview=True, name="X"):
    """Validate the container ``X`` of images without decoding files.

    Parameters
    ----------
    X : list, tuple or ndarray
        Images, see the module docstring.
    allow_multiview : bool, default=True
        Whether samples made of several views are accepted.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    ImageCollection

    Raises
    ------
    ValueError
        If ``X`` is empty, is a single path or image instead of a collection, or
        a uint8 array has the wrong shape, dtype or number of channels.
    """
    from PIL import Image

    if isinstance(X, (str, os.PathLike, Image.Image)):
        raise ValueError(
            f"{name} must be a collection of images (e.g. a list of paths), got a single "
            f"{type(X).__name__}; wrap it in a list"
        )
    if isinstance(X, ImageCollection):
        return X
    if hasattr(X, "iloc") or hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):
        X = list(np.asarray(X, dtype=object).ravel())
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.size == 0 or X.shape[0] == 0:
            raise ValueError(f"{name} is empty: at least one image is required")
        if X.dtype.kind in "US":
            return check_images(list(X.astype(str)), allow_multiview=allow_multiview, name=name)
        if X.dtype.kind == "f" and not np.all(np.isfinite(X)):
            raise ValueError(f"{name} contains NaN or inf; images must be uint8 arrays")
        if X.dtype != np.uint8:
            raise ValueError(
                f"{name} has dtype {X.dtype}; image arrays must be uint8 with values in "
                "[0, 255]. If this is a feature matrix, put a feature extractor (e.g. "
                "CLIPFeatureExtractor) before this step"
            )
        if X.ndim == 3:
            X = np.repeat(X[..., None], 3, axis=3)
        if X.ndim == 4:
            X = X[:, None]
        if X.ndim != 5:
            raise ValueError(
                f"{name} has shape {X.shape}; expected (n, H, W), (n, H, W, C) or "
                "(n, V, H, W, C) uint8 images"
            )
        c = X.shape[-1]
        if c == 1:
            X = np.repeat(X, 3, axis=-1)
        elif c == 4:
            X = X[..., :3]
        elif c != 3:
            raise ValueError(
                f"{name} has {c} channels in its last axis; expected 1, 3 or 4 "
                "(channels-last uint8 images)"
            )
        if X.shape[1] > 1 and not allow_multiview:
            raise ValueError(f"{name} holds {X.shape[1]} views per sample; one is expected")
        _check_size(X.shape[3], X.shape[2], None, None, f"{name} array")
        return ImageCollection(items=[], n_views=X.shape[1], array=X)
    try:
        items = list(X)
    except TypeError:
        raise ValueError(
            f"{name} must be a list of image paths, PIL images or arrays, or a uint8 array; "
            f"got {type(X).__name__}"
        ) from None
    if len(items) == 0:
        raise ValueError(f"{name} is empty: at least one image is required")
    groups = [_is_view_group(it) for it in items]
    if any(groups):
        if not all(groups):
            raise ValueError(f"{name} mixes single images and groups of views")
        n_views = {len(it) for it in items}
        if len(n_views) != 1 or 0 in n_views:
            raise ValueError(f"every sample of {name} must have the same, non-zero number of views")
        n_views = n_views.pop()
        if n_views > 1 and not allow_multiview:
            raise ValueError(f"{name} holds {n_views} views per sample; one is expected")
        return ImageCollection(items=items, n_views=n_views)
    for i, it in enumerate(items):
        if isinstance(it, float) and np.isnan(it):
            raise ValueError(f"{name}[{i}] is NaN, not an image")
    return ImageCollection(items=items, n_views=1)


def load_images(X, on_error="raise"):
    """Decode images into a list of ``(H, W, 3)`` uint8 RGB arrays.

    The same decoding every skforensics estimator applies to its input: file
    paths, ``os.PathLike``, PIL images or uint8 arrays; grey, palette, RGBA,
    CMYK and 16-bit images are converted to 8-bit RGB and the EXIF orientation
    is applied.

    Parameters
    ----------
    X : list of paths, PIL images or uint8 arrays, or uint8 ndarray
        Images, or multi-view samples (lists of images, or an
        ``(n, V, H, W, 3)`` array).
    on_error : {"raise", "skip"}, default="raise"
        ``"raise"``: an unreadable image raises
        :class:`~skforensics.ImageLoadError` naming the file and its index.
        ``"skip"``: it comes back as ``None`` and one
        :class:`~skforensics.SkippedImageWarning` lists all of them.

    Returns
    -------
    images : list
        One ``(H, W, 3)`` uint8 array per sample (a list of arrays for
        multi-view samples). Sizes may differ between images.

    Examples
    --------
    >>> from skforensics.datasets import load_images, load_sample_images
    >>> images = load_images(load_sample_images("cifake").paths[:3])
    >>> len(images), images[0].shape, images[0].dtype
    (3, (32, 32, 3), dtype('uint8'))
    """
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    coll = check_images(X)
    out, failed = [], []
    for i in range(len(coll)):
        views = []
        for v in range(coll.n_views):
            img, err = coll.load_safe(i, v, on_error)
            if err is not None:
                failed.append((i, err))
            views.append(img)
        out.append(views[0] if coll.n_views == 1 else views)
    warn_failed(failed)
    return out


def warn_failed(failed):
    """Warn once about images skipped with ``on_error='skip'``."""
    if failed:
        idx = sorted({i for i, _ in failed})
        msgs = "; ".join(str(e) for _, e in failed[:5])
        warnings.warn(
            f"{len(idx)} image(s) could not be read and were skipped (their rows are NaN): "
            f"indices {idx[:20]}{'...' if len(idx) > 20 else ''}. {msgs}",
            SkippedImageWarning,
            stacklevel=3,
        )


class SkippedImageWarning(UserWarning):
    """Warned when ``on_error='skip'`` replaced unreadable images by NaN rows."""


def view_feature_names(names, n_views):
    """Prefix per-image feature ``names`` with ``view{v}_`` for each of ``n_views`` views."""
    if n_views <= 1:
        return list(names)
    return [f"view{v}_{n}" for v in range(n_views) for n in names]
