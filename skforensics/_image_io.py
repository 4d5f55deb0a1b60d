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
applied. Corrupt, missing, truncated or unreadable files raise
:class:`ImageLoadError`, whose message names the file and the problem.
FIFOs, devices and sockets are refused before they are opened. Images with more
pixels than :func:`get_max_image_pixels` (200 million by default, settable with
:func:`set_max_image_pixels`) are refused before any pixel is decoded
(decompression bombs), for every format, ICO included.

Large photos are decoded one at a time (at most one image of more than
32 million pixels is being decoded per process), and a consumer that resizes
anyway can ask for a reduced decode (``reduce_to``): above 16 million pixels,
JPEG is decoded at 1/2, 1/4 or 1/8 scale by the codec (draft mode) and
JPEG 2000 at a reduced resolution level, keeping the shorter side at least
``2 * reduce_to``.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import threading
import warnings
from dataclasses import dataclass, replace
from numbers import Integral

import numpy as np

from ._compat import Hidden, Interval, StrOptions, validate_params

#: Default of :func:`get_max_image_pixels`: 200 million pixels, enough for the
#: 200 MP sensors of current phones (16320 x 12240).
DEFAULT_MAX_IMAGE_PIXELS = 200_000_000
#: Images with more pixels than this are refused before decoding (decompression
#: bombs). Read it with :func:`get_max_image_pixels`, change it with
#: :func:`set_max_image_pixels`.
MAX_IMAGE_PIXELS = DEFAULT_MAX_IMAGE_PIXELS
#: Smallest accepted side length, in pixels.
MIN_IMAGE_SIZE = 8

_ON_ERROR = ("raise", "skip")
# images above this many pixels are decoded one at a time (bounded memory)
_LARGE_PIXELS = 32_000_000
_LARGE_LOCK = threading.Lock()


def _new_lock_after_fork():  # a forked worker must not inherit a held lock
    global _LARGE_LOCK
    _LARGE_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_after_fork)
# a consumer's ``reduce_to`` hint only applies above this many pixels, so that
# ordinary images are decoded exactly as before
_REDUCE_ABOVE_PIXELS = 16_000_000
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@validate_params({}, prefer_skip_nested_validation=True)
def get_max_image_pixels():
    """The largest number of pixels an image may have to be decoded.

    Returns
    -------
    max_pixels : int
        Images with more pixels (width x height, as declared in the file's
        header) are refused with :class:`~skforensics.ImageLoadError` before any
        pixel is decoded. 200,000,000 unless changed by
        :func:`set_max_image_pixels`.

    Examples
    --------
    >>> from skforensics.datasets import get_max_image_pixels
    >>> get_max_image_pixels()
    200000000
    """
    return MAX_IMAGE_PIXELS


