"""Box maths in absolute pixels: format conversion, pairwise IoU and greedy IoU matching.

In memory boxes are ``xyxy`` (left, top, right, bottom) pixels of the image they belong to; on disk they are
COCO ``[x, y, w, h]`` (:func:`xywh_to_xyxy`, :func:`xyxy_to_xywh`). Everything that overlaps or matches boxes
(evaluation, tracking, auto-labelling) uses :func:`box_iou` and :func:`greedy_match`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike

# pycocotools caps the IoU threshold just below 1 so that a perfect overlap still matches at threshold 1.
_MAX_THRESHOLD = 1 - 1e-10


def xywh_to_xyxy(box: Iterable[float]) -> list[float]:
    """One COCO ``[x, y, w, h]`` box as ``[x1, y1, x2, y2]``."""
    x, y, w, h = box
    return [x, y, x + w, y + h]


def xyxy_to_xywh(box: Iterable[float]) -> list[float]:
    """One ``[x1, y1, x2, y2]`` box as COCO ``[x, y, w, h]``."""
    x1, y1, x2, y2 = box
    return [x1, y1, x2 - x1, y2 - y1]


def box_iou(a: ArrayLike, b: ArrayLike, crowd: ArrayLike | None = None, fmt: str = "xyxy") -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b``.

    ``a`` is ``(..., N, 4)`` and ``b`` ``(..., M, 4)`` pixels, ``xyxy`` or (``fmt="xywh"``) COCO
    ``[x, y, w, h]``; leading dimensions broadcast. Returns ``(..., N, M)`` float64, 0 where boxes do not overlap.
    ``crowd`` ``(..., M)`` bool marks boxes of ``b`` that overlap by intersection over the area of the box of
    ``a`` instead (COCO ``iscrowd`` ground truth, as pycocotools scores it). COCO boxes are computed in
    pycocotools' order of operations (areas ``w * h``), so IoUs equal its own to the last bit and compare
    identically at a threshold.
    """
    a = np.asarray(a, dtype=np.float64)[..., :, None, :]
    b = np.asarray(b, dtype=np.float64)[..., None, :, :]
    if fmt == "xywh":
        area_a, area_b = a[..., 2] * a[..., 3], b[..., 2] * b[..., 3]
        a = np.concatenate([a[..., :2], a[..., :2] + a[..., 2:]], axis=-1)
        b = np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)
    elif fmt == "xyxy":
        area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
        area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    else:
        raise ValueError(f"fmt must be 'xyxy' or 'xywh', got {fmt!r}")
    w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    overlaps = (w > 0) & (h > 0)
    inter = w * h
    union = area_a + area_b - inter
    if crowd is not None:
        union = np.where(np.asarray(crowd, dtype=bool)[..., None, :], area_a, union)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overlaps, inter / np.where(overlaps, union, 1.0), 0.0)


def _last_argmax(values: np.ndarray) -> np.ndarray:
    """Index of the maximum along the last axis, the last one on ties."""
    return values.shape[-1] - 1 - np.argmax(values[..., ::-1], axis=-1)


def greedy_match(iou: np.ndarray, thresholds: ArrayLike, *, n_rows: ArrayLike | None = None,
                 fallback: np.ndarray | None = None, reusable: np.ndarray | None = None) -> np.ndarray:
    """Greedy IoU matching of rows to columns, rows in priority order, for many problems at once (COCO's rule).

    ``iou`` is ``(P, R, C)``: ``P`` independent problems of ``R`` rows (say detections, most confident first)
    against ``C`` columns (ground truth, tracks); entries ``< 0`` never match. Each row in turn takes the
    still-free column of highest IoU that is ``>= threshold`` (the last such column on equal IoU), at every
    threshold of ``thresholds`` ``(T,)`` (capped just below 1, as pycocotools does).

    ``n_rows`` ``(P,)``: rows actually used per problem (the rest is padding; default all ``R``).
    ``fallback`` ``(P, A, C)`` bool, for each of ``A`` settings: columns a row takes only when no other column
    qualifies (COCO's ignored ground truth); default none (``A = 1``). ``reusable`` ``(P, C)`` bool: columns
    that stay free after a match (crowd and ``difficult`` boxes absorb any number of detections).

    Returns ``(P, A, T, R)`` int64: the column each row matched, ``-1`` if none.
    """
    n_problems, n_rows_max, n_cols = iou.shape
    n_rows = np.full(n_problems, n_rows_max) if n_rows is None else np.asarray(n_rows)
    if fallback is None:
        fallback = np.zeros((n_problems, 1, n_cols), dtype=bool)
    if reusable is None:
        reusable = np.zeros((n_problems, n_cols), dtype=bool)
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    n_settings, n_thr = fallback.shape[1], len(thresholds)
    # Process problems with the most rows first so that step r only touches problems that have an r-th row.
    order = np.argsort(-n_rows, kind="stable")
    iou, n_sorted = iou[order], n_rows[order]
    second = fallback[order][:, :, None, :]
    keep_free = reusable[order][:, None, None, :]
    thr = np.minimum(thresholds, _MAX_THRESHOLD)[None, None, :, None]
    taken = np.zeros((n_problems, n_settings, n_thr, n_cols), dtype=bool)
    match = np.full((n_problems, n_settings, n_thr, n_rows_max), -1, dtype=np.int64)
    for r in range(n_rows_max):
        k = int(np.count_nonzero(n_sorted > r))
        if k == 0:
            break
        overlap = iou[:k, r, None, None, :]
        candidate = (overlap >= thr) & ~taken[:k]
        first = candidate & ~second[:k]
        later = candidate & second[:k]
        best = np.where(first.any(-1), _last_argmax(np.where(first, overlap, -1.0)),
                        np.where(later.any(-1), _last_argmax(np.where(later, overlap, -1.0)), -1))
        match[:k, :, :, r] = best
        hit = best >= 0
        one_hot = np.zeros_like(candidate)
        np.put_along_axis(one_hot, np.where(hit, best, 0)[..., None], hit[..., None], axis=-1)
        taken[:k] |= one_hot & ~keep_free[:k]
    out = np.empty_like(match)
    out[order] = match
    return out
