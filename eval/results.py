"""Load and check COCO ground truth and COCO detection results, turning them into arrays for scoring.

Ground truth is a COCO detection dict (``images``, ``annotations``, ``categories``); annotations need
``image_id``, ``category_id`` and ``bbox`` (COCO ``[x, y, w, h]`` pixels); ``area`` defaults to ``w * h``,
``iscrowd`` and ``difficult`` to 0. Results are the COCO results format: a JSON list of
``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``; a result's area is its box's ``w * h``.

Every problem raises one :class:`DftagError` naming the file and the entry ("result 12", "annotation 7").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np

from dftag.core.boxes import xyxy_to_xywh
from dftag.core.detections import Detections
from dftag.core.errors import DftagError
from dftag.core.io import read_json

RESULT_KEYS = ("image_id", "category_id", "bbox", "score")


@dataclass
class GroundTruthArrays:
    """Ground-truth boxes in file order, with images and categories in sorted id order.

    ``image_index``/``category_index`` index ``image_ids``/``category_ids``; ``boxes`` ``(N, 4)`` float64 COCO
    xywh pixels; ``area`` the annotation's ``area`` field (square pixels, used for COCO's size ranges).
    """

    image_ids: list[Any]
    category_ids: list[int]
    category_names: list[str]
    image_index: np.ndarray
    category_index: np.ndarray
    boxes: np.ndarray
    area: np.ndarray
    crowd: np.ndarray
    difficult: np.ndarray


@dataclass
class DetectionArrays:
    """Detections in results order: indices into the ground truth's image and category lists, boxes ``(N, 4)``
    float64 COCO xywh pixels, scores ``(N,)`` float64."""

    image_index: np.ndarray
    category_index: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray


def _is_number(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)


def _box_problem(bbox: Any) -> str | None:
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        return f"bbox must be a list [x, y, w, h] of 4 finite numbers, got {bbox!r}"
    if bbox[2] < 0 or bbox[3] < 0:
        return f"bbox width and height must be >= 0, got {bbox!r}"
    return None


def ground_truth_arrays(gt: dict[str, Any], path: str | Path | None = None) -> GroundTruthArrays:
    """Check a COCO ground-truth dict and return its arrays; raise :class:`DftagError` on the first problem."""
    if not isinstance(gt, dict):
        raise DftagError("ground truth must be a COCO object with images, annotations and categories", path)
    for key in ("images", "annotations", "categories"):
        if not isinstance(gt.get(key), list):
            raise DftagError(f"ground truth lacks the list '{key}'", path)
    try:
        image_ids = sorted({img["id"] for img in gt["images"]})
        categories = sorted((c["id"], str(c.get("name", c["id"]))) for c in gt["categories"])
    except (KeyError, TypeError):
        raise DftagError("every image and category needs an 'id' (all of one type)", path) from None
    if len(image_ids) != len(gt["images"]):
        raise DftagError("duplicate image ids", path)
    image_pos = {img_id: i for i, img_id in enumerate(image_ids)}
    cat_pos = {cid: k for k, (cid, _) in enumerate(categories)}
    n = len(gt["annotations"])
    image_index = np.empty(n, dtype=np.int64)
    category_index = np.empty(n, dtype=np.int64)
    boxes = np.empty((n, 4), dtype=np.float64)
    area = np.empty(n, dtype=np.float64)
    crowd = np.empty(n, dtype=bool)
    difficult = np.empty(n, dtype=bool)
    for j, ann in enumerate(gt["annotations"]):
        where = f"annotation {ann.get('id', j) if isinstance(ann, dict) else j}"
        if not isinstance(ann, dict):
            raise DftagError("annotation is not an object", path, where)
        if ann.get("image_id") not in image_pos:
            raise DftagError(f"unknown image_id {ann.get('image_id')!r}", path, where)
        if ann.get("category_id") not in cat_pos:
            raise DftagError(f"category_id {ann.get('category_id')!r} is not among the categories", path, where)
        problem = _box_problem(ann.get("bbox"))
        if problem:
            raise DftagError(problem, path, where)
        a = ann.get("area", ann["bbox"][2] * ann["bbox"][3])
        if not _is_number(a):
            raise DftagError(f"area must be a finite number, got {a!r}", path, where)
        image_index[j] = image_pos[ann["image_id"]]
        category_index[j] = cat_pos[ann["category_id"]]
        boxes[j] = ann["bbox"]
        area[j] = a
        crowd[j] = bool(ann.get("iscrowd", 0))
        difficult[j] = bool(ann.get("difficult", 0))
    return GroundTruthArrays(image_ids=image_ids, category_ids=[c for c, _ in categories],
                             category_names=[name for _, name in categories], image_index=image_index,
                             category_index=category_index, boxes=boxes, area=area, crowd=crowd,
                             difficult=difficult)


def _first_result_problem(results: list[Any], gt: GroundTruthArrays) -> tuple[int, str]:
    image_ids, category_ids = set(gt.image_ids), set(gt.category_ids)
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            return i, "result is not an object"
        missing = [k for k in RESULT_KEYS if k not in r]
        if missing:
            return i, f"result lacks {', '.join(missing)}"
        if r["image_id"] not in image_ids:
            return i, f"image_id {r['image_id']!r} is not in the ground truth"
        if r["category_id"] not in category_ids:
            return i, f"category_id {r['category_id']!r} is not in the ground truth categories {sorted(category_ids)}"
        problem = _box_problem(r["bbox"])
        if problem:
            return i, problem
        if not _is_number(r["score"]):
            return i, f"score must be a finite number, got {r['score']!r}"
    raise AssertionError("no problem found")  # only called after the fast path failed


def detection_arrays(results: Any, gt: GroundTruthArrays, path: str | Path | None = None) -> DetectionArrays:
    """Check COCO results against the ground truth and return their arrays.

    Raises :class:`DftagError` naming the first bad entry: malformed entries, image ids not in the ground truth,
    category ids not among its categories, non-finite scores or boxes, negative sizes.
    """
    if not isinstance(results, list):
        raise DftagError("results must be a JSON list of {image_id, category_id, bbox, score} objects", path)
    image_pos = {img_id: i for i, img_id in enumerate(gt.image_ids)}
    cat_pos = {cid: k for k, cid in enumerate(gt.category_ids)}
    try:  # fast path: one pass per field; any failure falls back to the slow search for the first bad entry
        image_index = np.array([image_pos[r["image_id"]] for r in results], dtype=np.int64)
        category_index = np.array([cat_pos[r["category_id"]] for r in results], dtype=np.int64)
        boxes = np.array([r["bbox"] for r in results]).reshape(len(results), 4)
        scores = np.array([r["score"] for r in results])
        ok = (boxes.dtype.kind in "if" and scores.dtype.kind in "if"
              and all(type(r["score"]) is not bool for r in results))
        boxes, scores = boxes.astype(np.float64), scores.astype(np.float64)
        ok = ok and np.isfinite(boxes).all() and np.isfinite(scores).all() and (boxes[:, 2:] >= 0).all()
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        index, message = _first_result_problem(results, gt)
        raise DftagError(message, path, f"result {index}")
    return DetectionArrays(image_index=image_index, category_index=category_index, boxes=boxes, scores=scores)


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """Read a COCO results file (a JSON list); its entries are checked by :func:`detection_arrays`."""
    results = read_json(path)
    if not isinstance(results, list):
        raise DftagError("results must be a JSON list of {image_id, category_id, bbox, score} objects", path)
    return results


def coco_results(detections: Detections, image_id: int, **extra: Any) -> list[dict[str, Any]]:
    """One image's detections as COCO results: ``bbox`` ``[x, y, w, h]`` in the image's pixels, ``score`` the
    probability of ``category_id`` (1 real, 2 fake), ``p_fake`` the calibrated probability that the face is
    fake; ``extra`` entries (``file_name``, say) are copied into every result."""
    return [{"image_id": image_id, "category_id": int(label), "bbox": xyxy_to_xywh(box.tolist()),
             "score": float(score), "p_fake": float(p_fake), **extra}
            for box, label, score, p_fake in zip(detections.boxes, detections.labels, detections.scores,
                                                 detections.p_fake)]
