"""The canonical dftag dataset: one COCO detection file plus the images it names.

Layout of a dataset folder::

    DATASET/
      annotations.json        # COCO detection format (all images)
      train.json val.json test.json   # optional splits, full COCO files (``dftag split``)
      images/                 # the stored frames and images; ``file_name`` is relative to images/

Conventions (see README "Dataset format"):

* categories are fixed: ``{"id": 1, "name": "real"}`` and ``{"id": 2, "name": "fake"}``;
* ``bbox`` is COCO ``[x, y, w, h]`` in absolute pixels of the stored image; ``area`` (= w*h) and
  ``iscrowd`` (0 or 1) are always present; an annotation may carry ``track_id`` and ``difficult`` (0/1);
* every image carries ``video`` (source video path as given, or ``None``), ``frame_index`` (0-based decoded
  frame number, or ``None`` for still images), ``timestamp`` (seconds from the frame's pts, or ``None``) and
  ``group`` (the id of the original footage it derives from: a fake's original, a real clip itself); it may
  carry ``video_label`` (``"real"``/``"fake"``) and ``original`` (the video a fake was made from).

:func:`load_dataset` and :func:`save_coco` run :func:`validate`, which checks every field's type and range, so
a bad file is one :class:`DftagError` naming the file and the entry, never a ``TypeError`` later on.

In memory dftag uses absolute pixel ``xyxy`` boxes; :mod:`dftag.core.boxes` converts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dftag.core.atomic import write_json
from dftag.core.errors import DftagError
from dftag.core.io import read_json

REAL, FAKE = 1, 2
CATEGORIES: list[dict[str, Any]] = [{"id": REAL, "name": "real"}, {"id": FAKE, "name": "fake"}]
CLASS_NAMES: dict[int, str] = {REAL: "real", FAKE: "fake"}
CLASS_IDS: dict[str, int] = {name: cid for cid, name in CLASS_NAMES.items()}
ANNOTATIONS_FILE = "annotations.json"
IMAGES_DIR = "images"
SPLITS = ("train", "val", "test")
IMAGE_KEYS = ("id", "file_name", "width", "height", "video", "frame_index", "timestamp", "group")


@dataclass
class Dataset:
    """A canonical dataset held in memory as its COCO dict, with the folder its images live in."""

    root: Path
    coco: dict[str, Any]
    source: Path = field(default=None)  # the JSON file it was read from

    @property
    def images(self) -> list[dict[str, Any]]:
        return self.coco["images"]

    @property
    def annotations(self) -> list[dict[str, Any]]:
        return self.coco["annotations"]

    def image_path(self, image: dict[str, Any]) -> Path:
        return self.root / IMAGES_DIR / image["file_name"]

    def annotations_by_image(self) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {img["id"]: [] for img in self.images}
        for ann in self.annotations:
            out[ann["image_id"]].append(ann)
        return out


def new_coco(images: list[dict[str, Any]], annotations: list[dict[str, Any]], **info: Any) -> dict[str, Any]:
    """A canonical COCO dict with the fixed categories."""
    return {
        "info": {"description": "dftag dataset", **info},
        "images": images,
        "annotations": annotations,
        "categories": [dict(c) for c in CATEGORIES],
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _entry(kind: str, n: int, item: Any) -> str:
    """How a message names an entry: ``images[3] (id 7)``."""
    item_id = item.get("id") if isinstance(item, dict) else None
    return f"{kind}[{n}]" + (f" (id {_show(item_id, 30)})" if item_id is not None else "")


# image field -> (check, what it must be); every image carries IMAGE_KEYS, the others are optional
IMAGE_FIELD_CHECKS: dict[str, tuple[Any, str]] = {
    "id": (_is_int, "an integer"),
    "file_name": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
    "width": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "height": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "video": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "frame_index": (lambda v: v is None or (_is_int(v) and v >= 0), "an integer >= 0 or null"),
    "timestamp": (lambda v: v is None or _is_number(v), "a finite number or null"),
    "group": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "video_label": (lambda v: v is None or v in CLASS_IDS, "'real', 'fake' or null"),
    "original": (lambda v: v is None or isinstance(v, str), "a string or null"),
}
_ANNOTATION_FIELDS: dict[str, tuple[Any, str]] = {
    "id": (_is_int, "an integer"),
    "image_id": (_is_int, "an integer"),
    "category_id": (lambda v: _is_int(v) and v in CLASS_NAMES, "1 (real) or 2 (fake)"),
    "bbox": (lambda v: isinstance(v, list) and len(v) == 4 and all(_is_number(x) for x in v) and v[2] > 0
             and v[3] > 0, "[x, y, w, h]: four finite numbers with w, h > 0"),
    "area": (lambda v: _is_number(v) and v >= 0, "a finite number >= 0"),
    "iscrowd": (lambda v: _is_int(v) and v in (0, 1), "0 or 1"),
    "track_id": (lambda v: v is None or _is_int(v), "an integer or null"),
    "difficult": (lambda v: v is None or (_is_int(v) and v in (0, 1)), "0, 1 or null"),
}
_ANNOTATION_KEYS = ("id", "image_id", "category_id", "bbox", "area", "iscrowd")


def _check_fields(item: dict, fields: dict[str, tuple[Any, str]], path: Path, where: str) -> None:
    for key, (check, what) in fields.items():
        if key in item and not check(item[key]):
            raise DftagError(f"{key} must be {what}, got {_show(item[key])}", path, where)


def validate(coco: Any, path: Path) -> None:
    """Check a canonical COCO dict: its structure, every field's type and range, and the invariants (unique
    ids, known image ids, categories 1=real and 2=fake). Raise :class:`DftagError` naming ``path``, the entry
    (``annotations[4] (id 5)``) and the first problem, so no bad value reaches the code that uses it."""
    if not isinstance(coco, dict):
        raise DftagError(f"not a dftag dataset: the file holds a {type(coco).__name__}, not a COCO object", path)
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            got = "missing" if key not in coco else f"a {type(coco[key]).__name__}"
            raise DftagError(f"not a dftag dataset: '{key}' must be a list ({got})", path)
    if not isinstance(coco.get("info", {}), dict):
        raise DftagError(f"info must be an object, got {_show(coco['info'])}", path)
    for n, cat in enumerate(coco["categories"]):
        if not isinstance(cat, dict):
            raise DftagError(f"category must be an object, got {_show(cat)}", path, f"categories[{n}]")
    if sorted((repr(c.get("id")), repr(c.get("name"))) for c in coco["categories"]) != \
            sorted((repr(cid), repr(name)) for cid, name in CLASS_NAMES.items()):
        raise DftagError("categories must be exactly 1=real and 2=fake", path)
    ids: set[int] = set()
    for n, img in enumerate(coco["images"]):
        where = _entry("images", n, img)
        if not isinstance(img, dict):
            raise DftagError(f"image must be an object, got {_show(img)}", path, where)
        missing = [k for k in IMAGE_KEYS if k not in img]
        if missing:
            raise DftagError(f"image {_show(img.get('id'), 30)} lacks {', '.join(missing)}", path, where)
        _check_fields(img, IMAGE_FIELD_CHECKS, path, where)
        name = img["file_name"].replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/"):
            raise DftagError(f"file_name must be a path inside images/, got {img['file_name']!r}", path, where)
        if img["id"] in ids:
            raise DftagError(f"duplicate image id {img['id']}", path, where)
        ids.add(img["id"])
    ann_ids: set[int] = set()
    for n, ann in enumerate(coco["annotations"]):
        where = _entry("annotations", n, ann)
        if not isinstance(ann, dict):
            raise DftagError(f"annotation must be an object, got {_show(ann)}", path, where)
        missing = [k for k in _ANNOTATION_KEYS if k not in ann]
        if missing:
            raise DftagError(f"annotation lacks {', '.join(missing)}", path, where)
        _check_fields(ann, _ANNOTATION_FIELDS, path, where)
        if ann["id"] in ann_ids:
            raise DftagError(f"duplicate annotation id {ann['id']}", path, where)
        ann_ids.add(ann["id"])
        if ann["image_id"] not in ids:
            raise DftagError(f"unknown image_id {ann['image_id']!r}", path, where)


def load_dataset(path: str | Path, split: str | None = None) -> Dataset:
    """Load a dataset folder (``annotations.json``, or ``SPLIT.json`` when ``split`` is given) or a COCO file.

    A path to a JSON file inside a dataset folder loads that file with the folder as root.
    """
    path = Path(path)
    if path.is_dir():
        json_path = path / (f"{split}.json" if split else ANNOTATIONS_FILE)
        root = path
    else:
        json_path, root = path, path.parent
    if not json_path.exists():
        what = f"split file {json_path.name} (run 'dftag split' first)" if split else "file"
        raise DftagError(f"{what} not found", json_path)
    coco = read_json(json_path)
    validate(coco, json_path)
    return Dataset(root=root, coco=coco, source=json_path)


def save_coco(coco: dict[str, Any], path: str | Path) -> None:
    """Validate and write a canonical COCO dict atomically."""
    path = Path(path)
    validate(coco, path)
    write_json(path, coco)
