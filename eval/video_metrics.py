"""Video-level metrics: one probability-of-fake per video scored against REAL/FAKE labels.

Inputs (see docs/architecture.md):

* labels: a DFDC ``metadata.json`` (``{"x.mp4": {"label": "FAKE" | "REAL", ...}}``) or a ``labels.csv`` with
  header ``filename,label`` and labels ``REAL``/``FAKE`` (any case) or ``0``/``1`` (1 = fake);
* scores: a ``scores.csv`` with header ``filename,label`` where ``label`` is the probability in ``[0, 1]`` that
  the video is fake (the DFDC submission format).

Videos are matched by file name without folders. Every scored video needs a label; labelled videos without a
score are left out (and counted), so one labels file serves every split.

Metrics: log loss as scored on Kaggle for DFDC (predictions clipped to ``[eps, 1 - eps]``, ``eps = 1e-15``,
natural log, mean over videos), exact ROC AUC (the Mann-Whitney statistic with tied scores counted one half),
and at a threshold (a video is called fake when its score is ``>= threshold``) the confusion matrix, accuracy,
precision, recall (true positive rate on fakes) and specificity (true negative rate on reals). A ratio with a
zero denominator (precision with no video called fake, say) is ``None``.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dftag.core.atomic import write_text
from dftag.core.errors import DftagError
from dftag.core.io import read_json
from dftag.core.thresholds import FAKE_DECISION_THRESHOLD

LOG_LOSS_EPS = 1e-15
DEFAULT_THRESHOLD = FAKE_DECISION_THRESHOLD
BOOTSTRAP_RESAMPLES = 2000
DETAILS_SUFFIX = ".details.json"  # dftag score's per-video details beside its scores CSV
_LABEL_VALUES = {"real": 0, "fake": 1, "0": 0, "1": 1}


def _read_csv(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV with a ``filename,label`` header, each with its 1-based line number."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"filename", "label"} <= {h.strip() for h in reader.fieldnames}:
                raise DftagError("CSV must have a header with columns filename,label", path, "line 1")
            return [(reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items() if k})
                    for row in reader]
    except FileNotFoundError:
        raise DftagError("file not found", path) from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DftagError(f"cannot read CSV: {e}", path) from None


def _video_key(name: str) -> str:
    return Path(name.replace("\\", "/")).name


def load_video_labels(path: str | Path) -> dict[str, int]:
    """Labels by video file name: 1 = fake, 0 = real, from DFDC ``metadata.json`` or ``labels.csv``."""
    path = Path(path)
    labels: dict[str, int] = {}
    if path.suffix.lower() == ".json":
        meta = read_json(path)
        if not isinstance(meta, dict):
            raise DftagError('metadata must be a JSON object {"video.mp4": {"label": "REAL"|"FAKE"}}', path)
        for name, entry in meta.items():
            value = entry.get("label") if isinstance(entry, dict) else None
            if str(value).lower() not in ("real", "fake"):
                raise DftagError(f"label must be REAL or FAKE, got {value!r}", path, name)
            labels[_video_key(name)] = _LABEL_VALUES[str(value).lower()]
    else:
        for line, row in _read_csv(path):
            value = row.get("label", "").lower()
            if value not in _LABEL_VALUES:
                raise DftagError(f"label must be REAL, FAKE, 0 or 1, got {row.get('label')!r}", path, f"line {line}")
            labels[_video_key(row["filename"])] = _LABEL_VALUES[value]
    if not labels:
        raise DftagError("no labelled videos", path)
    return labels


def load_video_scores(path: str | Path) -> dict[str, float]:
    """Probability of fake by video file name, from a ``scores.csv`` (``filename,label``)."""
    path = Path(path)
    scores: dict[str, float] = {}
    for line, row in _read_csv(path):
        try:
            value = float(row.get("label", ""))
        except ValueError:
            value = math.nan
        if not 0.0 <= value <= 1.0:
            raise DftagError(f"score must be a probability in [0, 1], got {row.get('label')!r}", path,
                             f"line {line}")
        key = _video_key(row["filename"])
        if key in scores:
            raise DftagError(f"video {key} is scored twice", path, f"line {line}")
        scores[key] = value
    if not scores:
        raise DftagError("no scored videos", path)
    return scores


def details_path(scores: str | os.PathLike[str]) -> Path:
    """The details JSON that goes with the scores CSV ``scores``: its name with the suffix replaced by
    ``.details.json`` (``scores.csv`` -> ``scores.details.json``), which is never ``scores`` itself (``s.json``
    -> ``s.details.json``) nor the plain ``.json`` beside it (a dataset's ``annotations.json``)."""
    scores = Path(scores)
    return scores.with_name(scores.stem + DETAILS_SUFFIX) if scores.suffix else scores.with_name(
        scores.name + DETAILS_SUFFIX)


def write_video_scores(path: str | Path, scores: Mapping[str, float]) -> None:
    """Write ``scores`` (probability of fake by video file name, in their order) as a ``scores.csv``
    (``filename,label``, the DFDC submission format) that :func:`load_video_scores` reads; atomically."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["filename", "label"])
    writer.writerows(scores.items())
    write_text(path, text.getvalue())


@dataclass
class VideoSet:
    """Aligned arrays: ``names``, ``labels`` (1 fake, 0 real) and ``scores`` (probability of fake)."""

    names: list[str]
    labels: np.ndarray
    scores: np.ndarray
    unscored: int  # labelled videos with no score


def align(scores: dict[str, float], labels: dict[str, int], scores_path=None) -> VideoSet:
    """Pair each scored video with its label; a scored video without a label is an error."""
    missing = [name for name in scores if name not in labels]
    if missing:
        raise DftagError(f"{len(missing)} scored videos have no label (first: {missing[0]})", scores_path)
    names = sorted(scores)
    return VideoSet(names=names, labels=np.array([labels[n] for n in names], dtype=np.int64),
                    scores=np.array([scores[n] for n in names], dtype=np.float64),
                    unscored=len(set(labels) - set(scores)))


def log_loss(labels: np.ndarray, scores: np.ndarray, eps: float = LOG_LOSS_EPS) -> float:
    """Mean binary cross-entropy (natural log) with predictions clipped to ``[eps, 1 - eps]``."""
    p = np.clip(np.asarray(scores, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Exact ROC AUC: P(score of a fake > score of a real) + P(equal) / 2; None without both classes."""
    labels = np.asarray(labels)
    n_pos, n_neg = int(np.sum(labels == 1)), int(np.sum(labels == 0))
    if n_pos == 0 or n_neg == 0:
        return None
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores))
    # average 1-based rank over each run of tied scores
    starts = np.flatnonzero(np.concatenate([[True], sorted_scores[1:] != sorted_scores[:-1]]))
    ends = np.append(starts[1:], len(scores))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def bootstrap_interval(labels: np.ndarray, scores: np.ndarray, metric, level: float = 0.95,
                       resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float] | None:
    """The percentile bootstrap interval of ``metric(labels, scores)`` at confidence ``level``: videos are drawn
    with replacement ``resamples`` times (from ``seed``); draws with one class only (where AUC is undefined)
    are left out. ``None`` when ``labels`` lack a class."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if len(set(labels.tolist())) < 2:
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, len(labels), len(labels))
        value = metric(labels[pick], scores[pick]) if len(set(labels[pick].tolist())) == 2 else None
        if value is not None:
            values.append(value)
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)``: one point per distinct score (descending), starting at ``(0, 0)``
    with threshold ``inf``; the point for threshold ``s`` calls videos with score ``>= s`` fake."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    tps = np.cumsum(y == 1)[last]
    fps = np.cumsum(y == 0)[last]
    n_pos, n_neg = max(int(np.sum(labels == 1)), 1), max(int(np.sum(labels == 0)), 1)
    return (np.concatenate([[0.0], fps / n_neg]), np.concatenate([[0.0], tps / n_pos]),
            np.concatenate([[np.inf], s[last]]))


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def confusion(labels: np.ndarray, scores: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> dict[str, int]:
    """Counts with "positive" = fake and a video called fake when its score is ``>= threshold``."""
    labels = np.asarray(labels)
    called = np.asarray(scores) >= threshold
    return {"tp": int(np.sum(called & (labels == 1))), "fp": int(np.sum(called & (labels == 0))),
            "tn": int(np.sum(~called & (labels == 0))), "fn": int(np.sum(~called & (labels == 1)))}


def threshold_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = DEFAULT_THRESHOLD
                      ) -> dict[str, Any]:
    """Confusion matrix, accuracy, precision, recall and specificity at ``threshold``."""
    c = confusion(labels, scores, threshold)
    return {"threshold": threshold, "confusion": c,
            "accuracy": _ratio(c["tp"] + c["tn"], len(labels)),
            "precision": _ratio(c["tp"], c["tp"] + c["fp"]),
            "recall": _ratio(c["tp"], c["tp"] + c["fn"]),
            "specificity": _ratio(c["tn"], c["tn"] + c["fp"])}


def video_metrics(videos: VideoSet, threshold: float = DEFAULT_THRESHOLD, eps: float = LOG_LOSS_EPS,
                  n_bins: int = 10) -> dict[str, Any]:
    """All video-level numbers as plain JSON-ready values (calibration from :mod:`dftag.eval.calibration`)."""
    from dftag.eval.calibration import expected_calibration_error

    return {"n_videos": len(videos.names), "n_fake": int(np.sum(videos.labels == 1)),
            "n_real": int(np.sum(videos.labels == 0)), "n_unscored": videos.unscored,
            "log_loss": log_loss(videos.labels, videos.scores, eps), "log_loss_eps": eps,
            "roc_auc": roc_auc(videos.labels, videos.scores),
            "ece": expected_calibration_error(videos.labels, videos.scores, n_bins), "ece_bins": n_bins,
            **threshold_metrics(videos.labels, videos.scores, threshold)}
