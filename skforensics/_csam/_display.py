"""Displays of the CSAM family: component functions and the regularisation path.

matplotlib is imported only when something is plotted.
"""

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["ComponentFunctionDisplay", "RegularizationPathDisplay"]


class ComponentFunctionDisplay:
    """Plot of the learnt component functions ``f_j`` of a fitted model.

    Create it with :meth:`from_estimator`; the constructor only stores data.

    Parameters
    ----------
    grid_values : list of ndarray
        Grid of feature values for every plotted feature.
    component_values : list of ndarray
        ``f_j`` evaluated on the grid, for every plotted feature.
    features : ndarray of int
        Indices of the plotted features.
    feature_names : list of str
        Names used as axis labels.
    importances : ndarray, default=None
        Group norms of the plotted features (shown in the titles).

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes
        Axes of the plot.
    lines_ : ndarray of matplotlib Line2D
        One line per feature.
    figure_ : matplotlib Figure
        Figure holding the plot.

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics import CorrentropySparseAdditiveClassifier
    >>> from skforensics import ComponentFunctionDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-2, 2, size=(200, 3))
    >>> y = (np.sin(2 * X[:, 0]) > 0).astype(int)
    >>> clf = CorrentropySparseAdditiveClassifier(lam=0.02).fit(X, y)
    >>> disp = ComponentFunctionDisplay.from_estimator(clf, features=[0, 1])
    >>> disp.lines_.shape
    (2,)
    """

    def __init__(self, grid_values, component_values, features, feature_names, importances=None):
        self.grid_values = grid_values
        self.component_values = component_values
        self.features = features
        self.feature_names = feature_names
        self.importances = importances

    @classmethod
    def from_estimator(
        cls,
        estimator,
        *,
        features=None,
        feature_names=None,
        class_index=0,
        grid_resolution=100,
        ax=None,
        n_cols=3,
        line_kw=None,
    ):
        """Evaluate and plot the component functions of a fitted estimator.

        Parameters
        ----------
        estimator : CorrentropySparseAdditiveClassifier
            Fitted estimator.
        features : array-like of int or str, default=None
            Features to plot (indices, or names when the estimator saw
            ``feature_names_in_``); default: the selected features (``support_``),
            or all features when none is selected.
        feature_names : list of str, default=None
            Names of all input features (default: ``feature_names_in_`` or ``x0, x1, ...``).
        class_index : int, default=0
            One-vs-rest problem to show (multi-class only).
        grid_resolution : int, default=100
            Number of grid points between the boundary knots of every feature.
        ax : matplotlib Axes or array of Axes, default=None
            Where to draw; a new figure when None.
        n_cols : int, default=3
            Number of columns of the subplot grid when ``ax`` is None.
        line_kw : dict, default=None
            Keyword arguments passed to ``Axes.plot``.

        Returns
        -------
        display : ComponentFunctionDisplay
            The plotted display.
        """
        check_is_fitted(estimator)
        p = estimator.n_features_in_
        if feature_names is None:
            feature_names = (
                list(estimator.feature_names_in_)
                if hasattr(estimator, "feature_names_in_")
                else [f"x{j}" for j in range(p)]
            )
        feature_names = [str(f) for f in feature_names]
        if len(feature_names) != p:
            raise ValueError(f"feature_names has {len(feature_names)} names, expected {p}")
        if features is None:
            feats = np.flatnonzero(estimator.support_)
            if feats.size == 0:
                feats = np.arange(p)
        else:
            if isinstance(features, (str, numbers.Integral)):
                features = [features]
            feats = np.array(
                [feature_names.index(f) if isinstance(f, str) else int(f) for f in features],
                dtype=int,
            )
            if np.any((feats < 0) | (feats >= p)):
                raise ValueError(f"features must be in [0, {p}); got {feats.tolist()}")
        deg, K = estimator.degree, estimator.n_knots
        lo = estimator.knots_[feats, deg]
        hi = estimator.knots_[feats, deg + K - 1]
        grid = lo[None, :] + (hi - lo)[None, :] * np.linspace(0, 1, grid_resolution)[:, None]
        Xg = np.zeros((grid_resolution, p))
        Xg[:, feats] = grid
        vals = _component_values(estimator, Xg, feats, class_index)
        disp = cls(
            grid_values=[grid[:, i] for i in range(feats.size)],
            component_values=[vals[:, i] for i in range(feats.size)],
            features=feats,
            feature_names=[feature_names[j] for j in feats],
            importances=estimator.feature_importances_[feats],
        )
        return disp.plot(ax=ax, n_cols=n_cols, line_kw=line_kw)

    def plot(self, ax=None, *, n_cols=3, line_kw=None):
        """Plot the component functions.

        Parameters
        ----------
        ax : matplotlib Axes or array of Axes, default=None
            A single Axes (all curves on it) or one Axes per feature; a new
            figure with a grid of ``n_cols`` columns when None.
        n_cols : int, default=3
            Number of columns of the new subplot grid.
        line_kw : dict, default=None
            Keyword arguments passed to ``Axes.plot``.

        Returns
        -------
        display : ComponentFunctionDisplay
            Self, with ``axes_``, ``lines_`` and ``figure_`` set.
        """
        import matplotlib.pyplot as plt

        line_kw = dict(line_kw or {})
        k = len(self.features)
        if ax is None:
            n_cols_ = max(1, min(n_cols, k))
            n_rows = int(np.ceil(k / n_cols_))
            fig, axes = plt.subplots(
                n_rows, n_cols_, squeeze=False, figsize=(3.2 * n_cols_, 2.6 * n_rows)
            )
            axes = axes.ravel()
            for extra in axes[k:]:
                extra.set_visible(False)
            axes = axes[:k]
        elif np.ndim(ax) == 0:
            axes = np.array([ax] * k, dtype=object)
            fig = ax.figure
        else:
            axes = np.asarray(ax, dtype=object).ravel()
            if axes.size != k:
                raise ValueError(f"Expected {k} axes, got {axes.size}")
            fig = axes[0].figure
        lines = []
        single = k > 1 and len(set(map(id, axes))) == 1
        for i in range(k):
            a = axes[i]
            kw = dict(line_kw)
            if single:
                kw.setdefault("label", self.feature_names[i])
            (line,) = a.plot(self.grid_values[i], self.component_values[i], **kw)
            lines.append(line)
            if not single:
                title = self.feature_names[i]
                if self.importances is not None:
                    title += f" (||f||={self.importances[i]:.3g})"
                a.set_title(title, fontsize=9)
                a.set_xlabel(self.feature_names[i])
            a.set_ylabel("f_j")
        if single:
            axes[0].legend(fontsize=8)
        self.axes_ = np.asarray(axes, dtype=object)
        self.lines_ = np.asarray(lines, dtype=object)
        self.figure_ = fig
        return self


