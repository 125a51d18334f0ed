"""Label Studio JSON exports ("JSON" export: a list of tasks with ``data`` and ``annotations[].result[]``).

Coordinates are percentages (0-100) of the frame or image as Label Studio displayed it; they are read as
fractions (``relative=True``). ``rotation`` (degrees clockwise about the top-left corner) is kept on the box
and resolved to the enclosing axis-aligned box once the pixel size is known.

**Video tasks** — results of ``type: "videorectangle"`` with ``value.sequence[]`` keyframes ``{frame
(1-based), enabled, x, y, width, height, rotation, time}``, ``value.labels`` and ``value.framesCount``. As in
Label Studio's editor, a keyframe is visible on its own frame, the box is linearly interpolated to the next
keyframe while ``enabled`` is true, ``enabled: false`` hides it until the next keyframe, and an enabled last
keyframe stays visible to the last frame (``framesCount``). Label Studio's own exporters only write the
keyframes; here every visible frame becomes a box, with the region's index in the task as ``track_id``.

**Image tasks** — results of ``type: "rectanglelabels"`` (``value.rectanglelabels``, ``original_width``,
``original_height``). ``original_width``/``original_height`` on a video result declare the frame size the
percentages refer to (used for the orientation rule of :mod:`dftag.annotations.frames`).

The media file is the task's ``data`` value that names a file (``/data/upload/3/1a2b3c4d-clip.mp4``,
``s3://...``); it is looked up by base name, with or without the upload prefix, in ``media`` and beside the
JSON. When a task has several annotations the first not cancelled is used.
"""

from __future__ import annotations

from pathlib import Path

from dftag.annotations.formats.base import (
    Annotations,
    Box,
    StillImage,
    VideoAnnotations,
    files_under,
    find_media,
    interpolate,
    make_box,
    require_files,
    to_float,
    to_int,
)
from dftag.core.errors import DftagError, Warnings
from dftag.core.io import read_json
from dftag.core.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES


def _media_name(data: dict, json_path: Path, where: str) -> tuple[str, bool]:
    """The file a task's ``data`` names and whether it is a video."""
    for key in ("video", "image"):
        if isinstance(data.get(key), str):
            return data[key], key == "video"
    for value in data.values():
        if isinstance(value, str):
            suffix = Path(value.split("?")[0]).suffix.lower()
            if suffix in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
                return value, suffix in VIDEO_SUFFIXES
    raise DftagError("task data names no image or video file", json_path, where)


def _labels(value: dict, key: str, json_path: Path, where: str) -> str:
    labels = value.get(key) or value.get("labels")
    if not isinstance(labels, list) or not labels:
        raise DftagError(f"region has no label ({key})", json_path, where)
    if len(labels) > 1:
        raise DftagError(f"region has several labels {labels}: one per box is expected", json_path, where)
    return str(labels[0])


def _rect(item: dict, label: str, json_path: Path, where: str, track_id: int | None = None) -> Box:
    x, y, w, h = (to_float(item.get(k), json_path, where, k) for k in ("x", "y", "width", "height"))
    if w < 0 or h < 0:
        raise DftagError(f"box has a negative size (width {w}, height {h})", json_path, where)
    box = make_box(label, x / 100, y / 100, (x + w) / 100, (y + h) / 100, json_path, where, track_id=track_id)
    box.rotation = to_float(item.get("rotation", 0) or 0, json_path, where, "rotation")
    return box


def _declared_size(region: dict, json_path: Path, where: str) -> tuple[int, int] | None:
    """``(original_width, original_height)`` of a result, when the export gives them."""
    if region.get("original_width") and region.get("original_height"):
        return (to_int(region["original_width"], json_path, where, "original_width"),
                to_int(region["original_height"], json_path, where, "original_height"))
    return None


