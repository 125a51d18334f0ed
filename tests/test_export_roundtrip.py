"""dftag export-annotations: every format reads back with dftag convert to the same images, labels and boxes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from dftag.annotations.dataset import FAKE, IMAGES_DIR, REAL, load_dataset, new_coco, save_coco
from dftag.annotations.formats import WRITERS
from dftag.core.boxes import xywh_to_xyxy

# (file name, width, height, [(category, [x, y, w, h])]); fractional boxes, one touching the border, one image
# without boxes, nested folders with the same frame number.
IMAGES = [
    ("clipA/clipA_000003.jpg", 96, 64, [(REAL, [10.25, 8.5, 30.0, 40.125]), (FAKE, [50.0, 4.0, 46.0, 60.0])]),
    ("clipB/clipB_000003.jpg", 96, 64, [(FAKE, [0.0, 0.0, 21.333, 17.75])]),
    ("still_1.png", 80, 72, []),
]
TOLERANCE_PX = 1e-3


def make_dataset(root: Path) -> Path:
    images, anns = [], []
    for iid, (name, w, h, boxes) in enumerate(IMAGES, start=1):
        path = root / IMAGES_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((h, w, 3), 40 * iid, dtype=np.uint8))
        video = None if name.startswith("still") else f"{name.split('/')[0]}.mp4"
        images.append({"id": iid, "file_name": name, "width": w, "height": h, "video": video,
                       "frame_index": 3 if video else None, "timestamp": 0.12 if video else None,
                       "group": name.split("/")[0]})
        for cid, bbox in boxes:
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": cid, "bbox": bbox,
                         "area": bbox[2] * bbox[3], "iscrowd": 0})
    save_coco(new_coco(images, anns), root / "annotations.json")
    return root


def summary(root: Path) -> dict[str, tuple[int, int, list[tuple[int, list[float]]]]]:
    """Per image base name (nested names may be flattened with '__'): size and sorted (label, xyxy) boxes."""
    ds = load_dataset(root)
    by_image = ds.annotations_by_image()
    out = {}
    for img in ds.images:
        assert ds.image_path(img).is_file()
        key = Path(img["file_name"]).name.split("__")[-1]
        out[key] = (img["width"], img["height"],
                    sorted((a["category_id"], xywh_to_xyxy(a["bbox"])) for a in by_image[img["id"]]))
    return out


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_export_then_convert_gives_the_same_dataset(tmp_path, dftag, fmt):
    source = make_dataset(tmp_path / "ds")
    code, out, err = dftag("export-annotations", source, "--format", fmt, "--out", tmp_path / "export")
    assert code == 0, err
    assert "3 images and 3 boxes" in out
    code, _, err = dftag("convert", "--format", fmt, "--input", tmp_path / "export", "--out", tmp_path / "back")
    assert code == 0, err
    expected, got = summary(source), summary(tmp_path / "back")
    assert sorted(got) == sorted(expected)
    for name, (w, h, boxes) in expected.items():
        gw, gh, gboxes = got[name]
        assert (gw, gh) == (w, h) and [c for c, _ in gboxes] == [c for c, _ in boxes], name
        assert np.allclose([b for _, b in gboxes], [b for _, b in boxes], atol=TOLERANCE_PX) if boxes else not gboxes


def test_export_one_split(tmp_path, dftag):
    source = make_dataset(tmp_path / "ds")
    ds = load_dataset(source)
    save_coco(new_coco(ds.images[:1], [a for a in ds.annotations if a["image_id"] == 1]), source / "val.json")
    code, out, err = dftag("export-annotations", source, "--format", "coco", "--split", "val", "--out", tmp_path / "e")
    assert code == 0, err
    assert [img["file_name"] for img in load_dataset(tmp_path / "e").images] == [IMAGES[0][0]]


def test_export_bad_input(tmp_path, dftag):
    source = make_dataset(tmp_path / "ds")
    (source / IMAGES_DIR / IMAGES[1][0]).unlink()
    code, _, err = dftag("export-annotations", source, "--format", "yolo", "--out", tmp_path / "e")
    assert code == 1 and "clipB_000003.jpg" in err and "missing" in err and not (tmp_path / "e").exists()
    code, _, err = dftag("export-annotations", source, "--format", "voc", "--split", "test", "--out", tmp_path / "e")
    assert code == 1 and "test.json" in err
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "keep.txt").write_text("x")
    make_dataset(tmp_path / "ds2")
    code, _, err = dftag("export-annotations", tmp_path / "ds2", "--format", "csv", "--out", tmp_path / "e")
    assert code == 1 and "--force" in err and (tmp_path / "e" / "keep.txt").exists()


# Frames of two videos (a fake and its original: one group) and a still, with ids a results file may key on.
VIDEO_IMAGES = [
    (7, "fake1/000003.jpg", {"video": "videos/fake1.mp4", "frame_index": 3, "timestamp": 0.12, "group": "orig",
                             "video_label": "fake", "original": "orig.mp4"}),
    (9, "fake1/000005.jpg", {"video": "videos/fake1.mp4", "frame_index": 5, "timestamp": 0.2, "group": "orig",
                             "video_label": "fake", "original": "orig.mp4"}),
    (11, "orig/000005.jpg", {"video": "videos/orig.mp4", "frame_index": 5, "timestamp": 0.2, "group": "orig",
                             "video_label": "real"}),
    (20, "other/000005.jpg", {"video": "videos/other.mp4", "frame_index": 5, "timestamp": 0.2, "group": "other"}),
    (3, "still_1.png", {"video": None, "frame_index": None, "timestamp": None, "group": "still_1"}),
]
CARRIED = ("file_name", "video", "frame_index", "timestamp", "group", "video_label", "original")


def make_video_dataset(root: Path) -> Path:
    images, anns = [], []
    for iid, name, fields in VIDEO_IMAGES:
        path = root / IMAGES_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((48, 64, 3), 5 * iid, dtype=np.uint8))
        images.append({"id": iid, "file_name": name, "width": 64, "height": 48, **fields})
        anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": FAKE if "fake" in name else REAL,
                     "bbox": [4.0, 4.0, 20.0, 30.0], "area": 600.0, "iscrowd": 0})
    save_coco(new_coco(images, anns), root / "annotations.json")
    return root


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_export_round_trip_keeps_video_group_and_frame_fields(tmp_path, dftag, fmt):
    from dftag.annotations.splits import image_group

    source = make_video_dataset(tmp_path / "ds")
    code, _, err = dftag("export-annotations", source, "--format", fmt, "--out", tmp_path / "export")
    assert code == 0, err
    code, _, err = dftag("convert", "--format", fmt, "--input", tmp_path / "export", "--out", tmp_path / "back")
    assert code == 0, err
    expected = {img["file_name"]: img for img in load_dataset(source).images}
    got = {img["file_name"]: img for img in load_dataset(tmp_path / "back").images}
    assert sorted(got) == sorted(expected)  # nested file names come back too (VOC flattens them on disk)
    for name, image in expected.items():
        assert {k: got[name].get(k) for k in CARRIED} == {k: image.get(k) for k in CARRIED}, name
    # so a split keeps the fake and its original together: 3 groups, not one per frame number
    assert sorted({image_group(img) for img in got.values()}) == ["orig", "other", "still_1"]
    if fmt == "coco":  # valid ids are kept, so outside results keyed on them still match
        assert {name: img["id"] for name, img in got.items()} == {name: img["id"] for name, img in expected.items()}


def test_coco_ids_that_are_not_unique_positive_integers_are_renumbered_with_a_warning(tmp_path, dftag):
    source = make_video_dataset(tmp_path / "ds")
    coco = load_dataset(source).coco
    coco["images"][0]["id"], coco["annotations"][0]["image_id"] = 0, 0
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "instances.json").write_text(json.dumps(coco))
    code, _, err = dftag("convert", "--format", "coco", "--input", tmp_path / "in", "--media", source / IMAGES_DIR,
                         "--out", tmp_path / "back")
    assert code == 0, err
    assert "image ids renumbered (kept only when all are unique positive integers): 1" in err
    assert "'fake1/000003.jpg' has id 0" in err
    assert sorted(img["id"] for img in load_dataset(tmp_path / "back").images) == [1, 2, 3, 4, 5]
