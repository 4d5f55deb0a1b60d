"""SAM / ASAM and GRACE optimizers (closure based, torch)."""

from __future__ import annotations

import contextlib
import math
import numbers

import torch
from torch import nn

# every BatchNorm flavour, by public names (lazy ones become BatchNormXd when materialised)
_BATCH_NORMS = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.LazyBatchNorm1d,
    nn.LazyBatchNorm2d,
    nn.LazyBatchNorm3d,
)

__all__ = ["SAM", "GRACE", "frozen_bn_stats"]


@contextlib.contextmanager
def frozen_bn_stats(module):
    """Context manager that stops BatchNorm layers from updating running statistics.

    Inside the block, every BatchNorm layer of ``module`` that is in training
    mode still normalises with the statistics of the current batch, but its
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` are left
    unchanged. This is what the second (perturbed) pass of SAM needs: the
    statistics of the perturbed weights must not leak into the model.

    Parameters
    ----------
    module : torch.nn.Module or None
        The model. ``None`` makes this a no-op.

    Examples
    --------
    >>> import torch
    >>> from skforensics.optim import frozen_bn_stats
    >>> bn = torch.nn.BatchNorm1d(2)
    >>> with frozen_bn_stats(bn):
    ...     _ = bn(torch.randn(4, 2) + 10)
    >>> bn.running_mean.tolist()
    [0.0, 0.0]
    """
    saved = []
    if module is not None:
        for m in module.modules():
            if isinstance(m, _BATCH_NORMS) and m.training and m.track_running_stats:
                nbt = None if m.num_batches_tracked is None else m.num_batches_tracked.clone()
                saved.append((m, m.momentum, nbt))
                m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, momentum, nbt in saved:
            m.momentum = momentum
            if nbt is not None:
                m.num_batches_tracked.copy_(nbt)


def _check_positive(name, value, allow_zero=True):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


