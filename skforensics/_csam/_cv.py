"""Cross-validated CSAM: a warm-started, screened regularisation path over ``lam``."""

import dataclasses
import numbers
import time

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv

from .._compat import Interval, fit_context
from ._estimator import (
    CorrentropySparseAdditiveClassifier,
    SupportBasis,
    build_design,
    fit_temperature,
    prepare_fit,
    set_solution,
    solve,
)
from ._solver import correntropy_beta

__all__ = ["CorrentropySparseAdditiveClassifierCV"]

# Largest test-fold basis (entries) that a path keeps in memory instead of expanding
# the selected features of the test fold at every lam (80 MB of float64).
_CACHED_TEST_ENTRIES = 10_000_000
# parameters of the base estimator that the CV estimator does not have
_NOT_IN_CV = ("lam", "lam_ratio", "calibration_cv")
# A fold fit starts from zero instead of the previous solution when the strong rule
# keeps more than _JUMP_FACTOR * n_active + _JUMP_MIN inactive groups (see restart_at_jumps).
_JUMP_FACTOR = 2
_JUMP_MIN = 10


def strong_rule_working_sets(fits, *, lam_prev, lam_next, sigma):
    """Groups kept by the sequential strong rule (Tibshirani et al., 2012) at ``lam_next``.

    Group ``j`` is kept when ``||g_j||_* >= 2 kappa_next - kappa_prev`` at the
    solution for ``lam_prev`` (``kappa = lam sigma^2 / beta``), or when it is
    active there.  The solver's KKT check adds any group the rule discards
    wrongly, so the rule only chooses the first working set.
    """
    scale = sigma**2 / correntropy_beta(sigma)
    bound = (2.0 * lam_next - lam_prev) * scale
    sets = []
    for f in fits:
        d = f.coef.size // f.gradient_norms.size
        active = np.linalg.norm(f.coef.reshape(-1, d), axis=1) > 0
        sets.append(np.flatnonzero(active | (f.gradient_norms >= bound)))
    return sets


def extrapolated_warm_start(fits, prev_fits, *, lams):
    """Starts at ``lams[2]`` predicted from the solutions at ``lams[0]`` and ``lams[1]``.

    The predictor step of a path-following method: the coefficients and the
    intercept of every problem are extrapolated linearly in ``log(lam)``
    (on a log-spaced grid, ``2 b1 - b0``).  Groups that are zero at
    ``lams[1]`` stay zero, so the prediction adds no group; a problem whose
    earlier solution is all zero keeps its plain warm start.  The solver
    starts from a prediction only when its objective is lower than the
    plain warm start's (``fit_binary(coef_guess=...)``).

    Parameters
    ----------
    fits, prev_fits : list of BinaryFit
        Solutions at ``lams[1]`` and at ``lams[0]``, one per problem.
    lams : array-like of 3 floats
        Decreasing penalties: the two solved and the next one.

    Returns
    -------
    predictions : list of BinaryFit
        ``fits`` with extrapolated ``coef`` and ``intercept``.
    """
    lam0, lam1, lam2 = (float(v) for v in lams)
    if not lam0 > lam1 > lam2 > 0:
        return fits
    gamma = np.log(lam1 / lam2) / np.log(lam0 / lam1)
    out = []
    for f1, f0 in zip(fits, prev_fits):
        if not (np.any(f1.coef != 0) and np.any(f0.coef != 0)):
            out.append(f1)
            continue
        coef = np.where(f1.coef != 0, f1.coef + gamma * (f1.coef - f0.coef), 0.0)
        intercept = f1.intercept + gamma * (f1.intercept - f0.intercept)
        out.append(dataclasses.replace(f1, coef=coef, intercept=intercept))
    return out


