"""Saving and loading fitted models, with a version stamp.

File format: one line ``SKFORENSICS-MODEL 1``, one line of JSON with the
versions the model was saved with, then a (compressed) joblib pickle of the
model. The header is read and checked *before* the model is unpickled, so a
version mismatch is reported clearly instead of as an obscure unpickling error.

Estimators that hold torch modules (e.g. :class:`~skforensics.CLIPFeatureExtractor`)
serialise them through their own ``__getstate__``: the weights are stored as a
CPU ``state_dict`` and the module is rebuilt on load, on the device it was
fitted on if that device exists, else on the CPU. So a model trained on a GPU
loads on a CPU-only machine.

.. warning::
   Loading a model unpickles Python objects: only load files you trust.
"""

from __future__ import annotations

import json
import os
import platform
import warnings
from importlib import metadata

__all__ = ["ModelVersionError", "ModelVersionWarning", "load", "save"]

_MAGIC = b"SKFORENSICS-MODEL 1\n"


class ModelVersionError(ValueError):
    """The model was saved by an incompatible skforensics version."""


class ModelVersionWarning(UserWarning):
    """The model was saved with another scikit-learn (or torch) version."""


def _dist_version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _versions():
    import sklearn

    from . import __version__

    return {
        "skforensics": __version__,
        "sklearn": sklearn.__version__,
        "torch": _dist_version("torch"),
        "numpy": _dist_version("numpy"),
        "python": platform.python_version(),
    }


def _major_minor(v):
    parts = str(v).split(".")
    return tuple(parts[:2])


def save(model, path, *, compress=3):
    """Save a (fitted) model to ``path`` with a version stamp.

    Parameters
    ----------
    model : object
        Any picklable object, typically a fitted pipeline.
    path : str or os.PathLike
        Destination file (conventionally ``*.skf`` or ``*.joblib``).
    compress : int, default=3
        joblib compression level (0 = none).

    Returns
    -------
    path : str
        The path written.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.linear_model import LogisticRegression
    >>> import skforensics
    >>> clf = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skf")
    >>> _ = skforensics.save(clf, path)
    >>> skforensics.load(path).predict([[0.9]])
    array([1])
    """
    import joblib

    path = os.fspath(path)
    header = {"versions": _versions(), "class": f"{type(model).__module__}.{type(model).__name__}"}
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(_MAGIC)
        f.write(json.dumps(header).encode() + b"\n")
        joblib.dump(model, f, compress=compress)
    os.replace(tmp, path)  # no half-written model file on failure
    return path


def read_header(path):
    """The version stamp of a saved model, without unpickling it.

    Returns
    -------
    header : dict
        ``{"versions": {...}, "class": "module.Class"}``.
    """
    with open(os.fspath(path), "rb") as f:
        return _read_header(f, path)


def _read_header(f, path):
    magic = f.readline()
    if magic != _MAGIC:
        raise ValueError(
            f"{os.fspath(path)!r} is not a model saved by skforensics.save (bad header)"
        )
    try:
        return json.loads(f.readline().decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{os.fspath(path)!r} has a corrupt skforensics header") from exc


def load(path):
    """Load a model saved by :func:`save`, checking the versions.

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`save`.

    Returns
    -------
    model : object

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file was not written by :func:`save`.
    ModelVersionError
        If the model was saved by a skforensics of another major.minor version
        (re-train or install that version).

    Warns
    -----
    ModelVersionWarning
        If it was saved with another scikit-learn or torch version (it may
        still work; check its predictions).
    """
    import joblib

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    with open(path, "rb") as f:
        header = _read_header(f, path)
        saved = header.get("versions", {})
        now = _versions()
        if _major_minor(saved.get("skforensics")) != _major_minor(now["skforensics"]):
            raise ModelVersionError(
                f"{path!r} was saved by skforensics {saved.get('skforensics')} but this is "
                f"skforensics {now['skforensics']}; models are only portable within one "
                f"major.minor version. Install skforensics=={saved.get('skforensics')} or "
                "re-train the model"
            )
        for lib in ("sklearn", "torch"):
            if saved.get(lib) and now[lib] and saved[lib] != now[lib]:
                warnings.warn(
                    f"{path!r} was saved with {lib} {saved[lib]}, this is {now[lib]}; the "
                    "model may behave differently",
                    ModelVersionWarning,
                    stacklevel=2,
                )
        return joblib.load(f)
