"""dftag score: frame sampling, aggregation, CSV format, sharding, workers, failing videos."""

import csv
import json

import numpy as np
import pytest

import dftag.tools.commands.score as score_command
from dftag.annotations.video import probe
from dftag.pipeline.aggregate import NO_FACE
from dftag.pipeline.scorer import ScoreSettings, find_videos, parse_shard, sample_indices, score_video, shard
from tests.face_clips import SquareDetector, face_clip


def fake_top(box):
    """p_fake 0.9 for faces in the upper half of a 64 px high clip, else 0.2."""
    return 0.9 if box[1] < 32 else 0.2


@pytest.fixture
def square_scoring(monkeypatch):
    monkeypatch.setattr(score_command, "detector_loader", lambda args: SquareDetector)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_sample_indices_are_evenly_spaced_over_the_estimated_frame_count(tmp_path):
    info = probe(face_clip(tmp_path / "v.mp4", frames=40, fps=10))
    assert sample_indices(info, 5) == [0, 10, 20, 29, 39]
    assert sample_indices(info, 100) == list(range(40))


def test_score_video_decodes_small_tracks_and_aggregates(tmp_path):
    video = face_clip(tmp_path / "v.mp4", frames=30, size=(96, 64), faces=2)
    detector = SquareDetector(p_fake=fake_top)
    result = score_video(video, detector, ScoreSettings(frames=10, decode_side=48))
    assert result["frames_sampled"] == 10 and sum(detector.calls) == 10
    assert len(result["frame_indices"]) == 10 and result["settings"]["reference_only"] is True
    spacing = 29 / 9  # 10 of 30 frames: each scored frame is its sampled place or a few frames after it
    assert all(0 <= got - place <= 3 for got, place in zip(result["frame_indices"], sample_indices(
        probe(video), 10))) and max(abs(g - i * spacing) for i, g in enumerate(result["frame_indices"])) < 4
    exact = score_video(video, SquareDetector(p_fake=fake_top), ScoreSettings(frames=10, decode_side=48,
                                                                              reference_only=False))
    assert exact["frame_indices"] == sample_indices(probe(video), 10)
    assert result["decode_size"] == [48, 32]
    assert [t["frames_seen"] for t in result["tracks"]] == [10, 10]
    assert result["score"] == pytest.approx(0.9) and result["label"] == "fake"
    assert result["video_info"]["width"] == 96 and result["timings"]["total_s"] > 0


@pytest.mark.parametrize("two_stage, frame_shape", [(False, (384, 640, 3)), (True, (480, 800, 3))])
def test_a_two_stage_detector_gets_full_size_frames(tmp_path, two_stage, frame_shape):
    """A single-stage detector gets frames decoded at DECODE_SIDE; a two-stage one (its classifier crops faces
    from the frame it is given) gets the source's pixels; an explicit decode_side applies to both."""
    video = face_clip(tmp_path / "v.mp4", frames=3, size=(800, 480), side=40)
    detector = SquareDetector(two_stage=two_stage)
    result = score_video(video, detector, ScoreSettings(frames=3))
    assert detector.shapes == [frame_shape] * 3
    assert result["decode_size"] == [frame_shape[1], frame_shape[0]] and result["score"] == pytest.approx(0.8)
    detector = SquareDetector(two_stage=two_stage)
    assert score_video(video, detector, ScoreSettings(frames=1, decode_side=400))["decode_size"] == [400, 240]
    assert detector.shapes == [(240, 400, 3)]


def test_cli_video_rule_is_used_and_recorded(tmp_path, dftag, square_scoring):
    face_clip(tmp_path / "in" / "v.mp4", frames=4)
    out = tmp_path / "s.csv"
    code, _, err = dftag("score", tmp_path / "in", "--model", "m.pt", "--out", out, "--frames", "2",
                         "--video-rule", "confident-pooled")
    assert code == 0, err
    details = json.loads((tmp_path / "s.details.json").read_text())
    assert details["settings"]["rule"]["method"] == "confident-pooled"
    assert details["videos"]["v.mp4"]["video_rule"] == "confident-pooled"
    assert details["videos"]["v.mp4"]["decisive_track"] is None  # the pooled rule: all faces decide
    assert read_csv(out)[1] == ["v.mp4", "0.8"]
    code, _, err = dftag("score", tmp_path / "in", "--model", "m.pt", "--out", out, "--video-rule", "mean")
    assert code == 2 and "--video-rule" in err and "invalid choice" in err


