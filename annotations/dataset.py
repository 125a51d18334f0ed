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
  ``group`` (the id of the original footage it derives from: a fake's original, a real clip itself).

In memory dftag uses absolute pixel ``xyxy`` boxes; :mod:`dftag.core.boxes` converts.
"""

from __future__ import annotations

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


def validate(coco: dict[str, Any], path: Path) -> None:
    """Check the canonical invariants; raise :class:`DftagError` naming ``path`` and the first problem."""
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise DftagError(f"not a dftag dataset: missing list '{key}'", path)
    if sorted((c.get("id"), c.get("name")) for c in coco["categories"]) != sorted(CLASS_NAMES.items()):
        raise DftagError("categories must be exactly 1=real and 2=fake", path)
    ids: set[int] = set()
    for img in coco["images"]:
        missing = [k for k in IMAGE_KEYS if k not in img]
        if missing:
            raise DftagError(f"image {img.get('id')!r} lacks {', '.join(missing)}", path)
        if img["id"] in ids:
            raise DftagError(f"duplicate image id {img['id']}", path)
        ids.add(img["id"])
    ann_ids: set[int] = set()
    for ann in coco["annotations"]:
        where = f"annotation {ann.get('id')!r}"
        if ann.get("id") in ann_ids:
            raise DftagError("duplicate annotation id", path, where)
        ann_ids.add(ann.get("id"))
        if ann.get("image_id") not in ids:
            raise DftagError(f"unknown image_id {ann.get('image_id')!r}", path, where)
        if ann.get("category_id") not in CLASS_NAMES:
            raise DftagError(f"category_id {ann.get('category_id')!r} is not 1 (real) or 2 (fake)", path, where)
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and bbox[2] > 0 and bbox[3] > 0):
            raise DftagError(f"bbox must be [x, y, w, h] with w, h > 0, got {bbox!r}", path, where)
        if "area" not in ann or "iscrowd" not in ann:
            raise DftagError("annotation lacks area or iscrowd", path, where)


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
    if not isinstance(coco, dict):
        raise DftagError("not a COCO object", json_path)
    validate(coco, json_path)
    return Dataset(root=root, coco=coco, source=json_path)


def save_coco(coco: dict[str, Any], path: str | Path) -> None:
    """Validate and write a canonical COCO dict atomically."""
    path = Path(path)
    validate(coco, path)
    write_json(path, coco)
