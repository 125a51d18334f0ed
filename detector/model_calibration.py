"""What a checkpoint's ``calibration`` entry holds: the numbers fitted on validation data that turn the
network's outputs into calibrated decisions (``dftag calibrate`` writes them).

- ``temperature``: per face, ``p_fake = sigmoid(fake_logit / temperature)``;
- ``face_threshold``: the face probability (``Detections.face_scores``) from which a detection counts as a face,
  i.e. starts a track in ``dftag annotate`` and ``dftag score``; chosen where face detection's F1 is highest on
  validation images (:func:`dftag.eval.face_threshold.pick_face_threshold`);
- ``video_rule`` and ``video_temperature``: the rule (:data:`dftag.core.video_rules.VIDEO_RULES`) chosen on
  validation videos and the temperature of its video-score logit
  (:func:`dftag.pipeline.video_calibration.pick_video_rule`).

Each but ``temperature`` may be absent (``None``): the pipeline then uses its defaults. On disk the entry is a
plain dict without the absent keys, e.g. ``{"temperature": 1.3, "face_threshold": 0.42}``.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any

from dftag.core.errors import DftagError
from dftag.core.video_rules import VIDEO_RULES


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@dataclass(frozen=True)
class ModelCalibration:
    """A checkpoint's calibration (module docstring)."""

    temperature: float = 1.0
    face_threshold: float | None = None
    video_rule: str | None = None
    video_temperature: float | None = None

    @classmethod
    def from_dict(cls, entry: Any, path: str | os.PathLike | None = None) -> ModelCalibration:
        """Read and check a checkpoint's ``calibration`` entry; one error line naming ``path`` when it is bad."""
        if not isinstance(entry, dict):
            raise DftagError("calibration must be a dict", path)
        unknown = sorted(set(entry) - set(cls.__dataclass_fields__))
        if unknown:
            raise DftagError(f"calibration has unknown entries {unknown}", path)
        if not _positive(entry.get("temperature")):
            raise DftagError(f"calibration temperature must be a positive number, got {entry.get('temperature')!r}",
                             path)
        threshold = entry.get("face_threshold")
        if threshold is not None and not (_positive(threshold) and threshold < 1):
            raise DftagError(f"calibration face_threshold must be in (0, 1), got {threshold!r}", path)
        rule = entry.get("video_rule")
        if rule is not None and rule not in VIDEO_RULES:
            raise DftagError(f"calibration video_rule must be one of {', '.join(VIDEO_RULES)}, got {rule!r}", path)
        video_temperature = entry.get("video_temperature")
        if video_temperature is not None and not _positive(video_temperature):
            raise DftagError(f"calibration video_temperature must be a positive number, got {video_temperature!r}",
                             path)
        if (rule is None) != (video_temperature is None):
            raise DftagError("calibration needs video_rule and video_temperature together", path)
        return cls(float(entry["temperature"]), None if threshold is None else float(threshold), rule,
                   None if video_temperature is None else float(video_temperature))

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint entry: the set fields only."""
        return {k: v for k, v in asdict(self).items() if v is not None}
