"""Evaluation protocols of image forensics.

* :class:`LeaveOneGeneratorOut`: cross-generator cross-validation splitter.
* :func:`cross_generator_report` and :class:`CrossGeneratorDisplay`: accuracy
  and average precision per test generator (the papers' tables), as a
  :class:`ReportTable` and a heatmap.
* :func:`robustness_report`: accuracy / AP under JPEG, blur, resizing... of
  the test images (see :mod:`skforensics.perturbations`).
* :func:`per_generator_table`: the same table from labelled scores (what
  ``skforensics evaluate`` prints); :func:`scores_and_predictions`: score and
  verdict of a detector in one pass.
* :func:`threshold_at_fpr` and :class:`FixedFPRThreshold`: decision thresholds
  at a target false-positive rate on real images.
"""

from .._displays import CrossGeneratorDisplay
from ._report import (
    ReportTable,
    cross_generator_report,
    default_perturbations,
    fake_class_index,
    per_generator_table,
    robustness_report,
    scores_and_predictions,
    scores_of,
)
from ._split import LeaveOneGeneratorOut
from ._threshold import FixedFPRThreshold, threshold_at_fpr

__all__ = [
    "CrossGeneratorDisplay",
    "FixedFPRThreshold",
    "LeaveOneGeneratorOut",
    "ReportTable",
    "cross_generator_report",
    "default_perturbations",
    "fake_class_index",
    "per_generator_table",
    "robustness_report",
    "scores_and_predictions",
    "scores_of",
    "threshold_at_fpr",
]
