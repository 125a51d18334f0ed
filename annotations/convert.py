"""From a reader's :class:`~dftag.annotations.formats.base.Annotations` to a canonical dataset folder.

:func:`convert` maps every label through the :class:`~dftag.annotations.labels.LabelMap` (unknown labels are one
error listing each label and where it occurs, or dropped with ``skip_unknown``), checks that every image and
video exists, then builds the dataset in a temporary folder that is renamed into place at the end: stills
are copied (or shrunk), videos are decoded once each and exactly the wanted frames stored
(:mod:`dftag.annotations.frames`), boxes are mapped to stored pixels, clipped, and written with
:func:`dftag.annotations.dataset.save_coco`. Nothing is left behind when anything fails.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dftag.annotations.dataset import ANNOTATIONS_FILE, CLASS_IDS, IMAGES_DIR, new_coco, save_coco
from dftag.annotations.formats.base import Annotations, Box, StillImage, VideoAnnotations, safe_relative
from dftag.annotations.formats.dfdc import VideoMeta, group_of
from dftag.annotations.frames import clip_box, cut_frames, image_geometry, store_image, video_geometry
from dftag.annotations.labels import LabelMap
from dftag.annotations.video import DecodeReport, output_size, probe
from dftag.core.atomic import atomic_dir
from dftag.core.boxes import xyxy_to_xywh
from dftag.core.errors import DftagError, Warnings

_SHOWN_PLACES = 3  # locations listed per file in the unknown-label error


@dataclass
class ConvertOptions:
    label_map: LabelMap = field(default_factory=LabelMap)
    skip_unknown: bool = False
    every: int | None = None  # keep only annotated frames whose index is a multiple of this
    negatives_every: int | None = None  # also store every N-th unannotated frame, without boxes
    max_side: int | None = None  # shrink stored images so the longer side is at most this (pixels)
    groups: dict[str, VideoMeta] | None = None  # DFDC metadata by video file name (--groups)


@dataclass
class Summary:
    stills: int = 0
    frames: int = 0
    videos: int = 0
    boxes: Counter = field(default_factory=Counter)

    def lines(self) -> list[str]:
        per_class = ", ".join(f"{name} {self.boxes[name]}" for name in CLASS_IDS)
        return [f"images: {self.stills + self.frames} ({self.frames} frames from {self.videos} videos, "
                f"{self.stills} still images)",
                f"boxes: {sum(self.boxes.values())} ({per_class})"]


def _where_text(places: list[str]) -> str:
    shown = "; ".join(places[:_SHOWN_PLACES])
    return f"{len(places)} box{'es' if len(places) > 1 else ''}: {shown}" + (" ..." if len(places) > _SHOWN_PLACES else "")


def map_labels(ann: Annotations, options: ConvertOptions, warnings: Warnings, display: Callable[[Path], str]) -> None:
    """Replace every box label by its class name (``real``/``fake``) and every video label likewise.

    Unknown labels raise one :class:`DftagError` listing them all, with counts and places per file, unless
    ``options.skip_unknown`` (the boxes are then dropped and counted as a warning).
    """
    unknown: dict[str, dict[str, list[str]]] = {}

    def mapped(boxes: list[Box], source: Path) -> list[Box]:
        kept = []
        for box in boxes:
            name = options.label_map.class_name(box.label)
            if name is None:
                unknown.setdefault(box.label, {}).setdefault(display(source), []).append(box.where)
                warnings.add("boxes with unknown labels skipped", f"{box.label!r} in {display(source)} ({box.where})")
            else:
                box.label = name
                kept.append(box)
        return kept

    for image in ann.images:
        image.boxes = mapped(image.boxes, image.source)
        if image.extra.get("video_label") is not None:
            _video_label(image.extra["video_label"], options, unknown, display(image.source), image.name)
    for video in ann.videos:
        video.frames = {f: kept for f, boxes in video.frames.items() if (kept := mapped(boxes, video.source))}
        meta = video_meta(video, options)
        if meta is not None and meta.label is not None:
            _video_label(meta.label, options, unknown, display(video.source), video.name)
    if unknown and not options.skip_unknown:
        parts = [f"{label!r} in " + ", ".join(f"{src} ({_where_text(places)})" for src, places in by_file.items())
                 for label, by_file in sorted(unknown.items())]
        raise DftagError("unknown label(s): " + "; ".join(parts),
                         fix=("label_map", "CLASS=LABEL,... to map them, or skip_unknown to drop them"))


def _video_label(label: str, options: ConvertOptions, unknown: dict, source: str, where: str) -> str | None:
    name = options.label_map.class_name(label)
    if name is None:
        unknown.setdefault(label, {}).setdefault(source, []).append(f"video label of {where}")
    return name


def video_meta(video: VideoAnnotations, options: ConvertOptions) -> VideoMeta | None:
    """The video's label and original: from ``options.groups`` when given, else from the export itself (DFDC)."""
    if options.groups is not None and Path(video.name).name in options.groups:
        return options.groups[Path(video.name).name]
    if video.video_label or video.original:
        return VideoMeta(video.video_label, video.original)
    return None


