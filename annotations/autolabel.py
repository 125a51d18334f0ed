"""Auto-label real and fake faces from (fake, original) video pairs.

A fake made from an original differs from it only where a face was replaced or re-rendered, so the difference
of the two frames gives the face box for free. For every pair both videos are decoded in step (only the frames
both have; a side-by-side file is decoded once and each frame split into its halves), the changed regions of
each frame pair are found (:mod:`dftag.annotations.pair_diff`) and grown to face boxes; each box is labelled ``fake``
in the fake's frame and ``real`` at the same place in the original's frame. Both frames get ``group`` = the
original's stem, so ``dftag split`` keeps them together. Frames without a confident change are skipped and
counted. Output is a canonical dataset folder, written atomically; boxes are absolute pixels of the stored
frames (xyxy in memory, COCO xywh on disk).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from dftag.annotations.dataset import ANNOTATIONS_FILE, FAKE, IMAGES_DIR, REAL, new_coco, save_coco
from dftag.annotations.pair_diff import Box, DiffParams, FaceShape, change_regions, grow_to_face
from dftag.annotations.pair_list import MediaRef, Pair
from dftag.annotations.video import Frame, probe, read_frames
from dftag.core.atomic import atomic_dir
from dftag.core.boxes import box_iou, xyxy_to_xywh
from dftag.core.errors import DftagError, Warnings

# Given face boxes per image, for a batch of RGB images: ``(N, 4)`` xyxy arrays in each image's pixels.
FaceFinder = Callable[[Sequence[np.ndarray]], list[np.ndarray]]

JPEG_QUALITY = 95
# Boxes of one frame overlapping more than this (IoU) are one face; so are a new real box and an existing one
# in an original frame shared by several fakes.
SAME_FACE_IOU = 0.5
# When thinning with --every, decode indices up to this factor past the frame count ffmpeg reports (VFR slack).
FRAME_COUNT_SLACK = 1.2


@dataclass
class AutolabelReport:
    """What happened: pairs used and skipped, frames compared, labelled and skipped, boxes written."""

    pairs: int = 0
    pairs_missing: int = 0
    length_mismatches: int = 0
    frames_compared: int = 0
    frames_labelled: int = 0
    frames_without_change: int = 0
    images: int = 0
    boxes: dict[str, int] = field(default_factory=lambda: {"real": 0, "fake": 0})
    warnings: Warnings = field(default_factory=Warnings)

    def lines(self) -> list[str]:
        return [
            f"pairs: {self.pairs} labelled, {self.pairs_missing} skipped (video missing), "
            f"{self.length_mismatches} of different lengths (used the frames both have)",
            f"frames: {self.frames_compared} compared, {self.frames_labelled} labelled, "
            f"{self.frames_without_change} skipped (no confident difference region)",
            f"dataset: {self.images} images, {self.boxes['real']} real and {self.boxes['fake']} fake boxes",
        ]


@dataclass
class FramePair:
    index: int
    timestamp: float
    fake: np.ndarray
    original: np.ndarray


def crop_half(image: np.ndarray, half: str | None) -> np.ndarray:
    """The ``left_half`` or ``right_half`` of a side-by-side frame (equal widths; an odd middle column is
    dropped), or the frame itself."""
    if half is None:
        return image
    w = image.shape[1] // 2
    return image[:, :w] if half == "left_half" else image[:, image.shape[1] - w:]


def thinned_indices(path: Path, every: int) -> range | None:
    """Frame indices ``0, every, 2*every, ...`` covering the video (None: every frame)."""
    if every == 1:
        return None
    info = probe(path)
    if not (info.duration and info.fps):
        raise DftagError("cannot thin frames with --every: ffmpeg reports no duration or frame rate", path)
    return range(0, math.ceil(info.duration * info.fps * FRAME_COUNT_SLACK) + 1, every)


class PairedFrames:
    """Iterate the frames both videos of a pair have, in step; ``length_mismatch`` is set when one had more.

    The original is brought to the fake's size when they differ (``cv2.INTER_AREA``); a side-by-side file is
    decoded once.
    """

    def __init__(self, pair: Pair, every: int = 1, max_side: int | None = None):
        self.pair, self.every, self.max_side = pair, every, max_side
        self.length_mismatch = False

    def _frames(self, ref: MediaRef) -> Iterator[Frame]:
        return read_frames(ref.path, indices=thinned_indices(ref.path, self.every), max_side=self.max_side)

    def __iter__(self) -> Iterator[FramePair]:
        fake, original = self.pair.fake, self.pair.original
        if fake.path == original.path:
            with contextlib.closing(self._frames(fake)) as frames:
                for f in frames:
                    yield FramePair(f.index, f.timestamp, crop_half(f.image, fake.half),
                                    crop_half(f.image, original.half))
            return
        with contextlib.closing(self._frames(fake)) as fakes, contextlib.closing(self._frames(original)) as originals:
            while True:
                f, o = next(fakes, None), next(originals, None)
                if f is None or o is None:
                    self.length_mismatch = (f is None) != (o is None)
                    return
                fake_image, orig_image = crop_half(f.image, fake.half), crop_half(o.image, original.half)
                if orig_image.shape != fake_image.shape:
                    orig_image = cv2.resize(orig_image, fake_image.shape[1::-1], interpolation=cv2.INTER_AREA)
                yield FramePair(f.index, f.timestamp, fake_image, orig_image)


def distinct_faces(boxes: list[Box]) -> list[Box]:
    """Boxes in order, dropping any that overlaps an earlier kept one by more than ``SAME_FACE_IOU``."""
    kept: list[Box] = []
    for box in boxes:
        has_area = box[2] > box[0] and box[3] > box[1]
        if has_area and (not kept or box_iou([box], kept).max() <= SAME_FACE_IOU):
            kept.append(box)
    return kept


def face_boxes(frames: FramePair, mouth_only: bool, face_finder: FaceFinder | None, params: DiffParams,
               shape: FaceShape) -> list[Box]:
    """Face boxes (xyxy, pixels of the pair's frames) of the changed regions of one frame pair."""
    regions = change_regions(frames.fake, frames.original, params)
    if not regions:
        return []
    faces = None
    if face_finder is not None:
        faces = np.concatenate([np.asarray(b, dtype=np.float64).reshape(-1, 4)
                                for b in face_finder([frames.original, frames.fake])])
    size = (frames.fake.shape[1], frames.fake.shape[0])
    return distinct_faces([grow_to_face(r, size, mouth_only, faces, shape) for r in regions])


class DatasetBuilder:
    """Collects frames and boxes into a canonical dataset under ``root`` (``images/`` plus a COCO dict)."""

    def __init__(self, root: Path):
        self.root = root
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self._names: dict[str, tuple[Path, str | None]] = {}
        self._by_frame: dict[tuple[Path, str | None, int], dict[str, Any]] = {}
        self._boxes: dict[int, list[Box]] = {}

    def _folder(self, ref: MediaRef) -> str:
        """A folder name unique to ``ref``'s file and half (``stem``, then ``stem-2``, ... on clashes)."""
        key, name, n = (ref.path, ref.half), ref.name, 1
        while self._names.setdefault(name, key) != key:
            n += 1
            name = f"{ref.name}-{n}"
        return name

    def image(self, ref: MediaRef, frame: FramePair, image: np.ndarray, label: str, group: str,
              original: MediaRef | None = None) -> dict[str, Any]:
        """The image entry of ``ref``'s frame, writing the frame the first time it is asked for; a fake's entry
        names its ``original`` video."""
        key = (ref.path, ref.half, frame.index)
        if key in self._by_frame:
            return self._by_frame[key]
        file_name = f"{self._folder(ref)}/{frame.index:06d}.jpg"
        target = self.root / IMAGES_DIR / file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        if not cv2.imwrite(str(target), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise DftagError("cannot write image", target)
        entry = {"id": len(self.images) + 1, "file_name": file_name, "width": image.shape[1],
                 "height": image.shape[0], "video": ref.given, "frame_index": frame.index,
                 "timestamp": frame.timestamp, "group": group, "video_label": label}
        if original is not None:
            entry["original"] = original.given
        self.images.append(entry)
        self._by_frame[key] = entry
        self._boxes[entry["id"]] = []
        return entry

    def add_box(self, image: dict[str, Any], box: Box, category: int) -> bool:
        """Add a box unless the image already has one on the same face; True when added."""
        existing = self._boxes[image["id"]]
        if existing and box_iou([box], existing).max() > SAME_FACE_IOU:
            return False
        existing.append(box)
        x, y, w, h = xyxy_to_xywh(box)
        self.annotations.append({"id": len(self.annotations) + 1, "image_id": image["id"], "category_id": category,
                                 "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
        return True


def autolabel_pairs(pairs: Sequence[Pair], out: str | Path, *, every: int = 1, max_side: int | None = None,
                    face_finder: FaceFinder | None = None, params: DiffParams = DiffParams(),
                    shape: FaceShape = FaceShape(), force: bool = False, progress: bool = True) -> AutolabelReport:
    """Label every pair's frames and write the dataset folder ``out`` atomically; see the module docstring.

    ``every`` keeps frames ``0, every, 2*every, ...``; ``max_side`` shrinks decoded frames (longer side, px);
    ``face_finder`` gives detector face boxes that changed regions are grown to. Pairs with a missing video are
    skipped and counted; it is an error when none is left, or when no frame at all could be labelled.
    """
    if every < 1:
        raise DftagError(f"{{parameter}} must be at least 1, got {every}", parameter="every")
    report = AutolabelReport()
    present = []
    for pair in pairs:
        missing = next((r for r in (pair.fake, pair.original) if not r.path.is_file()), None)
        if missing is None:
            present.append(pair)
        else:
            report.pairs_missing += 1
            report.warnings.add("pair skipped, video not found", str(missing.path))
    if not present:
        raise DftagError(f"none of the {len(pairs)} pairs has both videos (first missing: "
                         f"{report.warnings.examples['pair skipped, video not found']})")
    with atomic_dir(out, overwrite=force) as root:
        builder = DatasetBuilder(root)
        for pair in tqdm(present, desc="pairs", unit="pair", disable=not progress):
            frames = PairedFrames(pair, every, max_side)
            for frame in frames:
                report.frames_compared += 1
                boxes = face_boxes(frame, pair.mouth_only, face_finder, params, shape)
                if not boxes:
                    report.frames_without_change += 1
                    continue
                report.frames_labelled += 1
                group = pair.original.stem
                fake_image = builder.image(pair.fake, frame, frame.fake, "fake", group, original=pair.original)
                orig_image = builder.image(pair.original, frame, frame.original, "real", group)
                for box in boxes:
                    report.boxes["fake"] += builder.add_box(fake_image, box, FAKE)
                    report.boxes["real"] += builder.add_box(orig_image, box, REAL)
            report.pairs += 1
            report.length_mismatches += frames.length_mismatch
            if frames.length_mismatch:
                report.warnings.add("videos of different lengths", f"{pair.fake.given} vs {pair.original.given}")
        report.images = len(builder.images)
        if not builder.images:
            raise DftagError(f"no frame of the {report.pairs} pair(s) had a confident difference region; nothing "
                             f"to label ({report.frames_compared} frames compared)")
        save_coco(new_coco(builder.images, builder.annotations, source="dftag autolabel"), root / ANNOTATIONS_FILE)
    return report
