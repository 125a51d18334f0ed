"""Choosing the face threshold on validation images (max face-detection F1, class-agnostic)."""

from pathlib import Path

import pytest

from dftag.annotations.dataset import Dataset, new_coco
from dftag.core.detections import Detections
from dftag.core.errors import DftagError
from dftag.eval.face_threshold import pick_face_threshold
from dftag.eval.predict import DatasetPredictions


def predictions(faces: list[list[list[float]]], found: list[list[tuple[list[float], float]]],
                difficult: tuple[int, int] | None = None) -> DatasetPredictions:
    """Images with ground-truth ``faces`` (xywh, labels alternate real/fake) and detections ``found`` as
    (xyxy box, face probability); the label score is half the face probability (an unsure real/fake call)."""
    images = [{"id": i + 1, "file_name": f"{i}.png", "width": 200, "height": 200} for i in range(len(faces))]
    anns = [{"id": 100 * i + k, "image_id": i + 1, "category_id": 1 + k % 2, "bbox": b, "area": b[2] * b[3],
             "iscrowd": 0, **({"difficult": 1} if difficult == (i, k) else {})}
            for i, boxes in enumerate(faces) for k, b in enumerate(boxes)]
    dets = [Detections([b for b, _ in f], [2] * len(f), [p / 2 for _, p in f], [0.0] * len(f), [0.5] * len(f),
                       face_scores=[p for _, p in f]) for f in found]
    return DatasetPredictions(Dataset(Path("."), new_coco(images, anns)), dets)


def test_threshold_is_where_face_f1_peaks_whatever_the_label_score():
    faces = [[[0, 0, 50, 50]], [[100, 100, 40, 40]], [[10, 10, 30, 30]]]
    found = [[([0, 0, 50, 50], 0.9), ([120, 0, 180, 60], 0.8)],  # a face and a false box
             [([100, 100, 140, 140], 0.6)],
             [([10, 10, 40, 40], 0.35), ([150, 150, 190, 190], 0.2)]]
    # ranked: 0.9 hit, 0.8 miss, 0.6 hit, 0.35 hit, 0.2 miss -> F1 0.50, 0.40, 0.57, 0.75, 0.67
    picked = pick_face_threshold(predictions(faces, found))
    assert picked.threshold == pytest.approx(0.35)
    assert (picked.precision, picked.recall, picked.n_faces, picked.n_detections) == (pytest.approx(0.75), 1.0, 3, 5)
    assert picked.f1 == pytest.approx(2 * 0.75 / 1.75)


def test_difficult_faces_are_neither_hits_nor_misses_and_ties_cut_together():
    faces = [[[0, 0, 50, 50], [100, 100, 50, 50]]]
    found = [[([0, 0, 50, 50], 0.5), ([100, 100, 150, 150], 0.95), ([160, 0, 199, 40], 0.5)]]
    picked = pick_face_threshold(predictions(faces, found, difficult=(0, 1)))
    # the detection on the difficult face is left out; the two at 0.5 (one hit, one miss) go together
    assert (picked.threshold, picked.n_faces, picked.n_detections) == (0.5, 1, 2)
    assert picked.precision == pytest.approx(0.5) and picked.recall == 1.0


def test_no_face_or_no_match_is_a_clear_error():
    with pytest.raises(DftagError, match="no ground-truth face"):
        pick_face_threshold(predictions([[]], [[([0, 0, 10, 10], 0.9)]]))
    with pytest.raises(DftagError, match="no detection matches any of the 1 faces at IoU >= 0.5"):
        pick_face_threshold(predictions([[[0, 0, 50, 50]]], [[([100, 100, 150, 150], 0.9)]]))
    assert pick_face_threshold(predictions([[[0, 0, 50, 50]]], [[([0, 0, 50, 50], 1.0)]])).threshold == 0.99
