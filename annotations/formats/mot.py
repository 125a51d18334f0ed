"""MOTChallenge ground truth (``gt/gt.txt``): ``frame, id, left, top, width, height, conf, class, visibility``.

Frames are 1-based (frame ``f`` is decoded frame ``f - 1``), boxes pixels of the sequence's frames. As in the
MOT evaluation, rows with ``conf`` 0 are ignored. ``class`` is an integer mapped to a label through
``class_names`` (default ``1`` = real, ``2`` = fake, dftag's ids); rows without a class column count as class 1.
``id`` becomes ``track_id``.

``path`` is a ``gt.txt`` file, a sequence folder (``seq/gt/gt.txt``) or a folder of sequences. A sequence's
frames come from its video — named like the sequence (``seqinfo.ini`` ``name``, else the folder holding
``gt/``) with any video suffix in ``media`` or beside the sequence, or ``media`` itself when it is a video file
— or, failing that, from its image folder (``seqinfo.ini`` ``imDir``/``imExt``, default ``img1/%06d.jpg``).
"""

from __future__ import annotations

import configparser
import csv
from pathlib import Path

from dftag.annotations.dataset import CLASS_IDS
from dftag.annotations.formats.base import (
    Annotations,
    Box,
    StillImage,
    VideoAnnotations,
    make_box,
    require_files,
    to_float,
    to_int,
)
from dftag.core.errors import DftagError, Warnings
from dftag.core.media import VIDEO_SUFFIXES

DEFAULT_CLASS_NAMES = {cid: name for name, cid in CLASS_IDS.items()}


def _gt_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DftagError("input not found", path)
    return require_files(sorted(path.rglob("gt.txt")), path, "MOT ground truth files (gt/gt.txt)")


def _seqinfo(seq_dir: Path) -> dict[str, str]:
    ini = seq_dir / "seqinfo.ini"
    if not ini.is_file():
        return {}
    parser = configparser.ConfigParser()
    try:
        parser.read(ini, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as e:
        raise DftagError(f"invalid seqinfo.ini: {e}".splitlines()[0], ini) from None
    return dict(parser["Sequence"]) if parser.has_section("Sequence") else {}


def read_gt(gt: Path, class_names: dict[int, str]) -> dict[int, list[Box]]:
    """0-based frame -> boxes of one ``gt.txt``."""
    frames: dict[int, list[Box]] = {}
    try:
        with open(gt, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DftagError(f"cannot read: {e}", gt) from None
    for line, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip():
            continue
        where = f"line {line}"
        if len(row) < 6:
            raise DftagError(f"expected frame,id,left,top,width,height[,conf,class,visibility], "
                             f"got {len(row)} fields", gt, where)
        frame = to_int(row[0], gt, where, "frame")
        if frame < 1:
            raise DftagError(f"frame {frame} is not 1-based", gt, where)
        if len(row) > 6 and to_float(row[6], gt, where, "conf") == 0:
            continue
        left, top, w, h = (to_float(v, gt, where, "box value") for v in row[2:6])
        if w < 0 or h < 0:
            raise DftagError(f"box has a negative size (width {w}, height {h})", gt, where)
        cls = to_int(row[7], gt, where, "class") if len(row) > 7 else 1
        frames.setdefault(frame - 1, []).append(
            make_box(class_names.get(cls, str(cls)), left, top, left + w, top + h, gt, f"{where}, frame {frame - 1}",
                     track_id=to_int(row[1], gt, where, "id")))
    return frames


def _video_for(name: str, seq_dir: Path, media: Path | None) -> Path | None:
    if media is not None and media.is_file():
        return media
    for d in (media, seq_dir, seq_dir.parent):
        for suffix in VIDEO_SUFFIXES:
            if d is not None and (d / f"{name}{suffix}").is_file():
                return d / f"{name}{suffix}"
    return None


def read(path: Path, media: Path | None = None, warnings: Warnings | None = None,
         class_names: dict[int, str] | None = None) -> Annotations:
    """Read MOT ground truth below ``path`` into one video (or image sequence) per ``gt.txt``."""
    class_names = DEFAULT_CLASS_NAMES if class_names is None else class_names
    out = Annotations()
    for gt in _gt_files(path):
        seq_dir = gt.parent.parent if gt.parent.name == "gt" else gt.parent
        info = _seqinfo(seq_dir)
        name = info.get("name") or seq_dir.name
        frames = read_gt(gt, class_names)
        size = None
        if info.get("imwidth") and info.get("imheight"):
            size = (to_int(info["imwidth"], seq_dir / "seqinfo.ini", "imWidth", "imWidth"),
                    to_int(info["imheight"], seq_dir / "seqinfo.ini", "imHeight", "imHeight"))
        video = _video_for(name, seq_dir, media)
        img_dir = seq_dir / info.get("imdir", "img1")
        if video is None and img_dir.is_dir():
            ext = info.get("imext", ".jpg")
            for index, boxes in sorted(frames.items()):
                frame_name = f"{index + 1:06d}{ext}"
                image = img_dir / frame_name
                out.images.append(StillImage(name=f"{name}/{frame_name}", path=image if image.is_file() else None,
                                             boxes=boxes, source=gt, size=size,
                                             extra={"video": name, "frame_index": index, "group": name}))
            continue
        out.videos.append(VideoAnnotations(name=video.name if video else f"{name}.mp4 (or {img_dir}/)",
                                           path=video, frames=frames, source=gt, size=size))
    return out
