"""Solver of the correntropy sparse additive machine.

Half-quadratic (HQ) outer loop (Eq. 13) around an inner solver on a
KKT-checked working set of groups, for one binary (labels +-1) problem.  The
inner solver of the paper is ADMM (Eqs. 18, 20, 22, stop rule 23), which
forms and factorises the weighted Gram matrix of the working set at every HQ
step (``n m^2`` for ``m`` working-set columns); :func:`bcd` solves the same
weighted group-lasso subproblem by exact block coordinate descent, ``n m``
per sweep, warm-started from the previous HQ step, and is used for large
working sets.  :func:`fit_binary` is the entry point; :func:`lam_max` gives
the smallest penalty for which the all-zero model is stationary.

Every function takes its options as keyword-only arguments (as
``sklearn.linear_model._logistic._logistic_regression_path`` does), and the
arrays through an array back-end ``ops`` (:mod:`._backends`).
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ._backends import blas_limit

__all__ = ["BinaryFit", "admm", "bcd", "correntropy_beta", "fit_binary", "lam_max"]

# Largest working-set dimension solved with a cached Cholesky factor.
_CHOL_MAX_DIM = 4096
# solver="auto" uses block coordinate descent on working sets of at least
# max(_BCD_MIN_DIM, n // _BCD_ROWS_PER_DIM) columns: a sweep costs ~n m, the
# weighted Gram of ADMM ~n m^2.  benchmarks/bench_csam_cv.py ("subproblem"):
# one warm-started subproblem is as fast either way near m = 30 and 2-5x
# faster with BCD at m = 240; the threshold is set higher because whole fits
# with many small-working-set steps ran slightly faster with ADMM
# ("inner_solver": 20000 x 256 at the defaults).
_BCD_MIN_DIM = 96
_BCD_ROWS_PER_DIM = 100
# bcd leaves a non-zero group as it is when its update is bound to move it by less
# than _SKIP_BELOW * tol (the bound: block subgradient norm / smallest eigenvalue).
_SKIP_BELOW = 0.5
# Largest n for which the Woodbury (n x n) route is used when n < dimension.
_WOODBURY_MAX_N = 8192


def correntropy_beta(sigma):
    """``beta = 1 / (1 - exp(-1 / sigma**2))`` of Eq. 8 (loss of ``f = 0`` is 1)."""
    return 1.0 / (1.0 - np.exp(-1.0 / sigma**2))


def _prox(a, k, q, ops, d):
    """Soft-thresholding operator S_k of Eq. 21 applied group-wise."""
    g = a.reshape(-1, d)
    if q == 1:
        out = ops.relu(g - k) - ops.relu(-g - k)
    else:
        nrm = ops.rownorm(g, 2)
        scale = ops.relu(1.0 - k / (nrm + 1e-300))
        out = g * scale[:, None]
    return out.reshape(-1)


def _choose_route(n, m):
    if n < m and n <= _WOODBURY_MAX_N:
        return "woodbury"
    if m <= _CHOL_MAX_DIM:
        return "cholesky"
    return "cg"


def _group_dual_norms(g, q, n_basis, ops):
    """Dual norms of the penalty, per group: l2 for ``q=2``, l-infinity for ``q=1``."""
    return ops.to_numpy(ops.rownorm(g.reshape(-1, n_basis), 2 if q == 2 else 1))


def admm(A, ytil, v, *, kappa, eta, theta, mu, q, n_basis, tol, max_iter, ops, threads=1):
    """ADMM (Eqs. 18, 20, 22, stop rule 23) on a working set.

    Solves ``min_a sum_i v_i (ytil_i - (A~ a)_i)^2 + kappa * sum_j ||a_j||_q``,
    where ``A~`` is ``A`` centred with weights ``v`` (intercept eliminated).
    The matrix of Eq. 18, ``2 A~^T V A~ + eta I``, is fixed during the loop and
    is factorised once (Cholesky or Woodbury) or applied matrix-free (CG).

    Parameters
    ----------
    A : array of shape (n, m)
        Working-set columns of the design.
    ytil : array of shape (n,)
        Targets (centred).
    v : array of shape (n,)
        Non-negative HQ weights.
    kappa : float
        Penalty weight of the surrogate.
    eta : float
        ADMM penalty parameter.
    theta, mu : array of shape (m,)
        Warm start: split variable and scaled dual.
    q : {1, 2}
        Penalty norm.
    n_basis : int
        Group size ``d``.
    tol : float
        ``epsilon`` of Eq. 23.
    max_iter : int
        Maximum number of ADMM iterations.
    ops : NumpyOps or TorchOps
        Array back-end.
    threads : int, default=1
        BLAS threads for very large Gram products.

    Returns
    -------
    theta, mu : array of shape (m,)
        Solution (exactly sparse) and scaled dual.
    n_iter : int
        ADMM iterations run.
    route : {"cholesky", "woodbury", "cg"}
        Linear-algebra route used for Eq. 18.
    """
    n, m = A.shape
    sv = ops.sum(v)
    mv = ops.colsum_w(A, v) / sv  # weighted column means
    route = _choose_route(n, m)
    u = v * ytil
    b0 = 2.0 * (ops.rmatvec(A, u) - mv * ops.sum(u))
    big = ops.name == "numpy" and threads > 1 and n * m * m > 5e10
    if route == "cholesky":
        with blas_limit(threads if big else 1):
            H = 2.0 * (ops.gram_w(A, v) - sv * ops.outer(mv, mv)) + eta * ops.eye(m)
        L = ops.cholesky(H)

        def solve(rhs, x0):
            return ops.cho_solve(L, rhs)
    elif route == "woodbury":
        At = A - mv[None, :]
        lv = ops.sqrt(2.0 * v)
        LA = At * lv[:, None]
        with blas_limit(threads if big else 1):
            M = LA @ LA.T + eta * ops.eye(n)
        L = ops.cholesky(M)

        def solve(rhs, x0):
            return (rhs - LA.T @ ops.cho_solve(L, LA @ rhs)) / eta
    else:
        diag = 2.0 * (ops.sqcolsum_w(A, v) - sv * mv * mv) + eta

        def hmv(x):
            ax = ops.matvec(A, x) - (mv * x).sum()
            w = v * ax
            return 2.0 * (ops.rmatvec(A, w) - mv * ops.sum(w)) + eta * x

        def solve(rhs, x0):  # Jacobi-preconditioned CG, warm-started
            x = x0
            r = rhs - hmv(x)
            z = r / diag
            pdir = z
            rz = (r * z).sum()
            bnorm = float((rhs * rhs).sum()) ** 0.5 + 1e-300
            for _ in range(100):
                if float((r * r).sum()) ** 0.5 <= 1e-8 * bnorm:
                    break
                Ap = hmv(pdir)
                step = rz / (pdir * Ap).sum()
                x = x + step * pdir
                r = r - step * Ap
                z = r / diag
                rz_new = (r * z).sum()
                pdir = z + (rz_new / rz) * pdir
                rz = rz_new
            return x

    thr = kappa / eta
    alpha = theta
    it = 0
    for it in range(1, max_iter + 1):
        alpha_old = alpha
        alpha = solve(b0 + eta * (theta - mu), alpha_old)  # Eq. 18
        theta = _prox(alpha + mu, thr, q, ops, n_basis)  # Eq. 20
        mu = mu + alpha - theta  # Eq. 22
        if ops.absmax(alpha - theta) < tol and ops.absmax(alpha - alpha_old) < tol:  # Eq. 23
            break
    return theta, mu, it, route


def _group_lasso_block(b, evals, evecs, kappa, s0=0.0):
    """``argmin_a 0.5 a^T H a - b^T a + kappa ||a||_2`` with ``H = Q diag(evals) Q^T``.

    Zero when ``||b|| <= kappa``; otherwise ``a = (H + s I)^{-1} b`` where
    ``s = kappa / ||a|| > 0``: the root of the decreasing function
    ``psi(s) = 1 / ||a(s)|| - s / kappa``, nearly linear (as in the
    More-Sorensen trust-region iteration) and bracketed by the bounds that the
    smallest and the largest eigenvalue give.  Newton's method from ``s0``
    (e.g. ``kappa / ||a||`` of the group's current value), safeguarded by
    bisection of the bracket; the ``d`` terms are summed in plain Python,
    faster than numpy calls for a handful of numbers.
    """
    nb = math.sqrt(float(b @ b))
    if nb <= kappa:
        return None
    c = evecs.T @ b
    hi = kappa * float(evals[-1]) / (nb - kappa)
    if not hi > 0.0:  # a group without curvature (constant feature): stays at zero
        return None
    lo = kappa * max(float(evals[0]), 0.0) / (nb - kappa)
    terms = list(zip((c * c).tolist(), evals.tolist()))
    s = s0 if lo < s0 < hi else max(lo, 1e-12 * hi)
    for _ in range(100):
        sq = cube = 0.0
        for c2, ev in terms:
            inv = 1.0 / (ev + s)
            t = c2 * inv * inv
            sq += t
            cube += t * inv
        norm = math.sqrt(sq)
        psi = 1.0 / norm - s / kappa
        if psi > 0.0:
            lo = s
        else:
            hi = s
        dpsi = cube / (norm * sq) - 1.0 / kappa
        step = -psi / dpsi if dpsi < 0.0 else math.inf
        if abs(step) <= 1e-12 * s:  # converged (the bracket may be a rounding error wide)
            break
        s = s + step if lo < s + step < hi else 0.5 * (lo + hi)
        if hi - lo <= 1e-12 * hi:
            break
    return evecs @ (c / (evals + s))


def bcd(A, ytil, v, *, kappa, theta, n_basis, tol, max_iter):
    """Exact block coordinate descent on the ADMM subproblem of one HQ step (``q=2``).

    Solves the same problem as :func:`admm`, ``min_a sum_i v_i (ytil_i -
    (A~ a)_i)^2 + kappa sum_j ||a_j||_2`` (``A~`` centred with weights
    ``v``), without forming the weighted Gram matrix of the working set:
    only its ``d x d`` diagonal blocks (eigen-decomposed once), the residual
    kept up to date, and one exact group update (:func:`_group_lasso_block`)
    per group and sweep.  Sweeps alternate between the non-zero groups and
    all groups, as glmnet does; the loop stops after a sweep over all groups
    in which no coefficient moved by ``tol`` or more.  A non-zero group whose
    exact update is bound to move it by less than ``tol / 2`` (the norm of
    its block subgradient over the block's smallest eigenvalue, the modulus
    of strong convexity) is left as it is, which saves the exact update of
    most groups in the last sweeps.

    Parameters
    ----------
    A : ndarray of shape (n, m)
        Working-set columns of the design (numpy, float64; Fortran order
        makes the group slices contiguous).
    ytil : ndarray of shape (n,)
        Targets, centred with the weights ``v``.
    v : ndarray of shape (n,)
        Non-negative HQ weights.
    kappa : float
        Penalty weight of the surrogate.
    theta : ndarray of shape (m,)
        Warm start.
    n_basis : int
        Group size ``d``.
    tol : float
        Largest coefficient change of a final sweep.
    max_iter : int
        Maximum number of sweeps.

    Returns
    -------
    theta : ndarray of shape (m,)
        Solution (exactly sparse).
    grad : ndarray of shape (m,)
        ``2 A~^T V (ytil - A~ theta)`` at the solution (the ADMM scaled dual
        times ``eta``, for a warm start of :func:`admm`).
    n_iter : int
        Sweeps run.
    """
    n, m = A.shape
    d = n_basis
    G = m // d
    sv = float(v.sum())
    mv = (A.T @ v) / sv
    H = np.empty((G, d, d))
    for j in range(G):
        Aj = A[:, j * d : (j + 1) * d]
        H[j] = Aj.T @ (Aj * v[:, None])
    M = mv.reshape(G, d)
    H -= sv * (M[:, :, None] * M[:, None, :])
    H *= 2.0
    evals, evecs = np.linalg.eigh(H)
    lmin = evals[:, 0].tolist()
    a = np.array(theta, dtype=np.float64).reshape(G, d)
    flat = a.reshape(-1)
    w = v * (ytil - (A @ flat - float(mv @ flat)))  # weighted residual, sums to zero
    active = np.flatnonzero(np.any(a != 0, axis=1))
    everything = active.size == 0  # start on the non-zero groups, as glmnet does
    it = 0
    for it in range(1, max_iter + 1):
        moved = 0.0
        for j in range(G) if everything else active:
            sl = slice(j * d, (j + 1) * d)
            Aj = A[:, sl]
            aj = a[j]
            g = Aj.T @ w
            g *= 2.0
            norm_aj = math.sqrt(float(aj @ aj))
            if norm_aj == 0.0:
                new = _group_lasso_block(g, evals[j], evecs[j], kappa)
                if new is None:
                    continue
            else:
                # the block objective is lmin-strongly convex: its minimiser lies within
                # ||subgradient at aj|| / lmin of aj; skip the exact update when that is tiny
                r = aj * (kappa / norm_aj) - g
                if math.sqrt(float(r @ r)) < _SKIP_BELOW * tol * lmin[j]:
                    continue
                new = _group_lasso_block(H[j] @ aj + g, evals[j], evecs[j], kappa, kappa / norm_aj)
            if new is None:
                delta = -aj
                a[j] = 0.0
            else:
                delta = new - aj
                a[j] = new
            u = Aj @ delta
            u -= float(mv[sl] @ delta)  # keeps sum(w) = 0
            u *= v
            w -= u
            moved = max(moved, float(np.abs(delta).max()))
        if moved < tol:
            if everything:
                break
            everything = True
        else:
            if everything:
                active = np.flatnonzero(np.any(a != 0, axis=1))
            everything = False
    return a.reshape(-1), 2.0 * (A.T @ w), it


def _objective(f, y, s, coef, *, lam, sigma, beta, q, n_basis, ops):
    loss = beta * ops.sum(s * (1.0 - ops.exp(-((y - f) ** 2) / sigma**2)))
    pen = ops.sum(ops.rowsum_abs(coef.reshape(-1, n_basis), q))
    return loss + lam * pen


def lam_max(Phi, y, s, *, n_basis, sigma, q, ops):
    """Smallest ``lam`` for which the all-zero model is stationary (KKT at zero).

    At ``alpha = 0`` and the intercept ``c = sum_i s_i y_i`` (the one of the
    solver's first half-quadratic step from zero), the gradient of the C-loss
    term with respect to group ``j`` is ``-(beta / sigma**2) g_j`` with
    ``g = 2 Phi^T (v * (y - c))`` and HQ weights
    ``v = s * exp(-(y - c)**2 / sigma**2)``; the KKT condition holds at zero
    iff ``lam >= (beta / sigma**2) ||g_j||_*`` for every group, with ``||.||_*``
    the dual norm of the penalty (l2 for ``q=2``, l-infinity for ``q=1``), as
    glmnet's ``lambda_max``.  (The intercept-only fixed point of the
    non-convex loss is not used: with unequal classes it drifts towards
    predicting the majority class everywhere.)

    Parameters
    ----------
    Phi : array of shape (n, D)
        Design (basis) matrix.
    y : array of shape (n,)
        Labels in {-1, +1}.
    s : array of shape (n,)
        Normalised sample weights (sum to one).
    n_basis : int
        Group size ``d``.
    sigma : float
        Kernel width.
    q : {1, 2}
        Penalty norm.
    ops : NumpyOps or TorchOps
        Array back-end.

    Returns
    -------
    lam_max : float
    """
    c = ops.sum(s * y)
    v = s * ops.exp(-((y - c) ** 2) / sigma**2)
    g = 2.0 * ops.rmatvec(Phi, v * (y - c))
    gn = _group_dual_norms(g, q, n_basis, ops)
    return float(correntropy_beta(sigma) / sigma**2 * (gn.max() if gn.size else 0.0))


@dataclass
class BinaryFit:
    """Result of :func:`fit_binary` (numpy arrays)."""

    coef: np.ndarray  # (D,)
    intercept: float
    n_iter: int
    objective_curve: np.ndarray
    routes: list
    margins: np.ndarray  # training margins f (n,)
    dual: np.ndarray = field(repr=False)  # ADMM scaled dual mu (D,), for warm starts
    gradient_norms: np.ndarray = field(repr=False)  # dual norms of the last KKT gradient (G,)
    lam: float = float("nan")


def fit_binary(
    Phi,
    y,
    s,
    *,
    n_basis,
    lam,
    sigma,
    q,
    eta,
    tol,
    max_iter,
    admm_max_iter,
    ops,
    solver="auto",
    threads=1,
    coef_init=None,
    intercept_init=0.0,
    dual_init=None,
    coef_guess=None,
    intercept_guess=0.0,
    working_set=None,
    verbose=0,
    label="",
):
    """Fit one binary (labels +-1) correntropy sparse additive machine.

    Parameters
    ----------
    Phi : array of shape (n, D)
        Design (basis) matrix, ``D = G * n_basis``.
    y : array of shape (n,)
        Labels in {-1, +1}.
    s : array of shape (n,)
        Normalised sample weights (sum to one).
    n_basis : int
        Group size ``d``.
    lam, sigma, q, eta, tol, max_iter, admm_max_iter
        As in :class:`CorrentropySparseAdditiveClassifier`.
    ops : NumpyOps or TorchOps
        Array back-end.
    solver : {"auto", "admm", "bcd"}, default="auto"
        Inner solver of every HQ step: :func:`admm`, :func:`bcd` (numpy,
        ``q=2``), or ``"auto"``: :func:`bcd` for working sets of at least
        ``max(_BCD_MIN_DIM, n // _BCD_ROWS_PER_DIM)`` columns when it applies,
        :func:`admm` otherwise.
    threads : int, default=1
        BLAS threads for very large Gram products.
    coef_init, intercept_init, dual_init : default=None, 0.0, None
        Warm start (numpy): coefficients, intercept and ADMM dual, e.g. the
        solution at the previous ``lam`` of a regularisation path.
    coef_guess, intercept_guess : default=None, 0.0
        Another start (numpy), e.g. predicted from the last two solutions of
        a path: the fit starts there instead of at ``coef_init`` when its
        objective is lower.
    working_set : array of int, default=None
        Groups to put in the first working set (e.g. screened by a strong
        rule); the KKT check adds any group it missed.
    verbose : int, default=0
        Print one line per HQ step.
    label : str, default=""
        Appended to the verbose prefix.

    Returns
    -------
    result : BinaryFit
    """
    n, D = Phi.shape
    d = n_basis
    G = D // d
    can_bcd = ops.name == "numpy" and q == 2
    bcd_min_dim = max(_BCD_MIN_DIM, n // _BCD_ROWS_PER_DIM)
    if solver == "bcd" and not can_bcd:
        raise ValueError(
            "solver='bcd' needs the numpy back-end and q=2 (the group penalty); "
            f"got backend {ops.name!r}, q={q}. Use solver='admm' or 'auto'."
        )
    beta = correntropy_beta(sigma)
    kappa = lam * sigma**2 / beta  # penalty weight of the surrogate (Eq. 15)
    objective = dict(lam=lam, sigma=sigma, beta=beta, q=q, n_basis=d, ops=ops)

    def margins(coef_np, c):
        # Phi @ coef + c for a numpy start: from its non-zero columns when it is sparse
        nz = np.flatnonzero(coef_np)
        if 4 * nz.size < D:
            return ops.matvec(ops.take_cols(Phi, nz), ops.asarray(coef_np[nz])) + c
        return ops.matvec(Phi, ops.asarray(coef_np)) + c

    if coef_init is None:
        coef, c = ops.zeros(D), 0.0
        f = ops.zeros(n) + c
    else:
        coef, c = ops.asarray(coef_init), float(intercept_init)
        f = margins(np.asarray(coef_init), c)
    mu = ops.zeros(D) if dual_init is None else ops.asarray(dual_init)
    J = _objective(f, y, s, coef, **objective)
    if coef_guess is not None:
        coef_g, c_g = ops.asarray(coef_guess), float(intercept_guess)
        f_g = margins(np.asarray(coef_guess), c_g)
        J_g = _objective(f_g, y, s, coef_g, **objective)
        if J_g < J:
            coef, c, f, J = coef_g, c_g, f_g, J_g
    curve = [J]
    ws = np.zeros(0, dtype=np.intp) if working_set is None else np.unique(working_set)
    routes, admm_iters = [], []
    A, A_cols = None, None
    n_iter = 0
    gn = np.zeros(G)
    t0 = time.perf_counter()

    def kkt_violators(v, f, ws):
        # dual norms of the surrogate's gradient (weights v) at margins f, and the groups
        # outside the working set that violate the KKT conditions (most violating first)
        g = 2.0 * ops.rmatvec(Phi, v * (y - f))
        gn = _group_dual_norms(g, q, d, ops)
        gn_out = gn.copy()
        gn_out[ws] = -np.inf
        viol = np.flatnonzero(gn_out > kappa * (1.0 + 1e-6) + 1e-12)
        return gn, viol[np.argsort(-gn_out[viol], kind="stable")[: max(10, ws.size)]]

    # The full KKT check (one pass over Phi) runs whenever the steps restricted to
    # the working set have converged: at the new iterate, with its own HQ weights
    # (the gradient of the objective, up to the factor beta / sigma^2).  The fit
    # stops when that check finds no violator; otherwise the violators join the
    # working set.  A fit from zero, or without a screened working set, also checks
    # on its first step (with that step's weights), in rounds that grow the working set.
    check = coef_init is None or working_set is None
    for t in range(1, max_iter + 1):
        # HQ step (Eq. 13): weights -b_i = exp(-(y_i - f_i)^2 / sigma^2)
        v = s * ops.exp(-((y - f) ** 2) / sigma**2)
        sv = ops.sum(v)
        new_coef, new_mu = coef, mu
        checked = check
        for _ in range(64):  # working-set rounds
            if ws.size:
                cols = (ws[:, None] * d + np.arange(d)[None, :]).ravel()
                if A_cols is None or not np.array_equal(A_cols, cols):
                    # the working-set columns are copied once per working set, not per HQ step
                    A, A_cols = ops.take_cols(Phi, cols), cols
                ybar = ops.sum(v * y) / sv
                if solver == "bcd" or (can_bcd and solver == "auto" and cols.size >= bcd_min_dim):
                    th, grad, k = bcd(
                        A,
                        y - ybar,
                        v,
                        kappa=kappa,
                        theta=coef[cols],
                        n_basis=d,
                        tol=tol,
                        max_iter=admm_max_iter,
                    )
                    mw, route = grad / eta, "bcd"  # the ADMM dual at this solution
                else:
                    th, mw, k, route = admm(
                        A,
                        y - ybar,
                        v,
                        kappa=kappa,
                        eta=eta,
                        theta=coef[cols],
                        mu=mu[cols],
                        q=q,
                        n_basis=d,
                        tol=tol,
                        max_iter=admm_max_iter,
                        ops=ops,
                        threads=threads,
                    )
                routes.append(route)
                admm_iters.append(k)
                new_coef = ops.zeros(D)
                new_coef[cols] = th
                new_mu = ops.zeros(D)
                new_mu[cols] = mw
                fa = ops.matvec(A, th)
                c_new = ops.sum(v * (y - fa)) / sv
                f_new = fa + c_new
            else:
                c_new = ops.sum(v * y) / sv
                f_new = ops.zeros(n) + c_new
            if not checked:  # a step restricted to the working set (still a majoriser step)
                break
            # KKT check of the groups outside the working set (one pass over Phi)
            gn, add = kkt_violators(v, f_new, ws)
            if add.size == 0:
                break
            ws = np.sort(np.concatenate([ws, add]))
        J_new = _objective(f_new, y, s, new_coef, **objective)
        if J_new > J + 1e-12 * max(1.0, abs(J)):
            # the inner solve did not decrease the majoriser: keep the previous iterate
            if verbose:
                print(f"[CSAM{label}] HQ {t}: no decrease ({J_new:.6g} > {J:.6g}), stop")
            break
        n_iter = t
        coef, mu, c, f = new_coef, new_mu, c_new, f_new
        decrease = J - J_new
        J = J_new
        curve.append(J)
        if verbose:
            nsel = int(np.sum(ops.to_numpy(ops.rownorm(coef.reshape(G, d), 2)) > 0))
            print(
                f"[CSAM{label}] HQ {t}: objective={J:.6g} support={nsel} "
                f"working_set={ws.size} admm_iter={admm_iters[-1] if admm_iters else 0} "
                f"route={routes[-1] if routes else '-'} ({time.perf_counter() - t0:.2f}s)"
            )
        check = False
        if decrease <= tol:  # Algorithm 1, step 4
            # converged on the working set: check the KKT conditions here
            gn, add = kkt_violators(s * ops.exp(-((y - f) ** 2) / sigma**2), f, ws)
            if add.size == 0:
                break
            ws = np.sort(np.concatenate([ws, add]))
    return BinaryFit(
        coef=ops.to_numpy(coef),
        intercept=float(c),
        n_iter=n_iter,
        objective_curve=np.asarray(curve),
        routes=routes,
        margins=ops.to_numpy(f),
        dual=ops.to_numpy(mu),
        gradient_norms=gn,
        lam=lam,
    )
