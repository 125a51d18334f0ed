"""Turning per-frame face probabilities into track scores and one video score.

All probabilities are ``p_fake`` in ``[0, 1]``: the probability that a face (or video) is fake, as the
detector gives it (already divided by its calibration temperature, see ``Detector.temperature``).

Rules:

* **display** (per box, per frame): an exponential moving average of the track's ``p_fake`` over its
  detections, weight ``ema_alpha`` on the newest, so labels do not flicker;
* **track score**, by ``ScoreRule.method``: ``"median"`` (the default) takes the median of the track's
  per-frame ``p_fake`` (robust to a few bad frames); ``"confident"`` and ``"confident-pooled"`` take
  :func:`confident_mean` of them;
* **video score**, by ``ScoreRule.method``:

  - ``"median"`` and ``"confident"``: a video is as fake as its most confidently fake face track among those
    with enough frames. A track counts when it was detected on at least ``min_track_fraction`` of the frames
    of the longest track (and at least ``min_track_frames``), so a spurious detection on one or two frames
    cannot decide a video. The video score is the largest track score among those.
  - ``"confident-pooled"``: :func:`confident_mean` of every face's per-frame ``p_fake`` in the video pooled,
    whatever its track: the DFDC winner's rule as it was run, on all faces of the sampled frames of one
    video. Every track counts and no single track decides.

  The score is then clipped to ``clip`` (default ``[0.01, 0.99]``: a confident mistake then costs at most
  ``-log(0.01) = 4.6`` nats of log-loss) and, with a ``video_temperature`` ``T`` (fitted on validation videos
  for that rule, :mod:`dftag.pipeline.video_calibration`), calibrated: ``sigmoid(logit(score) / T)``, clipped
  again.
* **from the model**: a rule that leaves ``method`` (or ``video_temperature``) unset takes it from the
  detector's calibration (:meth:`ScoreRule.for_model`): the model's video rule and, for that rule, its
  temperature; without one, ``"median"`` and no temperature.
* **no face**: a video without any track gets ``prior`` as its score and the label ``"no face found"``.

The video label is ``"fake"`` when the score is at least ``threshold``, else ``"real"``.

The **confident strategy** (:func:`confident_mean`) is the DFDC winner's (Seferbekov, 2020:
``confident_strategy`` in ``kernel_utils.py`` of ``selimsef/dfdc_deepfake_challenge``) over ``n`` per-frame
``p_fake`` values: when more than ``n // 2.5`` and more than 11 of them are above 0.8, the mean of those;
else, when more than 90% of them are below 0.2, the mean of those; else the mean of all. All comparisons are
strict, as in the original. Its constants were tuned for 32 sampled frames per video (the winner's;
``dftag score``'s default is 16, where "more than 11" means 12 of 16); on ``dftag annotate``'s every-frame
tracks the "more than 11" is still a count of detected frames.
The original also averaged over an ensemble of models and gave ``0.5`` to a video without faces (here:
``prior``); it did not clip.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from dftag.core.errors import DftagError
from dftag.core.thresholds import FAKE_DECISION_THRESHOLD
from dftag.core.video_rules import VIDEO_RULES
from dftag.detector.model_calibration import ModelCalibration
from dftag.eval.calibration import scale_probability

CLIP = (0.01, 0.99)
EMA_ALPHA = 0.3
MIN_TRACK_FRACTION = 0.25
MIN_TRACK_FRAMES = 1
NO_FACE = "no face found"
JSON_DIGITS = 6  # decimals of probabilities and times in JSON output
DEFAULT_METHOD = VIDEO_RULES[0]
# the confident strategy's constants, as the DFDC winner set them
CONFIDENT_FAKE = 0.8  # p_fake above which a frame is a confident fake
CONFIDENT_REAL = 0.2  # p_fake below which a frame is a confident real
CONFIDENT_MIN_FAKES = 11  # confident fakes needed: more than this many ...
CONFIDENT_FAKE_DIVISOR = 2.5  # ... and more than n // this
CONFIDENT_REAL_FRACTION = 0.9  # confident reals needed: more than this fraction of n


def label_of(p_fake: float, threshold: float) -> str:
    return "fake" if p_fake >= threshold else "real"


def clip_probability(p: float, clip: tuple[float, float] = CLIP) -> float:
    return float(min(max(p, clip[0]), clip[1]))


def confident_mean(p_fake: Sequence[float]) -> float:
    """The DFDC winner's confident strategy over per-frame ``p_fake`` values (see the module docstring): the
    mean of the confident fakes (``> 0.8``) when there are more than ``n // 2.5`` and more than 11 of them, else
    the mean of the confident reals (``< 0.2``) when they are more than 90% of ``n``, else the plain mean."""
    p = np.asarray(p_fake, dtype=np.float64)
    if p.size == 0:
        raise DftagError("{parameter} is empty: the confident strategy needs at least one value",
                         parameter="p_fake")
    fakes = p[p > CONFIDENT_FAKE]
    if len(fakes) > len(p) // CONFIDENT_FAKE_DIVISOR and len(fakes) > CONFIDENT_MIN_FAKES:
        return float(fakes.mean())
    reals = p[p < CONFIDENT_REAL]
    if len(reals) > CONFIDENT_REAL_FRACTION * len(p):
        return float(reals.mean())
    return float(p.mean())


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

    @property
    def confident(self) -> float:
        """:func:`confident_mean` of the per-frame ``p_fake``."""
        return confident_mean(self.sorted_p)

    def add(self, frame: int, time: float, p_fake: float, ema_alpha: float) -> None:
        self.last_frame, self.last_time = frame, time
        self.ema = ema_alpha * p_fake + (1 - ema_alpha) * self.ema if self.sorted_p else p_fake
        self.total += p_fake
        bisect.insort(self.sorted_p, p_fake)


@dataclass(frozen=True)
class TrackSummary:
    """One track's result: ``mean_p_fake`` and ``robust_p_fake`` (the median) of its per-frame ``p_fake``;
    ``score`` the track score under the rule's method (the median for ``"median"``, :func:`confident_mean`
    otherwise) and ``label`` that score's label."""

    track_id: int
    first_frame: int
    last_frame: int
    first_time: float
    last_time: float
    frames_seen: int
    mean_p_fake: float
    robust_p_fake: float
    score: float
    label: str

    def to_json(self) -> dict:
        return {k: round(v, JSON_DIGITS) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class VideoScore:
    """``score`` is the clipped probability that the video is fake, made by the rule ``method``;
    ``faces_found`` the number of face detections it rests on (summed over tracks and frames; 0: no face, the
    score is the rule's ``prior``); ``tracks_used`` the ids of the tracks that counted, ``decisive_track``
    the one that set the score (``None`` without faces and for ``"confident-pooled"``, where all faces do)."""

    score: float
    label: str
    method: str
    faces_found: int
    tracks_used: tuple[int, ...]
    decisive_track: int | None

    @property
    def no_face(self) -> bool:
        return self.faces_found == 0

    def to_json(self) -> dict:
        """``score``, ``label``, ``video_rule`` (the method), ``faces_found``, ``no_face``, ``tracks_used`` and
        ``decisive_track``; a video without faces also carries ``prior``: the score it was given."""
        out = {"score": round(self.score, JSON_DIGITS), "label": self.label, "video_rule": self.method,
               "faces_found": self.faces_found, "no_face": self.no_face, "tracks_used": list(self.tracks_used),
               "decisive_track": self.decisive_track}
        if self.no_face:
            out["prior"] = out["score"]
        return out


@dataclass(frozen=True)
class ScoreRule:
    """The settings of the aggregation rules described in the module docstring; ``method`` is one of
    :data:`~dftag.core.video_rules.VIDEO_RULES`, ``video_temperature`` a positive number; either ``None``: from
    the model (:meth:`for_model`), else :data:`DEFAULT_METHOD` and no temperature."""

    method: str | None = None
    video_temperature: float | None = None
    threshold: float = FAKE_DECISION_THRESHOLD
    prior: float = 0.5
    clip: tuple[float, float] = CLIP
    ema_alpha: float = EMA_ALPHA
    min_track_fraction: float = MIN_TRACK_FRACTION
    min_track_frames: int = MIN_TRACK_FRAMES

    def __post_init__(self) -> None:
        if self.method is not None and self.method not in VIDEO_RULES:
            raise DftagError(f"{{parameter}} must be one of {', '.join(VIDEO_RULES)}, got {self.method!r}",
                             parameter="method")
        if self.video_temperature is not None and not self.video_temperature > 0:
            raise DftagError(f"{{parameter}} must be positive, got {self.video_temperature!r}",
                             parameter="video_temperature")

    @property
    def rule_name(self) -> str:
        """The method in use: ``method``, else :data:`DEFAULT_METHOD`."""
        return self.method or DEFAULT_METHOD

    def for_model(self, calibration: ModelCalibration) -> ScoreRule:
        """This rule with what it leaves unset taken from a model's calibration: ``method`` from its
        ``video_rule`` (else :data:`DEFAULT_METHOD`); ``video_temperature`` from its ``video_temperature`` when
        the method is the rule that temperature was fitted for (else 1, none)."""
        method = self.method or calibration.video_rule or DEFAULT_METHOD
        temperature = self.video_temperature
        if temperature is None:
            temperature = calibration.video_temperature if method == calibration.video_rule else 1.0
        return replace(self, method=method, video_temperature=temperature)

    def track_score(self, track: TrackHistory) -> float:
        """The track's score: its median ``p_fake`` for ``"median"``, :func:`confident_mean` otherwise."""
        return track.median if self.rule_name == "median" else track.confident

    def _calibrated(self, score: float) -> float:
        """A clipped raw video score, calibrated by ``video_temperature`` (module docstring)."""
        return scale_probability(score, self.video_temperature or 1.0, self.clip)

    def video_score(self, tracks: Sequence[TrackHistory]) -> VideoScore:
        method = self.rule_name
        if not tracks:
            return VideoScore(clip_probability(self.prior, self.clip), NO_FACE, method, 0, (), None)
        faces = sum(t.frames_seen for t in tracks)
        if method == "confident-pooled":
            score = self._calibrated(confident_mean([p for t in tracks for p in t.sorted_p]))
            return VideoScore(score, label_of(score, self.threshold), method, faces,
                              tuple(t.track_id for t in tracks), None)
        longest = max(t.frames_seen for t in tracks)
        needed = max(self.min_track_frames, self.min_track_fraction * longest)
        used = [(self.track_score(t), t) for t in tracks if t.frames_seen >= needed]
        best, decisive = max(used, key=lambda st: (st[0], -st[1].track_id))
        score = self._calibrated(best)
        return VideoScore(score, label_of(score, self.threshold), method, faces,
                          tuple(t.track_id for _, t in used), decisive.track_id)


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

    def scores_by_method(self) -> dict[str, float]:
        """The raw video score under each of :data:`~dftag.core.video_rules.VIDEO_RULES` (no video temperature,
        the other settings of the rule unchanged): what :func:`dftag.pipeline.video_calibration.pick_video_rule`
        compares and fits on validation videos."""
        tracks = list(self.tracks.values())
        return {method: replace(self.rule, method=method, video_temperature=None).video_score(tracks).score
                for method in VIDEO_RULES}

    def summaries(self) -> list[TrackSummary]:
        out = []
        for t in sorted(self.tracks.values(), key=lambda t: t.track_id):
            score = self.rule.track_score(t)
            out.append(TrackSummary(t.track_id, t.first_frame, t.last_frame, t.first_time, t.last_time,
                                    t.frames_seen, t.total / t.frames_seen, t.median, score,
                                    label_of(score, self.rule.threshold)))
        return out
