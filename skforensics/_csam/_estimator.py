"""The estimator: :class:`CorrentropySparseAdditiveClassifier`.

Also the fit steps shared with :class:`CorrentropySparseAdditiveClassifierCV`
(:func:`prepare_fit`, :func:`build_design`, :func:`solve`,
:func:`set_solution`): validate the data, build the basis once, solve the
one-vs-rest problems at a given ``lam`` (optionally warm-started), and store
a solution as fitted attributes.
"""

import numbers
import os
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._compat import Interval, Options, StrOptions, check_sample_weight, fit_context
from .._persistence import DefaultParamsOnLoadMixin
from ._backends import blas_limit, blas_threads, get_ops
from ._basis import expand_basis, make_knots, transpose
from ._solver import fit_binary, lam_max

__all__ = [
    "CorrentropySparseAdditiveClassifier",
    "SupportBasis",
    "build_design",
    "prepare_fit",
    "set_solution",
    "solve",
]

# Above this many stored entries the expanded basis is kept in float32.
_FLOAT32_ENTRIES = 10_000_000


@dataclass
class FitData:
    """Validated training data of one fit (numpy)."""

    X: np.ndarray
    y_ind: np.ndarray  # class indices
    sw: np.ndarray  # sample weights, class weights included
    random_state: np.random.RandomState


@dataclass
class Design:
    """Basis of one fit on the solver's back-end, and the one-vs-rest targets."""

    Phi: object  # (n, D) design matrix
    s: object  # normalised sample weights
    targets: list  # one (n,) array of +-1 labels per one-vs-rest problem
    ops: object
    threads: int

    def lam_max(self, est, *, sigma=None):
        """Largest ``lam_max`` over the one-vs-rest problems (``sigma``: default ``est.sigma``)."""
        sigma = est.sigma if sigma is None else sigma
        with blas_limit(1) if self.ops.name == "numpy" else nullcontext():
            return max(
                lam_max(
                    self.Phi,
                    yk,
                    self.s,
                    n_basis=est._n_basis,
                    sigma=sigma,
                    q=int(est.q),
                    ops=self.ops,
                )
                for yk in self.targets
            )


def prepare_fit(est, X, y, sample_weight):
    """Validate ``X, y, sample_weight`` for ``est``; sets ``classes_`` (and ``n_features_in_``)."""
    X, y = validate_data(est, X, y, dtype=[np.float64, np.float32], y_numeric=False)
    check_classification_targets(y)
    X = np.asarray(X, dtype=np.float64)
    sw = check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    est.classes_, y_ind = np.unique(y, return_inverse=True)
    present = np.unique(y_ind[sw > 0])
    if est.classes_.size < 2 or present.size < 2:
        raise ValueError(
            f"{type(est).__name__} needs samples of at least two classes "
            f"(with non-zero sample_weight); got 1 class: {est.classes_[present].tolist()}"
        )
    cv = getattr(est, "calibration_cv", None)
    if cv is not None:  # checked before the (costly) fit
        counts = np.bincount(y_ind[sw > 0], minlength=est.classes_.size)
        if counts.min() < cv:
            raise ValueError(
                f"calibration_cv={cv} needs at least "
                f"{cv} samples of every class (with non-zero "
                f"sample_weight); class {est.classes_[np.argmin(counts)]!r} has "
                f"{counts.min()}. Use a smaller calibration_cv or None."
            )
    if est.class_weight is not None:
        cw = compute_class_weight(est.class_weight, classes=est.classes_, y=y)
        sw = sw * cw[y_ind]
    return FitData(X=X, y_ind=y_ind, sw=sw, random_state=check_random_state(est.random_state))


