"""Gradient signal-to-noise ratio (GSNR) and the critical optimization radius (COR)."""

from __future__ import annotations

import fnmatch
import numbers
import warnings

import numpy as np
from sklearn.utils import Bunch

__all__ = [
    "gsnr_score",
    "make_gsnr_scorer",
    "layerwise_gsnr",
    "critical_optimization_radius",
]

_AGGREGATES = ("mean", "median", "min", "max", "first", "last", "pooled")
_METHODS = ("vmap", "loop")


# --------------------------------------------------------------------- inputs
def _unwrap(estimator, X):
    """Return ``(net, X)`` with ``net`` a fitted skorch net and ``X`` what it takes."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        Xt = X
        for _, step in estimator.steps[:-1]:
            if step is None or step == "passthrough":
                continue
            Xt = step.transform(Xt)
        return _unwrap(estimator.steps[-1][1], Xt)
    if hasattr(estimator, "best_estimator_") and not hasattr(estimator, "module_"):
        return _unwrap(estimator.best_estimator_, X)
    if not hasattr(estimator, "module"):
        raise TypeError(
            "GSNR needs a skorch network (e.g. skforensics.neural.SAMNetClassifier), "
            f"or a Pipeline ending with one; got {type(estimator).__name__}"
        )
    if not getattr(estimator, "initialized_", False) or not hasattr(estimator, "module_"):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet; call fit first")
    return estimator, X


def _prepare(net, X, y):
    """Module-ready inputs and integer targets, plus a batch -> tensor function."""
    import torch

    from ..neural import SAMNetClassifier

    if y is None:
        raise ValueError("GSNR needs the labels y")
    if isinstance(net, SAMNetClassifier):
        Xp = net._prepare_X(X, reset=False)
        yp = net._encode_y(y, reset=False)
        return Xp, yp, net._to_module_input, net.device_
    # any other skorch classifier on numeric X
    device = torch.device(net.device if net.device not in (None, "auto") else "cpu")
    Xp = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    classes = getattr(net, "classes_", None)
    if classes is not None and not np.issubdtype(y.dtype, np.integer):
        yp = np.searchsorted(np.asarray(classes), y)
    else:
        yp = y
    return Xp, np.asarray(yp, dtype=np.int64), lambda b: torch.as_tensor(b, device=device), device


def _layer_of(param_name):
    return param_name.rsplit(".", 1)[0] if "." in param_name else param_name


def _select_layers(module, layers):
    """Ordered ``{layer: [param names]}`` of the trainable parameters chosen by ``layers``."""
    groups = {}
    for name, p in module.named_parameters():
        if p.requires_grad:
            groups.setdefault(_layer_of(name), []).append(name)
    if not groups:
        raise ValueError("the network has no trainable parameters")
    if layers is None:
        return groups
    if isinstance(layers, (str, numbers.Integral)):
        layers = [layers]
    names = list(groups)
    chosen = []
    for sel in layers:
        if isinstance(sel, numbers.Integral) and not isinstance(sel, bool):
            if not -len(names) <= sel < len(names):
                raise ValueError(f"layer index {sel} out of range: the network has {len(names)} layers")
            matches = [names[sel]]
        elif isinstance(sel, str):
            matches = [n for n in names if n == sel or fnmatch.fnmatchcase(n, sel) or n.startswith(sel + ".")]
            if not matches:
                raise ValueError(f"no layer matches {sel!r}; layers with parameters: {names}")
        else:
            raise TypeError(f"layers must hold layer names, glob patterns or indices; got {sel!r}")
        chosen += [m for m in matches if m not in chosen]
    return {n: groups[n] for n in names if n in chosen}


# ------------------------------------------------------- per-sample gradients
def _gradient_moments(net, X, y, layers=None, batch_size=256, method="vmap"):
    """Sum and sum of squares (float64) of per-sample loss gradients.

    Returns ``(groups, s1, s2, n)`` with ``s1[name]``/``s2[name]`` flat arrays.
    """
    import torch
    from torch.func import functional_call, grad, vmap
    from torch.nn import functional as F

    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    net, X = _unwrap(net, X)
    Xp, yp, to_input, device = _prepare(net, X, y)
    if len(Xp) < 2:
        raise ValueError("GSNR needs at least two samples (a variance over samples)")
    module = net.module_
    groups = _select_layers(module, layers)
    selected = [n for names in groups.values() for n in names]
    sel = set(selected)
    # standard (contiguous) layout: vmap's batching rules for channels-last
    # convolution weights are much slower on CPU
    params = {n: p.detach().contiguous() for n, p in module.named_parameters() if n in sel}
    frozen = {n: p.detach() for n, p in module.named_parameters() if n not in sel}
    buffers = {n: b.detach() for n, b in module.named_buffers()}

    def logits_of(p, x):
        out = functional_call(module, (p, frozen, buffers), (x,))
        return out[0] if isinstance(out, (tuple, list)) else out

    def loss_one(p, x, t):
        return F.cross_entropy(logits_of(p, x.unsqueeze(0)), t.unsqueeze(0))

    per_sample = vmap(grad(loss_one), in_dims=(None, 0, 0))
    s1 = {n: torch.zeros(params[n].numel(), dtype=torch.float64, device=device) for n in selected}
    s2 = {n: torch.zeros_like(s1[n]) for n in selected}
    was_training = module.training
    module.eval()  # BatchNorm running statistics, no dropout: per-sample gradients are defined
    try:
        for start in range(0, len(Xp), batch_size):
            xb = to_input(Xp[start : start + batch_size])
            yb = torch.as_tensor(yp[start : start + batch_size], device=device)
            if method == "vmap":
                g = per_sample(params, xb, yb)
                for n in selected:
                    gd = g[n].reshape(len(yb), -1)
                    # float32 within a batch (fast contiguous reduction), float64 across
                    s1[n] += gd.sum(0).double()
                    s2[n] += (gd * gd).sum(0).double()
            else:  # reference implementation: one backward pass per sample
                plist = [params[n].clone().requires_grad_(True) for n in selected]
                for i in range(len(yb)):
                    pd = dict(zip(selected, plist))
                    loss = F.cross_entropy(logits_of(pd, xb[i : i + 1]), yb[i : i + 1])
                    gs = torch.autograd.grad(loss, plist)
                    for n, gi in zip(selected, gs):
                        gd = gi.reshape(-1).double()
                        s1[n] += gd
                        s2[n] += gd * gd
    finally:
        module.train(was_training)
    s1 = {n: v.cpu().numpy() for n, v in s1.items()}
    s2 = {n: v.cpu().numpy() for n, v in s2.items()}
    return groups, s1, s2, len(Xp)


def _element_gsnr(s1, s2, n):
    mean = s1 / n
    var = np.maximum((s2 - n * mean * mean) / (n - 1), 0.0)
    msq = mean * mean
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(var > 0, msq / np.where(var > 0, var, 1.0), 0.0)
    return r, msq, var


def layerwise_gsnr(estimator, X, y, *, layers=None, batch_size=256, method="vmap", as_frame=False):
    """Per-layer gradient signal-to-noise ratio of a fitted network.

    For every trainable parameter ``theta_j`` the per-sample gradients
    ``g_ij`` of the cross-entropy loss on ``(X, y)`` give
    ``GSNR_j = mean_i(g_ij)^2 / var_i(g_ij)`` (unbiased variance); a layer's
    GSNR is the mean over its parameters. Per-sample gradients are computed
    with :func:`torch.func.vmap` over :func:`torch.func.grad`, one batch at a
    time, with the network in evaluation mode (BatchNorm running statistics,
    no dropout).

    Parameters
    ----------
    estimator : fitted skorch classifier or Pipeline ending with one
        Typically a :class:`~skforensics.neural.SAMNetClassifier`; the steps
        of a Pipeline before it transform ``X`` first.
    X : images or feature matrix
        Held-out data, as accepted by the estimator.
    y : array-like of shape (n,)
        Labels.
    layers : None, str, int or list, default=None
        Layers (module names such as ``"features.0"``, glob patterns, or
        indices in the order of ``named_parameters``) to include; None for all
        layers with trainable parameters.
    batch_size : int, default=256
        Samples per vectorised batch (memory: ``batch_size x n_params`` floats).
    method : {"vmap", "loop"}, default="vmap"
        ``"loop"`` is the slow reference (one backward pass per sample).
    as_frame : bool, default=False
        Return a pandas DataFrame instead of a Bunch.

    Returns
    -------
    table : Bunch or DataFrame
        Columns ``layer`` (name), ``depth`` (index), ``n_params``, ``gsnr``
        (mean parameter GSNR), ``grad_mean_sq`` (mean squared mean gradient)
        and ``grad_var`` (mean gradient variance), one row per layer, input
        side first; a Bunch also has ``n_samples``.

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics.neural import SAMNetClassifier, LinearProbe
    >>> from skforensics.metrics import layerwise_gsnr
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(40, 3).astype(np.float32); y = (X[:, 0] > 0).astype(int)
    >>> clf = SAMNetClassifier(LinearProbe, max_epochs=2, random_state=0).fit(X, y)
    >>> table = layerwise_gsnr(clf, X, y)
    >>> list(table.layer), table.gsnr.shape
    (['linear'], (1,))
    """
    groups, s1, s2, n = _gradient_moments(estimator, X, y, layers, batch_size, method)
    rows = {"layer": [], "depth": [], "n_params": [], "gsnr": [], "grad_mean_sq": [], "grad_var": []}
    for depth, (layer, names) in enumerate(groups.items()):
        a1 = np.concatenate([s1[k] for k in names])
        a2 = np.concatenate([s2[k] for k in names])
        r, msq, var = _element_gsnr(a1, a2, n)
        rows["layer"].append(layer)
        rows["depth"].append(depth)
        rows["n_params"].append(a1.size)
        rows["gsnr"].append(float(r.mean()))
        rows["grad_mean_sq"].append(float(msq.mean()))
        rows["grad_var"].append(float(var.mean()))
    cols = {
        "layer": np.array(rows["layer"], dtype=object),
        "depth": np.array(rows["depth"]),
        "n_params": np.array(rows["n_params"]),
        "gsnr": np.array(rows["gsnr"]),
        "grad_mean_sq": np.array(rows["grad_mean_sq"]),
        "grad_var": np.array(rows["grad_var"]),
    }
    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("as_frame=True needs pandas; install it or use as_frame=False") from exc

        return pd.DataFrame(cols)
    return Bunch(n_samples=n, **cols)


def _aggregate(table, aggregate):
    g = np.asarray(table["gsnr"], dtype=float)
    if aggregate == "mean":
        return float(g.mean())
    if aggregate == "median":
        return float(np.median(g))
    if aggregate == "min":
        return float(g.min())
    if aggregate == "max":
        return float(g.max())
    if aggregate == "first":
        return float(g[0])
    if aggregate == "last":
        return float(g[-1])
    # pooled: mean over all parameters, whatever their layer
    w = np.asarray(table["n_params"], dtype=float)
    return float(np.sum(g * w) / np.sum(w))


def _check_aggregate(aggregate):
    if aggregate not in _AGGREGATES:
        raise ValueError(f"aggregate must be one of {_AGGREGATES}, got {aggregate!r}")


def gsnr_score(estimator, X, y, *, layers=None, aggregate="mean", batch_size=256, method="vmap"):
    """Gradient signal-to-noise ratio of a fitted network on ``(X, y)``; higher is better.

    CoRIT relates a high GSNR to a larger critical optimization radius and
    better generalization. This is :func:`layerwise_gsnr` reduced to one
    number.

    Parameters
    ----------
    estimator : fitted skorch classifier or Pipeline ending with one
    X : images or feature matrix
    y : array-like of shape (n,)
    layers : None, str, int or list, default=None
        Layers to include (see :func:`layerwise_gsnr`).
    aggregate : {"mean", "median", "min", "max", "first", "last", "pooled"}, default="mean"
        How layer GSNRs are reduced: statistics over layers, the first/last
        layer, or ``"pooled"``: the mean over all parameters.
    batch_size : int, default=256
        Samples per vectorised batch.
    method : {"vmap", "loop"}, default="vmap"
        Vectorised per-sample gradients, or the slow reference loop.

    Returns
    -------
    score : float

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics.neural import SAMNetClassifier, LinearProbe
    >>> from skforensics.metrics import gsnr_score
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(40, 3).astype(np.float32); y = (X[:, 0] > 0).astype(int)
    >>> clf = SAMNetClassifier(LinearProbe, max_epochs=2, random_state=0).fit(X, y)
    >>> gsnr_score(clf, X, y) > 0
    True
    """
    _check_aggregate(aggregate)
    table = layerwise_gsnr(estimator, X, y, layers=layers, batch_size=batch_size, method=method)
    return _aggregate(table, aggregate)


class _GSNRScorer:
    """Scorer ``(estimator, X, y) -> GSNR`` (higher is better); see :func:`make_gsnr_scorer`."""

    def __init__(self, layers=None, aggregate="mean", batch_size=256):
        self.layers = layers
        self.aggregate = aggregate
        self.batch_size = batch_size

    def __call__(self, estimator, X, y=None, sample_weight=None, **kwargs):
        if sample_weight is not None:
            raise ValueError("the GSNR scorer does not support sample_weight")
        return gsnr_score(
            estimator, X, y, layers=self.layers, aggregate=self.aggregate, batch_size=self.batch_size
        )

    def __repr__(self):
        return f"make_gsnr_scorer(layers={self.layers!r}, aggregate={self.aggregate!r})"


def make_gsnr_scorer(layers=None, aggregate="mean", batch_size=256):
    """Make a scikit-learn scorer that returns the held-out GSNR (higher is better).

    Use it as ``scoring=`` of :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_val_score` and the like, e.g. to
    pick SAM's radius by ``{"optimizer__rho": [...]}``.

    Parameters
    ----------
    layers : None, str, int or list, default=None
        Layers to include (see :func:`layerwise_gsnr`).
    aggregate : {"mean", "median", "min", "max", "first", "last", "pooled"}, default="mean"
        Reduction over layers (see :func:`gsnr_score`).
    batch_size : int, default=256
        Samples per vectorised batch.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``.

    Examples
    --------
    >>> from skforensics.metrics import make_gsnr_scorer
    >>> make_gsnr_scorer(layers=[-1], aggregate="last")
    make_gsnr_scorer(layers=[-1], aggregate='last')
    """
    _check_aggregate(aggregate)
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return _GSNRScorer(layers=layers, aggregate=aggregate, batch_size=batch_size)


# ----------------------------------------------------------- critical radius
_CHANCE = {"accuracy": None, "balanced_accuracy": "1/k", "roc_auc": 0.5}


def _chance_level(scoring, y, chance_level):
    if chance_level is not None:
        return float(chance_level)
    if scoring not in _CHANCE:
        raise ValueError(
            f"no known chance level for scoring={scoring!r}; pass chance_level= "
            f"(known: {sorted(_CHANCE)})"
        )
    _, counts = np.unique(np.asarray(y), return_counts=True)
    if scoring == "accuracy":
        return float(counts.max() / counts.sum())
    if scoring == "balanced_accuracy":
        return 1.0 / len(counts)
    return 0.5


def critical_optimization_radius(
    estimator,
    X,
    y,
    *,
    rhos=None,
    cv=3,
    scoring="accuracy",
    param_name="optimizer__rho",
    tol=0.1,
    chance_level=None,
    n_jobs=None,
    verbose=0,
):
    """Estimate the SAM radius at which validation performance collapses to chance.

    CoRIT's critical optimization radius (COR): beyond it, SAM training
    degenerates to random guessing. The estimator is cross-validated for each
    radius in ``rhos`` (by setting ``param_name``); the radius *collapses*
    when its mean validation score falls to
    ``chance + tol * (best - chance)``. The COR is where the score curve first
    crosses that threshold, interpolated linearly in ``log(rho)`` between the
    last radius above it and the first below it.

    Parameters
    ----------
    estimator : estimator
        Unfitted; e.g. ``SAMNetClassifier`` or a Pipeline (then
        ``param_name`` needs the step prefix, e.g. ``"samnetclassifier__optimizer__rho"``).
    X, y
        Data.
    rhos : array-like, default=None
        Radii, increasing; default ``np.geomspace(1e-2, 1e2, 9)``.
    cv : int or cross-validation generator, default=3
        As in :func:`sklearn.model_selection.validation_curve`.
    scoring : str, default="accuracy"
        ``"accuracy"`` (chance: majority-class rate), ``"balanced_accuracy"``
        (1/k), ``"roc_auc"`` (0.5) or any scorer with ``chance_level``.
    param_name : str, default="optimizer__rho"
        The radius parameter.
    tol : float, default=0.1
        Fraction of the gain over chance still allowed in a collapsed run.
    chance_level : float, default=None
        Overrides the chance level.
    n_jobs : int, default=None
        Parallel fits.
    verbose : int, default=0
        Verbosity of the cross-validation.

    Returns
    -------
    result : Bunch
        ``critical_radius`` (float; ``inf`` if nothing collapsed), ``rhos``,
        ``mean_test_score``, ``std_test_score``, ``mean_train_score``,
        ``collapsed`` (bool per radius), ``chance_level``, ``threshold``,
        ``scoring``.

    Warns
    -----
    UserWarning
        If no radius collapsed (the COR is above the grid) or the smallest
        already did (the COR is at most ``rhos[0]``).
    """
    from sklearn.model_selection import validation_curve

    rhos = np.geomspace(1e-2, 1e2, 9) if rhos is None else np.asarray(rhos, dtype=float)
    if rhos.ndim != 1 or len(rhos) < 2:
        raise ValueError("rhos must be a 1-D array of at least two radii")
    if np.any(rhos < 0) or np.any(np.diff(rhos) <= 0) or not np.all(np.isfinite(rhos)):
        raise ValueError("rhos must be finite, non-negative and strictly increasing")
    if not 0 <= tol < 1:
        raise ValueError(f"tol must be in [0, 1), got {tol!r}")
    chance = _chance_level(scoring, y, chance_level)
    train, test = validation_curve(
        estimator,
        X,
        y,
        param_name=param_name,
        param_range=list(rhos),
        cv=cv,
        scoring=scoring,
        n_jobs=n_jobs,
        verbose=verbose,
    )
    mean, std = test.mean(axis=1), test.std(axis=1)
    best = float(mean.max())
    threshold = chance + tol * max(best - chance, 0.0)
    collapsed = mean <= threshold
    if not collapsed.any():
        cor = np.inf
        warnings.warn(
            f"no radius up to {rhos[-1]:g} collapsed to chance ({chance:.3f}); the critical "
            "optimization radius is above the grid",
            UserWarning,
            stacklevel=2,
        )
    else:
        k = int(np.argmax(collapsed))
        if k == 0:
            cor = float(rhos[0])
            warnings.warn(
                f"the smallest radius {rhos[0]:g} already collapsed to chance; the critical "
                "optimization radius is at most that",
                UserWarning,
                stacklevel=2,
            )
        else:
            r0, r1, s0, s1 = rhos[k - 1], rhos[k], mean[k - 1], mean[k]
            frac = (s0 - threshold) / (s0 - s1) if s0 != s1 else 1.0
            if r0 > 0:
                cor = float(np.exp(np.log(r0) + frac * (np.log(r1) - np.log(r0))))
            else:
                cor = float(r0 + frac * (r1 - r0))
    return Bunch(
        critical_radius=cor,
        rhos=rhos,
        mean_test_score=mean,
        std_test_score=std,
        mean_train_score=train.mean(axis=1),
        collapsed=collapsed,
        chance_level=chance,
        threshold=threshold,
        scoring=scoring,
    )