@validate_params(
    {"max_pixels": [Interval(Integral, MIN_IMAGE_SIZE**2, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def set_max_image_pixels(max_pixels):
    """Set the largest number of pixels an image may have to be decoded.

    The limit applies to every skforensics estimator, to
    :func:`~skforensics.datasets.load_images` and to ``skforensics scan``
    (``--max-pixels``), in this process. It is checked on the size declared in
    the file's header, before any pixel is decoded, in every format (for ICO,
    on the real size of every embedded image). It replaces Pillow's own
    ``PIL.Image.MAX_IMAGE_PIXELS`` check for skforensics' decoding: a higher
    limit works above Pillow's (which refuses images of more than
    2 x 89.5 million pixels), and Pillow's global is left unchanged except
    while decoding an image that exceeds it.

    Decoding a full-resolution image takes about 7 bytes per pixel at its peak
    (Pillow's 4 bytes per pixel plus the 3 of the uint8 array), so the default
    of 200 million pixels bounds one decode to about 1.4 GB; images of more
    than 32 million pixels are decoded one at a time.

    Parameters
    ----------
    max_pixels : int
        The new limit, at least ``MIN_IMAGE_SIZE ** 2`` (64).

    Returns
    -------
    previous : int
        The limit before the call, to restore it afterwards.

    Examples
    --------
    >>> from skforensics.datasets import get_max_image_pixels, set_max_image_pixels
    >>> previous = set_max_image_pixels(300_000_000)  # accept 300 Mpx panoramas
    >>> get_max_image_pixels()
    300000000
    >>> _ = set_max_image_pixels(previous)
    """
    global MAX_IMAGE_PIXELS
    previous = MAX_IMAGE_PIXELS
    MAX_IMAGE_PIXELS = int(max_pixels)
    return previous


class ImageLoadError(ValueError):
    """An image of ``X`` could not be read or is unusable.

    Parameters
    ----------
    message : str
        What went wrong, naming the file (or the position of an in-memory
        image) and the problem.
    index : int, default=None
        Position of the offending sample in ``X``, when known.
    source : str, default=None
        The file path, or a short description of an in-memory image.

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
    """Position of an in-memory image, for messages (files are named by their path)."""
    if index is None:
        return ""
    return f" at position {index}" + (f" (view {view})" if view is not None else "")


def _to_uint8_rgb_from_pil(img):
    """Convert any PIL image to an 8-bit RGB PIL image."""
    from PIL import Image, ImageOps

    try:
        # exif_transpose copies the image even when there is nothing to do: check first
        if img.getexif().get(0x0112, 1) not in (None, 1):
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


def _check_size(w, h, index, view, source, where=None):
    where = _where(index, view) if where is None else where
    if w < MIN_IMAGE_SIZE or h < MIN_IMAGE_SIZE:
        raise ImageLoadError(
            f"image {source!r}{where} is {w}x{h} pixels; at least "
            f"{MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} is needed",
            index,
            source,
        )
    _check_pixels(w, h, index, source, where)


def _check_pixels(w, h, index, source, where=""):
    limit = MAX_IMAGE_PIXELS
    if w * h > limit:
        raise ImageLoadError(
            f"image {source!r}{where} has {w}x{h} = {w * h:,} pixels, more than the limit "
            f"of {limit:,} (possible decompression bomb); raise it with "
            "skforensics.datasets.set_max_image_pixels (scan --max-pixels) if the image is "
            "genuine",
            index,
            source,
        )


def _non_regular_kind(mode):
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _open_regular(path, index):
    """Open ``path`` for reading, refusing anything but a regular file.

    ``os.stat`` first, so that a FIFO or a device is never opened (opening a
    FIFO blocks until a writer appears); then a non-blocking open and
    ``fstat`` of the opened descriptor, in case the path changed in between.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise ImageLoadError(
                f"image file {path!r} is a broken symbolic link", index, path
            ) from None
        raise ImageLoadError(f"image file {path!r} does not exist", index, path) from None
    except PermissionError:
        raise ImageLoadError(
            f"image file {path!r} cannot be read: permission denied (on the file or a "
            "folder above it)",
            index,
            path,
        ) from None
    except (OSError, ValueError) as exc:
        raise ImageLoadError(f"image file {path!r} cannot be accessed: {exc}", index, path) from exc
    if stat.S_ISDIR(st.st_mode):
        raise ImageLoadError(f"image path {path!r} is a directory, not a file", index, path)
    if not stat.S_ISREG(st.st_mode):
        raise ImageLoadError(
            f"image path {path!r} is {_non_regular_kind(st.st_mode)}, not a regular file; "
            "it was not opened",
            index,
            path,
        )
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        raise ImageLoadError(
            f"image file {path!r} cannot be read: permission denied", index, path
        ) from None
    except OSError as exc:
        raise ImageLoadError(
            f"image file {path!r} cannot be opened: {exc.strerror or exc}", index, path
        ) from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ImageLoadError(
                f"image path {path!r} is {_non_regular_kind(mode)}, not a regular file",
                index,
                path,
            )
        if getattr(os, "O_NONBLOCK", 0) and hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _dib_size(head):
    """``(w, h)`` of a DIB (BMP without file header), as stored in an ICO/CUR entry."""
    if len(head) < 12:
        return None
    if struct.unpack_from("<I", head, 0)[0] == 12:  # BITMAPCOREHEADER
        w, h = struct.unpack_from("<HH", head, 4)
    else:
        w, h = struct.unpack_from("<ii", head, 4)
    return abs(w), abs(h) // 2  # XOR image + AND mask


def _check_ico(fp, index, path):
    """Refuse an ICO whose embedded images are too large, before Pillow decodes one.

    Pillow's ICO plugin decodes the largest entry while the file is opened, and
    an entry's real size (in its PNG or DIB header) may differ from the size
    declared in the directory (at most 256x256).
    """
    pos = fp.tell()
    try:
        fp.seek(0)
        head = fp.read(6)
        if len(head) < 6 or head[:4] != b"\x00\x00\x01\x00":
            return
        n = struct.unpack_from("<H", head, 4)[0]
        entries = fp.read(16 * n)
        for k in range(len(entries) // 16):
            offset = struct.unpack_from("<I", entries, 16 * k + 12)[0]
            fp.seek(offset)
            sub = fp.read(26)
            if sub[:8] == _PNG_MAGIC and len(sub) >= 24:
                size = struct.unpack_from(">II", sub, 16)
            else:
                size = _dib_size(sub)
            if size is not None:
                _check_pixels(size[0], size[1], index, path, f" (icon entry {k})")
    finally:
        fp.seek(pos)


class _PILLimit:
    """Lift Pillow's own bomb limit to ours while one image is opened and decoded.

    Pillow refuses images of more than ``2 * PIL.Image.MAX_IMAGE_PIXELS`` pixels
    (179 million by default) before skforensics can check them. For an image
    between Pillow's limit and ours, the global is raised to ours for the
    duration of that decode, under :data:`_LARGE_LOCK` (so one at a time), then
    restored.
    """

    def __enter__(self):
        from PIL import Image

        _LARGE_LOCK.acquire()
        self.old = Image.MAX_IMAGE_PIXELS
        if self.old is not None:
            # Pillow errors above twice this: bombs far above our limit stay refused
            Image.MAX_IMAGE_PIXELS = max(self.old, MAX_IMAGE_PIXELS)
        return self

    def __exit__(self, *exc):
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = self.old
        _LARGE_LOCK.release()
        return False


def _reduce_for(img, reduce_to):
    """Ask the codec for a reduced decode keeping the shorter side >= ``2 * reduce_to``."""
    w, h = img.size
    if not reduce_to or w * h <= _REDUCE_ABOVE_PIXELS:
        return
    target = 2 * int(reduce_to)
    factor = min(w, h) // target
    if factor < 2:
        return
    if img.format == "JPEG":
        img.draft(None, (target, target))  # DCT scaling: 1/2, 1/4 or 1/8
    elif img.format == "JPEG2000":
        level = min(int(np.log2(factor)), 5)
        if level > 0:
            img.reduce = level  # decode a lower resolution level of the codestream


def _pil_to_array(img):
    """Owned, writable ``(H, W, 3)`` uint8 copy of an RGB PIL image.

    Large images are copied in bands of rows, so that no full-size temporary
    is made besides the result.
    """
    w, h = img.size
    if w * h <= 4_000_000:
        return np.array(img, dtype=np.uint8)
    out = np.empty((h, w, 3), np.uint8)
    step = max(1, 4_000_000 // w)
    for y in range(0, h, step):
        y1 = min(h, y + step)
        out[y:y1] = np.asarray(img.crop((0, y, w, y1)), dtype=np.uint8)
    return out


def _decode(fp, path, index, reduce_to, lift_pil_limit=False):
    from PIL import Image

    if lift_pil_limit:
        with _PILLimit():
            return _decode_inner(fp, path, index, reduce_to, Image, locked=True)
    return _decode_inner(fp, path, index, reduce_to, Image, locked=False)


def _decode_inner(fp, path, index, reduce_to, Image, locked):
    _check_ico(fp, index, path)
    with Image.open(fp) as img:
        w, h = img.size
        _check_size(w, h, index, None, path, where="")
        _reduce_for(img, reduce_to)
        big = not locked and w * h > _LARGE_PIXELS
        if big:
            _LARGE_LOCK.acquire()
        try:
            img.load()  # raises on truncated data
            if img.size[0] * img.size[1] > w * h:  # decoded larger than declared
                _check_pixels(*img.size, index, path)
            rgb = _to_uint8_rgb_from_pil(img)
            if reduce_to and rgb.size[0] * rgb.size[1] > _REDUCE_ABOVE_PIXELS:
                factor = min(rgb.size) // (2 * int(reduce_to))
                if factor >= 2:
                    # box filter; Image.Image.reduce, as JPEG 2000 shadows .reduce
                    rgb = Image.Image.reduce(rgb, factor)
            return _pil_to_array(rgb)
        finally:
            if big:
                _LARGE_LOCK.release()


def load_image(obj, index=None, view=None, *, reduce_to=None):
    """Load one image as an ``(H, W, 3)`` uint8 RGB array.

    Parameters
    ----------
    obj : str, os.PathLike, PIL.Image.Image or ndarray
        The image.
    index, view : int, optional
        Position in ``X``, kept in :attr:`ImageLoadError.index` and used in the
        messages about in-memory images (files are named by their path).
    reduce_to : int, optional
        For a consumer that resizes the image to about this many pixels on its
        shorter side anyway: an image of more than 16 million pixels may be
        decoded at a reduced size (JPEG draft mode, JPEG 2000 resolution
        levels, else a box reduction before the array is made), keeping the
        shorter side at least ``2 * reduce_to``. ``None``: full resolution.

    Returns
    -------
    ndarray of shape (H, W, 3), dtype uint8

    Raises
    ------
    ImageLoadError
        If the file is missing, not a regular file, not readable (permission),
        corrupt, truncated, too small or too large, or the array has the wrong
        dtype, shape or channels.
    """
    from PIL import Image

    where = _where(index, view)
    if isinstance(obj, np.ndarray):
        return _array_to_rgb(obj, index, view)
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        fp = _open_regular(path, index)
        try:
            with fp, warnings.catch_warnings():
                # skforensics' own limit (checked before decoding) replaces Pillow's warning
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                try:
                    return _decode(fp, path, index, reduce_to)
                except Image.DecompressionBombError:
                    pil_limit = Image.MAX_IMAGE_PIXELS
                    if pil_limit is None or MAX_IMAGE_PIXELS <= pil_limit:
                        raise
                    fp.seek(0)  # Pillow's limit is below ours: retry with it lifted
                    return _decode(fp, path, index, reduce_to, lift_pil_limit=True)
        except ImageLoadError:
            raise
        except Image.DecompressionBombError as exc:
            # Pillow refused it in the header (or a nested header, e.g. an icon entry)
            m = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{int(m.group(1)):,} pixels, " if m else ""
            raise ImageLoadError(
                f"image file {path!r} has {size}more than the limit of {MAX_IMAGE_PIXELS:,} "
                "(possible decompression bomb); raise it with "
                "skforensics.datasets.set_max_image_pixels (scan --max-pixels) if the image "
                "is genuine",
                index,
                path,
            ) from exc
        except Image.UnidentifiedImageError as exc:
            raise ImageLoadError(
                f"image file {path!r} is not a readable image (corrupt, or not an "
                "image format Pillow decodes)",
                index,
                path,
            ) from exc
        except PermissionError as exc:
            raise ImageLoadError(
                f"image file {path!r} cannot be read: permission denied", index, path
            ) from exc
        except MemoryError as exc:
            raise ImageLoadError(
                f"image file {path!r} is too large to decode in the available memory "
                f"({exc}); lower the pixel limit or free memory",
                index,
                path,
            ) from exc
        except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
            raise ImageLoadError(
                f"image file {path!r} could not be decoded (corrupt or truncated): {exc}",
                index,
                path,
            ) from exc
    if isinstance(obj, Image.Image):
        _check_size(obj.size[0], obj.size[1], index, view, "PIL image")
        try:
            return _pil_to_array(_to_uint8_rgb_from_pil(obj))
        except (OSError, ValueError) as exc:
            raise ImageLoadError(f"PIL image{where} could not be converted: {exc}", index) from exc
    raise ImageLoadError(
        f"the image{where} is a {type(obj).__name__}; expected a file path, a PIL image or "
        "a uint8 array",
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
    reduce_to: int | None = None  # see load_image: the consumer resizes to about this size

    def __len__(self):
        return len(self.items) if self.array is None else self.array.shape[0]

    def load(self, i, view=0):
        if self.array is not None:
            return self.array[i, view]
        item = self.items[i]
        if self.n_views > 1 or isinstance(item, (list, tuple)):
            return load_image(item[view], index=i, view=view, reduce_to=self.reduce_to)
        return load_image(item, index=i, reduce_to=self.reduce_to)

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


def check_images(X, *, allow_multiview=True, name="X", reduce_to=None):
    """Validate the container ``X`` of images without decoding files.

    Parameters
    ----------
    X : list, tuple or ndarray
        Images, see the module docstring.
    allow_multiview : bool, default=True
        Whether samples made of several views are accepted.
    name : str, default="X"
        Name used in error messages.
    reduce_to : int, optional
        Hint for :func:`load_image`: the consumer resizes every image to about
        this many pixels on its shorter side, so very large images may be
        decoded at a reduced size.

    Returns
    -------
    ImageCollection

    Raises
    ------
    ValueError
        If ``X`` is empty, is a single path or image instead of a collection, or
        a uint8 array has the wrong shape, dtype or number of channels.
    """
    coll = _check_container(X, allow_multiview, name)
    if reduce_to is not None and coll.array is None:
        coll = replace(coll, reduce_to=int(reduce_to))
    return coll


def _check_container(X, allow_multiview, name):
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


@validate_params(
    {
        # a single path is let through to check_images, which says to wrap it in a list
        "X": ["array-like", Hidden(str), Hidden(os.PathLike)],
        "on_error": [StrOptions(set(_ON_ERROR))],
    },
    prefer_skip_nested_validation=True,
)
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
    warn_failed(failed, stacklevel=4)  # past validate_params' wrapper, to the caller
    return out


def warn_failed(failed, stacklevel=3):
    """Warn once about images skipped with ``on_error='skip'``, naming each one.

    ``failed`` is a list of ``(index, ImageLoadError)``. The warning (a
    :class:`SkippedImageWarning`) names every skipped file (up to 200, then a
    count) with the reason of the first five, and carries them all in its
    ``skipped`` attribute. ``stacklevel`` is passed to :func:`warnings.warn`;
    the default, 3, points at the caller of the function that calls
    ``warn_failed``.
    """
    if not failed:
        return
    idx = sorted({i for i, _ in failed})
    names, seen = [], set()
    for i, e in failed:
        src = getattr(e, "source", None) or f"position {i}"
        if src not in seen:
            seen.add(src)
            names.append(src)
    shown = ", ".join(repr(n) for n in names[:200])
    if len(names) > 200:
        shown += f" and {len(names) - 200} more"
    msgs = "; ".join(str(e) for _, e in failed[:5])
    warning = SkippedImageWarning(
        f"{len(idx)} image(s) could not be read and were skipped (their rows are NaN): "
        f"{shown}. Reasons: {msgs}{'; ...' if len(failed) > 5 else ''}"
    )
    warning.skipped = [(i, getattr(e, "source", None), str(e)) for i, e in failed]
    warnings.warn(warning, stacklevel=stacklevel)


class SkippedImageWarning(UserWarning):
    """Warned when ``on_error='skip'`` replaced unreadable images by NaN rows.

    The message names every skipped file; the ``skipped`` attribute of the
    warning instance (``caught[0].message.skipped`` with
    :func:`warnings.catch_warnings`) lists ``(position, source, reason)`` for
    each.
    """


def view_feature_names(names, n_views):
    """Prefix per-image feature ``names`` with ``view{v}_`` for each of ``n_views`` views."""
    if n_views <= 1:
        return list(names)
    return [f"view{v}_{n}" for v in range(n_views) for n in names]
