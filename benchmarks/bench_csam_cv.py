"""Benchmark of CSAM at its defaults and of its cross-validated regularisation path.

Measures, in one run:

* **defaults** -- ``CorrentropySparseAdditiveClassifier()`` (``lam="auto"``)
  against ``LogisticRegression()`` on 20 000 x 256 (best of ``--repeats`` fits
  each; ratio of the fit times), and the support it selects on the
  5-informative-of-200 problem of ``tests/test_csam.py`` (2 000 samples);
* **CV path** -- ``CorrentropySparseAdditiveClassifierCV(lams=20)`` against
  ``GridSearchCV(CorrentropySparseAdditiveClassifier(), {"lam": cv.lams_})``
  over the same 20 values and the same 5 stratified folds: wall time (ratio),
  the chosen ``lam``, its mean CV score under both, and the test accuracy of
  both refitted models, on 5 000 x 100 and on the two problems of the issue
  (20 000 x 256, whose path stays sparse, and 2 000 x 200 with 5 informative
  features, whose path ends on dense models);
* **inner solver** -- whole fits with ``solver="admm"`` (the paper's ADMM,
  weighted Gram + Cholesky at every half-quadratic step) against
  ``solver="bcd"`` (block coordinate descent) and ``"auto"`` on four
  problems: time ratio, final objective, support and test accuracy (the CV
  path above is also run with ``solver="admm"`` for both peers), and one
  half-quadratic subproblem, warm-started, for n in {1 000, 4 000, 20 000}
  and 30-960 working-set columns (``subproblem``: where ``"auto"`` switches);
* **HQ step** -- on a dense working set (small ``lam``), the time of one
  half-quadratic step's linear algebra with the current route (weighted Gram
  + Cholesky, refactored at every step) against conjugate gradients with the
  first step's Cholesky factor as a fixed preconditioner, warm-started
  (``--skip-hq`` to leave out).

Data: the additive problem of ``bench_csam.py`` (5 informative features with
nonlinear f_j among p), labels from the sign of the sum plus noise.

Usage::

    python benchmarks/bench_csam_cv.py            # writes benchmarks/results/bench_csam_cv.json
    python benchmarks/bench_csam_cv.py --quick    # smaller CV problem

Timings on a shared machine are noisy: compare ratios within one run only.
Both peers run in this process with the same thread settings (the library's
defaults; set ``OMP_NUM_THREADS`` before starting to change them for both).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from scipy import linalg as sla
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skforensics import CorrentropySparseAdditiveClassifier, CorrentropySparseAdditiveClassifierCV


def git_commit():
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
        return out.stdout.strip() or None
    except OSError:
        return None


def blas_threads():
    from threadpoolctl import threadpool_info

    return max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=1)


def make_additive(n, p, seed, noise=0.3):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, p))
    f = (
        np.sin(2 * X[:, 0])
        + (X[:, 1] ** 2 - 4 / 3)
        + np.abs(X[:, 2])
        - 1
        + np.cos(3 * X[:, 3])
        + np.tanh(3 * X[:, 4])
    )
    y = (f + noise * rng.randn(n) > 0).astype(int)
    return X, y


def best_of(repeats, make):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = make()
        times.append(time.perf_counter() - t)
    return min(times), out


def bench_defaults(repeats):
    X, y = make_additive(20000, 256, seed=0)
    Xt, yt = make_additive(5000, 256, seed=1)
    t_lr, lr = best_of(repeats, lambda: LogisticRegression().fit(X, y))
    t_c, c = best_of(repeats, lambda: CorrentropySparseAdditiveClassifier().fit(X, y))
    # the 5-informative-of-200 problem of tests/test_csam.py (make_additive(2000, 200, seed=10))
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from test_csam import make_additive as make_test_problem

    X2, y2, _ = make_test_problem(2000, 200, seed=10)
    c2 = CorrentropySparseAdditiveClassifier().fit(X2, y2)
    supp = np.flatnonzero(c2.support_)
    row = {
        "n": 20000,
        "p": 256,
        "csam_fit_s": t_c,
        "lr_fit_s": t_lr,
        "csam_over_lr": t_c / t_lr,
        "csam_acc": c.score(Xt, yt),
        "lr_acc": lr.score(Xt, yt),
        "csam_support": int(c.support_.sum()),
        "csam_lam": c.lam_,
        "csam_lam_max": c.lam_max_,
        "csam_hq_iter": int(c.n_iter_[0]),
        "problem_5_of_200": {
            "support": supp.tolist(),
            "support_size": int(supp.size),
            "holds_the_5": bool(set(range(5)) <= set(supp.tolist())),
            "lam": c2.lam_,
            "lam_max": c2.lam_max_,
        },
    }
    print(
        f"defaults, 20000 x 256: CSAM {t_c:.2f} s (support {row['csam_support']}, acc "
        f"{row['csam_acc']:.3f}) vs LogisticRegression {t_lr:.3f} s (acc {row['lr_acc']:.3f}): "
        f"{t_c / t_lr:.1f}x",
        flush=True,
    )
    print(f"defaults, 5-of-200 problem: support {supp.tolist()} ({supp.size} features)", flush=True)
    return row


def bench_cv(n, p, n_lams, n_folds, solver="auto"):
    X, y = make_additive(n, p, seed=2)
    Xt, yt = make_additive(5000, p, seed=3)
    folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=0).split(X, y))
    t = time.perf_counter()
    cv = CorrentropySparseAdditiveClassifierCV(
        lams=n_lams, cv=folds, solver=solver, random_state=0
    ).fit(X, y)
    t_cv = time.perf_counter() - t
    t = time.perf_counter()
    gs = GridSearchCV(
        CorrentropySparseAdditiveClassifier(solver=solver, random_state=0),
        {"lam": list(cv.lams_)},
        cv=folds,
    ).fit(X, y)
    t_gs = time.perf_counter() - t
    gs_scores = gs.cv_results_["mean_test_score"]
    i_cv = int(np.flatnonzero(cv.lams_ == cv.lam_)[0])
    row = {
        "solver": solver,
        "n": n,
        "p": p,
        "n_lams": n_lams,
        "n_folds": n_folds,
        "cv_path_s": t_cv,
        "cv_path_only_s": cv.path_time_,
        "grid_search_s": t_gs,
        "grid_over_path": t_gs / t_cv,
        "lams": cv.lams_.tolist(),
        "cv_lam": cv.lam_,
        "gs_lam": float(gs.best_params_["lam"]),
        "cv_best_score": cv.best_score_,
        "gs_best_score": float(gs.best_score_),
        "gs_score_at_cv_lam": float(gs_scores[i_cv]),
        "cv_mean_scores": cv.scores_.mean(axis=0).tolist(),
        "gs_mean_scores": gs_scores.tolist(),
        "cv_support_sizes": cv.support_sizes_.mean(axis=0).tolist(),
        "cv_test_acc": cv.score(Xt, yt),
        "gs_test_acc": gs.score(Xt, yt),
        "cv_support": int(cv.support_.sum()),
        "gs_support": int(gs.best_estimator_.support_.sum()),
    }
    print(
        f"CV path (solver={solver!r}), {n} x {p}, {n_lams} lams x {n_folds} folds: path "
        f"{t_cv:.2f} s vs GridSearchCV "
        f"{t_gs:.2f} s: {t_gs / t_cv:.1f}x faster",
        flush=True,
    )
    print(
        f"  chosen lam: path {cv.lam_:.4g} (CV score {cv.best_score_:.4f}, test acc "
        f"{row['cv_test_acc']:.4f}); GridSearchCV {row['gs_lam']:.4g} (CV score "
        f"{gs.best_score_:.4f}, test acc {row['gs_test_acc']:.4f}); GridSearchCV's score at the "
        f"path's lam {row['gs_score_at_cv_lam']:.4f}",
        flush=True,
    )
    return row


def bench_inner_solver(repeats):
    """Whole fits with the paper's ADMM inner solver against block coordinate descent."""
    rows = []
    for n, p, lam in (
        (2000, 768, "auto"),
        (2000, 768, 0.02),
        (5000, 100, 0.03),
        (20000, 256, "auto"),
    ):
        X, y = make_additive(n, p, seed=5)
        Xt, yt = make_additive(5000, p, seed=6)
        row = {"n": n, "p": p, "lam": lam}
        for solver in ("admm", "bcd", "auto"):
            t, est = best_of(
                repeats,
                lambda s=solver: CorrentropySparseAdditiveClassifier(lam=lam, solver=s).fit(X, y),
            )
            row[solver] = {
                "fit_s": t,
                "objective": float(est.objective_curve_[0][-1]),
                "support": int(est.support_.sum()),
                "hq_iter": int(est.n_iter_[0]),
                "test_acc": float(est.score(Xt, yt)),
                "routes": sorted(est.solver_routes_[0]),
            }
        for solver in ("bcd", "auto"):
            row[f"admm_over_{solver}"] = row["admm"]["fit_s"] / row[solver]["fit_s"]
        rows.append(row)
        print(
            f"inner solver, {n} x {p}, lam={lam}: ADMM {row['admm']['fit_s']:.2f} s, BCD "
            f"{row['bcd']['fit_s']:.2f} s ({row['admm_over_bcd']:.1f}x), auto "
            f"{row['auto']['fit_s']:.2f} s ({row['admm_over_auto']:.1f}x); objective "
            f"{row['admm']['objective']:.6f} / {row['bcd']['objective']:.6f}, support "
            f"{row['admm']['support']} / {row['bcd']['support']}, test accuracy "
            f"{row['admm']['test_acc']:.4f} / {row['bcd']['test_acc']:.4f}",
            flush=True,
        )
    return rows


