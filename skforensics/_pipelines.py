"""Named, ready-to-train detection pipelines (used by the ``skforensics`` CLI).

=====================  =============================================================
name                   pipeline
=====================  =============================================================
``spectral-csam``      weight-free spectral + residual features, StandardScaler,
                       CorrentropySparseAdditiveClassifier (CPU)
``spectral-logreg``    the same features, StandardScaler, LogisticRegression (CPU)
``radial-logreg``      baseline: 64-bin radial spectrum only (Durall et al.),
                       StandardScaler, LogisticRegression (CPU)
``clip-csam``          CLIPFeatureExtractor(ViT-B-32, pretrained="openai"),
                       StandardScaler, CorrentropySparseAdditiveClassifier; needs the
                       OpenAI CLIP weights (downloaded by open_clip or in its cache)
=====================  =============================================================
"""

from __future__ import annotations

__all__ = ["PIPELINES", "describe_pipelines", "make_named_pipeline"]


def _weightfree_features(n_jobs=None, verbose=False):
    from sklearn.pipeline import FeatureUnion

    from .features import ResidualFeatureExtractor, SpectralFeatureExtractor

    return FeatureUnion(
        [
            ("spectral", SpectralFeatureExtractor(n_jobs=n_jobs, verbose=verbose)),
            ("residual", ResidualFeatureExtractor(n_jobs=n_jobs, verbose=verbose)),
        ]
    )


def _csam():
    from ._csam import CorrentropySparseAdditiveClassifier

    # few knots, linear pieces and a fairly strong sparsity penalty: best in 5-fold CV on
    # diffusiondb_coco with the 649 weight-free features (benchmarks/bench_weightfree.py).
    # The probability temperature comes from 3-fold out-of-fold margins, so scores stay
    # calibrated when a user's own training data lets the model over-fit.
    return CorrentropySparseAdditiveClassifier(n_knots=3, degree=1, lam=1e-2, calibration_cv=3,
                                               random_state=0)


def _logreg():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=5000)


def _spectral_csam(n_jobs=None, verbose=False):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("features", _weightfree_features(n_jobs, verbose)),
            ("scale", StandardScaler()),
            ("classifier", _csam()),
        ]
    )


def _spectral_logreg(n_jobs=None, verbose=False):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("features", _weightfree_features(n_jobs, verbose)),
            ("scale", StandardScaler()),
            ("classifier", _logreg()),
        ]
    )


def _radial_logreg(n_jobs=None, verbose=False):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from .features import SpectralFeatureExtractor

    return Pipeline(
        [
            (
                "features",
                SpectralFeatureExtractor(
                    n_bins=64, axis_profiles=False, n_jobs=n_jobs, verbose=verbose
                ),
            ),
            ("scale", StandardScaler()),
            ("classifier", _logreg()),
        ]
    )


def _clip_csam(n_jobs=None, verbose=False):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from ._clip import CLIPFeatureExtractor

    return Pipeline(
        [
            ("features", CLIPFeatureExtractor(pretrained="openai", verbose=verbose)),
            ("scale", StandardScaler()),
            ("classifier", _csam()),
        ]
    )


#: name -> (one-line description, factory(n_jobs, verbose), needs pretrained weights)
PIPELINES = {
    "spectral-csam": (
        (
            "weight-free spectral + residual features -> StandardScaler -> "
            "CorrentropySparseAdditiveClassifier (CPU)"
        ),
        _spectral_csam,
        False,
    ),
    "spectral-logreg": (
        "weight-free spectral + residual features -> StandardScaler -> LogisticRegression (CPU)",
        _spectral_logreg,
        False,
    ),
    "radial-logreg": (
        "baseline: 64-bin azimuthal power spectrum -> StandardScaler -> LogisticRegression",
        _radial_logreg,
        False,
    ),
    "clip-csam": (
        (
            "CLIP ViT-B-32 (OpenAI weights) features -> StandardScaler -> "
            "CorrentropySparseAdditiveClassifier (needs the weights; GPU recommended)"
        ),
        _clip_csam,
        True,
    ),
}


def make_named_pipeline(name, *, n_jobs=None, verbose=False):
    """Build the (unfitted) pipeline called ``name``.

    Parameters
    ----------
    name : str
        One of :data:`PIPELINES` (``skforensics pipelines`` lists them).
    n_jobs : int, optional
        Threads of the weight-free feature extractors.
    verbose : bool, default=False
        Progress bars.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline

    Examples
    --------
    >>> from skforensics._pipelines import make_named_pipeline
    >>> list(make_named_pipeline("spectral-logreg").named_steps)
    ['features', 'scale', 'classifier']
    """
    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}; available: {sorted(PIPELINES)}")
    return PIPELINES[name][1](n_jobs=n_jobs, verbose=verbose)


def describe_pipelines():
    """``[(name, description), ...]`` of the named pipelines."""
    return [(name, desc) for name, (desc, _, _) in PIPELINES.items()]
