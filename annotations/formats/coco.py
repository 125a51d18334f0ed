"""COCO detection JSON (``images``, ``annotations``, ``categories``), as pycocotools reads it.

Reading: ``path`` is a COCO JSON file or a folder holding them (CVAT ``annotations/instances_default.json``,
Roboflow ``_annotations.coco.json``). ``bbox`` is ``[x, y, w, h]`` in pixels of an image of the declared
``width`` x ``height``. Category ids may be anything: each annotation's label is its category's ``name``,
mapped to real/fake by the label map. Missing ``area`` or ``iscrowd`` are tolerated (``iscrowd`` is then 0).
Image files are looked up as ``file_name`` in ``media``, beside the JSON, in ``images/`` beside it and in
``../images``. Canonical image fields present in the file (``video``, ``frame_index``, ``timestamp``,
``group``, ``video_label``, ``original``) are kept, so a dftag dataset written by :func:`write` converts back
unchanged. Image ids are kept when every image id of the input is a unique positive integer (a results file
keyed on them still matches); otherwise images are numbered from 1 (counted as a warning).

Writing: :func:`write` puts ``annotations.json`` (COCO with categories 1 real and 2 fake and the canonical image
fields) and ``images/`` in ``out_dir``: the same layout as a dftag dataset.
"""

from __future__ import annotations

from pathlib import Path

from dftag.annotations.dataset import ANNOTATIONS_FILE, IMAGES_DIR, Dataset, save_coco
from dftag.annotations.formats.base import (
    Annotations,
    StillImage,
    files_under,
    find_media,
    link_or_copy,
    make_box,
    parse_carried,
    require_files,
    to_float,
    to_int,
)
from dftag.core.atomic import atomic_dir
from dftag.core.errors import DftagError, Warnings
from dftag.core.io import read_json

CANONICAL_IMAGE_FIELDS = ("video", "frame_index", "timestamp", "group", "video_label", "original")


def _key(value) -> bool:
    """An id COCO tools can key on: an integer or a string (not a bool, list or object)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _index(items, json_path: Path, what: str) -> dict:
    out = {}
    if not isinstance(items, list):
        raise DftagError(f"'{what}' must be a list", json_path)
    for n, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item:
            raise DftagError(f"{what} entry has no id", json_path, f"{what}[{n}]")
        if not _key(item["id"]):
            raise DftagError(f"id must be an integer, got {item['id']!r}", json_path, f"{what}[{n}]")
        if item["id"] in out:
            raise DftagError(f"duplicate {what[:-1]} id {item['id']!r}", json_path, f"{what}[{n}]")
        out[item["id"]] = item
    return out


def read_file(json_path: Path, media: Path | None = None) -> Annotations:
    coco = read_json(json_path)
    if not isinstance(coco, dict) or "images" not in coco or "annotations" not in coco:
        raise DftagError("not a COCO detection file (needs 'images' and 'annotations')", json_path)
    images = _index(coco["images"], json_path, "images")
    categories = _index(coco.get("categories", []), json_path, "categories")
    boxes: dict = {image_id: [] for image_id in images}
    if not isinstance(coco["annotations"], list):
        raise DftagError("'annotations' must be a list", json_path)
    for n, ann in enumerate(coco["annotations"]):
        where = f"annotations[{n}] (id {ann.get('id')!r})" if isinstance(ann, dict) else f"annotations[{n}]"
        if not isinstance(ann, dict):
            raise DftagError("annotation is not an object", json_path, where)
        if not _key(ann.get("image_id")) or ann["image_id"] not in images:
            raise DftagError(f"unknown image_id {ann.get('image_id')!r}", json_path, where)
        if not _key(ann.get("category_id")) or ann["category_id"] not in categories:
            raise DftagError(f"unknown category_id {ann.get('category_id')!r}", json_path, where)
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise DftagError(f"bbox must be [x, y, w, h], got {bbox!r}", json_path, where)
        x, y, w, h = (to_float(v, json_path, where, "bbox value") for v in bbox)
        fields = {k: to_int(ann[k], json_path, where, k) for k in ("track_id", "difficult") if ann.get(k) is not None}
        if "difficult" in fields:
            fields["difficult"] = int(fields["difficult"] > 0)
        iscrowd = to_int(ann.get("iscrowd", 0), json_path, where, "iscrowd")
        if iscrowd not in (0, 1):
            raise DftagError(f"iscrowd must be 0 or 1, got {ann['iscrowd']!r}", json_path, where)
        boxes[ann["image_id"]].append(make_box(str(categories[ann["category_id"]].get("name", "")), x, y,
                                               x + w, y + h, json_path, where, iscrowd=iscrowd, **fields))
    dirs = [media, json_path.parent, json_path.parent / "images", json_path.parent.parent / "images"]
    out = Annotations()
    for image_id, image in images.items():
        name = image.get("file_name")
        if not isinstance(name, str) or not name:
            raise DftagError("image has no file_name", json_path, f"image id {image_id!r}")
        size = None
        if image.get("width") and image.get("height"):
            size = (round(to_float(image["width"], json_path, f"image id {image_id!r}", "width")),
                    round(to_float(image["height"], json_path, f"image id {image_id!r}", "height")))
        extra = parse_carried({k: image.get(k) for k in CANONICAL_IMAGE_FIELDS}, json_path, f"image id {image_id!r}")
        out.images.append(StillImage(name=name, path=find_media(name, dirs), boxes=boxes[image_id],
                                     source=json_path, size=size, extra=extra, image_id=image_id))
    return out


def read(path: Path, media: Path | None = None, warnings: Warnings | None = None) -> Annotations:
    """Read every COCO JSON file below ``path``."""
    out = Annotations()
    for json_path in require_files(files_under(path, (".json",)), path, "COCO JSON files (*.json)"):
        out.extend(read_file(json_path, media))
    return out


def write(dataset: Dataset, out_dir: str | Path, force: bool = False) -> None:
    """Write ``dataset`` as ``out_dir/annotations.json`` plus ``out_dir/images/`` (atomically)."""
    with atomic_dir(out_dir, overwrite=force) as tmp:
        for image in dataset.images:
            link_or_copy(dataset.image_path(image), tmp / IMAGES_DIR / image["file_name"])
        save_coco(dataset.coco, tmp / ANNOTATIONS_FILE)
