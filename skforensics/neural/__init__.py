"""skorch networks trained with SAM / GRACE, ready modules and multi-view criteria.

Importing this module imports torch and skorch.

* :class:`SAMNetClassifier` - a scikit-learn classifier (skorch) whose
  training step runs SAM's two passes; takes feature matrices or images.
* Modules: :class:`LinearProbe`, :class:`MLPHead` (features),
  :class:`SmallForensicCNN`, :class:`CLIPFineTuneHead` (images).
* Criteria: :class:`RetrospectionKLLoss` (cross-entropy + HRR's KL term between
  an image and its retrospected views), :class:`FeatureAlignmentLoss`
  (cross-entropy + GRACE's Gram alignment between clean and perturbed views).
"""

from ._losses import FeatureAlignmentLoss, RetrospectionKLLoss, ViewOutput, gram_alignment
from ._modules import CLIPFineTuneHead, LinearProbe, MLPHead, SmallForensicCNN
from ._net import SAMNetClassifier

__all__ = [
    "SAMNetClassifier",
    "LinearProbe",
    "MLPHead",
    "SmallForensicCNN",
    "CLIPFineTuneHead",
    "RetrospectionKLLoss",
    "FeatureAlignmentLoss",
    "ViewOutput",
    "gram_alignment",
]
