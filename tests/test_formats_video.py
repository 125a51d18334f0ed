"""Video formats through ``dftag convert``: CVAT for video, Label Studio video, MOT, DFDC, groups, zip input."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def _load(out: Path) -> dict:
    return json.loads((out / "annotations.json").read_text())


def _boxes_by_frame(coco: dict) -> dict[int, list[tuple[int, list[float], int | None]]]:
    frame_of = {img["id"]: img["frame_index"] for img in coco["images"]}
    out: dict[int, list] = {}
    for ann in coco["annotations"]:
        out.setdefault(frame_of[ann["image_id"]], []).append((ann["category_id"], ann["bbox"], ann.get("track_id")))
    return out


@pytest.fixture
def clip(make_video, tmp_path):
    """The media folder holding clip.mp4 (outputs go beside it: an output may not lie inside an input)."""
    (tmp_path / "media").mkdir()
    make_video("media/clip.mp4", size=(160, 120), fps=25, seconds=1.0)
    return tmp_path / "media"


def test_cvat_video_interpolates_between_keyframes_and_honours_outside(clip, dftag):
    out = clip.parent / "ds"
    code, stdout, err = dftag("convert", "--format", "cvat-video", "--input", FIXTURES / "cvat_video.xml",
                              "--media", clip, "--out", out)
    assert code == 0, err
    coco = _load(out)
    frames = _boxes_by_frame(coco)
    # track 0: visible 0-5 (outside at 6), again 10-11 (outside at 12); track 1 from 20 to the task's stop frame 24
    assert sorted(frames) == [0, 1, 2, 3, 4, 5, 10, 11, 20, 21, 22, 23, 24]
    assert frames[2] == [(2, [20.0, 15.0, 40.0, 40.0], 0)]  # halfway between frame 0 and keyframe 4
    assert frames[5] == [(2, [30.0, 20.0, 40.0, 40.0], 0)]
    assert frames[24] == [(1, [100.0, 60.0, 50.0, 50.0], 1)]  # "REAL" maps to real, case-insensitively
    image = coco["images"][0]
    assert image["video"].endswith("clip.mp4") and image["group"] == "clip"
    assert image["width"] == 160 and image["height"] == 120
    assert [img["timestamp"] for img in coco["images"][:3]] == [0.0, 0.04, 0.08]
    assert all((out / "images" / img["file_name"]).is_file() for img in coco["images"])
    assert "images: 13" in stdout and "real 5, fake 8" in stdout


def test_cvat_video_every_thins_frames(clip, dftag):
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", FIXTURES / "cvat_video.xml",
                         "--media", clip, "--out", clip.parent / "ds", "--every", "5")
    assert code == 0, err
    assert sorted(_boxes_by_frame(_load(clip.parent / "ds"))) == [0, 5, 10, 20]


def test_cvat_video_folder_of_xmls_and_zip_export(clip, make_video, dftag, tmp_path):
    make_video("media/other.mp4", size=(160, 120), fps=25, seconds=1.0)
    folder = tmp_path / "cvat"
    folder.mkdir()
    shutil.copy(FIXTURES / "cvat_video.xml", folder / "clip.xml")
    (folder / "other.xml").write_text((FIXTURES / "cvat_video.xml").read_text()
                                      .replace("<source>clip.mp4</source>", ""))  # found by the XML's name
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", folder, "--media", clip,
                         "--out", tmp_path / "ds")
    assert code == 0, err
    videos = {Path(img["video"]).name for img in _load(tmp_path / "ds")["images"]}
    assert videos == {"clip.mp4", "other.mp4"}

    archive = tmp_path / "task_export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(FIXTURES / "cvat_video.xml", "annotations.xml")
    before = archive.read_bytes()
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", archive, "--media", clip,
                         "--out", tmp_path / "from_zip")
    assert code == 0, err
    assert len(_load(tmp_path / "from_zip")["images"]) == 13
    assert archive.read_bytes() == before


# What CVAT's exporter writes for a task made from clip.mp4 with start frame 5, stop frame 29 and
# frame_filter step=3 (task frames 0-8 = video frames 5, 8, ..., 29): every task frame of each track, at its
# ABSOLUTE video frame start_frame + i * step (``abs_frame_id`` in cvat/apps/dataset_manager/bindings.py).
STEP_TASK_BOXES = {8: [(2, [10.0, 10.0, 40.0, 40.0], 0)], 11: [(2, [20.0, 10.0, 40.0, 40.0], 0)],
                   14: [(2, [30.0, 10.0, 40.0, 40.0], 0)], 17: [(2, [40.0, 10.0, 40.0, 40.0], 0)],
                   20: [(2, [40.0, 10.0, 40.0, 40.0], 0)],  # outside from 23 on
                   26: [(1, [100.0, 60.0, 50.0, 50.0], 1)], 29: [(1, [100.0, 60.0, 50.0, 50.0], 1)]}


@pytest.fixture
def long_clip(make_video, tmp_path):
    (tmp_path / "media").mkdir()
    make_video("media/clip.mp4", size=(160, 120), fps=25, seconds=1.6)  # 40 frames
    return tmp_path / "media"


def test_cvat_video_frames_are_absolute_with_start_frame_and_step(long_clip, dftag, tmp_path):
    from dftag.annotations.video import read_frames

    out = tmp_path / "ds"
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", FIXTURES / "cvat_video_step.xml",
                         "--media", long_clip, "--out", out)
    assert code == 0, err
    coco = _load(out)
    assert _boxes_by_frame(coco) == STEP_TASK_BOXES
    assert "past the end" not in err
    # each stored image is that video frame (the closest of all 40), at its time
    video = {f.index: f.image.astype(float) for f in read_frames(long_clip / "clip.mp4")}
    for image in coco["images"]:
        assert image["timestamp"] == pytest.approx(image["frame_index"] / 25)
        stored = np.asarray(Image.open(out / "images" / image["file_name"]), dtype=float)
        assert min(video, key=lambda n: np.abs(stored - video[n]).mean()) == image["frame_index"]


def test_cvat_video_keyframes_only_fill_task_frames_to_the_stop_frame(long_clip, dftag, tmp_path):
    # the same task with the exporter's interpolated boxes removed: filled in over task frames (every 3rd video
    # frame), the outside keyframe ends track 0, the last keyframe of track 1 lasts to stop_frame 29
    xml = tmp_path / "keyframes.xml"
    text = (FIXTURES / "cvat_video_step.xml").read_text()
    xml.write_text(re.sub(r'<box frame="\d+" keyframe="0".*?</box>', "", text, flags=re.S))
    assert 'keyframe="0"' not in xml.read_text()
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", xml, "--media", long_clip,
                         "--out", tmp_path / "ds")
    assert code == 0, err
    assert _boxes_by_frame(_load(tmp_path / "ds")) == STEP_TASK_BOXES


def test_cvat_video_box_off_the_task_frames_is_an_error(long_clip, dftag, tmp_path):
    xml = tmp_path / "relative.xml"  # written with task-relative frame numbers, which CVAT never does
    xml.write_text((FIXTURES / "cvat_video_step.xml").read_text().replace('frame="8"', 'frame="1"'))
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", xml, "--media", long_clip,
                         "--out", tmp_path / "ds")
    assert code == 1 and "Traceback" not in err
    assert f"{xml} (track 0, frame 1): box frame 1 is not a frame of this task (video frames 5 to 29 in steps " \
           f"of 3)" in err
    assert not (tmp_path / "ds").exists()


def test_labelstudio_video_interpolates_and_enabled_false_closes_span(clip, dftag, tmp_path):
    # the export names the upload "/data/upload/1/1a2b3c4d-clip.mp4": found as clip.mp4 in --media
    code, _, err = dftag("convert", "--format", "labelstudio", "--input", FIXTURES / "labelstudio_video.json",
                         "--media", clip, "--out", tmp_path / "ds")
    assert code == 0, err
    frames = _boxes_by_frame(_load(tmp_path / "ds"))
    # region 1: keyframes (0-based) 0 on, 4 off, 10 on, 12 off; region 2: 22 on until framesCount
    assert sorted(frames) == [0, 1, 2, 3, 4, 10, 11, 12, 22, 23, 24]
    # percentages of 160x120: frame 2 is halfway from (10%, 10%) to (30%, 20%), 25% wide and high
    assert frames[2] == [(2, [32.0, 18.0, 40.0, 30.0], 1)]
    assert frames[4] == [(2, [48.0, 24.0, 40.0, 30.0], 1)]
    assert frames[23] == [(1, [0.0, 0.0, 80.0, 60.0], 2)]


def test_mot_gt_with_video_and_class_names(clip, dftag, tmp_path):
    seq = tmp_path / "MOT" / "clip"
    (seq / "gt").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=clip\nframeRate=25\nseqLength=25\nimWidth=160\n"
                                     "imHeight=120\nimExt=.jpg\n")
    (seq / "gt" / "gt.txt").write_text("1,1,10,20,30,40,1,1,1.0\n"
                                       "2,1,12,20,30,40,1,1,0.9\n"
                                       "2,2,100,50,20,20,0,2,1.0\n"  # conf 0: ignored, as MOT does
                                       "3,2,100,50,20,20,1,2,0.5\n")
    code, _, err = dftag("convert", "--format", "mot", "--input", tmp_path / "MOT", "--media", clip,
                         "--out", tmp_path / "ds", "--class-names", "1=fake,2=real")
    assert code == 0, err
    frames = _boxes_by_frame(_load(tmp_path / "ds"))
    assert frames == {0: [(2, [10.0, 20.0, 30.0, 40.0], 1)], 1: [(2, [12.0, 20.0, 30.0, 40.0], 1)],
                      2: [(1, [100.0, 50.0, 20.0, 20.0], 2)]}


def _dfdc(tmp_path: Path, make_video) -> Path:
    make_video("orig.mp4", size=(64, 48), fps=25, seconds=1.0)
    make_video("fake1.mp4", size=(64, 48), fps=25, seconds=1.0)
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps({"orig.mp4": {"label": "REAL", "split": "train", "original": None},
                                "fake1.mp4": {"label": "FAKE", "split": "train", "original": "orig.mp4"}}))
    return meta


def test_dfdc_cuts_every_nth_frame_with_video_label_and_group(make_video, dftag, tmp_path):
    meta = _dfdc(tmp_path, make_video)
    code, _, err = dftag("convert", "--format", "dfdc", "--input", meta, "--every", "10", "--out", tmp_path / "ds")
    assert code == 0, err
    coco = _load(tmp_path / "ds")
    assert coco["annotations"] == []
    got = sorted((Path(i["video"]).name, i["frame_index"], i["video_label"], i["group"]) for i in coco["images"])
    assert got == [("fake1.mp4", 0, "fake", "orig"), ("fake1.mp4", 10, "fake", "orig"),
                   ("fake1.mp4", 20, "fake", "orig"), ("orig.mp4", 0, "real", "orig"),
                   ("orig.mp4", 10, "real", "orig"), ("orig.mp4", 20, "real", "orig")]


def test_groups_option_and_negatives_for_cvat_video(make_video, dftag, tmp_path):
    meta = _dfdc(tmp_path, make_video)
    xml = tmp_path / "fake1.xml"
    xml.write_text((FIXTURES / "cvat_video.xml").read_text().replace("clip.mp4", "fake1.mp4")
                   .replace("<width>160</width>", "<width>64</width>").replace("<height>120</height>",
                                                                               "<height>48</height>"))
    code, stdout, err = dftag("convert", "--format", "cvat-video", "--input", xml, "--groups", meta,
                              "--negatives-every", "8", "--out", tmp_path / "ds")
    assert code == 0, err
    coco = _load(tmp_path / "ds")
    assert {(i["group"], i["video_label"]) for i in coco["images"]} == {("orig", "fake")}
    annotated = {a["image_id"] for a in coco["annotations"]}
    negatives = sorted(i["frame_index"] for i in coco["images"] if i["id"] not in annotated)
    # 8 and 16 are the sampled negatives (0 and 24 are annotated); track 1 (x >= 100) lies outside the 64x48
    # frames, so its boxes on 20-24 were dropped and those frames stay as images without boxes
    assert negatives == [8, 16, 20, 21, 22, 23, 24]
    assert "boxes clipped to the image: 6" in err and "under 1 px dropped: 5" in err