def _check_media(ann: Annotations, display: Callable[[Path], str]) -> None:
    missing = [(i.name, i.source) for i in ann.images if i.path is None]
    missing += [(v.name, v.source) for v in ann.videos if v.path is None]
    if missing:
        name, source = missing[0]
        more = f" ({len(missing) - 1} more missing)" if len(missing) > 1 else ""
        raise DftagError(f"media file not found: {name!r} (looked as named, in the media folder and beside the "
                         f"annotation file){more}", display(source))


class _Names:
    """Unique output names: a second ``clip`` becomes ``clip_2``."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, name: str) -> str:
        stem, suffix = (name.rsplit(".", 1)[0], "." + name.rsplit(".", 1)[1]) if "." in name.rsplit("/", 1)[-1] \
            else (name, "")
        candidate, n = name, 1
        while candidate.casefold() in self.used:
            n += 1
            candidate = f"{stem}_{n}{suffix}"
        self.used.add(candidate.casefold())
        return candidate


class _Builder:
    """Accumulates canonical image and annotation entries."""

    def __init__(self, warnings: Warnings, reserved: set[int] | None = None):
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self.warnings = warnings
        self.summary = Summary()
        self.reserved = reserved or set()  # ids kept from the export: new ids skip them
        self._next_id = 1

    def add(self, image: dict[str, Any], boxes: list[Box], to_stored, relative: bool, where: str,
            image_id: int | None = None) -> None:
        if image_id is None:
            while self._next_id in self.reserved:
                self._next_id += 1
            image_id, self._next_id = self._next_id, self._next_id + 1
        image = {"id": image_id, **image}
        self.images.append(image)
        for box in boxes:
            xyxy = clip_box(to_stored(box, relative), (image["width"], image["height"]), self.warnings,
                            f"{where} ({box.where})")
            if xyxy is None:
                continue
            x, y, w, h = (round(v, 3) for v in xyxy_to_xywh(xyxy))
            ann = {"id": len(self.annotations) + 1, "image_id": image["id"], "category_id": CLASS_IDS[box.label],
                   "bbox": [x, y, w, h], "area": round(w * h, 3), "iscrowd": box.iscrowd}
            if box.track_id is not None:
                ann["track_id"] = box.track_id
            if box.difficult is not None:
                ann["difficult"] = box.difficult
            self.annotations.append(ann)
            self.summary.boxes[box.label] += 1


def _frame_indices(video: VideoAnnotations, info, options: ConvertOptions) -> set[int]:
    wanted = set(video.frames)
    steps = [s for s in (options.negatives_every, video.sample_every) if s]
    if steps:
        estimate = math.ceil((info.duration or 0) * (info.fps or 0) * 1.05) + max(steps)
        for step in steps:
            wanted.update(range(0, estimate, step))
    return wanted


def _convert_video(video: VideoAnnotations, options: ConvertOptions, builder: _Builder, names: _Names,
                   images_dir: Path, display: Callable[[Path], str]) -> None:
    info = probe(video.path)
    stored = output_size(info, max_side=options.max_side)
    geometry = video_geometry(info, video.size, stored, builder.warnings, display(video.source))
    meta = video_meta(video, options)
    label = options.label_map.class_name(meta.label) if meta is not None and meta.label is not None else None
    group = group_of(video.name, meta)
    prefix = names.take(safe_relative(Path(video.name).stem).replace("/", "_") or "video")
    seen: set[int] = set()
    report = DecodeReport()
    for frame in cut_frames(video.path, _frame_indices(video, info, options), images_dir, prefix, info,
                            options.max_side, report):
        seen.add(frame.index)
        entry = {"file_name": frame.file_name, "width": stored[0], "height": stored[1], "video": display(video.path),
                 "frame_index": frame.index, "timestamp": round(frame.timestamp, 6), "group": group}
        if label is not None:
            entry["video_label"] = label
        if meta is not None and meta.original:
            entry["original"] = meta.original
        builder.add(entry, video.frames.get(frame.index, []), geometry.to_stored, video.relative,
                    f"{display(video.source)}, frame {frame.index}")
        builder.summary.frames += 1
    _check_decoding(video, info, report, seen, builder.warnings, display)
    builder.summary.videos += 1


def _frame_list(frames: list[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"`` (at most a few runs, then "...")."""
    runs = [f"{a}-{b}" if b > a else f"{a}" for a, b in _runs(sorted(frames))]
    return ", ".join(runs[:_SHOWN_PLACES]) + (", ..." if len(runs) > _SHOWN_PLACES else "")


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _check_decoding(video: VideoAnnotations, info, report: DecodeReport, seen: set[int], warnings: Warnings,
                    display: Callable[[Path], str]) -> None:
    """Turn what the decoder could not deliver into an error or warnings.

    Frames are matched to the export by presentation time, so a frame the decoder drops leaves a gap and no
    later frame moves onto its number. A gap holding annotated frames is an error (their boxes would be lost
    silently); other gaps, a truncated file and annotated frames past the end are warnings that say how many
    annotated frames were lost.
    """
    source, path = display(video.source), display(video.path)
    annotated = set(video.frames)
    boxed_gaps = [(a, b, sorted(f for f in annotated if a <= f <= b)) for a, b in report.gaps]
    boxed_gaps = [g for g in boxed_gaps if g[2]]
    if boxed_gaps:
        a, b, boxed = boxed_gaps[0]
        gap = f"frame {a}" if a == b else f"frames {a}-{b}"
        more = f" (and {_plural(len(boxed_gaps) - 1, 'more gap')} with boxes)" if len(boxed_gaps) > 1 else ""
        raise DftagError(f"{gap} could not be decoded (corrupt data), but {source} has boxes on "
                         f"{_plural(len(boxed), 'frame')} there ({_frame_list(boxed)}){more}; repair or "
                         f"re-encode the video, or remove those boxes", path)
    if report.gaps:
        dropped = [n for a, b in report.gaps for n in range(a, b + 1)]
        warnings.add("video frames that could not be decoded (corrupt data) skipped",
                     f"{path}: {_plural(len(dropped), 'frame')} ({_frame_list(dropped)}); later frames keep "
                     f"their numbers")
    lost = sorted(f for f in annotated if f not in seen)
    if report.truncated:
        total = f" of {report.expected}" if report.expected else ""
        duration = f" (its header says {info.duration:g} s)" if info.duration else ""
        what = (f"{_plural(len(lost), 'annotated frame')} of {source} lost ({_frame_list(lost)})" if lost
                else "no annotated frame lost")
        warnings.add("truncated videos (frames missing at the end)",
                     f"{path} holds {_plural(report.frames or 0, 'frame')}{total}{duration}: {what}")
    elif lost:
        length = f"; the video has {_plural(report.frames, 'frame')}" if report.frames is not None else ""
        undecoded = [f for f in lost if report.frames is not None and f < report.frames]
        if undecoded:
            length += f", the last of which did not decode ({_frame_list(undecoded)})"
        warnings.add("annotated frames past the end of the video skipped",
                     f"{source}: {_plural(len(lost), 'annotated frame')} skipped (from frame {lost[0]} of "
                     f"{path}){length}")


