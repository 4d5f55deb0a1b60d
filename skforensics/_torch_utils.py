"""Small torch helpers shared by the torch-backed estimators (imported lazily)."""

import contextlib
import io
import os
import threading

import numpy as np


class _TorchDeviceMeta(type):
    def __instancecheck__(cls, obj):
        return type(obj).__module__ == "torch" and type(obj).__name__ == "device"


class TorchDevice(metaclass=_TorchDeviceMeta):
    """``isinstance(x, TorchDevice)`` is ``isinstance(x, torch.device)``, without importing torch."""


TorchDevice.__module__, TorchDevice.__qualname__ = "torch", "device"  # messages say torch.device

#: The one ``_parameter_constraints`` entry of every ``device`` parameter:
#: ``"auto"``, a device string (``"cpu"``, ``"cuda:1"``, ``"mps"``) or a
#: ``torch.device``. :func:`resolve_device` turns it into ``device_``, always a
#: ``torch.device``.
DEVICE_CONSTRAINT = [str, TorchDevice]


def resolve_device(device):
    """Resolve a ``device`` parameter into the ``torch.device`` stored as ``device_``.

    ``"auto"`` (or None) is CUDA when available, else the CPU. Explicit devices
    are checked: asking for CUDA or MPS on a machine without it raises.
    """
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a device: use 'auto', 'cpu', 'cuda', 'cuda:<index>', "
            "'mps' or a torch.device"
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was requested but MPS is not available")
    return dev


def load_device():
    """Device to restore pickled weights on: CUDA if present, else CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def state_dict_to_bytes(module):
    """Serialise a module's ``state_dict`` (moved to CPU) to bytes."""
    import torch

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buf)
    return buf.getvalue()


def bytes_to_state_dict(data, map_location="cpu"):
    """Inverse of :func:`state_dict_to_bytes`, with ``map_location``."""
    import torch

    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)


def seed_from_random_state(random_state):
    """Draw an integer seed for torch from a sklearn ``random_state``."""
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def torch_generator(random_state, device="cpu"):
    """A ``torch.Generator`` seeded from ``random_state`` (no global seeding)."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(seed_from_random_state(random_state))
    return g


def progress(iterable, verbose, desc=None, total=None):
    """Wrap ``iterable`` in a tqdm progress bar when ``verbose``."""
    if not verbose:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total)


def to_numpy(t):
    return t.detach().float().cpu().numpy().astype(np.float32, copy=False)


def default_n_threads():
    """CPU threads an image transformer may use by default, without oversubscribing.

    One when called from a thread other than the main one (a Dask worker task, a
    joblib threading-backend job, a user's thread pool: several copies run side
    by side). Otherwise the CPUs this process may run on, capped by torch's
    intra-op thread count, which follows ``OMP_NUM_THREADS`` -- the limit that
    Dask's nanny (1) and joblib's loky workers (cores / workers) set for their
    worker processes -- and ``torch.set_num_threads``.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        return 1
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        n = os.cpu_count() or 1
    import torch

    return max(1, min(n, torch.get_num_threads()))


_TORCH_THREADS_LOCK = threading.Lock()
_TORCH_THREADS_STATE = {"depth": 0, "saved": None}


@contextlib.contextmanager
def single_torch_thread():
    """Run torch's CPU kernels on the calling thread for the duration of the block.

    Scoped and re-entrant across threads: the first entrant saves
    ``torch.get_num_threads()`` and sets 1, the last one to leave restores it.
    Many small kernels (image filters on a few images) run several times faster
    this way than with torch's OpenMP pool, whose threads wait on each other and
    on every other busy process; the caller parallelizes over images instead.
    """
    import torch

    with _TORCH_THREADS_LOCK:
        if _TORCH_THREADS_STATE["depth"] == 0:
            _TORCH_THREADS_STATE["saved"] = torch.get_num_threads()
            if _TORCH_THREADS_STATE["saved"] != 1:
                torch.set_num_threads(1)
        _TORCH_THREADS_STATE["depth"] += 1
    try:
        yield
    finally:
        with _TORCH_THREADS_LOCK:
            _TORCH_THREADS_STATE["depth"] -= 1
            if _TORCH_THREADS_STATE["depth"] == 0 and _TORCH_THREADS_STATE["saved"] != 1:
                torch.set_num_threads(_TORCH_THREADS_STATE["saved"])
