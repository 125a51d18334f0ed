"""Drawing face boxes, labels and the video-score banner onto frames with OpenCV.

Frames are ``uint8`` RGB ``(H, W, 3)`` arrays drawn in place (so colours below are RGB); faces are
:class:`~dftag.core.detections.Detections` (boxes absolute pixel ``xyxy``, ``track_ids``) with the ``p_fake``
to show for each. Only the pixels of boxes, labels and the banner are touched, which keeps drawing cheap on
large frames. Sizes (line width, font) scale with the frame height relative to :data:`REFERENCE_HEIGHT`.
"""

from __future__ import annotations

import cv2
import numpy as np

from dftag.core.detections import Detections
from dftag.pipeline.aggregate import label_of

COLORS = {"real": (0, 200, 0), "fake": (230, 30, 30)}
NO_FACE_COLOR = (200, 200, 200)
TEXT_COLOR = (255, 255, 255)
REFERENCE_HEIGHT = 720  # at this frame height: 2 px lines, font scale 0.6
LINE_WIDTH = 2
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.6
BANNER_FRACTION = 0.07  # banner height as a fraction of the frame height
BANNER_MIN_HEIGHT = 18
TIMELINE_FRACTION = 0.3  # timeline width as a fraction of the frame width
BANNER_DIM = 0.45  # the banner darkens the frame under it to this brightness


class Renderer:
    """Draws boxes and a banner with the running video score and its timeline over ``duration`` seconds;
    ``threshold`` is the ``p_fake`` from which a face is labelled fake (and where the timeline's guide line is)."""

    def __init__(self, width: int, height: int, duration: float | None, threshold: float = 0.5):
        self.width, self.height, self.threshold = width, height, threshold
        self.duration = duration if duration and duration > 0 else None
        k = height / REFERENCE_HEIGHT
        self.line = max(1, round(LINE_WIDTH * k))
        self.font_scale = max(0.3, FONT_SCALE * k)
        self.text_thickness = max(1, round(k))
        self.banner_h = min(height, max(BANNER_MIN_HEIGHT, round(BANNER_FRACTION * height)))
        self.timeline_w = max(2, round(TIMELINE_FRACTION * width))
        self.timeline_x = width - self.timeline_w - self.line
        # score per timeline column (NaN until the video reaches that column's time)
        self._timeline = np.full(self.timeline_w, np.nan, np.float32)
        self._column = 0

    def _label_size(self, text: str) -> tuple[int, int, int]:
        """``(width, height, baseline)`` in pixels of ``text``'s label rectangle."""
        (tw, th), base = cv2.getTextSize(text, FONT, self.font_scale, self.text_thickness)
        return tw + 2 * self.line, th + base, base

    def _text(self, image: np.ndarray, text: str, x: int, y: int, background: tuple[int, int, int] | None) -> None:
        (tw, th), base = cv2.getTextSize(text, FONT, self.font_scale, self.text_thickness)
        y = max(th + base, y)
        if background is not None:
            cv2.rectangle(image, (x, y - th - base), (x + tw + 2 * self.line, y), background, cv2.FILLED)
        cv2.putText(image, text, (x + self.line, y - base), FONT, self.font_scale, TEXT_COLOR,
                    self.text_thickness, cv2.LINE_AA)

    def label_boxes(self, faces: Detections, texts: list[str]) -> list[tuple[int, int, int, int]]:
        """Where each face's label goes, as ``(x1, y1, x2, y2)`` pixel rectangles (end-exclusive) that do not
        overlap one another: above the face's box (the usual place), else below it, else stacked further above
        or below, the first free spot inside the frame in that order; a label that finds none keeps the usual
        place. Labels are placed in the order of ``faces``."""
        placed: list[tuple[int, int, int, int]] = []
        for box, text in zip(faces.boxes, texts):
            w, h, _ = self._label_size(text)
            x1, y1, _, y2 = (int(round(v)) for v in box)
            x = min(max(0, x1), max(0, self.width - w))
            above, below = y1 - h, y2 + self.line
            tops = [above, below] + [t for k in range(1, len(placed) + 1) for t in (above - k * h, below + k * h)]
            candidates = [(x, top, x + w, top + h) for top in tops if 0 <= top and top + h <= self.height]
            usual = (x, max(0, above), x + w, max(0, above) + h)
            free = [r for r in candidates if not any(_overlap(r, p) for p in placed)]
            placed.append(free[0] if free else usual)
        return placed

    def draw_faces(self, image: np.ndarray, faces: Detections, p_fake: np.ndarray) -> None:
        """Each face's box and ``"<label> <p_fake> #<track id>"``, coloured by its label (``p_fake`` ``(N,)`` at
        least ``threshold`` is fake); labels that would overlap are moved apart (:meth:`label_boxes`)."""
        labels = [label_of(float(p), self.threshold) for p in p_fake]
        texts = [f"{label} {p:.2f} #{track_id}" for label, p, track_id in zip(labels, p_fake, faces.track_ids)]
        for box, label in zip(faces.boxes, labels):
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            cv2.rectangle(image, (x1, y1), (x2, y2), COLORS[label], self.line)
        for (x1, y1, x2, y2), text, label in zip(self.label_boxes(faces, texts), texts, labels):
            cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), COLORS[label], cv2.FILLED)
            cv2.putText(image, text, (x1 + self.line, y2 - 1 - self._label_size(text)[2]), FONT, self.font_scale,
                        TEXT_COLOR, self.text_thickness, cv2.LINE_AA)

    def draw_banner(self, image: np.ndarray, time: float, score: float, label: str) -> None:
        """Darken the top strip, write the running video score and draw its timeline up to ``time`` (s)."""
        h = self.banner_h
        strip = image[:h]
        np.multiply(strip, BANNER_DIM, out=strip, casting="unsafe")
        text = f"video: {label}" if label not in COLORS else f"video: {label.upper()} p_fake={score:.2f}"
        self._text(image, text, self.line, h - self.line, None)
        column = (min(self.timeline_w - 1, int(time / self.duration * self.timeline_w)) if self.duration
                  else min(self.timeline_w - 1, self._column))
        self._timeline[self._column:column + 1] = score
        self._column = max(self._column, column + 1)
        x0, top, bottom = self.timeline_x, self.line, h - self.line
        cv2.rectangle(image, (x0, top), (x0 + self.timeline_w - 1, bottom), NO_FACE_COLOR, 1)
        y_threshold = round(bottom - self.threshold * (bottom - top))
        cv2.line(image, (x0, y_threshold), (x0 + self.timeline_w - 1, y_threshold), NO_FACE_COLOR, 1)
        filled = np.flatnonzero(~np.isnan(self._timeline[:self._column]))
        if len(filled):
            ys = bottom - self._timeline[filled] * (bottom - top)
            points = np.stack([x0 + filled, ys], axis=1).round().astype(np.int32)
            color = COLORS.get(label, NO_FACE_COLOR)
            cv2.polylines(image, [points.reshape(-1, 1, 2)], False, color, max(1, self.line // 2 + 1))

    def draw(self, image: np.ndarray, faces: Detections, p_fake: np.ndarray, time: float, score: float,
             label: str) -> np.ndarray:
        """The banner (video ``score`` and ``label`` at ``time`` s) and the faces, each shown with ``p_fake``."""
        self.draw_banner(image, time, score, label)
        self.draw_faces(image, faces, p_fake)
        return image


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two end-exclusive ``(x1, y1, x2, y2)`` rectangles share a pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
