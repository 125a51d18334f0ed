"""Run a :class:`dftag.detector.inference.Detector` over a dataset's images and turn its output into what the
evaluation needs: COCO results and matched (fake logit, true label) pairs for calibration.

Images are read one batch at a time and not kept. Boxes are absolute pixel xyxy in memory and COCO xywh in the
results.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from dftag.annotations.dataset import CLASS_NAMES, FAKE, Dataset
from dftag.core.boxes import xywh_to_xyxy
from dftag.core.io import read_image
from dftag.core.thresholds import EVAL_MIN_SCORE
from dftag.detector.inference import DEFAULT_BATCH_SIZE, DEFAULT_NMS_IOU, Detections, Detector
from dftag.eval.matching import match_image
from dftag.eval.results import coco_results


@dataclass
class DatasetPredictions:
    """One :class:`Detections` per image of ``dataset``, in ``dataset.images`` order."""

    dataset: Dataset
    detections: list[Detections]

    def coco_results(self) -> list[dict[str, Any]]:
        return [r for img, det in zip(self.dataset.images, self.detections) for r in coco_results(det, img["id"])]

    def matches(self, iou_threshold: float = 0.5, rank: str = "scores", min_score: float = 0.0
                ) -> Iterator[tuple[Detections, int, dict[str, Any] | None]]:
        """Each detection whose ``rank`` field (``"scores"`` or ``"face_scores"``) is ``>= min_score``, matched
        class-agnostically per image in descending ``rank`` order (IoU ``>= iou_threshold``, greedy as COCO
        does), as ``(image's detections, index, matched annotation or None)``; detections on a crowd or
        difficult face are left out (neither right nor wrong)."""
        by_image = self.dataset.annotations_by_image()
        for img, det in zip(self.dataset.images, self.detections):
            anns = by_image[img["id"]]
            values = getattr(det, rank)
            keep = np.flatnonzero(values >= min_score)
            keep = keep[np.argsort(-values[keep], kind="stable")]
            boxes = det.boxes[keep].astype(np.float64)
            dt_xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
            gt_xywh = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
            crowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
            ignore = crowd | np.array([bool(a.get("difficult", 0)) for a in anns], dtype=bool)
            for d, g in zip(keep, match_image(dt_xywh, gt_xywh, crowd, ignore, iou_threshold)):
                if g < 0:
                    yield det, int(d), None
                elif not ignore[g]:
                    yield det, int(d), anns[g]

    def matched_logits(self, iou_threshold: float = 0.5, min_score: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """``(fake_logit, label)`` for each detection with score ``>= min_score`` matched (class-agnostic, IoU
        ``>= iou_threshold``) to a ground-truth face that is not crowd or difficult; label 1 fake, 0 real."""
        pairs = [(float(det.fake_logit[d]), int(ann["category_id"] == FAKE))
                 for det, d, ann in self.matches(iou_threshold, "scores", min_score) if ann is not None]
        return (np.array([p[0] for p in pairs], dtype=np.float64), np.array([p[1] for p in pairs], dtype=np.int64))


def predict_images(detector: Detector, paths: Sequence[str | os.PathLike[str]],
                   score_threshold: float = EVAL_MIN_SCORE, nms_iou: float = DEFAULT_NMS_IOU,
                   batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True) -> list[Detections]:
    """Detections for every image file of ``paths``, in order, read ``batch_size`` at a time (a progress bar on
    stderr with ``progress``); an unreadable image is a :class:`DftagError` naming it."""
    detections: list[Detections] = []
    with tqdm(total=len(paths), desc="predict", unit="img", disable=not progress, leave=False) as bar:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            detections.extend(detector.predict([read_image(path) for path in chunk], score_threshold=score_threshold,
                                               nms_iou=nms_iou, batch_size=batch_size))
            bar.update(len(chunk))
    return detections


def predict_dataset(detector: Detector, dataset: Dataset, score_threshold: float = EVAL_MIN_SCORE,
                    batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True) -> DatasetPredictions:
    """Detections for every image of ``dataset`` (a progress bar on stderr with ``progress``)."""
    paths = [dataset.image_path(img) for img in dataset.images]
    return DatasetPredictions(dataset, predict_images(detector, paths, score_threshold, batch_size=batch_size,
                                                      progress=progress))


def gt_boxes_xyxy(annotations: list[dict[str, Any]]) -> np.ndarray:
    """Ground-truth boxes of one image as ``(N, 4)`` float xyxy pixels."""
    return np.array([xywh_to_xyxy(a["bbox"]) for a in annotations], dtype=np.float64).reshape(-1, 4)


def example_frames(predictions: DatasetPredictions, count: int, threshold: float) -> list:
    """Up to ``count`` frames spread evenly over the images that have ground truth, each with its ground truth
    and the detections scoring ``>= threshold``, ready for :func:`dftag.eval.plots.plot_examples`."""
    from dftag.eval.plots import Example

    dataset = predictions.dataset
    by_image = dataset.annotations_by_image()
    with_faces = [i for i, img in enumerate(dataset.images) if by_image[img["id"]]]
    if count <= 0 or not with_faces:
        return []
    picks = sorted({with_faces[int(k)] for k in np.linspace(0, len(with_faces) - 1, min(count, len(with_faces)))})
    out = []
    for i in picks:
        img, det = dataset.images[i], predictions.detections[i]
        anns = by_image[img["id"]]
        keep = det.scores >= threshold
        out.append(Example(image=read_image(dataset.image_path(img)), gt_boxes=gt_boxes_xyxy(anns),
                           gt_labels=[CLASS_NAMES.get(a["category_id"], str(a["category_id"])) for a in anns],
                           pred_boxes=det.boxes[keep], pred_labels=[CLASS_NAMES[int(c)] for c in det.labels[keep]],
                           pred_scores=det.scores[keep], title=img["file_name"]))
    return out
