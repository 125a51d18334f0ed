"""YOLO detection labels: one ``.txt`` per image with lines ``class cx cy w h`` normalised to 0..1.

Class names come from the first of ``data.yaml`` (Ultralytics: ``names`` as a list or an ``{id: name}``
mapping), ``obj.names`` (Darknet / CVAT "YOLO 1.1"), ``classes.txt`` or any ``*.names`` file found below
``path`` (one name per line, line ``i`` is class ``i``). Images are every image file below ``path`` (and
``media``); an image's labels are the ``.txt`` of the same name beside it (CVAT ``obj_train_data/``) or in the
matching ``labels/`` folder (Ultralytics ``images/train/x.jpg`` -> ``labels/train/x.txt``). An image without a
label file is a negative (no boxes); a label file without an image is an error, since YOLO boxes need the
image size.

Writing: :func:`write` puts ``data.yaml`` (``names: {0: real, 1: fake}``), ``images/FILE`` and
``labels/FILE.txt`` in ``out_dir``. YOLO labels have no place for image fields, so the canonical ones
(:data:`~dftag.annotations.formats.base.CARRIED_FIELDS`: ``file_name``, ``video``, ``frame_index``,
``timestamp``, ``group``, ``video_label``, ``original``) go into a sidecar ``dftag_images.json`` beside
``data.yaml`` (``{"images": {"images/FILE": {...}}}``), which YOLO trainers ignore; :func:`read` uses it when
it is there. A copy of the folder without it reads back with each image's group set to its file stem.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from dftag.annotations.dataset import CLASS_NAMES, Dataset
from dftag.annotations.formats.base import (
    Annotations,
    StillImage,
    carried_fields,
    files_under,
    fmt,
    labelled_boxes,
    link_or_copy,
    make_box,
    parse_carried,
    relative_name,
    to_float,
    to_int,
    unique_stems,
)
from dftag.core.atomic import atomic_dir
from dftag.core.errors import DftagError, Warnings
from dftag.core.io import read_json
from dftag.core.media import IMAGE_SUFFIXES

NAMES_FILES = ("obj.names", "classes.txt")
SIDECAR = "dftag_images.json"  # canonical image fields written by :func:`write`, keyed by image path
LIST_FILES = {"train.txt", "valid.txt", "val.txt", "test.txt", "obj.data"}


def read_names(root: Path) -> tuple[dict[int, str], Path]:
    """The class names and the file they came from."""
    candidates = sorted(root.rglob("data.yaml")) + sorted(root.rglob("*.yaml"))
    for path in candidates:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
            raise DftagError(f"invalid YAML: {e}".splitlines()[0], path) from None
        names = data.get("names") if isinstance(data, dict) else None
        if isinstance(names, list):
            return {i: str(n) for i, n in enumerate(names)}, path
        if isinstance(names, dict):
            return {to_int(k, path, "names", "class id"): str(v) for k, v in names.items()}, path
    for pattern in (*NAMES_FILES, "*.names"):
        for path in sorted(root.rglob(pattern)):
            lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
            return {i: n for i, n in enumerate(ln for ln in lines if ln)}, path
    raise DftagError("no class names file (data.yaml, obj.names, classes.txt or *.names)", root)


def _label_file_for(image: Path) -> list[Path]:
    parts = list(image.parts)
    beside = image.with_suffix(".txt")
    if "images" in parts:
        i = len(parts) - 1 - parts[::-1].index("images")
        return [beside, Path(*parts[:i], "labels", *parts[i + 1:]).with_suffix(".txt")]
    return [beside]


def _read_labels(txt: Path, names: dict[int, str], names_file: Path) -> list:
    boxes = []
    try:
        lines = txt.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DftagError(f"cannot read: {e}", txt) from None
    for n, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"line {n}"
        if len(fields) != 5:
            raise DftagError(f"expected 'class cx cy w h', got {len(fields)} fields", txt, where)
        cls = to_int(fields[0], txt, where, "class")
        if cls not in names:
            raise DftagError(f"class {cls} is not in {names_file.name} ({len(names)} names)", txt, where)
        cx, cy, w, h = (to_float(v, txt, where, "coordinate") for v in fields[1:])
        if w < 0 or h < 0:
            raise DftagError(f"box has a negative size (w {w}, h {h})", txt, where)
        boxes.append(make_box(names[cls], cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, txt, where))
    return boxes


def read(path: Path, media: Path | None = None, warnings: Warnings | None = None) -> Annotations:
    """Read a YOLO dataset folder: images, their label files and the class names file."""
    if not path.is_dir():
        raise DftagError("a YOLO input must be a folder (or zip) with images, labels and a names file", path)
    names, names_file = read_names(path)
    images = files_under(path, IMAGE_SUFFIXES) + (files_under(media, IMAGE_SUFFIXES) if media else [])
    by_stem = {t.stem: t for t in files_under(path, (".txt",))}
    used: set[Path] = set()
    carried = _read_sidecar(path / SIDECAR)
    out = Annotations()
    for image in images:
        labels = next((t for t in _label_file_for(image) if t.is_file()), None)
        if labels is None and media is not None and image.is_relative_to(media):
            labels = by_stem.get(image.stem)
        boxes = _read_labels(labels, names, names_file) if labels else []
        if labels:
            used.add(labels.resolve())
        root = media if media is not None and image.is_relative_to(media) else path
        extra = {}
        if carried and image.is_relative_to(path) and relative_name(image, path) in carried:
            key = relative_name(image, path)
            extra = parse_carried(carried[key], path / SIDECAR, f"image {key!r}")
        out.images.append(StillImage(name=relative_name(image, root), path=image, boxes=boxes,
                                     source=labels or image, relative=True, extra=extra))
    orphans = [t for t in files_under(path, (".txt",)) if t.resolve() not in used
               and t.name not in LIST_FILES | set(NAMES_FILES) and t != names_file]
    if orphans:
        raise DftagError(f"label file has no image beside it or in the matching images/ folder"
                         f"{f' ({len(orphans) - 1} more)' if len(orphans) > 1 else ''}", orphans[0])
    return out


def _read_sidecar(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    data = read_json(path)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, dict) or not all(isinstance(v, dict) for v in images.values()):
        raise DftagError("expected {\"images\": {\"images/FILE\": {field: value, ...}}}", path)
    return images


def write(dataset: Dataset, out_dir: str | Path, force: bool = False) -> None:
    """Write ``dataset`` as a YOLO folder: ``data.yaml``, ``images/`` and ``labels/`` (atomically)."""
    class_index = {name: i for i, name in enumerate(CLASS_NAMES[c] for c in sorted(CLASS_NAMES))}
    carried: dict[str, dict] = {}
    with atomic_dir(out_dir, overwrite=force) as tmp:
        labelled = labelled_boxes(dataset)
        for (image, boxes), name in zip(labelled, unique_stems([image["file_name"] for image, _ in labelled])):
            link_or_copy(dataset.image_path(image), tmp / "images" / name)
            carried[f"images/{name}"] = carried_fields(image)
            w, h = image["width"], image["height"]
            lines = [f"{class_index[name]} {fmt((x1 + x2) / 2 / w, 6)} {fmt((y1 + y2) / 2 / h, 6)} "
                     f"{fmt((x2 - x1) / w, 6)} {fmt((y2 - y1) / h, 6)}\n" for name, (x1, y1, x2, y2), _ in boxes]
            label = (tmp / "labels" / name).with_suffix(".txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("".join(lines), encoding="utf-8")
        names = {i: name for name, i in class_index.items()}
        (tmp / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images", "val": "images",
                                                       "names": names}, sort_keys=False), encoding="utf-8")
        (tmp / SIDECAR).write_text(json.dumps({"description": "dftag image fields (video, group, ...) by image",
                                               "images": carried}, indent=1), encoding="utf-8")
