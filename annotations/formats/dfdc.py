"""DFDC-style ``metadata.json``: video-level labels and groups, no boxes.

The file maps video names to ``{"label": "FAKE"|"REAL", "original": "y.mp4"|null, "split": ...}``. Reading
yields one :class:`VideoAnnotations` per video with no boxes, its label and original, and ``sample_every``:
the converter cuts every N-th frame as an image without boxes carrying ``video_label`` and ``group``.
:func:`read_metadata` is also what ``dftag convert --groups`` uses for the other video formats.

``path`` is a ``metadata.json`` or a folder holding them (DFDC parts ``dfdc_train_part_N/metadata.json``);
videos are looked up in ``media`` and beside the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dftag.annotations.formats.base import Annotations, VideoAnnotations, find_media, require_files
from dftag.core.errors import DftagError, Warnings
from dftag.core.io import read_json


@dataclass(frozen=True)
class VideoMeta:
    label: str | None  # as written ("FAKE", "REAL")
    original: str | None  # the real video a fake derives from


def read_metadata(path: Path) -> dict[str, VideoMeta]:
    """Video file name -> :class:`VideoMeta` from one DFDC ``metadata.json``."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DftagError('not a DFDC metadata.json (expected {"video.mp4": {"label": ...}})', path)
    out = {}
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise DftagError("entry is not an object", path, name)
        label, original = entry.get("label"), entry.get("original")
        if label is not None and not isinstance(label, str) or original is not None and not isinstance(original, str):
            raise DftagError("'label' and 'original' must be strings or null", path, name)
        out[name] = VideoMeta(label, original)
    return out


def group_of(name: str, meta: VideoMeta | None) -> str:
    """The group of a video: a fake's original's stem, else the video's own stem."""
    if meta is not None and meta.original:
        return Path(meta.original).stem
    return Path(name).stem


def read(path: Path, media: Path | None = None, warnings: Warnings | None = None, every: int = 30) -> Annotations:
    """Read ``metadata.json`` files below ``path``: every video, unannotated, sampled every ``every`` frames."""
    files = [path] if path.is_file() else require_files(sorted(path.rglob("metadata.json")), path,
                                                        "DFDC metadata.json files")
    out = Annotations()
    for json_path in files:
        for name, meta in read_metadata(json_path).items():
            out.videos.append(VideoAnnotations(name=name, path=find_media(name, [media, json_path.parent]), frames={},
                                               source=json_path, video_label=meta.label, original=meta.original,
                                               sample_every=every))
    return out
