"""Load labelled forensic image folders and CSV manifests; list image files."""

from __future__ import annotations

import csv
import os
import stat
import sys
import warnings
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
from sklearn.utils import Bunch

from .._compat import StrOptions, validate_params

__all__ = ["IMAGE_EXTENSIONS", "ImageListing", "list_images", "load_image_folder"]

# formats Pillow can identify but not decode without an external handler or tool
_IDENTIFY_ONLY = {"MPEG"}
# formats whose decoder is an optional compiled feature of Pillow
_FORMAT_FEATURES = {"WEBP": "webp", "AVIF": "avif", "JPEG2000": "jpg_2000", "JPEG": "jpg"}


def _decodable_extensions():
    """Lower-case extensions of every format the installed Pillow can decode."""
    from PIL import EpsImagePlugin, Image, ImageFile, features

    Image.init()
    formats = set()
    for fmt, (factory, _accept) in Image.OPEN.items():
        if fmt in _IDENTIFY_ONLY:
            continue
        if isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile):
            continue  # GRIB, BUFR, HDF5, WMF: need a handler registered by the user
        if fmt == "EPS" and not EpsImagePlugin.has_ghostscript():
            continue
        feature = _FORMAT_FEATURES.get(fmt)
        if feature is not None and not features.check(feature):
            continue
        formats.add(fmt)
    exts = {e.lower() for e, f in Image.registered_extensions().items() if f in formats}
    return tuple(sorted(exts))


#: File extensions (lower case, with the dot) of every image format the installed
#: Pillow decodes, e.g. ``.jpg``, ``.jfif``, ``.png``, ``.apng``, ``.gif``,
#: ``.webp``, ``.avif``, ``.tif``, ``.bmp``, ``.jp2``. Folder walks
#: (:func:`list_images`, :func:`load_image_folder`) take files with these
#: extensions, compared case-insensitively.
IMAGE_EXTENSIONS = _decodable_extensions()


def _has_image_ext(name):
    return os.path.splitext(name)[1].lower() in _EXT_SET


_EXT_SET = frozenset(IMAGE_EXTENSIONS)


class ImageListing(NamedTuple):
    """The result of :func:`list_images`.

    A named tuple: ``paths, unsupported, errors = list_images(...)``.

    Attributes
    ----------
    paths : list of str
        The image files to read, each once, in a stable order.
    unsupported : list of (str, str)
        ``(path, reason)`` for files found in a folder whose extension is not an
        image format the installed Pillow decodes. Not an error: a folder of
        photos may hold other files, but they are never dropped silently.
    errors : list of (str, str)
        ``(path, reason)`` for what could not be listed or can never be read:
        a folder that cannot be listed (e.g. permission denied), a broken
        symbolic link, a FIFO, socket or device file found in a folder.
    """

    paths: list
    unsupported: list
    errors: list


def _stat_key(st):
    return (st.st_dev, st.st_ino)


def _walk(root, recursive, seen_dirs, errors):
    """Yield ``(dirpath, file names, sub-folder paths)`` of ``root`` and below.

    Symbolic links to folders are followed; a folder already visited (same
    ``(st_dev, st_ino)``, e.g. a link back to a parent) is not entered again.
    Names are sorted, files before sub-folders, so the order is stable.
    """
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            st = os.stat(d)
        except OSError as exc:
            errors.append((d, f"cannot read folder: {exc.strerror or exc}"))
            continue
        key = _stat_key(st)
        if key in seen_dirs:
            continue  # symlink loop or a folder reached twice
        seen_dirs.add(key)
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            errors.append((d, "permission denied: the folder cannot be listed"))
            continue
        except OSError as exc:
            errors.append((d, f"the folder cannot be listed: {exc.strerror or exc}"))
            continue
        files, subdirs = [], []
        for e in entries:
            try:
                is_dir = e.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(e.path)
            else:
                files.append(e.name)
        yield d, files, subdirs
        if recursive:
            stack.extend(reversed(subdirs))


