"""CachedTransformer: image features computed once per data set, reused by model selection.

See :class:`CachedTransformer` and ``docs/user_guide/model_selection_speed.rst``.
"""

from __future__ import annotations

import os

from sklearn.base import BaseEstimator, MetaEstimatorMixin, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted, check_memory

from ._compat import HasMethods, fit_context
from ._persistence import DefaultParamsOnLoadMixin


def _fit_one(transformer, X, y, fit_params):
    return transformer.fit(X, y, **fit_params)


def _fit_transform_one(transformer, X, y, fit_params):
    if hasattr(transformer, "fit_transform"):
        Xt = transformer.fit_transform(X, y, **fit_params)
    else:  # pragma: no cover - every sklearn transformer has fit_transform
        Xt = transformer.fit(X, y, **fit_params).transform(X)
    return transformer, Xt


def _transform_one(fit_key, X, transformer):
    # the fitted transformer is not hashed (its weights may weigh gigabytes):
    # ``fit_key`` -- the hash of what it was fitted from -- stands for it
    return transformer.transform(X)


class CachedTransformer(
    DefaultParamsOnLoadMixin, MetaEstimatorMixin, TransformerMixin, BaseEstimator
):
    """Cache a transformer's fit and its transforms on disk, for model selection.

    In a grid search over the classifier of ``make_pipeline(features,
    classifier)``, every candidate refits the feature extractor on the same
    training fold and transforms the same test fold. Wrapped in
    ``CachedTransformer``, the extractor runs once per fold: the first
    candidate computes and stores the fitted extractor, the training features
    and the test features in ``memory``; the others load them.

    :class:`~sklearn.pipeline.Pipeline`'s own ``memory`` caches the fit (and
    the training features) only, so the test-fold features are still computed
    once per candidate; ``CachedTransformer`` caches the transforms as well.

    Cache keys are computed by :class:`joblib.Memory` from the *unfitted*
    transformer's parameters and the data it is fitted on (for paths, the path
    strings, not the file contents: a file rewritten under the same name is
    served from the cache); a transform is keyed by that fit key and the data
    transformed, so large fitted weights are never hashed. The cache is only
    correct when fitting is deterministic: set ``random_state`` to an int for
    randomly initialised backbones.

    Read more in the :ref:`User Guide <model_selection_speed>`.

    Parameters
    ----------
    transformer : estimator object
        The transformer to cache (:class:`~skforensics.CLIPFeatureExtractor`,
        :class:`~skforensics.CoRITInjector`,
        :class:`~skforensics.MultiScaleStyleRetrospection`, a weight-free
        extractor of :mod:`skforensics.features`, or a pipeline of them). It is
        cloned in :meth:`fit`.
    memory : str, path or joblib.Memory, default=None
        Where to cache: a folder or a :class:`joblib.Memory`. ``None`` caches
        nothing (the wrapper then behaves exactly like ``transformer``).

    Attributes
    ----------
    transformer_ : estimator object
        The fitted transformer (loaded from the cache when it was there).
    fit_key_ : str
        Hash of the unfitted transformer and the data it was fitted on; part
        of the key of every transform.
    n_features_in_ : int
        Only when the fitted transformer defines it.

    See Also
    --------
    sklearn.pipeline.Pipeline : Its ``memory`` parameter caches fits only.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.pipeline import make_pipeline
    >>> from skforensics import CachedTransformer
    >>> from skforensics.datasets import load_sample_images
    >>> from skforensics.features import SpectralFeatureExtractor
    >>> data = load_sample_images("cifake")
    >>> cache = tempfile.mkdtemp()
    >>> pipe = make_pipeline(CachedTransformer(SpectralFeatureExtractor(), memory=cache),
    ...                      LogisticRegression())
    >>> search = GridSearchCV(pipe, {"logisticregression__C": [0.1, 1.0, 10.0]}, cv=3)
    >>> search.fit(data.paths, data.y).best_params_  # features once per fold
    {'logisticregression__C': ...}
    """

    _parameter_constraints: dict = {
        "transformer": [HasMethods(["fit", "transform"])],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
    }

    def __init__(self, transformer, memory=None):
        self.transformer = transformer
        self.memory = memory

    def _memory(self):
        memory = self.memory
        return check_memory(os.fspath(memory) if isinstance(memory, os.PathLike) else memory)

    def _fit_key(self, transformer, X, y, fit_params):
        import joblib

        return joblib.hash((transformer, X, y, fit_params))

    @fit_context(prefer_skip_nested_validation=False)  # the inner transformer validates
    def fit(self, X, y=None, **fit_params):
        """Fit a clone of ``transformer`` on ``X``, or load the fitted clone from the cache.

        Parameters
        ----------
        X : images or array-like
            Whatever ``transformer`` accepts.
        y : array-like of shape (n_samples,), default=None
            Targets, passed on.
        **fit_params : dict
            Passed to ``transformer.fit``.

        Returns
        -------
        self : CachedTransformer
        """
        memory = self._memory()
        est = clone(self.transformer)
        self.fit_key_ = self._fit_key(est, X, y, fit_params)
        self.transformer_ = memory.cache(_fit_one)(est, X, y, fit_params)
        self._set_n_features_in()
        return self

    @fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y=None, **fit_params):
        """Fit and transform ``X``, or load both from the cache.

        Parameters
        ----------
        X : images or array-like
            Whatever ``transformer`` accepts.
        y : array-like of shape (n_samples,), default=None
            Targets, passed on.
        **fit_params : dict
            Passed to ``transformer.fit_transform``.

        Returns
        -------
        X_out : ndarray
            ``transformer.fit_transform(X, y)``.
        """
        memory = self._memory()
        est = clone(self.transformer)
        self.fit_key_ = self._fit_key(est, X, y, fit_params)
        self.transformer_, Xt = memory.cache(_fit_transform_one)(est, X, y, fit_params)
        self._set_n_features_in()
        return Xt

    def transform(self, X):
        """Transform ``X`` with the fitted transformer, or load the result from the cache.

        Parameters
        ----------
        X : images or array-like
            Whatever ``transformer`` accepts.

        Returns
        -------
        X_out : ndarray
            ``transformer_.transform(X)``.
        """
        check_is_fitted(self, "transformer_")
        memory = self._memory()
        return memory.cache(_transform_one, ignore=["transformer"])(
            self.fit_key_, X, self.transformer_
        )

    def _set_n_features_in(self):
        if hasattr(self.transformer_, "n_features_in_"):
            self.n_features_in_ = self.transformer_.n_features_in_
        elif hasattr(self, "n_features_in_"):
            del self.n_features_in_

    def get_feature_names_out(self, input_features=None):
        """Feature names of the fitted transformer.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Passed on.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "transformer_")
        return self.transformer_.get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            inner = self.transformer.__sklearn_tags__()
        except AttributeError:  # pragma: no cover
            return tags
        tags.input_tags = inner.input_tags
        tags.transformer_tags = inner.transformer_tags
        tags.requires_fit = True
        tags.non_deterministic = inner.non_deterministic
        return tags
