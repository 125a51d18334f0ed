"""Evaluation plots as PNG files (matplotlib's Agg canvas, no display, no global pyplot state).

Every chart is ``FIGSIZE`` inches at ``DPI`` dots per inch, i.e. ``PLOT_SIZE`` pixels; the example grid is
``EXAMPLE_TILE`` inches per image. Colours: real faces green, fake faces red (predictions), ground truth blue
dashed. Files are written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from dftag.core.atomic import atomic_path
from dftag.eval.ap import precision_envelope
from dftag.eval.calibration import Reliability
from dftag.eval.detection import PRCurve

FIGSIZE = (6.4, 4.8)
DPI = 100
PLOT_SIZE = (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))  # width, height in pixels
EXAMPLE_TILE = 3.2
CLASS_COLORS = {"real": "#2ca02c", "fake": "#d62728"}
GT_COLOR = "#1f77b4"
_OTHER_COLORS = ("#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def class_color(name: str, index: int = 0) -> str:
    return CLASS_COLORS.get(name, _OTHER_COLORS[index % len(_OTHER_COLORS)])


def _new_figure(figsize: tuple[float, float] = FIGSIZE) -> Figure:
    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike) -> None:
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def pr_step(curve: PRCurve) -> tuple[np.ndarray, np.ndarray]:
    """The curve that AP integrates, as the vertices ``(recall, precision)`` of a step line: the precision
    envelope (at each recall the best precision reached at that recall or beyond, as VOC all-point and
    pycocotools interpolate), constant between the recalls of true positives, from recall 0 to the highest
    recall reached, where it drops to 0. Every segment is horizontal or vertical, and the area under it is
    ``curve.ap("voc")``. Empty arrays without detections."""
    if not len(curve.recall):
        return np.zeros(0), np.zeros(0)
    envelope = precision_envelope(curve.precision)
    n = len(envelope)
    xs = np.concatenate([[0.0], np.repeat(curve.recall, 2)])
    ys = np.concatenate([[envelope[0]], np.stack([envelope, np.append(envelope[1:], 0.0)], axis=1).ravel()])
    keep = np.ones(2 * n + 1, dtype=bool)
    keep[1:] = (np.diff(xs) != 0) | (np.diff(ys) != 0)  # drop repeated vertices (false positives)
    return xs[keep], ys[keep]


def plot_pr_curves(curves: Mapping[str, PRCurve], path: str | os.PathLike, threshold: float | None = None,
                   title: str = "Precision-recall at IoU 0.5", min_score: float | None = None) -> None:
    """Per class the step curve that AP integrates (:func:`pr_step`; COCO 101-point AP50 and the counts of
    faces and detections in the legend), the point at ``threshold`` marked. The legend sits below the axes,
    where it cannot cover a curve; a class without detections (kept from score ``min_score`` on, when known)
    or without ground truth says so there."""
    fig = _new_figure()
    ax = fig.add_subplot()
    kept = f" at score >= {min_score:g}" if min_score is not None else ""
    for i, (name, curve) in enumerate(curves.items()):
        color = class_color(name, i)
        if not curve.n_gt:
            ax.plot([], [], " ", label=f"{name}: no {name} faces in the ground truth (AP n/a)")
            continue
        n_det = len(curve.scores)
        if not n_det:
            ax.plot([], [], " ", label=f"{name}: no detections{kept} ({curve.n_gt} faces, AP50 0)")
            continue
        recall, precision = pr_step(curve)
        ax.plot(recall, precision, color=color,
                label=f"{name}: AP50 {curve.ap('coco'):.3f}, {curve.n_gt} faces, {n_det} detections")
        point = curve.operating_point(threshold) if threshold is not None else None
        if point is not None:
            ax.plot(point[1], point[0], "o", color=color, markersize=8, markeredgecolor="black",
                    label=f"{name} at score >= {threshold:g}: P {point[0]:.2f}, R {point[1]:.2f}")
        elif threshold is not None:
            ax.plot([], [], " ", label=f"{name}: no detection at score >= {threshold:g}")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.01), title=title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=7, frameon=False)
    _save(fig, path)


@dataclass
class EpochSeries:
    """Per-epoch columns of a training run's ``metrics.csv`` (``values`` by column name, NaN where empty)."""

    epochs: np.ndarray
    values: dict[str, np.ndarray]


