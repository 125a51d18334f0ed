"""Choosing a video-score rule on validation videos and calibrating its scores.

:func:`pick_video_rule` takes the raw video score of each validation video under each candidate rule (as
:class:`~dftag.pipeline.aggregate.ScoreRule` methods name them; ``dftag score`` records every rule's score of
each video as ``scores_by_rule`` in its details, see :func:`scores_by_rule`) and the videos' labels (1 fake,
0 real). It keeps the rule with the lowest validation log loss of its raw scores (clipped to ``clip``), then
fits temperature scaling (:func:`dftag.eval.calibration.fit_temperature`) to the video-score logit
``z = log(p / (1 - p))`` of that rule's clipped scores ``p``. The result, a :class:`VideoCalibration`, maps a
raw video score of that rule to ``sigmoid(z / T)``, clipped again to ``clip``.

What the calibrated number means: the probability that the video is fake, fitted so that on the validation
videos it has the lowest log loss a single temperature allows. Among videos like the validation ones that get
a calibrated score of 0.8, about 80% are fake, *if* new videos come from the same footage and the same mix of
fakes and reals as the validation set; for other footage or another fake share it is only a score. Scaling
the logit keeps the order of videos (ROC AUC is unchanged) and keeps 0.5 at 0.5, so a video without faces
(score ``prior`` = 0.5 by default) stays at the prior and the 0.5 threshold decides the same videos; ``T > 1``
pulls overconfident scores towards 0.5, ``T < 1`` spreads timid ones out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dftag.core.errors import DftagError
from dftag.eval.calibration import fit_temperature, logit, nll, scale_probability, sigmoid
from dftag.pipeline.aggregate import CLIP, JSON_DIGITS


@dataclass(frozen=True)
class VideoCalibration:
    """The rule chosen on validation videos and its temperature; call it on a raw video score of that rule
    for the calibrated probability that the video is fake (see the module docstring).

    ``val_log_loss``: each candidate rule's validation log loss of its clipped raw scores (nats per video);
    ``calibrated_log_loss``: the chosen rule's after calibration; ``videos``: validation videos used.
    """

    rule: str
    temperature: float
    clip: tuple[float, float]
    val_log_loss: dict[str, float]
    calibrated_log_loss: float
    videos: int

    def __call__(self, score: float) -> float:
        """The calibrated video score of a raw ``score`` (a probability under :attr:`rule`)."""
        return scale_probability(score, self.temperature, self.clip)

    def to_json(self) -> dict:
        return {"rule": self.rule, "temperature": round(self.temperature, JSON_DIGITS), "clip": list(self.clip),
                "val_log_loss": {k: round(v, JSON_DIGITS) for k, v in self.val_log_loss.items()},
                "calibrated_log_loss": round(self.calibrated_log_loss, JSON_DIGITS), "videos": self.videos}


def scores_by_rule(videos: Mapping[str, Mapping]) -> dict[str, dict[str, float]]:
    """``{rule: {video: score}}`` from per-video details by name (the ``"videos"`` of ``dftag score``'s details
    JSON, or annotate sidecars by name), each carrying ``scores_by_rule``."""
    out: dict[str, dict[str, float]] = {}
    for name, details in videos.items():
        if "scores_by_rule" not in details:
            raise DftagError(f"{{parameter}}: video {name!r} has no scores_by_rule (scored by an older dftag?)",
                             parameter="videos")
        for rule, score in details["scores_by_rule"].items():
            out.setdefault(rule, {})[name] = float(score)
    return out


def pick_video_rule(scores: Mapping[str, Mapping[str, float]], labels: Mapping[str, int],
                    clip: tuple[float, float] = CLIP) -> VideoCalibration:
    """Choose the rule with the lowest validation log loss and fit its temperature (module docstring).

    ``scores``: ``{rule: {video: raw score}}`` for the candidate rules (at least one), each covering every
    video in ``labels``; ``labels``: ``{video: 1 fake | 0 real}`` of the validation videos, both classes
    present; ``clip``: ``(low, high)`` with ``0 < low < high < 1``, the bounds raw and calibrated scores are
    clipped to. Ties go to the rule given first.
    """
    if not scores:
        raise DftagError("{parameter} is empty: give at least one candidate rule", parameter="scores")
    if not 0 < clip[0] < clip[1] < 1:
        raise DftagError(f"{{parameter}} must satisfy 0 < low < high < 1, got {tuple(clip)}", parameter="clip")
    names = sorted(labels)
    y = np.array([labels[n] for n in names], dtype=np.float64)
    if set(y.tolist()) != {0.0, 1.0}:
        raise DftagError("{parameter} must hold both fake (1) and real (0) videos, and nothing else",
                         parameter="labels")
    logits: dict[str, np.ndarray] = {}
    for rule, by_video in scores.items():
        missing = [n for n in names if n not in by_video]
        if missing:
            raise DftagError(f"{{parameter}}: rule {rule!r} has no score for {len(missing)} labelled videos "
                             f"(first: {missing[0]!r})", parameter="scores")
        logits[rule] = logit(np.clip([by_video[n] for n in names], *clip))
    losses = {rule: nll(z, y) for rule, z in logits.items()}
    best = min(losses, key=losses.get)
    temperature = fit_temperature(logits[best], y)
    calibrated = np.clip(sigmoid(logits[best] / temperature), *clip)
    return VideoCalibration(rule=best, temperature=temperature, clip=(float(clip[0]), float(clip[1])),
                            val_log_loss=losses, calibrated_log_loss=nll(logit(calibrated), y), videos=len(names))


def calibrate_scored_videos(videos: Mapping[str, Mapping], labels: Mapping[str, int], model_id: str,
                            source: str | os.PathLike | None = None) -> VideoCalibration:
    """:func:`pick_video_rule` on videos ``dftag score`` scored (``videos``: the details' ``"videos"`` by
    name) and their ``labels`` (``{name: 1 fake | 0 real}``; videos without a label are left out). Every
    video must have been scored by the model ``model_id`` (the checkpoint the result is meant for: a rule
    chosen on another model's scores, or on this one's before its face threshold changed, would not fit it);
    errors name ``source``, the details file."""
    others = sorted({str(d.get("model")) for d in videos.values()} - {model_id})
    if others:
        raise DftagError(f"videos were scored by {others[0]}, not by {model_id}: score them with this model",
                         source)
    labelled = {name: details for name, details in videos.items() if name in labels}
    if not labelled:
        raise DftagError("no scored video has a label", source)
    by_rule = scores_by_rule(labelled)
    return pick_video_rule(by_rule, {name: labels[name] for name in labelled})
