"""sklearn-style Displays for GSNR profiles and radius sweeps (matplotlib imported lazily)."""

from __future__ import annotations

import numpy as np

__all__ = ["GSNRProfileDisplay", "RadiusSweepDisplay"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


class GSNRProfileDisplay:
    """Per-layer GSNR of a network, input side on the left.

    CoRIT attributes SAM's optimization collapse to the GSNR fading layer
    after layer; this plot shows that profile. Build it with
    :meth:`from_estimator` (or :meth:`from_table` on the output of
    :func:`layerwise_gsnr`), then overlay others with ``plot(ax=display.ax_)``.

    Parameters
    ----------
    layers : array-like of str
        Layer names.
    gsnr : array-like of float
        GSNR of each layer.
    label : str, default=None
        Legend entry.

    Attributes
    ----------
    line_ : matplotlib Line2D
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from skforensics.metrics import GSNRProfileDisplay
    >>> disp = GSNRProfileDisplay(["conv1", "conv2", "fc"], [3.0, 0.5, 0.1], label="SAM")
    >>> disp.gsnr.shape
    (3,)
    """

    def __init__(self, layers, gsnr, *, label=None):
        self.layers = np.asarray(layers, dtype=object)
        self.gsnr = np.asarray(gsnr, dtype=float)
        if self.layers.shape != self.gsnr.shape:
            raise ValueError("layers and gsnr must have the same length")
        self.label = label

    def plot(self, ax=None, *, log=True, label=None, **kwargs):
        """Plot the profile.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure if None.
        log : bool, default=True
            Logarithmic GSNR axis.
        label : str, default=None
            Legend entry (overrides the one given at construction).
        **kwargs
            Passed to ``ax.plot``.

        Returns
        -------
        self
        """
        ax = _axes(ax)
        label = label if label is not None else self.label
        kwargs.setdefault("marker", "o")
        (self.line_,) = ax.plot(np.arange(len(self.gsnr)), self.gsnr, label=label, **kwargs)
        ax.set_xticks(np.arange(len(self.layers)))
        ax.set_xticklabels([str(n) for n in self.layers], rotation=45, ha="right", fontsize="small")
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("layer (input -> output)")
        ax.set_ylabel("GSNR  mean(g)^2 / var(g)")
        if label is not None:
            ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_table(cls, table, *, label=None, ax=None, **kwargs):
        """Plot the output of :func:`~skforensics.metrics.layerwise_gsnr`."""
        return cls(np.asarray(table["layer"]), np.asarray(table["gsnr"]), label=label).plot(
            ax=ax, **kwargs
        )

    @classmethod
    def from_estimator(
        cls, estimator, X, y, *, layers=None, batch_size=256, method="auto", label=None,
        ax=None, **kwargs
    ):
        """Compute :func:`~skforensics.metrics.layerwise_gsnr` on ``(X, y)`` and plot it.

        ``layers``, ``batch_size`` and ``method`` are passed to
        :func:`~skforensics.metrics.layerwise_gsnr`; ``label``, ``ax`` and
        ``**kwargs`` to :meth:`from_table`.
        """
        from ._gsnr import layerwise_gsnr

        table = layerwise_gsnr(estimator, X, y, layers=layers, batch_size=batch_size,
                               method=method)
        return cls.from_table(table, label=label, ax=ax, **kwargs)


class RadiusSweepDisplay:
    """Validation score against SAM's radius, with chance level and critical radius.

    Build it with :meth:`from_estimator` (runs
    :func:`critical_optimization_radius`) or :meth:`from_result`.

    Parameters
    ----------
    rhos : array-like
        Radii.
    mean_test_score, std_test_score : array-like
        Cross-validated score per radius.
    chance_level : float
        Score of random guessing.
    threshold : float, default=None
        Collapse threshold.
    critical_radius : float, default=None
        Estimated critical optimization radius (drawn when finite).
    scoring : str, default="accuracy"
        Name for the y axis.

    Attributes
    ----------
    line_ : matplotlib Line2D
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> from skforensics.metrics import RadiusSweepDisplay
    >>> disp = RadiusSweepDisplay([0.01, 0.1, 1.0], [0.9, 0.85, 0.5], [0, 0, 0], 0.5,
    ...                           critical_radius=0.6)
    >>> disp.critical_radius
    0.6
    """

    def __init__(
        self,
        rhos,
        mean_test_score,
        std_test_score,
        chance_level,
        *,
        threshold=None,
        critical_radius=None,
        scoring="accuracy",
    ):
        self.rhos = np.asarray(rhos, dtype=float)
        self.mean_test_score = np.asarray(mean_test_score, dtype=float)
        self.std_test_score = np.asarray(std_test_score, dtype=float)
        if not (self.rhos.shape == self.mean_test_score.shape == self.std_test_score.shape):
            raise ValueError("rhos, mean_test_score and std_test_score must have the same length")
        self.chance_level = float(chance_level)
        self.threshold = threshold
        self.critical_radius = critical_radius
        self.scoring = scoring

    def plot(self, ax=None, *, label=None, **kwargs):
        """Plot the sweep (log radius axis when all radii are positive).

        Returns
        -------
        self
        """
        ax = _axes(ax)
        kwargs.setdefault("marker", "o")
        (self.line_,) = ax.plot(self.rhos, self.mean_test_score, label=label or "validation", **kwargs)
        ax.fill_between(
            self.rhos,
            self.mean_test_score - self.std_test_score,
            self.mean_test_score + self.std_test_score,
            alpha=0.2,
            color=self.line_.get_color(),
        )
        ax.axhline(self.chance_level, color="gray", linestyle="--", label="chance")
        if self.threshold is not None:
            ax.axhline(self.threshold, color="gray", linestyle=":", label="collapse threshold")
        if self.critical_radius is not None and np.isfinite(self.critical_radius):
            ax.axvline(
                self.critical_radius,
                color="red",
                linestyle="-.",
                label=f"critical radius ~ {self.critical_radius:.3g}",
            )
        if np.all(self.rhos > 0):
            ax.set_xscale("log")
        ax.set_xlabel("SAM radius rho")
        ax.set_ylabel(f"validation {self.scoring}")
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_result(cls, result, *, ax=None, **kwargs):
        """Plot the output of :func:`~skforensics.metrics.critical_optimization_radius`."""
        return cls(
            result["rhos"],
            result["mean_test_score"],
            result["std_test_score"],
            result["chance_level"],
            threshold=result.get("threshold"),
            critical_radius=result.get("critical_radius"),
            scoring=result.get("scoring", "accuracy"),
        ).plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, X, y, *, rhos=None, cv=3, ax=None, plot_kwargs=None, **kwargs):
        """Run :func:`~skforensics.metrics.critical_optimization_radius` and plot it.

        ``**kwargs`` go to ``critical_optimization_radius``; the result is kept
        as ``display.result_``.
        """
        from ._gsnr import critical_optimization_radius

        result = critical_optimization_radius(estimator, X, y, rhos=rhos, cv=cv, **kwargs)
        disp = cls.from_result(result, ax=ax, **(plot_kwargs or {}))
        disp.result_ = result
        return disp