def build_design(est, data):
    """Fit the basis of ``est`` on ``data`` and move the design to the solver's back-end."""
    ops, est.device_ = get_ops(est.backend, est.device)
    X, sw = data.X, data.sw
    n, p = X.shape
    d = est.n_knots + est.degree - 2
    big = n * p * d > _FLOAT32_ENTRIES
    threads = blas_threads()
    with blas_limit(1):
        PhiT = est._fit_basis(
            X,
            sw,
            data.random_state,
            np.float32 if big else np.float64,
            n_threads=min(threads, os.cpu_count() or 1),
        )
    if ops.name == "torch":
        Phi = ops.torch.as_tensor(PhiT, device=ops.device).T
        del PhiT
    else:
        Phi = PhiT.T  # (n, D), Fortran-ordered view
    n_problems = 1 if est.classes_.size == 2 else est.classes_.size
    targets = [
        ops.asarray(np.where(data.y_ind == (1 if n_problems == 1 else k), 1.0, -1.0))
        for k in range(n_problems)
    ]
    return Design(
        Phi=Phi,
        s=ops.asarray(sw / sw.sum()),
        targets=targets,
        ops=ops,
        threads=threads if ops.name == "numpy" else 1,
    )


def solve(
    est,
    design,
    *,
    lam,
    sigma=None,
    warm_start=None,
    prediction=None,
    working_sets=None,
    verbose=None,
):
    """Solve every one-vs-rest problem at ``lam``.

    Parameters
    ----------
    est : CorrentropySparseAdditiveClassifier
        Supplies the solver options (``sigma``, ``q``, ``eta``, ``tol``, ...).
    design : Design
        From :func:`build_design`.
    lam : float
        Penalty weight.
    sigma : float, default=None
        Kernel width (default: ``est.sigma``).
    warm_start : list of BinaryFit, default=None
        Previous solutions (one per problem), e.g. at the previous ``lam`` of
        a path; their ADMM duals are rescaled to the new ``lam``.  A ``None``
        entry (or an all-zero solution) starts that problem from zero.
    prediction : list of BinaryFit, default=None
        Other starts, one per problem (e.g. extrapolated along a path); a fit
        starts from its prediction when that has the lower objective (used
        only with ``warm_start``).
    working_sets : list of array of int, default=None
        First working set of every problem (screening).
    verbose : int, default=None
        Overrides ``est.verbose``.

    Returns
    -------
    fits : list of BinaryFit
    """
    ops = design.ops
    sigma = est.sigma if sigma is None else sigma
    verbose = est.verbose if verbose is None else verbose
    fits = []
    for k, yk in enumerate(design.targets):
        label = "" if len(design.targets) == 1 else f" class {est.classes_[k]!r}"
        warm = {}
        # an all-zero previous model is no warm start: its intercept has drifted towards the
        # degenerate intercept-only optimum (the majority class), where nothing enters
        if warm_start is not None and warm_start[k] is not None and np.any(warm_start[k].coef != 0):
            prev = warm_start[k]
            # the dual of an active group is its subgradient times kappa / eta: rescale
            ratio = lam / prev.lam if prev.lam > 0 else 1.0
            warm = {
                "coef_init": prev.coef,
                "intercept_init": prev.intercept,
                "dual_init": prev.dual * ratio,
            }
            if prediction is not None and prediction[k] is not prev:
                warm["coef_guess"] = prediction[k].coef
                warm["intercept_guess"] = prediction[k].intercept
        with blas_limit(1) if ops.name == "numpy" else nullcontext():
            fit = fit_binary(
                design.Phi,
                yk,
                design.s,
                n_basis=est._n_basis,
                lam=lam,
                sigma=sigma,
                q=int(est.q),
                eta=est.eta,
                tol=est.tol,
                max_iter=est.max_iter,
                admm_max_iter=est.admm_max_iter,
                ops=ops,
                solver=est.solver,
                threads=design.threads,
                working_set=None if working_sets is None else working_sets[k],
                verbose=verbose,
                label=label,
                **warm,
            )
        fits.append(fit)
    return fits


