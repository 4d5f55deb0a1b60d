"""Evaluation tables: cross-generator and robustness reports."""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, average_precision_score
from sklearn.model_selection import KFold, StratifiedKFold, check_cv
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from .._compat import HasMethods, Interval, StrOptions, safe_indexing, validate_params
from ._split import LeaveOneGeneratorOut

__all__ = [
    "ReportTable",
    "cross_generator_report",
    "default_perturbations",
    "fake_class_index",
    "per_generator_table",
    "robustness_report",
    "scores_and_predictions",
    "scores_of",
]


class ReportTable:
    """A small table of results (a list of rows), DataFrame-like without pandas.

    Parameters
    ----------
    columns : list of str
        Column names, in display order.
    rows : list of dict
        One dict per row, keyed by column name.
    title : str, optional
        Shown above the text rendering.

    Examples
    --------
    >>> from skforensics.model_selection import ReportTable
    >>> t = ReportTable(["generator", "acc"], [{"generator": "sd", "acc": 0.91}])
    >>> t
    generator    acc
    ---------  -----
    sd         0.910
    >>> t.to_dict()
    {'generator': ['sd'], 'acc': [0.91]}
    >>> t["acc"]
    [0.91]
    """

    def __init__(self, columns, rows, title=None):
        self.columns = list(columns)
        self.rows = [dict(r) for r in rows]
        self.title = title

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, column):
        if column not in self.columns:
            raise KeyError(f"no column {column!r}; columns are {self.columns}")
        return [r.get(column) for r in self.rows]

    def row(self, key, column=None):
        """The row whose first column (or ``column``) equals ``key``, as a dict.

        Parameters
        ----------
        key : object
            Value to look for, e.g. a generator name or ``"mean"``.
        column : str, default=None
            Column to search; ``None`` searches the first column.

        Returns
        -------
        row : dict
            A copy of the first matching row, keyed by column name.

        Raises
        ------
        KeyError
            If no row holds ``key`` in that column.
        """
        column = column or self.columns[0]
        for r in self.rows:
            if r.get(column) == key:
                return dict(r)
        raise KeyError(f"no row with {column} == {key!r}")

    def to_dict(self, orient="list"):
        """The table as ``{column: [values]}`` or as a list of row dicts.

        Parameters
        ----------
        orient : {"list", "records"}, default="list"
            ``"list"``: ``{column: [values]}``; ``"records"``: one dict per
            row, keyed by column name (the orientations of pandas).

        Returns
        -------
        table : dict or list of dict
        """
        if orient == "list":
            return {c: self[c] for c in self.columns}
        if orient == "records":
            return [{c: r.get(c) for c in self.columns} for r in self.rows]
        raise ValueError(f"orient must be 'list' or 'records', got {orient!r}")

    def to_pandas(self):
        """A :class:`pandas.DataFrame` (needs pandas, which is optional)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas() needs pandas: pip install pandas") from exc
        return pd.DataFrame(self.to_dict("records"), columns=self.columns)

    @staticmethod
    def _fmt(v):
        if isinstance(v, (float, np.floating)):
            return "nan" if math.isnan(v) else f"{v:.3f}"
        return str(v)

    def __str__(self):
        cells = [[self._fmt(r.get(c, "")) for c in self.columns] for r in self.rows]
        widths = [
            max([len(c)] + [len(row[k]) for row in cells]) for k, c in enumerate(self.columns)
        ]

        def numeric(k):
            return all(
                isinstance(r.get(self.columns[k]), (numbers.Number, np.number)) for r in self.rows
            ) and bool(self.rows)

        def line(vals):
            return "  ".join(
                v.rjust(w) if numeric(k) else v.ljust(w)
                for k, (v, w) in enumerate(zip(vals, widths))
            ).rstrip()

        out = [] if self.title is None else [self.title]
        out.append(line(self.columns))
        out.append("  ".join("-" * w for w in widths))
        out += [line(row) for row in cells]
        return "\n".join(out)

    __repr__ = __str__


#: class labels (compared case-insensitively as strings) that name the generated class
_FAKE_NAMES = frozenset({"1", "true", "fake", "fakes", "1_fake", "ai", "generated", "synthetic"})


@validate_params(
    {"estimator": [HasMethods(["predict_proba"]), HasMethods(["decision_function"])]},
    prefer_skip_nested_validation=True,
)
def fake_class_index(estimator):
    """Column of ``predict_proba`` that holds the probability of "generated".

    A class labelled (case-insensitively) ``1``, ``True``, ``"fake"``,
    ``"1_fake"``, ``"ai"``, ``"generated"`` or ``"synthetic"`` in
    ``estimator.classes_``; otherwise the second class, scikit-learn's
    positive class. So a model fitted on ``"real"`` / ``"fake"`` labels (whose
    ``classes_`` sort as ``["fake", "real"]``) is read the right way round.

    Parameters
    ----------
    estimator : estimator
        A fitted binary classifier (without ``classes_``, column 1 is used).

    Returns
    -------
    index : int

    Raises
    ------
    ValueError
        If ``estimator.classes_`` does not hold exactly two classes.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skforensics.model_selection import fake_class_index
    >>> clf = LogisticRegression().fit([[0.0], [1.0]], ["real", "fake"])
    >>> clf.classes_.tolist(), fake_class_index(clf)
    (['fake', 'real'], 0)
    """
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return 1
    classes = list(np.asarray(classes).ravel())
    if len(classes) != 2:
        raise ValueError(
            f"{type(estimator).__name__} has {len(classes)} classes {classes}; a detector must "
            "be a binary classifier (real vs generated)"
        )
    for i, c in enumerate(classes):
        if str(c).strip().lower() in _FAKE_NAMES:
            return i
    return 1


@validate_params(
    {
        "estimator": [HasMethods(["predict_proba"]), HasMethods(["decision_function"])],
        "X": ["array-like", "sparse matrix"],
    },
    prefer_skip_nested_validation=True,
)
def scores_of(estimator, X):
    """Score of the "fake" class: ``predict_proba`` (its fake column), else ``decision_function``.

    The fake column is :func:`fake_class_index`.

    Parameters
    ----------
    estimator : estimator
        A fitted binary classifier with ``predict_proba`` or
        ``decision_function``.
    X : array-like or list of images
        Whatever ``estimator`` takes.

    Returns
    -------
    scores : ndarray of shape (n_samples,), dtype float
        Probability of "generated" (or the decision function), as in
        :func:`scores_and_predictions`.
    """
    return scores_and_predictions(estimator, X)[0]


@validate_params(
    {
        "estimator": [HasMethods(["predict_proba"]), HasMethods(["decision_function"])],
        "X": ["array-like", "sparse matrix"],
        "threshold": [Interval(numbers.Real, None, None, closed="both"), None],
    },
    prefer_skip_nested_validation=True,
)
def scores_and_predictions(estimator, X, *, threshold=None):
    """Score of the "fake" class and the 0/1 verdict from one pass over ``X``.

    ``predict_proba`` (or ``decision_function``) is called once; the verdict is
    ``score > threshold``, not a second call to ``predict``, so each image is
    read and its features computed once.

    Parameters
    ----------
    estimator : estimator
        A fitted binary classifier with ``predict_proba`` or
        ``decision_function``.
    X : array-like or list of images
        Whatever ``estimator`` takes.
    threshold : float, optional
        Images with ``score > threshold`` are declared generated. Default: the
        estimator's ``threshold_`` when it has one (e.g.
        :class:`FixedFPRThreshold`), else 0.5 for probabilities and 0 for a
        decision function (the thresholds of ``predict``).

    Returns
    -------
    scores : ndarray of shape (n_samples,), dtype float
        Probability of "generated" (or the decision function).
    predictions : ndarray of shape (n_samples,), dtype int
        1 = generated, 0 = real.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skforensics.model_selection import scores_and_predictions
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    >>> clf = LogisticRegression().fit(X, ["real", "real", "fake", "fake"])
    >>> scores, pred = scores_and_predictions(clf, X)
    >>> pred.tolist(), bool(scores[3] > scores[0])
    ([0, 0, 1, 1], True)
    """
    proba = None
    if hasattr(estimator, "predict_proba"):
        try:
            proba = estimator.predict_proba(X)
        except AttributeError:  # e.g. a wrapper whose inner model has no predict_proba
            if not hasattr(estimator, "decision_function"):
                raise
    if proba is not None:
        scores = np.asarray(proba)[:, fake_class_index(estimator)].astype(float)
        default = getattr(estimator, "threshold_", 0.5)
    elif hasattr(estimator, "decision_function"):
        scores = np.asarray(estimator.decision_function(X), dtype=float).ravel()
        if fake_class_index(estimator) == 0:
            scores = -scores
        default = 0.0  # a wrapper's decision function is already score - threshold_
    else:
        raise TypeError(
            f"{type(estimator).__name__} has neither predict_proba nor decision_function; a "
            "score is needed for the average precision"
        )
    if threshold is None:
        threshold = default
    return scores, (scores > threshold).astype(int)


def _metrics(y, pred, score):
    y = np.asarray(y)
    real, fake = y == 0, y == 1
    both = real.any() and fake.any()
    return {
        "n_real": int(real.sum()),
        "n_fake": int(fake.sum()),
        "acc": float(accuracy_score(y, pred)),
        "real_acc": float(np.mean(pred[real] == 0)) if real.any() else float("nan"),
        "fake_acc": float(np.mean(pred[fake] == 1)) if fake.any() else float("nan"),
        "ap": float(average_precision_score(y, score)) if both else float("nan"),
    }


_COLUMNS = ["generator", "n_real", "n_fake", "acc", "real_acc", "fake_acc", "ap"]


def _mean_row(rows, first_col, name="mean"):
    out = {first_col: name}
    for c in ("n_real", "n_fake"):
        out[c] = int(sum(r[c] for r in rows))
    for c in ("acc", "real_acc", "fake_acc", "ap"):
        out[c] = float(np.nanmean([r[c] for r in rows])) if rows else float("nan")
    return out


def _unpack(data):
    if hasattr(data, "y") and hasattr(data, "generator"):
        X = data.paths if hasattr(data, "paths") else data.X
        return X, np.asarray(data.y), np.asarray(data.generator).astype(str)
    try:
        X, y, gen = data
    except (TypeError, ValueError):
        raise TypeError(
            "data must be a Bunch with paths, y and generator (as returned by "
            "skforensics.datasets.load_image_folder) or a tuple (X, y, generator)"
        ) from None
    return X, np.asarray(y), np.asarray(gen).astype(str)


def _per_generator_rows(y, gen, pred, score):
    fake = y == 1
    gens = sorted(set(gen[fake].tolist()))
    rows = []
    for g in gens:
        paired = (y == 0) & (gen == f"real:{g}")
        reals = paired if paired.any() else (y == 0)
        idx = np.flatnonzero((fake & (gen == g)) | reals)
        rows.append({"generator": g, **_metrics(y[idx], pred[idx], score[idx])})
    return rows


@validate_params(
    {
        "y": ["array-like"],
        "generator": ["array-like"],
        "scores": ["array-like"],
        "threshold": [Interval(numbers.Real, None, None, closed="both")],
        "title": [str, None],
    },
    prefer_skip_nested_validation=True,
)
def per_generator_table(y, generator, scores, *, threshold=0.5, title="per-generator results"):
    """The per-generator table of labelled scores (the ``skforensics evaluate`` table).

    Generator ``g`` is measured on its generated images plus the real images
    paired with it (generator label ``"real:g"``), or all real images when
    none is paired; the last row is the unweighted mean over generators.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        0 = real, 1 = generated.
    generator : array-like of shape (n_samples,)
        Generator name of each image (see
        :func:`~skforensics.datasets.load_image_folder`).
    scores : array-like of shape (n_samples,)
        Score of "generated", e.g. the probability.
    threshold : float, default=0.5
        Images with ``score > threshold`` count as declared generated.
    title : str or None, default="per-generator results"
        Title of the table (``None``: no title).

    Returns
    -------
    table : ReportTable
        Columns ``generator, n_real, n_fake, acc, real_acc, fake_acc, ap``.
        Without generated images there is no generator row, only ``"mean"``.

    Examples
    --------
    >>> from skforensics.model_selection import per_generator_table
    >>> y = [0, 0, 1, 1, 1]
    >>> gen = ["real", "real", "sd", "sd", "gan"]
    >>> table = per_generator_table(y, gen, [0.1, 0.6, 0.9, 0.8, 0.3])
    >>> table["generator"], table["fake_acc"]
    (['gan', 'sd', 'mean'], [0.0, 1.0, 0.5])
    """
    y = np.asarray(y)
    gen = np.asarray(generator).astype(str)
    scores = np.asarray(scores, dtype=float)
    if not (y.shape == gen.shape == scores.shape) or y.ndim != 1:
        raise ValueError(
            f"y, generator and scores must be 1-D of one length, got {y.shape}, {gen.shape} "
            f"and {scores.shape}"
        )
    if set(np.unique(y).tolist()) - {0, 1}:
        raise ValueError(f"y must hold 0 (real) and 1 (generated) labels, got {np.unique(y)}")
    rows = _per_generator_rows(y, gen, (scores > threshold).astype(int), scores)
    rows.append(_mean_row(rows, "generator"))
    return ReportTable(_COLUMNS, rows, title=title)


@validate_params(
    {
        "estimator": [HasMethods(["fit"])],
        "data": [Bunch, tuple, list],
        "cv": [None, StrOptions({"logo"}), "cv_object"],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=False,  # the clones fitted here validate their parameters
)
def cross_generator_report(estimator, data, *, cv=None, verbose=False):
    """Accuracy and average precision per generator: the papers' table.

    Parameters
    ----------
    estimator : estimator
        A classifier of images (e.g. a pipeline starting with a feature
        extractor) or of feature vectors, with ``predict`` and
        ``predict_proba`` or ``decision_function``; label 1 = generated.
    data : Bunch or tuple
        ``load_image_folder(...)`` output, or ``(X, y, generator)``.
    cv : None, "logo", int, or cross-validator, default=None
        * ``None``: ``estimator`` is already fitted (e.g. on ProGAN only, as in
          the CNNDetection / UnivFD / NPR tables) and is tested on every
          generator of ``data``;
        * ``"logo"`` or a :class:`LeaveOneGeneratorOut`: one clone is fitted per
          held-out generator, on the other generators and real images, and
          tested on the held-out one (see :class:`LeaveOneGeneratorOut`);
        * an int or another splitter: out-of-fold predictions of clones
          (stratified, shuffled with seed 0 for an int), then the table.

        In the per-generator rows of ``None`` / int modes, generator ``g`` is
        tested on its generated images plus the real images paired with it
        (generator label ``"real:g"``), or all real images when none is paired.
    verbose : bool, default=False
        Progress bar over the folds.

    Returns
    -------
    report : ReportTable
        Columns ``generator, n_real, n_fake, acc, real_acc, fake_acc, ap``; one
        row per generator, then a ``"mean"`` row (unweighted mean over
        generators). ``ap`` uses the score of the fake class, ``acc`` the verdict
        ``score > threshold`` from the same single pass (see
        :func:`scores_and_predictions`).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skforensics.model_selection import cross_generator_report
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1, 0, 1], 20)
    >>> gen = np.repeat(["real:a", "a", "real:b", "b"], 20)
    >>> X = rng.randn(80, 3) + y[:, None]
    >>> report = cross_generator_report(LogisticRegression(), (X, y, gen), cv="logo")
    >>> report["generator"]
    ['a', 'b', 'mean']
    """
    from .._torch_utils import progress

    X, y, gen = _unpack(data)
    if set(np.unique(y).tolist()) - {0, 1}:
        raise ValueError(f"y must hold 0 (real) and 1 (generated) labels, got {np.unique(y)}")
    if cv is None:
        check_is_fitted(estimator)
        score, pred = scores_and_predictions(estimator, X)
        rows = _per_generator_rows(y, gen, pred, score)
    elif cv == "logo" or isinstance(cv, LeaveOneGeneratorOut):
        splitter = LeaveOneGeneratorOut() if cv == "logo" else cv
        splits = list(splitter.split(X, y, gen))
        rows = []
        for train, test in progress(splits, verbose, desc="generators"):
            held = sorted(set(gen[test][y[test] == 1].tolist()))
            est = clone(estimator).fit(safe_indexing(X, train), y[train])
            Xt = safe_indexing(X, test)
            score, pred = scores_and_predictions(est, Xt)
            m = _metrics(y[test], pred, score)
            rows.append({"generator": ", ".join(held), **m})
    else:
        if isinstance(cv, numbers.Integral):
            cv = StratifiedKFold(cv, shuffle=True, random_state=0)
        cv = check_cv(cv, y, classifier=True)
        pred = np.empty(len(y), dtype=int)
        score = np.empty(len(y), dtype=float)
        groups = None if isinstance(cv, (StratifiedKFold, KFold)) else gen
        for train, test in progress(list(cv.split(X, y, groups)), verbose, desc="folds"):
            est = clone(estimator).fit(safe_indexing(X, train), y[train])
            Xt = safe_indexing(X, test)
            score[test], pred[test] = scores_and_predictions(est, Xt)
        rows = _per_generator_rows(y, gen, pred, score)
    rows.append(_mean_row(rows, "generator"))
    return ReportTable(_COLUMNS, rows, title="cross-generator report")


@validate_params({}, prefer_skip_nested_validation=True)
def default_perturbations():
    """The default perturbations of :func:`robustness_report`.

    JPEG re-compression at quality 90, 75 and 50; Gaussian blur with sigma 1
    and 2; down-scaling by 0.5 (bilinear). Returns a dict name -> transformer.
    """
    from ..perturbations import GaussianBlur, JPEGCompression, Resize

    return {
        "jpeg_q90": JPEGCompression(90),
        "jpeg_q75": JPEGCompression(75),
        "jpeg_q50": JPEGCompression(50),
        "blur_sigma1": GaussianBlur(1.0),
        "blur_sigma2": GaussianBlur(2.0),
        "resize_0.5": Resize(0.5),
    }


def _named(perturbations):
    if perturbations is None:
        return default_perturbations()
    if isinstance(perturbations, dict):
        return dict(perturbations)
    import inspect

    out = {}
    for p in perturbations:
        # the leading parameters always; keyword-only ones where they differ from the default
        sig = inspect.signature(type(p).__init__).parameters
        params = ", ".join(
            f"{k}={v!r}"
            for k, v in p.get_params(deep=False).items()
            if k not in ("on_error", "random_state")
            and (
                k not in sig
                or sig[k].kind is not inspect.Parameter.KEYWORD_ONLY
                or repr(v) != repr(sig[k].default)
            )
        )
        out[f"{type(p).__name__}({params})"] = p
    return out


@validate_params(
    {
        "estimator": [HasMethods(["fit"])],
        "X": ["array-like", "sparse matrix"],
        "y": ["array-like"],
        "perturbations": [dict, list, tuple, None],
        "cv": [None, "cv_object"],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=False,  # the clones fitted here validate their parameters
)
def robustness_report(estimator, X, y, perturbations=None, *, cv=None, verbose=False):
    """Accuracy and AP of a detector on perturbed test images.

    The protocol of Wang et al. (2020), UnivFD and AIGCDetectBenchmark: the
    detector is trained on clean images and **tested** on images that were
    JPEG-compressed, blurred, resized... at several levels. The first row
    (``"clean"``) is the unperturbed reference.

    Parameters
    ----------
    estimator : estimator
        An image classifier (pipeline whose first step reads images).
    X : list of paths, PIL images or uint8 arrays, or uint8 ndarray
        Test images (with ``cv=None``) or all images (with ``cv``).
    y : array-like of shape (n_samples,)
        0 = real, 1 = generated.
    perturbations : dict or list of transformers, optional
        ``{name: transformer}`` or a list of transformers (named by their
        parameters). Default: :func:`default_perturbations`.
    cv : None, int or cross-validator, default=None
        ``None``: ``estimator`` is fitted already and ``X`` are test images.
        Otherwise clones are fitted on the clean training folds and tested on
        the perturbed test folds (an int gives a stratified K-fold, shuffled
        with seed 0); the metrics are computed over all out-of-fold predictions.
    verbose : bool, default=False
        Progress bar over the perturbations.

    Returns
    -------
    report : ReportTable
        Columns ``perturbation, n_real, n_fake, acc, real_acc, fake_acc, ap``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skforensics.datasets import load_sample_images
    >>> from skforensics.features import SpectralFeatureExtractor
    >>> from skforensics.model_selection import robustness_report
    >>> from skforensics.perturbations import JPEGCompression
    >>> data = load_sample_images("cifake")
    >>> clf = make_pipeline(SpectralFeatureExtractor(n_bins=8), LogisticRegression())
    >>> clf = clf.fit(data.paths, data.y)
    >>> rep = robustness_report(clf, data.paths, data.y, {"jpeg_q50": JPEGCompression(50)})
    >>> rep["perturbation"]
    ['clean', 'jpeg_q50']
    """
    from .._torch_utils import progress

    y = np.asarray(y)
    named = {"clean": None, **_named(perturbations)}
    columns = ["perturbation"] + _COLUMNS[1:]
    if cv is None:
        check_is_fitted(estimator)
        folds = [(None, np.arange(len(y)), estimator)]
    else:
        if isinstance(cv, numbers.Integral):
            cv = StratifiedKFold(cv, shuffle=True, random_state=0)
        cv = check_cv(cv, y, classifier=True)
        folds = [
            (train, test, clone(estimator).fit(safe_indexing(X, train), y[train]))
            for train, test in cv.split(X, y)
        ]
    rows = []
    for name, pert in progress(list(named.items()), verbose, desc="perturbations"):
        pred = np.empty(len(y), dtype=int)
        score = np.empty(len(y), dtype=float)
        for _, test, est in folds:
            Xt = X if cv is None else safe_indexing(X, test)
            if pert is not None:
                Xt = pert.transform(Xt)
            score[test], pred[test] = scores_and_predictions(est, Xt)
        rows.append({"perturbation": name, **_metrics(y, pred, score)})
    return ReportTable(columns, rows, title="robustness report")
