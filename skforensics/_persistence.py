"""Saving and loading fitted models safely, with a version stamp.

File format (version 2)
-----------------------
A model file is three parts, one after the other::

    SKFORENSICS-MODEL 2\\n
    {"format": 2, "versions": {...}, "class": "module.Class"}\\n
    <zip archive>

The first line identifies the file; the second is one line of JSON with the
versions the model was saved with (skforensics, scikit-learn, torch, numpy,
skops, python) and the class of the saved object. The rest is an uncompressed
or deflated zip archive holding

``model.skops``
    The object, written with :func:`skops.io.dumps`: estimators, arrays and
    plain Python values, never a pickle. Only the types listed in it can be
    created when it is read, and :func:`load` refuses the file before
    creating anything if one of them is not trusted (see below).
``weights.safetensors`` (only if the model holds torch tensors)
    Every torch tensor of the model (network weights, buffers, optimizer
    state), in the `safetensors <https://huggingface.co/docs/safetensors>`_
    format, which stores raw numbers and cannot hold code. Tensors are keyed
    ``"<n>/<path>"``: ``n`` numbers the packed structures in the order they
    were saved, ``path`` is the dotted position of the tensor inside its
    structure (``"0/conv1.weight"``, ``"2/state.0.momentum_buffer"``).

The header is read and checked *before* anything else, so a version mismatch
is reported clearly instead of as an obscure loading error.

Trust
-----
:func:`load` trusts the classes defined by skforensics and scikit-learn
(anything under ``skforensics.`` and ``sklearn.``), the types skops trusts by
default (numpy, builtins), and the few torch and skorch types the library's
estimators hold as parameters (:data:`TRUSTED_EXTRA_TYPES`). Any other type
named in the file is refused with an :class:`UntrustedModelError` that lists
them; pass ``trusted=[...]`` (the CLI's ``--trust``) with the type names, after
checking them, to load such a model. :func:`get_untrusted_types` lists them
without loading anything.

Files written by skforensics < 0.1 (``SKFORENSICS-MODEL 1``: a joblib pickle)
can run arbitrary code when read. They are refused unless
``allow_pickle=True`` is given, and then load with an
:class:`UnsafeModelWarning`. Re-save them with :func:`save` to convert them.

The torch-tensor protocol
-------------------------
skops cannot store torch tensors, so estimators that hold torch modules keep
them out of the skops part with two functions of this module:

* :func:`pack_tensors` in ``__getstate__``: takes a nested structure of
  dicts, lists and tuples whose leaves are tensors or plain values (a
  ``state_dict``, an optimizer's ``state_dict``). Inside :func:`save` it moves
  every tensor to the ``weights.safetensors`` part and returns the structure
  with each tensor replaced by a small reference; anywhere else (``pickle``,
  ``copy.deepcopy``, joblib) it returns the structure as ``torch.save`` bytes,
  as before.
* :func:`unpack_tensors` in ``__setstate__``: the inverse, for both forms
  (``torch.load(weights_only=True)`` for bytes).

Every estimator restores its state through :class:`DefaultParamsOnLoadMixin`
(or calls :func:`fill_default_params` in its own ``__setstate__``), so that a
model saved before a parameter existed loads with the parameter's default
(``get_params``, ``clone`` and ``repr`` need it; ``tests/test_common.py``
checks every public estimator).

The estimator then rebuilds its modules from its own (trusted, checked)
parameters, e.g. the model name or the module class, and loads the unpacked
``state_dict`` into them. :class:`~skforensics.CLIPFeatureExtractor`,
:class:`~skforensics.CoRITInjector` (through its backbone) and
:class:`~skforensics.neural.SAMNetClassifier` (any module class, criterion
and optimizer) follow it. Weights are restored on the device the model was
fitted on if that device exists, else on the CPU, so a model trained on a GPU
loads on a CPU-only machine.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import inspect
import io
import json
import os
import platform
import warnings
import zipfile
from importlib import metadata
from numbers import Integral

from ._compat import Interval, validate_params

__all__ = [
    "DefaultParamsOnLoadMixin",
    "ModelVersionError",
    "ModelVersionWarning",
    "TRUSTED_EXTRA_TYPES",
    "UnsafeModelWarning",
    "UntrustedModelError",
    "fill_default_params",
    "get_untrusted_types",
    "load",
    "pack_tensors",
    "read_header",
    "save",
    "saving_model",
    "unpack_tensors",
]

FORMAT_VERSION = 2
_MAGIC = b"SKFORENSICS-MODEL 2\n"
_MAGIC_V1 = b"SKFORENSICS-MODEL 1\n"
_SKOPS_MEMBER = "model.skops"
_WEIGHTS_MEMBER = "weights.safetensors"
_TRUSTED_PREFIXES = ("skforensics.", "sklearn.")

#: Types outside skforensics and scikit-learn that the library's estimators hold
#: as parameters or fitted attributes, trusted by :func:`load` without asking.
TRUSTED_EXTRA_TYPES = (
    "torch.device",
    "torch.utils.data.dataloader.DataLoader",
    "skorch.dataset.Dataset",
    "skorch.dataset.ValidSplit",
    "skorch.history.History",
    "torch.optim.sgd.SGD",
    "torch.optim.adam.Adam",
    "torch.optim.adamw.AdamW",
    "torch.nn.modules.loss.CrossEntropyLoss",
    "torch.nn.modules.loss.NLLLoss",
)


class ModelVersionError(ValueError):
    """The model was saved by an incompatible skforensics version."""


class ModelVersionWarning(UserWarning):
    """The model was saved with another scikit-learn (or torch) version."""


class UntrustedModelError(ValueError):
    """The model file names types that are not trusted; nothing was loaded.

    Parameters
    ----------
    message : str
        The message, naming the file and the untrusted types.
    untrusted : iterable of str
        The untrusted type names.

    Attributes
    ----------
    untrusted : list of str
        The untrusted type names, to check and pass as ``trusted=``.
    """

    def __init__(self, message, untrusted):
        super().__init__(message)
        self.untrusted = list(untrusted)


class UnsafeModelWarning(UserWarning):
    """A model in the old pickle format was loaded (``allow_pickle=True``)."""


# ---------------------------------------------------------------- tensor protocol
class _SaveStore:
    def __init__(self):
        self.tensors = {}
        self.n_packed = 0
        # skops calls __getstate__ twice per object (once through __reduce__):
        # the same tensor is stored once, keyed by its memory
        self.seen = {}
        self.alive = []


class _LoadStore:
    def __init__(self, tensors):
        self.tensors = tensors


_SAVING = contextvars.ContextVar("skforensics_saving", default=None)
_LOADING = contextvars.ContextVar("skforensics_loading", default=None)
_REF = "__skforensics_tensor__"


def saving_model():
    """Whether a :func:`save` is in progress (the caller's ``__getstate__`` runs for it)."""
    return _SAVING.get() is not None


def _is_tensor(x):
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _map_structure(obj, leaf, path=""):
    if isinstance(obj, dict):
        return type(obj)(
            (k, _map_structure(v, leaf, f"{path}.{k}" if path else str(k))) for k, v in obj.items()
        )
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        items = [
            _map_structure(v, leaf, f"{path}.{i}" if path else str(i)) for i, v in enumerate(obj)
        ]
        return items if isinstance(obj, list) else tuple(items)
    return leaf(obj, path)


def pack_tensors(obj):
    """Pack the torch tensors of ``obj`` for persistence (use in ``__getstate__``).

    Parameters
    ----------
    obj : dict, list or tuple
        Nested dicts, lists and tuples whose leaves are ``torch.Tensor`` or
        plain values (ints, floats, strings, None), such as a module's or an
        optimizer's ``state_dict()``.

    Returns
    -------
    packed : same structure, or bytes
        Inside :func:`save`: the structure with every tensor moved (as a CPU
        copy) to the model's ``weights.safetensors`` part and replaced by a
        reference. Elsewhere (pickle, deepcopy): ``torch.save`` bytes of the
        structure with its tensors on the CPU.
    """
    store = _SAVING.get()
    if store is None:
        import torch

        buf = io.BytesIO()
        torch.save(_map_structure(obj, lambda t, p: t.detach().cpu() if _is_tensor(t) else t), buf)
        return buf.getvalue()
    n = store.n_packed
    store.n_packed += 1

    def leaf(t, path):
        if not _is_tensor(t):
            return t
        ident = (str(t.device), t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()))
        key = store.seen.get(ident)
        if key is None:
            key = store.seen[ident] = f"{n}/{path}"
            store.alive.append(t)  # its memory is not reused while saving
            # a private contiguous CPU copy: safetensors refuses shared storage
            store.tensors[key] = t.detach().to("cpu", copy=True).contiguous()
        return {_REF: key}

    return _map_structure(obj, leaf)


