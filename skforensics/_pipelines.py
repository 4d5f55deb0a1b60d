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

import os
from numbers import Integral
from typing import Callable, NamedTuple

from ._compat import validate_params

__all__ = ["PIPELINES", "PipelineSpec", "describe_pipelines", "make_named_pipeline"]


class PipelineSpec(NamedTuple):
    """An entry of :data:`PIPELINES`."""

    #: one-line description (``skforensics pipelines``)
    description: str
    #: ``factory(n_jobs=None, verbose=False, pretrained=None)`` -> unfitted Pipeline
    factory: Callable
    #: whether the pipeline needs pretrained weights (downloaded or cached)
    needs_weights: bool
    #: whether ``pretrained`` (a tag or a local checkpoint) applies
    takes_pretrained: bool = False


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
    return CorrentropySparseAdditiveClassifier(
        n_knots=3, degree=1, lam=1e-2, calibration_cv=3, random_state=0
    )


def _logreg():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=5000)


def _spectral_csam(n_jobs=None, verbose=False, pretrained=None):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("features", _weightfree_features(n_jobs, verbose)),
            ("scale", StandardScaler()),
            ("classifier", _csam()),
        ]
    )


def _spectral_logreg(n_jobs=None, verbose=False, pretrained=None):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("features", _weightfree_features(n_jobs, verbose)),
            ("scale", StandardScaler()),
            ("classifier", _logreg()),
        ]
    )


def _radial_logreg(n_jobs=None, verbose=False, pretrained=None):
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


def _clip_csam(n_jobs=None, verbose=False, pretrained=None):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from ._clip import CLIPFeatureExtractor

    return Pipeline(
        [
            (
                "features",
                CLIPFeatureExtractor(
                    pretrained="openai" if pretrained is None else pretrained, verbose=verbose
                ),
            ),
            ("scale", StandardScaler()),
            ("classifier", _csam()),
        ]
    )


def _npr_recipe(n_jobs=None, verbose=False, pretrained=None):
    from ._detector import make_default_detector

    det = make_default_detector()
    det.estimator.set_params(verbose=int(bool(verbose)))
    return det


#: name -> :class:`PipelineSpec` (description, factory, needs_weights, takes_pretrained)
PIPELINES = {
    "spectral-csam": PipelineSpec(
        (
            "weight-free spectral + residual features -> StandardScaler -> "
            "CorrentropySparseAdditiveClassifier (CPU)"
        ),
        _spectral_csam,
        False,
    ),
    "spectral-logreg": PipelineSpec(
        "weight-free spectral + residual features -> StandardScaler -> LogisticRegression (CPU)",
        _spectral_logreg,
        False,
    ),
    "radial-logreg": PipelineSpec(
        "baseline: 64-bin azimuthal power spectrum -> StandardScaler -> LogisticRegression",
        _radial_logreg,
        False,
    ),
    "clip-csam": PipelineSpec(
        (
            "CLIP ViT-B-32 (OpenAI weights) features -> StandardScaler -> "
            "CorrentropySparseAdditiveClassifier (needs the weights; GPU recommended)"
        ),
        _clip_csam,
        True,
        True,
    ),
    "npr-recipe": PipelineSpec(
        (
            "the shipped detector's recipe: NPR residual network on 64x64 crops, format-blind "
            "re-encoding, pseudo-fakes, balanced classes (CPU, minutes)"
        ),
        _npr_recipe,
        False,
    ),
}


@validate_params(
    {
        "name": [str],  # the body names the close match of an unknown name
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "pretrained": [str, os.PathLike, None],
    },
    prefer_skip_nested_validation=True,
)
def make_named_pipeline(name, *, n_jobs=None, verbose=False, pretrained=None):
    """Build the (unfitted) pipeline called ``name``.

    Parameters
    ----------
    name : str
        One of :data:`PIPELINES` (``skforensics pipelines`` lists them).
    n_jobs : int, optional
        Threads of the weight-free feature extractors.
    verbose : bool, default=False
        Progress bars.
    pretrained : str or os.PathLike, optional
        For the CLIP pipelines: an open_clip pretrained tag or the path of a
        local checkpoint, instead of the default ``"openai"`` weights.

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
        import difflib

        close = difflib.get_close_matches(name, list(PIPELINES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown pipeline {name!r}{hint}; available: {', '.join(sorted(PIPELINES))}"
        )
    spec = PIPELINES[name]
    if pretrained is not None and not spec.takes_pretrained:
        raise ValueError(
            f"pipeline {name!r} has no pretrained weights to choose; pretrained applies to "
            + ", ".join(n for n, sp in PIPELINES.items() if sp.takes_pretrained)
        )
    return spec.factory(n_jobs=n_jobs, verbose=verbose, pretrained=pretrained)


def describe_pipelines():
    """``[(name, description), ...]`` of the named pipelines."""
    return [(name, spec.description) for name, spec in PIPELINES.items()]
