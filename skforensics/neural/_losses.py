"""Criteria that use several views of each image: HRR's KL term and GRACE's Gram alignment."""

from __future__ import annotations

import numbers
from typing import NamedTuple, Optional

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ViewOutput", "RetrospectionKLLoss", "FeatureAlignmentLoss", "gram_alignment"]


class ViewOutput(NamedTuple):
    """What :class:`SAMNetClassifier` feeds its criterion when training with views.

    A tuple whose first item is the logits of the original images, so skorch
    and plain criteria that take ``y_pred[0]`` keep working.

    Attributes
    ----------
    logits : Tensor of shape (B, C)
    view_logits : Tensor of shape (B, V, C) or None
    features : Tensor of shape (B, D) or None
    view_features : Tensor of shape (B, V, D) or None
    """

    logits: torch.Tensor
    view_logits: Optional[torch.Tensor] = None
    features: Optional[torch.Tensor] = None
    view_features: Optional[torch.Tensor] = None


def _check_weight(name, value):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative real number, got {value!r}")
    return float(value)


def _split(y_pred):
    if isinstance(y_pred, ViewOutput):
        return y_pred
    if isinstance(y_pred, torch.Tensor):
        return ViewOutput(y_pred)
    if isinstance(y_pred, (tuple, list)) and len(y_pred) in (2, 4):
        return ViewOutput(*y_pred) if len(y_pred) == 4 else ViewOutput(y_pred[0], y_pred[1])
    raise TypeError(
        "y_pred must be a logits tensor or a ViewOutput(logits, view_logits, features, "
        f"view_features); got {type(y_pred).__name__}"
    )


def retrospection_kl(logits, view_logits):
    """Mean over samples and views of ``KL(p(original) || p(view))``.

    Parameters
    ----------
    logits : Tensor of shape (B, C)
    view_logits : Tensor of shape (B, V, C)

    Returns
    -------
    Tensor (scalar)
    """
    if view_logits.ndim == 2:
        view_logits = view_logits[:, None]
    logp = F.log_softmax(logits, dim=-1)[:, None, :]  # (B, 1, C)
    logq = F.log_softmax(view_logits, dim=-1)  # (B, V, C)
    kl = (logp.exp() * (logp - logq)).sum(-1)  # (B, V)
    return kl.mean()


def gram_alignment(features, view_features):
    """GRACE-style Gram alignment between clean and perturbed features.

    The features of a batch are L2-normalised and their Gram (cosine
    similarity) matrices ``G = F F^T`` compared: the result is the mean
    squared difference between the clean Gram matrix and the Gram matrix of
    each view, averaged over views. It is zero when the perturbation keeps the
    geometry of the batch, whatever happens to the features individually.

    Parameters
    ----------
    features : Tensor of shape (B, D)
    view_features : Tensor of shape (B, V, D) or (B, D)

    Returns
    -------
    Tensor (scalar)

    Examples
    --------
    >>> import torch
    >>> from skforensics.neural import gram_alignment
    >>> f = torch.randn(5, 4)
    >>> float(gram_alignment(f, 3 * f)) < 1e-10  # scale does not change the geometry
    True
    """
    if view_features.ndim == 2:
        view_features = view_features[:, None]
    fc = F.normalize(features.flatten(1), dim=-1)
    g_clean = fc @ fc.T
    fv = F.normalize(view_features.flatten(2), dim=-1).transpose(0, 1)  # (V, B, D)
    g_view = fv @ fv.transpose(1, 2)  # (V, B, B)
    return (g_view - g_clean[None]).pow(2).mean()


class RetrospectionKLLoss(nn.CrossEntropyLoss):
    """Cross-entropy plus HRR's KL term between an image and its retrospected views.

    ``L = CE(logits, y) + gamma * mean_v KL(p(x) || p(view_v(x)))`` (HRR,
    section III-C, with the KL of Eq. 4 taken between the predictions on the
    original image ``P`` and on each of its multi-scale retrospected views
    ``Q``; ``gamma = 0.8`` as in the paper). Without views (plain logits, or
    at validation) it is the cross-entropy alone, so it is a safe default
    criterion.

    Subclasses :class:`torch.nn.CrossEntropyLoss`, so skorch applies a softmax
    in ``predict_proba``.

    Parameters
    ----------
    gamma : float, default=0.8
        Weight of the KL term.
    **kwargs
        Passed to :class:`torch.nn.CrossEntropyLoss` (``weight``,
        ``label_smoothing``...).

    Examples
    --------
    >>> import torch
    >>> from skforensics.neural import RetrospectionKLLoss, ViewOutput
    >>> logits, y = torch.zeros(4, 2), torch.tensor([0, 1, 0, 1])
    >>> loss = RetrospectionKLLoss(gamma=0.8)
    >>> round(float(loss(ViewOutput(logits, torch.zeros(4, 3, 2)), y)), 4)
    0.6931
    """

    needs_features = False

    def __init__(self, gamma=0.8, **kwargs):
        super().__init__(**kwargs)
        self.gamma = _check_weight("gamma", gamma)

    def forward(self, y_pred, y_true):
        out = _split(y_pred)
        loss = super().forward(out.logits, y_true)
        if out.view_logits is not None and self.gamma > 0:
            loss = loss + self.gamma * retrospection_kl(out.logits, out.view_logits)
        return loss


class FeatureAlignmentLoss(RetrospectionKLLoss):
    """Cross-entropy plus GRACE's Gram alignment between clean and perturbed views.

    ``L = CE(logits, y) + alpha * gram_alignment(F_clean, F_views)
    + gamma * KL(p(x) || p(views))``. The views are the augmentations given to
    :class:`SAMNetClassifier` (``augment=``); the features are those the module
    returns with ``forward(x, return_features=True)`` (all modules of
    :mod:`skforensics.neural` do).

    Parameters
    ----------
    alpha : float, default=1.0
        Weight of the Gram alignment term.
    gamma : float, default=0.0
        Weight of the HRR KL term (off by default).
    **kwargs
        Passed to :class:`torch.nn.CrossEntropyLoss`.

    Examples
    --------
    >>> import torch
    >>> from skforensics.neural import FeatureAlignmentLoss, ViewOutput
    >>> f = torch.randn(4, 8)
    >>> out = ViewOutput(torch.zeros(4, 2), torch.zeros(4, 1, 2), f, f[:, None])
    >>> round(float(FeatureAlignmentLoss()(out, torch.tensor([0, 1, 0, 1]))), 4)
    0.6931
    """

    needs_features = True

    def __init__(self, alpha=1.0, gamma=0.0, **kwargs):
        super().__init__(gamma=gamma, **kwargs)
        self.alpha = _check_weight("alpha", alpha)

    def forward(self, y_pred, y_true):
        out = _split(y_pred)
        loss = super().forward(out, y_true)
        if out.features is not None and out.view_features is not None and self.alpha > 0:
            loss = loss + self.alpha * gram_alignment(out.features, out.view_features)
        return loss
