"""Correntropy sparse additive machine (the AFR head of HRR).

Implements the "Additive Feature Refinement" classifier of HRR
(Hierarchical Retrospection Refinement, section III-B and the appendix,
Eqs. 5-23 and Algorithm 1) as a scikit-learn estimator:

* every input feature ``x_j`` is expanded into a centred, orthonormalised
  B-spline basis ``Psi_j`` (group ``j``), so that ``f(x) = c + sum_j Psi_j(x_j) alpha_j``;
* the loss is the correntropy-induced loss (Eq. 8)
  ``beta * (1 - exp(-(1 - y f(x))**2 / sigma**2))`` with
  ``beta = 1 / (1 - exp(-1 / sigma**2))``;
* the penalty is ``lam * sum_j ||alpha_j||_q`` with ``q`` in ``{1, 2}`` (Eq. 6, ``w_j = 1``);
* the solver is the half-quadratic (HQ) outer loop (Eq. 13) around the ADMM
  inner loop (Eqs. 18, 20, 22) with the stopping rules of Eq. 23 and
  Algorithm 1.

See ``docs/user_guide/csam.rst`` for the equations, our reading of the paper
and the deviations (intercept, 1/n scaling, zero initialisation, working sets).
"""

import numbers
import os
import time
from contextlib import nullcontext as _nullcontext

import numpy as np
from scipy import linalg as sla
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

__all__ = ["ComponentFunctionDisplay", "CorrentropySparseAdditiveClassifier"]

# Above this many stored entries the expanded basis is kept in float32.
_FLOAT32_ENTRIES = 50_000_000
# Rows used to place quantile knots (sub-sampled with ``random_state`` above it).
_KNOT_SUBSAMPLE = 20_000
# Largest working-set dimension solved with a cached Cholesky factor.
_CHOL_MAX_DIM = 4096
# Largest n for which the Woodbury (n x n) route is used when n < dimension.
_WOODBURY_MAX_N = 8192


# --------------------------------------------------------------------------
# B-spline basis
# --------------------------------------------------------------------------
def _columns_T(X, cols):
    """``X[:, cols].T`` as a C-contiguous array.

    Copying the columns first and transposing the small block is several
    times faster than a strided transpose of full-height columns.
    """
    return np.ascontiguousarray(np.ascontiguousarray(X[:, cols]).T)


def _weighted_quantiles(X, sw, qs):
    """Per-column ``inverted_cdf`` quantiles (p, len(qs)): weight/repetition consistent.

    The ``q``-quantile is the smallest value whose cumulative weight reaches
    ``q`` times the total weight (numpy's ``method="inverted_cdf"``).
    """
    XT = np.concatenate([_columns_T(X, slice(a, a + 32)) for a in range(0, X.shape[1], 32)])
    n = XT.shape[1]
    qs = np.asarray(qs, dtype=float)
    if np.all(sw == sw[0]):  # fast path: a (SIMD) sort, no weights
        srt = np.sort(XT, axis=1)
        k = np.clip(np.ceil(qs * n - 1e-9 * n).astype(int) - 1, 0, n - 1)
        return srt[:, k]
    order = np.argsort(XT, axis=1, kind="stable")
    srt = np.take_along_axis(XT, order, axis=1)
    cw = np.cumsum(sw[order], axis=1)
    k = (cw[:, None, :] < qs[None, :, None] * cw[:, -1:, None]).sum(axis=2)
    return np.take_along_axis(srt, np.minimum(k, n - 1), axis=1)


