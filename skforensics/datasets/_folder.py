"""Load labelled forensic image folders and CSV manifests."""

from __future__ import annotations

import csv
import os
import warnings

import numpy as np
from sklearn.utils import Bunch

__all__ = ["IMAGE_EXTENSIONS", "load_image_folder"]

#: File extensions (lower case) treated as images when walking a folder.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

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
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        parts = [] if rel == "." else rel.split(os.sep)
        # the deepest class folder on the path decides the label
        cls_pos = [k for k, part in enumerate(parts) if _class_of(part) is not None]
        if not cls_pos:
            continue
        k = cls_pos[-1]
        label = _class_of(parts[k])
        images = sorted(f for f in filenames if f.lower().endswith(IMAGE_EXTENSIONS))
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
            f"0_real/1_fake (ForenSynths, at any depth) or nature/ai (GenImage) holding files "
            f"with extensions {IMAGE_EXTENSIONS}, or pass a CSV manifest path,label[,generator]"
        )
    if empty_class_dirs:
        warnings.warn(
            f"{len(empty_class_dirs)} class folder(s) hold no images, e.g. {empty_class_dirs[:3]}",
            UserWarning,
            stacklevel=3,
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
            f"{len(bad)} unreadable file(s) were left out, e.g. {bad[:3]}", UserWarning, stacklevel=3
        )
    return [paths[i] for i in keep], [y[i] for i in keep], [gens[i] for i in keep]


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
    Files are listed in sorted order; files of other extensions are ignored.

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
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
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
            stacklevel=2,
        )
    return Bunch(
        paths=list(paths),
        y=y,
        generator=np.asarray(gens, dtype=str),
        target_names=["real", "fake"],
        root=os.path.abspath(root),
    )
