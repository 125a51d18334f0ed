"""Choosing the face threshold on validation images: the face probability from which a detection counts as a
face (it starts a track in ``dftag annotate`` and ``dftag score``).

:func:`pick_face_threshold` ranks every detection of a :class:`~dftag.eval.predict.DatasetPredictions` by its
face probability (``Detections.face_scores``, whatever its real/fake label), matches them to the ground-truth
faces class-agnostically (IoU >= ``iou_threshold``, greedy as COCO does, per image; a detection on a crowd or
difficult face is neither right nor wrong) and keeps the threshold where face detection's F1 (the harmonic
mean of precision and recall) is highest: the operating point that misses as few faces as it invents. It is
a property of the first stage, so for a two-stage model the SSD alone can be run (same ``face_scores``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dftag.core.errors import DftagError
from dftag.eval.predict import DatasetPredictions

# The chosen threshold is kept inside these bounds: below, nearly anything is a face; above, a certain face is.
THRESHOLD_RANGE = (0.01, 0.99)


@dataclass(frozen=True)
class FaceThreshold:
    """The chosen ``threshold`` and, at it, face detection's ``precision``, ``recall`` and ``f1`` over
    ``n_faces`` ground-truth faces (not crowd or difficult) and ``n_detections`` ranked detections."""

    threshold: float
    precision: float
    recall: float
    f1: float
    n_faces: int
    n_detections: int

    def to_json(self) -> dict:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


def pick_face_threshold(predictions: DatasetPredictions, iou_threshold: float = 0.5) -> FaceThreshold:
    """The face probability with the highest face-detection F1 on ``predictions`` (module docstring); an
    error when the images hold no face or no detection matches one."""
    n_faces = sum(not (a.get("iscrowd", 0) or a.get("difficult", 0)) for a in predictions.dataset.annotations)
    scores, hits = [], []
    for det, d, ann in predictions.matches(iou_threshold, "face_scores"):
        scores.append(float(det.face_scores[d]))
        hits.append(ann is not None)
    if n_faces == 0:
        raise DftagError("no ground-truth face to choose a face threshold on")
    order = np.argsort(-np.asarray(scores), kind="stable")
    ranked, hit = np.asarray(scores)[order], np.asarray(hits, dtype=bool)[order]
    tp = np.cumsum(hit)
    if not len(tp) or tp[-1] == 0:
        raise DftagError(f"no detection matches any of the {n_faces} faces at IoU >= {iou_threshold:g}, "
                         "so no face threshold can be chosen")
    precision = tp / np.arange(1, len(tp) + 1)
    recall = tp / n_faces
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    # a threshold keeps every detection scoring at least as much: only the last of equal scores is a cut
    cut = np.append(ranked[1:] != ranked[:-1], True)
    best = int(np.flatnonzero(cut)[np.argmax(f1[cut])])
    threshold = float(np.clip(ranked[best], *THRESHOLD_RANGE))
    return FaceThreshold(threshold, float(precision[best]), float(recall[best]), float(f1[best]), n_faces,
                         len(ranked))