def _make_knots(X, sw, n_knots, degree, knots, random_state):
    """Base knots (p, n_knots) and extended knot vectors (p, n_knots + 2*degree).

    Features whose quantile knots are not strictly increasing fall back to
    uniform knots between min and max; constant features get a dummy unit
    interval and are flagged (their group is identically zero).
    """
    pos = sw > 0
    Xp, swp = (X, sw) if pos.all() else (X[pos], sw[pos])
    lo, hi = Xp.min(axis=0), Xp.max(axis=0)
    constant = ~(hi > lo)
    hi = np.where(constant, lo + 1.0, hi)
    uniform = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, n_knots)[None, :]
    if knots == "quantile":
        if Xp.shape[0] > _KNOT_SUBSAMPLE:
            rng = check_random_state(random_state)
            idx = rng.choice(Xp.shape[0], _KNOT_SUBSAMPLE, replace=False)
            Xp, swp = Xp[idx], swp[idx]
        base = _weighted_quantiles(Xp, swp, np.linspace(0.0, 1.0, n_knots))
        base[:, 0], base[:, -1] = lo, hi
        ok = np.all(np.diff(base, axis=1) > 1e-12 * (1.0 + np.abs(base[:, 1:])), axis=1)
        base = np.where(ok[:, None], base, uniform)
    else:
        base = uniform
    d0 = base[:, 1] - base[:, 0]
    d1 = base[:, -1] - base[:, -2]
    steps = np.arange(1, degree + 1, dtype=float)
    left = base[:, :1] - d0[:, None] * steps[::-1][None, :]
    right = base[:, -1:] + d1[:, None] * steps[None, :]
    full = np.concatenate([left, base, right], axis=1)
    return base, full, constant


def _bspline_dense(xT, t, degree, n_knots, dtype=np.float64):
    """Dense B-spline design ``(p, n_knots + degree - 1, n)`` (vectorised de Boor).

    ``xT`` is (p, n) (feature-major), ``t`` the extended knots (p, n_knots + 2*degree).
    Inputs are clipped to the boundary knots (constant extrapolation: the
    basis stays bounded outside the training range).
    """
    p, n = xT.shape
    d = n_knots + degree - 1
    t = t.astype(dtype)
    xb = np.clip(xT.astype(dtype), t[:, degree:degree + 1], t[:, degree + n_knots - 1:degree + n_knots])
    # knot span s (index in t) with t[s] <= x < t[s+1], s in [degree, degree + K - 2]
    span = np.full((p, n), degree, dtype=np.intp)
    for k in range(1, n_knots - 1):
        span += xb >= t[:, degree + k:degree + k + 1]

    def tk(off):
        return np.take_along_axis(t, span + off, axis=1)

    N = [np.ones((p, n), dtype=dtype)]
    left = [None] * (degree + 1)
    right = [None] * (degree + 1)
    for j in range(1, degree + 1):
        left[j] = xb - tk(1 - j)
        right[j] = tk(j) - xb
        saved = np.zeros((p, n), dtype=dtype)
        newN = []
        for r in range(j):
            temp = N[r] / (right[r + 1] + left[j - r])
            newN.append(saved + right[r + 1] * temp)
            saved = left[j - r] * temp
        newN.append(saved)
        N = newN
    B = np.zeros((p, d, n), dtype=dtype)
    start = (span - degree)[:, None, :]  # first non-zero basis index
    for r in range(degree + 1):
        np.put_along_axis(B, start + r, N[r][:, None, :], axis=1)
    return B


def _span_coefficients(t, degree, n_knots):
    """Local polynomial coefficients of every B-spline on every knot span.

    On span ``s`` (between base knots ``s`` and ``s + 1``) each B-spline is a
    polynomial of degree ``degree`` in the local coordinate
    ``u = (x - knot_s) / (knot_{s+1} - knot_s)`` in ``[0, 1]``.  The
    coefficients are found by evaluating the basis (de Boor) at ``degree + 1``
    interior nodes of every span and solving the small Vandermonde system, so
    they are exact to rounding.  Returns ``(p, n_knots + degree - 1,
    (n_knots - 1) * (degree + 1))`` with column ``s * (degree + 1) + r``
    multiplying ``u**r`` on span ``s``.
    """
    p = t.shape[0]
    ns, k1 = n_knots - 1, degree + 1
    base = t[:, degree:degree + n_knots]
    nodes = (np.arange(k1) + 0.5) / k1  # interior: no ambiguity at span ends
    x = base[:, :ns, None] + np.diff(base, axis=1)[:, :, None] * nodes[None, None, :]
    B = _bspline_dense(x.reshape(p, ns * k1), t, degree, n_knots)  # (p, d0, ns * k1)
    vinv = np.linalg.inv(nodes[:, None] ** np.arange(k1)[None, :])  # (node, power)^-1
    coef = np.einsum("rk,pbsk->pbsr", vinv, B.reshape(p, -1, ns, k1))
    return coef.reshape(p, -1, ns * k1)