def restart_at_jumps(fits, working_sets):
    """The warm starts of a path step, with ``None`` where the support is about to jump.

    When the strong rule keeps many more inactive groups than there are
    active ones (more than ``2 * n_active + 10``), the support is about to
    grow several-fold, and the previous solution is a poor start: its
    half-quadratic weights down-weight the samples that the new groups
    would fit, so the support grows by one to three groups per step.  On
    fold 0 of ``make_additive(2000, 200)`` (bench_csam_cv.py) such a fit
    took 22 half-quadratic steps to the objective 0.497929, against 9 steps
    to 0.497870 from zero.  Those fits start from zero (on the screened
    working set); the others from the previous solution.

    Parameters
    ----------
    fits : list of BinaryFit
        Solutions at the previous ``lam``, one per problem.
    working_sets : list of array of int
        The strong rule's first working sets at the next ``lam``.

    Returns
    -------
    starts : list of BinaryFit or None
        ``warm_start`` for :func:`solve` (``None``: from zero).
    """
    out = []
    for fit, ws in zip(fits, working_sets):
        d = fit.coef.size // fit.gradient_norms.size
        n_active = int(np.sum(np.any(fit.coef.reshape(-1, d) != 0, axis=1)))
        jump = ws.size - n_active > _JUMP_FACTOR * n_active + _JUMP_MIN
        out.append(None if jump else fit)
    return out


def fold_path(
    base,
    X,
    y,
    sample_weight,
    X_test,
    y_test,
    *,
    sigmas,
    grids,
    scorer,
    n_classes,
    label="",
    verbose=False,
):
    """The regularisation path of one cross-validation fold.

    Fits a clone of ``base`` on ``X, y`` along the decreasing ``grids[si]``
    for every ``sigmas[si]`` (basis built once; warm starts, or the
    extrapolated start of :func:`extrapolated_warm_start` where its
    objective is lower; restarts from zero where the support jumps,
    :func:`restart_at_jumps`; strong-rule screening) and scores every fit on
    ``X_test, y_test``.

    Returns
    -------
    path : dict
        ``scores``, ``sizes`` (support sizes) and ``iters`` (HQ iterations),
        each of shape ``(n_sigmas, n_lams)``, and ``margins`` of shape
        ``(n_sigmas, n_lams, n_test, n_outputs)`` (``None`` when the training
        fold lacks a class, so that its margins have other columns).
    """
    n_s, n_l = grids.shape
    est = clone(base)
    fdata = prepare_fit(est, X, y, sample_weight)
    fdesign = build_design(est, fdata)
    n_out = 1 if est.classes_.size == 2 else est.classes_.size
    same_classes = est.classes_.size == n_classes
    out = {
        "scores": np.zeros((n_s, n_l)),
        "sizes": np.zeros((n_s, n_l), dtype=int),
        "iters": np.zeros((n_s, n_l), dtype=int),
        "margins": np.zeros((n_s, n_l, len(y_test), n_out)) if same_classes else None,
    }
    # the fold's basis does not change along the path: expand each selected feature of the
    # test fold once (unless the whole test basis would be huge)
    small = fdesign.Phi.shape[1] * len(X_test) <= _CACHED_TEST_ENTRIES
    test_basis = SupportBasis(est, X_test) if small else None
    t0 = time.perf_counter()
    for si, sigma in enumerate(sigmas):
        est.sigma = float(sigma)
        fits, prev, ws = None, None, None
        for li, lam in enumerate(grids[si]):
            start, pred = fits, None
            if ws is not None:
                start = restart_at_jumps(fits, ws)
            if prev is not None:
                pred = extrapolated_warm_start(fits, prev, lams=grids[si, li - 2 : li + 1])
            prev = fits
            fits = solve(
                est, fdesign, lam=lam, warm_start=start, prediction=pred, working_sets=ws, verbose=0
            )
            set_solution(est, fits, lam, fdata, calibrate=scorer is not None)
            if test_basis is None:
                margins = est.decision_function(X_test)
            else:
                margins = test_basis.decision(est)
            if scorer is None:
                idx = (margins > 0).astype(int) if margins.ndim == 1 else np.argmax(margins, axis=1)
                out["scores"][si, li] = np.mean(est.classes_[idx] == y_test)
            else:
                out["scores"][si, li] = scorer(est, X_test, y_test)
            if out["margins"] is not None:
                out["margins"][si, li] = margins.reshape(len(y_test), -1)
            out["sizes"][si, li] = int(est.support_.sum())
            out["iters"][si, li] = sum(f.n_iter for f in fits)
            if verbose:
                print(
                    f"[CSAM-CV] {label} sigma={sigma:.3g} lam={lam:.4g}: "
                    f"score={out['scores'][si, li]:.4f} support={out['sizes'][si, li]} "
                    f"({time.perf_counter() - t0:.2f}s)"
                )
            if li + 1 < n_l:
                ws = strong_rule_working_sets(
                    fits, lam_prev=lam, lam_next=grids[si, li + 1], sigma=sigma
                )
    return out