def _convert_still(image: StillImage, options: ConvertOptions, builder: _Builder, names: _Names,
                   images_dir: Path, display: Callable[[Path], str]) -> None:
    extra = image.extra
    name = safe_relative(extra.get("file_name") or image.name)  # a dftag export names the original file
    if "file_name" not in extra and Path(name).name != image.path.name:
        name = str(Path(name).with_name(image.path.name))  # e.g. a Label Studio upload prefix the file lacks
    if Path(name).suffix.lower() not in (".jpg", ".jpeg", ".png"):
        name = str(Path(name).with_suffix(".jpg"))
    name = names.take(name)
    actual, stored = store_image(image.path, images_dir, name, options.max_side)
    geometry = image_geometry(actual, image.size, stored, builder.warnings, display(image.source), image.name)
    video = extra.get("video")
    entry = {"file_name": name, "width": stored[0], "height": stored[1], "video": video,
             "frame_index": extra.get("frame_index"), "timestamp": extra.get("timestamp"),
             "group": extra.get("group") or Path((video or name).split("#")[0]).stem}
    if extra.get("video_label") is not None:
        label = options.label_map.class_name(extra["video_label"])
        if label is not None:
            entry["video_label"] = label
    if extra.get("original") is not None:
        entry["original"] = extra["original"]
    builder.add(entry, image.boxes, geometry.to_stored, image.relative, f"{display(image.source)}, {image.name}",
                image_id=image.image_id if image.image_id in builder.reserved else None)
    builder.summary.stills += 1


