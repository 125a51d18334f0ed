"""Bad input for ``dftag convert``: one clear line naming the file, exit 1, no traceback, no output left."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dftag.annotations.labels import LabelMap

FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def _still(path: Path, size=(64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(path)
    return path


def _fails(dftag, tmp_path: Path, *args, match: str) -> str:
    out = tmp_path / "ds"
    code, _, err = dftag("convert", *args, "--out", out)
    assert code == 1
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("dftag convert: error:")]
    assert len(lines) == 1, err
    assert match in lines[0], lines[0]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds.")]  # no temporary folder left
    return lines[0]


def _csv(tmp_path: Path, rows: str, header="image_name,xmin,xmax,ymin,ymax,class_id") -> Path:
    _still(tmp_path / "a.png")
    path = tmp_path / "boxes.csv"
    path.write_text(f"{header}\n{rows}")
    return path


def test_missing_media(dftag, tmp_path):
    (tmp_path / "media").mkdir()
    line = _fails(dftag, tmp_path, "--format", "cvat-video", "--input", FIXTURES / "cvat_video.xml",
                  "--media", tmp_path / "media", match="media file not found: 'clip.mp4'")
    assert "cvat_video.xml" in line


def test_negative_box_size_names_file_and_line(dftag, tmp_path):
    csv = _csv(tmp_path, "a.png,30,10,5,20,1\n")
    line = _fails(dftag, tmp_path, "--format", "csv", "--input", csv, match="negative size")
    assert f"{csv} (line 2)" in line


def test_box_outside_image_is_clipped_or_dropped_with_warning_counts(dftag, tmp_path):
    csv = _csv(tmp_path, "a.png,-10,20,-5,10,1\na.png,70,90,0,10,2\na.png,63.5,64,0,10,2\n")
    code, out, err = dftag("convert", "--format", "csv", "--input", csv, "--out", tmp_path / "ds")
    assert code == 0, err
    assert "boxes clipped to the image: 1" in err and "under 1 px dropped: 2" in err
    coco = json.loads((tmp_path / "ds" / "annotations.json").read_text())
    assert [a["bbox"] for a in coco["annotations"]] == [[0.0, 0.0, 20.0, 10.0]]


def test_duplicate_coco_image_ids(dftag, tmp_path):
    _still(tmp_path / "a.png")
    (tmp_path / "c.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": "a.png"}],
        "annotations": [], "categories": [{"id": 1, "name": "real"}]}))
    _fails(dftag, tmp_path, "--format", "coco", "--input", tmp_path / "c.json", match="duplicate image id 1")


def test_duplicate_cvat_image_ids(dftag, tmp_path):
    xml = tmp_path / "a.xml"
    xml.write_text('<annotations><version>1.1</version><image id="0" name="a.png" width="64" height="48"/>'
                   '<image id="0" name="b.png" width="64" height="48"/></annotations>')
    _fails(dftag, tmp_path, "--format", "cvat-images", "--input", xml, match="duplicate image id 0")


@pytest.mark.parametrize("fmt,name,text,match", [
    ("cvat-video", "a.xml", "<annotations><track id='0' label='fake'>", "invalid XML"),
    ("labelstudio", "a.json", '[{"data": {"video": "x.mp4"},', "invalid JSON"),
    ("csv", "a.csv", 'image_name,xmin,xmax,ymin,ymax,class_id\n"a.png,1,2,3,4,1\n', "row"),
    ("voc", "a.xml", "<annotation><filename>a.png</filename><object><name>fake</name></object></annotation>",
     "no <bndbox>"),
    ("yolo", "labels/a.txt", "0 0.5 0.5 0.2\n", "no class names file"),
])
def test_unparseable_files(dftag, tmp_path, fmt, name, text, match):
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True)
    path.write_text(text)
    line = _fails(dftag, tmp_path, "--format", fmt, "--input", tmp_path / "in", match=match)
    assert str(tmp_path / "in") in line


def test_csv_missing_columns_suggests_mapping(dftag, tmp_path):
    csv = _csv(tmp_path, "a.png,1,2,3,4\n", header="file,x1,x2,y1,y2")
    _fails(dftag, tmp_path, "--format", "csv", "--input", csv, match="--columns")


def test_xml_entity_bomb_is_rejected(dftag, tmp_path):
    xml = tmp_path / "bomb.xml"
    xml.write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">'
                   '<!ENTITY c "&b;&b;&b;&b;&b;">]><annotations><meta><task><name>&c;</name></task></meta>'
                   '</annotations>')
    _fails(dftag, tmp_path, "--format", "cvat-video", "--input", xml, match="unsafe")


def test_video_that_does_not_decode(dftag, tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video" * 10)
    _fails(dftag, tmp_path, "--format", "cvat-video", "--input", FIXTURES / "cvat_video.xml",
           "--media", tmp_path / "media", match="not a decodable video")


@pytest.mark.parametrize("member", ["../evil.xml", "/abs/evil.xml"])
def test_zip_members_outside_target_are_rejected(dftag, tmp_path, member):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(member, "<annotations/>")
    _fails(dftag, tmp_path, "--format", "cvat-video", "--input", archive, match="outside the extraction folder")
    assert not (tmp_path / "evil.xml").exists()


def test_zip_symlink_member_is_rejected(dftag, tmp_path):
    archive = tmp_path / "export.zip"
    info = zipfile.ZipInfo("annotations.xml")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    _fails(dftag, tmp_path, "--format", "cvat-video", "--input", archive, match="symbolic link")


def test_errors_inside_zip_name_the_member(dftag, tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("annotations.xml", "<annotations><track>")
    _fails(dftag, tmp_path, "--format", "cvat-video", "--input", archive, match="export.zip!/annotations.xml")


def test_unknown_labels_listed_with_places_or_skipped(dftag, tmp_path):
    csv = _csv(tmp_path, "a.png,1,10,1,10,person\na.png,1,10,1,10,person\na.png,2,20,2,20,car\n"
                         "a.png,3,30,3,30,fake\n")
    line = _fails(dftag, tmp_path, "--format", "csv", "--input", csv, match="unknown label")
    assert "'car' in" in line and "1 box: line 4" in line
    assert "'person' in" in line and "2 boxes: line 2; line 3" in line
    code, out, err = dftag("convert", "--format", "csv", "--input", csv, "--out", tmp_path / "ds", "--skip-unknown")
    assert code == 0 and "boxes with unknown labels skipped: 3" in err and "fake 1" in out
    code, out, err = dftag("convert", "--format", "csv", "--input", csv, "--out", tmp_path / "ds2",
                           "--label-map", "real=person;fake=car")
    assert code == 0 and "real 2, fake 2" in out


def test_existing_output_needs_force(dftag, tmp_path):
    csv = _csv(tmp_path, "a.png,1,10,1,10,real\n")
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    code, _, err = dftag("convert", "--format", "csv", "--input", csv, "--out", out)
    assert code == 1 and "--force" in err and (out / "keep.txt").exists()
    code, _, err = dftag("convert", "--format", "csv", "--input", csv, "--out", out, "--force")
    assert code == 0 and not (out / "keep.txt").exists() and (out / "annotations.json").exists()


def test_label_map_forms(tmp_path):
    inline = LabelMap.parse("real=person_real, ok ;fake=DF")
    assert inline.class_name("Person_Real") == "real" and inline.class_name("ok") == "real"
    assert inline.class_name("df") == "fake" and inline.class_name("MANIPULATED") == "fake"
    assert inline.class_name("person") is None
    (tmp_path / "m.json").write_text(json.dumps({"real": ["a"], "b": "fake"}))
    from_file = LabelMap.parse(str(tmp_path / "m.json"))
    assert from_file.class_name("A") == "real" and from_file.class_name("b") == "fake"
    with pytest.raises(Exception, match="class must be one of"):
        LabelMap.parse("person=a")
