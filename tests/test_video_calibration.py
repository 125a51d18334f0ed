"""Choosing the video-score rule on validation videos and calibrating it (dftag.pipeline.video_calibration)."""

import numpy as np
import pytest

from dftag.core.errors import DftagError
from dftag.eval.calibration import logit, sigmoid
from dftag.pipeline.video_calibration import pick_video_rule, scores_by_rule

WIDE = (1e-6, 1 - 1e-6)  # clip bounds that leave the synthetic logits alone


def synthetic_val(n: int = 3000, scale: float = 2.5, seed: int = 0):
    """Videos whose true fake probability is sigmoid(z): rule "sharp" reports sigmoid(scale * z) (overconfident
    by ``scale``), rule "noise" ignores the video."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, n)
    names = [f"v{i}.mp4" for i in range(n)]
    labels = dict(zip(names, (rng.random(n) < sigmoid(z)).astype(int).tolist()))
    scores = {"noise": dict(zip(names, rng.random(n).tolist())),
              "sharp": dict(zip(names, sigmoid(scale * z).tolist()))}
    return scores, labels


def test_the_better_rule_wins_and_the_temperature_recovers_the_scale():
    scores, labels = synthetic_val(scale=2.5)
    calibration = pick_video_rule(scores, labels, clip=WIDE)
    assert calibration.rule == "sharp" and calibration.videos == 3000
    assert calibration.val_log_loss["sharp"] < calibration.val_log_loss["noise"]
    assert calibration.temperature == pytest.approx(2.5, rel=0.08)
    assert calibration.calibrated_log_loss < calibration.val_log_loss["sharp"]
    # the calibrated score is sigmoid(logit / T): order and the 0.5 point kept, overconfidence undone
    assert calibration(0.5) == pytest.approx(0.5)
    assert calibration(float(sigmoid(2.5 * 1.0))) == pytest.approx(float(sigmoid(1.0)), abs=0.02)
    assert calibration(0.2) < calibration(0.3) < 0.5
    data = calibration.to_json()
    assert data["rule"] == "sharp" and set(data["val_log_loss"]) == {"noise", "sharp"}


def test_default_clip_bounds_raw_and_calibrated_scores():
    scores, labels = synthetic_val(n=400, scale=0.3)  # timid scores: T < 1 spreads them out
    calibration = pick_video_rule(scores, labels)
    assert calibration.temperature < 1 and calibration.clip == (0.01, 0.99)
    assert calibration(1.0) == pytest.approx(0.99) and calibration(0.0) == pytest.approx(0.01)


def test_ties_go_to_the_first_rule_and_bad_input_is_refused():
    labels = {"a": 1, "b": 0}
    same = {"a": 0.7, "b": 0.4}
    assert pick_video_rule({"median": same, "confident": dict(same)}, labels).rule == "median"
    with pytest.raises(DftagError, match="scores: rule 'confident' has no score for 1 labelled videos"):
        pick_video_rule({"median": same, "confident": {"a": 0.7}}, labels)
    with pytest.raises(DftagError, match="labels must hold both"):
        pick_video_rule({"median": same}, {"a": 1, "b": 1})
    with pytest.raises(DftagError, match="scores is empty"):
        pick_video_rule({}, labels)
    with pytest.raises(DftagError, match="clip must satisfy"):
        pick_video_rule({"median": same}, labels, clip=(0.0, 1.0))


def test_scores_by_rule_reads_score_details():
    videos = {"a.mp4": {"score": 0.7, "scores_by_rule": {"median": 0.7, "confident": 0.9}},
              "b.mp4": {"score": 0.5, "scores_by_rule": {"median": 0.5, "confident": 0.5}}}
    assert scores_by_rule(videos) == {"median": {"a.mp4": 0.7, "b.mp4": 0.5},
                                      "confident": {"a.mp4": 0.9, "b.mp4": 0.5}}
    with pytest.raises(DftagError, match="'c.mp4' has no scores_by_rule"):
        scores_by_rule({"c.mp4": {"score": 0.5}})


def test_logit_inverts_sigmoid():
    p = np.array([0.01, 0.3, 0.5, 0.99])
    assert sigmoid(logit(p)) == pytest.approx(p)
    assert logit(np.array([0.0, 1.0])).tolist() == [-np.inf, np.inf]
