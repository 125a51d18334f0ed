"""The video annotator behind ``dftag annotate``: detect, track, score and draw every face, re-encode.

Pipeline per video, three stages overlapping in threads with queues bounded to :data:`STAGE_BYTES` of frames
each (memory is flat in the video's length, and the encoder keeps working while a batch is detected):

1. decode (ffmpeg process, prefetch thread): upright RGB frames with their own timestamps;
2. detect and track (caller's thread): every ``stride``-th frame is detected, ``batch_size`` such frames per
   :meth:`Detector.predict` call; the tracker associates detections (:mod:`dftag.pipeline.tracker`) and carries boxes
   forward on the frames between; per-track ``p_fake`` is aggregated (:mod:`dftag.pipeline.aggregate`) and the
   frame is drawn (:mod:`dftag.pipeline.render`);
3. encode (ffmpeg process fed by a background thread): H.264 MP4 with every input frame at its input
   timestamp and the input's audio.

Outputs for ``VIDEO`` in ``OUT``: ``OUT/<stem>.mp4`` and the sidecar ``OUT/<stem>.json`` (format in
``docs/video.md``); boxes in the sidecar are COCO ``[x, y, w, h]`` pixels of the upright frame.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from dftag.annotations.video import Frame, VideoInfo, VideoWriter, probe, read_frames
from dftag.core.atomic import write_bytes, write_json
from dftag.core.boxes import xyxy_to_xywh
from dftag.core.detections import Detections
from dftag.core.errors import DftagError
from dftag.core.thresholds import TRACK_FACE_THRESHOLD
from dftag.detector.model_calibration import ModelCalibration
from dftag.pipeline.aggregate import JSON_DIGITS, ScoreRule, TrackScores, label_of
from dftag.pipeline.prefetch import BackgroundConsumer, prefetch
from dftag.pipeline.render import Renderer
from dftag.pipeline.tracker import Tracker

FALLBACK_FPS = 30.0  # only for files whose frame rate ffmpeg cannot tell; every frame keeps its own timestamp
STAGE_BYTES = 64 * 2**20  # frame memory each stage (decode queue, detect chunk, encode queue) may hold
MIN_QUEUE_FRAMES = 2


class FaceDetector(Protocol):
    """What the annotator and the scorer need of ``dftag.detector.inference.Detector``: ``two_stage`` says
    whether faces are tagged from crops of the frames given, which the scorer then decodes at full size;
    ``calibration`` fills the settings left to the model (:meth:`TrackSettings.for_model`,
    :meth:`~dftag.pipeline.aggregate.ScoreRule.for_model`)."""

    model_id: str
    temperature: float
    two_stage: bool
    calibration: ModelCalibration

    def predict(self, images: Sequence[np.ndarray], score_threshold: float = ...,
                batch_size: int = ..., by_face: bool = ...) -> list[Detections]: ...


@dataclass(frozen=True)
class TrackSettings:
    """Detection and tracking settings shared by ``annotate`` and ``score``.

    ``threshold``: face probability (``Detections.face_scores``) a detection needs to start or re-find a
    track, ``None``: the model's calibrated ``face_threshold``, else :data:`TRACK_FACE_THRESHOLD`
    (:meth:`for_model`); ``low_threshold``: the lower one that still continues an existing track
    (ByteTrack's second pass; never above ``threshold``); ``track_iou``: least IoU between a track's predicted
    box and a detection; ``max_age``: seconds a track survives without detections.
    """

    threshold: float | None = None
    low_threshold: float = 0.2
    track_iou: float = 0.3
    max_age: float = 1.0
    batch_size: int = 8

    @property
    def face_threshold(self) -> float:
        """The threshold in use: ``threshold``, else :data:`TRACK_FACE_THRESHOLD`."""
        return TRACK_FACE_THRESHOLD if self.threshold is None else self.threshold

    @property
    def continue_threshold(self) -> float:
        """The low threshold in use: ``low_threshold``, at most :attr:`face_threshold`."""
        return min(self.low_threshold, self.face_threshold)

    def for_model(self, calibration: ModelCalibration) -> TrackSettings:
        """These settings with an unset ``threshold`` taken from the model's calibrated ``face_threshold``."""
        threshold = self.threshold if self.threshold is not None else calibration.face_threshold
        resolved = replace(self, threshold=self.face_threshold if threshold is None else threshold)
        return replace(resolved, low_threshold=resolved.continue_threshold)

    def tracker(self) -> Tracker:
        return Tracker(self.face_threshold, self.continue_threshold, self.track_iou, self.max_age)


@dataclass(frozen=True)
class AnnotateSettings:
    stride: int = 1
    track: TrackSettings = field(default_factory=TrackSettings)
    rule: ScoreRule = field(default_factory=ScoreRule)
    crf: int = 23
    preset: str = "veryfast"
    save_frame: int | None = None

    def for_model(self, calibration: ModelCalibration) -> AnnotateSettings:
        """These settings with what they leave to the model taken from its calibration."""
        return replace(self, track=self.track.for_model(calibration), rule=self.rule.for_model(calibration))

    def to_json(self) -> dict:
        return asdict(self)


def output_paths(video: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(annotated MP4, JSON sidecar)`` for ``video`` in ``out_dir``; refuses to overwrite the input."""
    video, out_dir = Path(video), Path(out_dir)
    paths = out_dir / f"{video.stem}.mp4", out_dir / f"{video.stem}.json"
    if any(p.resolve() == video.resolve() for p in paths):
        raise DftagError("output would overwrite the input video; choose another output folder", video)
    return paths


def coco_box(box: np.ndarray) -> list[float]:
    """An ``xyxy`` box as COCO ``[x, y, w, h]`` pixels rounded to 0.01."""
    return [round(v, 2) for v in xyxy_to_xywh([float(v) for v in box])]


def chunks(items: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def faces_json(faces: Detections, smoothed: np.ndarray, detected: bool, threshold: float) -> list[dict]:
    """The sidecar entries of one frame's tracked ``faces``: track id, COCO box, the label and value of each
    track's smoothed ``p_fake`` (``smoothed`` ``(N,)``) and, on ``detected`` frames, the detection's ``score``,
    its face probability ``face_score`` and raw ``p_fake``."""
    out = []
    for k, (box, track_id, p_smoothed) in enumerate(zip(faces.boxes, faces.track_ids.tolist(), smoothed.tolist())):
        face = {"track_id": track_id, "bbox": coco_box(box), "label": label_of(p_smoothed, threshold),
                "p_fake_smoothed": round(p_smoothed, 4), "detected": detected}
        if detected:
            face.update(score=round(float(faces.scores[k]), 4), face_score=round(float(faces.face_scores[k]), 4),
                        p_fake=round(float(faces.p_fake[k]), 4))
        out.append(face)
    return out


@dataclass
class DetectionCount:
    """What the detector returned over a video: on how many ``frames``, how many ``detections`` (it was asked
    for those scoring ``>= min_score``, the tracker's low threshold), how many of them reach ``threshold`` in
    face probability (``Detections.face_scores``, what starts a track, i.e. makes a face) and the best face
    probability; so that "no face found" can say why."""

    min_score: float
    threshold: float
    frames: int = 0
    detections: int = 0
    at_threshold: int = 0
    best_score: float | None = None

    def add(self, found: Sequence[Detections]) -> None:
        for det in found:
            self.frames += 1
            self.detections += len(det)
            self.at_threshold += int(np.count_nonzero(det.face_scores >= self.threshold))
            if len(det):
                self.best_score = max(self.best_score or 0.0, float(det.face_scores.max()))

    def to_json(self) -> dict:
        return {"frames": self.frames, "min_score": self.min_score, "count": self.detections,
                "threshold": self.threshold, "at_threshold": self.at_threshold,
                "best_score": None if self.best_score is None else round(self.best_score, 4)}


def detection_summary(detections: dict) -> str:
    """One phrase from :meth:`DetectionCount.to_json`: how many detections there were, from which score on, and
    how many reached the threshold that makes a face."""
    d = detections
    if not d["count"]:
        return f"no detection at score >= {d['min_score']:g} on {d['frames']} frames"
    return (f"{d['count']} detections at score >= {d['min_score']:g} on {d['frames']} frames, {d['at_threshold']} "
            f"at face probability >= {d['threshold']:g} (best {d['best_score']:g})")


class VideoAnnotation:
    """Tracking and scoring state for one video, fed one frame at a time (with detections or without)."""

    def __init__(self, info: VideoInfo, settings: AnnotateSettings):
        self.info, self.settings = info, settings
        self.tracker = settings.track.tracker()
        self.scores = TrackScores(settings.rule)
        self.video = self.scores.video_score()
        self.frames: list[dict] = []

    def add(self, frame: Frame, detections: Detections | None) -> tuple[Detections, np.ndarray]:
        """Track and score one frame: ``detections`` on detected frames, ``None`` on those between (tracks are
        carried forward). Returns the frame's tracked faces, boxes clipped to the frame, and the ``p_fake`` to
        show for each ``(N,)``: its track's smoothed value."""
        if detections is None:
            faces = self.tracker.predict(frame.timestamp)
            smoothed = np.array([self.scores.smoothed(t) for t in faces.track_ids.tolist()], dtype=np.float64)
        else:
            faces = self.tracker.update(frame.timestamp, detections)
            smoothed = np.array([self.scores.add(t, frame.index, frame.timestamp, p)
                                 for t, p in zip(faces.track_ids.tolist(), faces.p_fake.tolist())], dtype=np.float64)
            self.video = self.scores.video_score()
        faces = replace(faces, boxes=np.clip(faces.boxes, 0, [self.info.width, self.info.height] * 2))
        self.frames.append({"index": frame.index, "time": round(frame.timestamp, 6),
                            "detected": detections is not None,
                            "faces": faces_json(faces, smoothed, detections is not None, self.settings.rule.threshold)})
        return faces, smoothed


def _info_json(info: VideoInfo) -> dict:
    return {k: v for k, v in asdict(info).items() if k != "path"}


def save_png(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DftagError("could not encode the frame as PNG", path)
    write_bytes(path, data.tobytes())


def annotate_video(video: str | os.PathLike[str], out_dir: str | os.PathLike[str], detector: FaceDetector,
                   settings: AnnotateSettings = AnnotateSettings(), progress=None) -> dict:
    """Annotate one video into ``out_dir``; returns the sidecar dict (also written as ``<stem>.json``).

    ``progress`` (optional) is called with each frame index as it is drawn. Settings left to the model are
    taken from ``detector.calibration`` (:meth:`AnnotateSettings.for_model`).
    """
    settings = settings.for_model(detector.calibration)
    video = Path(video)
    mp4_path, json_path = output_paths(video, out_dir)
    info = probe(video)
    state = VideoAnnotation(info, settings)
    renderer = Renderer(info.width, info.height, info.duration, settings.rule.threshold)
    stride = settings.stride
    frame_bytes = info.width * info.height * 3
    queue_frames = max(MIN_QUEUE_FRAMES, STAGE_BYTES // frame_bytes)
    # keyframes per detector call: --batch-size, fewer if the chunk of frames they span would not fit
    batch = max(1, min(settings.track.batch_size, STAGE_BYTES // (frame_bytes * stride)))
    start = time.perf_counter()
    detect_s = 0.0
    counts = DetectionCount(settings.track.continue_threshold, settings.track.face_threshold)
    writer = VideoWriter(mp4_path, info.width, info.height, info.fps or FALLBACK_FPS, crf=settings.crf,
                         preset=settings.preset, audio_from=video)
    encoder: BackgroundConsumer[Frame] = BackgroundConsumer(lambda f: writer.write(f.image, f.timestamp),
                                                            queue_frames)
    try:
        for chunk in chunks(prefetch(read_frames(video, info=info), queue_frames), batch * stride):
            keyframes = [f for f in chunk if f.index % stride == 0]
            t0 = time.perf_counter()
            found = detector.predict([f.image for f in keyframes], score_threshold=settings.track.continue_threshold,
                                     batch_size=batch, by_face=True) if keyframes else []
            detect_s += time.perf_counter() - t0
            counts.add(found)
            by_index = {f.index: d for f, d in zip(keyframes, found)}
            for frame in chunk:
                faces, smoothed = state.add(frame, by_index.get(frame.index))
                renderer.draw(frame.image, faces, smoothed, frame.timestamp, state.video.score, state.video.label)
                if frame.index == settings.save_frame:
                    save_png(mp4_path.with_name(f"{mp4_path.stem}_frame{frame.index}.png"), frame.image)
                encoder.put(frame)
                if progress is not None:
                    progress(frame.index)
        encoder.finish()
        if writer.frames_written == 0:
            raise DftagError("no frame could be decoded", video)
        writer.close()
    except BaseException:
        encoder.finish(reraise=False)
        writer.abort()
        raise
    total_s = time.perf_counter() - start
    result = sidecar(video, mp4_path, info, detector, settings.to_json(), state.scores, state.frames, counts)
    result["timings"] = {"total_s": round(total_s, 3), "detect_s": round(detect_s, 3),
                         "frames_per_s": round(len(state.frames) / total_s, 2) if total_s else None}
    write_json(json_path, result)
    return result


def sidecar(video: Path, output: Path | None, info: VideoInfo, detector: FaceDetector,
            settings: dict, scores: TrackScores, frames: list[dict] | None = None,
            detections: DetectionCount | None = None) -> dict:
    """The JSON result of one video, shared by annotate (with per-frame ``frames``) and score: the video score
    (:meth:`~dftag.pipeline.aggregate.VideoScore.to_json`: with the rule that made it and whether any face was
    found), the score each rule would give (``scores_by_rule``, for choosing one on validation videos), the
    detector's raw output counts (``detections``, :meth:`DetectionCount.to_json`) and the track summaries."""
    by_rule = {method: round(score, JSON_DIGITS) for method, score in scores.scores_by_method().items()}
    out = {"video": str(video), "output": str(output) if output else None, "model": detector.model_id,
           "temperature": detector.temperature, "settings": settings, "video_info": _info_json(info),
           **scores.video_score().to_json(), "scores_by_rule": by_rule,
           **({"detections": detections.to_json()} if detections is not None else {}),
           "tracks": [t.to_json() for t in scores.summaries()]}
    if frames is not None:
        out["frame_count"] = len(frames)
        out["frames"] = frames
    return out
