"""The COCO detection summary (the 12 numbers ``COCOeval.summarize`` prints), computed with numpy.

It reproduces pycocotools' ``COCOeval`` for ``iouType="bbox"`` (default parameters) to floating-point
identity: the same IoU thresholds 0.50:0.05:0.95, 101 recall levels, at most 1/10/100 detections per image and
class, area ranges all/small/medium/large (``[0, 1e10]``, ``[0, 32**2]``, ``[32**2, 96**2]``,
``[96**2, 1e10]`` square pixels, ends included, ground truth by its ``area`` field, detections by ``w * h``),
the same matching (:mod:`dftag.eval.matching`) and the same accumulation, including which detections are kept on
score ties. Instead of Python loops per image it matches all (image, class) groups at once, one detection
rank at a time.

Where pycocotools cannot answer it still does: with no detections at all (``loadRes([])`` raises IndexError)
every class with ground truth scores 0; a statistic with no ground truth to measure (no box of that size, say)
is -1, as in pycocotools. Two deliberate differences: ``difficult`` boxes are ignored like crowd boxes (VOC's
rule; pycocotools does not know the field), and a ground-truth annotation with ``id`` 0 is matched like any
other (pycocotools mistakes a match to id 0 for no match).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dftag.core.boxes import box_iou, greedy_match
from dftag.eval.ap import COCO_RECALL_LEVELS, interpolated_precision, precision_recall
from dftag.eval.results import DetectionArrays, GroundTruthArrays

# pycocotools' expressions, kept verbatim so the thresholds are the same floats.
IOU_THRESHOLDS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
MAX_DETS = (1, 10, 100)
AREA_RANGES = {"all": (0 ** 2, 1e5 ** 2), "small": (0 ** 2, 32 ** 2), "medium": (32 ** 2, 96 ** 2),
               "large": (96 ** 2, 1e5 ** 2)}
# name: (AP or AR, IoU threshold or None for the mean over all, area range, max detections)
STATS: dict[str, tuple[str, float | None, str, int]] = {
    "AP": ("AP", None, "all", 100), "AP50": ("AP", 0.5, "all", 100), "AP75": ("AP", 0.75, "all", 100),
    "APs": ("AP", None, "small", 100), "APm": ("AP", None, "medium", 100), "APl": ("AP", None, "large", 100),
    "AR1": ("AR", None, "all", 1), "AR10": ("AR", None, "all", 10), "AR100": ("AR", None, "all", 100),
    "ARs": ("AR", None, "small", 100), "ARm": ("AR", None, "medium", 100), "ARl": ("AR", None, "large", 100),
}
STAT_NAMES = tuple(STATS)


@dataclass
class MatchTable:
    """Every scored detection (at most ``MAX_DETS[-1]`` per image and class), ordered by image, class, rank.

    ``matched``/``ignored`` are ``(N, A, T)`` bool over area ranges (``AREA_RANGES`` order) and
    ``IOU_THRESHOLDS``; a detection is a true positive where matched and not ignored, a false positive where
    neither. ``n_pos`` ``(K, A)`` counts the ground truth that is not ignored, per class and area range.
    """

    category_ids: list[int]
    category_names: list[str]
    image: np.ndarray
    category: np.ndarray
    rank: np.ndarray
    score: np.ndarray
    matched: np.ndarray
    ignored: np.ndarray
    n_pos: np.ndarray


def _rank_in_runs(keys: np.ndarray) -> np.ndarray:
    """For sorted ``keys``: each entry's position within its run of equal keys."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.concatenate([[True], keys[1:] != keys[:-1]])
    return np.arange(len(keys)) - np.flatnonzero(new)[np.cumsum(new) - 1]


def _out_of_range(area: np.ndarray) -> np.ndarray:
    """``(N, A)`` bool: area outside each of ``AREA_RANGES`` (ends included in the range)."""
    lo = np.array([r[0] for r in AREA_RANGES.values()], dtype=np.float64)
    hi = np.array([r[1] for r in AREA_RANGES.values()], dtype=np.float64)
    return (area[:, None] < lo) | (area[:, None] > hi)