class SAM(torch.optim.Optimizer):
    """Sharpness-Aware Minimization (Foret et al., 2021), with ASAM as an option.

    Each step minimises ``max_{||e|| <= rho} L(w + e)`` to first order: the
    gradient ``g`` at ``w`` gives ``e = rho * g / ||g||`` (all parameters
    together, one global norm), the gradient at ``w + e`` is computed, the
    weights are restored to ``w`` and the base optimizer applies that second
    gradient.

    With ``adaptive=True`` (ASAM, Kwon et al., 2021) the ball is scale
    invariant: ``e = rho * |w|^2 g / || |w| g ||``.

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups, as for any torch optimizer.
    base_optimizer : type, default=torch.optim.SGD
        Optimizer class that performs the actual update. It is created as
        ``base_optimizer(self.param_groups, **kwargs)`` and shares the
        parameter groups of this optimizer (so ``lr`` schedulers work).
    rho : float, default=0.05
        Radius of the perturbation ball. ``rho=0`` gives the base optimizer at
        twice the cost. Settable per parameter group.
    adaptive : bool, default=False
        Use ASAM's scale-invariant perturbation.
    eps : float, default=1e-12
        Added to gradient norms before dividing.
    **kwargs
        Passed to ``base_optimizer`` (``lr``, ``momentum``, ``weight_decay``...).

    Notes
    -----
    :meth:`step` needs a closure that zeroes the gradients, computes the loss
    and calls ``backward()``; it is called twice. Pass ``bn_module=model`` to
    :meth:`step` so BatchNorm statistics are frozen during the second call.
    For full control, call the closure yourself around :meth:`first_step` and
    :meth:`second_step`.

    Examples
    --------
    >>> import torch
    >>> from skforensics.optim import SAM
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = SAM(model.parameters(), torch.optim.SGD, rho=0.05, lr=0.1)
    >>> x, y = torch.ones(4, 3), torch.zeros(4, 1)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = torch.nn.functional.mse_loss(model(x), y)
    ...     loss.backward()
    ...     return loss
    >>> loss = opt.step(closure)
    """

    def __init__(
        self, params, base_optimizer=torch.optim.SGD, rho=0.05, adaptive=False, eps=1e-12, **kwargs
    ):
        _check_positive("rho", rho)
        _check_positive("eps", eps, allow_zero=False)
        if not callable(base_optimizer):
            raise TypeError(
                "base_optimizer must be a torch optimizer class (e.g. torch.optim.SGD), got "
                f"{base_optimizer!r}"
            )
        if isinstance(base_optimizer, type) and issubclass(base_optimizer, SAM):
            raise TypeError("base_optimizer cannot itself be a SAM optimizer")
        defaults = dict(rho=rho, adaptive=bool(adaptive), **kwargs)
        super().__init__(params, defaults)
        self.eps = eps
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
        # one list of groups shared by both optimizers: lr schedulers and
        # skorch's virtual params act on both
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)
        self._perturbation = None

    # -- pickling: torch.optim.Optimizer only keeps defaults/state/param_groups
    def __getstate__(self):
        state = super().__getstate__()
        state["base_optimizer"] = self.base_optimizer
        state["eps"] = self.eps
        state.update(self._extra_state())
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._perturbation = None

    def _extra_state(self):
        return {}

    def state_dict(self):
        sd = super().state_dict()
        sd["base_optimizer"] = self.base_optimizer.state_dict()
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        base = state_dict.pop("base_optimizer", None)
        super().load_state_dict(state_dict)
        self.param_groups = self.base_optimizer.param_groups
        if base is not None:
            self.base_optimizer.load_state_dict(base)
            self.param_groups = self.base_optimizer.param_groups

    # -- the two half steps
    def _params_with_grad(self, group):
        return [p for p in group["params"] if p.grad is not None]

    def _ascent_directions(self):
        """List of (params, directions) per group; SAM: ``T^2 g`` (T = |w| for ASAM)."""
        out = []
        for group in self.param_groups:
            ps = self._params_with_grad(group)
            if not ps:
                out.append((group, [], []))
                continue
            grads = [p.grad for p in ps]
            if group["adaptive"]:
                dirs = torch._foreach_mul(grads, torch._foreach_mul(ps, ps))
            else:
                dirs = grads
            out.append((group, ps, dirs))
        return out

    def _dual_norm(self, groups):
        """Norm ``||T g||`` that normalises the perturbation (global over groups)."""
        norms = []
        for group, ps, _ in groups:
            if not ps:
                continue
            grads = [p.grad for p in ps]
            if group["adaptive"]:
                grads = torch._foreach_mul(grads, torch._foreach_abs(ps))
            norms.extend(torch._foreach_norm(grads))
        if not norms:
            return None
        dev = norms[0].device
        return torch.linalg.vector_norm(torch.stack([n.to(dev) for n in norms]))

    @torch.no_grad()
    def first_step(self, zero_grad=False):
        """Move the weights to ``w + e`` using the gradients currently stored.

        Parameters
        ----------
        zero_grad : bool, default=False
            Zero the gradients afterwards.
        """
        groups = self._ascent_directions()
        norm = self._dual_norm(groups)
        perturbation = []
        if norm is not None:
            for group, ps, dirs in groups:
                if not ps:
                    continue
                scale = group["rho"] / (norm + self.eps)
                e = torch._foreach_mul(dirs, scale)
                torch._foreach_add_(ps, e)
                perturbation.append((ps, e))
        self._perturbation = perturbation
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def second_step(self, zero_grad=False):
        """Restore ``w`` and apply the base optimizer with the current gradients.

        Parameters
        ----------
        zero_grad : bool, default=False
            Zero the gradients afterwards.
        """
        if self._perturbation is None:
            raise RuntimeError("second_step() called before first_step()")
        for ps, e in self._perturbation:
            torch._foreach_sub_(ps, e)
        self._perturbation = None
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

    def step(self, closure=None, *, bn_module=None):
        """Perform one SAM step; ``closure`` is evaluated twice.

        Parameters
        ----------
        closure : callable
            Zeroes the gradients, computes the loss, calls ``backward()`` and
            returns the loss.
        bn_module : torch.nn.Module, optional
            Model whose BatchNorm statistics are frozen during the second call.

        Returns
        -------
        loss : torch.Tensor
            The loss at the unperturbed weights (first call).
        """
        if closure is None:
            raise ValueError(
                f"{type(self).__name__}.step() needs a closure that recomputes the loss and "
                "gradients (it is called twice); or call first_step()/second_step() yourself"
            )
        closure = torch.enable_grad()(closure)
        loss = closure()
        self.first_step(zero_grad=True)
        with frozen_bn_stats(bn_module):
            closure()
        self.second_step()
        return loss