def fill_default_params(estimator):
    """Give ``estimator`` the default of every ``__init__`` parameter it lacks.

    For ``__setstate__``: a model saved before a parameter was added to its
    class loads with that parameter's default, which is the behaviour the model
    had when it was saved (a new parameter's default keeps the old behaviour,
    or the result that old behaviour approximated).

    Parameters
    ----------
    estimator : object
        An estimator whose state was just restored.

    Returns
    -------
    filled : list of str
        The parameters that were missing.
    """
    filled = []
    for name, param in inspect.signature(type(estimator).__init__).parameters.items():
        if name == "self" or param.default is inspect.Parameter.empty:
            continue
        if name not in vars(estimator):
            setattr(estimator, name, param.default)
            filled.append(name)
    return filled


class DefaultParamsOnLoadMixin:
    """Mixin: a model saved before a parameter existed loads with that parameter's default.

    Its ``__setstate__`` restores the state, then calls
    :func:`fill_default_params`, so that ``get_params``, ``repr`` and ``clone``
    work on a model file written by an older release. Put it left of
    ``BaseEstimator`` in the bases.
    """

    def __setstate__(self, state):
        super().__setstate__(state)
        fill_default_params(self)


def unpack_tensors(packed, map_location="cpu"):
    """Inverse of :func:`pack_tensors` (use in ``__setstate__``).

    Parameters
    ----------
    packed : structure or bytes
        What :func:`pack_tensors` returned.
    map_location : str or torch.device, default="cpu"
        Device to put the tensors on.

    Returns
    -------
    obj : the structure, with its tensors
    """
    if isinstance(packed, (bytes, bytearray)):
        import torch

        return torch.load(io.BytesIO(packed), map_location=map_location, weights_only=True)
    store = _LOADING.get()

    def restore(obj):
        if isinstance(obj, dict) and set(obj) == {_REF}:
            if store is None:
                raise ValueError("tensor references can only be resolved inside skforensics.load")
            try:
                t = store.tensors[obj[_REF]]
            except KeyError:
                raise ValueError(
                    f"the model file has no tensor {obj[_REF]!r} in {_WEIGHTS_MEMBER}"
                ) from None
            return t.to(map_location)
        if isinstance(obj, dict):
            return type(obj)((k, restore(v)) for k, v in obj.items())
        if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
            items = [restore(v) for v in obj]
            return items if isinstance(obj, list) else tuple(items)
        return obj

    return restore(packed)


