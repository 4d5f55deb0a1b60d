"""Cross-generator splitters."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state

__all__ = ["LeaveOneGeneratorOut", "paired_real_mask"]


def paired_real_mask(generator, y, name):
    """Boolean mask of the real images paired with the generator ``name``.

    A real image is paired with generator ``g`` when its generator label is
    ``"real:g"`` (as given by :func:`~skforensics.datasets.load_image_folder`
    for ForenSynths-style folders whose generator sub-folders hold their own
    real images).
    """
    generator = np.asarray(generator).astype(str)
    return (np.asarray(y) == 0) & (generator == f"real:{name}")


class LeaveOneGeneratorOut(BaseCrossValidator):
    """Cross-generator splitter: hold out one generator at a time.

    The protocol of the cross-generator tables of the literature, made into a
    cross-validator. For every generator ``g`` of the generated images:

    * **test** = all generated images of ``g`` + the real images of the fold;
    * **train** = all generated images of the other generators + the other real
      images.

    Which real images go to the test fold:

    * *paired* reals: a real image whose generator label is ``"real:g"`` (as
      :func:`~skforensics.datasets.load_image_folder` labels the ``0_real``
      folders of ForenSynths, where every generator comes with its own real
      images) is tested with ``g`` and used for training in every other fold;
    * *unpaired* reals (any other label, e.g. ``"real:coco"`` or ``"real"``) are
      shuffled with ``random_state`` and dealt into as many disjoint parts as
      there are generators; part ``k`` is tested with the ``k``-th generator
      and trained on in the other folds.

    So the detector never sees a held-out generator nor a test real image
    during training. Generators are visited in sorted order.

    Parameters
    ----------
    real_label : int, default=0
        The label of real images in ``y``.
    random_state : int, RandomState instance or None, default=0
        Shuffling of the unpaired real images.

    Examples
    --------
    >>> import numpy as np
    >>> from skforensics.model_selection import LeaveOneGeneratorOut
    >>> y = np.array([0, 0, 1, 1, 0, 1])
    >>> gen = np.array(["real:a", "real:b", "a", "b", "real:a", "a"])
    >>> for train, test in LeaveOneGeneratorOut().split(y, y, groups=gen):
    ...     print(train, test)
    [1 3] [0 2 4 5]
    [0 2 4 5] [1 3]
    """

    def __init__(self, real_label=0, random_state=0):
        self.real_label = real_label
        self.random_state = random_state

    def _check(self, y, groups):
        if y is None or groups is None:
            raise ValueError(
                "LeaveOneGeneratorOut needs y (to tell real from generated images) and "
                "groups (the generator of each image, e.g. data.generator)"
            )
        y = np.asarray(y)
        groups = np.asarray(groups).astype(str)
        if y.shape[0] != groups.shape[0]:
            raise ValueError(f"y has {y.shape[0]} samples but groups has {groups.shape[0]}")
        fake = y != self.real_label
        gens = sorted(set(groups[fake].tolist()))
        if len(gens) < 2:
            raise ValueError(
                f"LeaveOneGeneratorOut needs generated images of at least 2 generators; found "
                f"{gens}. Use an ordinary StratifiedKFold for a single generator"
            )
        if not np.any(~fake):
            raise ValueError("LeaveOneGeneratorOut needs real images (y == real_label)")
        return y, groups, fake, gens

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits: the number of generators of the generated images."""
        return len(self._check(y, groups)[3])

    def _iter_test_masks(self, X=None, y=None, groups=None):
        y, groups, fake, gens = self._check(y, groups)
        real = ~fake
        paired = np.zeros(len(y), dtype=bool)
        for g in gens:
            paired |= real & (groups == f"real:{g}")
        unpaired = np.flatnonzero(real & ~paired)
        rng = check_random_state(self.random_state)
        parts = np.array_split(rng.permutation(unpaired), len(gens))
        for k, g in enumerate(gens):
            mask = (fake & (groups == g)) | (real & (groups == f"real:{g}"))
            mask[parts[k]] = True
            yield mask

    def split(self, X, y=None, groups=None):
        """Generate (train, test) indices, one pair per held-out generator.

        Parameters
        ----------
        X : array-like or list of length n_samples
            Samples (only their number is used).
        y : array-like of shape (n_samples,)
            Labels, ``real_label`` for real images.
        groups : array-like of shape (n_samples,)
            Generator of every sample (``data.generator``).

        Yields
        ------
        train, test : ndarray of int
        """
        n = len(y) if y is not None else len(X)
        idx = np.arange(n)
        for mask in self._iter_test_masks(X, y, groups):
            yield idx[~mask], idx[mask]
