"""Scoring many videos into files, as ``dftag score`` does: a DFDC-style ``scores.csv`` (``filename,label``,
label = probability the video is fake; :func:`dftag.eval.video_metrics.write_video_scores`) and beside it,
``scores.details.json`` (:func:`details_path`), each video's details (tracks, settings, timings) and the error
of each video that failed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dftag.core.atomic import write_json
from dftag.core.errors import DftagError
from dftag.core.outputs import check_outputs, file
from dftag.eval.video_metrics import details_path, write_video_scores
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




def score_to_csv(videos: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str],
                 load_detector: Callable[[], FaceDetector], settings: ScoreSettings = ScoreSettings(), *,
                 names: Sequence[str] | None = None, workers: int = 1, progress: bool = True,
                 details: str | os.PathLike[str] | None = None, inputs: Sequence[str | os.PathLike[str]] = ()
                 ) -> ScoreFiles:
    """Score ``videos`` (:func:`dftag.pipeline.scorer.score_videos`, in ``workers`` processes) into the CSV
    ``out`` and the details JSON ``details`` (default :func:`details_path` of ``out``), both in the order of
    ``videos``.

    ``names`` are the videos' names in both files, one per video (default: their file names); they must be
    unique. Before any video is decoded the two outputs are checked against the videos and the other
    ``inputs`` (folders searched, the model; :func:`dftag.core.outputs.check_outputs`), and the detector is
    loaded once here, so that a bad model is one error, also with several workers. A video that fails is left
    out of the CSV and its error kept. A progress bar goes to stderr with ``progress``.
    """
    videos = [Path(v) for v in videos]
    names = [v.name for v in videos] if names is None else list(names)
    if len(names) != len(videos):
        raise ValueError(f"{len(names)} names for {len(videos)} videos")
    out = Path(out)
    details = details_path(out) if details is None else Path(details)
    check_outputs([file(out), file(details, "details")], [*videos, *inputs])
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise DftagError(f"several videos are named {clash[0]!r}; the CSV's filename column would be ambiguous")
    detector = load_detector()  # a missing or bad model: one error here, not one per worker process
    if min(workers, len(videos)) <= 1:
        load_detector = _Loaded(detector)
    else:
        del detector  # each worker loads its own
    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    scored = score_videos(videos, load_detector, settings, workers)
    try:
        for name, (_, result) in tqdm(zip(names, scored), total=len(videos), unit="video", file=sys.stderr,
                                      leave=False, disable=not progress):
            if isinstance(result, str):
                errors[name] = result
            else:
                results[name] = result
    except BrokenProcessPool:
        raise DftagError("a scoring worker process died (out of memory, or killed); nothing was written; "
                         "try fewer {parameter}", parameter="workers") from None
    write_video_scores(out, {name: result["score"] for name, result in results.items()})
    write_json(details, {"settings": settings.to_json(), "videos": results, "errors": errors}, indent=1)
    return ScoreFiles(scores=out, details=details, results=results, errors=errors)


@dataclass(frozen=True)
class _Loaded:
    """A ``load_detector`` that returns the detector already loaded."""

    detector: FaceDetector

    def __call__(self) -> FaceDetector:
        return self.detector