@contextlib.contextmanager
def _context(var, value):
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)


# ------------------------------------------------------------------- versions
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
        "skops": _dist_version("skops"),
        "python": platform.python_version(),
    }


def _major_minor(v):
    parts = str(v).split(".")
    return tuple(parts[:2])


# ----------------------------------------------------------------------- save
@validate_params(
    {
        "model": "no_validation",  # any object skops can write
        "path": [str, os.PathLike],
        "compress": [Interval(Integral, 0, 9, closed="both")],
    },
    prefer_skip_nested_validation=True,
)
def save(model, path, *, compress=3):
    """Save a (fitted) model to ``path`` safely, with a version stamp.

    The model is written with :mod:`skops.io` (no pickle) and its torch
    weights, if any, as safetensors; see :mod:`skforensics._persistence` for
    the format.

    Parameters
    ----------
    model : object
        Typically a fitted pipeline or estimator.
    path : str or os.PathLike
        Destination file (conventionally ``*.skf``).
    compress : int, default=3
        zlib compression level of the archive, 0 (stored) to 9.

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
    import skops.io as sio

    path = os.fspath(path)
    with _context(_SAVING, _SaveStore()) as store:
        model_bytes = sio.dumps(model)
    weights = None
    if store.tensors:
        from safetensors.torch import save as st_save

        weights = st_save(store.tensors, metadata={"format": "skforensics"})

    header = {
        "format": FORMAT_VERSION,
        "versions": _versions(),
        "class": f"{type(model).__module__}.{type(model).__name__}",
    }
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    kw = {"compresslevel": int(compress)} if compress else {}
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(_MAGIC)
            f.write(json.dumps(header).encode() + b"\n")
            with zipfile.ZipFile(f, "w", compression=method, **kw) as zf:
                zf.writestr(_SKOPS_MEMBER, model_bytes)
                if weights is not None:
                    zf.writestr(_WEIGHTS_MEMBER, weights)
        os.replace(tmp, path)  # no half-written model file on failure
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# ----------------------------------------------------------------------- load
def read_header(path):
    """The version stamp of a saved model, without loading it.

    Returns
    -------
    header : dict
        ``{"format": 2, "versions": {...}, "class": "module.Class"}``
        (``format`` is 1 for old pickle files).
    """
    with open(os.fspath(path), "rb") as f:
        header, _ = _read_header(f, path)
        return header


def _read_header(f, path):
    magic = f.readline(64)
    if magic not in (_MAGIC, _MAGIC_V1):
        raise ValueError(
            f"{os.fspath(path)!r} is not a model saved by skforensics.save (bad header)"
        )
    try:
        header = json.loads(f.readline(1 << 20).decode())
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{os.fspath(path)!r} has a corrupt skforensics header") from exc
    header.setdefault("format", 2 if magic == _MAGIC else 1)
    return header, magic == _MAGIC


def _check_versions(header, path):
    saved = header.get("versions", {})
    if not isinstance(saved, dict):
        saved = {}
    now = _versions()
    if not isinstance(saved.get("skforensics"), str):
        raise ValueError(f"{path!r} has a corrupt skforensics header (no skforensics version)")
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
                stacklevel=4,  # the caller of load, past validate_params' wrapper
            )


def _type_name(t):
    if isinstance(t, str):
        return t
    if isinstance(t, type):
        return f"{t.__module__}.{t.__qualname__}"
    raise TypeError(f"trusted entries must be type names (str) or types, got {t!r}")


def _trusted_by_default(name):
    """Classes defined under skforensics or sklearn, and TRUSTED_EXTRA_TYPES."""
    if name in TRUSTED_EXTRA_TYPES:
        return True
    if not name.startswith(_TRUSTED_PREFIXES):
        return False
    module, _, attr = name.rpartition(".")
    try:  # only modules of the installed skforensics / sklearn are imported
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(obj, type)


def _open_archive(f, path):
    try:
        zf = zipfile.ZipFile(io.BytesIO(f.read()))
        names = set(zf.namelist())
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path!r} is corrupt or truncated (bad archive: {exc})") from exc
    if _SKOPS_MEMBER not in names:
        raise ValueError(f"{path!r} is corrupt: the archive has no {_SKOPS_MEMBER}")
    unexpected = names - {_SKOPS_MEMBER, _WEIGHTS_MEMBER}
    if unexpected:
        raise ValueError(f"{path!r} has unexpected entries {sorted(unexpected)}")
    return zf


def _untrusted(model_bytes, trusted, path):
    import skops.io as sio

    try:
        names = sio.get_untrusted_types(data=model_bytes)
    except Exception as exc:
        raise ValueError(f"{path!r} is corrupt: cannot read its {_SKOPS_MEMBER} ({exc})") from exc
    extra = {_type_name(t) for t in (trusted or ())}
    return sorted(n for n in names if n not in extra and not _trusted_by_default(n)), names


_TRUSTED = [list, tuple, set, frozenset, None]


@validate_params(
    {"path": [str, os.PathLike], "trusted": _TRUSTED},
    prefer_skip_nested_validation=True,
)
def get_untrusted_types(path, *, trusted=None):
    """The type names in a model file that :func:`load` would refuse.

    Nothing is created: only the file's list of types is read.

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`save`.
    trusted : list of str or type, default=None
        Extra types to trust, as for :func:`load`.

    Returns
    -------
    untrusted : list of str
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        _, is_v2 = _read_header(f, path)
        if not is_v2:
            raise ValueError(f"{path!r} is an old pickle-format model; it has no type list")
        zf = _open_archive(f, path)
    return _untrusted(zf.read(_SKOPS_MEMBER), trusted, path)[0]


