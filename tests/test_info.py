"""dftag info: counts, box-size statistics and COCO size buckets, as text and JSON."""

from __future__ import annotations

import json

import pytest

from dftag.annotations.dataset import FAKE, REAL, new_coco, save_coco
from dftag.annotations.stats import dataset_stats


def _image(iid: int, video: str | None, group: str) -> dict:
    return {"id": iid, "file_name": f"{iid}.jpg", "width": 400, "height": 300, "video": video,
            "frame_index": 0 if video else None, "timestamp": 0.0 if video else None, "group": group}


def _ann(aid: int, iid: int, cid: int, w: float, h: float) -> dict:
    return {"id": aid, "image_id": iid, "category_id": cid, "bbox": [1.0, 2.0, w, h], "area": w * h, "iscrowd": 0}


@pytest.fixture
def coco() -> dict:
    images = [_image(1, "a.mp4", "a"), _image(2, "a.mp4", "a"), _image(3, "b.mp4", "a"), _image(4, None, "c")]
    anns = [_ann(1, 1, REAL, 10, 20),    # area 200: small
            _ann(2, 1, FAKE, 40, 50),    # area 2000: medium
            _ann(3, 2, FAKE, 100, 100),  # area 10000: large
            _ann(4, 3, FAKE, 32, 32)]    # area 1024: medium (small is < 32²)
    return new_coco(images, anns)


def test_counts_and_sizes(coco):
    s = dataset_stats(coco)
    assert (s["images"], s["images_without_boxes"], s["boxes"]) == (4, 1, 4)
    assert s["boxes_per_class"] == {"real": 1, "fake": 3}
    assert (s["videos"], s["still_images"], s["groups"]) == (2, 1, 2)
    assert s["box_size"]["all"]["width"] == {"min": 10.0, "median": 36.0, "max": 100.0}
    assert s["box_size"]["fake"]["area"] == {"min": 1024.0, "median": 2000.0, "max": 10000.0}
    assert s["box_size"]["all"]["coco_size"] == {"small": 1, "medium": 2, "large": 1}
    assert s["box_size"]["real"]["height"]["median"] == 20.0


def test_empty_dataset_has_no_sizes():
    s = dataset_stats(new_coco([], []))
    assert s["boxes"] == 0 and s["box_size"]["all"]["area"] is None


def test_cli_text_and_json(tmp_path, dftag, coco):
    save_coco(coco, tmp_path / "annotations.json")
    code, out, err = dftag("info", tmp_path)
    assert code == 0, err
    assert "4 (1 real, 3 fake)" in out and "1 small" in out and "groups        2" in out
    code, out, _ = dftag("info", tmp_path, "--json")
    assert code == 0 and json.loads(out)["boxes_per_class"]["fake"] == 3


def test_cli_split_and_bad_input(tmp_path, dftag, coco):
    save_coco(coco, tmp_path / "annotations.json")
    code, _, err = dftag("info", tmp_path, "--split", "val")
    assert code == 1 and "val.json" in err and "dftag split" in err
    (tmp_path / "broken.json").write_text("{not json")
    code, _, err = dftag("info", tmp_path / "broken.json")
    assert code == 1 and "broken.json" in err and "line 1" in err and "Traceback" not in err
