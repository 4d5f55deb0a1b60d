"""Sharpness-aware optimizers: :class:`SAM` (and ASAM) and :class:`GRACE`.

Both are closure-based :class:`torch.optim.Optimizer` wrappers around a base
optimizer (SGD by default). One :meth:`~SAM.step` evaluates the closure twice:
at the current weights ``w`` to get the ascent direction, and at the perturbed
weights ``w + e`` to get the gradient that the base optimizer applies at ``w``.
Pass ``bn_module=`` to :meth:`~SAM.step` (or use :func:`frozen_bn_stats`) so
that BatchNorm running statistics are not updated by the second pass.

Importing this module imports torch.
"""

from ._sam import GRACE, SAM, frozen_bn_stats

__all__ = ["SAM", "GRACE", "frozen_bn_stats"]