def _classify_file(path):
    """``None`` if ``path`` is a regular file (links followed), else the reason it is not."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return "broken symbolic link"
        return "file does not exist"
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc}"
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISFIFO(st.st_mode):
        return "not a regular file (a FIFO / named pipe)"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return "not a regular file (a device)"
    if stat.S_ISSOCK(st.st_mode):
        return "not a regular file (a socket)"
    return "not a regular file"


def _dedup_key(path):
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.abspath(path)


def _read_path_list(stream):
    """Non-empty, stripped lines of ``stream`` (a list of paths, one per line)."""
    out = []
    for line in stream:
        line = line.rstrip("\r\n")
        if line.strip():
            out.append(line.strip())
    return out


@validate_params(
    {
        "paths": [str, os.PathLike, Iterable],
        "recursive": ["boolean"],
        "stdin": [Iterable, None],  # a text stream, or any iterable of lines
    },
    prefer_skip_nested_validation=True,
)
def list_images(paths, *, recursive=True, stdin=None):
    """List the image files named by ``paths``, walking folders.

    Each argument is a file, a folder or ``"-"``:

    * a **file** is listed as given, whatever its extension (the decoder
      identifies the format from the content; a missing or unreadable file
      is reported by the decoder when it is read, naming the file);
    * a **folder** is walked (recursively by default, following symbolic links
      to folders with protection against loops) and every file whose extension
      is in :data:`IMAGE_EXTENSIONS` (case-insensitive) is listed; other files
      go to ``unsupported``, FIFOs, sockets, devices and broken links to
      ``errors``;
    * ``"-"`` reads more arguments (files or folders) from ``stdin``, one per
      line (blank lines are ignored).

    A file reached twice (the same path given twice, a file inside a folder also
    given, overlapping folders, symbolic links) is listed once, at its first
    occurrence (compared by :func:`os.path.realpath`).

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        Files, folders and ``"-"``.
    recursive : bool, default=True
        Walk sub-folders too. ``False`` lists only the files directly inside
        each folder argument.
    stdin : file-like, optional
        Where ``"-"`` reads from; :data:`sys.stdin` by default.

    Returns
    -------
    listing : ImageListing
        A named tuple ``(paths, unsupported, errors)``: the image paths in a
        stable order (arguments in order; inside a folder, names sorted, files
        before sub-folders), and ``(path, reason)`` lists of the files that were
        left out.

    Examples
    --------
    >>> import os
    >>> from skforensics.datasets import list_images, load_sample_images
    >>> root = os.path.dirname(os.path.dirname(load_sample_images("cifake").paths[0]))
    >>> listing = list_images([root, root])  # overlapping arguments: listed once
    >>> len(listing.paths), listing.errors
    (48, [])
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    args = []
    for p in paths:
        p = os.fspath(p)
        if p == "-":
            args.extend(_read_path_list(sys.stdin if stdin is None else stdin))
        else:
            args.append(p)
    out, unsupported, errors = [], [], []
    seen_files, seen_other, seen_dirs = set(), set(), set()

    def add(path):
        key = _dedup_key(path)
        if key not in seen_files:
            seen_files.add(key)
            out.append(path)

    for arg in args:
        if os.path.isdir(arg):
            for dirpath, files, _ in _walk(arg, recursive, seen_dirs, errors):
                for name in files:
                    path = os.path.join(dirpath, name)
                    if not _has_image_ext(name):
                        key = _dedup_key(path)
                        if key not in seen_other:
                            seen_other.add(key)
                            ext = os.path.splitext(name)[1]
                            unsupported.append(
                                (
                                    path,
                                    f"extension {ext!r} is not an image format Pillow decodes"
                                    if ext
                                    else "no file extension",
                                )
                            )
                        continue
                    reason = _classify_file(path)
                    if reason is not None:
                        key = _dedup_key(path)
                        if key not in seen_other:
                            seen_other.add(key)
                            errors.append((path, reason))
                        continue
                    add(path)
        else:
            add(arg)  # missing / unreadable files are reported by the decoder
    return ImageListing(out, unsupported, errors)


# class-folder names of the common layouts, compared case-insensitively
_REAL_DIRS = {"real", "0_real", "nature", "reals"}
_FAKE_DIRS = {"fake", "1_fake", "ai", "fakes"}
_REAL_LABELS = {"0", "real", "0_real", "nature", "false"}
_FAKE_LABELS = {"1", "fake", "1_fake", "ai", "true"}


def _class_of(dirname):
    d = dirname.lower()
    if d in _REAL_DIRS:
        return 0
    if d in _FAKE_DIRS:
        return 1
    return None


