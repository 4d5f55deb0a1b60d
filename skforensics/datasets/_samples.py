import csv
import os

import numpy as np
from sklearn.utils import Bunch

from .._compat import StrOptions, validate_params

_DATA = os.path.join(os.path.dirname(__file__), "data")


@validate_params(
    {"subset": [StrOptions({"all", "diffusiondb_coco", "cifake"})]},
    prefer_skip_nested_validation=True,
)
def load_sample_images(subset="all"):
    """Load the small labelled sample of real and generated images shipped with skforensics.

    56 JPEG files taken from the project's shared data: 8 from
    ``diffusiondb_coco`` (512x512; 2 COCO and 2 ImageNet photos, 4 Stable
    Diffusion 1.x images from DiffusionDB) and 48 from CIFAKE (32x32; 24 CIFAR-10
    photos, 24 Stable Diffusion 1.4 images). Enough for the quick start and the
    doctests, not for measuring accuracy.

    Parameters
    ----------
    subset : {"all", "diffusiondb_coco", "cifake"}, default="all"
        Which part of the sample to return.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``paths`` (list of str), ``y`` (ndarray of int, 0 = real, 1 = fake),
        ``generator`` (ndarray of str), ``target_names`` (``["real", "fake"]``).

    Examples
    --------
    >>> from skforensics.datasets import load_sample_images
    >>> data = load_sample_images()
    >>> len(data.paths), int(data.y.sum())
    (56, 28)
    """
    with open(os.path.join(_DATA, "MANIFEST.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if subset == "all" or r["path"].startswith(subset)]
    return Bunch(
        paths=[os.path.join(_DATA, r["path"]) for r in rows],
        y=np.array([int(r["label"]) for r in rows]),
        generator=np.array([r["generator"] for r in rows]),
        target_names=["real", "fake"],
    )
