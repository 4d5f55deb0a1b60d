import csv
import os

import numpy as np
import pytest

SHARED_DATA = os.environ.get(
    "SKFORENSICS_SHARED_DATA",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")),
)

#: name of the tiny open_clip config shipped in skforensics/_configs (a few layers, width 64)
TINY_CLIP = "skf-tiny-vit"


def _load_set(name, n_per_class=None, seed=0):
    manifest = os.path.join(SHARED_DATA, "MANIFEST.csv")
    if not os.path.exists(manifest):
        pytest.skip(f"shared data not found at {SHARED_DATA} (set SKFORENSICS_SHARED_DATA)")
    with open(manifest, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].startswith(name + "/")]
    paths = np.array([os.path.join(SHARED_DATA, r["path"]) for r in rows])
    y = np.array([int(r["label"]) for r in rows])
    gen = np.array([r["generator"] for r in rows])
    if n_per_class is not None:
        rng = np.random.RandomState(seed)
        keep = np.concatenate(
            [rng.choice(np.flatnonzero(y == c), n_per_class, replace=False) for c in (0, 1)]
        )
        keep.sort()
        paths, y, gen = paths[keep], y[keep], gen[keep]
    return list(paths), y, gen


@pytest.fixture(scope="session")
def shared_data_dir():
    if not os.path.isdir(SHARED_DATA):
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def diffusiondb():
    """(paths, y, generator) of the 600 512x512 images of diffusiondb_coco."""
    return _load_set("diffusiondb_coco")


@pytest.fixture(scope="session")
def cifake_small():
    """(paths, y, generator) of 400 + 400 CIFAKE images (32x32)."""
    return _load_set("cifake", n_per_class=400)


@pytest.fixture(scope="session")
def tiny_clip_name():
    return TINY_CLIP


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of tiny networks (synchronisation costs more than it saves)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def save_as_before(monkeypatch):
    """``save_as_before(est, param, path)``: a safe model file written as if ``param`` did not exist.

    For tests that a model saved before a parameter was added still loads.
    """
    import skforensics

    def save(est, param, path):
        cls = type(est)
        getstate = cls.__getstate__

        def without(self):
            return {k: v for k, v in getstate(self).items() if k != param}

        with monkeypatch.context() as m:
            m.setattr(cls, "__getstate__", without)
            skforensics.save(est, path)
        return path

    return save
