"""Matching detections to ground truth as pycocotools' ``COCOeval`` does it.

Boxes here are COCO ``[x, y, w, h]`` in absolute pixels (the on-disk convention), held as float64; the IoU
and the greedy matching are :func:`dftag.core.boxes.box_iou` (``fmt="xywh"``) and
:func:`dftag.core.boxes.greedy_match`.

Matching rules (pycocotools ``evaluateImg``, vectorised):

* detections are taken in descending score order; each is matched to the still-unmatched ground-truth box of
  highest IoU that is ``>= threshold``; on equal IoU the later ground-truth box (in file order) wins;
* a detection prefers any regular ground-truth box over an *ignored* one (crowd, ``difficult``, or outside the
  area range being scored) and only falls back to an ignored box when no regular box qualifies;
* a detection matched to an ignored box is itself ignored (neither true nor false positive);
* crowd boxes overlap by ``intersection / detection area`` and, like VOC ``difficult`` boxes, may absorb any
  number of detections; every other box is matched at most once.
"""

from __future__ import annotations

import numpy as np

from dftag.core.boxes import box_iou, greedy_match


def match_image(dt_boxes: np.ndarray, gt_boxes: np.ndarray, gt_crowd: np.ndarray, gt_ignore: np.ndarray,
                threshold: float = 0.5) -> np.ndarray:
    """Match one image's detections (COCO xywh, in descending score order) to its ground truth at one
    threshold; ``gt_ignore`` marks boxes that are ignored (crowd, difficult). Returns ``(D,)`` int64 ground-truth
    indices, ``-1`` for no match; a detection matched to an ignored box keeps that box's index."""
    if len(dt_boxes) == 0 or len(gt_boxes) == 0:
        return np.full(len(dt_boxes), -1, dtype=np.int64)
    iou = box_iou(dt_boxes, gt_boxes, gt_crowd, fmt="xywh")[None]
    ignore = np.asarray(gt_ignore, dtype=bool)
    match = greedy_match(iou, [threshold], fallback=ignore[None, None],
                         reusable=(ignore | np.asarray(gt_crowd, dtype=bool))[None])
    return match[0, 0, 0]