def _component_values(estimator, X, feats, class_index):
    d = estimator._n_basis
    PhiT = estimator._basis(X, feats)
    coef = estimator.coef_[class_index, feats, :]
    return np.einsum("gdn,gd->ng", PhiT.reshape(feats.size, d, X.shape[0]), coef)


class RegularizationPathDisplay:
    """Plot of a cross-validated regularisation path: score and support size against ``lam``.

    Create it with :meth:`from_estimator`; the constructor only stores data.

    Parameters
    ----------
    lams : ndarray of shape (n_lams,)
        The ``lam`` grid.
    scores : ndarray of shape (n_folds, n_lams)
        Test-fold scores.
    support_sizes : ndarray of shape (n_folds, n_lams)
        Number of selected features of every fold model.
    best_lam : float, default=None
        Chosen ``lam`` (marked with a vertical line).
    score_name : str, default="score"
        Label of the score axis.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes of the score (log ``lam`` on the x axis).
    ax_support_ : matplotlib Axes
        Twin axes of the support size.
    figure_ : matplotlib Figure
        Figure holding the plot.

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics import (CorrentropySparseAdditiveClassifierCV,
    ...                          RegularizationPathDisplay)
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-2, 2, size=(200, 4))
    >>> y = (np.sin(2 * X[:, 0]) > 0).astype(int)
    >>> cv = CorrentropySparseAdditiveClassifierCV(lams=6, cv=3).fit(X, y)
    >>> disp = RegularizationPathDisplay.from_estimator(cv)
    >>> disp.lams.shape
    (6,)
    """

    def __init__(self, lams, scores, support_sizes, *, best_lam=None, score_name="score"):
        self.lams = lams
        self.scores = scores
        self.support_sizes = support_sizes
        self.best_lam = best_lam
        self.score_name = score_name

    @classmethod
    def from_estimator(cls, estimator, *, sigma_index=None, score_name=None, ax=None):
        """Plot the path of a fitted :class:`CorrentropySparseAdditiveClassifierCV`.

        Parameters
        ----------
        estimator : CorrentropySparseAdditiveClassifierCV
            Fitted estimator (``refit=False`` is fine).
        sigma_index : int, default=None
            Which ``sigma`` to show when the estimator searched several
            (default: the chosen one).
        score_name : str, default=None
            Label of the score axis (default: the estimator's ``scoring``, or
            "accuracy").
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : RegularizationPathDisplay
            The plotted display.
        """
        if not hasattr(estimator, "scores_"):
            raise ValueError(f"{type(estimator).__name__} is not fitted: call fit first")
        lams, scores, sizes = estimator.lams_, estimator.scores_, estimator.support_sizes_
        if np.ndim(lams) == 2:  # several sigmas
            if sigma_index is None:
                sigma_index = int(np.flatnonzero(estimator.sigmas_ == estimator.sigma_)[0])
            lams, scores, sizes = lams[sigma_index], scores[sigma_index], sizes[sigma_index]
            best = estimator.lam_ if estimator.sigmas_[sigma_index] == estimator.sigma_ else None
        else:
            best = estimator.lam_
        if score_name is None:
            score_name = estimator.scoring if isinstance(estimator.scoring, str) else "accuracy"
        disp = cls(lams, scores, sizes, best_lam=best, score_name=score_name)
        return disp.plot(ax=ax)

    def plot(self, ax=None):
        """Draw the mean score (with its fold spread) and the mean support size.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : RegularizationPathDisplay
            Self, with ``ax_``, ``ax_support_`` and ``figure_`` set.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 3.5))
        lams = np.asarray(self.lams)
        shown = lams > 0  # a log axis cannot show lam = 0
        lams = lams[shown]
        scores = np.asarray(self.scores)[:, shown]
        sizes = np.asarray(self.support_sizes)[:, shown]
        mean, std = scores.mean(axis=0), scores.std(axis=0)
        ax.plot(lams, mean, "o-", color="C0", label=f"mean {self.score_name}")
        ax.fill_between(lams, mean - std, mean + std, color="C0", alpha=0.2)
        ax.set_xscale("log")
        ax.set_xlabel("lam")
        ax.set_ylabel(self.score_name, color="C0")
        twin = ax.twinx()
        twin.plot(lams, sizes.mean(axis=0), "s--", color="C1", label="support size")
        twin.set_ylabel("selected features", color="C1")
        if self.best_lam is not None and self.best_lam > 0:
            ax.axvline(self.best_lam, color="k", lw=0.8, ls=":")
        self.ax_ = ax
        self.ax_support_ = twin
        self.figure_ = ax.figure
        return self