def test_cli_writes_dfdc_csv_and_details(tmp_path, dftag, square_scoring, make_video):
    face_clip(tmp_path / "in" / "b.mp4", frames=10)  # one face, p_fake 0.8 (the default)
    make_video("in/a.mp4", size=(64, 48), seconds=0.2, pattern="color")  # no face
    (tmp_path / "in" / "notes.txt").write_text("not a video, not picked up from a folder")
    out = tmp_path / "scores.csv"
    code, stdout, err = dftag("score", tmp_path / "in", "--model", "m.pt", "--out", out, "--frames", "4",
                              "--prior", "0.5")
    assert code == 0, err
    assert read_csv(out) == [["filename", "label"], ["a.mp4", "0.5"], ["b.mp4", "0.8"]]
    details = json.loads((tmp_path / "scores.details.json").read_text())
    assert details["videos"]["a.mp4"]["label"] == NO_FACE and details["errors"] == {}
    # which rule made each score, and a video without faces says so, with the prior it got
    assert {v["video_rule"] for v in details["videos"].values()} == {"median"}
    # the settings as given leave the rule and the face threshold to the model; each video records what it used
    assert details["settings"]["rule"]["method"] is None and details["settings"]["track"]["threshold"] is None
    assert details["videos"]["b.mp4"]["settings"]["rule"]["method"] == "median"
    assert details["videos"]["b.mp4"]["settings"]["track"]["threshold"] == 0.5
    no_face = details["videos"]["a.mp4"]
    assert (no_face["no_face"], no_face["faces_found"], no_face["prior"]) == (True, 0, 0.5)
    assert details["videos"]["b.mp4"]["no_face"] is False and details["videos"]["b.mp4"]["faces_found"] == 4
    assert details["videos"]["b.mp4"]["scores_by_rule"] == {"median": 0.8, "confident": 0.8,
                                                            "confident-pooled": 0.8}
    assert details["videos"]["b.mp4"]["frames_sampled"] == 4 and details["settings"]["frames"] == 4
    assert "scored 2 of 2" in stdout
    assert details["settings"]["reference_only"] is True
    code, _, err = dftag("score", tmp_path / "in" / "b.mp4", "--model", "m.pt", "--out", out, "--frames", "4",
                         "--exact-frames")
    assert code == 0, err
    assert json.loads((tmp_path / "scores.details.json").read_text())["settings"]["reference_only"] is False


def test_failing_video_is_reported_and_skipped(tmp_path, dftag, square_scoring):
    good = face_clip(tmp_path / "good.mp4", frames=4)
    (tmp_path / "broken.mp4").write_text("garbage")
    code, _, err = dftag("score", tmp_path / "broken.mp4", good, "--model", "m.pt", "--out", tmp_path / "s.csv")
    assert code == 1 and "broken.mp4" in err and "not a decodable video" in err and "Traceback" not in err
    assert read_csv(tmp_path / "s.csv") == [["filename", "label"], ["good.mp4", "0.8"]]
    assert "broken.mp4" in json.loads((tmp_path / "s.details.json").read_text())["errors"]


def test_two_workers_give_the_same_scores(tmp_path, dftag, square_scoring):
    for name in ("a", "b", "c"):
        face_clip(tmp_path / "in" / f"{name}.mp4", frames=4)
    code, _, err = dftag("score", tmp_path / "in", "--model", "m.pt", "--out", tmp_path / "s.csv", "--workers", "2",
                         "--frames", "2")
    assert code == 0, err
    assert read_csv(tmp_path / "s.csv")[1:] == [["a.mp4", "0.8"], ["b.mp4", "0.8"], ["c.mp4", "0.8"]]


def test_shards_partition_the_sorted_videos(tmp_path):
    videos = [tmp_path / f"{i:02d}.mp4" for i in range(10)]
    for v in videos:
        v.write_bytes(b"x")
    found = find_videos([tmp_path])
    parts = [shard(found, i, 3) for i in range(3)]
    assert sorted(sum(parts, [])) == videos and sum(map(len, parts)) == 10
    assert parts[1] == [videos[1], videos[4], videos[7]]
    assert shard(list(reversed(found)), 1, 3) == parts[1]  # independent of the input order
    assert parse_shard("2/4") == (2, 4)


@pytest.mark.parametrize("bad", ["4/4", "1/0", "1", "a/b"])
def test_bad_shard_is_one_clear_error(tmp_path, dftag, bad):
    code, _, err = dftag("score", tmp_path, "--model", "m.pt", "--out", tmp_path / "s.csv", "--shard", bad)
    assert code == 1 and "--shard" in err


def test_shard_cli_scores_only_its_slice(tmp_path, dftag, square_scoring):
    for name in ("a", "b", "c"):
        face_clip(tmp_path / "in" / f"{name}.mp4", frames=2)
    code, _, err = dftag("score", tmp_path / "in", "--model", "m.pt", "--out", tmp_path / "s.csv", "--shard", "1/2")
    assert code == 0, err
    assert read_csv(tmp_path / "s.csv") == [["filename", "label"], ["b.mp4", "0.8"]]