class SupportBasis:
    """Basis of a fixed ``X`` under the fitted basis of ``est``, expanded feature by feature.

    Scores the models of a regularisation path, which share one fitted basis,
    on the same test rows: a feature's ``d`` basis rows are expanded the first
    time a model selects it and kept, so a path whose models stay sparse
    expands only the features they select, and each model costs one product
    over its support.  :meth:`decision` returns what
    ``est.decision_function(X)`` returns.

    Parameters
    ----------
    est : CorrentropySparseAdditiveClassifier
        Fitted, or with its basis built (:func:`build_design`); its basis must
        not change while the object is used.
    X : ndarray of shape (n_samples, n_features)
        Validated data.
    """

    def __init__(self, est, X):
        self.X = np.asarray(X, dtype=np.float64)
        self.d = est._n_basis
        # rows are written the first time a feature is selected (np.empty: no memory until then)
        self.rows = np.empty((est.n_features_in_ * self.d, self.X.shape[0]))
        self.expanded = np.zeros(est.n_features_in_, dtype=bool)

    def _cols(self, feats):
        return (feats[:, None] * self.d + np.arange(self.d)[None, :]).ravel()

    def decision(self, est):
        """Margins of ``est`` (its current ``coef_``, ``intercept_``, ``support_``) on ``X``."""
        feats = np.flatnonzero(est.support_)
        new = feats[~self.expanded[feats]]
        if new.size:
            self.rows[self._cols(new)] = est._basis(self.X, new)
            self.expanded[new] = True
        out = np.tile(est.intercept_, (self.X.shape[0], 1))
        if feats.size:
            with blas_limit(1):
                coef = est.coef_[:, feats, :].reshape(est.coef_.shape[0], -1)
                out += (coef @ self.rows[self._cols(feats)]).T
        return out[:, 0] if out.shape[1] == 1 else out


def set_solution(est, fits, lam, data, *, calibrate=True):
    """Store the solutions ``fits`` (one per problem) as the fitted attributes of ``est``."""
    p, d = est.n_features_in_, est._n_basis
    est.coef_ = np.stack([f.coef.reshape(p, d) for f in fits])
    est.intercept_ = np.array([f.intercept for f in fits])
    est.n_iter_ = np.array([f.n_iter for f in fits], dtype=np.int32)
    est.objective_curve_ = [f.objective_curve for f in fits]
    est.solver_routes_ = [set(f.routes) for f in fits]
    est.lam_ = float(lam)
    norms = np.linalg.norm(est.coef_, axis=2)
    est.support_ = np.any(norms > 0, axis=0)
    est.feature_importances_ = norms.mean(axis=0)
    if not calibrate:
        return est
    # temperature-only Platt scaling on the training (or out-of-fold) margins
    margins = fits[0].margins if len(fits) == 1 else np.column_stack([f.margins for f in fits])
    if getattr(est, "calibration_cv", None) is not None:
        margins = est._out_of_fold_margins(data.X, data.y_ind, data.sw, data.random_state)
    est.prob_scale_ = fit_temperature(margins, data.y_ind, data.sw)
    return est