def _local_design(xT, t, degree, n_knots, dtype=np.float64):
    """Span-local monomials ``(p, (n_knots - 1) * (degree + 1), n)``.

    Row ``s * (degree + 1) + r`` holds ``u**r`` for the samples whose knot span
    is ``s`` and zero elsewhere, so that the B-spline design is
    ``_span_coefficients(t) @ _local_design(xT, t)``: a small dense product
    instead of de Boor's recursion with its gathers and scatters (about three
    times faster for cubic splines with a handful of knots).  Inputs are
    clipped to the boundary knots, as in :func:`_bspline_dense`.
    """
    p, n = xT.shape
    ns, k1 = n_knots - 1, degree + 1
    base = t[:, degree:degree + n_knots].astype(dtype)
    xb = np.clip(xT.astype(dtype, copy=False), base[:, :1], base[:, -1:])
    span = np.zeros((p, n), dtype=np.intp)
    for k in range(1, ns):
        span += xb >= base[:, k:k + 1]
    flat = span + (np.arange(p) * ns)[:, None]
    inv_h = (1.0 / np.diff(base, axis=1)).ravel()
    u = (xb - np.take(base[:, :ns].ravel(), flat)) * np.take(inv_h, flat)
    powers = [None, u]
    for r in range(2, k1):
        powers.append(powers[-1] * u)
    Q = np.empty((p, ns * k1, n), dtype=dtype)
    for s in range(ns):
        mask = span == s
        np.copyto(Q[:, s * k1], mask)
        for r in range(1, k1):
            np.multiply(powers[r], mask, out=Q[:, s * k1 + r])
    return Q


def _use_local_design(degree, n_knots):
    # the local design has (n_knots - 1) * (degree + 1) rows: worth it while small
    return degree <= 5 and (n_knots - 1) * (degree + 1) <= 32


