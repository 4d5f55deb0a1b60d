"""
=========================================================
SAM's optimization collapse and the critical radius
=========================================================

CoRIT observes that forensic detectors trained with Sharpness-Aware
Minimization (SAM) fall to chance once the SAM radius ``rho`` passes a
critical optimization radius (COR), and ties the COR to the gradient
signal-to-noise ratio (GSNR). This example reproduces the collapse on a small
real task, estimates the COR by cross-validation, and compares the per-layer
GSNR of a network trained below and above it.

The task: 48 high-pass energy features (mean absolute Laplacian residual in
a 4x4 grid, per colour channel) of 400 CIFAKE images (CIFAR-10 photos vs
Stable Diffusion 1.4 images), classified by a small MLP trained with SAM. It
runs in seconds on a CPU. With the project's shared data absent, the 48
CIFAKE images shipped with skforensics are used (noisier).
"""

# %%
# Features of real and generated images
# -------------------------------------
import csv
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from skforensics.datasets import load_images, load_sample_images
from skforensics.metrics import (
    GSNRProfileDisplay,
    RadiusSweepDisplay,
    critical_optimization_radius,
    gsnr_score,
)
from skforensics.neural import MLPHead, SAMNetClassifier


def cifake_paths(n_per_class=200, seed=0):
    shared = os.environ.get("SKFORENSICS_SHARED_DATA", os.path.join("..", "..", "shared", "data"))
    manifest = os.path.join(shared, "MANIFEST.csv")
    if not os.path.exists(manifest):
        data = load_sample_images("cifake")
        return list(data.paths), data.y
    with open(manifest, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].startswith("cifake/")]
    y = np.array([int(r["label"]) for r in rows])
    rng = np.random.RandomState(seed)
    keep = np.sort(
        np.concatenate([rng.choice(np.flatnonzero(y == c), n_per_class, False) for c in (0, 1)])
    )
    return [os.path.join(shared, rows[i]["path"]) for i in keep], y[keep]


# A 48-16-2 network is far too small for torch's thread pool: with two threads
# on a busy CPU its fits were 18x slower than with one (restored at the end).
torch_threads = torch.get_num_threads()
torch.set_num_threads(1)

paths, y = cifake_paths()
images = np.stack(load_images(paths)).astype(np.float32) / 255
residual = (
    images
    - (
        np.roll(images, 1, 1)
        + np.roll(images, -1, 1)
        + np.roll(images, 1, 2)
        + np.roll(images, -1, 2)
    )
    / 4
)
n = len(images)
X = np.abs(residual).reshape(n, 4, 8, 4, 8, 3).mean((2, 4)).reshape(n, -1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
print(f"{n} images, {X.shape[1]} features, {int(y.sum())} fakes")

# %%
# Sweep the SAM radius
# --------------------
# :func:`~skforensics.metrics.critical_optimization_radius` cross-validates the
# network for each radius; a radius has collapsed when the validation accuracy
# is back to chance (within 10% of the gain over chance).
net = SAMNetClassifier(
    MLPHead,
    module__hidden_sizes=(16,),
    lr=0.05,
    optimizer__momentum=0.9,
    max_epochs=8,
    batch_size=32,
    random_state=0,
)
rhos = [0.01, 0.1, 0.3, 1.0, 3.0, 100.0]
cv = StratifiedKFold(3, shuffle=True, random_state=0)
result = critical_optimization_radius(net, X, y, rhos=rhos, cv=cv)
for rho, score in zip(result.rhos, result.mean_test_score):
    print(f"rho={rho:<6g} validation accuracy {score:.3f}")
print(f"critical optimization radius ~ {result.critical_radius:.3g}")

RadiusSweepDisplay.from_result(result)
plt.title("SAM on CIFAKE high-pass features")
plt.tight_layout()

# %%
# GSNR below and above the critical radius
# ----------------------------------------
# Train once with a small radius and once with a radius past the COR, and
# compare the GSNR of the per-sample gradients on held-out images, layer by
# layer.
#
# Read it with care: a collapsed network has nearly constant outputs, so every
# sample pushes the output layer the same way, and a consistent gradient has a
# high signal-to-noise ratio although nothing discriminative is learnt. In our
# runs the ordering of the two networks' mean GSNR changed with the number of
# epochs. GSNR is a diagnostic to compare networks that still train (radii
# below the COR, layers of one network), read together with the accuracy, not
# a replacement for it.
train, test = next(cv.split(X, y))
fig, ax = plt.subplots()
for rho in (0.03, 100.0):
    clf = SAMNetClassifier(**{**net.get_params(), "optimizer__rho": rho}).fit(X[train], y[train])
    acc = clf.score(X[test], y[test])
    score = gsnr_score(clf, X[test], y[test])
    print(f"rho={rho:g}: held-out accuracy {acc:.3f}, mean layer GSNR {score:.3g}")
    GSNRProfileDisplay.from_estimator(
        clf, X[test], y[test], label=f"rho={rho:g} (acc {acc:.2f})", ax=ax
    )
ax.set_title("Per-layer GSNR on held-out images")
plt.tight_layout()
plt.show()
torch.set_num_threads(torch_threads)
