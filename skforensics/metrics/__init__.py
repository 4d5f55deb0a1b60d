"""Diagnostics for sharpness-aware training: GSNR and the critical optimization radius.

* :func:`gsnr_score`, :func:`make_gsnr_scorer`, :func:`layerwise_gsnr` - the
  gradient signal-to-noise ratio ``mean(g)^2 / var(g)`` of per-sample
  gradients (batched per-layer rules, :mod:`torch.func` vmap for the rest),
  overall or per layer.
* :func:`critical_optimization_radius` - the SAM radius where validation
  accuracy falls to chance (CoRIT's COR), by cross-validation.
* :class:`GSNRProfileDisplay`, :class:`RadiusSweepDisplay` - plots.

Importing this module is light; torch is imported when a function runs.
"""

from .._displays import GSNRProfileDisplay, RadiusSweepDisplay
from ._gsnr import critical_optimization_radius, gsnr_score, layerwise_gsnr, make_gsnr_scorer

__all__ = [
    "gsnr_score",
    "make_gsnr_scorer",
    "layerwise_gsnr",
    "critical_optimization_radius",
    "GSNRProfileDisplay",
    "RadiusSweepDisplay",
]
