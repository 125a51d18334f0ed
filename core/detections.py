"""The faces found in one image or video frame: :class:`Detections`, from the detector through the tracker to
the renderer (in the spirit of supervision's ``Detections``).

Every field is a numpy array with one row per face; boxes are absolute pixel ``xyxy`` of the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

NOT_TRACKED = -1  # the track id of a face no tracker has seen


@dataclass(eq=False)
class Detections:
    """Faces in one image; every field has one row per face (``Detector.predict``: best score first).

    ``boxes`` (N, 4) float32 xyxy in original-image pixels; ``labels`` (N,) int64, 1 real / 2 fake (the likelier
    of the two); ``scores`` (N,) float32, that label's probability under the 3-way softmax; ``fake_logit``
    (N,) float32 = logit_fake - logit_real (uncalibrated); ``p_fake`` (N,) float32 =
    sigmoid(fake_logit / temperature), the calibrated probability that the face is fake; ``face_scores`` (N,)
    float32, the probability that the box is a face at all, ``1 - p(background)`` (by default ``scores``): the
    tracker follows faces by it, whatever their label; ``track_ids`` (N,) int64, the face's track (1, 2, ...
    from :class:`dftag.pipeline.tracker.Tracker`), :data:`NOT_TRACKED` (the default) when untracked.

    Fields are converted to those dtypes on construction. ``detections[i]`` (an int, slice, index array or
    boolean mask) selects faces and is again a :class:`Detections`.
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    fake_logit: np.ndarray
    p_fake: np.ndarray
    face_scores: np.ndarray | None = None
    track_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.fake_logit = np.asarray(self.fake_logit, dtype=np.float32).reshape(-1)
        self.p_fake = np.asarray(self.p_fake, dtype=np.float32).reshape(-1)
        self.face_scores = (self.scores.copy() if self.face_scores is None
                            else np.asarray(self.face_scores, dtype=np.float32).reshape(-1))
        n = len(self.boxes)
        self.track_ids = (np.full(n, NOT_TRACKED, dtype=np.int64) if self.track_ids is None
                          else np.asarray(self.track_ids, dtype=np.int64).reshape(-1))
        lengths = {f.name: len(getattr(self, f.name)) for f in fields(self)}
        if set(lengths.values()) != {n}:
            raise ValueError(f"Detections fields must all have one row per face, got lengths {lengths}")

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Detections(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def empty(cls) -> Detections:
        """No faces."""
        return cls(np.zeros((0, 4)), [], [], [], [])

    @classmethod
    def concatenate(cls, items: Sequence[Detections]) -> Detections:
        """The faces of ``items`` one after the other (:meth:`empty` for none)."""
        if not items:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(d, f.name) for d in items]) for f in fields(cls)})