def video_region_frames(value: dict, label: str, track_id: int, json_path: Path, where: str) -> dict[int, Box]:
    """0-based frame -> box of one ``videorectangle`` region, interpolated between its keyframes."""
    sequence = value.get("sequence")
    if not isinstance(sequence, list) or not sequence:
        raise DftagError("videorectangle has no sequence of keyframes", json_path, where)
    keys: dict[int, tuple[Box, bool]] = {}
    for item in sequence:
        frame = to_int(item.get("frame"), json_path, where, "sequence frame")
        if frame < 1:
            raise DftagError(f"sequence frame {frame} is not 1-based", json_path, where)
        keys[frame - 1] = (_rect(item, label, json_path, f"{where}, frame {frame - 1}", track_id),
                           bool(item.get("enabled", True)))
    frames_count = value.get("framesCount")
    last = to_int(frames_count, json_path, where, "framesCount") - 1 if frames_count is not None else None
    out: dict[int, Box] = {}
    frames = sorted(keys)
    for i, frame in enumerate(frames):
        box, enabled = keys[frame]
        out[frame] = box
        if not enabled:
            continue
        if i + 1 < len(frames):
            end, nxt = frames[i + 1], keys[frames[i + 1]][0]
        else:
            end, nxt = max(frame, last if last is not None else frame) + 1, box
        for f in range(frame + 1, end):
            out[f] = interpolate(box, nxt, (f - frame) / (end - frame), f"{where}, frame {f}")
    return out


def _annotation(task: dict, json_path: Path, where: str, warnings: Warnings) -> list:
    annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if len(annotations) > 1:
        warnings.add("tasks with several annotations (the first was used)", f"{json_path} ({where})")
    if not annotations:
        return []
    result = annotations[0].get("result")
    if not isinstance(result, list):
        raise DftagError("annotation has no result list", json_path, where)
    return result


def read(path: Path, media: Path | None = None, warnings: Warnings | None = None) -> Annotations:
    """Read Label Studio JSON export files below ``path`` (one file or a folder of them)."""
    warnings = warnings if warnings is not None else Warnings()
    out = Annotations()
    for json_path in require_files(files_under(path, (".json",)), path, "Label Studio JSON exports (*.json)"):
        tasks = read_json(json_path)
        if isinstance(tasks, dict):
            tasks = [tasks]
        if not isinstance(tasks, list):
            raise DftagError("not a Label Studio JSON export (expected a list of tasks)", json_path)
        for n, task in enumerate(tasks):
            where = f"task {task.get('id', n) if isinstance(task, dict) else n}"
            if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
                raise DftagError("task has no 'data' object (is this a Label Studio JSON export?)", json_path,
                                 where)
            name, is_video = _media_name(task["data"], json_path, where)
            found = find_media(name.split("?")[0], [media, json_path.parent])
            results = _annotation(task, json_path, where, warnings)
            if is_video:
                frames: dict[int, list[Box]] = {}
                size = None
                regions = [r for r in results if r.get("type") == "videorectangle"]
                for track_id, region in enumerate(regions, start=1):
                    rwhere = f"{where}, region {region.get('id', track_id)}"
                    size = _declared_size(region, json_path, rwhere) or size
                    value = region.get("value") or {}
                    label = _labels(value, "labels", json_path, rwhere)
                    for f, box in video_region_frames(value, label, track_id, json_path, rwhere).items():
                        frames.setdefault(f, []).append(box)
                out.videos.append(VideoAnnotations(name=name, path=found, frames=frames, source=json_path,
                                                   size=size, relative=True))
            else:
                boxes, size = [], None
                for region in results:
                    if region.get("type") != "rectanglelabels":
                        continue
                    rwhere = f"{where}, region {region.get('id', len(boxes))}"
                    value = region.get("value") or {}
                    boxes.append(_rect(value, _labels(value, "rectanglelabels", json_path, rwhere), json_path,
                                       rwhere))
                    size = _declared_size(region, json_path, rwhere) or size
                out.images.append(StillImage(name=name, path=found, boxes=boxes, source=json_path, size=size,
                                             relative=True))
            skipped = {r.get("type") for r in results} - {"videorectangle", "rectanglelabels"}
            for kind in skipped:
                warnings.add(f"Label Studio results of type {kind!r} ignored", f"{json_path} ({where})")
    return out
