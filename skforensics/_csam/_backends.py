"""Array back-ends of the CSAM solver: numpy on the CPU, torch on CPU or CUDA.

Both expose the same small set of operations (``matvec``, ``gram_w``,
``cholesky``, ...) so that the solver in :mod:`._solver` is written once.
Also home of the BLAS thread controls used by the basis and the solver.
"""

import numpy as np
from scipy import linalg as sla
from scipy.linalg.lapack import dpotrs as _potrs

__all__ = ["NumpyOps", "TorchOps", "blas_limit", "blas_threads", "get_ops"]


_CONTROLLERS = []


def _controller():
    if not _CONTROLLERS:
        from threadpoolctl import ThreadpoolController

        _CONTROLLERS.append(ThreadpoolController())
    return _CONTROLLERS[0]


def blas_threads():
    """Number of BLAS threads configured for this process (before any limit)."""
    nums = [i.get("num_threads", 1) for i in _controller().info() if i.get("user_api") == "blas"]
    return max(nums) if nums else 1


def blas_limit(n_threads):
    """Context limiting BLAS threads.

    Small dense solves are much faster single-threaded (multi-threaded
    OpenBLAS on small matrices thrashes, badly so on a busy machine); only
    very large Gram products and factorisations use the configured threads.
    """
    return _controller().limit(limits=max(1, int(n_threads)), user_api="blas")


class NumpyOps:
    name = "numpy"

    def __init__(self, dtype=np.float64):
        self.dtype = dtype

    def asarray(self, a, dtype=None):
        return np.asarray(a, dtype=dtype or np.float64)

    def to_numpy(self, a):
        return np.asarray(a, dtype=np.float64)

    def zeros(self, n):
        return np.zeros(n)

    exp = staticmethod(np.exp)
    sqrt = staticmethod(np.sqrt)

    @staticmethod
    def relu(a):
        return np.maximum(a, 0.0)

    @staticmethod
    def absmax(a):
        return float(np.max(np.abs(a))) if a.size else 0.0

    @staticmethod
    def sum(a):
        return float(np.sum(a))

    @staticmethod
    def rownorm(a, q):
        return np.linalg.norm(a, axis=1) if q == 2 else np.max(np.abs(a), axis=1)

    @staticmethod
    def rowsum_abs(a, q):
        return np.linalg.norm(a, axis=1) if q == 2 else np.sum(np.abs(a), axis=1)

    @staticmethod
    def matvec(A, x):
        return (A @ x.astype(A.dtype, copy=False)).astype(np.float64, copy=False)

    @staticmethod
    def rmatvec(A, u):
        return (A.T @ u.astype(A.dtype, copy=False)).astype(np.float64, copy=False)

    @staticmethod
    def take_cols(A, cols):
        # A is usually the Fortran-ordered view Phi = PhiT.T: gather rows of PhiT
        return np.asarray(A.T[cols], dtype=np.float64).T

    @staticmethod
    def gram_w(A, v):
        # v >= 0: B^T B with B = sqrt(v) A lets BLAS use a symmetric rank-k update
        B = A * np.sqrt(v)[:, None]
        return B.T @ B

    @staticmethod
    def eye(m):
        return np.eye(m)

    @staticmethod
    def cholesky(H):
        return sla.cho_factor(H, lower=True, check_finite=False)

    @staticmethod
    def cho_solve(L, b):
        # LAPACK potrs directly: scipy's cho_solve wrapper costs more than the
        # solve itself for the small systems solved in every ADMM iteration
        x, info = _potrs(L[0], b, lower=L[1])
        if info != 0:  # pragma: no cover (only on invalid input)
            return sla.cho_solve(L, b, check_finite=False)
        return x

    @staticmethod
    def outer(a, b):
        return np.outer(a, b)

    @staticmethod
    def colsum_w(A, v):
        return A.T @ v

    @staticmethod
    def sqcolsum_w(A, v):
        return (A * A).T @ v


class TorchOps:
    name = "torch"

    def __init__(self, device):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.dtype = torch.float64

    def asarray(self, a, dtype=None):
        t = self.torch
        return t.as_tensor(np.asarray(a), dtype=dtype or self.dtype, device=self.device)

    def to_numpy(self, a):
        return a.detach().cpu().numpy().astype(np.float64)

    def zeros(self, n):
        return self.torch.zeros(n, dtype=self.dtype, device=self.device)

    def exp(self, a):
        return self.torch.exp(a)

    def sqrt(self, a):
        return self.torch.sqrt(a)

    def relu(self, a):
        return self.torch.clamp(a, min=0.0)

    def absmax(self, a):
        return float(a.abs().max()) if a.numel() else 0.0

    def sum(self, a):
        return float(a.sum())

    def rownorm(self, a, q):
        return a.norm(dim=1) if q == 2 else a.abs().amax(dim=1)

    def rowsum_abs(self, a, q):
        return a.norm(dim=1) if q == 2 else a.abs().sum(dim=1)

    def matvec(self, A, x):
        return (A @ x.to(A.dtype)).to(self.dtype)

    def rmatvec(self, A, u):
        return (A.T @ u.to(A.dtype)).to(self.dtype)

    def take_cols(self, A, cols):
        idx = self.torch.as_tensor(cols, device=self.device, dtype=self.torch.long)
        return A.index_select(1, idx).to(self.dtype).contiguous()

    def gram_w(self, A, v):
        return A.T @ (A * v[:, None])

    def eye(self, m):
        return self.torch.eye(m, dtype=self.dtype, device=self.device)

    def cholesky(self, H):
        return self.torch.linalg.cholesky(H)

    def cho_solve(self, L, b):
        return self.torch.cholesky_solve(b[:, None], L)[:, 0]

    def outer(self, a, b):
        return self.torch.outer(a, b)

    def colsum_w(self, A, v):
        return A.T @ v

    def sqcolsum_w(self, A, v):
        return (A * A).T @ v


def get_ops(backend, device):
    """Array back-end and resolved device for the ``backend`` / ``device`` parameters.

    Returns
    -------
    ops : NumpyOps or TorchOps
    device_ : str
    """
    if backend == "numpy" and device not in ("cpu", "auto"):
        raise ValueError(f"backend='numpy' runs on the CPU only; got device={device!r}")
    if device == "cpu":
        device_ = "cpu"
    else:
        from .._torch_utils import resolve_device

        device_ = str(resolve_device(device))
    use_torch = backend == "torch" or (backend == "auto" and device_ != "cpu")
    return (TorchOps(device_) if use_torch else NumpyOps()), device_
