"""Auto-label real and fake faces from (fake, original) video pairs, and real faces from real-only videos.

A fake made from an original differs from it only where a face was replaced or re-rendered, so the difference
of the two frames gives the face box for free. For every pair both videos are decoded in step (only the frames
both have; a side-by-side file is decoded once and each frame split into its halves), the changed regions of
each frame pair are found (:mod:`dftag.annotations.pair_diff`) and grown to **whole-face** boxes (forehead to
chin, ear to ear): the face finder's box covering the region when a face finder is given, else by face
proportions (:class:`~dftag.annotations.pair_diff.FaceShape`). Each box is labelled ``fake`` in the fake's frame
and ``real`` at the same place in the original's frame. With a face finder, a changed region that no face it
found covers is not a face and is not boxed (``grow_faceless`` boxes it by face proportions instead): in
FaceForensics++ c40 pairs such regions are hands, bottles, channel logos and re-encoding noise (110 of the 647
fake boxes the real-data benchmark's autolabel made before this rule); a frame left without a fake box is
skipped and counted.

With a face finder, the faces it finds confidently (score at least ``real_score``) that did not change (less
than ``DiffParams.unchanged_frac`` of the box's pixels changed) are the people a mixed fake left unswapped:
they are labelled ``real`` in both frames. A confident face that changed (at least ``DiffParams.changed_frac``)
but whose region was not kept is labelled ``fake``; one in between is left unboxed and counted (ambiguous).

Real-only videos (``real_videos``: clips without a fake) need a face finder: every confident face it finds on
every K-th frame is labelled ``real``; frames without one are skipped and counted.

Every frame gets ``group`` = the original's stem (a real-only video's own stem), so ``dftag split`` keeps a fake
with its original. Frames without a confident change are skipped and counted. Output is a canonical dataset
folder, written atomically; boxes are absolute pixels of the stored frames (xyxy in memory, COCO xywh on disk).
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
from dftag.annotations.frames import write_jpeg
from dftag.annotations.pair_diff import Box, DiffParams, FaceShape, FrameDiff, clip_box, face_estimate, finder_face
from dftag.annotations.pair_list import MediaRef, Pair
from dftag.annotations.video import Frame, probe, read_frames
from dftag.core.atomic import atomic_dir
from dftag.core.boxes import box_iou, xyxy_to_xywh
from dftag.core.errors import DftagError, Warnings

# Face boxes per image, for a batch of uint8 RGB images: an ``(N, 4)`` xyxy array of whole-face boxes in each
# image's pixels, or ``(N, 5)`` with a confidence score (0-1) as the fifth column (``(N, 4)``: all confident).
FaceFinder = Callable[[Sequence[np.ndarray]], list[np.ndarray]]

# Boxes of one frame overlapping more than this (IoU) are one face; so are a new real box and an existing one
# in an original frame shared by several fakes.
SAME_FACE_IOU = 0.5
# When thinning with --every, decode indices up to this factor past the frame count ffmpeg reports (VFR slack).
FRAME_COUNT_SLACK = 1.2
# A face-finder face is labelled real (an unswapped person, a face of a real-only video) from this score on.
# MTCNN's O-Net probability: real faces in FF++ and DFDC frames scored >= 0.994, background boxes 0.73-0.96
# (dftag.detector.mtcnn). On dftag sample-data (benchmarks/autolabel_boxes.py, seeds 0 and 1) 0.95 boxed 68 and
# 81 % of the unswapped faces, 0.8 would box 81 and 88 %, at the risk of MTCNN's background boxes on real frames.
REAL_FACE_SCORE = 0.95
# A face-finder face overlapping a fake box by more than this (IoU) is that face, not an unswapped one.
FAKE_OVERLAP_IOU = 0.3


@dataclass
class AutolabelReport:
    """What happened: pairs used and skipped, frames compared, labelled and skipped, boxes written."""

    pairs: int = 0
    pairs_missing: int = 0
    length_mismatches: int = 0
    frames_compared: int = 0
    frames_labelled: int = 0
    frames_without_change: int = 0
    fake_faces_found: int = 0      # fake faces (per frame pair) boxed with a face-finder box
    fake_faces_grown: int = 0      # ... grown from the changed region by face proportions
    fake_faces_by_change: int = 0  # ... a changed face-finder face whose region was not kept
    faceless_regions: int = 0      # changed regions no face-finder face covers: not boxed
    frames_without_face: int = 0   # frames skipped: changed regions, none of them on a face
    unswapped_faces: int = 0       # unchanged face-finder faces boxed real in both frames of a pair
    ambiguous_faces: int = 0       # face-finder faces partly changed: left unboxed
    real_videos: int = 0
    real_videos_missing: int = 0
    real_frames_compared: int = 0
    real_frames_labelled: int = 0
    real_frames_without_face: int = 0
    images: int = 0
    boxes: dict[str, int] = field(default_factory=lambda: {"real": 0, "fake": 0})
    warnings: Warnings = field(default_factory=Warnings)

    def lines(self) -> list[str]:
        lines = [
            f"pairs: {self.pairs} labelled, {self.pairs_missing} skipped (video missing), "
            f"{self.length_mismatches} of different lengths (used the frames both have)",
            f"frames: {self.frames_compared} compared, {self.frames_labelled} labelled, "
            f"{self.frames_without_change} skipped (no confident difference region), {self.frames_without_face} "
            f"skipped (changed regions, none on a found face)",
            f"faces: {self.fake_faces_found} fake from face-finder boxes, {self.fake_faces_grown} grown by face "
            f"proportions, {self.fake_faces_by_change} changed faces without a region, {self.faceless_regions} "
            f"changed regions on no found face left unboxed; {self.unswapped_faces} unswapped faces boxed real, "
            f"{self.ambiguous_faces} partly changed faces left unboxed",
        ]
        if self.real_videos or self.real_videos_missing:
            lines.append(f"real videos: {self.real_videos} labelled, {self.real_videos_missing} skipped (missing); "
                         f"frames: {self.real_frames_compared} looked at, {self.real_frames_labelled} labelled, "
                         f"{self.real_frames_without_face} skipped (no confident face)")
        lines.append(f"dataset: {self.images} images, {self.boxes['real']} real and {self.boxes['fake']} fake boxes")
        return lines


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
        raise DftagError(f"cannot take one frame in {every}: ffmpeg reports no duration or frame rate", path)
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


def finder_faces(found: np.ndarray) -> np.ndarray:
    """A face finder's answer for one image as an ``(N, 5)`` float64 array ``x1, y1, x2, y2, score`` (score 1
    when it gave only boxes)."""
    faces = np.asarray(found, dtype=np.float64)
    faces = faces.reshape(0, 4) if faces.size == 0 else np.atleast_2d(faces)
    if faces.shape[1] not in (4, 5):
        raise ValueError(f"a face finder gives (N, 4) boxes or (N, 5) boxes and scores, got {faces.shape}")
    if faces.shape[1] == 4:
        faces = np.concatenate([faces, np.ones((len(faces), 1))], axis=1)
    return faces


@dataclass
class FrameLabels:
    """The boxes of one frame pair: ``fake`` faces (fake in the fake's frame, real in the original's) and
    ``real`` faces (unswapped: real in both), with how each fake box was made."""

    fake: list[Box] = field(default_factory=list)
    real: list[Box] = field(default_factory=list)
    found: int = 0       # fake boxes that are face-finder boxes
    grown: int = 0       # ... grown by face proportions
    by_change: int = 0   # ... changed face-finder faces without a region
    ambiguous: int = 0   # face-finder faces partly changed, not boxed
    faceless: int = 0    # changed regions no face-finder face covers, not boxed


def label_frame_pair(frames: FramePair, change: bool | str = "face", face_finder: FaceFinder | None = None,
                     params: DiffParams = DiffParams(), shape: FaceShape = FaceShape(),
                     real_score: float = REAL_FACE_SCORE, grow_faceless: bool = False) -> FrameLabels:
    """The face boxes (xyxy, pixels of the pair's frames) of one frame pair; see the module docstring. Without
    fake boxes when the pair has no confident changed region, or (with a face finder, unless
    ``grow_faceless``) none on a found face: the frame is then not labelled at all."""
    diff = FrameDiff(frames.fake, frames.original, params)
    regions = diff.regions()
    labels = FrameLabels()
    if not regions:
        return labels
    size = (frames.fake.shape[1], frames.fake.shape[0])
    faces = np.zeros((0, 5))
    if face_finder is not None:
        faces = np.concatenate([finder_faces(f) for f in face_finder([frames.original, frames.fake])])
        faces = faces[np.argsort(-faces[:, 4], kind="stable")]
    for region in regions:
        index = finder_face(region, faces, change, shape)
        if index is None and face_finder is not None and not grow_faceless:
            labels.faceless += 1
            continue
        box = clip_box(faces[index] if index is not None else face_estimate(region, change, shape), size)
        if _new_face(box, labels.fake):
            labels.fake.append(box)
            labels.found += index is not None
            labels.grown += index is None
    decided: list[Box] = []  # face-finder faces already judged (a face is found in both frames)
    for face in faces[faces[:, 4] >= real_score]:
        box = clip_box(face, size)
        if not _new_face(box, decided) or (labels.fake and box_iou([box], labels.fake).max() > FAKE_OVERLAP_IOU):
            continue
        decided.append(box)
        changed = diff.changed_fraction(box)
        if changed < params.unchanged_frac:
            labels.real.append(box)
        elif changed >= params.changed_frac and _new_face(box, labels.fake):
            labels.fake.append(box)
            labels.by_change += 1
        else:
            labels.ambiguous += 1
    return labels


def _new_face(box: Box, boxes: list[Box]) -> bool:
    """Whether ``box`` has an area and overlaps none of ``boxes`` by more than ``SAME_FACE_IOU``."""
    return box[2] > box[0] and box[3] > box[1] and (not boxes or box_iou([box], boxes).max() <= SAME_FACE_IOU)


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

    def image(self, ref: MediaRef, frame: FramePair | Frame, image: np.ndarray, label: str, group: str,
              original: MediaRef | None = None) -> dict[str, Any]:
        """The image entry of ``ref``'s frame (``frame.index``, ``frame.timestamp``), writing ``image`` the first
        time it is asked for; a fake's entry names its ``original`` video."""
        key = (ref.path, ref.half, frame.index)
        if key in self._by_frame:
            return self._by_frame[key]
        file_name = f"{self._folder(ref)}/{frame.index:06d}.jpg"
        target = self.root / IMAGES_DIR / file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_jpeg(image, target)
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


def as_media_ref(video: MediaRef | str | Path) -> MediaRef:
    """A real-only video as a :class:`MediaRef`: a path (``#left_half``/``#right_half`` allowed) as given."""
    if isinstance(video, MediaRef):
        return video
    path, _, half = str(video).partition("#")
    if half and half not in ("left_half", "right_half"):
        raise DftagError(f"unknown suffix '#{half}' (expected #left_half or #right_half)", path)
    return MediaRef(Path(path), str(video), half or None)


def label_real_video(builder: DatasetBuilder, ref: MediaRef, face_finder: FaceFinder, report: AutolabelReport, *,
                     every: int = 1, max_side: int | None = None, real_score: float = REAL_FACE_SCORE) -> None:
    """Label every confident face ``face_finder`` finds on frames ``0, every, 2*every, ...`` of the real video
    ``ref`` as ``real`` into ``builder`` (group: the video's stem); frames without one are skipped and counted."""
    frames = read_frames(ref.path, indices=thinned_indices(ref.path, every), max_side=max_side)
    with contextlib.closing(frames):
        for frame in frames:
            image = crop_half(frame.image, ref.half)
            report.real_frames_compared += 1
            faces = finder_faces(face_finder([image])[0])
            faces = faces[np.argsort(-faces[:, 4], kind="stable")]
            size = (image.shape[1], image.shape[0])
            boxes = distinct_faces([clip_box(f, size) for f in faces if f[4] >= real_score])
            if not boxes:
                report.real_frames_without_face += 1
                continue
            report.real_frames_labelled += 1
            entry = builder.image(ref, frame, image, "real", ref.stem)
            for box in boxes:
                report.boxes["real"] += builder.add_box(entry, box, REAL)
    report.real_videos += 1


def autolabel_pairs(pairs: Sequence[Pair], out: str | Path, *, every: int = 1, max_side: int | None = None,
                    face_finder: FaceFinder | None = None, params: DiffParams = DiffParams(),
                    shape: FaceShape = FaceShape(), force: bool = False, progress: bool = True,
                    real_videos: Sequence[MediaRef | str | Path] = (), real_every: int | None = None,
                    real_score: float = REAL_FACE_SCORE, grow_faceless: bool = False) -> AutolabelReport:
    """Label every pair's frames (and the faces of ``real_videos``) and write the dataset folder ``out``
    atomically; see the module docstring.

    ``every`` keeps frames ``0, every, 2*every, ...``; ``max_side`` shrinks decoded frames (longer side, px);
    ``face_finder`` gives whole-face boxes (and scores) that changed regions are grown to and that unswapped
    faces are boxed with, and a changed region on none of its faces is left unboxed (``grow_faceless``: grown by
    ``shape`` instead); without it regions grow by ``shape``'s proportions and unswapped faces are not boxed.
    A pair's ``change`` ("face", "mouth" or "whole") says how its regions grow. ``real_videos`` (paths or
    :class:`MediaRef`; need a face finder) are labelled every ``real_every``-th frame (default: ``every``);
    ``real_score`` is the face-finder score from which a face is labelled real. Pairs and real videos with a
    missing file are skipped and counted; it is an error when none is left, or when no frame at all could be
    labelled.
    """
    real_every = every if real_every is None else real_every
    for name, value in (("every", every), ("real_every", real_every)):
        if value < 1:
            raise DftagError(f"{{parameter}} must be at least 1, got {value}", parameter=name)
    refs = [as_media_ref(v) for v in real_videos]
    if refs and face_finder is None:
        raise DftagError("real-only videos need a face finder (their faces are found, not differenced)")
    if not pairs and not refs:
        raise DftagError("nothing to label: no pairs and no real videos")
    report = AutolabelReport()
    present = []
    for pair in pairs:
        missing = next((r for r in (pair.fake, pair.original) if not r.path.is_file()), None)
        if missing is None:
            present.append(pair)
        else:
            report.pairs_missing += 1
            report.warnings.add("pair skipped, video not found", str(missing.path))
    present_refs = []
    for ref in refs:
        if ref.path.is_file():
            present_refs.append(ref)
        else:
            report.real_videos_missing += 1
            report.warnings.add("real video skipped, not found", str(ref.path))
    if not present and not present_refs:
        if pairs:
            raise DftagError(f"none of the {len(pairs)} pairs has both videos (first missing: "
                             f"{report.warnings.examples['pair skipped, video not found']})")
        raise DftagError(f"none of the {len(refs)} real videos was found (first: "
                         f"{report.warnings.examples['real video skipped, not found']})")
    with atomic_dir(out, overwrite=force) as root:
        builder = DatasetBuilder(root)
        for pair in tqdm(present, desc="pairs", unit="pair", disable=not progress):
            frames = PairedFrames(pair, every, max_side)
            for frame in frames:
                report.frames_compared += 1
                labels = label_frame_pair(frame, pair.change, face_finder, params, shape, real_score,
                                          grow_faceless)
                report.faceless_regions += labels.faceless
                if not labels.fake:
                    if labels.faceless:
                        report.frames_without_face += 1
                    else:
                        report.frames_without_change += 1
                    continue
                report.frames_labelled += 1
                report.fake_faces_found += labels.found
                report.fake_faces_grown += labels.grown
                report.fake_faces_by_change += labels.by_change
                report.unswapped_faces += len(labels.real)
                report.ambiguous_faces += labels.ambiguous
                group = pair.original.stem
                fake_image = builder.image(pair.fake, frame, frame.fake, "fake", group, original=pair.original)
                orig_image = builder.image(pair.original, frame, frame.original, "real", group)
                for box in labels.fake:
                    report.boxes["fake"] += builder.add_box(fake_image, box, FAKE)
                    report.boxes["real"] += builder.add_box(orig_image, box, REAL)
                for box in labels.real:
                    report.boxes["real"] += builder.add_box(fake_image, box, REAL)
                    report.boxes["real"] += builder.add_box(orig_image, box, REAL)
            report.pairs += 1
            report.length_mismatches += frames.length_mismatch
            if frames.length_mismatch:
                report.warnings.add("videos of different lengths", f"{pair.fake.given} vs {pair.original.given}")
        for ref in tqdm(present_refs, desc="real videos", unit="video", disable=not progress):
            label_real_video(builder, ref, face_finder, report, every=real_every, max_side=max_side,
                             real_score=real_score)
        report.images = len(builder.images)
        if not builder.images:
            what = (f"no frame of the {report.pairs} pair(s) had a confident difference region"
                    + (" on a found face" if report.frames_without_face else "")
                    + (f" and no frame of the {report.real_videos} real video(s) a confident face" if refs else ""))
            fix = ("grow_faceless", "to box the changes the face finder saw no face on") \
                if report.frames_without_face else None
            raise DftagError(f"{what}; nothing to label ({report.frames_compared + report.real_frames_compared} "
                             f"frames compared)", fix=fix)
        save_coco(new_coco(builder.images, builder.annotations, source="dftag autolabel"), root / ANNOTATIONS_FILE)
    return report


def autolabel_real_videos(videos: Sequence[MediaRef | str | Path], out: str | Path, face_finder: FaceFinder, *,
                          every: int = 1, max_side: int | None = None, real_score: float = REAL_FACE_SCORE,
                          force: bool = False, progress: bool = True) -> AutolabelReport:
    """A dataset of the real faces ``face_finder`` finds in real-only ``videos`` (every ``every``-th frame):
    :func:`autolabel_pairs` without pairs."""
    return autolabel_pairs([], out, every=every, max_side=max_side, face_finder=face_finder, force=force,
                           progress=progress, real_videos=videos, real_score=real_score)
