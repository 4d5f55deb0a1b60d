"""Small torch helpers shared by the torch-backed estimators (imported lazily)."""

import io

import numpy as np


def resolve_device(device):
    """Resolve ``"auto"`` to ``"cuda"`` when available, else ``"cpu"``.

    Explicit devices are checked: asking for CUDA on a machine without it raises.
    """
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
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
