"""Score detections against ground truth: per-class precision-recall curves, AP under three definitions,
mAP, and the COCO summary.

``evaluate_detections(gt, results)`` is the contract the trainer and ``dftag evaluate`` use; it takes a COCO
ground-truth dict and COCO results (``image_id, category_id, bbox [x, y, w, h] pixels, score``) and returns
plain JSON-ready numbers. Per-class curves are at IoU 0.5 over all box sizes with at most 100 detections per
image and class (COCO's cap), crowd and ``difficult`` boxes ignored (see :mod:`dftag.eval.matching`). A class with
no ground truth has AP -1 (COCO's convention) and is left out of the means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dftag.eval.ap import AP_DEFINITIONS, precision_recall
from dftag.eval.coco_summary import IOU_THRESHOLDS, CocoEvaluation, coco_evaluate
from dftag.eval.results import detection_arrays, ground_truth_arrays

PR_IOU_THRESHOLD = 0.5
_PR_IOU_INDEX = int(np.flatnonzero(IOU_THRESHOLDS == PR_IOU_THRESHOLD)[0])
_AREA_ALL = 0


@dataclass
class PRCurve:
    """One class's precision-recall curve: a point per counted detection, by descending ``scores``."""

    name: str
    n_gt: int
    scores: np.ndarray
    precision: np.ndarray
    recall: np.ndarray

    def ap(self, definition: str = "coco") -> float:
        """AP under ``definition`` (``"voc07"``, ``"voc"`` or ``"coco"``); -1 without ground truth."""
        return AP_DEFINITIONS[definition](self.precision, self.recall) if self.n_gt else -1.0

    def operating_point(self, threshold: float) -> tuple[float, float] | None:
        """``(precision, recall)`` keeping detections with score ``>= threshold``; None if none pass."""
        n = int(np.count_nonzero(self.scores >= threshold))
        return (float(self.precision[n - 1]), float(self.recall[n - 1])) if n and self.n_gt else None


@dataclass
class DetectionEvaluation:
    coco: CocoEvaluation
    curves: dict[str, PRCurve]

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain numbers (see :func:`evaluate_detections`)."""
        stats = self.coco.stats
        class_stats = self.coco.class_stats()
        counted = [c for c in self.curves.values() if c.n_gt]
        out: dict[str, Any] = {
            "AP50": {name: class_stats[name]["AP50"] for name in self.curves},
            "mAP50": stats["AP50"],
            "mAP": stats["AP"],
            "coco": stats,
        }
        for definition in AP_DEFINITIONS:
            out[f"mAP50_{definition}"] = float(np.mean([c.ap(definition) for c in counted])) if counted else -1.0
        out["classes"] = {
            name: {"n_gt": c.n_gt, "n_detections": int(np.count_nonzero(self.coco.table.category == k)),
                   **{f"AP50_{d}": c.ap(d) for d in AP_DEFINITIONS}, "coco": class_stats[name]}
            for k, (name, c) in enumerate(self.curves.items())
        }
        return out


def class_curves(coco: CocoEvaluation) -> dict[str, PRCurve]:
    """Per-class PR curves at IoU 0.5, all sizes, ignored detections left out."""
    table = coco.table
    curves = {}
    for k, name in enumerate(table.category_names):
        sel = np.flatnonzero(table.category == k)
        sel = sel[np.argsort(-table.score[sel], kind="mergesort")]
        sel = sel[~table.ignored[sel, _AREA_ALL, _PR_IOU_INDEX]]
        tp = table.matched[sel, _AREA_ALL, _PR_IOU_INDEX]
        n_gt = int(table.n_pos[k, _AREA_ALL])
        precision, recall = precision_recall(tp, ~tp, max(n_gt, 1))
        curves[name] = PRCurve(name=name, n_gt=n_gt, scores=table.score[sel], precision=precision, recall=recall)
    return curves


def evaluate(gt: dict[str, Any], results: list[dict[str, Any]], gt_path=None, results_path=None
             ) -> DetectionEvaluation:
    """Check and score; bad input raises :class:`DftagError` naming ``gt_path``/``results_path``."""
    gt_arrays = ground_truth_arrays(gt, gt_path)
    coco = coco_evaluate(gt_arrays, detection_arrays(results, gt_arrays, results_path))
    return DetectionEvaluation(coco=coco, curves=class_curves(coco))


def evaluate_detections(gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Score COCO results against a COCO ground-truth dict.

    Returns ``{"AP50": {class name: AP}, "mAP50", "mAP" (COCO AP@[.50:.95]), "coco": {12 COCO stats},
    "mAP50_voc07", "mAP50_voc", "mAP50_coco", "classes": {name: {"n_gt", "n_detections", "AP50_voc07",
    "AP50_voc", "AP50_coco", "coco": {12 stats for that class}}}}``. ``AP50`` per class is COCO's 101-point AP at
    IoU 0.5, so ``mAP50`` equals ``coco["AP50"]``.
    """
    return evaluate(gt, results).to_dict()
