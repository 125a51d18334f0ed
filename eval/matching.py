"""Box overlap and greedy matching of detections to ground truth, as pycocotools' ``COCOeval`` does it.

Boxes here are COCO ``[x, y, w, h]`` in absolute pixels (the on-disk convention), held as float64.

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

# pycocotools caps the running best IoU at just below 1 so that a perfect overlap still matches.
_MAX_THRESHOLD = 1 - 1e-10


def box_iou_xywh(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of every detection with every ground-truth box, with crowd boxes overlapping by detection area.

    ``dt`` is ``(..., D, 4)``, ``gt`` ``(..., G, 4)`` and ``crowd`` ``(..., G)`` bool, all COCO xywh pixels; the
    leading dimensions broadcast. Returns ``(..., D, G)`` float64, computed in the same order of operations as
    pycocotools' C ``bbIou`` so that values at a threshold compare identically.
    """
    dt = np.asarray(dt, dtype=np.float64)[..., :, None, :]
    gt = np.asarray(gt, dtype=np.float64)[..., None, :, :]
    w = np.minimum(dt[..., 2] + dt[..., 0], gt[..., 2] + gt[..., 0]) - np.maximum(dt[..., 0], gt[..., 0])
    h = np.minimum(dt[..., 3] + dt[..., 1], gt[..., 3] + gt[..., 1]) - np.maximum(dt[..., 1], gt[..., 1])
    overlaps = (w > 0) & (h > 0)
    inter = w * h
    dt_area = dt[..., 2] * dt[..., 3]
    gt_area = gt[..., 2] * gt[..., 3]
    union = np.where(np.asarray(crowd, dtype=bool)[..., None, :], dt_area, dt_area + gt_area - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overlaps, inter / np.where(overlaps, union, 1.0), 0.0)


def _last_argmax(values: np.ndarray) -> np.ndarray:
    """Index of the maximum along the last axis, the last one on ties."""
    return values.shape[-1] - 1 - np.argmax(values[..., ::-1], axis=-1)


def greedy_match(iou: np.ndarray, n_dets: np.ndarray, thresholds: np.ndarray, gt_ignore: np.ndarray,
                 gt_reusable: np.ndarray) -> np.ndarray:
    """Match detections to ground truth for many (image, class) groups, area settings and thresholds at once.

    ``iou`` is ``(P, D, G)`` per group, detections in descending score order, padding entries ``< 0`` (never a
    match); ``n_dets`` ``(P,)`` the real detection count of each group; ``thresholds`` ``(T,)`` IoU thresholds;
    ``gt_ignore`` ``(P, A, G)`` bool marks the ground truth ignored under each of ``A`` area settings;
    ``gt_reusable`` ``(P, G)`` bool marks boxes that may absorb several detections (crowd, difficult).

    Returns ``(P, A, T, D)`` int64: the index of the ground-truth box each detection matched, ``-1`` if none.
    """
    n_groups, max_dets, n_gt = iou.shape
    n_areas, n_thr = gt_ignore.shape[1], len(thresholds)
    # Process groups with the most detections first so that step d only touches groups that have a d-th one.
    order = np.argsort(-np.asarray(n_dets), kind="stable")
    iou, n_sorted = iou[order], np.asarray(n_dets)[order]
    ignore = gt_ignore[order][:, :, None, :]
    reusable = gt_reusable[order][:, None, None, :]
    thr = np.minimum(np.asarray(thresholds, dtype=np.float64), _MAX_THRESHOLD)[None, None, :, None]
    taken = np.zeros((n_groups, n_areas, n_thr, n_gt), dtype=bool)
    match = np.full((n_groups, n_areas, n_thr, max_dets), -1, dtype=np.int64)
    for d in range(max_dets):
        k = int(np.count_nonzero(n_sorted > d))
        if k == 0:
            break
        overlap = iou[:k, d, None, None, :]
        candidate = (overlap >= thr) & ~taken[:k]
        regular = candidate & ~ignore[:k]
        fallback = candidate & ignore[:k]
        best = np.where(regular.any(-1), _last_argmax(np.where(regular, overlap, -1.0)),
                        np.where(fallback.any(-1), _last_argmax(np.where(fallback, overlap, -1.0)), -1))
        match[:k, :, :, d] = best
        hit = best >= 0
        one_hot = np.zeros_like(candidate)
        np.put_along_axis(one_hot, np.where(hit, best, 0)[..., None], hit[..., None], axis=-1)
        taken[:k] |= one_hot & ~reusable[:k]
    out = np.empty_like(match)
    out[order] = match
    return out


def match_image(dt_boxes: np.ndarray, gt_boxes: np.ndarray, gt_crowd: np.ndarray, gt_ignore: np.ndarray,
                threshold: float = 0.5) -> np.ndarray:
    """Match one image's detections (COCO xywh, in descending score order) to its ground truth at one
    threshold; ``gt_ignore`` marks boxes that are ignored (crowd, difficult). Returns ``(D,)`` int64 ground-truth
    indices, ``-1`` for no match; a detection matched to an ignored box keeps that box's index."""
    if len(dt_boxes) == 0 or len(gt_boxes) == 0:
        return np.full(len(dt_boxes), -1, dtype=np.int64)
    iou = box_iou_xywh(dt_boxes, gt_boxes, gt_crowd)[None]
    ignore = np.asarray(gt_ignore, dtype=bool)
    match = greedy_match(iou, np.array([len(dt_boxes)]), np.array([threshold]), ignore[None, None],
                         (ignore | np.asarray(gt_crowd, dtype=bool))[None])
    return match[0, 0, 0]