def _feature_chunks(p, n, d):
    step = max(1, int(3_000_000 // max(n * d, 1)))
    for a in range(0, p, step):
        yield slice(a, min(p, a + step))


# --------------------------------------------------------------------------
# array back-ends (numpy on CPU, torch on CPU/CUDA)
# --------------------------------------------------------------------------
class _NumpyOps:
    name = "numpy"

    def __init__(self, dtype=np.float64):
        self.dtype = dtype

    def asarray(self, a, dtype=None):
        return np.asarray(a, dtype=dtype or np.float64)

    def to_numpy(self, a):
        return np.asarray(a, dtype=np.float64)

    def zeros(self, n):
        return np.zeros(n)

    exp = staticmethod(np.exp)
    sqrt = staticmethod(np.sqrt)

    @staticmethod
    def relu(a):
        return np.maximum(a, 0.0)

    @staticmethod
    def absmax(a):
        return float(np.max(np.abs(a))) if a.size else 0.0

    @staticmethod
    def sum(a):
        return float(np.sum(a))

    @staticmethod
    def rownorm(a, q):
        return np.linalg.norm(a, axis=1) if q == 2 else np.max(np.abs(a), axis=1)

    @staticmethod
    def rowsum_abs(a, q):
        return np.linalg.norm(a, axis=1) if q == 2 else np.sum(np.abs(a), axis=1)

    @staticmethod
    def matvec(A, x):
        return (A @ x.astype(A.dtype, copy=False)).astype(np.float64, copy=False)

    @staticmethod
    def rmatvec(A, u):
        return (A.T @ u.astype(A.dtype, copy=False)).astype(np.float64, copy=False)

    @staticmethod
    def take_cols(A, cols):
        # A is usually the Fortran-ordered view Phi = PhiT.T: gather rows of PhiT
        return np.asarray(A.T[cols], dtype=np.float64).T

    @staticmethod
    def gram_w(A, v):
        # v >= 0: B^T B with B = sqrt(v) A lets BLAS use a symmetric rank-k update
        B = A * np.sqrt(v)[:, None]
        return B.T @ B

    @staticmethod
    def eye(m):
        return np.eye(m)

    @staticmethod
    def cholesky(H):
        return sla.cho_factor(H, lower=True, check_finite=False)

    @staticmethod
    def cho_solve(L, b):
        return sla.cho_solve(L, b, check_finite=False)

    @staticmethod
    def outer(a, b):
        return np.outer(a, b)

    @staticmethod
    def colsum_w(A, v):
        return A.T @ v

    @staticmethod
    def sqcolsum_w(A, v):
        return (A * A).T @ v


class _TorchOps:
    name = "torch"

    def __init__(self, device):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.dtype = torch.float64

    def asarray(self, a, dtype=None):
        t = self.torch
        return t.as_tensor(np.asarray(a), dtype=dtype or self.dtype, device=self.device)

    def to_numpy(self, a):
        return a.detach().cpu().numpy().astype(np.float64)

    def zeros(self, n):
        return self.torch.zeros(n, dtype=self.dtype, device=self.device)

    def exp(self, a):
        return self.torch.exp(a)

    def sqrt(self, a):
        return self.torch.sqrt(a)

    def relu(self, a):
        return self.torch.clamp(a, min=0.0)

    def absmax(self, a):
        return float(a.abs().max()) if a.numel() else 0.0

    def sum(self, a):
        return float(a.sum())

    def rownorm(self, a, q):
        return a.norm(dim=1) if q == 2 else a.abs().amax(dim=1)

    def rowsum_abs(self, a, q):
        return a.norm(dim=1) if q == 2 else a.abs().sum(dim=1)

    def matvec(self, A, x):
        return (A @ x.to(A.dtype)).to(self.dtype)

    def rmatvec(self, A, u):
        return (A.T @ u.to(A.dtype)).to(self.dtype)

    def take_cols(self, A, cols):
        idx = self.torch.as_tensor(cols, device=self.device, dtype=self.torch.long)
        return A.index_select(1, idx).to(self.dtype).contiguous()

    def gram_w(self, A, v):
        return A.T @ (A * v[:, None])

    def eye(self, m):
        return self.torch.eye(m, dtype=self.dtype, device=self.device)

    def cholesky(self, H):
        return self.torch.linalg.cholesky(H)

    def cho_solve(self, L, b):
        return self.torch.cholesky_solve(b[:, None], L)[:, 0]

    def outer(self, a, b):
        return self.torch.outer(a, b)

    def colsum_w(self, A, v):
        return A.T @ v

    def sqcolsum_w(self, A, v):
        return (A * A).T @ v


# --------------------------------------------------------------------------
# solver: half-quadratic outer loop + ADMM inner loop on a working set
# --------------------------------------------------------------------------
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


_CONTROLLER = []


def _controller():
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def _blas_threads():
    """Number of BLAS threads configured for this process (before any limit)."""
    nums = [i.get("num_threads", 1) for i in _controller().info() if i.get("user_api") == "blas"]
    return max(nums) if nums else 1


def _blas_limit(n_threads):
    """Context limiting BLAS threads.

    Small dense solves are much faster single-threaded (multi-threaded
    OpenBLAS on small matrices thrashes, badly so on a busy machine); only
    very large Gram products and factorisations use the configured threads.
    """
    return _controller().limit(limits=max(1, int(n_threads)), user_api="blas")


def _choose_route(n, m):
    if n < m and n <= _WOODBURY_MAX_N:
        return "woodbury"
    if m <= _CHOL_MAX_DIM:
        return "cholesky"
    return "cg"


def _admm(A, ytil, v, kappa, eta, theta, mu, q, d, tol, max_iter, ops, threads=1):
    """ADMM (Eqs. 18, 20, 22, stop rule 23) for
    ``min_a sum_i v_i (ytil_i - (A~ a)_i)^2 + kappa * sum_j ||a_j||_q``,
    where ``A~`` is ``A`` centred with weights ``v`` (intercept eliminated).

    The matrix of Eq. 18, ``2 A~^T V A~ + eta I``, is fixed during the loop and
    is factorised once (Cholesky or Woodbury) or applied matrix-free (CG).
    """
    n, m = A.shape
    sv = ops.sum(v)
    mv = ops.colsum_w(A, v) / sv  # weighted column means
    route = _choose_route(n, m)
    u = v * ytil
    b0 = 2.0 * (ops.rmatvec(A, u) - mv * ops.sum(u))
    big = ops.name == "numpy" and threads > 1 and n * m * m > 5e10
    if route == "cholesky":
        with _blas_limit(threads if big else 1):
            H = 2.0 * (ops.gram_w(A, v) - sv * ops.outer(mv, mv)) + eta * ops.eye(m)
        L = ops.cholesky(H)

        def solve(rhs, x0):
            return ops.cho_solve(L, rhs)
    elif route == "woodbury":
        At = A - mv[None, :]
        lv = ops.sqrt(2.0 * v)
        LA = At * lv[:, None]
        with _blas_limit(threads if big else 1):
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
        theta = _prox(alpha + mu, thr, q, ops, d)  # Eq. 20
        mu = mu + alpha - theta  # Eq. 22
        if ops.absmax(alpha - theta) < tol and ops.absmax(alpha - alpha_old) < tol:  # Eq. 23
            break
    return theta, mu, it, route


def _objective(f, y, s, coef, lam, sigma, beta, q, d, ops):
    loss = beta * ops.sum(s * (1.0 - ops.exp(-((y - f) ** 2) / sigma**2)))
    pen = ops.sum(ops.rowsum_abs(coef.reshape(-1, d), q))
    return loss + lam * pen


def _fit_binary(Phi, y, s, d, params, ops, verbose=0, label="", threads=1):
    """Fit one binary (labels +-1) correntropy sparse additive machine.

    Returns (coef (D,), intercept, n_iter, objective curve, routes, training margins).
    """
    lam, sigma, q, eta = params["lam"], params["sigma"], params["q"], params["eta"]
    tol, max_iter, admm_max_iter = params["tol"], params["max_iter"], params["admm_max_iter"]
    n, D = Phi.shape
    G = D // d
    beta = 1.0 / (1.0 - np.exp(-1.0 / sigma**2))
    kappa = lam * sigma**2 / beta  # penalty weight of the surrogate (Eq. 15)

    coef = ops.zeros(D)
    mu = ops.zeros(D)
    c = 0.0
    f = ops.zeros(n) + c
    J = _objective(f, y, s, coef, lam, sigma, beta, q, d, ops)
    curve = [J]
    ws = np.zeros(0, dtype=np.intp)  # working set of groups
    routes, admm_iters = [], []
    n_iter = 0
    t0 = time.perf_counter()
    for t in range(1, max_iter + 1):
        # HQ step (Eq. 13): weights -b_i = exp(-(y_i - f_i)^2 / sigma^2)
        v = s * ops.exp(-((y - f) ** 2) / sigma**2)
        sv = ops.sum(v)
        new_coef, new_mu = coef, mu
        for _ in range(64):  # working-set rounds
            if ws.size:
                cols = (ws[:, None] * d + np.arange(d)[None, :]).ravel()
                A = ops.take_cols(Phi, cols)
                ybar = ops.sum(v * y) / sv
                th, mw, k, route = _admm(A, y - ybar, v, kappa, eta, coef[cols], mu[cols],
                                         q, d, tol, admm_max_iter, ops, threads)
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
            # KKT check of the groups outside the working set (one pass over Phi)
            g = 2.0 * ops.rmatvec(Phi, v * (y - f_new))
            gn = ops.to_numpy(ops.rownorm(g.reshape(G, d), 2 if q == 2 else 1))
            gn[ws] = -np.inf
            viol = np.flatnonzero(gn > kappa * (1.0 + 1e-6) + 1e-12)
            if viol.size == 0:
                break
            n_add = max(10, ws.size)
            add = viol[np.argsort(-gn[viol], kind="stable")[:n_add]]
            ws = np.sort(np.concatenate([ws, add]))
        J_new = _objective(f_new, y, s, new_coef, lam, sigma, beta, q, d, ops)
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
            print(f"[CSAM{label}] HQ {t}: objective={J:.6g} support={nsel} "
                  f"working_set={ws.size} admm_iter={admm_iters[-1] if admm_iters else 0} "
                  f"route={routes[-1] if routes else '-'} ({time.perf_counter() - t0:.2f}s)")
        if decrease <= tol:  # Algorithm 1, step 4
            break
    return ops.to_numpy(coef), float(c), n_iter, np.asarray(curve), routes, ops.to_numpy(f)


# --------------------------------------------------------------------------
# estimator
# --------------------------------------------------------------------------
class CorrentropySparseAdditiveClassifier(ClassifierMixin, BaseEstimator):
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
    (feature selection).

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
    lam : float, default=5e-4
        Weight ``lambda`` of the sparsity penalty ``sum_j ||alpha_j||_q``.
    sigma : float, default=1.0
        Kernel width of the correntropy-induced loss.  Small values are more
        robust to outliers (flipped labels) but make the problem less convex.
    q : {1, 2}, default=2
        ``2``: group lasso over the basis coefficients of every feature (sparse
        additive machine); ``1``: plain l1 penalty on all coefficients.
    eta : float, default=0.1
        ADMM penalty parameter ``eta`` (Eqs. 17-20; the paper uses 0.1).
    max_iter : int, default=50
        Maximum number of half-quadratic (outer) iterations.
    admm_max_iter : int, default=200
        Maximum number of ADMM (inner) iterations per half-quadratic step.
    tol : float, default=1e-4
        ``epsilon`` of the stopping rules: ADMM stops when
        ``||alpha - theta||_inf < tol`` and ``||alpha_t+1 - alpha_t||_inf < tol``
        (Eq. 23); the outer loop stops when the objective decreases by at most
        ``tol`` (Algorithm 1, step 4).
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
        Linear-algebra routes used by the ADMM solves of every problem
        (``"cholesky"``, ``"woodbury"`` or ``"cg"``).
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
        "lam": [Interval(numbers.Real, 0, None, closed="left")],
        "sigma": [Interval(numbers.Real, 0, None, closed="neither")],
        "q": [Options(numbers.Integral, {1, 2})],
        "eta": [Interval(numbers.Real, 0, None, closed="neither")],
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
        knots="quantile",
        lam=5e-4,
        sigma=1.0,
        q=2,
        eta=0.1,
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
        self.sigma = sigma
        self.q = q
        self.eta = eta
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
        with _blas_limit(1):  # many tiny batched products: one BLAS thread is much faster
            return self._expand(X, feats, dtype)[0]

    def _expand(self, X, feats, dtype, sw=None, n_threads=1):
        """Evaluate (and, when ``sw`` is given, fit) the basis, one feature block at a time.

        Feature blocks are independent; with ``n_threads > 1`` they are
        processed by a thread pool (numpy releases the GIL in these kernels).
        """
        d0 = self.n_knots + self.degree - 1
        d = d0 - 1
        n = X.shape[0]
        out = np.empty((feats.size, d, n), dtype=dtype)
        if sw is not None:
            s = sw / sw.sum()
            uniform_w = bool(np.all(s == s[0]))
            mean = np.zeros((feats.size, d0))
            transform = np.zeros((feats.size, d0, d))

        local = _use_local_design(self.degree, self.n_knots)
        if local:
            span_coef = _span_coefficients(self.knots_[feats], self.degree, self.n_knots)

        def work(sl):
            f = feats[sl]
            xT = _columns_T(X, f)
            if local:
                Q = _local_design(xT, self.knots_[f], self.degree, self.n_knots, dtype)
                C = span_coef[sl]  # (g, d0, R): B = C @ Q
            if sw is None and local:  # predict: straight from the local design
                m, T = self._basis_mean[f], self._basis_transform[f]
                Tt = np.ascontiguousarray(T.transpose(0, 2, 1))
                o = out[sl]
                np.matmul(np.matmul(Tt, C).astype(dtype), Q, out=o)
                o -= np.matmul(Tt, m[:, :, None]).astype(dtype)
                return
            if local:
                B = np.matmul(C.astype(dtype), Q)  # (g, d0, n)
            else:
                B = _bspline_dense(xT, self.knots_[f], self.degree, self.n_knots, dtype=dtype)
            if sw is not None:
                if uniform_w:
                    M = np.matmul(B, B.transpose(0, 2, 1)).astype(np.float64) * s[0]
                else:
                    M = np.matmul(B * s.astype(dtype)[None, None, :],
                                  B.transpose(0, 2, 1)).astype(np.float64)
                # partition of unity (sum_b B_b = 1): the weighted means are row sums of M
                m = M.sum(axis=2)
                cov = M - m[:, :, None] * m[:, None, :]
                evals, evecs = np.linalg.eigh(cov)  # ascending
                # the centred basis has rank <= d0 - 1: keep the top d0 - 1 directions
                evals, evecs = evals[:, 1:], evecs[:, :, 1:]
                keep = ((evals > 1e-7 * evals[:, -1:]) & (evals > 1e-12)
                        & ~self._constant[f][:, None])
                scale = np.where(keep, 1.0 / np.sqrt(np.where(keep, evals, 1.0)), 0.0)
                T = evecs * scale[:, None, :]
                mean[sl], transform[sl] = m, T
            else:
                m, T = self._basis_mean[f], self._basis_transform[f]
            # Phi_j^T = T_j^T (B_j - m_j): (g, d, d0) @ (g, d0, n) -> (g, d, n)
            Tt = np.ascontiguousarray(T.transpose(0, 2, 1))
            o = out[sl]
            np.matmul(Tt.astype(dtype), B, out=o)
            o -= np.matmul(Tt, m[:, :, None]).astype(dtype)

        rows = d0 + 1 + (span_coef.shape[2] if local else 0)  # arrays alive per feature
        blocks = list(_feature_chunks(feats.size, n, rows))
        if n_threads > 1 and len(blocks) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=n_threads) as pool:
                list(pool.map(work, blocks))
        else:
            for sl in blocks:
                work(sl)
        out = out.reshape(feats.size * d, n)
        if sw is not None:
            return out, mean, transform
        return out, None, None

    def _fit_basis(self, X, sw, random_state, dtype, n_threads=1):
        _, full, constant = _make_knots(X, sw, self.n_knots, self.degree, self.knots,
                                        random_state)
        self.knots_ = full
        self._constant = constant
        self._n_basis = self.n_knots + self.degree - 2
        PhiT, self._basis_mean, self._basis_transform = self._expand(
            X, np.arange(X.shape[1]), dtype, sw=sw, n_threads=n_threads)
        return PhiT

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
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
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=False)
        check_classification_targets(y)
        X = np.asarray(X, dtype=np.float64)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        self.classes_, y_ind = np.unique(y, return_inverse=True)
        present = np.unique(y_ind[sw > 0])
        if self.classes_.size < 2 or present.size < 2:
            raise ValueError(
                "CorrentropySparseAdditiveClassifier needs samples of at least two classes "
                f"(with non-zero sample_weight); got 1 class: {self.classes_[present].tolist()}"
            )
        if self.calibration_cv is not None:  # checked before the (costly) fit
            counts = np.bincount(y_ind[sw > 0], minlength=self.classes_.size)
            if counts.min() < self.calibration_cv:
                raise ValueError(
                    f"calibration_cv={self.calibration_cv} needs at least "
                    f"{self.calibration_cv} samples of every class (with non-zero "
                    f"sample_weight); class {self.classes_[np.argmin(counts)]!r} has "
                    f"{counts.min()}. Use a smaller calibration_cv or None."
                )
        if self.class_weight is not None:
            cw = compute_class_weight(self.class_weight, classes=self.classes_, y=y)
            sw = sw * cw[y_ind]
        random_state = check_random_state(self.random_state)
        ops = self._get_ops()
        n, p = X.shape
        d = self.n_knots + self.degree - 2
        big = n * p * d > _FLOAT32_ENTRIES
        threads = _blas_threads()
        with _blas_limit(1):
            PhiT = self._fit_basis(X, sw, random_state, np.float32 if big else np.float64,
                                   n_threads=min(threads, os.cpu_count() or 1))
        if ops.name == "torch":
            Phi = ops.torch.as_tensor(PhiT, device=ops.device).T
            del PhiT
        else:
            Phi = PhiT.T  # (n, D), Fortran-ordered view
        s = ops.asarray(sw / sw.sum())
        params = {"lam": self.lam, "sigma": self.sigma, "q": int(self.q), "eta": self.eta,
                      "tol": self.tol, "max_iter": self.max_iter, "admm_max_iter": self.admm_max_iter}
        n_problems = 1 if self.classes_.size == 2 else self.classes_.size
        coef = np.zeros((n_problems, p, d))
        intercept = np.zeros(n_problems)
        n_iter = np.zeros(n_problems, dtype=np.int32)
        curves, routes, margins = [], [], []
        for k in range(n_problems):
            pos = 1 if n_problems == 1 else k
            yk = ops.asarray(np.where(y_ind == pos, 1.0, -1.0))
            label = "" if n_problems == 1 else f" class {self.classes_[k]!r}"
            with _blas_limit(1) if ops.name == "numpy" else _nullcontext():
                a, c, it, curve, rts, fk = _fit_binary(
                    Phi, yk, s, d, params, ops, verbose=self.verbose, label=label,
                    threads=threads if ops.name == "numpy" else 1)
            coef[k] = a.reshape(p, d)
            intercept[k] = c
            n_iter[k] = it
            curves.append(curve)
            routes.append(set(rts))
            margins.append(fk)
        self.coef_ = coef
        self.intercept_ = intercept
        self.n_iter_ = n_iter
        self.objective_curve_ = curves
        self.solver_routes_ = routes
        norms = np.linalg.norm(coef, axis=2)
        self.support_ = np.any(norms > 0, axis=0)
        self.feature_importances_ = norms.mean(axis=0)
        # temperature-only Platt scaling on the training (or out-of-fold) margins
        del Phi
        margins = margins[0] if n_problems == 1 else np.column_stack(margins)
        if self.calibration_cv is not None:
            margins = self._out_of_fold_margins(X, y_ind, sw, random_state)
        self.prob_scale_ = self._fit_temperature(margins, y_ind, sw)
        return self

    def _out_of_fold_margins(self, X, y_ind, sw, random_state):
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold

        k = self.calibration_cv
        # class weights are already in sw; the fold models must not apply them again
        fold_model = clone(self).set_params(calibration_cv=None, class_weight=None, verbose=False,
                                            random_state=random_state.randint(2**31 - 1))
        folds = StratifiedKFold(k, shuffle=True, random_state=random_state.randint(2**31 - 1))
        out = np.zeros((X.shape[0], 1 if self.classes_.size == 2 else self.classes_.size))
        for train, test in folds.split(X, y_ind):
            m = fold_model.fit(X[train], y_ind[train], sample_weight=sw[train])
            out[test] = m.decision_function(X[test]).reshape(test.size, -1)
        return out[:, 0] if out.shape[1] == 1 else out

    def _get_ops(self):
        if self.backend == "numpy" and self.device not in ("cpu", "auto"):
            raise ValueError(f"backend='numpy' runs on the CPU only; got device={self.device!r}")
        if self.device == "cpu":
            self.device_ = "cpu"
        else:
            from ._torch_utils import resolve_device

            self.device_ = str(resolve_device(self.device))
        use_torch = self.backend == "torch" or (self.backend == "auto" and self.device_ != "cpu")
        return _TorchOps(self.device_) if use_torch else _NumpyOps()

    def _fit_temperature(self, margins, y_ind, sw):
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

        res = minimize_scalar(nll, bounds=(np.log(1e-3), np.log(1e3)), method="bounded",
                              options={"xatol": 1e-6})
        return float(np.exp(res.x))

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
        with _blas_limit(1):
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


# --------------------------------------------------------------------------
# display
# --------------------------------------------------------------------------
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
    >>> from skforensics._csam import ComponentFunctionDisplay
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
    def from_estimator(cls, estimator, *, features=None, feature_names=None, class_index=0,
                       grid_resolution=100, ax=None, n_cols=3, line_kw=None):
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
            feature_names = (list(estimator.feature_names_in_)
                             if hasattr(estimator, "feature_names_in_")
                             else [f"x{j}" for j in range(p)])
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
            feats = np.array([feature_names.index(f) if isinstance(f, str) else int(f)
                              for f in features], dtype=int)
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
            fig, axes = plt.subplots(n_rows, n_cols_, squeeze=False,
                                     figsize=(3.2 * n_cols_, 2.6 * n_rows))
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
