"""Tests of the shared core: atomic output, the canonical dataset, video probing and decoding."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from dftag.annotations.dataset import CATEGORIES, load_dataset, new_coco, save_coco
from dftag.annotations.video import VideoWriter, probe, read_frames
from dftag.core import atomic
from dftag.core.boxes import xywh_to_xyxy, xyxy_to_xywh
from dftag.core.errors import DftagError, Warnings
from tests.conftest import VFR_ARGS


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _image(i: int, **kw) -> dict:
    return {"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 80, "video": None, "frame_index": None,
            "timestamp": None, "group": f"g{i}", **kw}


def _ann(i: int, image_id: int, cat: int = 1, bbox=(10, 10, 20, 30)) -> dict:
    return {"id": i, "image_id": image_id, "category_id": cat, "bbox": list(bbox),
            "area": bbox[2] * bbox[3], "iscrowd": 0}


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    atomic.write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_current_umask()


def test_atomic_dir_refuses_non_empty_and_replaces_with_overwrite(tmp_path):
    out = tmp_path / "ds"
    with atomic.atomic_dir(out) as d:
        (d / "x").write_text("1")
    with pytest.raises(DftagError, match=r"not empty \(set overwrite to replace it\)"):  # library terms
        with atomic.atomic_dir(out):
            pass
    with pytest.raises(ValueError):
        with atomic.atomic_dir(out, overwrite=True) as d:
            (d / "y").write_text("2")
            raise ValueError
    assert [p.name for p in out.iterdir()] == ["x"]
    with atomic.atomic_dir(out, overwrite=True) as d:
        (d / "y").write_text("2")
    assert [p.name for p in out.iterdir()] == ["y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert out.stat().st_mode & 0o777 == 0o777 & ~_current_umask()


def test_dir_in_place_builds_at_the_final_path_and_keeps_the_old_folder_until_done(tmp_path):
    out = tmp_path / "demo"
    with pytest.raises(KeyboardInterrupt):
        with atomic.dir_in_place(out) as d:
            assert d == out
            (d / "half").write_text("1")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []  # a failed first build leaves nothing
    with atomic.dir_in_place(out) as d:
        (d / "x").write_text("1")
    with pytest.raises(DftagError, match=r"not empty \(set overwrite to replace it\)"):
        with atomic.dir_in_place(out):
            pass
    with pytest.raises(ValueError):
        with atomic.dir_in_place(out, overwrite=True) as d:
            assert not (d / "x").exists()  # the old folder is set aside, not mixed in
            (d / "y").write_text("2")
            raise ValueError
    assert [p.name for p in out.iterdir()] == ["x"] and (out / "x").read_text() == "1"
    with atomic.dir_in_place(out, overwrite=True) as d:
        (d / "y").write_text("2")
    assert [p.name for p in out.iterdir()] == ["y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # the old one is gone


def test_box_conversions_round_trip():
    assert xywh_to_xyxy([1, 2, 3, 4]) == [1, 2, 4, 6]
    assert xyxy_to_xywh(xywh_to_xyxy([1.5, 2, 3, 4.25])) == [1.5, 2, 3, 4.25]


def test_dataset_save_and_load(tmp_path):
    coco = new_coco([_image(1), _image(2)], [_ann(1, 1), _ann(2, 2, cat=2)])
    save_coco(coco, tmp_path / "annotations.json")
    ds = load_dataset(tmp_path)
    assert ds.coco["categories"] == CATEGORIES
    assert {k: len(v) for k, v in ds.annotations_by_image().items()} == {1: 1, 2: 1}
    assert ds.image_path(ds.images[0]) == tmp_path / "images" / "1.jpg"


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["images"].append(_image(1)), "duplicate image id 1"),
    (lambda c: c["annotations"].append(_ann(9, 42)), "unknown image_id 42"),
    (lambda c: c["annotations"].append(_ann(9, 1, cat=3)), r"category_id must be 1 \(real\) or 2 \(fake\), got 3"),
    (lambda c: c["annotations"].append(_ann(9, 1, bbox=(0, 0, -1, 5))), "w, h > 0"),
    (lambda c: c["images"][0].pop("group"), "lacks group"),
    (lambda c: c["categories"].pop(), "exactly 1=real and 2=fake"),
])
def test_dataset_validation_names_file_and_problem(tmp_path, mutate, message):
    coco = new_coco([_image(1)], [_ann(1, 1)])
    mutate(coco)
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(coco))
    with pytest.raises(DftagError, match=message) as err:
        load_dataset(tmp_path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_dataset_unparseable_json_and_missing_split(tmp_path):
    (tmp_path / "annotations.json").write_text("{not json")
    with pytest.raises(DftagError, match=r"line 1.*invalid JSON"):
        load_dataset(tmp_path)
    with pytest.raises(DftagError, match="dftag split"):
        load_dataset(tmp_path, split="val")


def test_warnings_count_and_keep_first_example():
    w = Warnings()
    assert not w
    w.add("box clipped", "a.xml frame 3")
    w.add("box clipped", "a.xml frame 9")
    assert w.lines() == ["warning: box clipped: 2 (first: a.xml frame 3)"]


def test_probe_reports_size_rate_audio(make_video):
    info = probe(make_video("a.mp4", size=(96, 64), fps=20, seconds=1, audio=True))
    assert (info.width, info.height, info.fps, info.has_audio) == (96, 64, 20.0, True)
    assert info.rotation == 0 and info.duration == pytest.approx(1.0, abs=0.1)
    assert not probe(make_video("b.mp4")).has_audio


def test_rotated_video_is_delivered_upright(make_video, tmp_path):
    import subprocess

    from dftag.annotations.video import ffmpeg_exe

    src = make_video("src.mp4", size=(96, 64), seconds=0.4)
    rotated = tmp_path / "rot.mp4"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-display_rotation:v:0", "90", "-i", str(src),
                    "-c", "copy", str(rotated)], check=True)
    info = probe(rotated)
    assert (info.coded_width, info.coded_height, info.width, info.height) == (96, 64, 64, 96)
    assert info.rotation in (90, 270)
    upright = next(read_frames(rotated)).image
    raw = next(read_frames(src)).image
    assert upright.shape == (96, 64, 3)
    # the upright frame is the raw frame turned a quarter
    k = 1 if info.rotation == 270 else -1
    assert np.abs(np.rot90(raw, k).astype(int) - upright).mean() < 3


def test_read_frames_selects_indices_with_pts(make_video):
    path = make_video(size=(64, 48), fps=10, seconds=2)
    frames = list(read_frames(path, indices=[15, 3, 4, 99]))
    assert [f.index for f in frames] == [3, 4, 15]
    assert [f.timestamp for f in frames] == pytest.approx([0.3, 0.4, 1.5])
    every = list(read_frames(path))
    assert len(every) == 20 and np.array_equal(every[15].image, frames[2].image)
    small = next(read_frames(path, max_side=32))
    assert small.image.shape == (24, 32, 3)


def test_read_frames_many_runs_filtered_in_python(make_video):
    path = make_video(size=(32, 32), fps=25, seconds=40)
    wanted = list(range(0, 1000, 2))  # 500 single-frame runs: more than ffmpeg's select gets
    frames = list(read_frames(path, indices=wanted))
    assert [f.index for f in frames] == wanted


def test_read_frames_variable_frame_rate(make_video):
    vfr = make_video("vfr.mp4", size=(64, 48), fps=10, seconds=3, extra=VFR_ARGS)
    frames = list(read_frames(vfr))
    assert [f.index for f in frames] == list(range(20))
    assert [f.timestamp for f in frames] == pytest.approx([i / 10 for i in range(10)] + [1 + i / 5 for i in range(10)])
    picked = list(read_frames(vfr, indices=[12]))
    assert picked[0].timestamp == pytest.approx(1.4)


@pytest.mark.parametrize("content, message", [(b"", "0 bytes"), (b"hello, not a video" * 50, "not a decodable video")])
def test_probe_rejects_non_videos(tmp_path, content, message):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(DftagError, match=message):
        probe(bad)


def test_video_writer_pads_odd_sizes_and_is_atomic(tmp_path):
    out = tmp_path / "odd.mp4"
    frames = [np.full((31, 45, 3), i * 20, np.uint8) for i in range(5)]
    with VideoWriter(out, 45, 31, fps=5) as w:
        for f in frames:
            w.write(f)
    info = probe(out)
    assert (info.width, info.height) == (46, 32)
    assert len(list(read_frames(out))) == 5
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "gone.mp4", 16, 16, fps=5) as w:
            w.write(np.zeros((16, 16, 3), np.uint8))
            raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]
