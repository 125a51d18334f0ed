"""Annotation format readers and writers, one module per format.

Every reader is ``read(path, media=None, warnings=None, **options) -> Annotations`` (see
:mod:`dftag.annotations.formats.base`); every writer is ``write(dataset, out_dir, force=False)`` and writes the
canonical :class:`dftag.annotations.dataset.Dataset` atomically. ``READERS`` and ``WRITERS`` map the format names the
command line uses to them.
"""

from __future__ import annotations

from dftag.annotations.formats import coco, csv_format, cvat, dfdc, labelstudio, mot, voc, yolo

READERS = {
    "cvat-video": cvat.read_video,
    "cvat-images": cvat.read_images,
    "labelstudio": labelstudio.read,
    "coco": coco.read,
    "voc": voc.read,
    "yolo": yolo.read,
    "mot": mot.read,
    "csv": csv_format.read,
    "dfdc": dfdc.read,
}
WRITERS = {
    "coco": coco.write,
    "voc": voc.write,
    "yolo": yolo.write,
    "csv": csv_format.write,
}
