"""Tests of CorrentropySparseAdditiveClassifier (HRR's additive feature refinement)."""

import dataclasses

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from skforensics import (
    ComponentFunctionDisplay,
    CorrentropySparseAdditiveClassifier,
    CorrentropySparseAdditiveClassifierCV,
)
from skforensics._csam import _basis, _solver


def make_additive(n, p, flip=0.0, seed=0, kind="periodic"):
    """Additive problem: 5 informative features (columns 0-4) with nonlinear f_j."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, p))
    if kind == "periodic":  # hard for linear models
        f = (
            np.sin(2 * X[:, 0])
            + (X[:, 1] ** 2 - 4 / 3)
            + np.abs(X[:, 2])
            - 1
            + np.cos(3 * X[:, 3])
            + np.tanh(3 * X[:, 4])
        )
        f = f + 0.3 * rng.randn(n)
    else:  # mostly monotone components: linear models do reasonably
        f = (
            np.tanh(3 * X[:, 0])
            + X[:, 1] ** 3 / 4
            + np.sin(1.5 * X[:, 2])
            + (np.exp(X[:, 3]) - 1.8) / 3
            + (X[:, 4] ** 2 - 4 / 3)
        )
    y = (f > 0).astype(int)
    y_noisy = y.copy()
    flipped = rng.rand(n) < flip
    y_noisy[flipped] = 1 - y_noisy[flipped]
    return X, y, y_noisy


@parametrize_with_checks(
    [CorrentropySparseAdditiveClassifier(), CorrentropySparseAdditiveClassifierCV(lams=3, cv=2)]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_support_recovery_and_beats_logistic_regression():
    X, y, _ = make_additive(2000, 200, seed=10)
    Xt, yt, _ = make_additive(4000, 200, seed=1)
    clf = CorrentropySparseAdditiveClassifier(lam=0.08).fit(X, y)
    np.testing.assert_array_equal(np.flatnonzero(clf.support_), np.arange(5))
    assert clf.coef_.shape == (1, 200, clf.n_knots + clf.degree - 2)
    np.testing.assert_array_equal(clf.coef_[0, 5:], 0.0)  # exact zeros outside the support
    assert np.all(clf.feature_importances_[:5] > 0)
    acc = clf.score(Xt, yt)
    acc_lr = LogisticRegression(max_iter=1000).fit(X, y).score(Xt, yt)
    assert acc > acc_lr + 0.05, (acc, acc_lr)


def test_label_noise_degrades_less_than_convex_losses():
    # Same B-spline features for the convex-loss baselines, so that only the
    # loss differs: the bounded correntropy loss ignores flipped labels.
    X, y, y_noisy = make_additive(1000, 50, flip=0.1, seed=10, kind="monotone")
    Xt, yt, _ = make_additive(4000, 50, seed=1, kind="monotone")
    assert 0.08 < np.mean(y != y_noisy) < 0.12

    def drop(est):
        clean = est.fit(X, y).score(Xt, yt)
        noisy = est.fit(X, y_noisy).score(Xt, yt)
        return clean - noisy, noisy

    d_csam, acc_csam = drop(CorrentropySparseAdditiveClassifier(lam=0.02))
    d_lr, _ = drop(make_pipeline(SplineTransformer(), LogisticRegression(max_iter=2000)))
    d_svc, _ = drop(make_pipeline(SplineTransformer(), LinearSVC()))
    assert d_csam + 0.02 < min(d_lr, d_svc), (d_csam, d_lr, d_svc)
    # and it still beats the raw-feature linear models trained on the noisy labels
    for lin in (LogisticRegression(max_iter=2000), LinearSVC()):
        assert acc_csam > lin.fit(X, y_noisy).score(Xt, yt) + 0.05


@pytest.mark.parametrize("knots", ["quantile", "uniform"])
def test_bspline_basis_matches_spline_transformer(knots):
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.exponential(size=200), rng.uniform(-3, 1, size=200)])
    clf = CorrentropySparseAdditiveClassifier(knots=knots, lam=0.01).fit(X, X[:, 1] > -1)
    base = clf.knots_[:, clf.degree : clf.degree + clf.n_knots]  # (p, n_knots)
    st = SplineTransformer(
        n_knots=clf.n_knots, degree=clf.degree, knots=base.T, extrapolation="constant"
    ).fit(X)
    Xq = np.vstack([X, [[-5.0, 7.0], [50.0, -9.0]]])  # includes out-of-range points
    ours = _basis.bspline_dense(np.ascontiguousarray(Xq.T), clf.knots_, clf.degree, clf.n_knots)
    ref = st.transform(Xq).reshape(len(Xq), 2, -1).transpose(1, 2, 0)
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    # centred and orthonormal on the training data; zero-mean component functions
    Phi = clf._basis(X).T
    np.testing.assert_allclose(Phi.mean(0), 0.0, atol=1e-10)
    d = clf.n_knots + clf.degree - 2
    for j in range(2):  # orthonormal within each group (feature)
        G = Phi[:, j * d : (j + 1) * d]
        np.testing.assert_allclose(G.T @ G / len(X), np.eye(d), atol=1e-6)


@pytest.mark.parametrize("degree, n_knots", [(3, 5), (1, 2), (2, 7), (5, 4)])
@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_local_design_equals_de_boor(degree, n_knots, dtype, atol):
    # The fast basis (span-local monomials times per-span polynomial coefficients)
    # is the B-spline design of de Boor's recursion, out-of-range points and
    # points exactly on knots included.
    rng = np.random.RandomState(1)
    X = np.column_stack(
        [rng.exponential(size=300), rng.standard_cauchy(size=300), rng.uniform(-3, 1, size=300)]
    )
    clf = CorrentropySparseAdditiveClassifier(degree=degree, n_knots=n_knots, lam=0.01)
    clf.fit(X, X[:, 2] > -1)
    base = clf.knots_[:, degree : degree + n_knots]
    Xq = np.vstack([X, base.T, [[-5.0, -1e6, 7.0], [50.0, 1e6, -9.0]]])
    xT = np.ascontiguousarray(Xq.T)
    ref = _basis.bspline_dense(xT, clf.knots_, degree, n_knots)
    C = _basis.span_coefficients(clf.knots_, degree, n_knots)
    fast = np.matmul(C.astype(dtype), _basis.local_design(xT, clf.knots_, degree, n_knots, dtype))
    assert fast.dtype == dtype
    np.testing.assert_allclose(fast, ref, atol=atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_local_design_gram_is_exact(dtype, weighted):
    # the Gram returned with the local design is Q diag(w) Q^T computed in float64
    # from the float64 rows (also when Q is stored in float32), and local_gram agrees
    rng = np.random.RandomState(2)
    X = np.column_stack([rng.exponential(size=500), rng.uniform(-3, 1, size=500)])
    clf = CorrentropySparseAdditiveClassifier(lam=0.01).fit(X, X[:, 1] > -1)
    xT = np.ascontiguousarray(X.T)
    Q64 = _basis.local_design(xT, clf.knots_, clf.degree, clf.n_knots)
    w = rng.uniform(0.1, 2.0, size=500) if weighted else None
    Q, G = _basis.local_design(
        xT, clf.knots_, clf.degree, clf.n_knots, dtype, weights="unit" if w is None else w
    )
    assert Q.dtype == dtype and G.dtype == np.float64
    ww = np.ones(500) if w is None else w
    ref = np.matmul(Q64 * ww, Q64.transpose(0, 2, 1))
    np.testing.assert_allclose(G, ref, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(_basis.local_gram(Q64, clf.degree, clf.n_knots, w), ref, atol=1e-9)
    np.testing.assert_allclose(Q, Q64, atol=1e-6 if dtype == np.float32 else 0)


def test_transpose_and_knot_subsample(monkeypatch):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((1000, 7))
    np.testing.assert_array_equal(_basis.transpose(X, rows=64), X.T)
    sw = np.ones(1000)
    base, full, _ = _basis.make_knots(X, sw, 5, 3, "quantile", 0)
    # at most KNOT_SUBSAMPLE rows: the (inverted-cdf) quantiles of all the data
    q = np.quantile(X, [0.25, 0.5, 0.75], axis=0, method="inverted_cdf").T
    np.testing.assert_array_equal(base[:, 1:-1], q)
    np.testing.assert_array_equal(base[:, [0, -1]], np.column_stack([X.min(0), X.max(0)]))
    same = _basis.make_knots(X, sw, 5, 3, "quantile", 1, XT=np.ascontiguousarray(X.T))
    np.testing.assert_array_equal(same[1], full)
    # more rows: a deterministic subsample (same random_state, same knots)
    monkeypatch.setattr(_basis, "KNOT_SUBSAMPLE", 300)
    a = _basis.make_knots(X, sw, 5, 3, "quantile", 0)[0]
    b = _basis.make_knots(X, sw, 5, 3, "quantile", 0, XT=np.ascontiguousarray(X.T))[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, base)
    np.testing.assert_allclose(a, base, atol=0.3)  # quantiles of 300 of 1000 rows


def test_float32_design_matches_float64(monkeypatch):
    # large problems keep the design in float32; the model is the float64 one up to rounding
    from skforensics._csam import _estimator

    X, y, _ = make_additive(600, 12, seed=6)
    ref = CorrentropySparseAdditiveClassifier(lam=0.02).fit(X, y)
    monkeypatch.setattr(_estimator, "_FLOAT32_ENTRIES", 1000)
    f32 = CorrentropySparseAdditiveClassifier(lam=0.02).fit(X, y)
    np.testing.assert_allclose(f32._basis_transform, ref._basis_transform, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(f32.support_, ref.support_)
    np.testing.assert_allclose(f32.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(f32.decision_function(X), ref.decision_function(X), atol=1e-5)


def test_basis_routes_agree(monkeypatch):
    # fitted basis and predictions are the same with the de Boor route
    X, y, _ = make_additive(300, 6, seed=5)
    fast = CorrentropySparseAdditiveClassifier(lam=0.01, random_state=0).fit(X, y)
    basis, margins = fast._basis(X), fast.decision_function(X)
    monkeypatch.setattr(_basis, "use_local_design", lambda degree, n_knots: False)
    slow = CorrentropySparseAdditiveClassifier(lam=0.01, random_state=0).fit(X, y)
    np.testing.assert_allclose(basis, slow._basis(X), atol=1e-10)
    np.testing.assert_allclose(margins, slow.decision_function(X), atol=1e-8)
    np.testing.assert_allclose(fast._basis(X), basis, atol=1e-10)  # both routes, one model


@pytest.mark.parametrize("q, sigma", [(2, 1.0), (1, 1.0), (2, 0.6)])
def test_objective_decreases_monotonically(q, sigma):
    X, _y, y_noisy = make_additive(400, 15, flip=0.1, seed=3)
    clf = CorrentropySparseAdditiveClassifier(lam=0.01, q=q, sigma=sigma).fit(X, y_noisy)
    (curve,) = clf.objective_curve_
    assert curve.size == clf.n_iter_[0] + 1 >= 3
    assert np.all(np.diff(curve) <= 1e-12), np.diff(curve)
    assert curve[0] == pytest.approx(1.0)  # loss of f = 0 is 1 per sample (Eq. 8)
    # the recorded objective is the objective of the returned model
    f = clf.decision_function(X)
    beta = 1 / (1 - np.exp(-1 / sigma**2))
    r = 1 - (2 * y_noisy - 1) * f
    pen = (np.linalg.norm(clf.coef_[0], axis=1) if q == 2 else np.abs(clf.coef_[0]).sum(1)).sum()
    J = beta * np.mean(1 - np.exp(-(r**2) / sigma**2)) + clf.lam * pen
    assert J == pytest.approx(curve[-1], rel=1e-8)


def test_solution_satisfies_optimality_of_last_surrogate():
    # At the returned point, the group-lasso KKT conditions of the last HQ
    # surrogate hold approximately (zero groups: ||grad_j|| <= kappa).
    X, y, _ = make_additive(600, 30, seed=4)
    clf = CorrentropySparseAdditiveClassifier(lam=0.08, tol=1e-6, admm_max_iter=2000).fit(X, y)
    Phi = clf._basis(X).T
    yy = 2.0 * y - 1
    f = clf.decision_function(X)
    v = np.exp(-((yy - f) ** 2)) / len(y)
    g = 2 * Phi.T @ (v * (yy - f))
    beta = 1 / (1 - np.exp(-1))
    kappa = clf.lam / beta
    gn = np.linalg.norm(g.reshape(30, -1), axis=1)
    zero = ~clf.support_
    assert zero.any() and clf.support_[:5].all()
    assert np.all(gn[zero] <= kappa * 1.05)
    assert np.allclose(gn[~zero], kappa, rtol=0.2)


@pytest.mark.parametrize("q", [1, 2])
def test_linear_algebra_routes_agree(monkeypatch, q):
    X, y, _ = make_additive(150, 40, seed=5)  # n < basis dimension: Woodbury
    kw = {"lam": 0.005, "q": q, "tol": 1e-7, "admm_max_iter": 3000, "max_iter": 5}
    kw["solver"] = "admm"
    ref = CorrentropySparseAdditiveClassifier(**kw).fit(X, y)
    assert "woodbury" in ref.solver_routes_[0]
    monkeypatch.setattr(_solver, "_WOODBURY_MAX_N", 0)
    chol = CorrentropySparseAdditiveClassifier(**kw).fit(X, y)
    assert chol.solver_routes_[0] == {"cholesky"}
    monkeypatch.setattr(_solver, "_CHOL_MAX_DIM", 0)
    cg = CorrentropySparseAdditiveClassifier(**kw).fit(X, y)
    assert cg.solver_routes_[0] == {"cg"}
    for other in (chol, cg):
        np.testing.assert_allclose(other.coef_, ref.coef_, atol=1e-4)
        np.testing.assert_allclose(other.decision_function(X), ref.decision_function(X), atol=1e-3)


def _group_lasso_kkt(A, ytil, v, a, kappa, d):
    """Largest violation of the KKT conditions of the weighted group-lasso subproblem."""
    sv = v.sum()
    At = A - (A.T @ v / sv)[None, :]
    g = (2 * At.T @ (v * (ytil - At @ a))).reshape(-1, d)
    a = a.reshape(-1, d)
    nrm = np.linalg.norm(a, axis=1)
    zero = nrm == 0
    viol = np.maximum(np.linalg.norm(g[zero], axis=1) - kappa, 0).tolist()
    viol += np.linalg.norm(g[~zero] - kappa * a[~zero] / nrm[~zero, None], axis=1).tolist()
    return max(viol)


def test_group_lasso_block_is_exact():
    rng = np.random.RandomState(0)
    for _ in range(20):
        B = rng.randn(6, 6)
        H = B @ B.T + 0.01 * np.eye(6)
        evals, evecs = np.linalg.eigh(H)
        b = rng.randn(6) * 3
        kappa = 0.5 * np.linalg.norm(b)
        a = _solver._group_lasso_block(b, evals, evecs, kappa)
        # stationarity: H a - b + kappa a / ||a|| = 0
        np.testing.assert_allclose(H @ a - b + kappa * a / np.linalg.norm(a), 0, atol=1e-8)
        assert _solver._group_lasso_block(b, evals, evecs, 1.01 * np.linalg.norm(b)) is None
    # a group without curvature (constant feature) stays at zero
    assert _solver._group_lasso_block(np.ones(6), np.zeros(6), np.eye(6), 0.1) is None


def test_bcd_and_admm_solve_the_same_subproblem():
    X, y, _ = make_additive(400, 20, seed=7)
    est = CorrentropySparseAdditiveClassifier(lam=0.02).fit(X, y)
    A = np.asfortranarray(est._basis(X).T)
    d = est._n_basis
    yy = 2.0 * y - 1
    rng = np.random.RandomState(1)
    v = np.exp(-((yy - est.decision_function(X) + 0.2 * rng.randn(400)) ** 2)) / 400
    ytil = yy - (v * yy).sum() / v.sum()
    kappa = 0.3 * np.linalg.norm((2 * A.T @ (v * ytil)).reshape(-1, d), axis=1).max()
    zeros = np.zeros(A.shape[1])
    a_bcd, grad, it = _solver.bcd(
        A, ytil, v, kappa=kappa, theta=zeros, n_basis=d, tol=1e-10, max_iter=1000
    )
    a_admm, _, _, _ = _solver.admm(
        A, ytil, v, kappa=kappa, eta=0.1, theta=zeros, mu=zeros, q=2, n_basis=d,
        tol=1e-10, max_iter=20000, ops=_solver_ops(),
    )  # fmt: skip
    assert it < 1000
    assert 0 < np.count_nonzero(a_bcd) < a_bcd.size  # sparse, not trivial
    assert _group_lasso_kkt(A, ytil, v, a_bcd, kappa, d) < 1e-8
    np.testing.assert_allclose(a_bcd, a_admm, atol=1e-7)
    # the returned gradient is eta times the ADMM dual of this solution (warm starts)
    At = A - (A.T @ v / v.sum())[None, :]
    np.testing.assert_allclose(grad, 2 * At.T @ (v * (ytil - At @ a_bcd)), atol=1e-10)
    # warm-started from the solution: a sweep over the non-zero groups, one over all
    _, _, it_warm = _solver.bcd(
        A, ytil, v, kappa=kappa, theta=a_bcd, n_basis=d, tol=1e-8, max_iter=1000
    )
    assert it_warm == 2


def test_bcd_skips_only_updates_bound_to_move_less_than_half_tol(monkeypatch):
    X, y, _ = make_additive(400, 20, seed=8)
    est = CorrentropySparseAdditiveClassifier(lam=0.02).fit(X, y)
    A = np.asfortranarray(est._basis(X).T)
    d = est._n_basis
    yy = 2.0 * y - 1
    v = np.exp(-((yy - est.decision_function(X)) ** 2)) / 400
    ytil = yy - (v * yy).sum() / v.sum()
    kappa = 0.2 * np.linalg.norm((2 * A.T @ (v * ytil)).reshape(-1, d), axis=1).max()
    zeros = np.zeros(A.shape[1])
    calls = []
    exact = _solver._group_lasso_block
    monkeypatch.setattr(
        _solver, "_group_lasso_block", lambda *a, **k: calls.append(1) or exact(*a, **k)
    )
    ref, _, _ = _solver.bcd(
        A, ytil, v, kappa=kappa, theta=zeros, n_basis=d, tol=1e-12, max_iter=5000
    )
    for tol in (1e-3, 1e-5):
        runs = {}
        for skip in (0.0, 0.5):
            monkeypatch.setattr(_solver, "_SKIP_BELOW", skip)
            calls.clear()
            a, _, it = _solver.bcd(
                A, ytil, v, kappa=kappa, theta=zeros, n_basis=d, tol=tol, max_iter=5000
            )
            runs[skip] = (a, len(calls), it)
        (a0, n0, _), (a1, n1, _) = runs[0.0], runs[0.5]
        assert n1 < n0  # exact updates were skipped
        # both stop within the tolerance's reach of the exact solution
        err0, err1 = np.abs(a0 - ref).max(), np.abs(a1 - ref).max()
        assert err1 <= max(10 * err0, 10 * tol), (tol, err0, err1)


def _solver_ops():
    from skforensics._csam._backends import NumpyOps

    return NumpyOps()


def test_bcd_solver_fits_the_admm_model():
    X, y, _ = make_additive(500, 60, seed=8)
    kw = {"lam": 0.05, "tol": 1e-7, "admm_max_iter": 5000, "max_iter": 200}
    admm = CorrentropySparseAdditiveClassifier(solver="admm", **kw).fit(X, y)
    bcd = CorrentropySparseAdditiveClassifier(solver="bcd", **kw).fit(X, y)
    assert admm.solver_routes_[0] <= {"cholesky", "woodbury"}
    assert bcd.solver_routes_[0] == {"bcd"}
    assert admm.n_iter_[0] < 200  # converged: the same HQ steps, each solved to tol
    np.testing.assert_array_equal(bcd.n_iter_, admm.n_iter_)
    np.testing.assert_array_equal(bcd.support_, admm.support_)
    np.testing.assert_allclose(bcd.coef_, admm.coef_, atol=1e-5)
    np.testing.assert_allclose(bcd.objective_curve_[0][-1], admm.objective_curve_[0][-1], rtol=1e-6)
    np.testing.assert_allclose(bcd.predict_proba(X), admm.predict_proba(X), atol=1e-4)


def test_auto_solver_switches_to_bcd_on_large_working_sets():
    X, y, _ = make_additive(300, 40, seed=9)  # 40 features x 6 basis functions
    big = CorrentropySparseAdditiveClassifier(lam=0.002).fit(X, y)
    assert "bcd" in big.solver_routes_[0] and big.support_.sum() >= 16
    small = CorrentropySparseAdditiveClassifier(lam=0.05).fit(X[:, :8], y)
    assert "bcd" not in small.solver_routes_[0]  # at most 48 columns: ADMM


@pytest.mark.parametrize("kw", [{"q": 1}, {"backend": "torch"}])
def test_bcd_solver_needs_numpy_and_group_penalty(kw):
    if "backend" in kw:
        pytest.importorskip("torch")
    X, y, _ = make_additive(100, 6, seed=0)
    with pytest.raises(ValueError, match="solver='bcd' needs the numpy back-end and q=2"):
        CorrentropySparseAdditiveClassifier(lam=0.01, solver="bcd", **kw).fit(X, y)


def test_a_model_saved_before_solver_existed_loads_with_its_default(tmp_path, save_as_before):
    import skforensics

    X, y, _ = make_additive(200, 8, seed=3)
    clf = CorrentropySparseAdditiveClassifier(lam=0.02).fit(X, y)
    state = clf.__getstate__()
    del state["solver"]  # as saved before the parameter was added
    old = CorrentropySparseAdditiveClassifier.__new__(CorrentropySparseAdditiveClassifier)
    old.__setstate__(state)
    assert old.get_params()["solver"] == "auto"
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))
    # the same through a safe model file written without the parameter
    loaded = skforensics.load(save_as_before(clf, "solver", str(tmp_path / "old.skf")))
    assert loaded.get_params()["solver"] == "auto" and "solver=" not in repr(loaded)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_cv_folds_in_parallel_give_the_same_result():
    X, y, _ = make_additive(300, 10, seed=12)
    kw = {"lams": 6, "cv": 3, "random_state": 0}
    one = CorrentropySparseAdditiveClassifierCV(**kw).fit(X, y)
    two = CorrentropySparseAdditiveClassifierCV(n_jobs=2, **kw).fit(X, y)
    np.testing.assert_array_equal(two.scores_, one.scores_)
    np.testing.assert_array_equal(two.support_sizes_, one.support_sizes_)
    np.testing.assert_array_equal(two.path_n_iter_, one.path_n_iter_)
    assert two.lam_ == one.lam_ and two.prob_scale_ == one.prob_scale_
    np.testing.assert_array_equal(two.coef_, one.coef_)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_cv_path_scores_the_cached_test_basis_like_decision_function(monkeypatch, n_classes):
    # the path expands each selected feature of a test fold once and scores every lam
    # from those rows; above _CACHED_TEST_ENTRIES it calls decision_function instead:
    # the same scores and margins
    from skforensics._csam import _cv

    X, y, _ = make_additive(300, 10, seed=13)
    if n_classes == 3:
        y = np.where(X[:, 5] > 0.7, 2, y)
    kw = {"lams": 6, "cv": 3, "random_state": 0}
    cached = CorrentropySparseAdditiveClassifierCV(**kw).fit(X, y)
    monkeypatch.setattr(_cv, "_CACHED_TEST_ENTRIES", 0)
    uncached = CorrentropySparseAdditiveClassifierCV(**kw).fit(X, y)
    np.testing.assert_array_equal(cached.scores_, uncached.scores_)
    assert cached.lam_ == uncached.lam_
    np.testing.assert_allclose(cached.prob_scale_, uncached.prob_scale_, rtol=1e-10)


def test_support_basis_expands_each_selected_feature_once():
    from skforensics._csam import _estimator

    X, y, _ = make_additive(300, 10, seed=13)
    X_test = X[:50] + 0.1
    models = [
        CorrentropySparseAdditiveClassifier(lam=lam, random_state=0).fit(X, y)
        for lam in (0.3, 0.2, 0.1)
    ]
    supports = [np.flatnonzero(m.support_) for m in models]
    assert 0 < supports[0].size < supports[-1].size < 10
    calls = []
    orig = CorrentropySparseAdditiveClassifier._basis

    def counting(self, X, features=None, dtype=np.float64):
        calls.append(np.asarray(features).tolist())
        return orig(self, X, features, dtype)

    # one fitted basis for every model: the knots of the first (same data, same knots)
    for m in models[1:]:
        np.testing.assert_array_equal(m.knots_, models[0].knots_)
    cache = _estimator.SupportBasis(models[0], X_test)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(CorrentropySparseAdditiveClassifier, "_basis", counting)
        margins = [cache.decision(m) for m in models]
    # a feature is expanded the first time a model selects it, never again
    expanded = [f for c in calls for f in c]
    assert sorted(expanded) == sorted(set().union(*map(set, supports)))
    assert len(expanded) == len(set(expanded))
    for m, got in zip(models, margins):
        np.testing.assert_array_equal(got, m.decision_function(X_test))


def test_torch_backend_matches_numpy():
    pytest.importorskip("torch")
    X, y, _ = make_additive(300, 12, seed=6)
    y3 = np.where(X[:, 5] > 0.7, 2, y)  # three classes
    kw = {"lam": 0.01, "tol": 1e-6}
    a = CorrentropySparseAdditiveClassifier(**kw).fit(X, y3)
    b = CorrentropySparseAdditiveClassifier(backend="torch", device="cpu", **kw).fit(X, y3)
    assert b.device_ == "cpu"
    np.testing.assert_allclose(b.coef_, a.coef_, atol=1e-6)
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(b.n_iter_, a.n_iter_)


def test_torch_backend_cv_path_matches_numpy():
    # the path's warm, predicted and restarted starts go through the back-end too
    pytest.importorskip("torch")
    from skforensics import CorrentropySparseAdditiveClassifierCV

    X, y, _ = make_additive(500, 20, seed=28)
    kw = {"lams": 10, "cv": 3, "solver": "admm"}
    a = CorrentropySparseAdditiveClassifierCV(**kw).fit(X, y)
    b = CorrentropySparseAdditiveClassifierCV(backend="torch", **kw).fit(X, y)
    np.testing.assert_allclose(b.scores_, a.scores_, atol=1e-12)
    np.testing.assert_array_equal(b.support_sizes_, a.support_sizes_)
    # lam_max (so the grid) is computed on each back-end: equal up to rounding
    np.testing.assert_allclose(b.lams_, a.lams_, rtol=1e-12)
    assert np.argmax(b.lams_ == b.lam_) == np.argmax(a.lams_ == a.lam_)


@pytest.mark.gpu
def test_cuda_backend_matches_numpy():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    X, y, _ = make_additive(2000, 40, seed=6)
    kw = {"lam": 0.03, "tol": 1e-6}
    a = CorrentropySparseAdditiveClassifier(**kw).fit(X, y)
    b = CorrentropySparseAdditiveClassifier(device="cuda", **kw).fit(X, y)
    assert b.device_.startswith("cuda")
    np.testing.assert_allclose(b.decision_function(X), a.decision_function(X), atol=1e-5)


def test_device_auto_is_stored_and_resolved():
    pytest.importorskip("torch")
    import torch

    X, y, _ = make_additive(100, 6, seed=7)
    clf = CorrentropySparseAdditiveClassifier(device="auto", lam=0.01)
    assert clf.get_params()["device"] == "auto"
    clf.fit(X, y)
    assert clf.device == "auto"
    assert clf.device_ == (
        "cuda" if torch.cuda.is_available() else "cpu"
    ) or clf.device_.startswith("cuda")
    with pytest.raises(ValueError, match="numpy"):
        CorrentropySparseAdditiveClassifier(device="cuda", backend="numpy").fit(X, y)


def test_multiclass_string_labels_and_probabilities():
    X, y, _ = make_additive(400, 8, seed=8)
    labels = np.array(["real", "fake", "other"])
    yc = labels[np.where(X[:, 6] > 1.0, 2, y)]
    clf = CorrentropySparseAdditiveClassifier(lam=0.005).fit(X, yc)
    assert list(clf.classes_) == sorted(labels)
    assert clf.coef_.shape[0] == 3 and clf.intercept_.shape == (3,)
    P = clf.predict_proba(X)
    np.testing.assert_allclose(P.sum(1), 1.0)
    np.testing.assert_array_equal(clf.classes_[P.argmax(1)], clf.predict(X))
    assert clf.score(X, yc) > 0.8
    assert clf.prob_scale_ > 0


def test_platt_calibration_is_sensible():
    X, y, _ = make_additive(1500, 6, seed=9, flip=0.0)
    Xt, yt, _ = make_additive(3000, 6, seed=2)
    clf = CorrentropySparseAdditiveClassifier(lam=0.005).fit(X, y)
    p = clf.predict_proba(Xt)[:, 1]
    np.testing.assert_array_equal(p > 0.5, clf.predict(Xt) == 1)
    # temperature-only Platt scaling: better log-loss than the prior and than the raw sigmoid(f)
    from sklearn.metrics import log_loss

    f = clf.decision_function(Xt)
    assert log_loss(yt, p) < log_loss(yt, np.full_like(p, yt.mean()))
    assert log_loss(yt, p) < log_loss(yt, 1 / (1 + np.exp(-f)))
    # confident predictions are reliable
    for m in (p > 0.8, p < 0.2):
        assert m.sum() > 500 and abs(yt[m].mean() - p[m].mean()) < 0.05


def test_calibration_cv_tames_overfitted_probabilities():
    # 200 samples, 60 features, 10% flipped labels, small lam: the model over-fits and
    # a temperature fitted on its training margins is over-confident on new data
    from sklearn.metrics import log_loss

    X, _, y_noisy = make_additive(200, 60, seed=0, flip=0.1)
    Xt, yt, _ = make_additive(3000, 60, seed=100)
    train_t = CorrentropySparseAdditiveClassifier(lam=1e-3, random_state=0).fit(X, y_noisy)
    oof_t = CorrentropySparseAdditiveClassifier(lam=1e-3, random_state=0, calibration_cv=3).fit(
        X, y_noisy
    )
    # the same model, only the temperature differs
    np.testing.assert_array_equal(oof_t.coef_, train_t.coef_)
    np.testing.assert_array_equal(oof_t.predict(Xt), train_t.predict(Xt))
    assert oof_t.prob_scale_ < train_t.prob_scale_ / 2
    assert log_loss(yt, oof_t.predict_proba(Xt)) < 0.75 * log_loss(yt, train_t.predict_proba(Xt))
    # multi-class with string labels and class weights
    y3 = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1)]
    clf = CorrentropySparseAdditiveClassifier(
        lam=1e-2, calibration_cv=2, class_weight="balanced", random_state=0
    ).fit(X, y3)
    assert clf.predict_proba(X).shape == (200, 3) and np.isfinite(clf.prob_scale_)
    with pytest.raises(ValueError, match="calibration_cv=5 needs at least 5 samples"):
        CorrentropySparseAdditiveClassifier(calibration_cv=5).fit(X[:12], np.r_[[0] * 9, [1] * 3])


def test_robustness_inputs():
    rng = np.random.RandomState(0)
    X, y, _ = make_additive(300, 6, seed=11)
    Xc = np.column_stack([X, np.full(300, 3.0)])  # constant feature
    clf = CorrentropySparseAdditiveClassifier(lam=0.01).fit(Xc, y)
    assert not clf.support_[-1] and np.all(clf.coef_[:, -1] == 0)
    assert clf.score(Xc, y) > 0.8
    # float32 input
    clf32 = CorrentropySparseAdditiveClassifier(lam=0.01).fit(X.astype(np.float32), y)
    assert clf32.decision_function(X.astype(np.float32)).dtype == np.float64
    clf64 = CorrentropySparseAdditiveClassifier(lam=0.01).fit(X, y)
    np.testing.assert_allclose(clf32.decision_function(X), clf64.decision_function(X), atol=1e-3)
    # NaN / inf: clear errors
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CorrentropySparseAdditiveClassifier().fit(Xn, y)
    Xn[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        CorrentropySparseAdditiveClassifier().fit(Xn, y)
    with pytest.raises(ValueError, match="NaN"):
        clf.decision_function(np.where(rng.rand(*Xc.shape) < 0.01, np.nan, Xc))
    # a single class
    with pytest.raises(ValueError, match="two classes"):
        CorrentropySparseAdditiveClassifier().fit(X, np.zeros(300))
    # one sample per class
    one = CorrentropySparseAdditiveClassifier().fit([[0.0, 1.0], [1.0, 0.0]], ["a", "b"])
    assert list(one.predict([[0.0, 1.0], [1.0, 0.0]])) == ["a", "b"]
    # out-of-range inputs at predict time stay finite (constant extrapolation)
    assert np.all(np.isfinite(clf.decision_function(Xc * 100)))
    # invalid hyper-parameters
    with pytest.raises(ValueError, match="q"):
        CorrentropySparseAdditiveClassifier(q=3).fit(X, y)


def test_sample_weight_and_class_weight():
    X, y, _ = make_additive(300, 6, seed=12)
    w = np.random.RandomState(0).randint(0, 3, size=300)
    a = CorrentropySparseAdditiveClassifier(lam=0.01).fit(X, y, sample_weight=w)
    Xr, yr = np.repeat(X, w, axis=0), np.repeat(y, w)
    b = CorrentropySparseAdditiveClassifier(lam=0.01).fit(Xr, yr)
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(X), atol=1e-8)
    bal = CorrentropySparseAdditiveClassifier(lam=0.01, class_weight="balanced")
    keep = (y == 1) | (np.arange(300) % 4 == 0)
    bal.fit(X[keep], y[keep])
    assert bal.score(X, y) > 0.7


def test_grid_search_over_lam_sigma_knots():
    X, y, _ = make_additive(300, 8, seed=13)
    gs = GridSearchCV(
        CorrentropySparseAdditiveClassifier(max_iter=10),
        {"lam": [0.005, 0.05], "sigma": [0.8, 1.0], "n_knots": [4, 6]},
        cv=2,
    )
    gs.fit(X, y)
    assert gs.best_score_ > 0.75
    assert set(gs.best_params_) == {"lam", "sigma", "n_knots"}


def test_verbose_prints_progress(capsys):
    X, y, _ = make_additive(200, 5, seed=14)
    CorrentropySparseAdditiveClassifier(lam=0.01, verbose=True).fit(X, y)
    out = capsys.readouterr().out
    assert "HQ 1:" in out and "objective=" in out and "route=" in out


def test_component_function_display():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    X, y, _ = make_additive(600, 8, seed=15)
    clf = CorrentropySparseAdditiveClassifier(lam=0.03).fit(X, y)
    disp = ComponentFunctionDisplay.from_estimator(clf)  # the selected features
    assert list(disp.features) == list(np.flatnonzero(clf.support_))
    assert disp.lines_.shape == (clf.support_.sum(),)
    # f_1(x) ~ x^2 shape: larger at the edges than in the middle
    i = list(disp.features).index(1)
    vals = disp.component_values[i]
    assert vals[0] > vals[len(vals) // 2] and vals[-1] > vals[len(vals) // 2]
    names = [f"feat{j}" for j in range(8)]
    fig, ax = plt.subplots()
    disp2 = ComponentFunctionDisplay.from_estimator(
        clf, features=["feat0", 2], feature_names=names, ax=ax
    )
    assert disp2.feature_names == ["feat0", "feat2"] and disp2.figure_ is fig
    np.testing.assert_allclose(
        disp2.component_values[0],
        clf.component_functions(np.tile(disp2.grid_values[0][:, None], (1, 8)), [0])[:, 0],
    )
    with pytest.raises(ValueError, match="feature_names"):
        ComponentFunctionDisplay.from_estimator(clf, feature_names=["a"])
    plt.close("all")


# ------------------------------------------------------------- lam="auto" and the CV path
def test_default_lam_scales_with_the_data():
    X, y, _ = make_additive(2000, 200, seed=10)
    clf = CorrentropySparseAdditiveClassifier().fit(X, y)
    assert clf.lam_ == pytest.approx(clf.lam_ratio * clf.lam_max_)
    support = np.flatnonzero(clf.support_)
    assert set(range(5)) <= set(support) and support.size <= 20, support
    # lam_max_ is the KKT threshold at zero: above it nothing enters, just below it a group
    # enters at the first half-quadratic step (the non-convex loss may drop it later)
    above = CorrentropySparseAdditiveClassifier(lam=1.001 * clf.lam_max_).fit(X, y)
    below = CorrentropySparseAdditiveClassifier(lam=0.95 * clf.lam_max_, max_iter=1).fit(X, y)
    assert not above.support_.any() and below.support_.any()
    fixed = CorrentropySparseAdditiveClassifier(lam=5e-4).fit(X, y)
    assert np.isnan(fixed.lam_max_) and fixed.lam_ == 5e-4


def test_cv_path_matches_grid_search():
    from sklearn.model_selection import StratifiedKFold

    from skforensics import CorrentropySparseAdditiveClassifierCV

    X, y, _ = make_additive(600, 12, seed=21)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    cv = CorrentropySparseAdditiveClassifierCV(lams=8, cv=folds, random_state=0).fit(X, y)
    assert cv.lams_.shape == (8,) and np.all(np.diff(cv.lams_) < 0)
    assert cv.lams_[0] == pytest.approx(cv.lam_max_)
    assert cv.lams_[-1] == pytest.approx(cv.lam_max_ * cv.lam_min_ratio)
    assert cv.scores_.shape == cv.support_sizes_.shape == (3, 8)
    assert np.all(cv.support_sizes_[:, 0] == 0)  # lam_max zeroes every group
    assert cv.support_sizes_[:, -1].mean() > cv.support_sizes_[:, 1].mean()
    mean = cv.scores_.mean(axis=0)
    assert cv.lam_ == cv.lams_[np.argmax(mean)] and cv.best_score_ == mean.max()
    # the refitted model is the plain estimator at the chosen lam
    ref = CorrentropySparseAdditiveClassifier(lam=cv.lam_, random_state=0).fit(X, y)
    np.testing.assert_allclose(cv.coef_, ref.coef_, atol=1e-10)
    np.testing.assert_array_equal(cv.predict(X), ref.predict(X))
    # same grid and folds as a grid search: the choice is as good.  (Mid-path scores can be
    # lower than cold fits: a warm start keeps the previous HQ weights, and the loss is
    # not convex; the ends of the path agree.)
    gs = GridSearchCV(
        CorrentropySparseAdditiveClassifier(random_state=0), {"lam": list(cv.lams_)}, cv=folds
    ).fit(X, y)
    gs_mean = gs.cv_results_["mean_test_score"]
    np.testing.assert_allclose(gs_mean[:2], mean[:2], atol=1e-12)
    assert abs(gs_mean[-1] - mean[-1]) < 0.02, (gs_mean, mean)
    assert gs_mean[np.argmax(mean)] >= gs.best_score_ - 0.01, (gs_mean, mean)
    assert cv.best_score_ >= gs.best_score_ - 0.02, (gs_mean, mean)
    assert cv.score(X, y) > 0.85


def test_cv_options():
    from sklearn.exceptions import NotFittedError

    from skforensics import CorrentropySparseAdditiveClassifierCV

    X, y, _ = make_additive(300, 6, seed=22)
    cv = CorrentropySparseAdditiveClassifierCV(
        lams=[0.1, 0.01, 0.05], sigmas=[0.8, 1.2], cv=2, scoring="neg_log_loss"
    ).fit(X, y)
    np.testing.assert_allclose(cv.lams_, [[0.1, 0.05, 0.01]] * 2)
    assert cv.scores_.shape == (2, 2, 3) and np.all(cv.scores_ < 0)
    assert cv.sigma_ in (0.8, 1.2) and cv.lam_ in (0.1, 0.05, 0.01)
    assert cv.predict_proba(X).shape == (300, 2) and cv.prob_scale_ > 0
    path_only = CorrentropySparseAdditiveClassifierCV(lams=3, cv=2, refit=False).fit(X, y)
    assert path_only.scores_.shape == (2, 3)
    with pytest.raises(NotFittedError):
        path_only.predict(X)
    with pytest.raises(ValueError, match="lams"):
        CorrentropySparseAdditiveClassifierCV(lams=[-1.0], cv=2).fit(X, y)
    y3 = np.where(X[:, 5] > 1.0, 2, y)
    multi = CorrentropySparseAdditiveClassifierCV(lams=4, cv=2).fit(X, y3)
    assert multi.coef_.shape[0] == 3 and multi.score(X, y3) > 0.6


def test_strong_rule_keeps_active_groups():
    from skforensics._csam._cv import strong_rule_working_sets

    X, y, _ = make_additive(400, 10, seed=23)
    clf = CorrentropySparseAdditiveClassifier(lam=0.05).fit(X, y)
    from skforensics._csam._estimator import build_design, prepare_fit, solve

    est = CorrentropySparseAdditiveClassifier(lam=0.05)
    data = prepare_fit(est, X, y, None)
    fits = solve(est, build_design(est, data), lam=0.05)
    np.testing.assert_allclose(fits[0].coef.reshape(10, -1), clf.coef_[0], atol=1e-12)
    (ws,) = strong_rule_working_sets(fits, lam_prev=0.05, lam_next=0.04, sigma=1.0)
    assert set(np.flatnonzero(clf.support_)) <= set(ws)
    (ws_far,) = strong_rule_working_sets(fits, lam_prev=0.05, lam_next=0.001, sigma=1.0)
    assert ws_far.size >= ws.size


def _path_problem(n, p, seed):
    # a design and its lam_max, for calls of the solver's fit steps at chosen lams
    from skforensics._csam._estimator import build_design, prepare_fit, solve

    X, y, _ = make_additive(n, p, seed=seed)
    est = CorrentropySparseAdditiveClassifier()
    design = build_design(est, prepare_fit(est, X, y, None))
    lmax = design.lam_max(est, sigma=1.0)

    def fit_at(ratio, **kw):
        return solve(est, design, lam=ratio * lmax, **kw)[0]

    return design, lmax, fit_at


def test_fit_stops_where_the_objective_gradient_meets_the_kkt_conditions():
    # the last KKT check runs at the returned model with its own HQ weights: the gradient
    # norms it stores (the strong rule's input) are those of the objective there
    design, lmax, fit_at = _path_problem(500, 12, seed=24)
    fit = fit_at(0.3)
    f = design.Phi @ fit.coef + fit.intercept
    yy = design.targets[0]  # +-1
    v = design.s * np.exp(-((yy - f) ** 2))
    g = 2.0 * design.Phi.T @ (v * (yy - f))
    gn = np.linalg.norm(g.reshape(12, -1), axis=1)
    np.testing.assert_allclose(fit.gradient_norms, gn, rtol=1e-8)
    np.testing.assert_allclose(fit.margins, f, atol=1e-10)
    kappa = 0.3 * lmax / _solver.correntropy_beta(1.0)
    zero = ~np.any(fit.coef.reshape(12, -1) != 0, axis=1)
    assert zero.any() and (~zero).any()
    assert np.all(gn[zero] <= kappa * (1 + 1e-6) + 1e-12)


def test_a_guessed_start_is_used_only_when_its_objective_is_lower():
    _, _, fit_at = _path_problem(500, 12, seed=25)
    warm = fit_at(0.4)
    plain = fit_at(0.3, warm_start=[warm])
    bad = dataclasses.replace(warm, coef=warm.coef * 50.0)  # a far worse start
    guessed = fit_at(0.3, warm_start=[warm], prediction=[bad])
    np.testing.assert_array_equal(guessed.coef, plain.coef)
    assert guessed.n_iter == plain.n_iter
    # the solution itself as the guess: the fit starts there and stops at once
    exact = fit_at(0.3, warm_start=[warm], prediction=[plain])
    assert exact.objective_curve[0] == pytest.approx(plain.objective_curve[-1], rel=1e-12)
    assert exact.n_iter <= 1 < plain.n_iter


def test_extrapolated_warm_start_is_linear_in_log_lam():
    from skforensics._csam._cv import extrapolated_warm_start

    _, lmax, fit_at = _path_problem(400, 10, seed=26)
    f0, f1 = fit_at(0.4), fit_at(0.2)
    lams = lmax * np.array([0.4, 0.2, 0.1])  # gamma = 1
    (pred,) = extrapolated_warm_start([f1], [f0], lams=lams)
    on = f1.coef != 0
    assert on.any() and (~on).any()
    np.testing.assert_allclose(pred.coef[on], 2 * f1.coef[on] - f0.coef[on])
    assert np.all(pred.coef[~on] == 0)  # a group zero at the last lam is not added
    assert pred.intercept == pytest.approx(2 * f1.intercept - f0.intercept)
    (half,) = extrapolated_warm_start([f1], [f0], lams=lmax * np.array([0.4, 0.2, 0.2 / 2**0.5]))
    np.testing.assert_allclose(half.coef[on], 1.5 * f1.coef[on] - 0.5 * f0.coef[on])
    zero = dataclasses.replace(f0, coef=np.zeros_like(f0.coef))
    assert extrapolated_warm_start([f1], [zero], lams=lams)[0] is f1


def test_restart_at_jumps_starts_from_zero_where_the_support_is_about_to_grow():
    from skforensics._csam._cv import restart_at_jumps

    _, _, fit_at = _path_problem(400, 40, seed=27)
    fit = fit_at(0.5)
    active = np.flatnonzero(np.any(fit.coef.reshape(40, -1) != 0, axis=1))
    others = np.setdiff1d(np.arange(40), active)
    k = 2 * active.size + 10
    assert 0 < active.size and others.size > k
    few = np.union1d(active, others[:k])
    many = np.union1d(active, others[: k + 1])
    assert restart_at_jumps([fit], [few]) == [fit]
    assert restart_at_jumps([fit], [many]) == [None]
    # a fit given None starts from zero: the same model as no warm start at all
    cold = fit_at(0.3, working_sets=[many])
    none = fit_at(0.3, warm_start=[None], working_sets=[many])
    warm = fit_at(0.3, warm_start=[fit], working_sets=[many])
    np.testing.assert_array_equal(cold.coef, none.coef)
    assert warm.objective_curve[0] < none.objective_curve[0]


def test_regularization_path_display():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    from skforensics import CorrentropySparseAdditiveClassifierCV, RegularizationPathDisplay

    X, y, _ = make_additive(300, 6, seed=24)
    cv = CorrentropySparseAdditiveClassifierCV(lams=5, cv=2).fit(X, y)
    disp = RegularizationPathDisplay.from_estimator(cv)
    assert disp.ax_.get_xscale() == "log"
    (line,) = disp.ax_.get_lines()[:1]
    np.testing.assert_allclose(line.get_ydata(), cv.scores_.mean(axis=0))
    np.testing.assert_allclose(
        disp.ax_support_.get_lines()[0].get_ydata(), cv.support_sizes_.mean(axis=0)
    )
    with pytest.raises(ValueError, match="not fitted"):
        RegularizationPathDisplay.from_estimator(CorrentropySparseAdditiveClassifierCV())
    plt.close("all")
