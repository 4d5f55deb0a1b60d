"""B-spline basis of the correntropy sparse additive machine.

Every input feature ``x_j`` is expanded into a cubic (``degree``) B-spline
basis with ``n_knots`` knots (:func:`make_knots`), evaluated either by de
Boor's recursion (:func:`bspline_dense`) or, faster, as per-span polynomial
coefficients times span-local monomials (:func:`span_coefficients`,
:func:`local_design`), then centred and orthonormalised with respect to the
weighted training distribution (:func:`expand_basis`).
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "KNOT_SUBSAMPLE",
    "bspline_dense",
    "expand_basis",
    "local_design",
    "local_gram",
    "make_knots",
    "moments_gram",
    "span_coefficients",
    "transpose",
    "use_local_design",
]

# Rows used to place quantile knots (sub-sampled with ``random_state`` above it).
KNOT_SUBSAMPLE = 20_000


def columns_T(X, cols):
    """``X[:, cols].T`` as a C-contiguous array.

    Copying the columns first and transposing the small block is several
    times faster than a strided transpose of full-height columns.
    """
    return np.ascontiguousarray(np.ascontiguousarray(X[:, cols]).T)


def transpose(X, rows=256):
    """``X.T`` as a C-contiguous array, copied in blocks of ``rows`` rows.

    About three times faster than ``np.ascontiguousarray(X.T)`` on tall
    arrays: every block stays in cache while it is transposed.
    """
    n, p = X.shape
    XT = np.empty((p, n), dtype=X.dtype)
    for a in range(0, n, rows):
        XT[:, a : a + rows] = X[a : a + rows].T
    return XT


def weighted_quantiles(XT, sw, qs):
    """Per-row ``inverted_cdf`` quantiles (p, len(qs)) of ``XT`` (p, n): weight/repetition consistent.

    The ``q``-quantile is the smallest value whose cumulative weight reaches
    ``q`` times the total weight (numpy's ``method="inverted_cdf"``).
    """
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


def make_knots(X, sw, n_knots, degree, knots, random_state, XT=None):
    """Base knots (p, n_knots) and extended knot vectors (p, n_knots + 2*degree).

    Features whose quantile knots are not strictly increasing fall back to
    uniform knots between min and max; constant features get a dummy unit
    interval and are flagged (their group is identically zero).  Quantile
    knots are placed on at most :data:`KNOT_SUBSAMPLE` rows (with positive
    weight), drawn without replacement with ``random_state`` when there are
    more.  ``XT``: ``X`` transposed (C-contiguous), when the caller has it.
    """
    pos = sw > 0
    Xp, swp = (X, sw) if pos.all() else (X[pos], sw[pos])
    lo, hi = Xp.min(axis=0), Xp.max(axis=0)
    constant = ~(hi > lo)
    hi = np.where(constant, lo + 1.0, hi)
    uniform = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, n_knots)[None, :]
    if knots == "quantile":
        rows = np.flatnonzero(pos)
        if rows.size > KNOT_SUBSAMPLE:
            rng = check_random_state(random_state)
            rows = rows[rng.choice(rows.size, KNOT_SUBSAMPLE, replace=False)]
        if XT is not None:
            XTp = XT if rows.size == X.shape[0] else XT[:, rows]
        else:
            XTp = transpose(X if rows.size == X.shape[0] else X[rows])
        base = weighted_quantiles(XTp, sw[rows], np.linspace(0.0, 1.0, n_knots))
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


def bspline_dense(xT, t, degree, n_knots, dtype=np.float64):
    """Dense B-spline design ``(p, n_knots + degree - 1, n)`` (vectorised de Boor).

    ``xT`` is (p, n) (feature-major), ``t`` the extended knots (p, n_knots + 2*degree).
    Inputs are clipped to the boundary knots (constant extrapolation: the
    basis stays bounded outside the training range).
    """
    p, n = xT.shape
    d = n_knots + degree - 1
    t = t.astype(dtype)
    xb = np.clip(
        xT.astype(dtype), t[:, degree : degree + 1], t[:, degree + n_knots - 1 : degree + n_knots]
    )
    # knot span s (index in t) with t[s] <= x < t[s+1], s in [degree, degree + K - 2]
    span = np.full((p, n), degree, dtype=np.intp)
    for k in range(1, n_knots - 1):
        span += xb >= t[:, degree + k : degree + k + 1]

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


def span_coefficients(t, degree, n_knots):
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
    base = t[:, degree : degree + n_knots]
    nodes = (np.arange(k1) + 0.5) / k1  # interior: no ambiguity at span ends
    x = base[:, :ns, None] + np.diff(base, axis=1)[:, :, None] * nodes[None, None, :]
    B = bspline_dense(x.reshape(p, ns * k1), t, degree, n_knots)  # (p, d0, ns * k1)
    vinv = np.linalg.inv(nodes[:, None] ** np.arange(k1)[None, :])  # (node, power)^-1
    coef = np.einsum("rk,pbsk->pbsr", vinv, B.reshape(p, -1, ns, k1))
    return coef.reshape(p, -1, ns * k1)


def local_design(xT, t, degree, n_knots, dtype=np.float64, *, weights=None):
    """Span-local monomials ``(p, (n_knots - 1) * (degree + 1), n)``.

    Row ``s * (degree + 1) + r`` holds ``u**r`` for the samples whose knot span
    is ``s`` and zero elsewhere, so that the B-spline design is
    ``span_coefficients(t) @ local_design(xT, t)``: a small dense product
    instead of de Boor's recursion with its gathers and scatters (about three
    times faster for cubic splines with a handful of knots).  Inputs are
    clipped to the boundary knots, as in :func:`bspline_dense`.

    The rows are built span by span with no gathers, in float64: ``u = (x -
    knot_s) / (knot_{s+1} - knot_s)`` times the indicator of span ``s``
    (``knot_s <= x < knot_{s+1}``, the last span closed), its powers by
    repeated products; they are then stored in ``dtype``.

    With ``weights`` (an array of shape ``(n,)``, or ``"unit"``), also
    returns the weighted Gram ``Q diag(weights) Q^T`` in float64, computed
    from the float64 rows whatever ``dtype`` (:func:`local_gram`).
    """
    p, n = xT.shape
    ns, k1 = n_knots - 1, degree + 1
    base = t[:, degree : degree + n_knots].astype(np.float64)
    xb = np.clip(xT.astype(np.float64, copy=False), base[:, :1], base[:, -1:])
    inv_h = 1.0 / np.diff(base, axis=1)
    Q = np.empty((p, ns * k1, n), dtype=dtype)
    direct = dtype == np.float64  # rows computed in place, else in a float64 scratch
    P = None if direct else np.empty((p, k1, n))
    mask = np.empty((p, n), dtype=bool)
    tmp = np.empty((p, n), dtype=bool) if ns > 2 else None
    moments = None
    if weights is not None:
        w = None if isinstance(weights, str) else np.asarray(weights, dtype=np.float64)
        ones = np.ones(n)
        moments = np.empty((p, ns, 2 * k1 - 1))
    for s in range(ns):
        r0 = s * k1
        Ps = Q[:, r0 : r0 + k1] if direct else P
        # indicator of span s: x >= knot_s (not needed for s = 0 after clipping)
        # and x < knot_{s+1} (not for the last span, which holds the right end)
        if ns == 1:
            mask.fill(True)
        elif s == 0:
            np.less(xb, base[:, 1:2], out=mask)
        else:
            np.greater_equal(xb, base[:, s : s + 1], out=mask)
            if s < ns - 1:
                np.less(xb, base[:, s + 1 : s + 2], out=tmp)
                mask &= tmp
        np.copyto(Ps[:, 0], mask)
        if k1 > 1:
            us = Ps[:, 1]
            np.subtract(xb, base[:, s : s + 1], out=us)
            us *= inv_h[:, s : s + 1]
            us *= mask
            for r in range(2, k1):
                np.multiply(Ps[:, r - 1], us, out=Ps[:, r])
        if moments is not None:
            # moments 0 .. degree: the rows times w; degree + 1 .. 2 degree: rows
            # 1 .. degree times w u**degree
            moments[:, s, :k1] = np.matmul(Ps, ones if w is None else w)
            if k1 > 1:
                top = Ps[:, degree] if w is None else Ps[:, degree] * w
                moments[:, s, k1:] = np.matmul(Ps[:, 1:], top[:, :, None])[:, :, 0]
        if not direct:
            np.copyto(Q[:, r0 : r0 + k1], P, casting="same_kind")
    if moments is None:
        return Q
    return Q, moments_gram(moments, degree, n_knots)


def moments_gram(moments, degree, n_knots):
    """Block-diagonal Gram ``(p, R, R)`` from per-span moments ``(p, ns, 2 * degree + 1)``.

    The rows of a local design are disjoint per span, so its weighted Gram
    is block diagonal with Hankel blocks of the moments ``sum_i w_i [span_i
    = s] u_i**k``, ``k = 0 .. 2 * degree``.
    """
    p = moments.shape[0]
    ns, k1 = n_knots - 1, degree + 1
    R = ns * k1
    G = np.zeros((p, R, R))
    hank = np.arange(k1)[:, None] + np.arange(k1)[None, :]
    for s in range(ns):
        G[:, s * k1 : (s + 1) * k1, s * k1 : (s + 1) * k1] = moments[:, s][:, hank]
    return G


def local_gram(Q, degree, n_knots, w=None):
    """Weighted Gram ``Q diag(w) Q^T`` (float64) of a local design ``Q``; ``w=None``: unit weights.

    Two batched matrix-vector products per span (:func:`moments_gram`)
    instead of a dense ``(R, R)`` product.
    """
    p, R, n = Q.shape
    k1 = degree + 1
    ns = R // k1
    Q = Q.astype(np.float64, copy=False)
    w = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    moments = np.empty((p, ns, 2 * k1 - 1))
    for s in range(ns):
        Ps = Q[:, s * k1 : (s + 1) * k1]
        moments[:, s, :k1] = np.matmul(Ps, w)
        if k1 > 1:
            moments[:, s, k1:] = np.matmul(Ps[:, 1:], (Ps[:, degree] * w)[:, :, None])[:, :, 0]
    return moments_gram(moments, degree, n_knots)


def use_local_design(degree, n_knots):
    # the local design has (n_knots - 1) * (degree + 1) rows: worth it while small
    return degree <= 5 and (n_knots - 1) * (degree + 1) <= 32


def feature_chunks(p, n, d):
    step = max(1, int(1_000_000 // max(n * d, 1)))
    for a in range(0, p, step):
        yield slice(a, min(p, a + step))


def expand_basis(
    X,
    feats,
    *,
    knots,
    degree,
    n_knots,
    constant=None,
    mean=None,
    transform=None,
    dtype=np.float64,
    sample_weight=None,
    n_threads=1,
    XT=None,
):
    """Evaluate (and, when ``sample_weight`` is given, fit) the centred orthonormal basis.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Input data.
    feats : ndarray of int
        Features (columns of ``X``) to expand.
    knots : ndarray of shape (n_features, n_knots + 2 * degree)
        Extended knot vectors of all features (:func:`make_knots`).
    degree, n_knots : int
        Spline degree and number of base knots.
    constant : ndarray of bool of shape (n_features,), default=None
        Constant features (zero columns); required when fitting.
    mean, transform : ndarray, default=None
        Fitted centring ``(n_features, d0)`` and orthonormalisation
        ``(n_features, d0, d)``; required when not fitting.
    dtype : dtype, default=np.float64
        Dtype of the returned basis.
    sample_weight : ndarray of shape (n_samples,), default=None
        When given, the centring and orthonormalisation are fitted with these
        weights and returned.
    n_threads : int, default=1
        Feature blocks are independent; with ``n_threads > 1`` they are
        processed by a thread pool (numpy releases the GIL in these kernels).
    XT : ndarray of shape (n_features, n_samples), default=None
        ``X`` transposed (C-contiguous), when the caller has it already;
        otherwise the columns are transposed block by block.

    Returns
    -------
    PhiT : ndarray of shape (len(feats) * d, n_samples)
        Transposed basis, row block ``i`` holding the ``d = n_knots + degree - 2``
        basis functions of ``feats[i]`` (C-order).
    mean, transform : ndarray or None
        The fitted centring and orthonormalisation (``None`` when not fitting).
    """
    d0 = n_knots + degree - 1
    d = d0 - 1
    n = X.shape[0]
    fitting = sample_weight is not None
    out = np.empty((feats.size, d, n), dtype=dtype)
    if fitting:
        s = sample_weight / sample_weight.sum()
        uniform_w = bool(np.all(s == s[0]))
        mean_out = np.zeros((feats.size, d0))
        transform_out = np.zeros((feats.size, d0, d))

    local = use_local_design(degree, n_knots)
    if local:
        span_coef = span_coefficients(knots[feats], degree, n_knots)

    def eigen_transform(M, f):
        # partition of unity (sum_b B_b = 1): the weighted means are row sums of M
        m = M.sum(axis=2)
        cov = M - m[:, :, None] * m[:, None, :]
        evals, evecs = np.linalg.eigh(cov)  # ascending
        # the centred basis has rank <= d0 - 1: keep the top d0 - 1 directions
        evals, evecs = evals[:, 1:], evecs[:, :, 1:]
        keep = (evals > 1e-7 * evals[:, -1:]) & (evals > 1e-12) & ~constant[f][:, None]
        scale = np.where(keep, 1.0 / np.sqrt(np.where(keep, evals, 1.0)), 0.0)
        return m, evecs * scale[:, None, :]

    def work(sl):
        f = feats[sl]
        xT = columns_T(X, f) if XT is None else XT[f]
        if local:
            C = span_coef[sl]  # (g, d0, R): B = C @ Q
            if fitting:  # the Gram from the float64 rows, whatever dtype
                Q, G = local_design(
                    xT, knots[f], degree, n_knots, dtype, weights="unit" if uniform_w else s
                )
                if uniform_w:
                    G *= s[0]
                M = np.matmul(np.matmul(C, G), C.transpose(0, 2, 1))  # B diag(s) B^T
                m, T = eigen_transform(M, f)
                mean_out[sl], transform_out[sl] = m, T
            else:
                Q = local_design(xT, knots[f], degree, n_knots, dtype)
                m, T = mean[f], transform[f]
            # Phi_j^T = T_j^T (C_j Q_j - m_j); the span indicators (rows s * (degree + 1)
            # of Q) sum to one, so the centring folds into their coefficients
            Tt = np.ascontiguousarray(T.transpose(0, 2, 1))
            W = np.matmul(Tt, C)
            W[:, :, :: degree + 1] -= np.matmul(Tt, m[:, :, None])
            np.matmul(W.astype(dtype), Q, out=out[sl])
            return
        B = bspline_dense(xT, knots[f], degree, n_knots, dtype=dtype)
        if fitting:
            if uniform_w:
                M = np.matmul(B, B.transpose(0, 2, 1)).astype(np.float64) * s[0]
            else:
                M = np.matmul(B * s.astype(dtype)[None, None, :], B.transpose(0, 2, 1)).astype(
                    np.float64
                )
            m, T = eigen_transform(M, f)
            mean_out[sl], transform_out[sl] = m, T
        else:
            m, T = mean[f], transform[f]
        # Phi_j^T = T_j^T (B_j - m_j): (g, d, d0) @ (g, d0, n) -> (g, d, n)
        Tt = np.ascontiguousarray(T.transpose(0, 2, 1))
        o = out[sl]
        np.matmul(Tt.astype(dtype), B, out=o)
        o -= np.matmul(Tt, m[:, :, None]).astype(dtype)

    rows = d0 + 1 + (span_coef.shape[2] if local else 0)  # arrays alive per feature
    blocks = list(feature_chunks(feats.size, n, rows))
    if n_threads > 1 and len(blocks) > 1:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            list(pool.map(work, blocks))
    else:
        for sl in blocks:
            work(sl)
    out = out.reshape(feats.size * d, n)
    if fitting:
        return out, mean_out, transform_out
    return out, None, None