def _parse_label(value, where):
    v = str(value).strip().lower()
    if v in _REAL_LABELS:
        return 0
    if v in _FAKE_LABELS:
        return 1
    try:
        f = float(v)
    except ValueError:
        f = None
    if f in (0.0, 1.0):
        return int(f)
    raise ValueError(
        f"unknown label {value!r} {where}; use 0/1 or real/fake "
        "(also accepted: 0_real/1_fake, nature/ai)"
    )


def _read_manifest(csv_path, generator):
    base = os.path.dirname(os.path.abspath(csv_path))
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [c.strip().lower() for c in (reader.fieldnames or [])]
        if "path" not in fields or "label" not in fields:
            raise ValueError(
                f"CSV manifest {csv_path!r} must have a header with columns 'path' and "
                f"'label' (optional 'generator'); found columns {reader.fieldnames}"
            )
        reader.fieldnames = fields
        paths, y, gens = [], [], []
        for lineno, row in enumerate(reader, start=2):
            p = (row.get("path") or "").strip()
            if not p:
                raise ValueError(f"empty 'path' on line {lineno} of {csv_path!r}")
            label = _parse_label(row.get("label"), f"on line {lineno} of {csv_path!r}")
            g = generator or (row.get("generator") or "").strip()
            if not g:
                g = "real" if label == 0 else "fake"
            paths.append(p if os.path.isabs(p) else os.path.join(base, p))
            y.append(label)
            gens.append(g)
    if not paths:
        raise ValueError(f"CSV manifest {csv_path!r} lists no images")
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} file(s) listed in {csv_path!r} do not exist (paths are relative "
            f"to the CSV's folder), e.g. {missing[:3]}"
        )
    return paths, y, gens


def _walk_folder(root, generator):
    root = os.path.abspath(root)
    paths, y, gens = [], [], []
    empty_class_dirs = []
    walk_errors = []
    for dirpath, filenames, dirnames in _walk(root, True, set(), walk_errors):
        rel = os.path.relpath(dirpath, root)
        parts = [] if rel == "." else rel.split(os.sep)
        # the deepest class folder on the path decides the label
        cls_pos = [k for k, part in enumerate(parts) if _class_of(part) is not None]
        if not cls_pos:
            continue
        k = cls_pos[-1]
        label = _class_of(parts[k])
        images = [f for f in filenames if _has_image_ext(f)]
        if not images and not dirnames and k == len(parts) - 1:
            empty_class_dirs.append(dirpath)
        if not images:
            continue
        if generator:
            group = generator
        elif k == 0:
            group = os.path.basename(root)
        else:
            group = parts[0]
        for f in images:
            paths.append(os.path.join(dirpath, f))
            y.append(label)
            gens.append(group if label == 1 else f"real:{group}")
    if not paths:
        hint = f" (empty class folders: {empty_class_dirs[:3]})" if empty_class_dirs else ""
        raise ValueError(
            f"no images found under {root!r}{hint}. Expected class folders named real/fake, "
            f"0_real/1_fake (ForenSynths, at any depth) or nature/ai (GenImage) holding image "
            "files (extensions in skforensics.datasets.IMAGE_EXTENSIONS), or pass a CSV "
            "manifest path,label[,generator]"
        )
    if walk_errors:
        warnings.warn(
            f"{len(walk_errors)} folder(s) or file(s) could not be read and were left out: "
            + "; ".join(f"{p!r}: {r}" for p, r in walk_errors[:3]),
            UserWarning,
            stacklevel=4,  # the caller of load_image_folder, past validate_params
        )
    if empty_class_dirs:
        warnings.warn(
            f"{len(empty_class_dirs)} class folder(s) hold no images, e.g. {empty_class_dirs[:3]}",
            UserWarning,
            stacklevel=4,  # the caller of load_image_folder, past validate_params
        )
    return paths, y, gens


def _check_readable(paths, y, gens, on_error):
    from PIL import Image

    from .._image_io import ImageLoadError

    keep, bad = [], []
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as img:
                img.verify()
            keep.append(i)
        except Exception as exc:  # PIL raises many types for corrupt files
            if on_error == "raise":
                raise ImageLoadError(
                    f"image file {p!r} (entry {i}) is not a readable image: {exc}", i, p
                ) from exc
            bad.append(p)
    if bad:
        warnings.warn(
            f"{len(bad)} unreadable file(s) were left out, e.g. {bad[:3]}",
            UserWarning,
            stacklevel=4,  # the caller of load_image_folder, past validate_params
        )
    return [paths[i] for i in keep], [y[i] for i in keep], [gens[i] for i in keep]


