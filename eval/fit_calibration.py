"""Fitting a detector's calibration on a labelled split (what ``dftag calibrate --model --data`` does): the
temperature of its per-face ``p_fake`` and its face threshold, from one pass over the split.

- **temperature**: each detection whose ``score`` reaches ``min_score`` and that overlaps a ground-truth face
  (class-agnostic, IoU >= ``iou_threshold``) gives one (fake logit, real/fake) pair
  (:meth:`~dftag.eval.predict.DatasetPredictions.matched_logits`); :func:`~dftag.eval.calibration.fit_temperature`
  minimises their negative log-likelihood;
- **face threshold**: :func:`~dftag.eval.face_threshold.pick_face_threshold` on every detection from
  :data:`~dftag.core.thresholds.EVAL_MIN_SCORE` on.

The result goes into a checkpoint with :func:`dftag.detector.checkpoint.save_calibrated`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dftag.annotations.dataset import Dataset
from dftag.core.errors import DftagError
from dftag.core.thresholds import EVAL_MIN_SCORE, FACE_SCORE_THRESHOLD
from dftag.detector.inference import DEFAULT_BATCH_SIZE, Detector
from dftag.eval.calibration import fit_temperature
from dftag.eval.face_threshold import FaceThreshold, pick_face_threshold
from dftag.eval.predict import predict_dataset


@dataclass(frozen=True)
class FittedCalibration:
    """``temperature`` fitted on the matched ``logits`` and ``labels`` (1 fake, 0 real; kept for reporting
    NLL and ECE before and after), and the chosen ``faces`` threshold."""

    temperature: float
    logits: np.ndarray
    labels: np.ndarray
    faces: FaceThreshold


def fit_calibration(detector: Detector, dataset: Dataset, iou_threshold: float = 0.5,
                    min_score: float = FACE_SCORE_THRESHOLD,
                    batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True) -> FittedCalibration:
    """Run ``detector`` over ``dataset`` once and fit its temperature and face threshold (module docstring);
    errors name the dataset's file."""
    predictions = predict_dataset(detector, dataset, score_threshold=min(min_score, EVAL_MIN_SCORE),
                                  batch_size=batch_size, progress=progress)
    logits, labels = predictions.matched_logits(iou_threshold, min_score)
    if len(labels) == 0 or labels.min() == labels.max():
        raise DftagError(f"calibration needs detections matched to both real and fake faces; found "
                         f"{int(labels.sum())} fake and {int((labels == 0).sum())} real", dataset.source)
    try:
        faces = pick_face_threshold(predictions, iou_threshold)
    except DftagError as err:
        raise DftagError(err.message, dataset.source) from None
    return FittedCalibration(fit_temperature(logits, labels), logits, labels, faces)
