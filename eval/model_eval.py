"""Detection report folders from a detector run over a dataset split, or from a detector's COCO results file:
what ``dftag evaluate`` (and, for the split, ``dftag report``) writes.

The detections are scored by :func:`dftag.eval.detection.evaluate` and written by
:func:`dftag.eval.report.write_detection_report`; a model's detections are also saved as ``results.json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from dftag.annotations.dataset import Dataset, load_dataset
from dftag.core.io import read_json
from dftag.core.thresholds import EVAL_MIN_SCORE, FACE_SCORE_THRESHOLD
from dftag.detector.device import resolve_device
from dftag.detector.inference import DEFAULT_BATCH_SIZE, Detector
from dftag.eval.detection import DetectionEvaluation, evaluate
from dftag.eval.plots import Example
from dftag.eval.predict import example_frames, predict_dataset
from dftag.eval.report import check_output, write_detection_report
from dftag.eval.results import load_results

REPORT_EXAMPLES = 6  # example frames in a report
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class ModelEvaluation:
    """A detector run over one split of a dataset and scored against its boxes."""

    model_id: str  # :attr:`Detector.model_id`
    dataset: Dataset  # the split
    results: list[dict[str, Any]]  # COCO results: image_id, category_id, bbox [x, y, w, h] pixels, score
    evaluation: DetectionEvaluation
    examples: list[Example]  # frames for the report, predictions drawn from score >= the threshold
    min_score: float = EVAL_MIN_SCORE  # detections were kept from this score on


def evaluate_model(model: str | os.PathLike, data: str | os.PathLike, split: str = "test", *,
                   threshold: float = FACE_SCORE_THRESHOLD, examples: int = REPORT_EXAMPLES,
                   batch_size: int = DEFAULT_BATCH_SIZE, device: str = "auto") -> ModelEvaluation:
    """Run the checkpoint ``model`` on ``split`` of the dataset folder ``data`` (``batch_size`` images per
    forward pass, on ``device``: auto, cpu or cuda) and score it; ``examples`` frames are picked for a report
    with boxes shown from ``threshold``."""
    dataset = load_dataset(data, split)
    detector = Detector.load(model, device=resolve_device(device))
    predictions = predict_dataset(detector, dataset, score_threshold=EVAL_MIN_SCORE, batch_size=batch_size)
    results = predictions.coco_results()
    return ModelEvaluation(model_id=detector.model_id, dataset=dataset, results=results,
                           evaluation=evaluate(dataset.coco, results, gt_path=dataset.source),
                           examples=example_frames(predictions, examples, threshold), min_score=EVAL_MIN_SCORE)


def write_model_report(out: str | os.PathLike, model: str | os.PathLike, data: str | os.PathLike,
                       split: str = "test", *, threshold: float = FACE_SCORE_THRESHOLD, examples: int = REPORT_EXAMPLES,
                       batch_size: int = DEFAULT_BATCH_SIZE, device: str = "auto",
                       overwrite: bool = False) -> dict[str, Any]:
    """:func:`evaluate_model` into the report folder ``out`` (with ``results.json``; an existing folder is
    replaced only with ``overwrite``, checked before any work); returns the report's metrics."""
    check_output(out, overwrite)
    run = evaluate_model(model, data, split, threshold=threshold, examples=examples, batch_size=batch_size,
                         device=device)
    source = {"model": str(model), "model_id": run.model_id, "data": str(data), "split": split}
    return write_detection_report(out, run.evaluation, f"Detection report: {run.model_id} on {run.dataset.source}",
                                  source, threshold, run.examples, overwrite=overwrite,
                                  extra_json={RESULTS_FILE: run.results}, min_score=run.min_score)


def write_results_report(out: str | os.PathLike, results: str | os.PathLike, gt: str | os.PathLike, *,
                         threshold: float = FACE_SCORE_THRESHOLD, overwrite: bool = False) -> dict[str, Any]:
    """Score the COCO results file ``results`` against the COCO ground-truth file ``gt`` into the report
    folder ``out`` (replaced only with ``overwrite``); returns the report's metrics."""
    check_output(out, overwrite)
    evaluation = evaluate(read_json(gt), load_results(results), gt_path=gt, results_path=results)
    return write_detection_report(out, evaluation, f"Detection report: {results} against {gt}",
                                  {"preds": str(results), "gt": str(gt)}, threshold, overwrite=overwrite)
