"""Pascal VOC XML (``Annotations/*.xml`` beside ``JPEGImages/``), one file per image.

Each ``<annotation>`` has ``<filename>``, ``<size><width><height>`` and ``<object>`` elements with ``<name>``,
``<difficult>`` and ``<bndbox><xmin><ymin><xmax><ymax>``. VOC coordinates are 1-based pixel indices of the
first and last pixel inside the box, so in dftag's 0-based continuous pixels a box is
``(xmin - 1, ymin - 1, xmax, ymax)`` (the convention of the VOC devkit and detectron2). ``difficult`` is kept
as the annotation field ``difficult`` (0/1).

Reading: ``path`` is one XML file, an ``Annotations/`` folder or a VOC root (all ``*.xml`` below it). Images are
looked up as ``<filename>`` in ``media``, ``../JPEGImages``, beside the XML and one folder up.

Writing: :func:`write` puts ``Annotations/NAME.xml``, ``JPEGImages/NAME.ext`` and ``ImageSets/Main/default.txt``
in ``out_dir``; NAME is the dataset ``file_name`` with ``/`` replaced by ``__`` (VOC folders are flat). The
canonical image fields (:data:`~dftag.annotations.formats.base.CARRIED_FIELDS`: the original ``file_name``,
``video``, ``frame_index``, ``timestamp``, ``group``, ``video_label``, ``original``) go into an extra
``<dftag>`` element of each ``<annotation>``, which VOC tools ignore; :func:`read` brings them back, so a
video's frames keep their group through an export and a convert.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from dftag.annotations.dataset import Dataset
from dftag.annotations.formats.base import (
    Annotations,
    StillImage,
    carried_fields,
    files_under,
    find_media,
    fmt,
    labelled_boxes,
    link_or_copy,
    make_box,
    parse_carried,
    parse_xml,
    require_files,
    to_float,
    to_int,
    unique_stems,
)
from dftag.core.atomic import atomic_dir
from dftag.core.errors import DftagError, Warnings

CARRIED_ELEMENT = "dftag"


def _text(el, tag: str) -> str | None:
    found = el.find(tag)
    return found.text.strip() if found is not None and found.text else None


def read_file(xml: Path, media: Path | None = None) -> StillImage:
    root = parse_xml(xml)
    if root.tag != "annotation":
        raise DftagError(f"not a Pascal VOC file: root element is <{root.tag}>, expected <annotation>", xml)
    name = _text(root, "filename")
    if not name:
        raise DftagError("no <filename>", xml)
    size = None
    size_el = root.find("size")
    if size_el is not None and _text(size_el, "width") and _text(size_el, "height"):
        size = (round(to_float(_text(size_el, "width"), xml, "size", "width")),
                round(to_float(_text(size_el, "height"), xml, "size", "height")))
        if size[0] <= 0 or size[1] <= 0:
            size = None  # some exporters write 0 when they did not know the size
    boxes = []
    for n, obj in enumerate(root.iter("object"), start=1):
        where = f"object {n}"
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise DftagError("object has no <bndbox>", xml, where)
        xmin, ymin, xmax, ymax = (to_float(_text(bndbox, k), xml, where, k) for k in ("xmin", "ymin", "xmax", "ymax"))
        difficult = _text(obj, "difficult")
        boxes.append(make_box(_text(obj, "name") or "", xmin - 1, ymin - 1, xmax, ymax, xml, where,
                              difficult=int(to_int(difficult, xml, where, "difficult") > 0) if difficult else 0))
    dirs = [media, xml.parent.parent / "JPEGImages", xml.parent, xml.parent.parent]
    carried = root.find(CARRIED_ELEMENT)
    extra = {} if carried is None else parse_carried({el.tag: el.text or "" for el in carried}, xml,
                                                     f"<{CARRIED_ELEMENT}>", text=True)
    return StillImage(name=name, path=find_media(name, dirs), boxes=boxes, source=xml, size=size, extra=extra)


def read(path: Path, media: Path | None = None, warnings: Warnings | None = None) -> Annotations:
    """Read every Pascal VOC XML file below ``path``."""
    files = require_files(files_under(path, (".xml",)), path, "Pascal VOC XML files (Annotations/*.xml)")
    return Annotations(images=[read_file(xml, media) for xml in files])


def _element(parent, tag: str, text) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = str(text)
    return el


def write(dataset: Dataset, out_dir: str | Path, force: bool = False) -> None:
    """Write ``dataset`` as a Pascal VOC folder (atomically)."""
    with atomic_dir(out_dir, overwrite=force) as tmp:
        stems = []
        labelled = labelled_boxes(dataset)
        flat_names = unique_stems([image["file_name"].replace("/", "__") for image, _ in labelled])
        for (image, boxes), flat in zip(labelled, flat_names):
            stem = Path(flat).stem
            stems.append(stem)
            link_or_copy(dataset.image_path(image), tmp / "JPEGImages" / flat)
            root = ET.Element("annotation")
            _element(root, "folder", "JPEGImages")
            _element(root, "filename", flat)
            size = ET.SubElement(root, "size")
            for tag, value in (("width", image["width"]), ("height", image["height"]), ("depth", 3)):
                _element(size, tag, value)
            _element(root, "segmented", 0)
            fields = carried_fields(image)
            if fields:
                carried = ET.SubElement(root, CARRIED_ELEMENT)
                for key, value in fields.items():
                    _element(carried, key, repr(value) if isinstance(value, float) else value)
            for name, (x1, y1, x2, y2), ann in boxes:
                obj = ET.SubElement(root, "object")
                _element(obj, "name", name)
                _element(obj, "pose", "Unspecified")
                _element(obj, "truncated", 0)
                _element(obj, "difficult", int(ann.get("difficult", 0) or 0))
                bndbox = ET.SubElement(obj, "bndbox")
                for tag, value in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
                    _element(bndbox, tag, fmt(value))
            ET.indent(root)
            path = tmp / "Annotations" / f"{stem}.xml"
            path.parent.mkdir(parents=True, exist_ok=True)
            ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
        main = tmp / "ImageSets" / "Main" / "default.txt"
        main.parent.mkdir(parents=True, exist_ok=True)
        main.write_text("".join(f"{s}\n" for s in stems), encoding="utf-8")
