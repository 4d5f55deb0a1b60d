"""skorch networks trained with SAM / GRACE, ready modules and multi-view criteria.

Importing this module imports torch and skorch.

* :class:`SAMNetClassifier` - a scikit-learn classifier (skorch) whose
  training step runs SAM's two passes; takes feature matrices or images.
* Modules: :class:`LinearProbe`, :class:`MLPHead` (features),
  :class:`SmallForensicCNN`, :class:`CLIPFineTuneHead`, :class:`NPRNet` (images;
  NPRNet is trained on crops: ``SAMNetClassifier(NPRNet, crop_size=64)``).
* Criteria: :class:`RetrospectionKLLoss` (cross-entropy + HRR's KL term between
  an image and its retrospected views), :class:`FeatureAlignmentLoss`
  (cross-entropy + GRACE's Gram alignment between clean and perturbed views).
"""

from ._losses import FeatureAlignmentLoss, RetrospectionKLLoss, ViewOutput, gram_alignment
from ._modules import CLIPFineTuneHead, LinearProbe, MLPHead, SmallForensicCNN
from ._net import SAMNetClassifier
from ._npr import NPRNet, grid_crop_boxes, random_crops

__all__ = [
    "SAMNetClassifier",
    "LinearProbe",
    "MLPHead",
    "SmallForensicCNN",
    "CLIPFineTuneHead",
    "NPRNet",
    "grid_crop_boxes",
    "random_crops",
    "RetrospectionKLLoss",
    "FeatureAlignmentLoss",
    "ViewOutput",
    "gram_alignment",
]
