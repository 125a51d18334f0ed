"""dftag export-annotations: every format reads back with dftag convert to the same images, labels and boxes."""

from __future__ import annotations

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
