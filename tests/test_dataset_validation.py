"""A dataset file with wrong types is one line naming the file and the entry, from every command that loads it.

Each row of ``BAD`` breaks one field of a valid two-image dataset (written as JSON text, so ``Infinity`` and
``NaN`` can appear as Python's json module reads them) and names what the error must say.
"""

from __future__ import annotations

import json

import pytest

from dftag.annotations.dataset import load_dataset, new_coco
from dftag.core.errors import DftagError


def _valid() -> dict:
    images = [{"id": i, "file_name": f"clip/{i:06d}.jpg", "width": 64, "height": 48, "video": "clip.mp4",
               "frame_index": i, "timestamp": i / 25, "group": "clip"} for i in (1, 2)]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20], "area": 200, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [3, 4, 10, 20], "area": 200, "iscrowd": 0,
             "track_id": 4, "difficult": 0}]
    return new_coco(images, anns)


def _set(path: str, value):
    """A mutation setting ``path`` (``"annotations.0.bbox"``) to ``value``."""
    def mutate(coco):
        *parents, last = path.split(".")
        target = coco
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[int(last) if isinstance(target, list) else last] = value
    return mutate


A0, A1, I0 = "annotations[0] (id 1)", "annotations[1] (id 2)", "images[0] (id 1)"
BAD = [  # (case, mutation, where, message)
    ("bbox of strings", _set("annotations.0.bbox", ["1", "2", "3", "4"]), A0, "bbox must be [x, y, w, h]"),
    ("bbox Infinity", _set("annotations.0.bbox", [0, 0, float("inf"), 5]), A0, "four finite numbers"),
    ("bbox NaN", _set("annotations.1.bbox", [float("nan"), 0, 5, 5]), A1, "four finite numbers"),
    ("bbox of 3", _set("annotations.0.bbox", [0, 0, 5]), A0, "bbox must be"),
    ("bbox zero width", _set("annotations.0.bbox", [0, 0, 0, 5]), A0, "w, h > 0"),
    ("bbox a string", _set("annotations.0.bbox", "0 0 5 5"), A0, "bbox must be"),
    ("images of ints", _set("images", [1, 2]), "images[0]", "image must be an object, got 1"),
    ("annotations of lists", _set("annotations", [[1, 2]]), "annotations[0]", "annotation must be an object"),
    ("list image id", _set("images.0.id", [1]), "images[0] (id [1])", "id must be an integer, got [1]"),
    ("string image id", _set("images.0.id", "1"), "images[0] (id '1')", "id must be an integer"),
    ("list annotation id", _set("annotations.0.id", [1]), "annotations[0] (id [1])", "id must be an integer"),
    ("list image_id", _set("annotations.0.image_id", [1]), A0, "image_id must be an integer, got [1]"),
    ("unknown image_id", _set("annotations.0.image_id", 9), A0, "unknown image_id 9"),
    ("bool category", _set("annotations.0.category_id", True), A0, "category_id must be 1 (real) or 2 (fake)"),
    ("string category", _set("annotations.0.category_id", "1"), A0, "category_id must be 1 (real) or 2 (fake)"),
    ("string area", _set("annotations.0.area", "200"), A0, "area must be a finite number >= 0"),
    ("iscrowd 2", _set("annotations.0.iscrowd", 2), A0, "iscrowd must be 0 or 1"),
    ("string track_id", _set("annotations.1.track_id", "a"), A1, "track_id must be an integer or null"),
    ("difficult 5", _set("annotations.1.difficult", 5), A1, "difficult must be 0, 1 or null"),
    ("string width", _set("images.0.width", "64"), I0, "width must be a positive integer"),
    ("zero height", _set("images.0.height", 0), I0, "height must be a positive integer"),
    ("float width", _set("images.0.width", 64.5), I0, "width must be a positive integer"),
    ("list file_name", _set("images.0.file_name", ["a.jpg"]), I0, "file_name must be a non-empty string"),
    ("file_name outside images/", _set("images.0.file_name", "../../x.jpg"), I0,
     "file_name must be a path inside images/"),
    ("number video", _set("images.0.video", 5), I0, "video must be a string or null"),
    ("negative frame_index", _set("images.0.frame_index", -1), I0, "frame_index must be an integer >= 0 or null"),
    ("string frame_index", _set("images.0.frame_index", "3"), I0, "frame_index must be an integer >= 0 or null"),
    ("string timestamp", _set("images.0.timestamp", "0.5"), I0, "timestamp must be a finite number or null"),
    ("infinite timestamp", _set("images.0.timestamp", float("inf")), I0, "timestamp must be a finite number"),
    ("list group", _set("images.0.group", ["clip"]), I0, "group must be a string or null"),
    ("bad video_label", _set("images.0.video_label", "maybe"), I0, "video_label must be 'real', 'fake' or null"),
    ("number original", _set("images.0.original", 3), I0, "original must be a string or null"),
    ("missing group", lambda c: c["images"][0].pop("group"), I0, "lacks group"),
    ("missing bbox", lambda c: c["annotations"][0].pop("bbox"), A0, "annotation lacks bbox"),
    ("duplicate image id", _set("images.1.id", 1), "images[1] (id 1)", "duplicate image id 1"),
    ("categories of ints", _set("categories", [1, 2]), "categories[0]", "category must be an object, got 1"),
    ("string category id", _set("categories.0.id", "1"), None, "categories must be exactly 1=real and 2=fake"),
    ("images an object", _set("images", {"1": {}}), None, "'images' must be a list (a dict)"),
    ("info a list", _set("info", [1]), None, "info must be an object"),
    ("an empty object", lambda c: c.clear(), None, "'images' must be a list (missing)"),
]


def _write(tmp_path, case) -> tuple:
    _, mutate, where, message = case
    coco = _valid()
    mutate(coco)
    path = tmp_path / "ds" / "annotations.json"
    path.parent.mkdir()
    path.write_text(json.dumps(coco))  # writes Infinity / NaN as Python's json does
    expected = f"{path} ({where}): " if where else f"{path}: "
    return path, expected, message


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_dataset_is_one_line_naming_file_and_entry(tmp_path, case):
    path, expected, message = _write(tmp_path, case)
    with pytest.raises(DftagError) as err:
        load_dataset(path.parent)
    line = str(err.value)
    assert line.startswith(expected) and message in line and "\n" not in line, line


@pytest.mark.parametrize("case", BAD[:3] + BAD[6:9], ids=[c[0] for c in BAD[:3] + BAD[6:9]])
@pytest.mark.parametrize("command", [["info"], ["split"], ["export-annotations", "--format", "voc", "--out", "E"]])
def test_every_command_that_loads_a_bad_dataset_says_one_line(tmp_path, dftag, case, command):
    path, expected, message = _write(tmp_path, case)
    args = [str(tmp_path / a) if a == "E" else a for a in command]
    code, _, err = dftag(args[0], path.parent, *args[1:])
    assert code == 1 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0] and message in lines[0], err


def test_a_top_level_list_is_not_a_dataset(tmp_path):
    path = tmp_path / "annotations.json"
    path.write_text("[1, 2]")
    with pytest.raises(DftagError, match="not a dftag dataset: the file holds a list"):
        load_dataset(tmp_path)
