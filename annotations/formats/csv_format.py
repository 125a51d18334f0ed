"""Box tables in CSV: one row per box, with a header row naming the columns.

The default layout is ssd_keras's ``image_name,xmin,xmax,ymin,ymax,class_id`` (note the column order): pixel
corners and a class id (``0`` is background there, so ``1`` = real and ``2`` = fake by default; change with
``class_names``). Other layouts are read through a column mapping from dftag's field names to the header's
column names, e.g. ``{"image": "filename", "label": "class"}``; fields are ``image``, ``xmin``, ``ymin``,
``xmax``, ``ymax`` and ``label`` (a class id looked up in ``class_names``, or a label name). An image row with
all box fields empty is an image without boxes. Images are looked up in ``media``, beside the CSV and in
``images/`` beside it.

Writing: :func:`write` puts ``annotations.csv`` (default layout, class ids 1 real / 2 fake) and ``images/``
in ``out_dir``; images without boxes get one row with empty box fields. The canonical image fields ``video``,
``frame_index``, ``timestamp``, ``group``, ``video_label`` and ``original`` follow as extra columns after the six
of the layout (readers that take columns by position, like ssd_keras, or by name ignore them); :func:`read` takes
them, when the header has them, from each image's first row, so a video's frames keep their group.
"""

from __future__ import annotations

import csv
from pathlib import Path

from dftag.annotations.dataset import CLASS_IDS, Dataset
from dftag.annotations.formats.base import (
    CARRIED_FIELDS,
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
    require_files,
)
from dftag.core.atomic import atomic_dir
from dftag.core.errors import DftagError, Warnings

FIELDS = ("image", "xmin", "ymin", "xmax", "ymax", "label")
DEFAULT_COLUMNS = {"image": "image_name", "xmin": "xmin", "xmax": "xmax", "ymin": "ymin", "ymax": "ymax",
                   "label": "class_id"}
DEFAULT_CLASS_NAMES = {cid: name for name, cid in CLASS_IDS.items()}
CSV_FILE = "annotations.csv"
EXTRA_COLUMNS = tuple(k for k in CARRIED_FIELDS if k != "file_name")  # the image_name column holds file_name


def parse_columns(spec: str | None) -> dict[str, str]:
    """``"image=filename,label=class"`` -> the default mapping updated with those columns."""
    columns = dict(DEFAULT_COLUMNS)
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        field, sep, column = part.partition("=")
        if not sep or field.strip() not in FIELDS or not column.strip():
            raise DftagError(f"{{parameter}}: expected FIELD=COLUMN with FIELD in {', '.join(FIELDS)}, got {part!r}",
                             parameter="columns")
        columns[field.strip()] = column.strip()
    return columns


def read_file(csv_path: Path, media: Path | None = None, columns: dict[str, str] | None = None,
              class_names: dict[int, str] | None = None) -> Annotations:
    columns = columns or DEFAULT_COLUMNS
    class_names = DEFAULT_CLASS_NAMES if class_names is None else class_names
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in columns.values() if c not in header]
            if missing:
                raise DftagError(f"missing column(s) {', '.join(missing)} (header: {','.join(header)})",
                                 csv_path, "line 1", fix=("columns", "FIELD=COLUMN,... to map them"))
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DftagError(f"cannot read CSV: {e}", csv_path) from None
    images: dict[str, list] = {}
    extras: dict[str, dict] = {}
    extra_columns = [c for c in EXTRA_COLUMNS if c in header and c not in columns.values()]
    for line, row in enumerate(rows, start=2):
        where = f"line {line}"
        if None in row or any(row.get(c) is None for c in columns.values()):
            raise DftagError(f"row has {len(header) + len(row.get(None) or [])} fields, header has {len(header)}"
                             if None in row else "row is missing fields", csv_path, where)
        name = row[columns["image"]].strip()
        if not name:
            raise DftagError("empty image name", csv_path, where)
        boxes = images.setdefault(name, [])
        if extra_columns and name not in extras:
            extras[name] = parse_carried({c: row[c] for c in extra_columns}, csv_path, where, text=True)
        coords = [row[columns[k]].strip() for k in ("xmin", "ymin", "xmax", "ymax")]
        if not any(coords) and not row[columns["label"]].strip():
            continue
        label = row[columns["label"]].strip()
        try:
            label = class_names.get(int(label), label)
        except ValueError:
            pass
        boxes.append(make_box(label, *coords, source=csv_path, where=where))
    dirs = [media, csv_path.parent, csv_path.parent / "images"]
    return Annotations(images=[StillImage(name=name, path=find_media(name, dirs), boxes=boxes, source=csv_path,
                                          extra=extras.get(name, {}))
                               for name, boxes in images.items()])


def read(path: Path, media: Path | None = None, warnings: Warnings | None = None,
         columns: dict[str, str] | None = None, class_names: dict[int, str] | None = None) -> Annotations:
    """Read every CSV file below ``path``."""
    out = Annotations()
    for csv_path in require_files(files_under(path, (".csv",)), path, "CSV files (*.csv)"):
        out.extend(read_file(csv_path, media, columns, class_names))
    return out


def write(dataset: Dataset, out_dir: str | Path, force: bool = False) -> None:
    """Write ``dataset`` as ``annotations.csv`` (ssd_keras layout) plus ``images/`` (atomically)."""
    header = [*DEFAULT_COLUMNS.values(), *EXTRA_COLUMNS]
    with atomic_dir(out_dir, overwrite=force) as tmp:
        with open(tmp / CSV_FILE, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for image, boxes in labelled_boxes(dataset):
                link_or_copy(dataset.image_path(image), tmp / "images" / image["file_name"])
                fields = carried_fields(image)
                extra = [repr(v) if isinstance(v, float) else v for v in (fields.get(c, "") for c in EXTRA_COLUMNS)]
                if not boxes:
                    writer.writerow([image["file_name"], "", "", "", "", "", *extra])
                for name, (x1, y1, x2, y2), _ in boxes:
                    writer.writerow([image["file_name"], fmt(x1), fmt(x2), fmt(y1), fmt(y2), CLASS_IDS[name], *extra])
