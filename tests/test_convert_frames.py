"""Frame cutting: decode-order numbering (also VFR), pts timestamps, rotated phone videos, --max-side."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dftag.annotations.dataset import load_dataset
from dftag.annotations.video import ffmpeg_exe, probe

CODED = (160, 120)
WHITE = (0, 0, 40, 30)  # white rectangle drawn on the coded (raw) frames, xyxy


def _cvat(path: Path, video: str, size: tuple[int, int], boxes: dict[int, tuple[float, ...]]) -> Path:
    shapes = "".join(f'<box frame="{f}" xtl="{b[0]}" ytl="{b[1]}" xbr="{b[2]}" ybr="{b[3]}" outside="0" '
                     f'occluded="0" keyframe="1" z_order="0"></box>'
                     f'<box frame="{f + 1}" xtl="{b[0]}" ytl="{b[1]}" xbr="{b[2]}" ybr="{b[3]}" outside="1" '
                     f'occluded="0" keyframe="1" z_order="0"></box>' for f, b in boxes.items())
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version><meta><task>'
                    f'<id>1</id><name>t</name><size>100</size><mode>interpolation</mode><original_size>'
                    f'<width>{size[0]}</width><height>{size[1]}</height></original_size><source>{video}</source>'
                    f'</task></meta><track id="0" label="fake" source="manual">{shapes}</track></annotations>')
    return path


@pytest.fixture
def rotated(make_video, tmp_path):
    """A video whose coded frames are 160x120 with a white top-left rectangle, flagged to display rotated."""
    coded = make_video("coded.mp4", size=CODED, seconds=0.2, pattern="color",
                       extra=["-vf", "drawbox=x=0:y=0:w=40:h=30:color=white:t=fill"])
    out = tmp_path / "phone.mp4"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-display_rotation:v:0", "90", "-i", str(coded),
                    "-c", "copy", str(out)], check=True)
    return out


def _white_extent(image: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(image[..., 0] > 128)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def test_rotated_video_boxes_in_coded_orientation_are_rotated_upright(rotated, dftag, tmp_path):
    info = probe(rotated)
    assert (info.width, info.height) == (CODED[1], CODED[0]) and info.rotation in (90, 270)
    xml = _cvat(tmp_path / "coded.xml", "phone.mp4", CODED, {0: WHITE})
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", xml, "--out", tmp_path / "ds")
    assert code == 0, err
    ds = load_dataset(tmp_path / "ds")
    image = np.asarray(Image.open(ds.image_path(ds.images[0])))
    assert image.shape[:2] == (CODED[0], CODED[1])  # stored upright: 120 wide, 160 high
    x, y, w, h = ds.annotations[0]["bbox"]
    assert [x, y, x + w, y + h] == pytest.approx(_white_extent(image), abs=2)


def test_rotated_video_boxes_in_display_orientation_are_kept(rotated, dftag, tmp_path):
    display_box = (80, 0, 120, 30)
    xml = _cvat(tmp_path / "display.xml", "phone.mp4", (CODED[1], CODED[0]), {0: display_box})
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", xml, "--out", tmp_path / "ds")
    assert code == 0, err
    x, y, w, h = load_dataset(tmp_path / "ds").annotations[0]["bbox"]
    assert [x, y, x + w, y + h] == list(display_box)
    assert "differs" not in err


def _ramp_video(make_video, vfr: bool) -> Path:
    """Frame n has luma 10 * n, so a stored frame tells which decoded frame it is. The VFR variant leaves a
    0.48 s gap after frame 9 (setpts), so frame numbers and timestamps disagree."""
    setpts = ",setpts='(N+gte(N\\,10)*12)/25/TB'" if vfr else ""
    return make_video("vfr.mp4" if vfr else "cfr.mp4", size=(64, 48), fps=25, seconds=2, pattern="color",
                      extra=["-vf", f"geq=lum='N*10':cb=128:cr=128{setpts}", "-fps_mode", "vfr", "-frames:v", "20"])


@pytest.mark.parametrize("vfr", [False, True])
def test_frames_are_numbered_in_decode_order_with_pts_timestamps(make_video, dftag, tmp_path, vfr):
    video = _ramp_video(make_video, vfr)
    frames = {3: (1, 1, 20, 20), 12: (2, 2, 30, 30), 19: (5, 5, 40, 40)}
    xml = _cvat(tmp_path / "ramp.xml", video.name, (64, 48), frames)
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", xml, "--out", tmp_path / "ds")
    assert code == 0, err
    ds = load_dataset(tmp_path / "ds")
    assert [img["frame_index"] for img in ds.images] == [3, 12, 19]
    expected_t = [(n + (12 if vfr and n >= 10 else 0)) / 25 for n in (3, 12, 19)]
    assert [img["timestamp"] for img in ds.images] == pytest.approx(expected_t, abs=1e-3)
    for img in ds.images:
        luma = 10 * img["frame_index"]
        rgb = (luma - 16) * 255 / 219  # limited-range luma to full-range RGB
        assert np.asarray(Image.open(ds.image_path(img))).mean() == pytest.approx(rgb, abs=4)


def test_video_max_side_scales_frames_and_boxes(make_video, dftag, tmp_path):
    make_video("big.mp4", size=(160, 120), seconds=0.2)
    xml = _cvat(tmp_path / "big.xml", "big.mp4", (160, 120), {1: (40, 20, 120, 100)})
    code, _, err = dftag("convert", "--format", "cvat-video", "--input", xml, "--out", tmp_path / "ds",
                         "--max-side", "80")
    assert code == 0, err
    ds = load_dataset(tmp_path / "ds")
    assert (ds.images[0]["width"], ds.images[0]["height"]) == (80, 60)
    assert Image.open(ds.image_path(ds.images[0])).size == (80, 60)
    assert ds.annotations[0]["bbox"] == [20.0, 10.0, 40.0, 40.0]
    assert json.loads((tmp_path / "ds" / "annotations.json").read_text())["images"][0]["file_name"] == \
        "big/000001.jpg"
