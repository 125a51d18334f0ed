"""Still-image formats through ``dftag convert`` and the writers' round trip."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dftag.annotations.dataset import load_dataset
from dftag.annotations.formats import WRITERS

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def _still(path: Path, size=(64, 48), fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(path, format=fmt)
    return path


def _boxes(out: Path) -> dict[str, list[tuple[int, list[float]]]]:
    coco = json.loads((out / "annotations.json").read_text())
    names = {img["id"]: img["file_name"] for img in coco["images"]}
    got: dict[str, list] = {name: [] for name in names.values()}
    for ann in coco["annotations"]:
        got[names[ann["image_id"]]].append((ann["category_id"], ann["bbox"]))
    return got


def test_cvat_images_clips_boxes_and_keeps_negatives(dftag, tmp_path):
    _still(tmp_path / "media" / "a.png")
    _still(tmp_path / "media" / "b.png")
    code, _, err = dftag("convert", "--format", "cvat-images", "--input", FIXTURES / "cvat_images.xml",
                         "--media", tmp_path / "media", "--out", tmp_path / "ds")
    assert code == 0, err
    assert _boxes(tmp_path / "ds") == {"a.png": [(1, [4.0, 6.0, 26.0, 34.0]), (2, [40.0, 10.0, 24.0, 20.0])],
                                       "b.png": []}
    assert "boxes clipped to the image: 1" in err and "CVAT polygon shapes ignored (only boxes are read): 1" in err
    # stills are stored byte for byte
    assert (tmp_path / "ds" / "images" / "a.png").read_bytes() == (tmp_path / "media" / "a.png").read_bytes()


def test_cvat_images_export_zip_with_images_folder(dftag, tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(FIXTURES / "cvat_images.xml", "annotations.xml")
        zf.write(_still(tmp_path / "a.png"), "images/a.png")
        zf.write(_still(tmp_path / "b.png"), "images/b.png")
    code, _, err = dftag("convert", "--format", "cvat-images", "--input", archive, "--out", tmp_path / "ds")
    assert code == 0, err
    assert sorted(_boxes(tmp_path / "ds")) == ["a.png", "b.png"]


def test_labelstudio_images_percent_and_rotation(dftag, tmp_path):
    _still(tmp_path / "media" / "a.png")  # the export names /data/upload/2/9f8e7d6c-a.png
    code, _, err = dftag("convert", "--format", "labelstudio", "--input", FIXTURES / "labelstudio_images.json",
                         "--media", tmp_path / "media", "--out", tmp_path / "ds")
    assert code == 0, err
    got = _boxes(tmp_path / "ds")["a.png"]
    assert got[0] == (2, [16.0, 12.0, 32.0, 24.0])
    # a 16x12 box rotated 90 degrees clockwise about its top-left corner (0, 0) covers x -12..0: clipped away
    assert len(got) == 1 and "under 1 px dropped: 1" in err


def test_coco_arbitrary_category_ids_missing_area_and_iscrowd(dftag, tmp_path):
    _still(tmp_path / "images" / "x.jpg", fmt="JPEG")
    coco = {"images": [{"id": 7, "file_name": "x.jpg", "width": 64, "height": 48}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 17, "bbox": [1, 2, 10, 20]},
                            {"id": 2, "image_id": 7, "category_id": 42, "bbox": [30, 5, 8, 8], "area": 64,
                             "iscrowd": 1}],
            "categories": [{"id": 17, "name": "Genuine"}, {"id": 42, "name": "swapped"}]}
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    code, _, err = dftag("convert", "--format", "coco", "--input", tmp_path / "instances.json", "--out",
                         tmp_path / "ds")
    assert code == 0, err
    ds = load_dataset(tmp_path / "ds")
    assert [(a["category_id"], a["bbox"], a["area"], a["iscrowd"]) for a in ds.annotations] == [
        (1, [1.0, 2.0, 10.0, 20.0], 200.0, 0), (2, [30.0, 5.0, 8.0, 8.0], 64.0, 1)]
    assert ds.images[0]["group"] == "x" and ds.images[0]["frame_index"] is None


def test_voc_one_based_coordinates_and_difficult(dftag, tmp_path):
    root = tmp_path / "VOC"
    _still(root / "JPEGImages" / "p1.jpg", fmt="JPEG")
    (root / "Annotations").mkdir()
    (root / "Annotations" / "p1.xml").write_text(
        "<annotation><folder>VOC</folder><filename>p1.jpg</filename>"
        "<size><width>64</width><height>48</height><depth>3</depth></size><segmented>0</segmented>"
        "<object><name>fake</name><pose>Unspecified</pose><truncated>0</truncated><difficult>1</difficult>"
        "<bndbox><xmin>11</xmin><ymin>6</ymin><xmax>40</xmax><ymax>30</ymax></bndbox></object></annotation>")
    code, _, err = dftag("convert", "--format", "voc", "--input", root, "--out", tmp_path / "ds")
    assert code == 0, err
    ann = load_dataset(tmp_path / "ds").annotations[0]
    assert ann["bbox"] == [10.0, 5.0, 30.0, 25.0] and ann["difficult"] == 1


@pytest.mark.parametrize("names_file", ["data.yaml", "obj.names"])
def test_yolo_layouts(dftag, tmp_path, names_file):
    root = tmp_path / "yolo"
    if names_file == "data.yaml":  # Ultralytics: images/train + labels/train
        _still(root / "images" / "train" / "f.jpg", fmt="JPEG")
        (root / "labels" / "train").mkdir(parents=True)
        (root / "labels" / "train" / "f.txt").write_text("1 0.5 0.5 0.25 0.5\n")
        (root / "data.yaml").write_text("path: .\ntrain: images/train\nnames:\n  0: REAL\n  1: FAKE\n")
        _still(root / "images" / "train" / "neg.jpg", fmt="JPEG")
    else:  # Darknet / CVAT YOLO 1.1: obj.names + obj_train_data/ with the txt beside the image
        _still(root / "obj_train_data" / "f.jpg", fmt="JPEG")
        (root / "obj_train_data" / "f.txt").write_text("1 0.5 0.5 0.25 0.5\n")
        (root / "obj.names").write_text("real\nfake\n")
        (root / "train.txt").write_text("obj_train_data/f.jpg\n")
    code, _, err = dftag("convert", "--format", "yolo", "--input", root, "--out", tmp_path / "ds")
    assert code == 0, err
    got = {Path(k).name: v for k, v in _boxes(tmp_path / "ds").items()}
    assert got["f.jpg"] == [(2, [24.0, 12.0, 16.0, 24.0])]
    if names_file == "data.yaml":
        assert got["neg.jpg"] == []


def test_csv_default_ssd_keras_layout_and_column_mapping(dftag, tmp_path):
    _still(tmp_path / "img" / "a.jpg", fmt="JPEG")
    # ssd_keras order: xmin, xmax, ymin, ymax; class_id 1 = real, 2 = fake
    (tmp_path / "boxes.csv").write_text("image_name,xmin,xmax,ymin,ymax,class_id\na.jpg,1,11,2,22,2\n")
    code, _, err = dftag("convert", "--format", "csv", "--input", tmp_path / "boxes.csv", "--media",
                         tmp_path / "img", "--out", tmp_path / "ds")
    assert code == 0, err
    assert _boxes(tmp_path / "ds") == {"a.jpg": [(2, [1.0, 2.0, 10.0, 20.0])]}
    (tmp_path / "other.csv").write_text("filename,x0,y0,x1,y1,class\na.jpg,1,2,11,22,pristine\n")
    code, _, err = dftag("convert", "--format", "csv", "--input", tmp_path / "other.csv", "--media",
                         tmp_path / "img", "--out", tmp_path / "ds2",
                         "--columns", "image=filename,xmin=x0,ymin=y0,xmax=x1,ymax=y1,label=class")
    assert code == 0, err
    assert _boxes(tmp_path / "ds2") == {"a.jpg": [(1, [1.0, 2.0, 10.0, 20.0])]}


def test_max_side_scales_stills_and_boxes(dftag, tmp_path):
    _still(tmp_path / "img" / "a.jpg", size=(200, 100), fmt="JPEG")
    (tmp_path / "boxes.csv").write_text("image_name,xmin,xmax,ymin,ymax,class_id\na.jpg,20,120,10,60,1\n")
    code, _, err = dftag("convert", "--format", "csv", "--input", tmp_path / "boxes.csv", "--media",
                         tmp_path / "img", "--out", tmp_path / "ds", "--max-side", "100")
    assert code == 0, err
    ds = load_dataset(tmp_path / "ds")
    assert (ds.images[0]["width"], ds.images[0]["height"]) == (100, 50)
    assert Image.open(ds.image_path(ds.images[0])).size == (100, 50)
    assert ds.annotations[0]["bbox"] == [10.0, 5.0, 50.0, 25.0]


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_writers_round_trip(dftag, tmp_path, fmt):
    _still(tmp_path / "media" / "a.png")
    _still(tmp_path / "media" / "b.png")
    code, _, err = dftag("convert", "--format", "cvat-images", "--input", FIXTURES / "cvat_images.xml",
                         "--media", tmp_path / "media", "--out", tmp_path / "ds")
    assert code == 0, err
    dataset = load_dataset(tmp_path / "ds")
    WRITERS[fmt](dataset, tmp_path / "export")
    with pytest.raises(Exception, match="not empty"):
        WRITERS[fmt](dataset, tmp_path / "export")
    args = ["--media", tmp_path / "export" / "images"] if fmt == "csv" else []
    code, _, err = dftag("convert", "--format", fmt, "--input", tmp_path / "export", *args, "--out",
                         tmp_path / "back")
    assert code == 0, err
    before = {Path(k).stem: v for k, v in _boxes(tmp_path / "ds").items()}
    after = {Path(k).stem: v for k, v in _boxes(tmp_path / "back").items()}
    assert after == before


def test_inputs_are_not_modified(dftag, tmp_path):
    src = tmp_path / "in"
    shutil.copytree(FIXTURES, src)
    _still(tmp_path / "media" / "a.png")
    _still(tmp_path / "media" / "b.png")
    snapshot = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    code, _, err = dftag("convert", "--format", "cvat-images", "--input", src / "cvat_images.xml", "--media",
                         tmp_path / "media", "--out", tmp_path / "ds")
    assert code == 0, err
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == snapshot


@pytest.mark.parametrize("fmt", ["voc", "yolo"])
def test_images_sharing_a_stem_keep_their_own_boxes_through_stem_paired_formats(dftag, tmp_path, fmt):
    _still(tmp_path / "media" / "a.jpg", fmt="JPEG")
    _still(tmp_path / "media" / "a.png")
    (tmp_path / "boxes.csv").write_text("image_name,xmin,xmax,ymin,ymax,class_id\n"
                                        "a.jpg,2,20,3,30,1\na.png,10,40,5,25,2\n")
    code, _, err = dftag("convert", "--format", "csv", "--input", tmp_path / "boxes.csv", "--media",
                         tmp_path / "media", "--out", tmp_path / "ds")
    assert code == 0, err
    WRITERS[fmt](load_dataset(tmp_path / "ds"), tmp_path / "export")
    code, _, err = dftag("convert", "--format", fmt, "--input", tmp_path / "export", "--out", tmp_path / "back")
    assert code == 0, err
    assert _boxes(tmp_path / "back") == _boxes(tmp_path / "ds")  # carried file names, each its own boxes


def test_unique_stems_renames_only_a_later_name_with_a_taken_folder_and_stem():
    from dftag.annotations.formats.base import unique_stems

    assert unique_stems(["a.jpg", "A.png", "x/a.png", "a_2.jpg", "b.jpg"]) == \
        ["a.jpg", "A_2.png", "x/a.png", "a_2_2.jpg", "b.jpg"]
