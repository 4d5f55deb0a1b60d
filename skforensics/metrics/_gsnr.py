"""Gradient signal-to-noise ratio (GSNR) and the critical optimization radius (COR)."""

from __future__ import annotations

import fnmatch
import numbers
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch

from .._compat import Interval, StrOptions, validate_params

__all__ = [
    "critical_optimization_radius",
    "gsnr_score",
    "layerwise_gsnr",
    "make_gsnr_scorer",
]

_AGGREGATES = ("mean", "median", "min", "max", "first", "last", "pooled")
_METHODS = ("auto", "vmap", "loop")


# --------------------------------------------------------------------- inputs
def _unwrap(estimator, X):
    """Return ``(net, X)`` with ``net`` a fitted skorch net and ``X`` what it takes."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        Xt = X
        for _, step in estimator.steps[:-1]:
            if step is None or step == "passthrough":
                continue
            Xt = step.transform(Xt)
        return _unwrap(estimator.steps[-1][1], Xt)
    if hasattr(estimator, "best_estimator_") and not hasattr(estimator, "module_"):
        return _unwrap(estimator.best_estimator_, X)
    if not hasattr(estimator, "module"):
        raise TypeError(
            "GSNR needs a skorch network (e.g. skforensics.neural.SAMNetClassifier), "
            f"or a Pipeline ending with one; got {type(estimator).__name__}"
        )
    if not getattr(estimator, "initialized_", False) or not hasattr(estimator, "module_"):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet; call fit first")
    return estimator, X


def _prepare(net, X, y):
    """Module-ready inputs and integer targets, plus a batch -> tensor function."""
    import torch

    from ..neural import SAMNetClassifier

    if y is None:
        raise ValueError("GSNR needs the labels y")
    if isinstance(net, SAMNetClassifier):
        Xp, yp = net.prepare_inputs(X, y)
        return Xp, yp, net.to_module_input, net.device_
    # any other skorch classifier on numeric X
    device = torch.device(net.device if net.device not in (None, "auto") else "cpu")
    Xp = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    classes = getattr(net, "classes_", None)
    if classes is not None and not np.issubdtype(y.dtype, np.integer):
        yp = np.searchsorted(np.asarray(classes), y)
    else:
        yp = y
    return Xp, np.asarray(yp, dtype=np.int64), lambda b: torch.as_tensor(b, device=device), device


def _layer_of(param_name):
    return param_name.rsplit(".", 1)[0] if "." in param_name else param_name


def _select_layers(module, layers):
    """Ordered ``{layer: [param names]}`` of the trainable parameters chosen by ``layers``."""
    groups = {}
    for name, p in module.named_parameters():
        if p.requires_grad:
            groups.setdefault(_layer_of(name), []).append(name)
    if not groups:
        raise ValueError("the network has no trainable parameters")
    if layers is None:
        return groups
    if isinstance(layers, (str, numbers.Integral)):
        layers = [layers]
    names = list(groups)
    chosen = []
    for sel in layers:
        if isinstance(sel, numbers.Integral) and not isinstance(sel, bool):
            if not -len(names) <= sel < len(names):
                raise ValueError(
                    f"layer index {sel} out of range: the network has {len(names)} layers"
                )
            matches = [names[sel]]
        elif isinstance(sel, str):
            matches = [
                n
                for n in names
                if n == sel or fnmatch.fnmatchcase(n, sel) or n.startswith(sel + ".")
            ]
            if not matches:
                raise ValueError(f"no layer matches {sel!r}; layers with parameters: {names}")
        else:
            raise TypeError(f"layers must hold layer names, glob patterns or indices; got {sel!r}")
        chosen += [m for m in matches if m not in chosen]
    return {n: groups[n] for n in names if n in chosen}


# ------------------------------------------------------- per-sample gradients
def _check_method(method):
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")


def _logits(out):
    return out[0] if isinstance(out, (tuple, list)) else out


class _Retry(Exception):
    """Internal: these hooked modules failed a check; recompute their parameters with vmap."""

    def __init__(self, modules):
        super().__init__(f"{len(modules)} modules fall back to vmap")
        self.modules = modules


# Budget of the per-sample gradient chunks of weight-shared layers (floats).
_CHUNK_FLOATS = 1 << 20


def _hook_kind(mod):
    """Kind of per-sample gradient rule for ``mod``, or None when it has none."""
    from torch import nn

    def plain(base):  # the layer's own forward, not a subclass override
        return isinstance(mod, base) and type(mod).forward is base.forward

    if plain(nn.Linear):
        return "linear"
    if plain(nn.Conv1d) or plain(nn.Conv2d):
        if mod.padding_mode != "zeros" or (isinstance(mod.padding, str) and mod.padding != "valid"):
            return None
        return "conv"
    if any(plain(b) for b in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        # in evaluation mode only running statistics keep samples independent
        if mod.running_mean is None or mod.running_var is None:
            return None
        return "batchnorm"
    if plain(nn.LayerNorm):
        return "layernorm"
    if plain(nn.GroupNorm):
        return "groupnorm"
    return None


def _hook_plan(module, selected):
    """``{module: (kind, {local name: param name})}`` for the selected parameters with a hook rule."""
    sel = set(selected)
    name_of = {id(p): n for n, p in module.named_parameters()}
    owners = {}
    for mod in module.modules():
        for p in mod._parameters.values():
            if p is not None:
                owners[id(p)] = owners.get(id(p), 0) + 1
    plan = {}
    for mod in module.modules():
        kind = _hook_kind(mod)
        if kind is None:
            continue
        locs = {}
        for local, p in mod._parameters.items():
            if p is None or name_of.get(id(p)) not in sel:
                continue
            if owners[id(p)] > 1 or local not in ("weight", "bias"):  # tied or unknown: no rule
                locs = {}
                break
            locs[local] = name_of[id(p)]
        if locs:
            plan[mod] = (kind, locs)
    return plan


def _accumulate(out, local, per_sample):
    """Add ``sum_i g_i`` and ``sum_i g_i**2`` of per-sample gradients ``(n, ...)`` to ``out``."""
    g = per_sample.reshape(len(per_sample), -1)
    s1, s2 = g.sum(0), (g * g).sum(0)
    if local in out:
        out[local][0].add_(s1)
        out[local][1].add_(s2)
    else:
        out[local] = [s1, s2]


def _layer_moments(kind, mod, locs, a, d):
    """In-batch (float32) sums and sums of squares of a layer's per-sample gradients.

    ``a`` is the layer input and ``d`` the gradient of the summed loss with
    respect to the layer output; row ``i`` of both belongs to sample ``i``.
    Returns ``{local name: (s1, s2)}`` with flat tensors.
    """
    import torch
    from torch.nn import functional as F

    n = len(a)
    out = {}
    if kind == "linear":
        if a.dim() == 2:
            # sum_i d_i a_i^T and sum_i (d_i a_i^T)^2 = (d^2)^T (a^2): one matmul each
            if "weight" in locs:
                out["weight"] = [(d.t() @ a).reshape(-1), ((d * d).t() @ (a * a)).reshape(-1)]
            if "bias" in locs:
                _accumulate(out, "bias", d)
            return out
        a3, d3 = a.reshape(n, -1, a.shape[-1]), d.reshape(n, -1, d.shape[-1])
        if "bias" in locs:
            _accumulate(out, "bias", d3.sum(1))
        if "weight" in locs:  # shared over tokens: per-sample gradients, a chunk at a time
            step = max(1, _CHUNK_FLOATS // (mod.weight.numel() + a3[0].numel() + d3[0].numel()))
            for c in range(0, n, step):
                _accumulate(
                    out, "weight", torch.bmm(d3[c : c + step].transpose(1, 2), a3[c : c + step])
                )
        return out
    if kind == "conv":
        conv1d = isinstance(mod, torch.nn.Conv1d)
        if conv1d:  # as a 2-D convolution of height 1
            a, d = a.unsqueeze(2), d.unsqueeze(2)
        pad = (0,) * (a.dim() - 2) if isinstance(mod.padding, str) else tuple(mod.padding)
        ks, dil, st = tuple(mod.kernel_size), tuple(mod.dilation), tuple(mod.stride)
        if conv1d:
            pad, ks, dil, st = (0, *pad), (1, *ks), (1, *dil), (1, *st)
        cout, groups = d.shape[1], mod.groups
        if "bias" in locs:
            _accumulate(out, "bias", d.sum((2, 3)))
        if "weight" not in locs:
            return out
        ho, wo = d.shape[2:]
        kdim = mod.weight[0].numel() * groups
        # per-sample gradient d_i @ patches_i, a few samples at a time (cache-sized chunks)
        step = max(1, _CHUNK_FLOATS // (mod.weight.numel() + (kdim + cout) * ho * wo))
        if groups == 1:
            # patches in (position, kh, kw, channel) order, read from a channels-last copy
            dl = d.permute(0, 2, 3, 1).reshape(n, ho * wo, cout)
            for c in range(0, n, step):
                ap = F.pad(
                    a[c : c + step].permute(0, 2, 3, 1), (0, 0, pad[1], pad[1], pad[0], pad[0])
                )
                ap = ap.contiguous()
                s = ap.stride()
                patches = ap.as_strided(
                    (len(ap), ho, wo, ks[0], ks[1], ap.shape[-1]),
                    (s[0], st[0] * s[1], st[1] * s[2], dil[0] * s[1], dil[1] * s[2], s[3]),
                ).reshape(len(ap), ho * wo, kdim)
                _accumulate(out, "weight", torch.bmm(dl[c : c + step].transpose(1, 2), patches))
            for m in out["weight"]:  # (cout, kh, kw, cin) -> the weight's (cout, cin, kh, kw)
                m.copy_(m.reshape(cout, ks[0], ks[1], -1).permute(0, 3, 1, 2).reshape(-1))
            return out
        d = d.reshape(n, groups, cout // groups, ho * wo)
        for c in range(0, n, step):
            u = F.unfold(a[c : c + step], ks, dilation=dil, padding=pad, stride=st)
            u = u.reshape(len(u), groups, kdim // groups, -1)
            _accumulate(out, "weight", torch.matmul(d[c : c + step], u.transpose(-1, -2)))
        return out
    # normalisations: weight gradient = sum over positions of d * normalised input
    if kind == "batchnorm":
        shape = (1, -1) + (1,) * (a.dim() - 2)
        xhat = (a - mod.running_mean.reshape(shape)) * torch.rsqrt(
            mod.running_var.reshape(shape) + mod.eps
        )
    elif kind == "layernorm":
        xhat = F.layer_norm(a, mod.normalized_shape, None, None, mod.eps)
    else:  # groupnorm
        xhat = F.group_norm(a, mod.num_groups, None, None, mod.eps)

    def per(t):  # per-sample sum over positions, in the parameter's shape
        if kind == "layernorm":
            return t.reshape(n, -1, int(np.prod(mod.normalized_shape))).sum(1)
        return t.sum(tuple(range(2, t.dim()))) if t.dim() > 2 else t

    if "weight" in locs:
        _accumulate(out, "weight", per(d * xhat))
    if "bias" in locs:
        _accumulate(out, "bias", per(d))
    return out


def _loop_grads(module, names, params, frozen, buffers, xb, yb):
    """Per-sample gradients, one backward pass per sample (the reference)."""
    import torch
    from torch.func import functional_call
    from torch.nn import functional as F

    plist = [params[n].clone().requires_grad_(True) for n in names]
    for i in range(len(yb)):
        pd = dict(zip(names, plist))
        out = functional_call(module, (pd, frozen, buffers), (xb[i : i + 1],))
        loss = F.cross_entropy(_logits(out), yb[i : i + 1])
        yield torch.autograd.grad(loss, plist)


def _vmap_fn(module, names, params_all, buffers):
    """``(params, per_sample)``: vmap(grad) over the parameters ``names``, the others frozen."""
    from torch.func import functional_call, grad, vmap
    from torch.nn import functional as F

    sel = set(names)
    # standard (contiguous) layout: vmap's batching rules for channels-last
    # convolution weights are much slower on CPU
    params = {n: params_all[n].contiguous() for n in names}
    frozen = {n: p for n, p in params_all.items() if n not in sel}

    def loss_one(p, x, t):
        out = functional_call(module, (p, frozen, buffers), (x.unsqueeze(0),))
        return F.cross_entropy(_logits(out), t.unsqueeze(0))

    return params, vmap(grad(loss_one), in_dims=(None, 0, 0))


def _add_vmap(s1, s2, names, params, per_sample, xb, yb):
    g = per_sample(params, xb, yb)
    for n in names:
        gd = g[n].reshape(len(yb), -1)
        # float32 within a batch (fast contiguous reduction), float64 across
        s1[n] += gd.sum(0).double()
        s2[n] += (gd * gd).sum(0).double()


def _hooked_pass(
    module, plan, fallback, batches, params_all, buffers, s1, s2, n_check=2, rtol=1e-3
):
    """One pass of ``method="auto"``; raises :class:`_Retry` when a hooked layer fails a check.

    Hooked layers: a forward hook keeps the layer input ``a`` and registers a
    tensor hook on the output (or, for an output that does not require grad
    yet, adds a zero "probe" tensor to it); the gradient ``d`` of the summed
    cross-entropy with respect to the output is, row by row, each sample's
    own output gradient (evaluation mode, no coupling between samples).
    Parameters are detached, so no batch weight gradient is computed. On the
    first batch the moments of ``n_check`` samples are compared with
    per-sample backward passes: a layer that disagrees (samples coupled by
    batch statistics, its weight also used outside the layer...) or that is
    not called exactly once is retried with vmap. The hooks are always
    removed.
    """
    import torch
    from torch.func import functional_call
    from torch.nn import functional as F

    records = {mod: {} for mod in plan}
    active = [False]

    def hook(mod, inputs, output):
        if not active[0]:
            return None
        rec = records[mod]
        rec["count"] = rec.get("count", 0) + 1
        if rec["count"] > 1 or not isinstance(output, torch.Tensor) or not inputs:
            return None
        rec["a"], rec["out"] = inputs[0].detach(), output
        if output.requires_grad:
            # fires with the gradient of this version of the output, even if a
            # later in-place operation (ReLU(inplace=True)) modifies it
            output.register_hook(lambda g: rec.__setitem__("d", g))
            return None
        # output not differentiable yet (first layer): add a zero probe
        rec["probe"] = torch.zeros_like(output, requires_grad=True)
        return output + rec["probe"]

    vm = _vmap_fn(module, fallback, params_all, buffers) if fallback else None
    handles = []
    try:
        handles = [mod.register_forward_hook(hook) for mod in plan]
        for b, (xb, yb) in enumerate(batches):
            if plan:
                for rec in records.values():
                    rec.clear()
                active[0] = True
                try:
                    with torch.enable_grad():
                        logits = _logits(functional_call(module, (params_all, buffers), (xb,)))
                        bad = [
                            m
                            for m, rec in records.items()
                            if rec.get("count") != 1 or "a" not in rec
                        ]
                        if bad:
                            raise _Retry(bad)
                        loss = F.cross_entropy(logits, yb, reduction="sum")
                        probes = [rec["probe"] for rec in records.values() if "probe" in rec]
                        if loss.requires_grad and probes:
                            # hooked outputs downstream of a probe get their gradient on the way
                            grads = torch.autograd.grad(loss, probes, allow_unused=True)
                            for rec, g in zip([r for r in records.values() if "probe" in r], grads):
                                rec["d"] = g
                finally:
                    active[0] = False
                deltas = []
                for rec in records.values():
                    if rec.get("d") is None:  # the loss does not depend on this output
                        rec["d"] = torch.zeros_like(rec["out"])
                    deltas.append(rec["d"])
                if b == 0:
                    _check_hooked(
                        module, plan, records, deltas, params_all, buffers, xb, yb, n_check, rtol
                    )
                for (mod, (kind, locs)), rec, d in zip(plan.items(), records.values(), deltas):
                    for local, (m1, m2) in _layer_moments(kind, mod, locs, rec["a"], d).items():
                        s1[locs[local]] += m1.double()
                        s2[locs[local]] += m2.double()
                for rec in records.values():
                    rec.clear()
            if vm is not None:
                _add_vmap(s1, s2, fallback, *vm, xb, yb)
    finally:
        for h in handles:
            h.remove()


def _check_hooked(module, plan, records, deltas, params_all, buffers, xb, yb, n_check, rtol):
    import torch

    k = min(n_check, len(yb))
    names = [name for _, locs in plan.values() for name in locs.values()]
    frozen = {n: p for n, p in params_all.items() if n not in set(names)}
    ref1 = {n: 0.0 for n in names}
    ref2 = {n: 0.0 for n in names}
    for gs in _loop_grads(module, names, params_all, frozen, buffers, xb[:k], yb[:k]):
        for n, g in zip(names, gs):
            g = g.detach().reshape(-1)
            ref1[n] = ref1[n] + g
            ref2[n] = ref2[n] + g * g
    scale = sum(float(torch.as_tensor(v).sum()) for v in ref2.values())
    atol = 1e-7 * scale**0.5
    bad = []
    for (mod, (kind, locs)), rec, d in zip(plan.items(), records.values(), deltas):
        got = _layer_moments(kind, mod, locs, rec["a"][:k], d[:k])
        for local, name in locs.items():
            m1, m2 = got[local]
            r1, r2 = torch.as_tensor(ref1[name]), torch.as_tensor(ref2[name])
            tot = float(r2.sum())
            if (
                float((m1 - r1).norm()) > rtol * tot**0.5 + atol
                or float((m2 - r2).abs().sum()) > rtol * tot + atol * atol
            ):
                bad.append(mod)
                break
    if bad:
        raise _Retry(bad)


def _gradient_moments(net, X, y, layers=None, batch_size=256, method="auto"):
    """Sum and sum of squares (float64) of per-sample loss gradients.

    Returns ``(groups, s1, s2, n)`` with ``s1[name]``/``s2[name]`` flat arrays.
    """
    import torch

    _check_method(method)
    if (
        not isinstance(batch_size, numbers.Integral)
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    net, X = _unwrap(net, X)
    Xp, yp, to_input, device = _prepare(net, X, y)
    if len(Xp) < 2:
        raise ValueError("GSNR needs at least two samples (a variance over samples)")
    module = net.module_
    groups = _select_layers(module, layers)
    selected = [n for names in groups.values() for n in names]
    params_all = {n: p.detach() for n, p in module.named_parameters()}
    buffers = {n: b.detach() for n, b in module.named_buffers()}

    def batches():
        for start in range(0, len(Xp), batch_size):
            xb = to_input(Xp[start : start + batch_size])
            yield xb, torch.as_tensor(yp[start : start + batch_size], device=device)

    def zeros():
        s1 = {
            n: torch.zeros(params_all[n].numel(), dtype=torch.float64, device=device)
            for n in selected
        }
        return s1, {n: torch.zeros_like(v) for n, v in s1.items()}

    s1, s2 = zeros()
    was_training = module.training
    module.eval()  # BatchNorm running statistics, no dropout: per-sample gradients are defined
    try:
        if method == "auto":
            plan = _hook_plan(module, selected)
            while True:
                hooked = {name for _, locs in plan.values() for name in locs.values()}
                fallback = [n for n in selected if n not in hooked]
                try:
                    _hooked_pass(module, plan, fallback, batches(), params_all, buffers, s1, s2)
                    break
                except _Retry as retry:
                    plan = {m: v for m, v in plan.items() if m not in retry.modules}
                    s1, s2 = zeros()
        elif method == "vmap":
            params, per_sample = _vmap_fn(module, selected, params_all, buffers)
            for xb, yb in batches():
                _add_vmap(s1, s2, selected, params, per_sample, xb, yb)
        else:  # reference implementation: one backward pass per sample
            sel = set(selected)
            params = {n: params_all[n].contiguous() for n in selected}
            frozen = {n: p for n, p in params_all.items() if n not in sel}
            for xb, yb in batches():
                for gs in _loop_grads(module, selected, params, frozen, buffers, xb, yb):
                    for n, gi in zip(selected, gs):
                        gd = gi.reshape(-1).double()
                        s1[n] += gd
                        s2[n] += gd * gd
    finally:
        module.train(was_training)
    s1 = {n: v.cpu().numpy() for n, v in s1.items()}
    s2 = {n: v.cpu().numpy() for n, v in s2.items()}
    return groups, s1, s2, len(Xp)


def _element_gsnr(s1, s2, n):
    mean = s1 / n
    var = np.maximum((s2 - n * mean * mean) / (n - 1), 0.0)
    msq = mean * mean
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(var > 0, msq / np.where(var > 0, var, 1.0), 0.0)
    return r, msq, var


@validate_params(
    {
        "estimator": "no_validation",  # a fitted skorch net; checked with a clear message
        "X": "no_validation",  # features or images, validated by the network
        "y": ["array-like"],
        "layers": "no_validation",  # patterns, indices or None: checked against the network
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions(set(_METHODS))],
        "as_frame": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def layerwise_gsnr(estimator, X, y, *, layers=None, batch_size=256, method="auto", as_frame=False):
    """Per-layer gradient signal-to-noise ratio of a fitted network.

    For every trainable parameter ``theta_j`` the per-sample gradients
    ``g_ij`` of the cross-entropy loss on ``(X, y)`` give
    ``GSNR_j = mean_i(g_ij)^2 / var_i(g_ij)`` (unbiased variance); a layer's
    GSNR is the mean over its parameters. Only the sums ``sum_i g_ij`` and
    ``sum_i g_ij**2`` are needed; they are computed one batch at a time, with
    the network in evaluation mode (BatchNorm running statistics, no
    dropout), summed in float32 within a batch and float64 across batches.

    Parameters
    ----------
    estimator : fitted skorch classifier or Pipeline ending with one
        Typically a :class:`~skforensics.neural.SAMNetClassifier`; the steps
        of a Pipeline before it transform ``X`` first.
    X : images or feature matrix
        Held-out data, as accepted by the estimator.
    y : array-like of shape (n,)
        Labels.
    layers : None, str, int or list, default=None
        Layers (module names such as ``"features.0"``, glob patterns, or
        indices in the order of ``named_parameters``) to include; None for all
        layers with trainable parameters.
    batch_size : int, default=256
        Samples per batch (memory with ``"vmap"``: ``batch_size x n_params``
        floats).
    method : {"auto", "vmap", "loop"}, default="auto"
        How the per-sample gradient moments are computed:

        - ``"auto"``: one batched forward and backward pass; forward hooks on
          ``Linear``, ``Conv1d``/``Conv2d`` (zero padding), ``LayerNorm``,
          ``GroupNorm`` and ``BatchNorm`` (running statistics) layers keep
          each layer's input and output gradient, from which the moments
          follow exactly: for a ``Linear`` layer on ``(n, d)`` inputs
          ``(delta**2).T @ a**2`` is the sum of squared per-sample
          gradients (one matrix product); weight-shared layers (convolutions,
          ``Linear`` on token sequences) build per-sample gradients in small
          chunks with one batched matrix product. The parameters of any other
          layer (custom ``Parameter``, embeddings, attention...) are computed
          with ``"vmap"``. On the first batch the result for two samples is
          checked against per-sample backward passes; a layer that disagrees
          (samples coupled by batch statistics, a weight also used outside
          its layer...) falls back to ``"vmap"``.
        - ``"vmap"``: :func:`torch.func.vmap` over :func:`torch.func.grad`
          materialises the per-sample gradients of every parameter.
        - ``"loop"``: the slow reference, one backward pass per sample.

        All three agree to float32 precision.
    as_frame : bool, default=False
        Return a pandas DataFrame instead of a Bunch.

    Returns
    -------
    table : Bunch or DataFrame
        Columns ``layer`` (name), ``depth`` (index), ``n_params``, ``gsnr``
        (mean parameter GSNR), ``grad_mean_sq`` (mean squared mean gradient)
        and ``grad_var`` (mean gradient variance), one row per layer, input
        side first; a Bunch also has ``n_samples``.

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics.neural import SAMNetClassifier, LinearProbe
    >>> from skforensics.metrics import layerwise_gsnr
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(40, 3).astype(np.float32); y = (X[:, 0] > 0).astype(int)
    >>> clf = SAMNetClassifier(LinearProbe, max_epochs=2, random_state=0).fit(X, y)
    >>> table = layerwise_gsnr(clf, X, y)
    >>> list(table.layer), table.gsnr.shape
    (['linear'], (1,))
    >>> ref = layerwise_gsnr(clf, X, y, method="loop")  # slow reference
    >>> bool(np.allclose(table.gsnr, ref.gsnr, rtol=1e-4))
    True
    """
    groups, s1, s2, n = _gradient_moments(estimator, X, y, layers, batch_size, method)
    rows = {
        "layer": [],
        "depth": [],
        "n_params": [],
        "gsnr": [],
        "grad_mean_sq": [],
        "grad_var": [],
    }
    for depth, (layer, names) in enumerate(groups.items()):
        a1 = np.concatenate([s1[k] for k in names])
        a2 = np.concatenate([s2[k] for k in names])
        r, msq, var = _element_gsnr(a1, a2, n)
        rows["layer"].append(layer)
        rows["depth"].append(depth)
        rows["n_params"].append(a1.size)
        rows["gsnr"].append(float(r.mean()))
        rows["grad_mean_sq"].append(float(msq.mean()))
        rows["grad_var"].append(float(var.mean()))
    cols = {
        "layer": np.array(rows["layer"], dtype=object),
        "depth": np.array(rows["depth"]),
        "n_params": np.array(rows["n_params"]),
        "gsnr": np.array(rows["gsnr"]),
        "grad_mean_sq": np.array(rows["grad_mean_sq"]),
        "grad_var": np.array(rows["grad_var"]),
    }
    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "as_frame=True needs pandas; install it or use as_frame=False"
            ) from exc

        return pd.DataFrame(cols)
    return Bunch(n_samples=n, **cols)


def _aggregate(table, aggregate):
    g = np.asarray(table["gsnr"], dtype=float)
    if aggregate == "mean":
        return float(g.mean())
    if aggregate == "median":
        return float(np.median(g))
    if aggregate == "min":
        return float(g.min())
    if aggregate == "max":
        return float(g.max())
    if aggregate == "first":
        return float(g[0])
    if aggregate == "last":
        return float(g[-1])
    # pooled: mean over all parameters, whatever their layer
    w = np.asarray(table["n_params"], dtype=float)
    return float(np.sum(g * w) / np.sum(w))


def _check_aggregate(aggregate):
    if aggregate not in _AGGREGATES:
        raise ValueError(f"aggregate must be one of {_AGGREGATES}, got {aggregate!r}")


@validate_params(
    {
        "estimator": "no_validation",
        "X": "no_validation",
        "y": ["array-like"],
        "layers": "no_validation",  # patterns, indices or None: checked against the network
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions(set(_METHODS))],
        "aggregate": [StrOptions(set(_AGGREGATES))],
    },
    prefer_skip_nested_validation=True,
)
def gsnr_score(estimator, X, y, *, layers=None, aggregate="mean", batch_size=256, method="auto"):
    """Gradient signal-to-noise ratio of a fitted network on ``(X, y)``; higher is better.

    CoRIT relates a high GSNR to a larger critical optimization radius and
    better generalization. This is :func:`layerwise_gsnr` reduced to one
    number.

    Parameters
    ----------
    estimator : fitted skorch classifier or Pipeline ending with one
    X : images or feature matrix
    y : array-like of shape (n,)
    layers : None, str, int or list, default=None
        Layers to include (see :func:`layerwise_gsnr`).
    aggregate : {"mean", "median", "min", "max", "first", "last", "pooled"}, default="mean"
        How layer GSNRs are reduced: statistics over layers, the first/last
        layer, or ``"pooled"``: the mean over all parameters.
    batch_size : int, default=256
        Samples per batch.
    method : {"auto", "vmap", "loop"}, default="auto"
        How per-sample gradient moments are computed (see
        :func:`layerwise_gsnr`): batched layer rules with a vmap fallback,
        vmap for every parameter, or the slow reference loop.

    Returns
    -------
    score : float

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics.neural import SAMNetClassifier, LinearProbe
    >>> from skforensics.metrics import gsnr_score
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(40, 3).astype(np.float32); y = (X[:, 0] > 0).astype(int)
    >>> clf = SAMNetClassifier(LinearProbe, max_epochs=2, random_state=0).fit(X, y)
    >>> gsnr_score(clf, X, y) > 0
    True
    >>> bool(np.isclose(gsnr_score(clf, X, y), gsnr_score(clf, X, y, method="loop"), rtol=1e-4))
    True
    """
    _check_aggregate(aggregate)
    _check_method(method)
    table = layerwise_gsnr(estimator, X, y, layers=layers, batch_size=batch_size, method=method)
    return _aggregate(table, aggregate)


class _GSNRScorer:
    """Scorer ``(estimator, X, y) -> GSNR`` (higher is better); see :func:`make_gsnr_scorer`."""

    def __init__(self, layers=None, aggregate="mean", batch_size=256, method="auto"):
        self.layers = layers
        self.aggregate = aggregate
        self.batch_size = batch_size
        self.method = method

    def __call__(self, estimator, X, y=None, sample_weight=None, **kwargs):
        if sample_weight is not None:
            raise ValueError("the GSNR scorer does not support sample_weight")
        return gsnr_score(
            estimator,
            X,
            y,
            layers=self.layers,
            aggregate=self.aggregate,
            batch_size=self.batch_size,
            method=self.method,
        )

    def __repr__(self):
        extra = "" if self.method == "auto" else f", method={self.method!r}"
        return f"make_gsnr_scorer(layers={self.layers!r}, aggregate={self.aggregate!r}{extra})"


@validate_params(
    {
        "layers": "no_validation",  # patterns, indices or None: checked against the network
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions(set(_METHODS))],
        "aggregate": [StrOptions(set(_AGGREGATES))],
    },
    prefer_skip_nested_validation=True,
)
def make_gsnr_scorer(layers=None, aggregate="mean", batch_size=256, method="auto"):
    """Make a scikit-learn scorer that returns the held-out GSNR (higher is better).

    Use it as ``scoring=`` of :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_val_score` and the like, e.g. to
    pick SAM's radius by ``{"optimizer__rho": [...]}``.

    Parameters
    ----------
    layers : None, str, int or list, default=None
        Layers to include (see :func:`layerwise_gsnr`).
    aggregate : {"mean", "median", "min", "max", "first", "last", "pooled"}, default="mean"
        Reduction over layers (see :func:`gsnr_score`).
    batch_size : int, default=256
        Samples per batch.
    method : {"auto", "vmap", "loop"}, default="auto"
        How per-sample gradient moments are computed (see
        :func:`layerwise_gsnr`).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``.

    Examples
    --------
    >>> from skforensics.metrics import make_gsnr_scorer
    >>> make_gsnr_scorer(layers=[-1], aggregate="last")
    make_gsnr_scorer(layers=[-1], aggregate='last')
    >>> make_gsnr_scorer(method="vmap")
    make_gsnr_scorer(layers=None, aggregate='mean', method='vmap')
    """
    _check_aggregate(aggregate)
    _check_method(method)
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return _GSNRScorer(layers=layers, aggregate=aggregate, batch_size=batch_size, method=method)


# ----------------------------------------------------------- critical radius
_CHANCE = {"accuracy": None, "balanced_accuracy": "1/k", "roc_auc": 0.5}


def _chance_level(scoring, y, chance_level):
    if chance_level is not None:
        return float(chance_level)
    if scoring not in _CHANCE:
        raise ValueError(
            f"no known chance level for scoring={scoring!r}; pass chance_level= "
            f"(known: {sorted(_CHANCE)})"
        )
    _, counts = np.unique(np.asarray(y), return_counts=True)
    if scoring == "accuracy":
        return float(counts.max() / counts.sum())
    if scoring == "balanced_accuracy":
        return 1.0 / len(counts)
    return 0.5


@validate_params(
    {
        "estimator": "no_validation",  # unfitted; needs the param_name parameter
        "X": "no_validation",
        "y": ["array-like"],
        "rhos": ["array-like", None],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "param_name": [str],
        "tol": [Interval(Real, 0, 1, closed="left")],
        "chance_level": [Real, None],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=False,  # the estimator validates its own parameters
)
def critical_optimization_radius(
    estimator,
    X,
    y,
    *,
    rhos=None,
    cv=3,
    scoring="accuracy",
    param_name="optimizer__rho",
    tol=0.1,
    chance_level=None,
    n_jobs=None,
    verbose=0,
):
    """Estimate the SAM radius at which validation performance collapses to chance.

    CoRIT's critical optimization radius (COR): beyond it, SAM training
    degenerates to random guessing. The estimator is cross-validated for each
    radius in ``rhos`` (by setting ``param_name``); the radius *collapses*
    when its mean validation score falls to
    ``chance + tol * (best - chance)``. The COR is where the score curve first
    crosses that threshold, interpolated linearly in ``log(rho)`` between the
    last radius above it and the first below it.

    Parameters
    ----------
    estimator : estimator
        Unfitted; e.g. ``SAMNetClassifier`` or a Pipeline (then
        ``param_name`` needs the step prefix, e.g. ``"samnetclassifier__optimizer__rho"``).
    X : array-like or images
        Training data of the estimator.
    y : array-like of shape (n_samples,)
        Labels.
    rhos : array-like, default=None
        Radii, increasing; default ``np.geomspace(1e-2, 1e2, 9)``.
    cv : int or cross-validation generator, default=3
        As in :func:`sklearn.model_selection.validation_curve`.
    scoring : str, default="accuracy"
        ``"accuracy"`` (chance: majority-class rate), ``"balanced_accuracy"``
        (1/k), ``"roc_auc"`` (0.5) or any scorer with ``chance_level``.
    param_name : str, default="optimizer__rho"
        The radius parameter.
    tol : float, default=0.1
        Fraction of the gain over chance still allowed in a collapsed run.
    chance_level : float, default=None
        Overrides the chance level.
    n_jobs : int, default=None
        Parallel fits.
    verbose : int, default=0
        Verbosity of the cross-validation.

    Returns
    -------
    result : Bunch
        ``critical_radius`` (float; ``inf`` if nothing collapsed), ``rhos``,
        ``mean_test_score``, ``std_test_score``, ``mean_train_score``,
        ``collapsed`` (bool per radius), ``chance_level``, ``threshold``,
        ``scoring``.

    Warns
    -----
    UserWarning
        If no radius collapsed (the COR is above the grid) or the smallest
        already did (the COR is at most ``rhos[0]``).
    """
    from sklearn.model_selection import validation_curve

    rhos = np.geomspace(1e-2, 1e2, 9) if rhos is None else np.asarray(rhos, dtype=float)
    if rhos.ndim != 1 or len(rhos) < 2:
        raise ValueError("rhos must be a 1-D array of at least two radii")
    if np.any(rhos < 0) or np.any(np.diff(rhos) <= 0) or not np.all(np.isfinite(rhos)):
        raise ValueError("rhos must be finite, non-negative and strictly increasing")
    if not 0 <= tol < 1:
        raise ValueError(f"tol must be in [0, 1), got {tol!r}")
    chance = _chance_level(scoring, y, chance_level)
    train, test = validation_curve(
        estimator,
        X,
        y,
        param_name=param_name,
        param_range=list(rhos),
        cv=cv,
        scoring=scoring,
        n_jobs=n_jobs,
        verbose=verbose,
    )
    mean, std = test.mean(axis=1), test.std(axis=1)
    best = float(mean.max())
    threshold = chance + tol * max(best - chance, 0.0)
    collapsed = mean <= threshold
    if not collapsed.any():
        cor = np.inf
        warnings.warn(
            f"no radius up to {rhos[-1]:g} collapsed to chance ({chance:.3f}); the critical "
            "optimization radius is above the grid",
            UserWarning,
            stacklevel=2,
        )
    else:
        k = int(np.argmax(collapsed))
        if k == 0:
            cor = float(rhos[0])
            warnings.warn(
                f"the smallest radius {rhos[0]:g} already collapsed to chance; the critical "
                "optimization radius is at most that",
                UserWarning,
                stacklevel=2,
            )
        else:
            r0, r1, s0, s1 = rhos[k - 1], rhos[k], mean[k - 1], mean[k]
            frac = (s0 - threshold) / (s0 - s1) if s0 != s1 else 1.0
            if r0 > 0:
                cor = float(np.exp(np.log(r0) + frac * (np.log(r1) - np.log(r0))))
            else:
                cor = float(r0 + frac * (r1 - r0))
    return Bunch(
        critical_radius=cor,
        rhos=rhos,
        mean_test_score=mean,
        std_test_score=std,
        mean_train_score=train.mean(axis=1),
        collapsed=collapsed,
        chance_level=chance,
        threshold=threshold,
        scoring=scoring,
    )
