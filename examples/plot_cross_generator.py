"""
=====================================================
Cross-generator evaluation: leave one generator out
=====================================================

A detector is only useful if it recognises images of generators it was not
trained on. :class:`~skforensics.model_selection.LeaveOneGeneratorOut` makes
that protocol a scikit-learn cross-validator: for every generator, train on the
real images and all the *other* generators, test on real images and the
held-out one. :func:`~skforensics.model_selection.cross_generator_report`
returns the papers' table (accuracy on real and generated images, average
precision, per test generator and their mean) and
:class:`~skforensics.model_selection.CrossGeneratorDisplay` draws it.

The two "generators" here are the two sets of the project's shared data
(``../shared/data``): CIFAKE (32x32, Stable Diffusion 1.4) and
diffusiondb_coco (512x512, Stable Diffusion 1.x), each with its own real
images. They differ in size, content and compression far more than in the
generator, so this is a hard domain shift; without the shared data the example
falls back on the sample images shipped with skforensics, which hold the same
two sets in miniature.
"""

# %%
# Load a folder with one sub-folder per set
# -----------------------------------------
# :func:`~skforensics.datasets.load_image_folder` reads ``<set>/real`` and
# ``<set>/fake``: the generated images get the set's name as generator and the
# real ones ``"real:<set>"``, so that each generator is tested with its own
# real images.
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import StandardScaler

from skforensics.datasets import load_image_folder
from skforensics.features import ResidualFeatureExtractor, SpectralFeatureExtractor
from skforensics.model_selection import (
    CrossGeneratorDisplay,
    LeaveOneGeneratorOut,
    cross_generator_report,
)

shared = os.environ.get("SKFORENSICS_SHARED_DATA", os.path.join("..", "..", "shared", "data"))
if os.path.isdir(shared):
    data = load_image_folder(shared)
else:
    import skforensics.datasets as ds

    data = load_image_folder(os.path.join(os.path.dirname(ds.__file__), "data"))
rng = np.random.RandomState(0)
keep = []
for g in np.unique(data.generator):  # at most 60 images per (set, class)
    idx = np.flatnonzero(data.generator == g)
    keep.append(rng.choice(idx, min(60, len(idx)), replace=False))
keep = np.sort(np.concatenate(keep))
paths, y, gen = [data.paths[i] for i in keep], data.y[keep], data.generator[keep]
print({str(g): int((gen == g).sum()) for g in np.unique(gen)})

# %%
# The splits
# ----------
for train, test in LeaveOneGeneratorOut().split(paths, y, groups=gen):
    print(
        "test on", sorted(set(gen[test].tolist())), "- train on", sorted(set(gen[train].tolist()))
    )

# %%
# Features once, then the report
# ------------------------------
# The weight-free extractors are stateless, so the (slow) feature step is run
# once and the report cross-validates the scaler + classifier on the features.
features = make_union(SpectralFeatureExtractor(), ResidualFeatureExtractor())
F = features.fit_transform(paths)
clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))

cross = cross_generator_report(clf, (F, y, gen), cv="logo")
print(cross)

# %%
# Trained on one set, the detector calls almost everything of the other set
# "generated": the features learned on 32x32 CIFAKE images say nothing about
# 512x512 photos and vice versa (accuracy 0.5, average precision a little above
# chance). For comparison, 5-fold cross-validation that mixes both sets in training
# (the "seen generators" setting): much easier.
seen = cross_generator_report(clf, (F, y, gen), cv=5)
print(seen)

# %%
# Heatmaps
# --------
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained")
CrossGeneratorDisplay.from_report(cross, metrics=("real_acc", "fake_acc", "ap")).plot(
    ax=axes[0], colorbar=False
)
axes[0].set_title("leave one generator out")
CrossGeneratorDisplay.from_report(seen, metrics=("real_acc", "fake_acc", "ap")).plot(ax=axes[1])
axes[1].set_title("5-fold, all generators seen")
plt.show()
