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

Layout, one concern per module:

* ``_basis``: B-spline knots, evaluation, centring and orthonormalisation;
* ``_backends``: numpy / torch array operations and BLAS thread control;
* ``_solver``: HQ outer loop, ADMM inner loop, working sets, ``lam_max``;
* ``_estimator``: :class:`CorrentropySparseAdditiveClassifier`;
* ``_cv``: :class:`CorrentropySparseAdditiveClassifierCV` (regularisation path);
* ``_display``: :class:`ComponentFunctionDisplay`, :class:`RegularizationPathDisplay`.

See ``docs/user_guide/csam.rst`` for the equations, our reading of the paper
and the deviations (intercept, 1/n scaling, zero initialisation, working sets).
"""

from ._cv import CorrentropySparseAdditiveClassifierCV
from ._display import ComponentFunctionDisplay, RegularizationPathDisplay
from ._estimator import CorrentropySparseAdditiveClassifier

__all__ = [
    "ComponentFunctionDisplay",
    "CorrentropySparseAdditiveClassifier",
    "CorrentropySparseAdditiveClassifierCV",
    "RegularizationPathDisplay",
]
