"""Per-track and per-video score rules (dftag.pipeline.aggregate)."""

import pytest

from dftag.core.errors import DftagError
from dftag.core.video_rules import VIDEO_RULES
from dftag.pipeline.aggregate import NO_FACE, ScoreRule, TrackScores, confident_mean


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


# --- the DFDC winner's confident strategy, by hand ---------------------------------------------------------

def test_confident_fakes_are_averaged_when_more_than_11_and_more_than_n_over_2_5():
    # n = 20: n // 2.5 = 8, so "more than 11" is the binding condition: 12 confident fakes take the branch
    twelve = [0.85] * 6 + [0.95] * 6 + [0.5] * 8
    assert confident_mean(twelve) == pytest.approx(0.9)
    eleven = [0.9] * 11 + [0.5] * 9
    assert confident_mean(eleven) == pytest.approx((11 * 0.9 + 9 * 0.5) / 20)  # plain mean


def test_confident_fakes_need_more_than_n_floordiv_2_5():
    # n = 40: n // 2.5 = 16 > 11 is the binding condition: 16 confident fakes do not take the branch, 17 do
    assert confident_mean([0.9] * 16 + [0.5] * 24) == pytest.approx((16 * 0.9 + 24 * 0.5) / 40)
    assert confident_mean([0.9] * 17 + [0.5] * 23) == pytest.approx(0.9)
    # n = 32 (dftag score's and the winner's frame count): 32 // 2.5 = 12, so 13 are needed
    assert confident_mean([0.9] * 12 + [0.5] * 20) == pytest.approx((12 * 0.9 + 20 * 0.5) / 32)
    assert confident_mean([0.9] * 13 + [0.5] * 19) == pytest.approx(0.9)


def test_confident_reals_are_averaged_when_more_than_90_percent():
    # n = 20: more than 18 confident reals needed
    assert confident_mean([0.05] * 10 + [0.15] * 9 + [0.9]) == pytest.approx((10 * 0.05 + 9 * 0.15) / 19)
    assert confident_mean([0.1] * 18 + [0.9] * 2) == pytest.approx((18 * 0.1 + 2 * 0.9) / 20)  # plain mean


def test_confident_thresholds_are_strict():
    assert confident_mean([0.8] * 12 + [0.5] * 8) == pytest.approx((12 * 0.8 + 8 * 0.5) / 20)  # 0.8 is no fake
    assert confident_mean([0.2] * 19 + [0.6]) == pytest.approx((19 * 0.2 + 0.6) / 20)  # 0.2 is no real


def test_confident_plain_mean_and_short_inputs():
    assert confident_mean([0.3, 0.5, 0.7, 0.9]) == pytest.approx(0.6)
    assert confident_mean([0.95] * 5) == pytest.approx(0.95)  # too few to be confident: the plain mean
    assert confident_mean([0.1]) == pytest.approx(0.1)  # one value: the confident-real branch, same number
    with pytest.raises(DftagError, match="p_fake is empty"):
        confident_mean([])


# --- the rules on tracks -----------------------------------------------------------------------------------

# track 1: a real face; track 2: 7 confident-fake frames and 5 unsure ones; track 3: a 2-frame glitch
MIXED = {1: [0.1] * 12, 2: [0.9, 0.5] * 5 + [0.9, 0.9], 3: [0.95] * 2}


def test_the_three_methods_on_one_video():
    median = scores_for(MIXED).video_score()
    assert median.method == "median" and median.tracks_used == (1, 2) and median.decisive_track == 2
    assert median.score == pytest.approx(0.9)  # track 2's median
    confident = scores_for(MIXED, ScoreRule(method="confident")).video_score()
    assert confident.tracks_used == (1, 2) and confident.decisive_track == 2
    assert confident.score == pytest.approx((7 * 0.9 + 5 * 0.5) / 12)  # 7 fakes are too few: plain mean
    pooled = scores_for(MIXED, ScoreRule(method="confident-pooled")).video_score()
    # all 26 faces pooled, the glitch too: 9 confident fakes, 12 confident reals: the plain mean
    assert pooled.tracks_used == (1, 2, 3) and pooled.decisive_track is None
    assert pooled.score == pytest.approx((12 * 0.1 + 7 * 0.9 + 5 * 0.5 + 2 * 0.95) / 26)
    assert pooled.faces_found == median.faces_found == 26
    assert scores_for(MIXED).scores_by_method() == pytest.approx(
        {"median": median.score, "confident": confident.score, "confident-pooled": pooled.score})


def test_confident_catches_a_partly_fake_track_that_the_median_misses():
    # 30 frames, 14 of them confidently fake (more than 30 // 2.5 = 12 and more than 11)
    track = {1: [0.95] * 14 + [0.3] * 16}
    assert scores_for(track).video_score().label == "real"  # median 0.3
    video = scores_for(track, ScoreRule(method="confident")).video_score()
    assert video.score == pytest.approx(0.95) and video.label == "fake"
    (summary,) = scores_for(track, ScoreRule(method="confident")).summaries()
    assert summary.robust_p_fake == pytest.approx(0.3) and summary.score == pytest.approx(0.95)
    assert summary.label == "fake"


def test_pooled_scores_are_clipped_and_unknown_methods_refused():
    assert scores_for({1: [1.0] * 13, 2: [1.0] * 13}, ScoreRule(method="confident-pooled")).video_score().score \
        == pytest.approx(0.99)
    with pytest.raises(DftagError, match="method must be one of median, confident, confident-pooled"):
        ScoreRule(method="mean")


def test_video_json_names_the_rule_and_the_faces_found():
    data = scores_for({1: [0.7] * 3}, ScoreRule(method="confident")).video_score().to_json()
    assert data["video_rule"] == "confident" and data["faces_found"] == 3 and data["no_face"] is False
    assert "prior" not in data


@pytest.mark.parametrize("method", ["median", "confident", "confident-pooled"])
def test_no_face_says_so_with_the_prior_under_every_method(method):
    scores = TrackScores(ScoreRule(method=method, prior=0.37))
    data = scores.video_score().to_json()
    assert data == {"score": 0.37, "label": NO_FACE, "video_rule": method, "faces_found": 0, "no_face": True,
                    "tracks_used": [], "decisive_track": None, "prior": 0.37}
    assert scores.scores_by_method() == pytest.approx({m: 0.37 for m in VIDEO_RULES})