def bench_subproblem(sizes=(1000, 4000, 20000), dims=(30, 60, 120, 240, 480, 960)):
    """One HQ subproblem, warm-started as in a fit: ADMM against block coordinate descent.

    The design is the basis of the additive problem (6 functions per feature),
    the weights those of noisy margins, ``kappa`` 0.3 times the largest group
    gradient (the 5 informative features stay active), and the warm start the
    solution at slightly different weights, as from the previous HQ step.
    """
    from threadpoolctl import threadpool_limits

    from skforensics._csam._backends import NumpyOps
    from skforensics._csam._solver import admm, bcd

    ops = NumpyOps()
    rng = np.random.default_rng(0)
    rows = []
    with threadpool_limits(1, user_api="blas"):  # the solver runs with one BLAS thread
        for n in sizes:
            X, y = make_additive(n, max(dims) // 6, seed=7)
            est = CorrentropySparseAdditiveClassifier(lam=0.05).fit(X, y)
            Phi = np.asfortranarray(est._basis(X).T)
            yy = 2.0 * y - 1.0
            for m in dims:
                A = Phi[:, :m]
                f = 0.5 * yy + 0.3 * rng.standard_normal(n)
                v = np.exp(-((yy - f) ** 2)) / n
                ytil = yy - (v * yy).sum() / v.sum()
                g = np.linalg.norm((2 * A.T @ (v * ytil)).reshape(-1, 6), axis=1)
                kappa = 0.3 * g.max()  # the 5 informative features stay active
                v0 = v * np.exp(0.05 * rng.standard_normal(n))
                y0 = ytil - (v0 * ytil).sum() / v0.sum()
                th0 = bcd(A, y0, v0, kappa=kappa, theta=np.zeros(m), n_basis=6, tol=1e-8,
                          max_iter=1000)[0]  # fmt: skip
                mu0 = np.zeros(m)
                t_admm = t_bcd = np.inf
                for _ in range(3):
                    t = time.perf_counter()
                    a_admm, _, k_admm, _ = admm(A, ytil, v, kappa=kappa, eta=0.1, theta=th0,
                                                mu=mu0, q=2, n_basis=6, tol=1e-4,
                                                max_iter=200, ops=ops)  # fmt: skip
                    t_admm = min(t_admm, time.perf_counter() - t)
                    t = time.perf_counter()
                    a_bcd, _, k_bcd = bcd(A, ytil, v, kappa=kappa, theta=th0, n_basis=6,
                                          tol=1e-4, max_iter=200)  # fmt: skip
                    t_bcd = min(t_bcd, time.perf_counter() - t)
                rows.append(
                    {
                        "n": n,
                        "m": m,
                        "admm_ms": 1e3 * t_admm,
                        "admm_iter": int(k_admm),
                        "bcd_ms": 1e3 * t_bcd,
                        "bcd_sweeps": int(k_bcd),
                        "admm_over_bcd": t_admm / t_bcd,
                        "max_abs_diff": float(np.abs(a_admm - a_bcd).max()),
                    }
                )
                print(
                    f"subproblem n={n:6d} m={m:4d}: ADMM {1e3 * t_admm:7.2f} ms ({k_admm} it), "
                    f"BCD {1e3 * t_bcd:7.2f} ms ({k_bcd} sweeps): {t_admm / t_bcd:.2f}x",
                    flush=True,
                )
    return rows


def bench_hq_step(n, p, lam_ratio, n_steps, n_solves=25):
    """Linear algebra of consecutive HQ steps on a fixed dense working set."""
    X, y = make_additive(n, p, seed=4)
    est = CorrentropySparseAdditiveClassifier(lam_ratio=lam_ratio).fit(X, y)
    A = est._basis(X).T[:, np.repeat(est.support_, est._n_basis)].astype(np.float64)
    A = np.asfortranarray(A)
    m = A.shape[1]
    yy = 2.0 * y - 1.0
    f = est.decision_function(X)
    eta = est.eta
    rng = np.random.RandomState(0)
    rhs = rng.randn(m)
    # a sequence of HQ weights around the fitted margins
    weights = [np.exp(-((yy - f * (1 + 0.05 * k)) ** 2)) / n for k in range(n_steps)]

    def gram(v):
        sv = v.sum()
        mv = A.T @ v / sv
        B = A * np.sqrt(v)[:, None]
        return 2.0 * (B.T @ B - sv * np.outer(mv, mv)) + eta * np.eye(m), mv, sv

    # every HQ step runs tens of ADMM iterations, one solve each, with slowly changing
    # right-hand sides: n_solves per step, as measured in the solver
    drift = [0.02 * j * rng.randn(m) for j in range(n_solves)]
    # route 1: weighted Gram + Cholesky at every step, then triangular solves
    t = time.perf_counter()
    sols = []
    for v in weights:
        H, _, _ = gram(v)
        L = sla.cho_factor(H, lower=True)
        sols.append([sla.cho_solve(L, rhs + e) for e in drift])
    t_chol = time.perf_counter() - t
    # route 2: CG (matrix-free) preconditioned by the first step's factor, warm-started
    t = time.perf_counter()
    H0, _, _ = gram(weights[0])
    L0 = sla.cho_factor(H0, lower=True)
    x = sla.cho_solve(L0, rhs)
    cg_iters, errs = [], []
    for k, v in enumerate(weights):
        sv = v.sum()
        mv = A.T @ v / sv

        def hmv(z, v=v, mv=mv, sv=sv):
            az = A @ z - mv @ z
            w = v * az
            return 2.0 * (A.T @ w - mv * w.sum()) + eta * z

        for j, e in enumerate(drift):
            b = rhs + e
            r = b - hmv(x)
            zz = sla.cho_solve(L0, r)
            d = zz
            rz = r @ zz
            it = 0
            while np.linalg.norm(r) > 1e-8 * np.linalg.norm(b) and it < 200:
                Ad = hmv(d)
                a = rz / (d @ Ad)
                x = x + a * d
                r = r - a * Ad
                zz = sla.cho_solve(L0, r)
                rz_new = r @ zz
                d = zz + (rz_new / rz) * d
                rz = rz_new
                it += 1
            cg_iters.append(it)
            errs.append(float(np.linalg.norm(x - sols[k][j]) / np.linalg.norm(sols[k][j])))
    t_cg = time.perf_counter() - t
    row = {
        "n": n,
        "p": p,
        "m": m,
        "n_steps": n_steps,
        "gram_cholesky_s": t_chol,
        "pcg_fixed_preconditioner_s": t_cg,
        "pcg_over_cholesky": t_cg / t_chol,
        "n_solves_per_step": n_solves,
        "pcg_mean_iters_per_solve": float(np.mean(cg_iters)),
        "pcg_max_rel_err": max(errs),
    }
    print(
        f"HQ step, n={n}, working set m={m}: Gram+Cholesky {t_chol / n_steps * 1e3:.1f} ms/step, "
        f"PCG with a fixed preconditioner {t_cg / n_steps * 1e3:.1f} ms/step "
        f"({np.mean(cg_iters):.1f} CG iterations per solve, {n_solves} solves per step)",
        flush=True,
    )
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller CV problem")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-hq", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = args.out or os.path.join(
        os.path.dirname(__file__),
        "results",
        "bench_csam_cv_quick.json" if args.quick else "bench_csam_cv.json",
    )
    os.makedirs(os.path.dirname(out), exist_ok=True)
    info = {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_avg_start": list(os.getloadavg()),
        "numpy": np.__version__,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "blas_threads": blas_threads(),
        "git_commit": git_commit(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "note": "shared 2-core machine: compare ratios within this run only",
    }
    result = {"info": info, "defaults": bench_defaults(args.repeats)}
    cv_size = (2000, 50) if args.quick else (5000, 100)
    result["cv_path"] = bench_cv(*cv_size, n_lams=20, n_folds=5)
    result["cv_path_admm"] = bench_cv(*cv_size, n_lams=20, n_folds=5, solver="admm")
    if not args.quick:
        # the two problems the issue names: the defaults' 20 000 x 256 (a path that stays
        # sparse) and a 5-informative-of-200 problem like the tests' (one that ends dense)
        result["cv_path_issue_problems"] = [
            bench_cv(20000, 256, n_lams=20, n_folds=5),
            bench_cv(2000, 200, n_lams=20, n_folds=5),
        ]
    result["inner_solver"] = bench_inner_solver(args.repeats)
    result["subproblem"] = bench_subproblem()
    if not args.skip_hq:
        result["hq_step"] = bench_hq_step(10000, 200, lam_ratio=0.01, n_steps=10)
    info["load_avg_end"] = list(os.getloadavg())
    with open(out, "w") as fh:
        json.dump(result, fh, indent=2)
    print("wrote", out)


if __name__ == "__main__":
    main()