def fit_temperature(margins, y_ind, sw):
    """Temperature ``a > 0`` of ``sigmoid(a * margin)``: weighted log-loss vs Platt's targets."""
    M = margins.reshape(margins.shape[0], -1)
    if M.shape[1] == 1:
        Y = (y_ind == 1)[:, None]
    else:
        Y = y_ind[:, None] == np.arange(M.shape[1])[None, :]
    n_pos = (sw[:, None] * Y).sum(axis=0)
    n_neg = sw.sum() - n_pos
    T = np.where(Y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    w = sw[:, None] / sw.sum()

    def nll(log_a):
        z = np.exp(log_a) * M
        # -[t log s(z) + (1-t) log(1-s(z))] = logaddexp(0, z) - t z
        return float(np.sum(w * (np.logaddexp(0.0, z) - T * z)))

    res = minimize_scalar(
        nll, bounds=(np.log(1e-3), np.log(1e3)), method="bounded", options={"xatol": 1e-6}
    )
    return float(np.exp(res.x))


class CorrentropySparseAdditiveClassifier(DefaultParamsOnLoadMixin, ClassifierMixin, BaseEstimator):
    """Correntropy-induced sparse additive machine (HRR's AFR head).

    Fits an additive model ``f(x) = c + sum_j f_j(x_j)`` with one B-spline
    component function per input feature, by minimising the correntropy
    induced loss plus a (group) sparsity penalty, as in the "Additive Feature
    Refinement" module of HRR (Eqs. 5-9), with the half-quadratic / ADMM
    algorithm of the paper's appendix (Eqs. 10-23, Algorithm 1)::

        min_{alpha, c}  sum_i s_i * beta * (1 - exp(-(1 - y_i f(x_i))^2 / sigma^2))
                        + lam * sum_j ||alpha_j||_q

    with ``beta = 1 / (1 - exp(-1 / sigma^2))``, labels ``y_i`` in ``{-1, +1}``
    and normalised sample weights ``s_i`` (``1 / n`` without weights).
    Multi-class problems are handled one-vs-rest.  The correntropy loss is
    bounded, so grossly mislabelled samples get vanishing weight (robustness
    to label noise); the group penalty zeroes whole component functions
    (feature selection).  Each half-quadratic step solves a weighted group
    lasso; on large working sets the default ``solver="auto"`` solves it by
    block coordinate descent instead of the paper's ADMM (the same
    subproblem to the same tolerance, without forming a Gram matrix).

    Read more in the user guide page ``docs/user_guide/csam.rst``.

    Parameters
    ----------
    n_knots : int, default=5
        Number of knots of the B-spline basis of every feature.
    degree : int, default=3
        Degree of the B-splines.  Each feature gets ``n_knots + degree - 2``
        centred, orthonormal basis functions.
    knots : {"quantile", "uniform"}, default="quantile"
        Knot placement: weighted quantiles or a uniform grid between the
        (weighted) minimum and maximum of each feature.
    lam : float or "auto", default="auto"
        Weight ``lambda`` of the sparsity penalty ``sum_j ||alpha_j||_q``.
        ``"auto"``: ``lam_ratio`` times ``lam_max_``, the smallest ``lam``
        for which the all-zero model is optimal (KKT condition at zero, as
        glmnet's ``lambda_max``), so that the default scales with the data.
        :class:`CorrentropySparseAdditiveClassifierCV` chooses it by
        cross-validation.
    lam_ratio : float, default=0.1
        Fraction of ``lam_max_`` used when ``lam="auto"`` (ignored
        otherwise).
    sigma : float, default=1.0
        Kernel width of the correntropy-induced loss.  Small values are more
        robust to outliers (flipped labels) but make the problem less convex.
    q : {1, 2}, default=2
        ``2``: group lasso over the basis coefficients of every feature (sparse
        additive machine); ``1``: plain l1 penalty on all coefficients.
    eta : float, default=0.1
        ADMM penalty parameter ``eta`` (Eqs. 17-20; the paper uses 0.1).
    solver : {"auto", "admm", "bcd"}, default="auto"
        Inner solver of every half-quadratic step (the same weighted
        group-lasso subproblem, solved to ``tol``).  ``"admm"``: the paper's
        ADMM, which forms and factorises the weighted Gram matrix of the
        working set at every step (``n m^2`` for ``m`` working-set columns).
        ``"bcd"``: exact block coordinate descent on the groups, warm-started,
        ``n m`` per sweep (numpy back-end and ``q=2`` only).  ``"auto"``:
        block coordinate descent when it applies and the working set has at
        least ``max(96, n_samples // 100)`` columns (16 features of 6 basis
        functions, for fewer than 9,700 samples), ADMM otherwise.
    max_iter : int, default=50
        Maximum number of half-quadratic (outer) iterations.
    admm_max_iter : int, default=200
        Maximum number of inner iterations (ADMM iterations or coordinate
        descent sweeps) per half-quadratic step.
    tol : float, default=1e-4
        ``epsilon`` of the stopping rules: ADMM stops when
        ``||alpha - theta||_inf < tol`` and ``||alpha_t+1 - alpha_t||_inf < tol``
        (Eq. 23), block coordinate descent after a sweep over all groups that
        moved no coefficient by ``tol``; the outer loop stops when the
        objective decreases by at most ``tol`` (Algorithm 1, step 4).
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``.
    calibration_cv : int or None, default=None
        Where the temperature of :meth:`predict_proba` is fitted.  ``None``:
        on the training margins (no extra cost; over-confident when the model
        over-fits, e.g. a small ``lam`` on few samples).  An int ``k``: on
        out-of-fold margins of ``k`` extra fits on stratified folds (about
        ``k`` times the fit cost), which keeps probabilities calibrated on
        unseen images.  The returned model is always the one fitted on all
        the data.
    random_state : int, RandomState instance or None, default=None
        Used to sub-sample rows when placing quantile knots on more than
        20 000 samples and to shuffle the ``calibration_cv`` folds.  The
        solver itself is deterministic.
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available).
        Resolved into ``device_`` during ``fit``.
    backend : {"auto", "numpy", "torch"}, default="auto"
        Array library of the solver.  ``"auto"`` uses numpy on CPU and torch on
        any other device; ``backend="torch", device="cpu"`` runs the torch code
        path on the CPU (useful for testing it without a GPU).
    verbose : int or bool, default=False
        Print the objective, support size and linear-algebra route of every
        half-quadratic step.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (n_problems, n_features, n_basis)
        Coefficients ``alpha_j`` of the component functions in the centred,
        orthonormal spline basis; ``n_problems`` is 1 for binary problems and
        ``n_classes`` otherwise (one-vs-rest).
    intercept_ : ndarray of shape (n_problems,)
        Intercepts ``c``.
    support_ : ndarray of bool of shape (n_features,)
        Features with a non-zero component function (in any one-vs-rest problem).
    feature_importances_ : ndarray of shape (n_features,)
        Group norms ``||alpha_j||_2`` (averaged over one-vs-rest problems); as
        the basis is orthonormal on the training data this is the root mean
        square of ``f_j(x_j)`` over the training samples.
    n_iter_ : ndarray of shape (n_problems,)
        Number of half-quadratic iterations run for every problem.
    objective_curve_ : list of ndarray
        Objective value before the first and after every accepted
        half-quadratic step, per problem (non-increasing).
    solver_routes_ : list of set of str
        Inner solvers used by the half-quadratic steps of every problem:
        ``"bcd"`` (block coordinate descent), or the linear-algebra route of
        the ADMM solves (``"cholesky"``, ``"woodbury"`` or ``"cg"``).
    lam_ : float
        Penalty weight used (``lam``, or its value when ``lam="auto"``).
    lam_max_ : float
        Smallest ``lam`` that zeroes every component function (KKT condition
        at zero; the largest over one-vs-rest problems).  Computed only when
        ``lam="auto"`` (``nan`` otherwise).
    prob_scale_ : float
        Temperature ``a`` of the calibrated sigmoid ``1 / (1 + exp(-a f))``.
    device_ : str
        Resolved device.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit (only when ``X`` has string column names).

    See Also
    --------
    CorrentropySparseAdditiveClassifierCV : ``lam`` chosen by cross-validation
        along a warm-started regularisation path.
    sklearn.linear_model.LogisticRegression : Linear baseline.
    sklearn.preprocessing.SplineTransformer : B-spline features.

    Notes
    -----
    ``predict_proba`` applies a temperature-only Platt scaling to the margins
    ``f(x)``: ``p = sigmoid(a * f(x))``, with ``a > 0`` fitted by weighted
    log-loss on the training margins against Platt's smoothed targets.  There
    is no offset, so the most probable class always agrees with ``predict``;
    with several classes the one-vs-rest sigmoids are normalised to sum to one.

    References
    ----------
    HRR: Hierarchical Retrospection Refinement for Generated Image Detection,
    section III-B and appendix A.

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics import CorrentropySparseAdditiveClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-2, 2, size=(300, 6))
    >>> y = (np.sin(2 * X[:, 0]) + X[:, 1] ** 2 - 1.3 > 0).astype(int)
    >>> clf = CorrentropySparseAdditiveClassifier(lam=0.1).fit(X, y)
    >>> clf.support_
    array([ True,  True, False, False, False, False])
    >>> bool(clf.score(X, y) > 0.85)
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (sklearn convention)
        "n_knots": [Interval(numbers.Integral, 2, None, closed="left")],
        "degree": [Interval(numbers.Integral, 1, None, closed="left")],
        "knots": [StrOptions({"quantile", "uniform"})],
        "lam": [Interval(numbers.Real, 0, None, closed="left"), StrOptions({"auto"})],
        "lam_ratio": [Interval(numbers.Real, 0, 1, closed="right")],
        "sigma": [Interval(numbers.Real, 0, None, closed="neither")],
        "q": [Options(numbers.Integral, {1, 2})],
        "eta": [Interval(numbers.Real, 0, None, closed="neither")],
        "solver": [StrOptions({"auto", "admm", "bcd"})],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "admm_max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "calibration_cv": [Interval(numbers.Integral, 2, None, closed="left"), None],
        "random_state": ["random_state"],
        "device": [str],
        "backend": [StrOptions({"auto", "numpy", "torch"})],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_knots=5,
        degree=3,
        *,
        knots="quantile",
        lam="auto",
        lam_ratio=0.1,
        sigma=1.0,
        q=2,
        eta=0.1,
        solver="auto",
        max_iter=50,
        admm_max_iter=200,
        tol=1e-4,
        class_weight=None,
        calibration_cv=None,
        random_state=None,
        device="cpu",
        backend="auto",
        verbose=False,
    ):
        self.n_knots = n_knots
        self.degree = degree
        self.knots = knots
        self.lam = lam
        self.lam_ratio = lam_ratio
        self.sigma = sigma
        self.q = q
        self.eta = eta
        self.solver = solver
        self.max_iter = max_iter
        self.admm_max_iter = admm_max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.calibration_cv = calibration_cv
        self.random_state = random_state
        self.device = device
        self.backend = backend
        self.verbose = verbose

    # ---------------------------------------------------------------- basis
    def _basis(self, X, features=None, dtype=np.float64):
        """Transposed centred orthonormal basis of ``features``: (len * d, n), C-order.

        Row block ``i`` holds the ``d`` basis functions of ``features[i]``;
        ``Phi = _basis(X).T`` is the (n, D) design matrix of the paper.
        """
        feats = np.arange(self.n_features_in_) if features is None else np.asarray(features)
        with blas_limit(1):  # many tiny batched products: one BLAS thread is much faster
            return expand_basis(
                X,
                feats,
                knots=self.knots_,
                degree=self.degree,
                n_knots=self.n_knots,
                mean=self._basis_mean,
                transform=self._basis_transform,
                dtype=dtype,
            )[0]

    def _fit_basis(self, X, sw, random_state, dtype, n_threads=1):
        XT = transpose(X)  # feature-major, shared by the knots and the basis
        _, full, constant = make_knots(
            X, sw, self.n_knots, self.degree, self.knots, random_state, XT=XT
        )
        self.knots_ = full
        self._constant = constant
        self._n_basis = self.n_knots + self.degree - 2
        PhiT, self._basis_mean, self._basis_transform = expand_basis(
            X,
            np.arange(X.shape[1]),
            knots=full,
            degree=self.degree,
            n_knots=self.n_knots,
            constant=constant,
            dtype=dtype,
            sample_weight=sw,
            n_threads=n_threads,
            XT=XT,
        )
        return PhiT

    # ------------------------------------------------------------------ fit
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (dense; NaN and infinity are rejected).
        y : array-like of shape (n_samples,)
            Target labels (two or more classes).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        data = prepare_fit(self, X, y, sample_weight)
        design = build_design(self, data)
        if self.lam == "auto":
            self.lam_max_ = design.lam_max(self)
            lam = self.lam_ratio * self.lam_max_
        else:
            self.lam_max_ = float("nan")
            lam = float(self.lam)
        fits = solve(self, design, lam=lam)
        del design
        set_solution(self, fits, lam, data)
        return self

    def _out_of_fold_margins(self, X, y_ind, sw, random_state):
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold

        k = self.calibration_cv
        # class weights are already in sw; the fold models must not apply them again;
        # an "auto" lam is resolved once, on all the data
        fold_model = clone(self).set_params(
            calibration_cv=None,
            class_weight=None,
            verbose=False,
            lam=self.lam_,
            random_state=random_state.randint(2**31 - 1),
        )
        folds = StratifiedKFold(k, shuffle=True, random_state=random_state.randint(2**31 - 1))
        out = np.zeros((X.shape[0], 1 if self.classes_.size == 2 else self.classes_.size))
        for train, test in folds.split(X, y_ind):
            m = fold_model.fit(X[train], y_ind[train], sample_weight=sw[train])
            out[test] = m.decision_function(X[test]).reshape(test.size, -1)
        return out[:, 0] if out.shape[1] == 1 else out

    # -------------------------------------------------------------- predict
    def _decision(self, X):
        feats = np.flatnonzero(self.support_)
        out = np.tile(self.intercept_, (X.shape[0], 1))
        if feats.size:
            PhiT = self._basis(X, feats)
            out += (self.coef_[:, feats, :].reshape(self.coef_.shape[0], -1) @ PhiT).T
        return out[:, 0] if out.shape[1] == 1 else out

    def decision_function(self, X):
        """Margins ``f(x)`` (one column per class for multi-class problems).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Positive values favour ``classes_[1]`` in the binary case.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        with blas_limit(1):
            return self._decision(np.asarray(X, dtype=np.float64))

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels.
        """
        scores = self.decision_function(X)
        idx = (scores > 0).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return self.classes_[idx]

    def predict_proba(self, X):
        """Calibrated probabilities ``sigmoid(prob_scale_ * f(x))``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities (rows sum to one).
        """
        scores = self.decision_function(X)
        z = self.prob_scale_ * scores
        p = np.exp(-np.logaddexp(0.0, -z))
        if scores.ndim == 1:
            return np.column_stack([1.0 - p, p])
        p = np.maximum(p, 1e-300)
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities.
        """
        return np.log(self.predict_proba(X))

    def component_functions(self, X, features=None, class_index=0):
        """Values of the component functions ``f_j(x_j)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points at which to evaluate (only the requested columns are used).
        features : array-like of int, default=None
            Feature indices; all features by default.
        class_index : int, default=0
            One-vs-rest problem (ignored for binary problems).

        Returns
        -------
        values : ndarray of shape (n_samples, n_selected_features)
            ``f_j(X[:, j])`` for every requested feature ``j``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        feats = np.arange(self.n_features_in_) if features is None else np.asarray(features)
        d = self._n_basis
        PhiT = self._basis(np.asarray(X, dtype=np.float64), feats)
        coef = self.coef_[class_index, feats, :]  # (g, d)
        return np.einsum("gdn,gd->ng", PhiT.reshape(feats.size, d, X.shape[0]), coef)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags
