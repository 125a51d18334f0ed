"""dftag annotate: frame counts, timestamps, audio, rotation, tracking, sidecar, bad input."""

import json
import subprocess

import numpy as np
import pytest

import dftag.tools.commands.annotate as annotate_command
from dftag.annotations.video import ffmpeg_exe, probe, read_frames
from dftag.core.detections import Detections
from dftag.core.errors import DftagError
from dftag.pipeline.aggregate import NO_FACE
from dftag.pipeline.annotator import AnnotateSettings, TrackSettings, annotate_video
from dftag.pipeline.render import COLORS, Renderer
from tests.face_clips import SquareDetector, add_audio, face_clip

VFR_TIMES = [i * 0.1 for i in range(8)] + [0.8 + i * 0.25 for i in range(8)]


@pytest.fixture
def square_detector(monkeypatch):
    """Make the CLI use a :class:`SquareDetector` whatever --model says; returns the instance."""
    detector = SquareDetector(p_fake=lambda box: 0.9 if box[1] < 32 else 0.2)
    monkeypatch.setattr(annotate_command, "detector_loader", lambda args: lambda: detector)
    return detector


def test_vfr_clip_with_audio_keeps_frames_timestamps_audio_and_track_ids(tmp_path):
    src = add_audio(face_clip(tmp_path / "v.mp4", frames=len(VFR_TIMES), faces=2, timestamps=VFR_TIMES),
                    tmp_path / "talk.mp4")
    detector = SquareDetector(p_fake=lambda box: 0.9 if box[1] < 32 else 0.2)
    result = annotate_video(src, tmp_path / "out", detector, AnnotateSettings(stride=3, save_frame=4))

    out = tmp_path / "out" / "talk.mp4"
    frames_in, frames_out = list(read_frames(src)), list(read_frames(out))
    assert len(frames_out) == len(frames_in) == result["frame_count"] == len(VFR_TIMES)
    assert [f.timestamp for f in frames_out] == pytest.approx([f.timestamp for f in frames_in], abs=1e-4)
    info = probe(out)
    assert info.has_audio and info.codec == "h264" and (info.width, info.height) == (96, 64)
    # detection on every 3rd frame, in batches; boxes carried forward in between
    assert sum(detector.calls) == len(range(0, len(VFR_TIMES), 3))
    assert [f["detected"] for f in result["frames"]] == [i % 3 == 0 for i in range(len(VFR_TIMES))]
    ids = [[face["track_id"] for face in f["faces"]] for f in result["frames"]]
    assert ids == [[1, 2]] * len(VFR_TIMES)
    assert [t["frames_seen"] for t in result["tracks"]] == [6, 6]
    assert [t["label"] for t in result["tracks"]] == ["fake", "real"]
    assert result["score"] == pytest.approx(0.9) and result["label"] == "fake" and result["decisive_track"] == 1
    assert result["model"] == "square-detector" and result["settings"]["stride"] == 3
    # the sidecar on disk is the returned dict; boxes are COCO xywh
    assert json.loads((tmp_path / "out" / "talk.json").read_text())["tracks"] == result["tracks"]
    x, y, w, h = result["frames"][0]["faces"][0]["bbox"]
    assert (w, h) == (16, 16) and y < 32
    png = tmp_path / "out" / "talk_frame4.png"
    assert png.is_file() and png.stat().st_size > 0


def test_renderer_draws_class_colours_banner_and_leaves_the_rest_alone():
    image = np.full((240, 320, 3), 100, np.uint8)
    renderer = Renderer(320, 240, duration=10.0)
    # a fake face (p_fake 0.9, track 1) and a real one (0.1, track 2)
    faces = Detections(boxes=[[40, 100, 100, 160], [200, 100, 260, 160]], labels=[2, 1], scores=[0.9, 0.9],
                       fake_logit=[2.2, -2.2], p_fake=[0.9, 0.1], track_ids=[1, 2])
    renderer.draw(image, faces, faces.p_fake, time=5.0, score=0.9, label="fake")
    assert tuple(image[130, 40]) == COLORS["fake"] and tuple(image[130, 200]) == COLORS["real"]
    assert (image[: renderer.banner_h, 0] < 100).all()  # banner darkened
    assert (image[200:, :] == 100).all() and (image[130, 110:190] == 100).all()  # untouched elsewhere
    # the timeline has drawn the score up to the middle of its width, nothing after
    tl = image[: renderer.banner_h, renderer.timeline_x + 2: renderer.timeline_x + renderer.timeline_w - 2]
    drawn = np.flatnonzero((tl == COLORS["fake"]).all(axis=2).any(axis=0))
    assert len(drawn) and drawn.max() <= renderer.timeline_w // 2


def test_rotated_phone_video_is_annotated_upright(tmp_path):
    src = face_clip(tmp_path / "src.mp4", frames=4, size=(96, 64))
    rotated = tmp_path / "phone.mp4"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-display_rotation:v:0", "90", "-i", str(src),
                    "-c", "copy", str(rotated)], check=True)
    result = annotate_video(rotated, tmp_path / "out", SquareDetector())
    info = probe(tmp_path / "out" / "phone.mp4")
    assert (info.width, info.height, info.rotation) == (64, 96, 0)
    x, y, w, h = result["frames"][0]["faces"][0]["bbox"]
    assert x + w <= 64 and y + h <= 96 and (w, h) == (16, 16)


@pytest.mark.parametrize("size, frames", [((95, 63), 3), ((96, 64), 1), ((3840, 2160), 1)])
def test_odd_sizes_one_frame_and_4k_work(tmp_path, size, frames):
    src = face_clip(tmp_path / "v.mkv", frames=frames, size=size, side=40)
    result = annotate_video(src, tmp_path / "out", SquareDetector(), AnnotateSettings(stride=2))
    out = tmp_path / "out" / "v.mp4"
    info = probe(out)
    assert info.width % 2 == 0 and info.height % 2 == 0
    assert (info.width - size[0], info.height - size[1]) in {(0, 0), (1, 1)}
    assert len(list(read_frames(out))) == frames == result["frame_count"]
    assert result["tracks"] and result["tracks"][0]["frames_seen"] == (frames + 1) // 2


def test_no_face_gives_the_prior(tmp_path, make_video):
    src = make_video("empty.mp4", size=(64, 48), seconds=0.2, audio=True, pattern="color")
    settings = AnnotateSettings(track=TrackSettings(), rule=AnnotateSettings().rule.__class__(prior=0.3))
    result = annotate_video(src, tmp_path / "out", SquareDetector(), settings)
    assert result["label"] == NO_FACE and result["score"] == pytest.approx(0.3) and result["tracks"] == []
    assert (result["no_face"], result["faces_found"], result["prior"]) == (True, 0, 0.3)
    assert result["video_rule"] == "median"
    assert probe(tmp_path / "out" / "empty.mp4").has_audio


def test_output_equal_to_input_is_refused(tmp_path):
    src = face_clip(tmp_path / "v.mp4", frames=2)
    with pytest.raises(DftagError, match="overwrite the input"):
        annotate_video(src, tmp_path, SquareDetector())
    assert len(list(read_frames(src))) == 2


def test_cli_with_a_tiny_random_checkpoint(tmp_path, dftag, tiny_checkpoint):
    src = face_clip(tmp_path / "v.mp4", frames=4)
    code, out, err = dftag("annotate", src, "--model", tiny_checkpoint, "--out", tmp_path / "out", "--stride", "2",
                           "--prior", "0.4", "--save-frame", "1")
    assert code == 0, err
    sidecar = json.loads((tmp_path / "out" / "v.json").read_text())
    assert sidecar["model"].startswith("ssdlite-mnv2@") and sidecar["temperature"] == 1.0
    assert sidecar["frame_count"] == 4 and len(list(read_frames(tmp_path / "out" / "v.mp4"))) == 4
    # a random network finds nothing at threshold 0.5: the prior, labelled as such
    assert sidecar["label"] == NO_FACE and sidecar["score"] == pytest.approx(0.4)
    assert "v.mp4" in out and (tmp_path / "out" / "v_frame1.png").is_file()


def test_cli_video_rule_is_used_and_recorded_in_the_sidecar(tmp_path, dftag, square_detector):
    # two faces over 14 frames: the top one fake (0.9), the bottom one real (0.2)
    src = face_clip(tmp_path / "v.mp4", frames=14, faces=2)
    code, _, err = dftag("annotate", src, "--model", "m.pt", "--out", tmp_path / "out", "--video-rule", "confident")
    assert code == 0, err
    sidecar = json.loads((tmp_path / "out" / "v.json").read_text())
    assert sidecar["settings"]["rule"]["method"] == "confident" and sidecar["video_rule"] == "confident"
    assert (sidecar["faces_found"], sidecar["no_face"], sidecar["decisive_track"]) == (28, False, 1)
    # 14 fake frames: more than 11 and more than 14 // 2.5, so the confident mean of those
    assert sidecar["score"] == pytest.approx(0.9) and [t["score"] for t in sidecar["tracks"]] == [0.9, 0.2]
    # pooled: 28 faces, 14 confident fakes (more than 28 // 2.5 = 11): the real face does not dilute them
    assert sidecar["scores_by_rule"] == {"median": 0.9, "confident": 0.9, "confident-pooled": 0.9}


def _bad_inputs(tmp_path, make_video):
    good = face_clip(tmp_path / "good.mp4", frames=30)
    data = good.read_bytes()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video at all\n" * 20)
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    audio = tmp_path / "audio.m4a"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=0.5", str(audio)],
                   check=True)
    return {"empty.mp4": "0 bytes", "text.mp4": "not a decodable video", "truncated.mp4": "could not decode",
            "audio.m4a": "no video stream", "missing.mp4": "not found"}


def test_each_bad_input_gives_one_error_line_and_no_output(tmp_path, dftag, make_video, square_detector):
    for name, message in _bad_inputs(tmp_path, make_video).items():
        code, out, err = dftag("annotate", tmp_path / name, "--model", "unused.pt", "--out", tmp_path / "out")
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and name in lines[0] and message in lines[0], (name, err)
        assert "Traceback" not in err
        assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_batch_skips_a_bad_file_and_annotates_the_rest(tmp_path, dftag, square_detector):
    good = face_clip(tmp_path / "good.mp4", frames=3)
    (tmp_path / "bad.mp4").write_bytes(b"")
    code, out, err = dftag("annotate", tmp_path / "bad.mp4", good, "--model", "m.pt", "--out", tmp_path / "out")
    assert code == 1 and "bad.mp4" in err and "0 bytes" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.json", "good.mp4"]


def test_cli_refuses_in_place_output_and_name_clashes(tmp_path, dftag, square_detector):
    good = face_clip(tmp_path / "good.mp4", frames=2)
    code, _, err = dftag("annotate", good, "--model", "m.pt", "--out", tmp_path)
    assert code == 1 and "overwrite the input" in err
    other = face_clip(tmp_path / "sub" / "good.mp4", frames=2)
    code, _, err = dftag("annotate", good, other, "--model", "m.pt", "--out", tmp_path / "out")
    assert code == 1 and "collide" in err
    assert np.array_equal(next(read_frames(good)).image, next(read_frames(other)).image)


def test_labels_of_adjacent_faces_do_not_hide_each_other():
    import cv2

    from dftag.pipeline.render import FONT

    image = np.full((240, 320, 3), 100, np.uint8)
    renderer = Renderer(320, 240, duration=None)
    # two faces side by side, 4 px apart: the first label is wider than its box and would run under the second
    faces = Detections(boxes=[[40, 100, 80, 150], [84, 100, 124, 150]], labels=[2, 1], scores=[0.9, 0.9],
                       fake_logit=[2.2, -2.2], p_fake=[0.9, 0.1], track_ids=[1, 2])
    renderer.draw_faces(image, faces, faces.p_fake)
    (tw, th), base = cv2.getTextSize("fake 0.90 #1", FONT, renderer.font_scale, renderer.text_thickness)
    assert 40 + tw > 84  # the labels would overlap where they usually go
    # the first label, at its usual place above its box, is whole: its far corner below the text keeps its colour
    assert tuple(image[99, 40 + tw]) == COLORS["fake"]
    rects = renderer.label_boxes(faces, ["fake 0.90 #1", "real 0.10 #2"])
    (a, b) = rects
    assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    # the second one went below its box, in its own colour
    assert b[1] >= 150 and tuple(image[b[3] - 1, b[2] - 1]) == COLORS["real"]


def test_no_face_found_says_at_which_detection_score(tmp_path, dftag, monkeypatch):
    src = face_clip(tmp_path / "v.mp4", frames=4)
    weak = SquareDetector(score=0.3)  # finds the face, but below --threshold 0.5
    monkeypatch.setattr(annotate_command, "detector_loader", lambda args: lambda: weak)
    code, out, err = dftag("annotate", src, "--model", "m.pt", "--out", tmp_path / "out")
    assert code == 0, err
    sidecar = json.loads((tmp_path / "out" / "v.json").read_text())
    assert sidecar["label"] == NO_FACE
    assert sidecar["detections"] == {"frames": 4, "min_score": 0.2, "count": 4, "threshold": 0.5,
                                     "at_threshold": 0, "best_score": 0.3}
    assert ("no face found at face probability >= 0.5 (--threshold): 4 detections at score >= 0.2 on 4 frames, "
            "0 at face probability >= 0.5 (best 0.3)") in out
