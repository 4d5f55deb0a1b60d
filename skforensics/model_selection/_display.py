"""Heatmap display of cross-generator reports."""

from __future__ import annotations

import numpy as np

__all__ = ["CrossGeneratorDisplay"]


class CrossGeneratorDisplay:
    """Heatmap of a cross-generator report: generators x metrics.

    Build it with :meth:`from_report` or :meth:`from_estimator`; matplotlib is
    imported only in :meth:`plot`.

    Parameters
    ----------
    values : ndarray of shape (n_generators, n_metrics)
        Metric values.
    generators : list of str
        Row labels (test generators, then ``"mean"``).
    metrics : list of str
        Column labels.

    Attributes
    ----------
    ax_, figure_, im_ : matplotlib objects
        Set by :meth:`plot`.
    text_ : ndarray of matplotlib Text
        The value annotations.

    Examples
    --------
    >>> from skforensics.model_selection import CrossGeneratorDisplay, ReportTable
    >>> rep = ReportTable(["generator", "acc", "ap"], [{"generator": "sd", "acc": .9, "ap": .95}])
    >>> disp = CrossGeneratorDisplay.from_report(rep)
    >>> disp.values.shape
    (1, 2)
    """

    def __init__(self, values, generators, metrics):
        self.values = np.asarray(values, dtype=float)
        self.generators = list(generators)
        self.metrics = list(metrics)

    @classmethod
    def from_report(cls, report, *, metrics=("acc", "ap"), plot=False, ax=None, **kwargs):
        """Build (and optionally plot) the display of a :class:`ReportTable`.

        Parameters
        ----------
        report : ReportTable
            Output of :func:`cross_generator_report` (or any table whose first
            column names the rows).
        metrics : sequence of str, default=("acc", "ap")
            Columns to show.
        plot : bool, default=False
            Call :meth:`plot` right away (with ``ax`` and ``kwargs``).
        """
        missing = [m for m in metrics if m not in report.columns]
        if missing:
            raise ValueError(f"report has no column(s) {missing}; columns are {report.columns}")
        rows = report[report.columns[0]]
        values = np.array([[r[m] for m in metrics] for r in report.rows], dtype=float)
        disp = cls(values, [str(g) for g in rows], list(metrics))
        return disp.plot(ax=ax, **kwargs) if plot else disp

    @classmethod
    def from_estimator(cls, estimator, data, *, cv=None, metrics=("acc", "ap"), ax=None, **kwargs):
        """Run :func:`cross_generator_report` and plot its heatmap.

        ``estimator``, ``data`` and ``cv`` are passed to
        :func:`cross_generator_report`; ``ax`` and ``kwargs`` to :meth:`plot`.
        """
        from ._report import cross_generator_report

        report = cross_generator_report(estimator, data, cv=cv)
        disp = cls.from_report(report, metrics=metrics)
        disp.report_ = report
        return disp.plot(ax=ax, **kwargs)

    def plot(self, *, ax=None, cmap="viridis", values_format=".3f", vmin=0.0, vmax=1.0,
             colorbar=True):
        """Draw the heatmap.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is made otherwise.
        cmap : str, default="viridis"
            Colormap.
        values_format : str, default=".3f"
            Format of the annotations.
        vmin, vmax : float, default=0, 1
            Colour range.
        colorbar : bool, default=True
            Add a colour bar.

        Returns
        -------
        self : CrossGeneratorDisplay
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("plotting needs matplotlib: pip install matplotlib") from exc
        if ax is None:
            _, ax = plt.subplots(
                figsize=(1.6 + 1.3 * len(self.metrics), 0.9 + 0.45 * len(self.generators))
            )
        im = ax.imshow(self.values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        text = np.empty(self.values.shape, dtype=object)
        cmap_obj = im.cmap
        for i in range(self.values.shape[0]):
            for j in range(self.values.shape[1]):
                v = self.values[i, j]
                rgba = cmap_obj(im.norm(v)) if np.isfinite(v) else (1, 1, 1, 1)
                lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
                text[i, j] = ax.text(
                    j, i, "nan" if not np.isfinite(v) else format(v, values_format),
                    ha="center", va="center", color="black" if lum > 0.5 else "white",
                )
        ax.set_xticks(range(len(self.metrics)), self.metrics)
        ax.set_yticks(range(len(self.generators)), self.generators)
        ax.set_xlabel("metric")
        ax.set_ylabel("test generator")
        if colorbar:
            ax.figure.colorbar(im, ax=ax)
        self.ax_, self.figure_, self.im_, self.text_ = ax, ax.figure, im, text
        return self
