"""Test helpers for the video annotator and scorer: clips with moving "faces" and a detector that finds them.

A face here is a solid square of :data:`FACE_COLOR`; :class:`SquareDetector` finds such squares exactly
(connected components of that colour), so tests can check tracking, timestamps and scores without a trained
network. It follows the ``Detector.predict`` contract of docs/architecture.md.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np

from dftag.annotations.video import VideoWriter, ffmpeg_exe
from dftag.core.detections import Detections
from dftag.detector.model_calibration import ModelCalibration

FACE_COLOR = (255, 0, 255)
BACKGROUND = 90


class SquareDetector:
    """Detects :data:`FACE_COLOR` squares (at least ``min_side`` px); every face gets ``p_fake`` (a float, or a
    function of the box (xyxy pixels)) and detection score ``score``. ``two_stage`` poses as a detector whose
    classifier tags faces from crops of the frames given. ``calls`` records the images per call, ``shapes``
    each image's shape."""

    model_id = "square-detector"
    temperature = 1.0
    calibration = ModelCalibration()

    def __init__(self, p_fake=0.8, score: float = 0.9, min_side: int = 4, two_stage: bool = False):
        self.p_fake, self.score, self.min_side, self.two_stage = p_fake, score, min_side, two_stage
        self.calls: list[int] = []
        self.shapes: list[tuple[int, ...]] = []

    def predict(self, images, score_threshold: float = 0.0, batch_size: int = 8, by_face: bool = False
                ) -> list[Detections]:
        self.calls.append(len(images))
        self.shapes.extend(image.shape for image in images)
        out = []
        for image in images:
            mask = np.all(np.abs(image.astype(np.int16) - FACE_COLOR) < 60, axis=2).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            boxes = [[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:n] if min(w, h) >= self.min_side]
            boxes = np.array(boxes, np.float32).reshape(-1, 4)
            p = np.array([self.p_fake(b) if callable(self.p_fake) else self.p_fake for b in boxes], np.float32)
            logit = np.log(p / (1 - p)).astype(np.float32)
            out.append(Detections(boxes, np.where(p >= 0.5, 2, 1).astype(np.int64),
                                  np.full(len(boxes), self.score, np.float32), logit, p))
        return out


def square_positions(frames: int, size: tuple[int, int], side: int, faces: int = 1) -> list[list[tuple[int, int]]]:
    """Top-left corners of ``faces`` squares moving right (2 px a frame), in separate horizontal lanes."""
    w, h = size
    lanes = [round((k + 0.5) * h / faces - side / 2) for k in range(faces)]
    return [[((4 + 2 * i + 7 * k) % max(1, w - side), lanes[k]) for k in range(faces)] for i in range(frames)]


def face_clip(path: Path, frames: int = 12, size: tuple[int, int] = (96, 64), side: int = 16, faces: int = 1,
              timestamps: list[float] | None = None, fps: float = 10) -> Path:
    """Write an MP4 of ``faces`` moving squares; ``timestamps`` (s) make it variable frame rate."""
    with VideoWriter(path, size[0], size[1], fps) as writer:
        for i, corners in enumerate(square_positions(frames, size, side, faces)):
            image = np.full((size[1], size[0], 3), BACKGROUND, np.uint8)
            for x, y in corners:
                image[y:y + side, x:x + side] = FACE_COLOR
            writer.write(image, None if timestamps is None else timestamps[i])
    return path


def add_audio(src: Path, dst: Path, codec: str = "aac") -> Path:
    """Copy ``src`` with a sine tone as its audio track, encoded with ``codec``."""
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(src), "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000", "-shortest", "-map", "0:v", "-map", "1:a",
                    "-c:v", "copy", "-c:a", codec, str(dst)], check=True)
    return dst
