"""The fast scorer behind ``dftag score``: one probability that a video is fake, no rendering.

Per video: ``frames`` evenly spaced frames are selected (by default each served by the first reference frame
at or after it: :func:`dftag.annotations.video.read_frames` with ``reference_only``, which leaves the
non-reference B-frames of an H.264 stream undecoded) and, for a single-stage detector, scaled down by ffmpeg
itself (the longer side at most :data:`DECODE_SIDE` px); a two-stage detector gets them at full
resolution, since its classifier tags each face from a crop of the frame it is given
(:func:`decode_side`). They are detected in batches while ffmpeg decodes ahead, tracked by IoU over the
sampled frames and aggregated with the same rules as ``dftag annotate`` (:mod:`dftag.pipeline.aggregate`).

Many videos run in parallel worker processes, each with ``cores // workers`` torch threads.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from dftag.annotations.video import VideoInfo, output_size, probe, read_frames
from dftag.core.errors import DftagError
from dftag.core.media import VIDEO_SUFFIXES
from dftag.detector.model_calibration import ModelCalibration
from dftag.pipeline.aggregate import ScoreRule, TrackScores
from dftag.pipeline.annotator import DetectionCount, FaceDetector, TrackSettings, chunks, sidecar
from dftag.pipeline.prefetch import prefetch

DEFAULT_FRAMES = 16  # what benchmarks/realdata.py measures the video scores with
DECODE_SIDE = 640  # an SSD sees at most a few hundred pixels; decoding smaller saves pipe and resize time


@dataclass(frozen=True)
class ScoreSettings:
    """``frames``: frames sampled per video; ``decode_side``: the longest side (px) they are decoded at, or
    ``None`` to let the detector decide (:func:`decode_side`); ``reference_only``: decode reference frames
    only, each sampled index served by the first at or after it (a few frames later at most), else decode
    every frame so that the sampled indices are exact."""

    frames: int = DEFAULT_FRAMES
    decode_side: int | None = None
    reference_only: bool = True
    track: TrackSettings = field(default_factory=TrackSettings)
    rule: ScoreRule = field(default_factory=ScoreRule)

    def for_model(self, calibration: ModelCalibration) -> ScoreSettings:
        """These settings with what they leave to the model taken from its calibration (face threshold, video
        rule and temperature)."""
        return replace(self, track=self.track.for_model(calibration), rule=self.rule.for_model(calibration))

    def to_json(self) -> dict:
        return asdict(self)


def sample_indices(info: VideoInfo, count: int) -> list[int]:
    """``count`` evenly spaced frame indices over the frame count estimated from duration x frame rate (the
    first ``count`` frames when either is unknown)."""
    total = round(info.duration * info.fps) if info.duration and info.fps else count
    total = max(1, total)
    return sorted({int(round(i)) for i in np.linspace(0, total - 1, min(count, total))})


def decode_side(detector: FaceDetector, settings: ScoreSettings) -> int | None:
    """The longest side (px) frames are decoded at, ``None`` for full resolution: ``settings.decode_side`` when
    set, else full resolution for a two-stage detector (the crops it classifies keep the source's pixels) and
    :data:`DECODE_SIDE` for a single-stage one."""
    if settings.decode_side is not None:
        return settings.decode_side
    return None if detector.two_stage else DECODE_SIDE


def score_video(path: str | os.PathLike[str], detector: FaceDetector, settings: ScoreSettings = ScoreSettings()) -> dict:
    """Score one video; returns its result dict (``score``, ``label``, tracks, settings, timings). Settings left
    to the model are taken from ``detector.calibration`` (:meth:`ScoreSettings.for_model`)."""
    start = time.perf_counter()
    settings = settings.for_model(detector.calibration)
    path = Path(path)
    info = probe(path)
    side = decode_side(detector, settings)
    width, height = output_size(info, max_side=side)
    tracker = settings.track.tracker()
    scores = TrackScores(settings.rule)
    frame_indices: list[int] = []
    detect_s = 0.0
    counts = DetectionCount(settings.track.continue_threshold, settings.track.face_threshold)
    frames = read_frames(path, indices=sample_indices(info, settings.frames), max_side=side, info=info,
                         reference_only=settings.reference_only)
    decoded = prefetch(frames, settings.track.batch_size)
    for batch in chunks(decoded, settings.track.batch_size):
        t0 = time.perf_counter()
        found = detector.predict([f.image for f in batch], score_threshold=settings.track.continue_threshold,
                                 batch_size=settings.track.batch_size, by_face=True)
        detect_s += time.perf_counter() - t0
        counts.add(found)
        for frame, det in zip(batch, found):
            frame_indices.append(frame.index)
            tracked = tracker.update(frame.timestamp, det)
            for track_id, p_fake in zip(tracked.track_ids.tolist(), tracked.p_fake.tolist()):
                scores.add(track_id, frame.index, frame.timestamp, p_fake)
    if not frame_indices:
        raise DftagError("no frame could be decoded", path)
    result = sidecar(path, None, info, detector, settings.to_json(), scores, detections=counts)
    result["frames_sampled"] = len(frame_indices)
    result["frame_indices"] = frame_indices  # the frames scored (reference_only: each at or after its place)
    result["decode_size"] = [width, height]
    result["timings"] = {"total_s": round(time.perf_counter() - start, 3), "detect_s": round(detect_s, 3)}
    return result


def find_videos(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files given directly, plus the video files (by suffix) under given folders, sorted by path."""
    found: set[Path] = set()
    for item in map(Path, inputs):
        if item.is_dir():
            found.update(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        else:
            found.add(item)
    return sorted(found)


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` (0 <= i < n) to ``(i, n)``."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise DftagError(f"{{parameter}} must look like i/n (e.g. 0/4), got {text!r}", parameter="shard") from None
    if not 0 <= i < n:
        raise DftagError(f"{{parameter}} i/n needs 0 <= i < n, got {text!r}", parameter="shard")
    return i, n


def shard(videos: Sequence[Path], index: int, count: int) -> list[Path]:
    """The ``index``-th of ``count`` interleaved slices of the sorted ``videos`` (every count-th, from index)."""
    return sorted(videos)[index::count]


def threads_per_worker(workers: int) -> int:
    """Torch threads for each of ``workers`` processes so that workers x threads <= cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


# One detector per worker process, loaded by the pool initializer.
_worker_detector: FaceDetector | None = None


def _init_worker(load_detector: Callable[[], FaceDetector], threads: int) -> None:
    global _worker_detector
    import torch

    torch.set_num_threads(threads)
    _worker_detector = load_detector()


def _score_or_error(path: Path, settings: ScoreSettings, detector: FaceDetector | None = None) -> tuple[Path, dict | str]:
    try:
        return path, score_video(path, detector or _worker_detector, settings)
    except DftagError as err:
        return path, str(err)
    except Exception as err:  # one broken video must not stop a batch: report it with its error
        return path, f"{path}: {type(err).__name__}: {err}"


def score_videos(videos: Sequence[Path], load_detector: Callable[[], FaceDetector], settings: ScoreSettings,
                 workers: int = 1) -> Iterator[tuple[Path, dict | str]]:
    """Score ``videos``, yielding ``(path, result dict or error line)`` in the order of ``videos``.

    ``load_detector`` must be picklable (e.g. ``functools.partial(Detector.load, path)``) when
    ``workers > 1``: each worker process calls it once.
    """
    workers = max(1, min(workers, len(videos)))
    if workers == 1:
        import torch

        torch.set_num_threads(threads_per_worker(1))
        detector = load_detector()
        for path in videos:
            yield _score_or_error(path, settings, detector)
        return
    # a fresh server process imports torch once and forks the workers: no per-worker start-up cost, and no
    # fork of a parent whose torch thread pools may already run
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "dftag.pipeline.scorer"])
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(load_detector, threads_per_worker(workers))) as pool:
        yield from pool.map(_score_or_error, videos, [settings] * len(videos), chunksize=1)