def _kept_ids(ann: Annotations, warnings: Warnings, display: Callable[[Path], str]) -> set[int]:
    """The export's image ids (COCO), kept when every image has one and all are unique positive integers, so
    that results keyed on them still match; otherwise images are numbered from 1 (a warning)."""
    given = [i.image_id for i in ann.images]
    if not any(g is not None for g in given):
        return set()
    valid = all(isinstance(g, int) and not isinstance(g, bool) and g > 0 for g in given)
    if valid and len(set(given)) == len(given):
        return set(given)
    bad = next((i for i in ann.images if not (isinstance(i.image_id, int) and not isinstance(i.image_id, bool)
                                              and i.image_id > 0)), None)
    reason = (f"{bad.name!r} has id {bad.image_id!r}" if bad is not None
              else f"{len(given) - len(set(given))} ids repeat across the input files")
    warnings.add("image ids renumbered (kept only when all are unique positive integers)",
                 f"{display(ann.images[0].source)}: {reason}")
    return set()


def convert(ann: Annotations, out: str | Path, options: ConvertOptions | None = None, warnings: Warnings | None = None,
            force: bool = False, display: Callable[[Path], str] = str) -> Summary:
    """Write ``ann`` as a canonical dataset at ``out`` (atomically); returns what was written.

    ``display`` turns paths into the text used in messages and in the images' ``video`` field (the command
    line uses it to name files inside a zip input as ``export.zip!/member``).
    """
    options = options or ConvertOptions()
    warnings = warnings if warnings is not None else Warnings()
    map_labels(ann, options, warnings, display)
    if options.every and options.every > 1:
        for video in ann.videos:
            video.frames = {f: b for f, b in video.frames.items() if f % options.every == 0}
    _check_media(ann, display)
    if not ann.images and not any(v.frames or v.sample_every or options.negatives_every for v in ann.videos):
        raise DftagError("nothing to convert: the input has no images and no annotated frames")
    builder, names = _Builder(warnings, _kept_ids(ann, warnings, display)), _Names()
    with atomic_dir(out, overwrite=force) as tmp:
        images_dir = tmp / IMAGES_DIR
        images_dir.mkdir()
        work = [(v, _convert_video) for v in ann.videos] + [(i, _convert_still) for i in ann.images]
        for item, step in tqdm(work, desc="convert", unit="file", disable=None, leave=False):
            step(item, options, builder, names, images_dir, display)
        save_coco(new_coco(builder.images, builder.annotations), tmp / ANNOTATIONS_FILE)
    return builder.summary