@validate_params(
    {
        "root": [str, os.PathLike],
        "generator": [str, None],
        "check_files": ["boolean"],
        "on_error": [StrOptions({"raise", "skip"})],
    },
    prefer_skip_nested_validation=True,
)
def load_image_folder(root, *, generator=None, check_files=False, on_error="raise"):
    """Load the paths and labels of a folder of real and generated images.

    Recognised layouts:

    * ``root/real/*`` + ``root/fake/*`` (also one level deeper, e.g.
      ``root/<set>/real`` as in the project's shared data);
    * ForenSynths / CNNDetection: ``root/<generator>/[<category>/]0_real`` and
      ``1_fake``, at any depth;
    * GenImage: ``root/<generator>/{train,val}/nature`` and ``ai``;
    * a CSV manifest with a header and columns ``path,label[,generator]``
      (other columns are ignored; paths are relative to the CSV's folder; labels
      ``0``/``1`` or ``real``/``fake``).

    When walking a folder, the label comes from the deepest class folder on an
    image's path (``real``, ``0_real``, ``nature`` -> 0; ``fake``, ``1_fake``,
    ``ai`` -> 1, case-insensitive) and the generator from the first path
    component below ``root`` (or ``root``'s own name when the class folders are
    directly inside it). Generated images get the generator name, real images
    ``"real:<generator>"``, so that
    :class:`~skforensics.model_selection.LeaveOneGeneratorOut` can pair them.
    Files are listed in sorted order and symbolic links to folders are followed
    (each folder entered once). Files whose extension is not in
    :data:`IMAGE_EXTENSIONS` are ignored; use :func:`list_images` to see them.

    Parameters
    ----------
    root : str or os.PathLike
        A folder, or a ``.csv`` manifest.
    generator : str, optional
        Use this generator name for every generated image (``"real:<name>"`` for
        the real ones when walking a folder) instead of the one inferred.
    check_files : bool, default=False
        Open the header of every file to make sure it is a readable image
        (slower: one file open per image).
    on_error : {"raise", "skip"}, default="raise"
        With ``check_files=True``: raise :class:`~skforensics.ImageLoadError` on
        the first unreadable file, or leave such files out with a warning.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``paths`` (list of str), ``y`` (ndarray of int, 0 = real, 1 = fake),
        ``generator`` (ndarray of str), ``target_names`` (``["real", "fake"]``)
        and ``root`` (the absolute path read).

    Raises
    ------
    FileNotFoundError
        If ``root`` or a file listed in the manifest does not exist.
    ValueError
        If no image is found, the CSV lacks ``path``/``label`` columns, or a label
        is unknown.

    Examples
    --------
    >>> import os
    >>> from skforensics.datasets import load_image_folder, load_sample_images
    >>> root = os.path.dirname(os.path.dirname(load_sample_images("cifake").paths[0]))
    >>> data = load_image_folder(root)  # the bundled cifake sample: real/ and fake/
    >>> len(data.paths), int(data.y.sum()), sorted(set(data.generator.tolist()))
    (48, 24, ['cifake', 'real:cifake'])
    """
    root = os.fspath(root)
    if not os.path.exists(root):
        raise FileNotFoundError(f"data path {root!r} does not exist")
    if os.path.isfile(root):
        if not root.lower().endswith(".csv"):
            raise ValueError(
                f"{root!r} is a file but not a .csv manifest; pass a folder or a CSV with "
                "columns path,label[,generator]"
            )
        paths, y, gens = _read_manifest(root, generator)
    else:
        paths, y, gens = _walk_folder(root, generator)
    if check_files:
        paths, y, gens = _check_readable(paths, y, gens, on_error)
        if not paths:
            raise ValueError(f"no readable image under {root!r}")
    y = np.asarray(y, dtype=int)
    if len(np.unique(y)) < 2:
        warnings.warn(
            f"{root!r} holds only {'real' if y[0] == 0 else 'generated'} images",
            UserWarning,
            stacklevel=3,  # the caller, past validate_params' wrapper
        )
    return Bunch(
        paths=list(paths),
        y=y,
        generator=np.asarray(gens, dtype=str),
        target_names=["real", "fake"],
        root=os.path.abspath(root),
    )
