"""Decision thresholds at a target false-positive rate on real images."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.utils.validation import check_is_fitted

from .._compat import (
    HasMethods,
    Interval,
    StrOptions,
    fit_context,
    safe_indexing,
    validate_params,
)
from .._persistence import DefaultParamsOnLoadMixin
from ._report import scores_of

__all__ = ["FixedFPRThreshold", "threshold_at_fpr"]


@validate_params(
    {
        "y_true": ["array-like"],
        "scores": ["array-like"],
        "fpr": [Interval(numbers.Real, 0, 1, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def threshold_at_fpr(y_true, scores, fpr=0.05):
    """Score threshold that flags at most ``fpr`` of the real images as generated.

    Images are declared generated when ``score > threshold``. The threshold is
    the smallest value (among the real images' scores) for which the false
    positive rate on the real images (label 0) of ``y_true`` is at most
    ``fpr``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0 = real, 1 = generated (only the real images are used).
    scores : array-like of shape (n_samples,)
        Higher = more likely generated.
    fpr : float in [0, 1), default=0.05
        Target false-positive rate.

    Returns
    -------
    threshold : float

    Examples
    --------
    >>> from skforensics.model_selection import threshold_at_fpr
    >>> y = [0, 0, 0, 0, 1, 1]
    >>> s = [0.1, 0.2, 0.3, 0.9, 0.8, 0.95]
    >>> threshold_at_fpr(y, s, fpr=0.25)
    0.3
    >>> threshold_at_fpr(y, s, fpr=0.0)
    0.9
    """
    y_true = np.asarray(y_true).ravel()
    scores = np.asarray(scores, dtype=float).ravel()
    if y_true.shape != scores.shape:
        raise ValueError(f"y_true has {y_true.shape[0]} samples but scores has {scores.shape[0]}")
    if not (isinstance(fpr, numbers.Real) and 0 <= fpr < 1):
        raise ValueError(f"fpr must be a float in [0, 1), got {fpr!r}")
    real = np.sort(scores[y_true == 0])[::-1]
    if real.size == 0:
        raise ValueError("no real images (label 0) to set the threshold on")
    if not np.all(np.isfinite(real)):
        raise ValueError("scores of real images contain NaN or inf")
    k = int(np.floor(fpr * real.size + 1e-9))  # number of reals allowed above
    return float(real[min(k, real.size - 1)])


class FixedFPRThreshold(DefaultParamsOnLoadMixin, ClassifierMixin, BaseEstimator):
    """Wrap a detector so that it flags a fixed share of real images as generated.

    Forensic deployments fix the false-positive rate on real images (e.g. 5%:
    one camera image in 20 wrongly flagged) instead of using the 0.5 probability
    threshold, which is miscalibrated as soon as test images differ from the
    training ones. The threshold is chosen with :func:`threshold_at_fpr` on the
    scores of real images that the scoring model did **not** see in training
    (out-of-fold scores), then the model is refitted on all data.

    Parameters
    ----------
    estimator : estimator
        A binary classifier (0 = real, 1 = generated) with ``predict_proba`` or
        ``decision_function``.
    fpr : float, default=0.05
        Target false-positive rate on real images.
    cv : int, cross-validator or "prefit", default=5
        How to get calibration scores: an int or splitter for out-of-fold
        scores (stratified, shuffled with seed 0 for an int); ``"prefit"`` if
        ``estimator`` is fitted already and ``fit(X, y)`` gets a held-out
        calibration set.

    Attributes
    ----------
    estimator_ : estimator
        The fitted scoring model.
    threshold_ : float
        Images with ``score > threshold_`` are predicted generated.
    classes_ : ndarray of shape (2,)
        ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skforensics.model_selection import FixedFPRThreshold
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 100)
    >>> X = rng.randn(200, 2) + y[:, None]
    >>> clf = FixedFPRThreshold(LogisticRegression(), fpr=0.1).fit(X, y)
    >>> bool(np.mean(clf.predict(X[y == 0])) <= 0.15)
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "fpr": [Interval(numbers.Real, 0, 1, closed="left")],
        "cv": ["cv_object", StrOptions({"prefit"})],
    }

    def __init__(self, estimator, *, fpr=0.05, cv=5):
        self.estimator = estimator
        self.fpr = fpr
        self.cv = cv

    @fit_context(prefer_skip_nested_validation=False)  # estimator is validated by its own fit
    def fit(self, X, y):
        """Fit the scoring model and choose the threshold.

        Parameters
        ----------
        X : images or array-like
            Whatever ``estimator`` takes.
        y : array-like of shape (n_samples,)
            0 = real, 1 = generated.

        Returns
        -------
        self : FixedFPRThreshold
        """
        y = np.asarray(y)
        if set(np.unique(y).tolist()) - {0, 1}:
            raise ValueError(f"y must hold 0 (real) and 1 (generated) labels, got {np.unique(y)}")
        if self.cv == "prefit":
            check_is_fitted(self.estimator)
            self.estimator_ = self.estimator
            scores = scores_of(self.estimator_, X)
        else:
            cv = self.cv
            if isinstance(cv, numbers.Integral):
                cv = StratifiedKFold(cv, shuffle=True, random_state=0)
            cv = check_cv(cv, y, classifier=True)
            scores = np.empty(len(y), dtype=float)
            for train, test in cv.split(X, y):
                est = clone(self.estimator).fit(safe_indexing(X, train), y[train])
                scores[test] = scores_of(est, safe_indexing(X, test))
            self.estimator_ = clone(self.estimator).fit(X, y)
        self.threshold_ = threshold_at_fpr(y, scores, self.fpr)
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X):
        """``score - threshold_``: positive means generated.

        Parameters
        ----------
        X : array-like or images
            Input of the wrapped estimator.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "threshold_")
        return scores_of(self.estimator_, X) - self.threshold_

    def predict(self, X):
        """1 (generated) where the score exceeds ``threshold_``, else 0.

        Parameters
        ----------
        X : array-like or images
            Input of the wrapped estimator.

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype int
        """
        return (self.decision_function(X) > 0).astype(int)

    def predict_proba(self, X):
        """The wrapped model's probabilities (not re-calibrated to the threshold).

        Parameters
        ----------
        X : array-like or images
            Input of the wrapped estimator.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
        """
        check_is_fitted(self, "threshold_")
        return self.estimator_.predict_proba(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = getattr(self.estimator, "__sklearn_tags__", None)
        if inner is not None:
            tags.input_tags = inner().input_tags
        tags.classifier_tags.multi_class = False  # real (0) vs generated (1) only
        return tags
