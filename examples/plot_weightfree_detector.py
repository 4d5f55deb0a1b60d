"""
==========================================================
A weight-free detector: power spectra and pixel residuals
==========================================================

No network, no pretrained weights, no GPU: two numpy feature extractors and a
linear model. :class:`~skforensics.features.SpectralFeatureExtractor` measures
the azimuthally averaged power spectrum (Durall et al. 2020) and the
directional spectra of a pixel residual; :class:`~skforensics.features.ResidualFeatureExtractor`
the statistics of neighbouring-pixel residuals (NPR up-sampling residual,
SPAM co-occurrences, chroma). We compare them with the plain 64-bin radial
spectrum on real photos (COCO, ImageNet) and Stable Diffusion images that went
through the same 512x512 JPEG q95 pipeline, then check how the detector holds
up when the test images are re-compressed or blurred.

The example uses 160 images of the project's shared ``diffusiondb_coco`` set
when it is available (``../shared/data``), else the 8 ``diffusiondb_coco``
sample images shipped with skforensics (4 real, 4 generated: enough to run the
code, far too few to read anything into the numbers);
``benchmarks/bench_weightfree.py`` runs the full 600-image and CIFAKE
comparison.
"""

# %%
# Load labelled images
# --------------------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import StandardScaler

from skforensics.datasets import load_image_folder, load_sample_images
from skforensics.features import ResidualFeatureExtractor, SpectralFeatureExtractor

shared = os.environ.get("SKFORENSICS_SHARED_DATA", os.path.join("..", "..", "shared", "data"))
folder = os.path.join(shared, "diffusiondb_coco")
if os.path.isdir(folder):
    data = load_image_folder(folder)
    rng = np.random.RandomState(0)
    keep = np.sort(
        np.concatenate([rng.choice(np.flatnonzero(data.y == c), 80, replace=False) for c in (0, 1)])
    )
    paths, y = [data.paths[i] for i in keep], data.y[keep]
else:
    data = load_sample_images("diffusiondb_coco")
    paths, y = data.paths, data.y
print(f"{len(paths)} images, {int(y.sum())} generated")

# %%
# Features, computed once
# -----------------------
# The extractors are stateless (nothing is learned in ``fit``), so the
# features can be computed once and the classifier cross-validated on them.
radial = SpectralFeatureExtractor(n_bins=64, axis_profiles=False).fit_transform(paths)
ours = make_union(SpectralFeatureExtractor(), ResidualFeatureExtractor()).fit_transform(paths)
print("baseline:", radial.shape, " spectral + residual:", ours.shape)

# %%
# The mean radial spectrum of each class: the generated images carry a little
# less energy at the highest frequencies, but the curves overlap a lot.
freq = (np.arange(64) + 0.5) / 128
for label, name in ((0, "real"), (1, "generated")):
    m, s = radial[y == label].mean(0), radial[y == label].std(0)
    plt.plot(freq, m, label=name)
    plt.fill_between(freq, m - s, m + s, alpha=0.2)
plt.xlabel("frequency (cycles / pixel)")
plt.ylabel("log power")
plt.legend()
plt.title("Azimuthally averaged power spectrum")
plt.show()

# %%
# Cross-validated accuracy
# ------------------------
clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
n_folds = min(5, int(np.bincount(y).min()))  # 4 on the 8 bundled images
cv = StratifiedKFold(n_folds, shuffle=True, random_state=0)
acc = {
    "radial spectrum\n(baseline)": cross_val_score(clf, radial, y, cv=cv),
    "spectral +\nresidual": cross_val_score(clf, ours, y, cv=cv),
}
for k, v in acc.items():
    print(f"{k.replace(chr(10), ' '):30s} {v.mean():.3f} +- {v.std():.3f}")
plt.bar(range(2), [v.mean() for v in acc.values()], yerr=[v.std() for v in acc.values()])
plt.xticks(range(2), list(acc))
plt.ylim(0.5, 1)
plt.ylabel(f"{n_folds}-fold accuracy")
plt.show()

# %%
# Robustness to perturbed test images
# -----------------------------------
# The usual protocol: train on clean images, test on re-compressed, blurred or
# resized ones. :func:`~skforensics.model_selection.robustness_report` does it
# with cross-validation (clones are fitted on the clean training folds). The
# residual statistics are fragile: blur and strong JPEG wipe them out, which
# is why forensic detectors should be evaluated this way.
from skforensics.model_selection import robustness_report
from skforensics.perturbations import GaussianBlur, JPEGCompression

detector = make_pipeline(
    make_union(SpectralFeatureExtractor(), ResidualFeatureExtractor()),
    StandardScaler(),
    LogisticRegression(max_iter=5000),
)
n = min(len(y), 60)
sub = np.linspace(0, len(y) - 1, n).astype(int)
report = robustness_report(
    detector,
    [paths[i] for i in sub],
    y[sub],
    {"jpeg_q75": JPEGCompression(75), "blur_sigma1": GaussianBlur(1.0)},
    cv=3,
)
print(report)
