"""Every Display of skforensics, in one place.

scikit-learn-style visualisation objects: build one from an estimator or a
result (``from_estimator``, ``from_report``, ...), then ``plot`` it. matplotlib
is optional: it is imported only when something is drawn, and a missing
matplotlib raises an ImportError that says how to install it
(:func:`skforensics._compat.check_matplotlib`).

Public import paths: :class:`skforensics.RegionMaskDisplay`,
:class:`skforensics.metrics.GSNRProfileDisplay`,
:class:`skforensics.metrics.RadiusSweepDisplay`,
:class:`skforensics.model_selection.CrossGeneratorDisplay`.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._compat import check_matplotlib

__all__ = [
    "CrossGeneratorDisplay",
    "GSNRProfileDisplay",
    "RadiusSweepDisplay",
    "RegionMaskDisplay",
]


def _axes(ax, caller):
    if ax is None:
        plt = check_matplotlib(caller)
        _, ax = plt.subplots()
    return ax


# ----------------------------------------------------------- CoRIT (skforensics)
class RegionMaskDisplay:
    """Region Refinement Mask of a fitted :class:`CoRITInjector`, drawn over an image.

    One panel per block: the image as the backbone sees it (resized and
    cropped) or, without an image, a grey background; suppressed regions are
    shaded, kept regions outlined, and each region is labelled with its GSNR
    (relative to the block's best region). Build it with
    :meth:`from_estimator`; matplotlib is imported only when plotting.

    Parameters
    ----------
    region_mask : ndarray of bool, shape (n_layers, n_regions)
    region_snr : ndarray of shape (n_layers, n_regions)
    region_boxes : ndarray of shape (n_regions, 4)
        ``(row0, row1, col0, col1)`` in patch units.
    patch_size : tuple of int
        Pixel size of a patch ``(h, w)``.
    layers : list of int
    image : ndarray of shape (H, W, 3) or None
        Image at the model resolution.

    Attributes
    ----------
    ax_ : ndarray of matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skforensics import CLIPFeatureExtractor, CoRITInjector
    >>> from skforensics import RegionMaskDisplay
    >>> from skforensics.datasets import load_sample_images
    >>> data = load_sample_images("cifake")
    >>> clip = CLIPFeatureExtractor("skf-tiny-vit", pretrained=None, random_state=0)
    >>> corit = CoRITInjector(clip, grid=4).fit(data.paths, data.y)
    >>> disp = RegionMaskDisplay.from_estimator(corit, image=data.paths[0])
    >>> disp.ax_.shape
    (4,)
    """

    def __init__(self, region_mask, region_snr, region_boxes, patch_size, layers, image=None):
        self.region_mask = np.asarray(region_mask, dtype=bool)
        self.region_snr = np.asarray(region_snr, dtype=float)
        self.region_boxes = np.asarray(region_boxes)
        self.patch_size = tuple(patch_size)
        self.layers = list(layers)
        self.image = image

    @classmethod
    def from_estimator(cls, estimator, image=None, *, layers=None, ax=None, **kwargs):
        """Build and plot the display of a fitted :class:`CoRITInjector`.

        Parameters
        ----------
        estimator : CoRITInjector
            Fitted.
        image : path, PIL image or uint8 array, or None
            Image to draw under the mask, preprocessed like the backbone's input.
        layers : list of int or None
            Blocks to draw (default: all of ``estimator.layers_``).
        ax : matplotlib Axes or array of Axes, optional
            One per drawn block.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : RegionMaskDisplay
        """
        check_is_fitted(estimator, "region_mask_")
        idx = list(range(len(estimator.layers_)))
        if layers is not None:
            wanted = [
                int(b) % len(estimator.backbone_.model_.transformer.resblocks)
                for b in np.atleast_1d(layers)
            ]
            missing = [b for b in wanted if b not in estimator.layers_]
            if missing:
                raise ValueError(
                    f"blocks {missing} are not in estimator.layers_ {estimator.layers_}"
                )
            idx = [estimator.layers_.index(b) for b in wanted]
        img = None
        if image is not None:
            img = estimator.backbone_.model_view(image)
        visual = estimator.backbone_.model_
        ps = (
            visual.patch_size
            if hasattr(visual, "patch_size")
            else (
                estimator.backbone_.image_size_[0] // visual.grid_size[0],
                estimator.backbone_.image_size_[1] // visual.grid_size[1],
            )
        )
        disp = cls(
            estimator.region_mask_[idx],
            estimator.region_snr_[idx],
            estimator.region_boxes_,
            tuple(int(p) for p in np.broadcast_to(ps, (2,))),
            [estimator.layers_[i] for i in idx],
            img,
        )
        return disp.plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, cmap="viridis", shade=0.65, show_values=True, ncols=None):
        """Draw the mask.

        Parameters
        ----------
        ax : matplotlib Axes or array of Axes, optional
            One per block; created when None.
        cmap : str, default="viridis"
            Colour map of the GSNR heat map drawn without an image.
        shade : float, default=0.65
            Opacity of the shading of suppressed regions.
        show_values : bool, default=True
            Write each region's GSNR relative to the block's best region.
        ncols : int, optional
            Columns of the created figure (default: up to 6).

        Returns
        -------
        self : RegionMaskDisplay
        """
        plt = check_matplotlib("RegionMaskDisplay.plot")
        from matplotlib import patheffects
        from matplotlib.patches import Rectangle

        n = len(self.layers)
        if ax is None:
            ncols = ncols or min(n, 6)
            nrows = -(-n // ncols)
            fig, axes = plt.subplots(
                nrows, ncols, figsize=(2.6 * ncols, 2.8 * nrows), squeeze=False
            )
            for a in axes.ravel()[n:]:
                a.set_visible(False)
            axes = axes.ravel()[:n]
        else:
            axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
            if len(axes) != n:
                raise ValueError(f"ax has {len(axes)} axes but {n} blocks are drawn")
            fig = axes[0].figure
        ph, pw = self.patch_size
        H = int(self.region_boxes[:, 1].max()) * ph
        Wd = int(self.region_boxes[:, 3].max()) * pw
        for a, b, mask, snr in zip(axes, self.layers, self.region_mask, self.region_snr):
            rel = snr / snr.max() if snr.max() > 0 else snr
            if self.image is not None:
                a.imshow(self.image, extent=(0, Wd, H, 0))
            else:
                heat = np.zeros((H, Wd))
                for (r0, r1, c0, c1), v in zip(self.region_boxes, rel):
                    heat[r0 * ph : r1 * ph, c0 * pw : c1 * pw] = v
                a.imshow(heat, cmap=cmap, vmin=0, vmax=1, extent=(0, Wd, H, 0))
            for (r0, r1, c0, c1), keep, v in zip(self.region_boxes, mask, rel):
                xy, w, h = (c0 * pw, r0 * ph), (c1 - c0) * pw, (r1 - r0) * ph
                if keep:
                    a.add_patch(Rectangle(xy, w, h, fill=False, edgecolor="lime", lw=1.5))
                else:
                    a.add_patch(
                        Rectangle(xy, w, h, facecolor="black", alpha=shade, edgecolor="none")
                    )
                if show_values:
                    a.text(
                        xy[0] + w / 2,
                        xy[1] + h / 2,
                        f"{v:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="yellow" if keep else "white",
                        path_effects=[patheffects.withStroke(linewidth=2, foreground="black")],
                    )
            a.set_title(f"block {b}: {int(mask.sum())}/{mask.size} kept", fontsize=9)
            a.set_xticks([])
            a.set_yticks([])
            a.set_xlim(0, Wd)
            a.set_ylim(H, 0)
        self.ax_ = np.asarray(axes, dtype=object)
        self.figure_ = fig
        return self


# ------------------------------------------------ skforensics.metrics
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
        ax = _axes(ax, type(self).__name__)
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
        cls,
        estimator,
        X,
        y,
        *,
        layers=None,
        batch_size=256,
        method="auto",
        label=None,
        ax=None,
        **kwargs,
    ):
        """Compute :func:`~skforensics.metrics.layerwise_gsnr` on ``(X, y)`` and plot it.

        ``layers``, ``batch_size`` and ``method`` are passed to
        :func:`~skforensics.metrics.layerwise_gsnr`; ``label``, ``ax`` and
        ``**kwargs`` to :meth:`from_table`.
        """
        from .metrics import layerwise_gsnr

        table = layerwise_gsnr(estimator, X, y, layers=layers, batch_size=batch_size, method=method)
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

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Created when None.
        label : str, default=None
            Legend label of the curve (default ``"validation"``).
        **kwargs : dict
            Passed to ``ax.plot``.

        Returns
        -------
        self : RadiusSweepDisplay
        """
        ax = _axes(ax, type(self).__name__)
        kwargs.setdefault("marker", "o")
        (self.line_,) = ax.plot(
            self.rhos, self.mean_test_score, label=label or "validation", **kwargs
        )
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
    def from_estimator(
        cls, estimator, X, y, *, rhos=None, cv=3, ax=None, plot_kwargs=None, **kwargs
    ):
        """Run :func:`~skforensics.metrics.critical_optimization_radius` and plot it.

        ``**kwargs`` go to ``critical_optimization_radius``; the result is kept
        as ``display.result_``.
        """
        from .metrics import critical_optimization_radius

        result = critical_optimization_radius(estimator, X, y, rhos=rhos, cv=cv, **kwargs)
        disp = cls.from_result(result, ax=ax, **(plot_kwargs or {}))
        disp.result_ = result
        return disp


# ---------------------------------------- skforensics.model_selection
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
        from .model_selection import cross_generator_report

        report = cross_generator_report(estimator, data, cv=cv)
        disp = cls.from_report(report, metrics=metrics)
        disp.report_ = report
        return disp.plot(ax=ax, **kwargs)

    def plot(
        self, *, ax=None, cmap="viridis", values_format=".3f", vmin=0.0, vmax=1.0, colorbar=True
    ):
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
        plt = check_matplotlib("CrossGeneratorDisplay.plot")
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
                    j,
                    i,
                    "nan" if not np.isfinite(v) else format(v, values_format),
                    ha="center",
                    va="center",
                    color="black" if lum > 0.5 else "white",
                )
        ax.set_xticks(range(len(self.metrics)), self.metrics)
        ax.set_yticks(range(len(self.generators)), self.generators)
        ax.set_xlabel("metric")
        ax.set_ylabel("test generator")
        if colorbar:
            ax.figure.colorbar(im, ax=ax)
        self.ax_, self.figure_, self.im_, self.text_ = ax, ax.figure, im, text
        return self