def match_detections(gt: GroundTruthArrays, dt: DetectionArrays) -> MatchTable:
    """Match detections to ground truth per image and class at every IoU threshold and area range."""
    n_cat = len(gt.category_ids)
    n_areas, n_thr = len(AREA_RANGES), len(IOU_THRESHOLDS)
    # Detections: by pair (image-major), then descending score, ties in results order; keep the top MAX_DETS[-1].
    d_pair = dt.image_index * n_cat + dt.category_index
    order = np.argsort(-dt.scores, kind="stable")
    order = order[np.argsort(d_pair[order], kind="stable")]
    rank = _rank_in_runs(d_pair[order])
    keep = rank < MAX_DETS[-1]
    order, rank = order[keep], rank[keep]
    pair, boxes, score = d_pair[order], dt.boxes[order], dt.scores[order]
    det_out = _out_of_range(boxes[:, 2] * boxes[:, 3])
    # Ground truth: by pair, file order within a pair.
    g_order = np.argsort(gt.image_index * n_cat + gt.category_index, kind="stable")
    g_pair = (gt.image_index * n_cat + gt.category_index)[g_order]
    g_rank = _rank_in_runs(g_pair)
    g_reusable = (gt.crowd | gt.difficult)[g_order]
    g_ignore = g_reusable[:, None] | _out_of_range(gt.area[g_order])
    n_pos = np.zeros((n_cat, n_areas), dtype=np.int64)
    np.add.at(n_pos, gt.category_index[g_order], ~g_ignore)

    matched = np.zeros((len(order), n_areas, n_thr), dtype=bool)
    ignored = np.broadcast_to(det_out[:, :, None], matched.shape).copy()
    groups = np.intersect1d(pair, g_pair)
    if len(groups):
        d_in = np.isin(pair, groups)
        d_group = np.searchsorted(groups, pair[d_in])
        g_in = np.isin(g_pair, groups)
        g_group = np.searchsorted(groups, g_pair[g_in])
        n_dets = np.bincount(d_group, minlength=len(groups))
        max_gt = int(g_rank[g_in].max()) + 1
        dt_boxes = np.zeros((len(groups), int(n_dets.max()), 4))
        dt_boxes[d_group, rank[d_in]] = boxes[d_in]
        gt_boxes = np.zeros((len(groups), max_gt, 4))
        gt_valid = np.zeros((len(groups), max_gt), dtype=bool)
        gt_crowd = np.zeros((len(groups), max_gt), dtype=bool)
        gt_reusable = np.zeros((len(groups), max_gt), dtype=bool)
        gt_ignore = np.ones((len(groups), n_areas, max_gt), dtype=bool)
        gi, gr = g_group, g_rank[g_in]
        gt_boxes[gi, gr] = gt.boxes[g_order][g_in]
        gt_valid[gi, gr] = True
        gt_crowd[gi, gr] = gt.crowd[g_order][g_in]
        gt_reusable[gi, gr] = g_reusable[g_in]
        gt_ignore[gi, :, gr] = g_ignore[g_in]
        iou = box_iou(dt_boxes, gt_boxes, gt_crowd, fmt="xywh")
        iou[~np.broadcast_to(gt_valid[:, None, :], iou.shape)] = -1.0
        match = greedy_match(iou, IOU_THRESHOLDS, n_rows=n_dets, fallback=gt_ignore, reusable=gt_reusable)
        m = match[d_group, :, :, rank[d_in]]  # (n, A, T)
        hit = m >= 0
        hit_ignored = np.take_along_axis(gt_ignore[d_group], np.maximum(m, 0), axis=2)
        matched[d_in] = hit
        ignored[d_in] = np.where(hit, hit_ignored, ignored[d_in])
    return MatchTable(category_ids=list(gt.category_ids), category_names=list(gt.category_names),
                      image=pair // n_cat, category=pair % n_cat, rank=rank, score=score, matched=matched,
                      ignored=ignored, n_pos=n_pos)


def accumulate(table: MatchTable) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' ``accumulate``: precision ``(T, R, K, A, M)`` and recall ``(T, K, A, M)``, -1 where a class
    has no ground truth in an area range."""
    n_thr, n_rec, n_cat = len(IOU_THRESHOLDS), len(COCO_RECALL_LEVELS), len(table.category_ids)
    n_areas, n_max = len(AREA_RANGES), len(MAX_DETS)
    precision = -np.ones((n_thr, n_rec, n_cat, n_areas, n_max))
    recall = -np.ones((n_thr, n_cat, n_areas, n_max))
    for k in range(n_cat):
        of_class = table.category == k
        for mi, max_det in enumerate(MAX_DETS):
            sel = np.flatnonzero(of_class & (table.rank < max_det))
            sel = sel[np.argsort(-table.score[sel], kind="mergesort")]
            for a in range(n_areas):
                if table.n_pos[k, a] == 0:
                    continue
                counted = ~table.ignored[sel, a, :].T  # (T, n)
                hit = table.matched[sel, a, :].T
                pr, rc = precision_recall(hit & counted, ~hit & counted, int(table.n_pos[k, a]))
                recall[:, k, a, mi] = rc[:, -1] if len(sel) else 0
                for t in range(n_thr):
                    precision[t, :, k, a, mi] = interpolated_precision(pr[t], rc[t], COCO_RECALL_LEVELS)
    return precision, recall


def summarize(precision: np.ndarray, recall: np.ndarray, category: int | None = None) -> dict[str, float]:
    """The 12 COCO statistics (``STATS``) from accumulated arrays; -1 where nothing was measurable.

    With ``category`` (an index into the class axis) the statistics are for that class alone.
    """
    area_names = list(AREA_RANGES)
    out = {}
    for name, (kind, iou_thr, area, max_det) in STATS.items():
        s = precision if kind == "AP" else recall
        if iou_thr is not None:
            s = s[np.where(iou_thr == IOU_THRESHOLDS)[0]]
        s = s[..., area_names.index(area), MAX_DETS.index(max_det)]
        if category is not None:
            s = s[..., category]
        valid = s[s > -1]
        out[name] = float(np.mean(valid)) if len(valid) else -1.0
    return out


@dataclass
class CocoEvaluation:
    table: MatchTable
    precision: np.ndarray
    recall: np.ndarray

    @property
    def stats(self) -> dict[str, float]:
        return summarize(self.precision, self.recall)

    def class_stats(self) -> dict[str, dict[str, float]]:
        return {name: summarize(self.precision, self.recall, k) for k, name in enumerate(self.table.category_names)}


def coco_evaluate(gt: GroundTruthArrays, dt: DetectionArrays) -> CocoEvaluation:
    """Match, accumulate and keep everything needed for the summary and per-class numbers."""
    table = match_detections(gt, dt)
    precision, recall = accumulate(table)
    return CocoEvaluation(table=table, precision=precision, recall=recall)


def coco_summary(gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, float]:
    """The 12 COCO statistics for a COCO ground-truth dict and COCO results (checked; bad input raises
    :class:`DftagError`)."""
    from dftag.eval.results import detection_arrays, ground_truth_arrays

    gt_arrays = ground_truth_arrays(gt)
    return coco_evaluate(gt_arrays, detection_arrays(results, gt_arrays)).stats