@validate_params(
    {"path": [str, os.PathLike], "trusted": _TRUSTED, "allow_pickle": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def load(path, *, trusted=None, allow_pickle=False):
    """Load a model saved by :func:`save`, checking its types and versions.

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`save`.
    trusted : list of str or type, default=None
        Types to trust in addition to skforensics', scikit-learn's and
        :data:`TRUSTED_EXTRA_TYPES` (e.g. ``["mypackage.MyTransformer"]``).
        Only list types you have checked: loading creates them.
    allow_pickle : bool, default=False
        Load a file in the old pickle format (``SKFORENSICS-MODEL 1``). Such
        a file can run any code when loaded: only for files you trust.

    Returns
    -------
    model : object

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    UntrustedModelError
        If the file names types that are not trusted (listed in the message
        and in ``.untrusted``). Nothing has been created.
    ValueError
        If the file was not written by :func:`save`, is corrupt, or is in the
        old pickle format and ``allow_pickle`` is False.
    ModelVersionError
        If the model was saved by a skforensics of another major.minor version
        (re-train or install that version).

    Warns
    -----
    ModelVersionWarning
        If it was saved with another scikit-learn or torch version (it may
        still work; check its predictions).
    UnsafeModelWarning
        When an old pickle-format file is loaded with ``allow_pickle=True``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    if not os.path.isfile(path):
        raise ValueError(f"model file {path!r} is not a regular file")
    with open(path, "rb") as f:
        header, is_v2 = _read_header(f, path)
        if not is_v2:
            if not allow_pickle:
                raise ValueError(
                    f"{path!r} is in the old pickle model format, which can run arbitrary "
                    "code when loaded. If you trust this file, load it with "
                    "skforensics.load(path, allow_pickle=True) and re-save it with "
                    "skforensics.save to convert it"
                )
            _check_versions(header, path)
            warnings.warn(
                f"loading {path!r}, an old pickle-format model: this runs any code the "
                "file holds. Re-save it with skforensics.save to convert it",
                UnsafeModelWarning,
                stacklevel=3,  # the caller, past validate_params' wrapper
            )
            import joblib

            return joblib.load(f)
        _check_versions(header, path)
        zf = _open_archive(f, path)
    model_bytes = zf.read(_SKOPS_MEMBER)
    untrusted, names = _untrusted(model_bytes, trusted, path)
    if untrusted:
        raise UntrustedModelError(
            f"{path!r} contains types that are not trusted: {', '.join(untrusted)}. "
            "Nothing was loaded. If you trust them, pass them as "
            "skforensics.load(path, trusted=[...]) (on the command line: --trust NAME)",
            untrusted,
        )
    tensors = {}
    if _WEIGHTS_MEMBER in zf.namelist():
        from safetensors.torch import load as st_load

        try:
            tensors = st_load(zf.read(_WEIGHTS_MEMBER))
        except Exception as exc:
            raise ValueError(f"{path!r} has corrupt weights ({exc})") from exc
    import skops.io as sio

    with _context(_LOADING, _LoadStore(tensors)):
        return sio.loads(model_bytes, trusted=list(names))
