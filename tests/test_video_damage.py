"""Damaged videos: frames are matched to the export by presentation time, and what did not decode is said.

A clip of 30 all-intra frames (25 fps) is damaged two ways: bytes overwritten in the middle (the packets of
frames 12-14: the decoder drops those three frames) and cut short after frame 10 (a truncated file that keeps
11 of its 30 frames). Counting decoded frames would put frame 15's picture under number 12 and so on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dftag.annotations.video import ffmpeg_exe, read_frames

FPS, FRAMES, SIZE = 25, 30, (96, 72)
GAP = (12, 14)


def _packet_offsets(path: Path) -> list[int]:
    """Byte offset of each frame's packet (all-intra, no B-frames: one packet per frame, stored in order)."""
    crc = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy",
                          "-f", "framecrc", "-"], capture_output=True, text=True, check=True).stdout
    sizes = [int(line.split(",")[4]) for line in crc.splitlines() if not line.startswith("#")]
    start = path.read_bytes().index(b"mdat") + 4
    return [start + sum(sizes[:k]) for k in range(len(sizes) + 1)]


@pytest.fixture
def intact(make_video, tmp_path) -> Path:
    (tmp_path / "media").mkdir()
    return make_video("media/intact.mp4", size=SIZE, fps=FPS, seconds=FRAMES / FPS,
                      extra=["-g", "1", "-bf", "0", "-movflags", "+faststart"])


@pytest.fixture
def corrupt(intact) -> Path:
    """``intact`` with the bytes of frames 12-14 overwritten."""
    data = bytearray(intact.read_bytes())
    offsets = _packet_offsets(intact)
    a, b = offsets[GAP[0]], offsets[GAP[1] + 1]
    data[a:b] = b"\xab" * (b - a)
    path = intact.with_name("clip.mp4")
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def truncated(intact) -> Path:
    """``intact`` cut off after frame 10 (the header still says 1.2 s, 30 frames)."""
    path = intact.with_name("clip.mp4")
    path.write_bytes(intact.read_bytes()[:_packet_offsets(intact)[11]])
    return path


def _cvat(path: Path, tracks: list[tuple[str, int, int]], size: int = FRAMES) -> Path:
    """One track per ``(label, first, last)``: a box moving 1 px right per frame, outside after ``last``."""
    xml = []
    for tid, (label, first, last) in enumerate(tracks):
        boxes = "".join(f'<box frame="{f}" keyframe="1" outside="0" occluded="0" xtl="{f}" ytl="10" xbr="{f + 20}" '
                        f'ybr="40" z_order="0"></box>' for f in (first, last))
        if last + 1 < size:
            boxes += (f'<box frame="{last + 1}" keyframe="1" outside="1" occluded="0" xtl="{last}" ytl="10" '
                      f'xbr="{last + 20}" ybr="40" z_order="0"></box>')
        xml.append(f'<track id="{tid}" label="{label}" source="manual">{boxes}</track>')
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version><meta><task>'
                    f'<id>1</id><name>clip</name><size>{size}</size><mode>interpolation</mode>'
                    f'<start_frame>0</start_frame><stop_frame>{size - 1}</stop_frame><frame_filter></frame_filter>'
                    f'<original_size><width>{SIZE[0]}</width><height>{SIZE[1]}</height></original_size>'
                    f'<source>clip.mp4</source></task></meta>{"".join(xml)}</annotations>')
    return path


def _warning(err: str, kind: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith(f"warning: {kind}:")]
    assert len(lines) == 1, err
    return lines[0]


def test_read_frames_numbers_frames_by_presentation_time_across_a_gap(corrupt, intact):
    from dftag.annotations.video import DecodeReport

    report = DecodeReport()
    frames = list(read_frames(corrupt, report=report))
    assert [f.index for f in frames] == [n for n in range(FRAMES) if not GAP[0] <= n <= GAP[1]]
    assert [f.timestamp for f in frames] == pytest.approx([f.index / FPS for f in frames])
    assert report.gaps == [GAP] and not report.truncated and report.frames == FRAMES
    reference = {f.index: f.image.astype(float) for f in read_frames(intact)}
    for frame in frames:  # every picture sits under its own number
        assert min(reference, key=lambda n: np.abs(frame.image - reference[n]).mean()) == frame.index
    picked = list(read_frames(corrupt, indices=[11, 12, 13, 15, 29, 40]))
    assert [f.index for f in picked] == [11, 15, 29]