class CorrentropySparseAdditiveClassifierCV(CorrentropySparseAdditiveClassifier):
    """Correntropy sparse additive classifier with ``lam`` chosen by cross-validation.

    For every fold the B-spline basis is built once and the model is fitted
    along a decreasing grid of ``lam`` (optionally for several ``sigma``),
    each fit warm-started from the previous one (or from a linear
    extrapolation of the last two, when that has the lower objective; from
    zero where the strong rule signals a jump of the support), with its
    first working set screened by the sequential strong rule; the fold model
    is scored at every ``lam``.  The ``lam`` (and ``sigma``) with the best mean score is then
    refitted on all the data, as
    :class:`~sklearn.linear_model.LogisticRegressionCV` does for ``C``.  This
    is several times faster than :class:`~sklearn.model_selection.GridSearchCV`
    over the same grid, which rebuilds the basis and starts from zero for
    every candidate and fold.

    Read more in the user guide page ``docs/user_guide/csam.rst``.

    Parameters
    ----------
    lams : int or array-like of float, default=20
        An int: that many values, log-spaced from ``lam_max`` (the smallest
        ``lam`` that zeroes every component function on all the data, for
        each ``sigma``) down to ``lam_min_ratio * lam_max``.  An array: these
        values (fitted in decreasing order).
    lam_min_ratio : float, default=0.05
        Smallest ``lam`` of a generated grid, as a fraction of ``lam_max``.
    sigmas : array-like of float, default=None
        Kernel widths to cross-validate as well (a path over ``lam`` for each);
        ``None``: only ``sigma``.
    cv : int, cross-validation generator or iterable, default=None
        As in :func:`~sklearn.model_selection.check_cv` (stratified 5-fold by
        default).
    scoring : str or callable, default=None
        Scorer (see :func:`~sklearn.metrics.check_scoring`); ``None``: accuracy.
    refit : bool, default=True
        Refit the best ``lam`` (and ``sigma``) on all the data.  ``False``
        only computes the path and its scores (the estimator cannot predict).
    n_jobs : int, default=None
        Number of folds whose paths are computed in parallel (joblib;
        ``None`` means 1 unless in a :func:`joblib.parallel_config` context,
        ``-1`` all processors).  The results do not depend on it.
    n_knots : int, default=5
        Number of knots of the B-spline basis of every feature.
    degree : int, default=3
        Degree of the B-splines.
    knots : {"quantile", "uniform"}, default="quantile"
        Knot placement.
    sigma : float, default=1.0
        Kernel width of the correntropy-induced loss (when ``sigmas`` is None).
    q : {1, 2}, default=2
        Group lasso (``2``) or plain l1 penalty (``1``).
    eta : float, default=0.1
        ADMM penalty parameter.
    solver : {"auto", "admm", "bcd"}, default="auto"
        Inner solver of every half-quadratic step, as in
        :class:`CorrentropySparseAdditiveClassifier`.
    max_iter : int, default=50
        Maximum number of half-quadratic iterations per fit.
    admm_max_iter : int, default=200
        Maximum number of inner iterations (ADMM iterations or coordinate
        descent sweeps) per half-quadratic step.
    tol : float, default=1e-4
        Tolerance of the stopping rules.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes (computed on each training fold).
    random_state : int, RandomState instance or None, default=None
        Used to sub-sample rows when placing quantile knots on more than
        20 000 samples.
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    backend : {"auto", "numpy", "torch"}, default="auto"
        Array library of the solver.
    verbose : int or bool, default=False
        Print one line per fold and ``lam``.

    Attributes
    ----------
    lams_ : ndarray of shape (n_lams,) or (n_sigmas, n_lams)
        The ``lam`` grid, decreasing (one row per ``sigma`` when ``sigmas``
        is given).
    sigmas_ : ndarray of shape (n_sigmas,)
        The ``sigma`` values searched.
    scores_ : ndarray of shape (n_folds, n_lams) or (n_sigmas, n_folds, n_lams)
        Test-fold score of every ``lam`` (and ``sigma``).
    support_sizes_ : ndarray of shape (n_folds, n_lams) or (n_sigmas, n_folds, n_lams)
        Number of selected features of every fold model.
    path_n_iter_ : ndarray of shape (n_folds, n_lams) or (n_sigmas, n_folds, n_lams)
        Half-quadratic iterations of every fold fit (summed over one-vs-rest problems).
    lam_max_ : float or ndarray of shape (n_sigmas,)
        ``lam_max`` on all the data.
    lam_ : float
        Best ``lam`` (first, i.e. largest, among equal mean scores).
    sigma_ : float
        Best ``sigma``.
    best_score_ : float
        Mean test score of the best ``lam`` and ``sigma``.
    path_time_ : float
        Seconds spent on the cross-validated paths.
    classes_, coef_, intercept_, support_, feature_importances_, n_iter_, \
objective_curve_, solver_routes_, prob_scale_, device_, n_features_in_, feature_names_in_
        As in :class:`CorrentropySparseAdditiveClassifier`, for the refitted
        model (only with ``refit=True``).  ``prob_scale_`` is fitted on the
        out-of-fold margins at the chosen ``lam`` when the test folds
        partition the data (the default), on the training margins otherwise.

    See Also
    --------
    CorrentropySparseAdditiveClassifier : The model at one ``lam``.
    RegularizationPathDisplay : Plot of ``scores_`` and ``support_sizes_`` against ``lam``.
    sklearn.linear_model.LogisticRegressionCV : The same idea for logistic regression.

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics import CorrentropySparseAdditiveClassifierCV
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-2, 2, size=(300, 6))
    >>> y = (np.sin(2 * X[:, 0]) + X[:, 1] ** 2 - 1.3 > 0).astype(int)
    >>> clf = CorrentropySparseAdditiveClassifierCV(lams=8, cv=3).fit(X, y)
    >>> clf.scores_.shape
    (3, 8)
    >>> bool(clf.support_[:2].all())
    True
    >>> bool(clf.score(X, y) > 0.85)
    True
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (sklearn convention)
        **{
            k: v
            for k, v in CorrentropySparseAdditiveClassifier._parameter_constraints.items()
            if k not in _NOT_IN_CV
        },
        "lams": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "lam_min_ratio": [Interval(numbers.Real, 0, 1, closed="neither")],
        "sigmas": ["array-like", None],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "refit": ["boolean"],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(
        self,
        lams=20,
        *,
        lam_min_ratio=0.05,
        sigmas=None,
        cv=None,
        scoring=None,
        refit=True,
        n_jobs=None,
        n_knots=5,
        degree=3,
        knots="quantile",
        sigma=1.0,
        q=2,
        eta=0.1,
        solver="auto",
        max_iter=50,
        admm_max_iter=200,
        tol=1e-4,
        class_weight=None,
        random_state=None,
        device="cpu",
        backend="auto",
        verbose=False,
    ):
        self.lams = lams
        self.lam_min_ratio = lam_min_ratio
        self.sigmas = sigmas
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.n_jobs = n_jobs
        self.n_knots = n_knots
        self.degree = degree
        self.knots = knots
        self.sigma = sigma
        self.q = q
        self.eta = eta
        self.solver = solver
        self.max_iter = max_iter
        self.admm_max_iter = admm_max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.random_state = random_state
        self.device = device
        self.backend = backend
        self.verbose = verbose

    def _base_estimator(self):
        params = {
            k: v
            for k, v in self.get_params(deep=False).items()
            if k in CorrentropySparseAdditiveClassifier._parameter_constraints
        }
        return CorrentropySparseAdditiveClassifier(**params)

    def _grid(self, lam_max):
        if isinstance(self.lams, numbers.Integral):
            if lam_max <= 0:  # nothing to select: every lam gives the intercept-only model
                return np.zeros(int(self.lams))
            return np.geomspace(lam_max, lam_max * self.lam_min_ratio, int(self.lams))
        lams = np.sort(np.asarray(self.lams, dtype=float).ravel())[::-1]
        if lams.size == 0 or np.any(lams < 0) or not np.all(np.isfinite(lams)):
            raise ValueError(f"lams must be non-negative and finite; got {self.lams!r}")
        return lams

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the regularisation paths on the folds, pick ``lam``, refit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (dense; NaN and infinity are rejected).
        y : array-like of shape (n_samples,)
            Target labels (two or more classes).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights (used in the fits, not in the scores).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        for attr in ("coef_", "intercept_", "support_", "prob_scale_"):  # no stale model
            self.__dict__.pop(attr, None)
        data = prepare_fit(self, X, y, sample_weight)
        sigmas = (
            np.array([float(self.sigma)])
            if self.sigmas is None
            else np.asarray(self.sigmas, dtype=float).ravel()
        )
        if sigmas.size == 0 or np.any(sigmas <= 0):
            raise ValueError(f"sigmas must be positive; got {self.sigmas!r}")
        design = build_design(self, data)  # all the data: lam_max and the refit
        lam_max = np.array([design.lam_max(self, sigma=s) for s in sigmas])
        grids = np.stack([self._grid(lm) for lm in lam_max])  # (n_sigmas, n_lams)
        if not self.refit:
            del design

        base = self._base_estimator().set_params(verbose=False)
        scorer = None if self.scoring is None else check_scoring(base, self.scoring)
        labels = self.classes_[data.y_ind]
        raw_sw = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        splits = list(check_cv(self.cv, labels, classifier=True).split(data.X, labels))
        n_s, n_l = sigmas.size, grids.shape[1]
        n_out = 1 if self.classes_.size == 2 else self.classes_.size
        t0 = time.perf_counter()
        # every fold's path is independent: the folds run in parallel with n_jobs (joblib)
        paths = Parallel(n_jobs=self.n_jobs)(
            delayed(fold_path)(
                base,
                data.X[train],
                labels[train],
                None if raw_sw is None else raw_sw[train],
                data.X[test],
                labels[test],
                sigmas=sigmas,
                grids=grids,
                scorer=scorer,
                n_classes=self.classes_.size,
                label=f"fold {fi}",
                verbose=self.verbose,
            )
            for fi, (train, test) in enumerate(splits)
        )
        scores = np.stack([p["scores"] for p in paths], axis=1)  # (n_sigmas, n_folds, n_lams)
        sizes = np.stack([p["sizes"] for p in paths], axis=1)
        iters = np.stack([p["iters"] for p in paths], axis=1)
        oof = np.full((n_s, n_l, data.X.shape[0], n_out), np.nan)
        n_tested = np.zeros(data.X.shape[0], dtype=int)
        for (_, test), p in zip(splits, paths):
            n_tested[test] += 1
            if p["margins"] is not None:
                oof[:, :, test] = p["margins"]
        self.path_time_ = time.perf_counter() - t0
        mean = scores.mean(axis=1)  # (n_sigmas, n_lams)
        si, li = np.unravel_index(np.argmax(mean), mean.shape)  # first maximum: largest lam
        self.sigmas_ = sigmas
        self.lam_, self.sigma_ = float(grids[si, li]), float(sigmas[si])
        self.best_score_ = float(mean[si, li])
        one = self.sigmas is None
        self.lams_ = grids[0] if one else grids
        self.lam_max_ = float(lam_max[0]) if one else lam_max
        self.scores_ = scores[0] if one else scores
        self.support_sizes_ = sizes[0] if one else sizes
        self.path_n_iter_ = iters[0] if one else iters
        if self.refit:
            fits = solve(self, design, lam=self.lam_, sigma=self.sigma_)
            set_solution(self, fits, self.lam_, data, calibrate=False)
            margins = oof[si, li]
            if np.isnan(margins).any() or np.any(n_tested != 1):  # folds are no partition
                margins = (
                    fits[0].margins[:, None]
                    if n_out == 1
                    else np.column_stack([f.margins for f in fits])
                )
            self.prob_scale_ = fit_temperature(
                margins[:, 0] if n_out == 1 else margins, data.y_ind, data.sw
            )
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coef_")  # refit=False computes the path only: no model
