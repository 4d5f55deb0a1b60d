"""SkipInvalidRows: the rest of a pipeline runs on the images that could be read.

See :class:`SkipInvalidRows` and ``docs/user_guide/image_input.rst``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._compat import HasMethods, StrOptions, fit_context
from ._image_io import SkippedImageWarning
from ._persistence import DefaultParamsOnLoadMixin


def _estimator_has(attr):
    def check(self):
        # the fitted estimator when there is one, else the unfitted one
        return hasattr(getattr(self, "estimator_", self.estimator), attr)

    return check


def _take(value, mask, n_samples):
    """Rows ``mask`` of a per-sample fit parameter; anything else is passed as is."""
    if hasattr(value, "shape") and len(value.shape) > 0 and value.shape[0] == n_samples:
        return value[mask] if not hasattr(value, "iloc") else value.iloc[mask]
    if isinstance(value, (list, tuple)) and len(value) == n_samples:
        return [v for v, keep in zip(value, mask) if keep]
    return value


class SkipInvalidRows(DefaultParamsOnLoadMixin, MetaEstimatorMixin, BaseEstimator):
    """Fit and predict on the valid rows only; NaN comes back for the others.

    An image feature extractor with ``on_error="skip"`` turns an unreadable
    image into a row of NaN (and warns with a
    :class:`~skforensics.SkippedImageWarning` that names the file). The next
    steps of a pipeline -- a scaler, a classifier -- refuse NaN, so one bad
    file would lose the whole batch. Placed right after the extractor,
    ``SkipInvalidRows(make_pipeline(scaler, classifier))`` hands only the
    valid rows to ``estimator``:

    * :meth:`fit` leaves the invalid rows (and their labels, and any
      per-sample fit parameter such as ``sample_weight``) out, with a
      warning;
    * :meth:`predict_proba`, :meth:`decision_function`,
      :meth:`predict_log_proba` and :meth:`transform` give a row of NaN for
      each invalid row and the estimator's output for the others;
    * :meth:`predict` gives ``fill_value`` (NaN by default) for each invalid
      row. The estimator's labels then come back as floats (numeric labels;
      ``0``/``1`` stay exact) or as an object array (string labels), since
      neither an int nor a string array can hold NaN. When every row is valid,
      every method returns exactly what ``estimator`` returns.

    Read more in the :ref:`User Guide <image_input>`.

    Parameters
    ----------
    estimator : estimator object
        The rest of the pipeline: a classifier, regressor, transformer or a
        :class:`~sklearn.pipeline.Pipeline` of them. It is cloned in
        :meth:`fit`.
    how : {"any", "all"}, default="any"
        A row is invalid when ``"any"`` of its values is NaN (a multi-view
        sample with one unreadable view included), or only when ``"all"`` are.
    fill_value : float or object, default=np.nan
        What :meth:`predict` returns for an invalid row.

    Attributes
    ----------
    estimator_ : estimator object
        The clone of ``estimator`` fitted on the valid rows.
    classes_ : ndarray of shape (n_classes,)
        The classes of ``estimator_``, when it is a classifier.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen in :meth:`fit`, when they are all strings.
    n_invalid_fit_ : int
        Number of rows left out of the fit.

    See Also
    --------
    skforensics.SkippedImageWarning : Names the images an extractor skipped.
    sklearn.impute.SimpleImputer : Fills NaN instead (a skipped image then gets
        an invented score).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skforensics import SkipInvalidRows
    >>> from skforensics.datasets import load_sample_images
    >>> from skforensics.features import SpectralFeatureExtractor
    >>> data = load_sample_images("cifake")
    >>> model = make_pipeline(
    ...     SpectralFeatureExtractor(on_error="skip"),
    ...     SkipInvalidRows(make_pipeline(StandardScaler(), LogisticRegression())),
    ... ).fit(data.paths, data.y)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # the extractor names 'missing.jpg'
    ...     proba = model.predict_proba(data.paths[:3] + ["missing.jpg"])
    >>> proba.shape, bool(np.isnan(proba[3]).all()), bool(np.isfinite(proba[:3]).all())
    ((4, 2), True, True)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        "how": [StrOptions({"any", "all"})],
        "fill_value": "no_validation",
    }

    def __init__(self, estimator, *, how="any", fill_value=np.nan):
        self.estimator = estimator
        self.how = how
        self.fill_value = fill_value

    def _valid(self, X):
        nan = np.isnan(X)
        return ~(nan.any(axis=1) if self.how == "any" else nan.all(axis=1))

    def _check_X(self, X, reset):
        return validate_data(self, X, reset=reset, ensure_all_finite="allow-nan", dtype=np.float64)

    @fit_context(prefer_skip_nested_validation=False)  # the inner estimator validates
    def fit(self, X, y=None, **fit_params):
        """Fit a clone of ``estimator`` on the rows of ``X`` without NaN.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features; rows with NaN (images an extractor skipped) are left out.
        y : array-like of shape (n_samples,), default=None
            Targets; the labels of the left-out rows are dropped with them.
        **fit_params : dict
            Passed to ``estimator.fit``; per-sample arrays (e.g.
            ``sample_weight``) lose the left-out rows too.

        Returns
        -------
        self : SkipInvalidRows
            The fitted meta-estimator.

        Raises
        ------
        ValueError
            If no row is valid.
        """
        X = self._check_X(X, reset=True)
        n = X.shape[0]
        valid = self._valid(X)
        self.n_invalid_fit_ = int(n - valid.sum())
        if not valid.any():
            raise ValueError(
                f"all {n} rows of X contain NaN (no image could be read): nothing to fit on"
            )
        if self.n_invalid_fit_:
            bad = np.flatnonzero(~valid)
            warnings.warn(
                f"{self.n_invalid_fit_} of {n} rows contain NaN (images that could not be "
                f"read) and were left out of the fit: rows {bad[:20].tolist()}"
                f"{'...' if len(bad) > 20 else ''}",
                SkippedImageWarning,
                stacklevel=2,
            )
        if y is not None:
            y = _take(np.asarray(y) if not hasattr(y, "iloc") else y, valid, n)
        fit_params = {k: _take(v, valid, n) for k, v in fit_params.items()}
        self.estimator_ = clone(self.estimator).fit(X[valid], y, **fit_params)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def _scatter(self, X, method, fill):
        check_is_fitted(self, "estimator_")
        X = self._check_X(X, reset=False)
        valid = self._valid(X)
        n = X.shape[0]
        func = getattr(self.estimator_, method)
        if valid.all():
            return func(X)
        bad = np.flatnonzero(~valid)
        warnings.warn(
            f"{len(bad)} of {n} rows contain NaN (images that could not be read): "
            f"their {method} output is {'NaN' if fill is None else repr(fill)}, rows "
            f"{bad[:20].tolist()}{'...' if len(bad) > 20 else ''}",
            SkippedImageWarning,
            stacklevel=3,
        )
        part = np.asarray(func(X[valid])) if valid.any() else None
        if fill is None:  # NaN rows of the estimator's output shape
            if part is None:
                shape = self._empty_shape(X[:1], method)
            else:
                shape = part.shape[1:]
            out = np.full((n, *shape), np.nan)
        else:
            numeric = part is None or part.dtype.kind in "biuf"
            fill_numeric = isinstance(fill, (int, float, np.number)) and not isinstance(fill, bool)
            dtype = np.float64 if numeric and fill_numeric else object
            shape = () if part is None else part.shape[1:]
            out = np.empty((n, *shape), dtype=dtype)
            out[...] = fill
        if part is not None:
            out[valid] = part
        return out

    def _empty_shape(self, X_one, method):
        """Output shape of one row when no row is valid (all NaN): from the estimator."""
        if method in ("predict_proba", "predict_log_proba", "decision_function"):
            classes = getattr(self.estimator_, "classes_", None)
            if classes is not None:
                if method == "decision_function" and len(classes) == 2:
                    return ()
                return (len(classes),)
        if method == "transform":
            n_out = getattr(self.estimator_, "n_features_out_", None)
            if n_out is None and hasattr(self.estimator_, "get_feature_names_out"):
                try:
                    n_out = len(self.estimator_.get_feature_names_out())
                except Exception:  # noqa: BLE001 - not every transformer names its output
                    n_out = None
            return () if n_out is None else (int(n_out),)
        return ()

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """Predict with ``estimator`` for the valid rows, ``fill_value`` for the others.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features; rows with NaN are not passed to ``estimator``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The estimator's predictions; ``fill_value`` in the invalid rows (the
            array is then float for numeric labels, object for others).
        """
        return self._scatter(X, "predict", self.fill_value)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities for the valid rows, NaN rows for the others.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            NaN in the rows of invalid samples.
        """
        return self._scatter(X, "predict_proba", None)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities for the valid rows, NaN rows for the others.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            NaN in the rows of invalid samples.
        """
        return self._scatter(X, "predict_log_proba", None)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision scores for the valid rows, NaN for the others.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            NaN in the rows of invalid samples.
        """
        return self._scatter(X, "decision_function", None)

    @available_if(_estimator_has("transform"))
    def transform(self, X):
        """Transform the valid rows; NaN rows for the others.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        Xt : ndarray of shape (n_samples, n_features_out)
            NaN in the rows of invalid samples.
        """
        return self._scatter(X, "transform", None)

    @available_if(_estimator_has("score"))
    def score(self, X, y, sample_weight=None):
        """``estimator_.score`` on the valid rows only.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        y : array-like of shape (n_samples,)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            The estimator's score over the rows without NaN.
        """
        check_is_fitted(self, "estimator_")
        X = self._check_X(X, reset=False)
        valid = self._valid(X)
        n = X.shape[0]
        y = _take(np.asarray(y), valid, n)
        kw = {} if sample_weight is None else {"sample_weight": _take(sample_weight, valid, n)}
        return self.estimator_.score(X[valid], y, **kw)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        sub = get_tags(self.estimator)
        tags.estimator_type = sub.estimator_type
        tags.classifier_tags = sub.classifier_tags
        tags.regressor_tags = sub.regressor_tags
        tags.transformer_tags = sub.transformer_tags
        tags.target_tags.required = sub.target_tags.required
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = False
        return tags
