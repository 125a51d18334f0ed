"""Turning per-frame face probabilities into track scores and one video score.

All probabilities are ``p_fake`` in ``[0, 1]``: the probability that a face (or video) is fake, as the
detector gives it (already divided by its calibration temperature, see ``Detector.temperature``).

Rules:

* **display** (per box, per frame): an exponential moving average of the track's ``p_fake`` over its
  detections, weight ``ema_alpha`` on the newest, so labels do not flicker;
* **track score**: the median of the track's per-frame ``p_fake`` (robust to a few bad frames);
* **video score**: a video is as fake as its most confidently fake face track among those with enough
  frames. A track counts when it was detected on at least ``min_track_fraction`` of the frames of the
  longest track (and at least ``min_track_frames``), so a spurious detection on one or two frames cannot
  decide a video. The video score is the largest track score among those, clipped to ``clip`` (default
  ``[0.01, 0.99]``: a confident mistake then costs at most ``-log(0.01) = 4.6`` nats of log-loss).
* **no face**: a video without any track gets ``prior`` as its score and the label ``"no face found"``.

The video label is ``"fake"`` when the score is at least ``threshold``, else ``"real"``.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field

CLIP = (0.01, 0.99)
EMA_ALPHA = 0.3
MIN_TRACK_FRACTION = 0.25
MIN_TRACK_FRAMES = 1
NO_FACE = "no face found"
JSON_DIGITS = 6  # decimals of probabilities and times in JSON output


def label_of(p_fake: float, threshold: float) -> str:
    return "fake" if p_fake >= threshold else "real"


def clip_probability(p: float, clip: tuple[float, float] = CLIP) -> float:
    return float(min(max(p, clip[0]), clip[1]))


@dataclass
class TrackHistory:
    """The detections of one track: frame indices, times (s) and ``p_fake`` values kept sorted for the
    median, plus the running EMA shown on screen."""

    track_id: int
    first_frame: int
    last_frame: int
    first_time: float
    last_time: float
    ema: float
    total: float = 0.0
    sorted_p: list[float] = field(default_factory=list)

    @property
    def frames_seen(self) -> int:
        return len(self.sorted_p)

    @property
    def median(self) -> float:
        """Median of the per-frame ``p_fake`` (O(1): the values are kept sorted)."""
        n, s = len(self.sorted_p), self.sorted_p
        return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2

    def add(self, frame: int, time: float, p_fake: float, ema_alpha: float) -> None:
        self.last_frame, self.last_time = frame, time
        self.ema = ema_alpha * p_fake + (1 - ema_alpha) * self.ema if self.sorted_p else p_fake
        self.total += p_fake
        bisect.insort(self.sorted_p, p_fake)


@dataclass(frozen=True)
class TrackSummary:
    track_id: int
    first_frame: int
    last_frame: int
    first_time: float
    last_time: float
    frames_seen: int
    mean_p_fake: float
    robust_p_fake: float
    label: str

    def to_json(self) -> dict:
        return {k: round(v, JSON_DIGITS) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class VideoScore:
    """``score`` is the clipped probability that the video is fake; ``tracks_used`` the ids of the tracks
    that were long enough to count, ``decisive_track`` the one that set the score (``None`` without faces)."""

    score: float
    label: str
    tracks_used: tuple[int, ...]
    decisive_track: int | None

    def to_json(self) -> dict:
        return {"score": round(self.score, JSON_DIGITS), "label": self.label, "tracks_used": list(self.tracks_used),
                "decisive_track": self.decisive_track}


@dataclass(frozen=True)
class ScoreRule:
    """The settings of the aggregation rules described in the module docstring."""

    threshold: float = 0.5
    prior: float = 0.5
    clip: tuple[float, float] = CLIP
    ema_alpha: float = EMA_ALPHA
    min_track_fraction: float = MIN_TRACK_FRACTION
    min_track_frames: int = MIN_TRACK_FRAMES

    def video_score(self, tracks: list[TrackHistory]) -> VideoScore:
        if not tracks:
            return VideoScore(clip_probability(self.prior, self.clip), NO_FACE, (), None)
        longest = max(t.frames_seen for t in tracks)
        needed = max(self.min_track_frames, self.min_track_fraction * longest)
        used = [t for t in tracks if t.frames_seen >= needed]
        decisive = max(used, key=lambda t: (t.median, -t.track_id))
        score = clip_probability(decisive.median, self.clip)
        return VideoScore(score, label_of(score, self.threshold), tuple(t.track_id for t in used),
                          decisive.track_id)


class TrackScores:
    """Collects per-frame ``p_fake`` by track and applies a :class:`ScoreRule`."""

    def __init__(self, rule: ScoreRule = ScoreRule()):
        self.rule = rule
        self.tracks: dict[int, TrackHistory] = {}

    def add(self, track_id: int, frame: int, time: float, p_fake: float) -> float:
        """Record a detection of ``track_id``; returns the track's smoothed (EMA) ``p_fake`` for display."""
        track = self.tracks.get(track_id)
        if track is None:
            track = self.tracks[track_id] = TrackHistory(track_id, frame, frame, time, time, p_fake)
        track.add(frame, time, float(p_fake), self.rule.ema_alpha)
        return track.ema

    def smoothed(self, track_id: int) -> float:
        return self.tracks[track_id].ema

    def video_score(self) -> VideoScore:
        return self.rule.video_score(list(self.tracks.values()))

    def summaries(self) -> list[TrackSummary]:
        out = []
        for t in sorted(self.tracks.values(), key=lambda t: t.track_id):
            robust = t.median
            out.append(TrackSummary(t.track_id, t.first_frame, t.last_frame, t.first_time, t.last_time,
                                    t.frames_seen, t.total / t.frames_seen, robust,
                                    label_of(robust, self.rule.threshold)))
        return out
