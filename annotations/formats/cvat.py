"""CVAT XML 1.1 exports: "CVAT for video" (tracks) and "CVAT for images" (boxes per image).

Layouts accepted for ``path``: one ``annotations.xml`` (or any ``*.xml``), a folder of them (one task or video
each, searched recursively), or the folder of an extracted CVAT export zip (``annotations.xml`` plus
``images/`` for image tasks).

**CVAT for video** (``<track id label source><box frame xtl ytl xbr ybr outside occluded keyframe z_order/>``):
box coordinates are pixels of the task's frames, whose size is ``<meta><task><original_size>``. Frame numbers
are **absolute video frames**: a task (or job) that starts at ``<start_frame>`` and keeps every N-th frame
(``<frame_filter>step=N</frame_filter>``) holds video frames ``start_frame + i * N`` for task frames ``i`` =
0 .. ``<size>`` - 1 (up to ``<stop_frame>``), and CVAT's exporter writes each box at ``start_frame + i * N``
(``abs_frame_id`` in ``cvat/apps/dataset_manager/bindings.py``). A box on a frame that is not one of the task's
is an error. A track is visible from each box with ``outside="0"`` up to the next box of the track, linearly
interpolated over the task frames between the two (CVAT exports every task frame, so this reproduces them
exactly; a hand-made file with keyframes only is filled in the way CVAT fills it). ``outside="1"`` hides the
track until its next box. A last box that is not outside keeps the track visible to the task's last frame,
as in CVAT. The video is ``<meta><task><source>`` looked up in ``media`` and beside the XML, or a video named
like the XML file.

**CVAT for images** (``<image id name width height><box label xtl ytl xbr ybr occluded/></image>``): pixel
boxes of each image; images are looked up as named, in ``media``, beside the XML and in its ``images/``.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    parse_xml,
    require_files,
    to_float,
    to_int,
)
from dftag.core.errors import DftagError, Warnings
from dftag.core.media import VIDEO_SUFFIXES

_NON_BOX_SHAPES = ("polygon", "polyline", "points", "cuboid", "ellipse", "mask", "skeleton", "tag")


def _xml_files(path: Path) -> list[Path]:
    return require_files(files_under(path, (".xml",)), path, "CVAT XML files (*.xml)")


def _task_meta(root, xml: Path):
    if root.tag != "annotations":
        raise DftagError(f"not a CVAT XML export: root element is <{root.tag}>, expected <annotations>", xml)
    meta = root.find("meta")
    return None if meta is None else (meta.find("task") if meta.find("task") is not None else meta.find("job"))


def _text(el, tag: str) -> str | None:
    if el is None:
        return None
    found = el.find(tag)
    return found.text.strip() if found is not None and found.text and found.text.strip() else None


def _count_other_shapes(parent, warnings: Warnings, xml: Path) -> None:
    for tag in _NON_BOX_SHAPES:
        for el in parent.iter(tag):
            warnings.add(f"CVAT {tag} shapes ignored (only boxes are read)", f"{xml} ({tag})")


def _box(el, label: str, xml: Path, where: str, track_id: int | None = None) -> Box:
    return make_box(label, *(el.get(k) for k in ("xtl", "ytl", "xbr", "ybr")), source=xml, where=where,
                    track_id=track_id)


@dataclass(frozen=True)
class _TaskFrames:
    """Which video frames a CVAT task (or job) holds: ``start + i * step`` for task frames ``i`` = 0 .. ``last``."""

    start: int
    step: int
    last: int | None  # last task frame; None when the export says neither size nor stop frame

    def task_frame(self, frame: int, xml: Path, where: str) -> int:
        """The task frame of the absolute video ``frame`` a box is written at; error if the task lacks it."""
        i, off = divmod(frame - self.start, self.step)
        if off or i < 0 or (self.last is not None and i > self.last):
            end = "" if self.last is None else f" to {self.video_frame(self.last)}"
            raise DftagError(f"box frame {frame} is not a frame of this task (video frames {self.start}{end}"
                             f"{f' in steps of {self.step}' if self.step > 1 else ''}); CVAT writes absolute "
                             f"video frame numbers, start_frame + i * step", xml, where)
        return i

    def video_frame(self, i: int) -> int:
        return self.start + i * self.step


def _task_frames(task, xml: Path) -> _TaskFrames:
    start = to_int(_text(task, "start_frame") or 0, xml, "start_frame", "start_frame")
    step = 1
    frame_filter = (_text(task, "frame_filter") or "").replace(" ", "")
    if frame_filter:
        if not frame_filter.startswith("step="):
            raise DftagError(f"unsupported frame_filter {frame_filter!r} (CVAT writes 'step=N')", xml, "frame_filter")
        step = to_int(frame_filter[len("step="):], xml, "frame_filter", "frame step")
    if start < 0 or step < 1:
        raise DftagError(f"start_frame must be >= 0 and the frame step >= 1, got {start} and {step}", xml)
    candidates = []
    size = _text(task, "size")
    if size is not None:
        candidates.append(to_int(size, xml, "size", "task size") - 1)
    stop = _text(task, "stop_frame")
    if stop is not None:
        candidates.append((to_int(stop, xml, "stop_frame", "stop_frame") - start) // step)
    return _TaskFrames(start, step, min(candidates) if candidates else None)


def _track_frames(track, xml: Path, frames: _TaskFrames) -> dict[int, Box]:
    """Video frame -> visible box of one ``<track>``, filling the task frames between boxes by linear
    interpolation (over task frames, as CVAT does: with a frame step, only every step-th video frame)."""
    track_id = to_int(track.get("id"), xml, "track", "track id")
    label = track.get("label")
    if not label:
        raise DftagError("track has no label", xml, f"track {track_id}")
    keys: dict[int, tuple[Box, bool]] = {}
    for el in track.findall("box"):
        frame = to_int(el.get("frame"), xml, f"track {track_id}", "box frame")
        where = f"track {track_id}, frame {frame}"
        if frame < 0:
            raise DftagError(f"negative frame number {frame}", xml, f"track {track_id}")
        keys[frames.task_frame(frame, xml, where)] = (_box(el, label, xml, where, track_id), el.get("outside") == "1")
    out: dict[int, Box] = {}
    order = sorted(keys)
    for k, i in enumerate(order):
        box, outside = keys[i]
        if outside:
            continue
        if k + 1 < len(order):
            end, nxt = order[k + 1], keys[order[k + 1]][0]
        else:
            end, nxt = max(i, frames.last if frames.last is not None else i) + 1, box
        for j in range(i, end):
            video_frame = frames.video_frame(j)
            out[video_frame] = interpolate(box, nxt, (j - i) / (end - i), f"track {track_id}, frame {video_frame}")
    return out


def _find_video(task, xml: Path, media: Path | None, meta=None) -> tuple[str, Path | None]:
    source = _text(task, "source") or _text(meta, "source")  # CVAT before 2.0 wrote <meta><source>
    if source:
        return source, find_media(source, [media, xml.parent])
    for d in (media, xml.parent):
        for suffix in VIDEO_SUFFIXES:
            if d is not None and (d / f"{xml.stem}{suffix}").is_file():
                return f"{xml.stem}{suffix}", d / f"{xml.stem}{suffix}"
    return f"{xml.stem}.mp4 (no <source> in the XML)", None


def _size(task, xml: Path) -> tuple[int, int] | None:
    original = task.find("original_size") if task is not None else None
    if original is None:
        return None
    w, h = (to_int(_text(original, k), xml, "original_size", k) for k in ("width", "height"))
    if w <= 0 or h <= 0:
        raise DftagError(f"original_size must be positive, got {w}x{h}", xml)
    return w, h


def read_video(path: Path, media: Path | None = None, warnings: Warnings | None = None) -> Annotations:
    """Read CVAT for video 1.1 XML files below ``path`` into one :class:`VideoAnnotations` per XML."""
    warnings = warnings if warnings is not None else Warnings()
    result = Annotations()
    for xml in _xml_files(path):
        root = parse_xml(xml)
        task = _task_meta(root, xml)
        if root.find("image") is not None and root.find("track") is None:
            raise DftagError("this is a 'CVAT for images' export (<image> elements): read it with the "
                             "cvat-images reader", xml)
        task_frames = _task_frames(task, xml)
        frames: dict[int, list[Box]] = {}
        for track in root.iter("track"):
            for f, box in _track_frames(track, xml, task_frames).items():
                frames.setdefault(f, []).append(box)
        _count_other_shapes(root, warnings, xml)
        name, video = _find_video(task, xml, media, root.find("meta"))
        result.videos.append(VideoAnnotations(name=name, path=video, frames=frames, source=xml,
                                              size=_size(task, xml)))
    return result


def read_images(path: Path, media: Path | None = None, warnings: Warnings | None = None) -> Annotations:
    """Read CVAT for images 1.1 XML files below ``path``: one :class:`StillImage` per ``<image>``."""
    warnings = warnings if warnings is not None else Warnings()
    result = Annotations()
    for xml in _xml_files(path):
        root = parse_xml(xml)
        _task_meta(root, xml)
        if root.find("track") is not None and root.find("image") is None:
            raise DftagError("this is a 'CVAT for video' export (<track> elements): read it with the "
                             "cvat-video reader", xml)
        seen: set[str] = set()
        for image in root.iter("image"):
            image_id, name = image.get("id"), image.get("name")
            where = f"image id {image_id}"
            if not name:
                raise DftagError("image has no name", xml, where)
            if image_id in seen:
                raise DftagError(f"duplicate image id {image_id}", xml, where)
            seen.add(image_id)
            size = None
            if image.get("width") and image.get("height"):
                size = (round(to_float(image.get("width"), xml, where, "width")),
                        round(to_float(image.get("height"), xml, where, "height")))
            boxes = [_box(el, el.get("label") or "", xml, f"image {name}") for el in image.findall("box")]
            result.images.append(StillImage(name=name, path=find_media(name, [media, xml.parent / "images",
                                                                               xml.parent]),
                                            boxes=boxes, source=xml, size=size))
        _count_other_shapes(root, warnings, xml)
    return result
