"""Face tracking by IoU association with constant-velocity motion, in the spirit of ByteTrack.

Boxes are absolute pixel ``xyxy`` of the frame they were detected in; times are seconds (frame timestamps),
so motion is in pixels per second and variable frame rate videos track correctly.

Each :meth:`Tracker.update` with a frame's :class:`~dftag.core.detections.Detections`:

1. predicts every live track's box at the frame's time from its last box and velocity;
2. matches detections whose face probability (``Detections.face_scores``, whatever the label) is at least
   ``high_score`` to all live tracks by IoU (greedy, :func:`dftag.core.boxes.greedy_match`: detections by
   descending face probability, each taking the free track of highest IoU);
3. matches the remaining low-score detections (``low_score`` up to ``high_score``) to the tracks still
   unmatched that were seen on the previous update, which keeps a face whose score dipped (blur,
   occlusion) on its track instead of dropping it;
4. starts a new track for every unmatched high-score detection and ages unmatched tracks, removing those
   unseen for more than ``max_age`` seconds.

Between detections (``--stride``) :meth:`Tracker.predict` carries tracks forward without changing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from dftag.core.boxes import box_iou, greedy_match
from dftag.core.detections import Detections

# Weight of the newest velocity measurement in the running velocity estimate (0..1).
VELOCITY_SMOOTHING = 0.5


@dataclass(eq=False)
class Track:
    """One face over time: ``last`` is its last matched detection (one row, with this ``track_id``) at ``time``
    seconds, ``velocity`` the box corners' motion in pixels per second."""

    track_id: int
    last: Detections
    time: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    missed_updates: int = 0

    @property
    def box(self) -> np.ndarray:
        """The last matched box, ``(4,)`` xyxy pixels."""
        return self.last.boxes[0]

    def predict(self, time: float) -> np.ndarray:
        """The box expected at ``time`` under constant velocity."""
        return (self.box + self.velocity * (time - self.time)).astype(np.float32)

    def match(self, detection: Detections, time: float) -> None:
        """Continue the track with ``detection`` (one row, already carrying this ``track_id``)."""
        dt = time - self.time
        if dt > 0:
            measured = (detection.boxes[0] - self.box) / dt
            self.velocity = (VELOCITY_SMOOTHING * measured + (1 - VELOCITY_SMOOTHING) * self.velocity).astype(np.float32)
        self.last, self.time = detection, time
        self.missed_updates = 0


class Tracker:
    """Assigns stable ``track_id`` s (1, 2, ...) to face detections across frames."""

    def __init__(self, high_score: float = 0.5, low_score: float = 0.1, min_iou: float = 0.3,
                 max_age: float = 1.0):
        if not 0 <= low_score <= high_score:
            raise ValueError("need 0 <= low_score <= high_score")
        self.high_score, self.low_score, self.min_iou, self.max_age = high_score, low_score, min_iou, max_age
        self.tracks: list[Track] = []
        self._next_id = 1

    def predict(self, time: float) -> Detections:
        """The live tracks seen on their last update, carried to ``time`` without a detection: each track's last
        detection with its box moved by the track's motion, in track order."""
        live = [t for t in self.tracks if t.missed_updates == 0]
        if not live:
            return Detections.empty()
        carried = Detections.concatenate([t.last for t in live])
        return replace(carried, boxes=np.stack([t.predict(time) for t in live]))

    def _match(self, detections: Detections, rows: np.ndarray, tracks: list[Track], time: float) -> dict[int, Track]:
        """Greedy IoU matching of ``detections[rows]`` (most confident first) to the predicted boxes of
        ``tracks``; returns ``{detection index: track}``."""
        if len(rows) == 0 or not tracks:
            return {}
        rows = rows[np.argsort(-detections.face_scores[rows], kind="stable")]
        predicted = np.stack([t.predict(time) for t in tracks])
        match = greedy_match(box_iou(detections.boxes[rows], predicted)[None], [self.min_iou])[0, 0, 0]
        return {int(rows[r]): tracks[c] for r, c in enumerate(match) if c >= 0}

    def update(self, time: float, detections: Detections) -> Detections:
        """Associate one frame's ``detections`` at ``time`` seconds.

        Returns the detections that continue or start a track, in detection order, with their ``track_ids``;
        detections below ``low_score``, and low-score detections that continue no track, are left out.
        """
        face = detections.face_scores
        high = np.flatnonzero(face >= self.high_score)
        low = np.flatnonzero((face >= self.low_score) & (face < self.high_score))
        matched = self._match(detections, high, self.tracks, time)
        free = [t for t in self.tracks if t not in matched.values() and t.missed_updates == 0]
        matched.update(self._match(detections, low, free, time))
        new = [int(d) for d in high if int(d) not in matched]
        ids = {d: track.track_id for d, track in matched.items()}
        ids.update({d: self._next_id + k for k, d in enumerate(new)})
        self._next_id += len(new)
        order = sorted(ids)
        tracked = replace(detections[order], track_ids=[ids[d] for d in order])
        for k, d in enumerate(order):
            if d in matched:
                matched[d].match(tracked[k], time)
            else:
                matched[d] = Track(ids[d], tracked[k], time)
                self.tracks.append(matched[d])
        seen = set(matched.values())
        for track in self.tracks:
            if track not in seen:
                track.missed_updates += 1
        self.tracks = [t for t in self.tracks if t in seen or time - t.time <= self.max_age]
        return tracked