def test_corrupt_middle_boxes_land_on_their_frames_and_the_gap_is_a_warning(corrupt, intact, dftag, tmp_path):
    xml = _cvat(tmp_path / "clip.xml", [("fake", 0, 9), ("real", 20, FRAMES - 1)])
    out = tmp_path / "ds"
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", xml, "--media", corrupt.parent,
                         "--out", out)
    assert code == 0, err
    line = _warning(err, "video frames that could not be decoded (corrupt data) skipped")
    assert f"{corrupt}: 3 frames (12-14); later frames keep their numbers" in line
    coco = json.loads((out / "annotations.json").read_text())
    frame_of = {img["id"]: img["frame_index"] for img in coco["images"]}
    assert sorted(frame_of.values()) == [*range(0, 10), *range(20, FRAMES)]
    for ann in coco["annotations"]:  # the box of frame f starts at x = f (both tracks move 1 px per frame)
        assert ann["bbox"][0] == pytest.approx(frame_of[ann["image_id"]])
    reference = {f.index: f.image.astype(float) for f in read_frames(intact)}
    for image in coco["images"]:
        assert image["timestamp"] == pytest.approx(image["frame_index"] / FPS)
        stored = np.asarray(Image.open(out / "images" / image["file_name"]), dtype=float)
        assert min(reference, key=lambda n: np.abs(stored - reference[n]).mean()) == image["frame_index"]


def test_corrupt_frames_that_carry_boxes_are_an_error(corrupt, dftag, tmp_path):
    xml = _cvat(tmp_path / "clip.xml", [("fake", 10, 13)])
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", xml, "--media", corrupt.parent,
                         "--out", tmp_path / "ds")
    assert code == 1 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("dftag convert: error:")]
    assert len(lines) == 1, err
    assert f"{corrupt}: frames 12-14 could not be decoded (corrupt data), but {xml} has boxes on 2 frames " \
           f"there (12-13)" in lines[0]
    assert not (tmp_path / "ds").exists()


def test_truncated_video_is_a_warning_saying_how_many_annotated_frames_were_lost(truncated, dftag, tmp_path):
    xml = _cvat(tmp_path / "clip.xml", [("fake", 0, FRAMES - 1)])
    out = tmp_path / "ds"
    code, stdout, err = dftag("convert", "--format", "cvat-video", "--input", xml, "--media", truncated.parent,
                              "--out", out)
    assert code == 0, err
    line = _warning(err, "truncated videos (frames missing at the end)")
    assert f"{truncated} holds 11 frames of 30 (its header says 1.2 s): 19 annotated frames of {xml} lost " \
           f"(11-29)" in line
    assert "past the end" not in err
    coco = json.loads((out / "annotations.json").read_text())
    assert sorted(img["frame_index"] for img in coco["images"]) == list(range(11))
    assert len(coco["annotations"]) == 11


def test_annotated_frames_past_the_end_say_how_many_were_skipped(intact, dftag, tmp_path):
    shutil.copy(intact, intact.with_name("clip.mp4"))
    xml = _cvat(tmp_path / "clip.xml", [("fake", 0, 43)], size=44)  # boxes on frames 0-43 of a 30-frame video
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", xml, "--media", intact.parent,
                         "--out", tmp_path / "ds")
    assert code == 0, err
    line = _warning(err, "annotated frames past the end of the video skipped")
    assert f"{xml}: 14 annotated frames skipped (from frame 30 of {intact.with_name('clip.mp4')}); the video has " \
           f"30 frames" in line


def test_audio_outlasting_the_video_is_not_a_truncated_file(tmp_path):
    from dftag.annotations.video import DecodeReport, probe

    path = tmp_path / "av.mp4"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate={FPS}:duration=1", "-f", "lavfi", "-i",
                    "sine=duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)
    assert probe(path).duration == pytest.approx(2.0, abs=0.05)  # the header's duration is the audio's
    report = DecodeReport()
    assert len(list(read_frames(path, report=report))) == FPS
    assert not report.truncated and report.frames == FPS and not report.gaps
