"""The in-memory form every format reader returns, before labels are mapped and frames are cut.

A reader turns an export into :class:`Annotations`: a list of :class:`StillImage` (one per image file the
export names) and a list of :class:`VideoAnnotations` (one per video, boxes keyed by 0-based decoded frame
index). Boxes keep the label exactly as written in the export; :mod:`dftag.annotations.convert` maps labels, resolves
coordinates against the real image or frame size and writes the canonical dataset.

Coordinates of a :class:`Box` are ``xyxy`` in one of two units, chosen per record by ``relative``:

* ``relative=False``: absolute pixels of the frame the export was drawn on, whose size is ``size`` when the
  export declares it (CVAT ``<original_size>``, COCO/VOC/CVAT-images ``width``/``height``), else the image's
  or video's own (display) size;
* ``relative=True``: fractions ``0..1`` of that frame's width and height (YOLO, Label Studio percentages / 100).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dftag.core.errors import DftagError

# Label Studio prefixes uploaded files with 8 hex digits and a dash: "/data/upload/3/1a2b3c4d-clip.mp4".
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")


@dataclass
class Box:
    """One labelled box as the export wrote it. ``where`` locates it in the export for messages."""

    label: str
    x1: float
    y1: float
    x2: float
    y2: float
    where: str
    track_id: int | None = None
    difficult: int | None = None
    iscrowd: int = 0
    rotation: float = 0.0  # clockwise degrees about (x1, y1) (Label Studio); resolved to the enclosing box


@dataclass
class StillImage:
    """An image file named by the export, with its boxes (possibly none: a negative example)."""

    name: str  # as written in the export
    path: Path | None  # the file found on disk, None when missing
    boxes: list[Box]
    source: Path  # the annotation file that names it
    size: tuple[int, int] | None = None  # (width, height) declared by the export
    relative: bool = False
    extra: dict = field(default_factory=dict)  # canonical image fields the export carries (CARRIED_FIELDS)
    image_id: int | None = None  # the image's id in the export (COCO), kept when all ids are valid


@dataclass
class VideoAnnotations:
    """The boxes of one video, keyed by 0-based decoded frame index."""

    name: str  # as written in the export
    path: Path | None  # the video file found on disk, None when missing
    frames: dict[int, list[Box]]
    source: Path
    size: tuple[int, int] | None = None  # (width, height) of the frames the boxes were drawn on
    relative: bool = False
    video_label: str | None = None  # video-level label as written (DFDC "FAKE"/"REAL")
    original: str | None = None  # the real video a fake derives from (DFDC "original")
    sample_every: int | None = None  # cut every N-th frame as an unannotated image (DFDC)


@dataclass
class Annotations:
    images: list[StillImage] = field(default_factory=list)
    videos: list[VideoAnnotations] = field(default_factory=list)

    def extend(self, other: Annotations) -> None:
        self.images.extend(other.images)
        self.videos.extend(other.videos)


def make_box(label: str, x1: float, y1: float, x2: float, y2: float, source: Path, where: str,
             **fields) -> Box:
    """A :class:`Box`, rejecting non-numbers and negative sizes with a :class:`DftagError` naming ``where``."""
    try:
        coords = [float(v) for v in (x1, y1, x2, y2)]
    except (TypeError, ValueError):
        raise DftagError(f"box coordinates are not numbers: {[x1, y1, x2, y2]!r}", source, where) from None
    if any(c != c or c in (float("inf"), float("-inf")) for c in coords):
        raise DftagError(f"box coordinates are not finite: {coords}", source, where)
    if coords[2] < coords[0] or coords[3] < coords[1]:
        raise DftagError(f"box has a negative size (x1, y1, x2, y2 = {coords})", source, where)
    return Box(str(label), *coords, where=where, **fields)


def to_int(value, source: Path, where: str, what: str) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise DftagError(f"{what} is not a number: {value!r}", source, where) from None


def to_float(value, source: Path, where: str, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DftagError(f"{what} is not a number: {value!r}", source, where) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise DftagError(f"{what} is not a finite number: {value!r}", source, where)
    return number


def find_media(name: str, dirs: Iterable[Path | None]) -> Path | None:
    """Find the file an export names: as given (absolute or relative to each of ``dirs``), then by its base
    name in each of ``dirs``, then without a Label Studio upload prefix. ``None`` when nowhere."""
    name = name.strip()
    if not name:
        return None
    given = Path(name.replace("\\", "/"))
    base = given.name
    candidates: list[Path] = []
    if given.is_absolute():
        candidates.append(given)
    stripped = _UPLOAD_PREFIX.match(base)
    for d in dirs:
        if d is None:
            continue
        if not given.is_absolute():
            candidates.append(d / given)
        candidates.append(d / base)
        if stripped:
            candidates.append(d / stripped.group(1))
    for c in candidates:
        if c.is_file():
            return c
    return None


def files_under(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """``path`` itself if it is a file, else the files below it ending in ``suffixes`` (sorted, recursive)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DftagError("input not found", path)
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    return found


def require_files(files: list[Path], path: Path, what: str) -> list[Path]:
    if not files:
        raise DftagError(f"no {what} found", path)
    return files


