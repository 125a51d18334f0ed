"""Face tracking by IoU association with constant-velocity motion, in the spirit of ByteTrack.

Boxes are absolute pixel ``xyxy`` of the frame they were detected in; times are seconds (frame timestamps),
so motion is in pixels per second and variable frame rate videos track correctly.

Each :meth:`Tracker.update` with a frame's detections:

1. predicts every live track's box at the frame's time from its last box and velocity;
2. matches detections scoring at least ``high_score`` to all live tracks by IoU (greedy, best pair first);
3. matches the remaining low-score detections (``low_score`` up to ``high_score``) to the tracks still
   unmatched that were seen on the previous update, which keeps a face whose score dipped (blur,
   occlusion) on its track instead of dropping it;
4. starts a new track for every unmatched high-score detection and ages unmatched tracks, removing those
   unseen for more than ``max_age`` seconds.

Between detections (``--stride``) :meth:`Tracker.predict` carries tracks forward without changing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torchvision.ops import box_iou

# Weight of the newest velocity measurement in the running velocity estimate (0..1).
VELOCITY_SMOOTHING = 0.5


@dataclass(eq=False)
class Track:
    """One face over time: ``box`` is its last matched box (``xyxy`` pixels) at ``time`` seconds, ``velocity``
    the box corners' motion in pixels per second."""

    track_id: int
    box: np.ndarray
    time: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    hits: int = 1
    missed_updates: int = 0

    def predict(self, time: float) -> np.ndarray:
        """The box expected at ``time`` under constant velocity."""
        return (self.box + self.velocity * (time - self.time)).astype(np.float32)

    def match(self, box: np.ndarray, time: float) -> None:
        dt = time - self.time
        if dt > 0:
            measured = (box - self.box) / dt
            self.velocity = (VELOCITY_SMOOTHING * measured + (1 - VELOCITY_SMOOTHING) * self.velocity).astype(np.float32)
        self.box, self.time = box.astype(np.float32), time
        self.hits += 1
        self.missed_updates = 0


@dataclass
class TrackedBox:
    """A track's box on one frame; ``detection`` is the index of the detection it matched, or ``None`` when
    the box is carried forward by motion."""

    track_id: int
    box: np.ndarray
    detection: int | None


def _greedy_match(iou: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Pairs ``(row, col)`` taken best IoU first, each row and column at most once, IoU at least ``min_iou``."""
    pairs: list[tuple[int, int]] = []
    if iou.size == 0:
        return pairs
    order = np.argsort(-iou, axis=None, kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    for flat in order:
        r, c = divmod(int(flat), iou.shape[1])
        if iou[r, c] < min_iou:
            break
        if r not in used_rows and c not in used_cols:
            pairs.append((r, c))
            used_rows.add(r)
            used_cols.add(c)
    return pairs


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    return box_iou(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)).numpy()


class Tracker:
    """Assigns stable ``track_id`` s (1, 2, ...) to face detections across frames."""

    def __init__(self, high_score: float = 0.5, low_score: float = 0.1, min_iou: float = 0.3,
                 max_age: float = 1.0):
        if not 0 <= low_score <= high_score:
            raise ValueError("need 0 <= low_score <= high_score")
        self.high_score, self.low_score, self.min_iou, self.max_age = high_score, low_score, min_iou, max_age
        self.tracks: list[Track] = []
        self._next_id = 1

    def predict(self, time: float) -> list[TrackedBox]:
        """Boxes of the live tracks seen on their last update, carried to ``time`` without a detection."""
        return [TrackedBox(t.track_id, t.predict(time), None) for t in self.tracks if t.missed_updates == 0]

    def update(self, time: float, boxes: np.ndarray, scores: np.ndarray) -> list[TrackedBox]:
        """Associate one frame's detections (``boxes`` ``(N, 4)`` xyxy, ``scores`` ``(N,)``) at ``time`` seconds.

        Returns one :class:`TrackedBox` per matched or new track, in detection order; detections below
        ``low_score``, and low-score detections that continue no track, are left out.
        """
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        predicted = np.array([t.predict(time) for t in self.tracks], np.float32).reshape(-1, 4)
        high = np.flatnonzero(scores >= self.high_score)
        low = np.flatnonzero((scores >= self.low_score) & (scores < self.high_score))
        assigned: dict[int, Track] = {}

        for r, c in _greedy_match(_iou(predicted, boxes[high]), self.min_iou):
            assigned[int(high[c])] = self.tracks[r]
        free = [i for i, t in enumerate(self.tracks) if t not in assigned.values() and t.missed_updates == 0]
        for r, c in _greedy_match(_iou(predicted[free], boxes[low]), self.min_iou):
            assigned[int(low[c])] = self.tracks[free[r]]

        for det, track in assigned.items():
            track.match(boxes[det], time)
        for det in high:
            if int(det) not in assigned:
                track = Track(self._next_id, boxes[det].copy(), time)
                self._next_id += 1
                self.tracks.append(track)
                assigned[int(det)] = track
        matched = set(assigned.values())
        for track in self.tracks:
            if track not in matched:
                track.missed_updates += 1
        self.tracks = [t for t in self.tracks if t in matched or time - t.time <= self.max_age]
        return [TrackedBox(assigned[d].track_id, assigned[d].box.copy(), d) for d in sorted(assigned)]
