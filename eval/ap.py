"""Precision-recall curves and the three definitions of average precision.

A curve is built from detections sorted by descending score, each a true or a false positive (ignored
detections are left out beforehand), and ``n_pos``, the number of ground-truth boxes that count. Precision is
``tp / (tp + fp + eps)`` with ``eps = np.spacing(1)`` exactly as pycocotools computes it.

* :func:`ap_voc07` - PASCAL VOC 2007, 11-point interpolated: the mean over recall levels
  ``r in {0, 0.1, ..., 1}`` of the highest precision at any recall ``>= r`` (0 where recall never reaches r).
* :func:`ap_voc` - PASCAL VOC 2010 and later, all-point: the area under the monotone (non-increasing)
  envelope of the precision-recall curve, summed over the recall steps.
* :func:`ap_coco` - COCO, 101-point interpolated: the mean over ``r in {0, 0.01, ..., 1}`` of the envelope's
  precision at the first detection whose recall is ``>= r`` (0 where recall never reaches r).

The values agree with the VOC devkit's ``voc_ap`` and with pycocotools' ``accumulate``; the one difference
from the devkit is that boxes are continuous (no ``+1`` pixel convention in the IoU).
"""

from __future__ import annotations

import numpy as np

# The VOC devkit's levels, np.arange(0, 1.1, 0.1): its 0.3, 0.6 and 0.7 are a hair above the decimal value,
# and a recall of exactly 3/10 does not reach the devkit's 0.3 level; kept verbatim to agree with it.
VOC07_RECALL_LEVELS = np.arange(0.0, 1.1, 0.1)
# pycocotools' expression, kept verbatim so the thresholds are the same floats.
COCO_RECALL_LEVELS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)


def precision_recall(tp: np.ndarray, fp: np.ndarray, n_pos: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative precision and recall along the last axis of score-sorted true/false positive flags.

    ``tp`` and ``fp`` are bool arrays of the same shape (a detection that is neither is ignored); ``n_pos`` > 0.
    Returns ``(precision, recall)`` float64 arrays of that shape.
    """
    tp_sum = np.cumsum(tp, axis=-1).astype(float)
    fp_sum = np.cumsum(fp, axis=-1).astype(float)
    return tp_sum / (fp_sum + tp_sum + np.spacing(1)), tp_sum / n_pos


def precision_envelope(precision: np.ndarray) -> np.ndarray:
    """The monotone envelope: at each point the highest precision at that point or any later one."""
    return np.maximum.accumulate(precision[..., ::-1], axis=-1)[..., ::-1]


def interpolated_precision(precision: np.ndarray, recall: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Envelope precision at the first point whose recall is ``>= level``, for each level (0 if none)."""
    if len(recall) == 0:
        return np.zeros(len(levels))
    envelope = precision_envelope(precision)
    idx = np.searchsorted(recall, levels, side="left")
    return np.where(idx < len(recall), envelope[np.minimum(idx, len(recall) - 1)], 0.0)


def ap_voc07(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC 2007 11-point interpolated AP (see module docstring)."""
    return float(np.mean(interpolated_precision(precision, recall, VOC07_RECALL_LEVELS)))


def ap_voc(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC 2010+ all-point AP: area under the precision envelope (see module docstring)."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = precision_envelope(np.concatenate([[0.0], precision, [0.0]]))
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def ap_coco(precision: np.ndarray, recall: np.ndarray) -> float:
    """COCO 101-point interpolated AP (see module docstring)."""
    return float(np.mean(interpolated_precision(precision, recall, COCO_RECALL_LEVELS)))


AP_DEFINITIONS = {"voc07": ap_voc07, "voc": ap_voc, "coco": ap_coco}