def relative_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes (``path.name`` when it is not below ``root``)."""
    try:
        return Path(os.path.relpath(path, root)).as_posix() if path.is_relative_to(root) else path.name
    except ValueError:
        return path.name


def parse_xml(path: Path):
    """Parse an XML file with defusedxml (entity expansion and external entities rejected); return the root.

    Unparseable or hostile files raise :class:`DftagError` naming the file and, where known, the line.
    """
    import defusedxml
    from defusedxml.ElementTree import ParseError, parse

    try:
        return parse(path).getroot()
    except ParseError as e:
        line = getattr(e, "position", (None,))[0]
        raise DftagError(f"invalid XML: {e}", path, f"line {line}" if line else None) from None
    except defusedxml.DefusedXmlException as e:
        raise DftagError(f"XML rejected as unsafe ({type(e).__name__}: {e})", path) from None
    except OSError as e:
        raise DftagError(f"cannot read: {e}", path) from None


def interpolate(a: Box, b: Box, t: float, where: str) -> Box:
    """The box a fraction ``t`` (0..1) of the way from ``a`` to ``b``, with ``a``'s label and track."""
    coords = [p + (q - p) * t for p, q in zip((a.x1, a.y1, a.x2, a.y2), (b.x1, b.y1, b.x2, b.y2))]
    return Box(a.label, *coords, where=where, track_id=a.track_id, difficult=a.difficult, iscrowd=a.iscrowd,
               rotation=a.rotation + (b.rotation - a.rotation) * t)


def link_or_copy(src: Path, dst: Path) -> None:
    """Put a copy of ``src`` at ``dst`` (a hard link when the filesystem allows it; inputs stay untouched)."""
    import shutil

    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def safe_relative(name: str) -> str:
    """A relative POSIX path for an output file named after ``name``: URLs, absolute paths and ``..`` parts are
    reduced to the base name, so nothing can be written outside the output folder."""
    clean = name.replace("\\", "/").split("?")[0]
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if "://" in clean or clean.startswith("/") or ".." in parts or (parts and ":" in parts[0]) or not parts:
        return Path(clean).name or "image"
    return "/".join(parts)


def labelled_boxes(dataset) -> list[tuple[dict, list[tuple[str, list[float], dict]]]]:
    """For writers: each image of a canonical ``Dataset`` with its ``(class name, xyxy pixels, annotation)``."""
    from dftag.annotations.dataset import CLASS_NAMES
    from dftag.core.boxes import xywh_to_xyxy

    by_image = dataset.annotations_by_image()
    return [(image, [(CLASS_NAMES[a["category_id"]], xywh_to_xyxy(a["bbox"]), a) for a in by_image[image["id"]]])
            for image in dataset.images]


# Canonical image fields the writers carry beside the boxes (COCO in the image entries, VOC in a <dftag>
# element, YOLO in a sidecar JSON, CSV in extra columns) and the readers bring back, so that a dataset exported
# and converted back keeps its file names, its videos and its groups (a later split keeps each video together).
CARRIED_FIELDS = ("file_name", "video", "frame_index", "timestamp", "group", "video_label", "original")


def unique_stems(names: Sequence[str]) -> list[str]:
    """Output names for the writers whose formats pair an image with its label file by folder and stem (VOC,
    YOLO): each of ``names`` (``/``-separated relative paths) unchanged, except that one whose folder and stem
    (case-folded) an earlier name already took becomes ``stem_2.ext`` (``_3``, ...), so ``a.jpg`` and ``a.png``
    never share ``a.xml``. The original name travels in the carried ``file_name``."""
    used: set[str] = set()
    out = []
    for name in names:
        path = PurePosixPath(name)
        candidate, n = path, 1
        while str(candidate.with_suffix("")).casefold() in used:
            n += 1
            candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        used.add(str(candidate.with_suffix("")).casefold())
        out.append(str(candidate))
    return out


def carried_fields(image: dict) -> dict:
    """The :data:`CARRIED_FIELDS` of a canonical image entry that are set."""
    return {k: image[k] for k in CARRIED_FIELDS if image.get(k) is not None}


def parse_carried(fields: dict, source: Path, where: str, *, text: bool = False) -> dict:
    """Check carried image fields read from an export (``text``: given as strings, as XML and CSV hold them,
    and converted to their types); a :class:`DftagError` naming ``source`` and ``where`` when one is wrong.
    ``group`` numbers become strings."""
    from dftag.annotations.dataset import IMAGE_FIELD_CHECKS

    out = {}
    for key in CARRIED_FIELDS:
        value = fields.get(key)
        if value is None or (text and isinstance(value, str) and not value.strip()):
            continue
        if text and isinstance(value, str):
            value = value.strip()
            try:
                value = {"frame_index": int, "timestamp": float}.get(key, str)(value)
            except ValueError:
                raise DftagError(f"{key} is not a number: {value!r}", source, where) from None
        if key == "group" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        check, what = IMAGE_FIELD_CHECKS[key]
        if not check(value):
            raise DftagError(f"{key} must be {what}, got {value!r}", source, where)
        out[key] = value
    return out


def fmt(value: float, digits: int = 3) -> str:
    """A number for text formats: integers without a decimal point, else up to ``digits`` decimals."""
    return str(int(value)) if float(value).is_integer() else f"{value:.{digits}f}".rstrip("0").rstrip(".")