def test_output_over_an_input_and_ambiguous_names_are_refused(tmp_path, dftag, square_scoring):
    video = face_clip(tmp_path / "v.mp4", frames=2)
    code, _, err = dftag("score", video, "--model", "m.pt", "--out", tmp_path / "v.csv")
    assert code == 0, err  # v.csv and v.details.json beside v.mp4 are fine
    code, _, err = dftag("score", video, "--model", "m.pt", "--out", video)
    assert code == 1 and "overwrite an input" in err
    twin = face_clip(tmp_path / "sub" / "v.mp4", frames=2)
    code, _, err = dftag("score", video, twin, "--model", "m.pt", "--out", tmp_path / "s.csv")
    assert code == 1 and "ambiguous" in err


class LaneScoreDetector(SquareDetector):
    """A :class:`SquareDetector` whose detection score and face probability are 0.9 for squares below y = 40
    px, else 0.4."""

    def predict(self, images, score_threshold: float = 0.0, batch_size: int = 8, by_face: bool = False):
        out = super().predict(images, score_threshold, batch_size, by_face)
        for det in out:
            det.scores[:] = det.face_scores[:] = np.where(det.boxes[:, 1] > 40, 0.9, 0.4)
        return out


def test_no_face_found_says_at_which_detection_score(tmp_path, dftag, monkeypatch, make_video):
    face_clip(tmp_path / "in" / "weak.mp4", frames=4, size=(96, 64))  # square at y 24: score 0.4
    make_video("in/empty.mp4", size=(64, 48), seconds=0.2, pattern="color")
    face_clip(tmp_path / "in" / "zz.mp4", frames=4, size=(96, 128))  # square at y 56: score 0.9, a face
    monkeypatch.setattr(score_command, "detector_loader", lambda args: LaneScoreDetector)
    out = tmp_path / "s.csv"
    code, stdout, err = dftag("score", tmp_path / "in", "--model", "m.pt", "--out", out, "--frames", "2")
    assert code == 0, err
    details_file = stdout.split("(details: ")[1].split(")")[0]
    details = json.loads(open(details_file).read())["videos"]
    assert details["weak.mp4"]["detections"] == {"frames": 2, "min_score": 0.2, "count": 2, "threshold": 0.5,
                                                 "at_threshold": 0, "best_score": 0.4}
    assert details["empty.mp4"]["detections"]["count"] == 0
    assert details["zz.mp4"]["detections"]["at_threshold"] == 2 and not details["zz.mp4"]["no_face"]
    assert ("2 of 3 videos: no face found at face probability >= 0.5 (--threshold), scored --prior 0.5: "
            "empty.mp4: no detection at score >= 0.2 on 2 frames; "
            "weak.mp4: 2 detections at score >= 0.2 on 2 frames, 0 at face probability >= 0.5 (best 0.4)\n") in stdout


def test_the_model_calibration_sets_face_threshold_and_video_rule_unless_given(tmp_path):
    """An uncalibrated model tracks from face probability 0.5 with the median rule; a calibrated one uses its
    face threshold, its video rule and that rule's temperature; settings given explicitly win."""
    from dftag.detector.model_calibration import ModelCalibration
    from dftag.eval.calibration import logit, sigmoid
    from dftag.pipeline.aggregate import ScoreRule
    from dftag.pipeline.annotator import TrackSettings

    video = face_clip(tmp_path / "v.mp4", frames=4)
    weak = SquareDetector(score=0.3)  # every face at face probability 0.3, p_fake 0.8
    assert score_video(video, weak, ScoreSettings(frames=4))["no_face"]
    weak.calibration = ModelCalibration(face_threshold=0.25, video_rule="confident-pooled", video_temperature=2.0)
    result = score_video(video, weak, ScoreSettings(frames=4))
    assert not result["no_face"] and result["video_rule"] == "confident-pooled"
    assert result["score"] == pytest.approx(float(sigmoid(logit(0.8) / 2.0)), abs=1e-6)
    assert result["scores_by_rule"]["confident-pooled"] == pytest.approx(0.8)  # raw: what calibration fits
    assert result["settings"]["track"] == {**result["settings"]["track"], "threshold": 0.25, "low_threshold": 0.2}
    given = ScoreSettings(frames=4, track=TrackSettings(threshold=0.5), rule=ScoreRule(method="median"))
    result = score_video(video, weak, given)
    assert result["no_face"] and result["video_rule"] == "median"
    # the model's temperature belongs to its rule: another rule chosen explicitly is not rescaled
    result = score_video(video, weak, ScoreSettings(frames=4, rule=ScoreRule(method="median")))
    assert result["score"] == pytest.approx(0.8) and result["settings"]["rule"]["video_temperature"] == 1.0
