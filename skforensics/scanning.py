"""Score many images with a fitted detector, streaming one record per image.

The engine of ``skforensics scan``, usable from Python:

* :func:`score_batch` scores a list of images or paths with one
  ``predict_proba`` pass; an unreadable file gives a record with an error
  naming the file instead of an exception;
* :func:`iter_scores` walks any number of paths in batches and yields one
  :class:`ScanRecord` per path, in input order, as soon as its batch is
  scored, optionally on a Dask cluster
  (:func:`skforensics.distributed.map_ordered`).

The verdict comes from the probability and a threshold (``prob_fake >
threshold``), never from a second ``predict`` call, so every image is decoded
and its features computed once.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterable
from numbers import Integral, Real
from typing import NamedTuple

from ._compat import HasMethods, Interval, validate_params

__all__ = ["ScanRecord", "iter_scores", "score_batch"]


class ScanRecord(NamedTuple):
    """The result of one image.

    Attributes
    ----------
    path : str or None
        The file path (``None`` for an in-memory image).
    prob_fake : float
        Probability that the image is generated (the decision function for a
        model without ``predict_proba``); NaN when it could not be read.
    verdict : str or None
        ``"fake"`` when ``prob_fake > threshold``, else ``"real"``; ``None``
        when the image could not be read.
    error : str or None
        Why the image could not be read (naming the file), else ``None``.
    """

    path: str | None
    prob_fake: float
    verdict: str | None
    error: str | None


def _error_message(exc):
    # the decoder names the position in X; here every image is decoded on its own
    return str(exc).replace(" (X[0])", "")


_MODEL = [HasMethods(["predict_proba"]), HasMethods(["decision_function"])]
_THRESHOLD = [Interval(Real, None, None, closed="both"), None]


@validate_params(
    {"model": _MODEL, "images_or_paths": ["array-like"], "threshold": _THRESHOLD},
    prefer_skip_nested_validation=True,
)
def score_batch(model, images_or_paths, *, threshold=0.5):
    """Score images with one ``predict_proba`` pass, keeping per-image errors.

    Parameters
    ----------
    model : estimator
        A fitted binary image classifier (e.g. a pipeline starting with a
        feature extractor) with ``predict_proba`` (or ``decision_function``).
        Its labels may be 0/1 or strings such as ``"real"`` / ``"fake"``: the
        column of "generated" is found through ``model.classes_`` (see
        :func:`skforensics.model_selection.fake_class_index`).
    images_or_paths : list of paths, PIL images or uint8 arrays
        The images. Each one is decoded with
        :func:`skforensics.datasets.load_images`; one that cannot be read gives
        a record whose ``error`` names the file and the problem.
    threshold : float or None, default=0.5
        Images with ``prob_fake > threshold`` get the verdict ``"fake"``.
        ``None``: the model's own threshold (``threshold_`` if it has one,
        else 0.5, or 0 for a decision function).

    Returns
    -------
    records : list of ScanRecord
        One per input, in order.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skforensics.datasets import load_sample_images
    >>> from skforensics.features import SpectralFeatureExtractor
    >>> from skforensics.scanning import score_batch
    >>> data = load_sample_images("cifake")
    >>> labels = ["fake" if v else "real" for v in data.y]
    >>> model = make_pipeline(SpectralFeatureExtractor(n_bins=8), LogisticRegression())
    >>> model = model.fit(data.paths, labels)
    >>> records = score_batch(model, [data.paths[0], "missing.png"])
    >>> records[0].verdict in ("real", "fake"), records[1].verdict
    (True, None)
    >>> print(records[1].error)
    image file 'missing.png' does not exist
    """
    from .datasets import load_images

    items = list(images_or_paths)
    records = [None] * len(items)
    good, imgs = [], []
    for i, item in enumerate(items):
        path = os.fspath(item) if isinstance(item, (str, os.PathLike)) else None
        try:
            imgs.append(load_images([item])[0])
            good.append(i)
        except ValueError as exc:  # ImageLoadError and bad containers alike
            records[i] = ScanRecord(path, float("nan"), None, _error_message(exc))
        except OSError as exc:  # e.g. permission errors the decoder does not wrap
            records[i] = ScanRecord(path, float("nan"), None, f"{path!r}: {exc}")
    _score_decoded(model, items, good, imgs, records, threshold)
    return records


def _score_decoded(model, items, good, imgs, records, threshold):
    from .model_selection import scores_and_predictions

    if not imgs:
        return
    try:
        scores, pred = scores_and_predictions(model, imgs, threshold=threshold)
    except ValueError as exc:  # an image the model refuses (e.g. too small): isolate it
        if len(imgs) > 1:
            for i, img in zip(good, imgs):
                _score_decoded(model, items, [i], [img], records, threshold)
            return
        item = items[good[0]]
        path = os.fspath(item) if isinstance(item, (str, os.PathLike)) else None
        records[good[0]] = ScanRecord(
            path, float("nan"), None, f"{path or 'image'}: {_error_message(exc)}"
        )
        return
    for i, s, p in zip(good, scores, pred):
        item = items[i]
        path = os.fspath(item) if isinstance(item, (str, os.PathLike)) else None
        records[i] = ScanRecord(path, float(s), "fake" if p else "real", None)


def _chunks(iterable, size):
    it = iter(iterable)
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


@validate_params(
    {
        "model": _MODEL,
        "paths": ["array-like", Iterable],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "threshold": _THRESHOLD,
        # checked by skforensics.distributed.map_ordered, which receives it
        "client": "no_validation",
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def iter_scores(model, paths, *, batch_size=64, threshold=0.5, client=None, verbose=False):
    """Score images batch by batch, yielding one record per path in input order.

    Records come out as soon as their batch is scored, so a caller can write
    each line at once (``skforensics scan`` does, which is what makes an
    interrupted scan keep its work).

    Parameters
    ----------
    model : estimator
        A fitted binary image classifier, see :func:`score_batch`.
    paths : iterable of str or os.PathLike
        Image files (or in-memory images). Consumed lazily.
    batch_size : int, default=64
        Images per ``predict_proba`` call (and per Dask task).
    threshold : float or None, default=0.5
        See :func:`score_batch`.
    client : distributed.Client, optional
        Score the batches on this Dask cluster with
        :func:`skforensics.distributed.map_ordered`: the model is sent to each
        worker once, a bounded number of batches is in flight and the records
        still come out in input order.
    verbose : bool, default=False
        Progress bar counting images.

    Yields
    ------
    record : ScanRecord

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skforensics.datasets import load_sample_images
    >>> from skforensics.features import SpectralFeatureExtractor
    >>> from skforensics.scanning import iter_scores
    >>> data = load_sample_images("cifake")
    >>> model = make_pipeline(SpectralFeatureExtractor(n_bins=8), LogisticRegression())
    >>> model = model.fit(data.paths, data.y)
    >>> records = list(iter_scores(model, data.paths[:5], batch_size=2))
    >>> [r.path for r in records] == list(data.paths[:5])
    True
    """
    try:
        total = len(paths)
    except TypeError:
        total = None
    bar = None
    if verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="scan", unit="image")
    batches = _chunks(paths, int(batch_size))
    if client is None:
        results = (score_batch(model, b, threshold=threshold) for b in batches)
    else:
        from .distributed import map_ordered

        func = functools.partial(_score_item, threshold=threshold)
        results = map_ordered(client, func, batches, model=model)
    try:
        for records in results:
            yield from records
            if bar is not None:
                bar.update(len(records))
    finally:
        if bar is not None:
            bar.close()
        close = getattr(results, "close", None)
        if close is not None:
            close()


def _score_item(batch, *, model, threshold=0.5):
    """``score_batch`` with the model by keyword, the form ``map_ordered`` calls."""
    return score_batch(model, batch, threshold=threshold)
