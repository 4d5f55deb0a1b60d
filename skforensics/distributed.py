"""Scale-out on a Dask cluster: feature extraction and scoring of image paths.

Everything here needs the optional ``dask`` extra
(``pip install "skforensics[dask]"``, which installs ``dask[distributed]``).
Dask is imported only inside the functions, so ``import skforensics`` stays
light.

The same code runs on a :class:`~distributed.LocalCluster` (several processes
of one machine) and on a multi-machine cluster: start ``dask scheduler`` on one
machine, ``dask worker tcp://SCHEDULER:8786`` on each of the others, and pass
``Client("tcp://SCHEDULER:8786")``. The workers read the image files
themselves, so the paths must be visible from every worker (a shared file
system or object store). See the user guide page "Model selection and speed".

* :func:`map_ordered` -- the building block: sends large objects (a fitted
  model) to the workers once, runs ``func(item, **broadcast)`` for every item
  with a bounded number of tasks in flight, and yields the results in the
  order of ``items``.
* :func:`transform_paths` -- ``transformer.transform(paths)`` over a cluster,
  in batches, with the rows in the order of ``paths`` and unreadable images
  handled by the transformer's ``on_error`` as in a local run.
* :func:`batches` -- the consecutive slices of a sequence.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Iterable
from numbers import Integral

import numpy as np

from ._compat import HasMethods, Interval, validate_params

__all__ = ["batches", "map_ordered", "transform_paths"]


def _require_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skforensics.distributed needs dask.distributed: pip install 'skforensics[dask]' "
            "(or pip install 'dask[distributed]')"
        ) from exc


_POSITIVE = Interval(Integral, 1, None, closed="left")
# what map_ordered calls on a distributed.Client
_CLIENT = HasMethods(["submit", "scatter", "cancel"])


@validate_params(
    {"items": ["array-like"], "batch_size": [_POSITIVE]},
    prefer_skip_nested_validation=True,
)
def batches(items, batch_size):
    """Consecutive slices of ``items`` of at most ``batch_size`` elements.

    Parameters
    ----------
    items : sequence
        Anything that supports ``len`` and slicing (list, tuple, array).
    batch_size : int
        Size of every slice but possibly the last one; at least 1.

    Returns
    -------
    slices : list of sequences
        ``items[0:batch_size]``, ``items[batch_size:2 * batch_size]``, ...

    Examples
    --------
    >>> from skforensics.distributed import batches
    >>> batches(list("abcde"), 2)
    [['a', 'b'], ['c', 'd'], ['e']]
    """
    batch_size = int(batch_size)
    return [items[s : s + batch_size] for s in range(0, len(items), batch_size)]


def _default_in_flight(client):
    try:
        n_threads = sum(client.nthreads().values())
    except Exception:  # pragma: no cover - e.g. a client without workers yet
        n_threads = 1
    # two tasks per worker thread: one running, one queued (no idle gap between tasks)
    return max(2, 2 * n_threads)


@validate_params(
    {
        "client": [_CLIENT],
        "func": [callable],
        "items": ["array-like", Iterable],
        "max_in_flight": [_POSITIVE, None],
    },
    prefer_skip_nested_validation=True,
)
def map_ordered(client, func, items, *, max_in_flight=None, **broadcast):
    """Run ``func(item, **broadcast)`` on a Dask cluster, yielding results in order.

    The keyword arguments in ``broadcast`` (typically a fitted model) are
    scattered to every worker once, with a single ``client.scatter(...,
    broadcast=True)`` call, and passed to every task by reference, so a large
    model crosses the network once per worker, not once per item. At most
    ``max_in_flight`` tasks are submitted at a time, so memory stays bounded
    for millions of items.

    Parameters
    ----------
    client : distributed.Client
        Client of the cluster (``Client(LocalCluster(...))`` or
        ``Client("tcp://scheduler:8786")``).
    func : callable
        ``func(item, **broadcast)``; must be importable on the workers (a
        module-level function, not a lambda defined in ``__main__`` of a
        script the workers cannot import -- although Dask pickles those with
        cloudpickle too).
    items : iterable
        The items, e.g. batches of image paths (see :func:`batches`). Consumed
        lazily.
    max_in_flight : int, default=None
        Largest number of submitted, not yet yielded tasks. ``None``: twice the
        number of worker threads of the cluster.
    **broadcast
        Objects sent to every worker once and passed to ``func`` by keyword.

    Yields
    ------
    result
        ``func(item, **broadcast)`` for every item, in the order of ``items``.

    Raises
    ------
    Exception
        The exception a task raised on a worker, re-raised here with its type
        (e.g. :class:`~skforensics.ImageLoadError`), its worker traceback and a
        note naming the position of the item; the tasks still in flight are
        cancelled.

    Examples
    --------
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> from skforensics.distributed import map_ordered
    >>> def scale(x, *, factor):
    ...     return x * factor
    >>> with Client(LocalCluster(n_workers=2, processes=False)) as client:  # doctest: +SKIP
    ...     list(map_ordered(client, scale, range(5), factor=10))
    [0, 10, 20, 30, 40]
    """
    _require_distributed()
    if max_in_flight is None:
        max_in_flight = _default_in_flight(client)
    max_in_flight = int(max_in_flight)
    # one scatter call for all broadcast objects; hash=False skips tokenizing a large model
    remote = {}
    if broadcast:  # a list, not a dict: dict keys would become (shared) Dask keys
        names = list(broadcast)
        futures = client.scatter([broadcast[k] for k in names], broadcast=True, hash=False)
        remote = dict(zip(names, futures))
    pending = deque()  # (position, future), oldest first
    try:
        it = iter(items)
        position = 0
        exhausted = False
        while True:
            while not exhausted and len(pending) < max_in_flight:
                try:
                    item = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((position, client.submit(func, item, pure=False, **remote)))
                position += 1
            if not pending:
                return
            pos, fut = pending.popleft()
            try:
                result = fut.result()
            except Exception as exc:
                exc.add_note(
                    f"raised on a Dask worker by {getattr(func, '__name__', func)!r} "
                    f"for item {pos} of map_ordered"
                )
                raise
            fut.release()
            yield result
    finally:
        if pending:
            client.cancel([f for _, f in pending])
        if remote:
            client.cancel(list(remote.values()))


def _transform_batch(paths, *, transformer):
    """Worker side of :func:`transform_paths`: transform one batch, capture skip warnings."""
    from ._image_io import SkippedImageWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkippedImageWarning)
        out = transformer.transform(paths)
    messages = [str(w.message) for w in caught if issubclass(w.category, SkippedImageWarning)]
    failed = []
    if messages:
        arr = np.asarray(out)
        if arr.dtype.kind == "f":
            failed = np.flatnonzero(np.isnan(arr.reshape(len(arr), -1)).any(axis=1)).tolist()
    return out, failed, messages


@validate_params(
    {
        "transformer": [HasMethods(["fit", "transform"])],
        "paths": ["array-like", Iterable],
        "client": [_CLIENT],
        "batch_size": [_POSITIVE],
        "max_in_flight": [_POSITIVE, None],
    },
    prefer_skip_nested_validation=True,
)
def transform_paths(transformer, paths, *, client, batch_size=64, max_in_flight=None):
    """``transformer.transform(paths)`` computed on a Dask cluster, in batches.

    The fitted ``transformer`` (a feature extractor or a whole feature
    :class:`~sklearn.pipeline.Pipeline`) is sent to every worker once; every
    worker reads its batches of image files itself; the rows come back in the
    order of ``paths``. Unreadable images are handled by the transformer's
    ``on_error`` as in a local run: with ``"raise"`` the
    :class:`~skforensics.ImageLoadError` of the first bad batch is raised here
    (it names the file); with ``"skip"`` its rows are NaN and one
    :class:`~skforensics.SkippedImageWarning` names them with their positions
    in ``paths``.

    The result equals ``transformer.transform(paths)`` for transformers whose
    rows depend on their own image only (the weight-free extractors, CLIP and
    CoRIT features; up to floating-point summation order for the torch ones
    when the local run uses another batch size).
    :class:`~skforensics.MultiScaleStyleRetrospection` with a fixed
    ``random_state`` draws its noise per transform call, so its views match a
    local run done with the same ``batch_size`` batches, not one single call.

    Parameters
    ----------
    transformer : fitted transformer
        Anything with ``transform(list_of_paths)``; fitted beforehand.
    paths : sequence of str or os.PathLike
        Image files, readable from every worker.
    client : distributed.Client
        Client of the cluster.
    batch_size : int, default=64
        Paths per task. Larger batches amortize the per-task overhead (a few
        milliseconds) and let torch extractors batch their forward passes.
    max_in_flight : int, default=None
        Passed to :func:`map_ordered`.

    Returns
    -------
    X_out : ndarray of shape (len(paths), ...)
        The transformed rows, stacked in the order of ``paths``.

    Examples
    --------
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> from skforensics.features import SpectralFeatureExtractor
    >>> from skforensics.distributed import transform_paths
    >>> ext = SpectralFeatureExtractor().fit(paths)  # doctest: +SKIP
    >>> with Client(LocalCluster(n_workers=2, threads_per_worker=1)) as client:  # doctest: +SKIP
    ...     X = transform_paths(ext, paths, client=client)
    """
    from sklearn.utils.validation import check_is_fitted

    from ._image_io import SkippedImageWarning

    check_is_fitted(transformer)
    paths = list(paths)
    chunks = batches(paths, batch_size)
    if not chunks:
        raise ValueError("paths is empty")
    outs, failed, messages = [], [], []
    offset = 0
    results = map_ordered(
        client, _transform_batch, chunks, max_in_flight=max_in_flight, transformer=transformer
    )
    for out, bad, msgs in results:
        out = np.asarray(out)
        outs.append(out)
        failed += [offset + i for i in bad]
        messages += msgs
        offset += len(out)
    if messages:
        shown = "; ".join(messages[:3])
        warnings.warn(
            f"{len(failed)} image(s) could not be read and were skipped (their rows are NaN): "
            f"positions {failed[:20]}{'...' if len(failed) > 20 else ''} of paths. "
            f"Per-batch reports (batch-local indices): {shown}",
            SkippedImageWarning,
            stacklevel=3,  # the caller, past validate_params' wrapper
        )
    return np.concatenate(outs, axis=0)
