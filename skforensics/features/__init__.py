"""Weight-free forensic image features (pure numpy, CPU).

* :class:`SpectralFeatureExtractor`: azimuthally averaged log power spectrum
  (Durall et al. 2020) plus directional residual spectra.
* :class:`ResidualFeatureExtractor`: neighbouring-pixel residual statistics
  (NPR up-sampling residual, SPAM co-occurrences, chroma statistics).

Both are scikit-learn transformers over images (paths, PIL images, uint8
arrays, multi-view samples); see :mod:`skforensics._image_io`.
"""

from ._residual import ResidualFeatureExtractor, cooccurrence, npr_residual
from ._spectral import SpectralFeatureExtractor, axis_spectra, radial_spectrum

__all__ = [
    "ResidualFeatureExtractor",
    "SpectralFeatureExtractor",
    "axis_spectra",
    "cooccurrence",
    "npr_residual",
    "radial_spectrum",
]