def plot_metrics_by_epoch(series: EpochSeries, path: str | os.PathLike) -> None:
    """Validation mAP50, mAP@[.5:.95] and per-class AP50 against epoch; -1 (no ground truth) is not drawn, and
    a series that is never measured says n/a in the legend."""
    fig = _new_figure()
    ax = fig.add_subplot()
    styles = {"val_mAP50": ("black", "-", "mAP50"), "val_mAP": ("black", "--", "mAP@[.50:.95]"),
              "val_AP50_real": (CLASS_COLORS["real"], "-", "AP50 real"),
              "val_AP50_fake": (CLASS_COLORS["fake"], "-", "AP50 fake")}
    for column, (color, style, label) in styles.items():
        if column in series.values:
            values = np.where(series.values[column] == -1, np.nan, series.values[column])
            if np.all(np.isnan(values)):
                label += " n/a (no ground truth)"
            ax.plot(series.epochs, values, style, color=color, marker=".", label=label)
    ax.set(xlabel="epoch", ylabel="AP (validation)", ylim=(0, 1.01), title="Validation AP by epoch")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    _save(fig, path)


def plot_roc(fpr: np.ndarray, tpr: np.ndarray, auc: float | None, path: str | os.PathLike,
             operating_point: tuple[float, float] | None = None, threshold: float | None = None) -> None:
    """ROC curve of video scores (fake = positive), the chance diagonal, and the threshold's point."""
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ":", color="gray", label="chance")
    label = f"ROC (AUC {auc:.3f})" if auc is not None else "ROC (AUC undefined: one class only)"
    ax.plot(fpr, tpr, color=CLASS_COLORS["fake"], label=label)  # straight segments: ties count one half
    if operating_point is not None:
        ax.plot(*operating_point, "o", color="black", label=f"score >= {threshold:g}")
    ax.set(xlabel="false positive rate (reals called fake)", ylabel="true positive rate (fakes caught)",
           xlim=(0, 1), ylim=(0, 1.01), title="Video-level ROC")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)


def plot_reliability(rel: Reliability, path: str | os.PathLike, ece: float, title: str = "Reliability") -> None:
    """Observed fraction of fakes against mean predicted probability per bin, with bin counts below."""
    fig = _new_figure()
    ax, ax_count = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    width = np.diff(rel.edges)
    filled = rel.counts > 0
    ax.plot([0, 1], [0, 1], ":", color="gray", label="perfect calibration")
    ax.bar(rel.edges[:-1][filled], rel.frac_fake[filled], width=width[filled], align="edge",
           color=CLASS_COLORS["fake"], alpha=0.6, edgecolor="black", label="fraction fake")
    ax.plot(rel.mean_prob[filled], rel.frac_fake[filled], "o-", color="black", label="bin mean")
    ax.set(ylabel="fraction fake", xlim=(0, 1), ylim=(0, 1.01), title=f"{title} (ECE {ece:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    ax_count.bar(rel.edges[:-1], rel.counts, width=width, align="edge", color="gray", edgecolor="black")
    ax_count.set(xlabel="predicted probability of fake", ylabel="count")
    _save(fig, path)


@dataclass
class Example:
    """One frame for the example grid: RGB uint8 ``image``, boxes absolute pixel xyxy."""

    image: np.ndarray
    gt_boxes: np.ndarray
    gt_labels: Sequence[str]
    pred_boxes: np.ndarray
    pred_labels: Sequence[str]
    pred_scores: np.ndarray
    title: str = ""


def plot_examples(examples: Sequence[Example], path: str | os.PathLike, columns: int = 3) -> None:
    """A grid of frames: ground truth dashed blue (with its class), predictions in class colour with score."""
    columns = max(1, min(columns, len(examples)))
    rows = max(1, -(-len(examples) // columns))
    fig = _new_figure((EXAMPLE_TILE * columns, EXAMPLE_TILE * rows))
    for i in range(rows * columns):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.axis("off")
        if i >= len(examples):
            continue
        ex = examples[i]
        ax.imshow(ex.image)
        ax.set_title(ex.title, fontsize=7)
        for box, label in zip(ex.gt_boxes, ex.gt_labels):
            x1, y1, x2, y2 = box
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=GT_COLOR, linestyle="--",
                                   linewidth=1.2))
            ax.text(x1, y2, f"gt {label}", color="white", fontsize=6, va="top",
                    bbox={"facecolor": GT_COLOR, "alpha": 0.7, "pad": 1, "linewidth": 0})
        for box, label, score in zip(ex.pred_boxes, ex.pred_labels, ex.pred_scores):
            x1, y1, x2, y2 = box
            color = class_color(label)
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1.5))
            ax.text(x1, y1, f"{label} {score:.2f}", color="white", fontsize=6, va="bottom",
                    bbox={"facecolor": color, "alpha": 0.8, "pad": 1, "linewidth": 0})
    _save(fig, path)