class GRACE(SAM):
    """Curvature-scaled sharpness-aware optimizer, after GRACE (our reading).

    GRACE (Gram-aligned Robustness via Adaptive Curvature Estimation) perturbs
    the weights with "adaptive weight perturbations scaled by local curvature".
    Only the abstract is public; this is our reading of it (see the user
    guide):

    * a running curvature estimate per parameter tensor ("layer") ``k``: the
      exponential moving average of the mean squared gradient,
      ``c_k <- beta c_k + (1 - beta) mean(g_k^2)`` (a diagonal Fisher /
      Gauss-Newton proxy), bias corrected as in Adam;
    * a per-layer weight ``s_k = (c_k / mean_k c_k) ** (-curvature_power)``,
      so that sharper layers get a smaller share of the radius (the
      PAC-Bayes-optimal posterior variance shrinks with curvature);
    * the perturbation ``e_k = rho * s_k d_k / ||(s_j d_j)_j||``, where
      ``d_k`` is the gradient or, with ``rank``, its best rank-``rank``
      approximation (truncated SVD of the gradient reshaped to
      ``(out, -1)``); the total norm of ``e`` is ``rho``, as in SAM.

    With ``curvature_power=0`` and ``rank=None`` GRACE is exactly SAM.

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups.
    base_optimizer : type, default=torch.optim.SGD
        Optimizer class that performs the update.
    rho : float, default=0.05
        Total perturbation radius.
    beta : float, default=0.9
        Decay of the curvature moving average, in [0, 1).
    curvature_power : float, default=0.5
        Exponent of the inverse curvature scaling (0 disables it).
    rank : int or None, default=None
        Rank of the low-rank perturbation of matrices and conv kernels (None:
        full gradient). Vectors (biases, norms) always use their gradient.
    eps : float, default=1e-12
        Numerical guard.
    **kwargs
        Passed to ``base_optimizer``.

    Attributes
    ----------
    layer_radius_ : list of float
        After each :meth:`first_step`, the norm of the perturbation of each
        parameter tensor with a gradient (the per-layer radius).

    Examples
    --------
    >>> import torch
    >>> from skforensics.optim import GRACE
    >>> model = torch.nn.Linear(3, 2)
    >>> opt = GRACE(model.parameters(), rho=0.05, rank=1, lr=0.1)
    >>> x, y = torch.ones(4, 3), torch.tensor([0, 1, 0, 1])
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = torch.nn.functional.cross_entropy(model(x), y)
    ...     loss.backward()
    ...     return loss
    >>> loss = opt.step(closure)
    >>> len(opt.layer_radius_)
    2
    """

    def __init__(
        self,
        params,
        base_optimizer=torch.optim.SGD,
        rho=0.05,
        beta=0.9,
        curvature_power=0.5,
        rank=None,
        eps=1e-12,
        **kwargs,
    ):
        if not isinstance(beta, numbers.Real) or not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {beta!r}")
        _check_positive("curvature_power", curvature_power)
        if rank is not None and (
            not isinstance(rank, numbers.Integral) or isinstance(rank, bool) or rank < 1
        ):
            raise ValueError(f"rank must be None or a positive integer, got {rank!r}")
        super().__init__(params, base_optimizer, rho=rho, adaptive=False, eps=eps, **kwargs)
        self.beta = float(beta)
        self.curvature_power = float(curvature_power)
        self.rank = None if rank is None else int(rank)
        self._layer_radius = []

    @property
    def layer_radius_(self):
        return [float(r) for r in self._layer_radius]

    def _extra_state(self):
        return {
            "beta": self.beta,
            "curvature_power": self.curvature_power,
            "rank": self.rank,
            "_layer_radius": self._layer_radius,
        }

    def _low_rank(self, g):
        if self.rank is None or g.ndim < 2:
            return g
        m = g.reshape(g.shape[0], -1)
        if self.rank >= min(m.shape):
            return g
        u, s, vh = torch.linalg.svd(m.float(), full_matrices=False)
        r = self.rank
        approx = (u[:, :r] * s[:r]) @ vh[:r]
        return approx.to(g.dtype).reshape(g.shape)

    @torch.no_grad()
    def first_step(self, zero_grad=False):
        """Move the weights to ``w + e``, GRACE's curvature-scaled perturbation.

        Parameters
        ----------
        zero_grad : bool, default=False
            Zero the gradients afterwards.
        """
        entries = []  # (param, direction, curvature)
        for group in self.param_groups:
            for p in self._params_with_grad(group):
                st = self.state[p]
                g = p.grad
                if "curvature" not in st:
                    st["curvature"] = torch.zeros((), device=g.device, dtype=torch.float32)
                    st["curvature_step"] = 0
                st["curvature_step"] += 1
                st["curvature"].mul_(self.beta).add_(g.float().pow(2).mean(), alpha=1.0 - self.beta)
                c = st["curvature"] / (1.0 - self.beta ** st["curvature_step"])
                entries.append((group, p, self._low_rank(g), c))
        perturbation = []
        self._layer_radius = []
        if entries:
            curv = torch.stack([c.to(entries[0][3].device) for *_, c in entries])
            if self.curvature_power > 0:
                rel = curv / (curv.mean() + self.eps)
                weights = (rel + self.eps).pow(-self.curvature_power)
            else:
                weights = torch.ones_like(curv)
            dirs = [d for _, _, d, _ in entries]
            dnorms = torch.stack([n.to(curv.device) for n in torch._foreach_norm(dirs)])
            total = torch.linalg.vector_norm(weights * dnorms)
            by_group = {}
            for (group, p, d, _), w in zip(entries, weights):
                by_group.setdefault(id(group), (group, [], [], []))
                _, ps, ds, ws = by_group[id(group)]
                ps.append(p)
                ds.append(d)
                ws.append(w)
            for group, ps, ds, ws in by_group.values():
                scales = [
                    (group["rho"] * w / (total + self.eps)).to(p.device) for p, w in zip(ps, ws)
                ]
                e = [d * s for d, s in zip(ds, scales)]
                torch._foreach_add_(ps, e)
                perturbation.append((ps, e))
            self._layer_radius = [n for _, e in perturbation for n in torch._foreach_norm(e)]
        self._perturbation = perturbation
        if zero_grad:
            self.zero_grad()
