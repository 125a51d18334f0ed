"""Per-track and per-video score rules (dftag.pipeline.aggregate)."""

import pytest

from dftag.pipeline.aggregate import NO_FACE, ScoreRule, TrackScores


def scores_for(tracks: dict[int, list[float]], rule: ScoreRule = ScoreRule()) -> TrackScores:
    scores = TrackScores(rule)
    for track_id, values in tracks.items():
        for frame, p in enumerate(values):
            scores.add(track_id, frame, frame / 10, p)
    return scores


def test_track_summary_uses_median_and_mean_and_frame_range():
    scores = scores_for({3: [0.9, 0.8, 0.05, 0.85, 0.9]})
    (summary,) = scores.summaries()
    assert summary.track_id == 3 and summary.frames_seen == 5
    assert (summary.first_frame, summary.last_frame) == (0, 4)
    assert summary.robust_p_fake == pytest.approx(0.85)  # the 0.05 outlier does not move the median
    assert summary.mean_p_fake == pytest.approx(0.7)
    assert summary.label == "fake"
    assert scores_for({1: [0.2, 0.4]}).summaries()[0].robust_p_fake == pytest.approx(0.3)


def test_smoothed_value_is_an_ema():
    scores = TrackScores(ScoreRule(ema_alpha=0.5))
    assert scores.add(1, 0, 0.0, 0.2) == pytest.approx(0.2)
    assert scores.add(1, 1, 0.1, 0.6) == pytest.approx(0.4)
    assert scores.add(1, 2, 0.2, 1.0) == pytest.approx(0.7)
    assert scores.smoothed(1) == pytest.approx(0.7)


def test_video_is_as_fake_as_its_most_fake_track_with_enough_frames():
    # track 1: real face over 20 frames; track 2: fake face over 10; track 3: a 2-frame glitch at 0.95
    scores = scores_for({1: [0.1] * 20, 2: [0.7] * 10, 3: [0.95] * 2}, ScoreRule(min_track_fraction=0.25))
    video = scores.video_score()
    assert video.tracks_used == (1, 2)
    assert video.decisive_track == 2
    assert video.score == pytest.approx(0.7) and video.label == "fake"


def test_real_video_and_threshold():
    video = scores_for({1: [0.3] * 8, 2: [0.2] * 8}).video_score()
    assert video.score == pytest.approx(0.3) and video.label == "real"
    assert scores_for({1: [0.3] * 8}, ScoreRule(threshold=0.25)).video_score().label == "fake"


def test_scores_are_clipped_for_log_loss():
    assert scores_for({1: [1.0] * 3}).video_score().score == pytest.approx(0.99)
    assert scores_for({1: [0.0] * 3}).video_score().score == pytest.approx(0.01)
    assert scores_for({1: [0.0] * 3}, ScoreRule(clip=(0.0, 1.0))).video_score().score == 0.0


def test_no_face_gives_the_prior():
    video = TrackScores(ScoreRule(prior=0.37)).video_score()
    assert video.score == pytest.approx(0.37) and video.label == NO_FACE and video.decisive_track is None
    assert video.to_json()["tracks_used"] == []
