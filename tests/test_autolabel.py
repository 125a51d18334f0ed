"""dftag autolabel on generated video pairs: known boxes, side-by-side files, lip-sync growth, skips, lengths."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from dftag.annotations.autolabel import autolabel_pairs
from dftag.annotations.dataset import load_dataset
from dftag.annotations.pair_diff import DiffParams, FaceShape
from dftag.annotations.pair_list import read_pairs
from dftag.annotations.video import VideoWriter
from dftag.core.boxes import xywh_to_xyxy
from tests.conftest import REALDATA

W, H, FPS = 160, 120, 10
FACE = (60, 30, 110, 90)      # xyxy of the swapped "face" in generated fakes
MOUTH = (70, 70, 94, 84)      # a lip-sync-sized change
# The blur widens a sharp change by up to ~2 blur sigmas (a fraction of the longer side) on each side, and H.264
# (4:2:0 chroma, block edges) spreads it by a few more pixels.
TOLERANCE_PX = 2 * DiffParams().blur_frac * W + 3


def scene(index: int, seed: int = 0) -> np.ndarray:
    """A smooth textured frame that pans slowly, so consecutive frames differ like real footage."""
    rng = np.random.default_rng(seed)
    tiles = rng.integers(30, 226, (H // 8 + 2, W // 8 + 2, 3)).astype(np.uint8)
    big = np.kron(tiles, np.ones((8, 8, 1), dtype=np.uint8))
    return np.ascontiguousarray(big[index % 8: index % 8 + H, :W])


def swapped(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    out = image.copy()
    out[y1:y2, x1:x2] = 255 - out[y1:y2, x1:x2]
    return out


def encode(path: Path, frames: list[np.ndarray]) -> Path:
    with VideoWriter(path, frames[0].shape[1], frames[0].shape[0], FPS) as w:
        for f in frames:
            w.write(f)
    return path


def make_pair(folder: Path, name: str, box: tuple[int, int, int, int] | None, n_fake: int = 6,
              n_orig: int = 6) -> tuple[Path, Path]:
    originals = [scene(i) for i in range(max(n_fake, n_orig))]
    orig = encode(folder / f"{name}_orig.mp4", originals[:n_orig])
    fakes = [swapped(f, box) if box else f for f in originals[:n_fake]]
    return encode(folder / f"{name}_fake.mp4", fakes), orig


def write_csv(path: Path, rows: list[list[str]], header: list[str] | None = ("fake", "original")) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


def boxes_by_label(root: Path) -> dict[str, list[list[float]]]:
    ds = load_dataset(root)
    images = {img["id"]: img for img in ds.images}
    out: dict[str, list[list[float]]] = {"real": [], "fake": []}
    for ann in ds.annotations:
        assert images[ann["image_id"]]["video_label"] == ("real", "fake")[ann["category_id"] - 1]
        out[images[ann["image_id"]]["video_label"]].append(xywh_to_xyxy(ann["bbox"]))
    return out


def test_known_box_in_fake_and_original(tmp_path, dftag):
    make_pair(tmp_path, "a", FACE)
    pairs = write_csv(tmp_path / "pairs.csv", [["a_fake.mp4", "a_orig.mp4"]])
    code, out, err = dftag("autolabel", "--pairs", pairs, "--out", tmp_path / "ds")
    assert code == 0, err
    assert "6 compared, 6 labelled, 0 skipped" in out
    boxes = boxes_by_label(tmp_path / "ds")
    assert len(boxes["fake"]) == len(boxes["real"]) == 6
    assert np.allclose(boxes["fake"], [FACE] * 6, atol=TOLERANCE_PX)
    assert boxes["fake"] == boxes["real"]
    ds = load_dataset(tmp_path / "ds")
    assert {img["group"] for img in ds.images} == {"a_orig"}
    assert {img["video"] for img in ds.images} == {"a_fake.mp4", "a_orig.mp4"}
    assert all(ds.image_path(img).is_file() for img in ds.images)


def test_side_by_side_file_is_split_into_halves(tmp_path):
    frames = [np.concatenate([scene(i), swapped(scene(i), FACE)], axis=1) for i in range(4)]
    encode(tmp_path / "sbs.mp4", frames)
    pairs = write_csv(tmp_path / "pairs.csv", [["sbs.mp4#right_half", "sbs.mp4#left_half"]])
    report = autolabel_pairs(read_pairs(pairs), tmp_path / "ds", progress=False)
    assert report.frames_labelled == 4
    ds = load_dataset(tmp_path / "ds")
    assert {(img["width"], img["height"]) for img in ds.images} == {(W, H)}
    assert {img["file_name"].split("/")[0] for img in ds.images} == {"sbs.right_half", "sbs.left_half"}
    assert np.allclose(boxes_by_label(tmp_path / "ds")["fake"], [FACE] * 4, atol=TOLERANCE_PX)


def test_lip_sync_change_grows_to_a_face(tmp_path):
    make_pair(tmp_path, "l", MOUTH, n_fake=3, n_orig=3)
    pairs = write_csv(tmp_path / "pairs.csv", [["l_fake.mp4", "l_orig.mp4", "Wav2Lip lip-sync"]],
                      header=["fake", "original", "method"])
    assert read_pairs(pairs)[0].mouth_only
    autolabel_pairs(read_pairs(pairs), tmp_path / "ds", progress=False)
    shape, mouth_side = FaceShape(), max(MOUTH[2] - MOUTH[0], MOUTH[3] - MOUTH[1])
    for x1, y1, x2, y2 in boxes_by_label(tmp_path / "ds")["fake"]:
        assert x1 < MOUTH[0] and y1 < MOUTH[1] - mouth_side and x2 > MOUTH[2] and y2 >= MOUTH[3]
        assert x2 - x1 == pytest.approx(shape.face_per_mouth * mouth_side, abs=shape.face_per_mouth * 2 * TOLERANCE_PX)


def test_detector_face_box_is_used_when_it_covers_the_change(tmp_path):
    make_pair(tmp_path, "l", MOUTH, n_fake=2, n_orig=2)
    face = np.array([[55.0, 25.0, 110.0, 95.0]])
    seen = []

    def finder(images):
        seen.append(len(images))
        return [face for _ in images]

    pairs = read_pairs(write_csv(tmp_path / "pairs.csv", [["l_fake.mp4", "l_orig.mp4"]]))
    autolabel_pairs(pairs, tmp_path / "ds", face_finder=finder, progress=False)
    assert seen == [2, 2]
    assert boxes_by_label(tmp_path / "ds")["fake"] == face.tolist() * 2


def test_cli_runs_the_detector_of_a_checkpoint(tmp_path, dftag, tiny_checkpoint):
    make_pair(tmp_path, "a", FACE, n_fake=2, n_orig=2)
    pairs = write_csv(tmp_path / "pairs.csv", [["a_fake.mp4", "a_orig.mp4"]])
    code, out, err = dftag("autolabel", "--pairs", pairs, "--out", tmp_path / "ds", "--model", tiny_checkpoint)
    assert code == 0, err
    assert len(boxes_by_label(tmp_path / "ds")["fake"]) == 2
    code, _, err = dftag("autolabel", "--pairs", pairs, "--out", tmp_path / "ds2", "--model", tmp_path / "no.pt")
    assert code == 1 and "no.pt" in err and "not found" in err


def test_pair_without_difference_is_skipped_and_counted(tmp_path):
    make_pair(tmp_path, "same", None, n_fake=3, n_orig=3)
    make_pair(tmp_path, "a", FACE, n_fake=2, n_orig=2)
    pairs = read_pairs(write_csv(tmp_path / "p.csv", [["same_fake.mp4", "same_orig.mp4"],
                                                        ["a_fake.mp4", "a_orig.mp4"]]))
    report = autolabel_pairs(pairs, tmp_path / "ds", progress=False)
    assert (report.frames_compared, report.frames_labelled, report.frames_without_change) == (5, 2, 3)
    assert report.images == 4
    with pytest.raises(Exception, match="no frame .* confident difference"):
        autolabel_pairs(pairs[:1], tmp_path / "ds2", progress=False)
    assert not (tmp_path / "ds2").exists()


@pytest.mark.parametrize("n_fake,n_orig", [(4, 7), (5, 4)])
def test_length_mismatch_uses_common_frames(tmp_path, n_fake, n_orig):
    make_pair(tmp_path, "a", FACE, n_fake=n_fake, n_orig=n_orig)
    pairs = read_pairs(write_csv(tmp_path / "p.csv", [["a_fake.mp4", "a_orig.mp4"]]))
    report = autolabel_pairs(pairs, tmp_path / "ds", progress=False)
    common = min(n_fake, n_orig)
    assert (report.frames_compared, report.length_mismatches) == (common, 1)
    assert sorted({img["frame_index"] for img in load_dataset(tmp_path / "ds").images}) == list(range(common))


def test_every_thins_frames_and_shared_original_is_stored_once(tmp_path):
    make_pair(tmp_path, "a", FACE, n_fake=7, n_orig=7)
    encode(tmp_path / "b_fake.mp4", [swapped(scene(i), (10, 10, 50, 60)) for i in range(7)])
    meta = {"a_fake.mp4": {"label": "FAKE", "original": "a_orig.mp4", "split": "train"},
            "b_fake.mp4": {"label": "FAKE", "original": "a_orig.mp4", "split": "train"},
            "c_fake.mp4": {"label": "FAKE", "original": "gone.mp4", "split": "train"},
            "a_orig.mp4": {"label": "REAL", "original": None, "split": "train"}}
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    report = autolabel_pairs(read_pairs(tmp_path / "metadata.json"), tmp_path / "ds", every=3, progress=False)
    assert (report.pairs, report.pairs_missing) == (2, 1)
    ds = load_dataset(tmp_path / "ds")
    originals = [img for img in ds.images if img["video_label"] == "real"]
    assert sorted(img["frame_index"] for img in originals) == [0, 3, 6]
    per_image = ds.annotations_by_image()
    assert all(len(per_image[img["id"]]) == 2 for img in originals)  # one real box per fake's face


def test_bad_pair_files(tmp_path, dftag):
    code, _, err = dftag("autolabel", "--pairs", tmp_path / "nope.csv", "--out", tmp_path / "ds")
    assert code == 1 and "nope.csv" in err and "not found" in err
    bad = write_csv(tmp_path / "bad.csv", [["x.mp4#middle", "y.mp4"]])
    code, _, err = dftag("autolabel", "--pairs", bad, "--out", tmp_path / "ds")
    assert code == 1 and "bad.csv (line 2)" in err and "#middle" in err
    short = write_csv(tmp_path / "short.csv", [["only_one.mp4"]], header=None)
    code, _, err = dftag("autolabel", "--pairs", short, "--out", tmp_path / "ds")
    assert code == 1 and "short.csv (line 1)" in err
    missing = write_csv(tmp_path / "missing.csv", [["x.mp4", "y.mp4"]], header=None)
    code, _, err = dftag("autolabel", "--pairs", missing, "--out", tmp_path / "ds")
    assert code == 1 and "none of the 1 pairs" in err and "x.mp4" in err
    assert not (tmp_path / "ds").exists() and "Traceback" not in err


@pytest.mark.realdata
@pytest.mark.skipif(not (REALDATA / "pairs.csv").is_file(), reason="needs /work/shared/realdata")
def test_real_side_by_side_pair_gives_a_face_sized_box(tmp_path, dftag):
    with open(REALDATA / "pairs.csv", newline="") as f:
        rows = list(csv.reader(f))
    header, row = rows[0], next(r for r in rows[1:] if "Albica_Johns_0" in r[2])
    pairs = write_csv(tmp_path / "pairs.csv", [row], header=header)
    code, out, err = dftag("autolabel", "--pairs", pairs, "--media", REALDATA, "--out", tmp_path / "ds",
                           "--every", "1000")
    assert code == 0, err
    ds = load_dataset(tmp_path / "ds")
    assert len(ds.images) == 2 and len(ds.annotations) == 2
    for ann in ds.annotations:
        image = next(img for img in ds.images if img["id"] == ann["image_id"])
        _, _, w, h = ann["bbox"]
        # a face in a webcam frame: a tenth to two thirds of the frame height, roughly as tall as wide
        assert 0.1 * image["height"] < h < 0.67 * image["height"] and 0.6 < h / w < 2.0
