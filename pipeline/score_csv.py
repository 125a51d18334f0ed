"""Scoring many videos into files, as ``dftag score`` does: a DFDC-style ``scores.csv`` (``filename,label``,
label = probability the video is fake; :func:`dftag.eval.video_metrics.write_video_scores`) and beside it, with
suffix ``.json``, each video's details (tracks, settings, timings) and the error of each video that failed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dftag.core.atomic import write_json
from dftag.core.errors import DftagError
from dftag.eval.video_metrics import write_video_scores
from dftag.pipeline.annotator import FaceDetector
from dftag.pipeline.scorer import ScoreSettings, score_videos


@dataclass(frozen=True)
class ScoreFiles:
    """What :func:`score_to_csv` wrote: the two files, each scored video's details and each failed video's
    error line, both by the video's name in the CSV."""

    scores: Path
    details: Path
    results: dict[str, dict[str, Any]]
    errors: dict[str, str]


def details_path(scores: str | os.PathLike[str]) -> Path:
    """The details JSON that goes with the scores CSV ``scores``: the same name with suffix ``.json``."""
    return Path(scores).with_suffix(".json")


def score_to_csv(videos: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                 load_detector: Callable[[], FaceDetector], settings: ScoreSettings = ScoreSettings(), *,
                 names: Sequence[str] | None = None, workers: int = 1, progress: bool = True) -> ScoreFiles:
    """Score ``videos`` (:func:`dftag.pipeline.scorer.score_videos`, in ``workers`` processes) into the CSV
    ``out`` and its details JSON (:func:`details_path`), both in the order of ``videos``.

    ``names`` are the videos' names in both files, one per video (default: their file names); they must be
    unique. A video that fails is left out of the CSV and its error kept. A progress bar goes to stderr with
    ``progress``.
    """
    videos = [Path(v) for v in videos]
    names = [v.name for v in videos] if names is None else list(names)
    if len(names) != len(videos):
        raise ValueError(f"{len(names)} names for {len(videos)} videos")
    out = Path(out)
    details = details_path(out)
    for path in (out, details):
        if any(path.resolve() == v.resolve() for v in videos):
            raise DftagError("output would overwrite an input video", path)
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise DftagError(f"several videos are named {clash[0]!r}; the CSV's filename column would be ambiguous")
    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    scored = score_videos(videos, load_detector, settings, workers)
    for name, (_, result) in tqdm(zip(names, scored), total=len(videos), unit="video", file=sys.stderr,
                                  leave=False, disable=not progress):
        if isinstance(result, str):
            errors[name] = result
        else:
            results[name] = result
    write_video_scores(out, {name: result["score"] for name, result in results.items()})
    write_json(details, {"settings": settings.to_json(), "videos": results, "errors": errors}, indent=1)
    return ScoreFiles(scores=out, details=details, results=results, errors=errors)
