"""Where a fake frame differs from its original: changed regions as boxes, grown to whole faces.

A face swap or lip-sync changes the pixels of one face (or its lower half) and leaves the rest of the frame as
it was, up to compression noise and sometimes a global colour shift. :class:`FrameDiff` (and
:func:`change_regions`) finds the changed regions of a frame pair: both frames are shrunk to a working size,
blurred, subtracted; the per-channel median of the signed difference (a global colour shift) is removed; pixels
whose largest channel difference exceeds a noise-adaptive threshold are cleaned with morphological opening and
closing; connected regions near a larger one are joined to it when the joined box stays face-shaped (a swap
often changes forehead, cheeks and chin in separate patches), and the largest regions are kept.
:meth:`FrameDiff.changed_fraction` tells how much of any box changed (an unswapped face: next to nothing).

:func:`grow_to_face` turns a region into a **whole-face box** (forehead to chin, ear to ear: the convention of
hand labels and of ``dftag sample-data``'s ground truth): the face finder's whole-face box that covers the
region when face boxes are given, else a box grown from the region by the face proportions of
:class:`FaceShape`: a face swap changes the inner face (brows or eyes to chin), a lip-sync only the mouth.
:data:`MTCNN_WHOLE_FACE` is the measured expansion from MTCNN's tight boxes to whole faces.

All boxes are absolute pixel ``xyxy`` floats of the input frames; images are ``uint8`` RGB ``(H, W, 3)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from dftag.core.boxes import box_iou

# Robust standard deviation of Gaussian noise from its median absolute value.
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class DiffParams:
    """Tuning of :class:`FrameDiff` (:func:`change_regions`). Fractions are of the working frame's longer side or of
    its area, or (``unchanged_frac``, ``changed_frac``) of a face box's pixels."""

    work_side: int = 320            # frames are compared shrunk so their longer side is at most this (px)
    blur_frac: float = 0.008        # Gaussian blur sigma, fraction of the longer side
    min_level: float = 8.0          # a change is at least this many grey levels (0-255)
    noise_factor: float = 5.0       # ... and at least this many robust noise sigmas
    open_frac: float = 0.01         # opening kernel (removes specks), fraction of the longer side
    close_frac: float = 0.04        # closing kernel (joins a face's changed parts), fraction of the longer side
    min_region_frac: float = 0.002  # a region smaller than this fraction of the frame is noise
    max_region_frac: float = 0.6    # a region larger than this is a scene change or misalignment, not a face
    merge_gap: float = 1.0          # a region closer than this many times a face region's longer side joins it
    merge_aspect: tuple[float, float] = (0.8, 2.0)  # ... when the joined box stays face-shaped (height / width)
    keep_frac: float = 0.25         # further regions are kept when at least this fraction of the largest
    max_regions: int = 4            # at most this many regions (faces) per frame
    unchanged_frac: float = 0.05    # a face box with less of its pixels changed than this is unswapped
    changed_frac: float = 0.2       # ... and one with at least this much is changed (FrameDiff.changed_fraction)


Box = tuple[float, float, float, float]


def difference_map(fake: np.ndarray, original: np.ndarray, params: DiffParams) -> tuple[np.ndarray, float]:
    """The per-pixel change (grey levels, float32, working scale) and the robust noise sigma of it."""
    if fake.shape != original.shape:
        raise ValueError(f"frame sizes differ: {fake.shape} vs {original.shape}")
    h, w = fake.shape[:2]
    scale = min(1.0, params.work_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    sigma = params.blur_frac * max(size)
    frames = [cv2.GaussianBlur(cv2.resize(f, size, interpolation=cv2.INTER_AREA).astype(np.float32), (0, 0), sigma)
              for f in (fake, original)]
    signed = frames[0] - frames[1]
    signed -= np.median(signed.reshape(-1, signed.shape[-1]), axis=0)
    change = np.abs(signed).max(axis=-1)
    noise = _MAD_TO_SIGMA * float(np.median(change))
    return change, noise


class FrameDiff:
    """The change between ``fake`` and ``original`` (same size), computed once: its regions and how much of
    any box changed. ``change`` is the per-pixel change at working scale, ``threshold`` the grey-level change
    that counts (``max(min_level, noise_factor * noise)``)."""

    def __init__(self, fake: np.ndarray, original: np.ndarray, params: DiffParams = DiffParams()):
        self.params = params
        self.change, self.noise = difference_map(fake, original, params)
        self.threshold = max(params.min_level, params.noise_factor * self.noise)
        self.changed = self.change > self.threshold
        self.scale_x = fake.shape[1] / self.change.shape[1]  # input pixels per working pixel
        self.scale_y = fake.shape[0] / self.change.shape[0]

    def regions(self) -> list[Box]:
        """Boxes (xyxy, input pixels) of the changed regions, largest first; empty when none is confident
        (nothing above the threshold, only specks, or a change covering most of the frame). The blur widens a
        sharp-edged change by about one blur sigma on each side."""
        params = self.params
        mask = self.changed.astype(np.uint8)
        side = max(mask.shape)

        def kernel(frac: float) -> np.ndarray:
            k = max(1, round(frac * side)) | 1
            return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))

        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel(params.open_frac))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel(params.close_frac))
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        frame_area = float(mask.size)
        components = sorted(((int(stats[i, cv2.CC_STAT_AREA]), _xyxy(stats[i])) for i in range(1, count)
                             if stats[i, cv2.CC_STAT_AREA] >= params.min_region_frac * frame_area),
                            key=lambda c: -c[0])
        if not components or components[0][0] > params.max_region_frac * frame_area:
            return []
        groups: list[list] = []  # [changed pixels, box] per face, largest component first
        for area, box in components:
            target = next((g for g in groups if _joins(g[1], box, params)), None)
            if target is None:
                groups.append([area, box])
            else:
                target[0] += area
                target[1] = _union(target[1], box)
        groups.sort(key=lambda g: -g[0])
        sx, sy = self.scale_x, self.scale_y
        return [(x1 * sx, y1 * sy, x2 * sx, y2 * sy)
                for area, (x1, y1, x2, y2) in groups[: params.max_regions] if area >= params.keep_frac * groups[0][0]]

    def changed_fraction(self, box: Sequence[float]) -> float:
        """The fraction of ``box``'s pixels (xyxy, input pixels; clipped to the frame) whose change exceeds the
        threshold, before any morphology; 0 for a box outside the frame. On ``dftag sample-data`` (16 videos,
        seed 0, every 2nd frame) the whole-face box of an unswapped person had at most 0.008 of its pixels
        changed, a swapped one at least 0.29 (median 0.41)."""
        h, w = self.changed.shape
        x1, x2 = (int(np.clip(round(v / self.scale_x), 0, w)) for v in (box[0], box[2]))
        y1, y2 = (int(np.clip(round(v / self.scale_y), 0, h)) for v in (box[1], box[3]))
        if x2 <= x1 or y2 <= y1:
            return 0.0
        return float(self.changed[y1:y2, x1:x2].mean())


def change_regions(fake: np.ndarray, original: np.ndarray, params: DiffParams = DiffParams()) -> list[Box]:
    """Boxes (xyxy, input pixels) of the changed regions of ``fake`` against ``original`` (same size), largest
    first; empty when none is confident. See :meth:`FrameDiff.regions`."""
    return FrameDiff(fake, original, params).regions()


def _xyxy(stat: np.ndarray) -> Box:
    x, y, w, h = (int(v) for v in stat[:4])
    return (x, y, x + w, y + h)


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _joins(face: Box, part: Box, params: DiffParams) -> bool:
    """Whether ``part`` is near enough ``face`` and the joined box face-shaped, per ``params``."""
    gap = max(part[0] - face[2], face[0] - part[2], part[1] - face[3], face[1] - part[3], 0)
    joined = _union(face, part)
    aspect = (joined[3] - joined[1]) / max(joined[2] - joined[0], 1)
    low, high = params.merge_aspect
    return gap <= params.merge_gap * max(face[2] - face[0], face[3] - face[1]) and low <= aspect <= high


CHANGES = ("face", "mouth", "whole")
"""What a fake changes, which decides how a changed region grows to a face box: ``face`` a face swap (the inner
face, brows or eyes to chin), ``mouth`` a lip-sync (the mouth and lower face), ``whole`` the whole face already
(the region is the box, as autolabel did before it grew face-swap regions)."""


@dataclass(frozen=True)
class FaceShape:
    """Face proportions that grow a changed region to a whole face when no face-finder box covers it.

    Face swap (``change="face"``): the changed region is the inner face. The face is ``face_per_change`` times
    the region's size (the square root of its area) wide, ``aspect`` times as tall as wide, its centre
    ``centre_above_change`` of that size above the region's centre, centred on it horizontally. Fitted (mean
    IoU, then rounded) on ``dftag sample-data`` (16 videos, seed 0, every 2nd frame: 179 regions; a development
    set, not a test split) against the ground truth's whole-face boxes: median IoU 0.56 of the region itself,
    0.91 of the grown box. A fixed aspect keeps the box face-shaped whatever the region's shape; growing width
    and height separately (1.25 x and 1.43 x) did slightly worse there (0.88) and on the real pairs of
    ``benchmarks/autolabel_boxes.py``. Real swaps differ by method (relative to MTCNN's box the region of FF++
    Deepfakes is smaller, of FaceSwap and DeepFaceLive larger than the sample data's), so a face finder's box is
    preferred.

    Lip-sync (``change="mouth"``), measured on lip-sync outputs (HyperLips): the changed region is roughly the
    mouth; the face box is about 2.3 times the region's longer side wide, ``aspect`` (1.2) times as tall as
    wide, and the mouth's centre sits at about 0.72 of the face's height from its top.
    """

    face_per_change: float = 1.22   # face swap: face width / sqrt(area of the changed region)
    centre_above_change: float = 0.15  # ... face centre above the region's centre, / sqrt(area of the region)
    face_per_mouth: float = 2.3     # lip-sync: face width / longer side of the mouth region
    aspect: float = 1.2             # face height / face width (both)
    mouth_height: float = 0.72      # lip-sync: mouth centre's position from the face top, fraction of the height
    min_overlap: float = 0.5        # a face-finder box is used when it covers this fraction of the region


@dataclass(frozen=True)
class BoxExpansion:
    """A face detector's box convention to whole faces: width and height scaled about the centre, the centre
    moved down by ``shift_y`` of the detector box's height (negative: up)."""

    width: float = 1.0
    height: float = 1.0
    shift_y: float = 0.0

    def __call__(self, boxes: np.ndarray) -> np.ndarray:
        """``boxes`` ``(N, 4)`` xyxy (further columns, e.g. scores, pass through) expanded; float64."""
        boxes = np.array(boxes, dtype=np.float64, ndmin=2)
        x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
        w, h = x2 - x1, y2 - y1
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + self.shift_y * h
        out = boxes.copy()
        out[:, :4] = np.stack([cx - self.width * w / 2, cy - self.height * h / 2,
                               cx + self.width * w / 2, cy + self.height * h / 2], axis=1)
        return out


MTCNN_WHOLE_FACE = BoxExpansion(width=1.25, height=1.12, shift_y=-0.07)
"""MTCNN's boxes (tight, brows to chin, cheek to cheek) to whole faces. Measured on ``dftag sample-data`` (16
videos, seed 0, every 2nd frame of the fakes and originals: 325 MTCNN faces; a development set) against the
ground truth's whole-face boxes: medians 1.25 times as wide, 1.12 times as tall, centre 0.069 of the box's
height higher (median IoU 0.70 before, 0.87 after). The same expansion was checked by eye on real frames."""


def _overlap_fraction(region: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Fraction of ``region``'s area covered by each of ``faces`` (xyxy arrays)."""
    ix = np.clip(np.minimum(faces[:, 2], region[2]) - np.maximum(faces[:, 0], region[0]), 0, None)
    iy = np.clip(np.minimum(faces[:, 3], region[3]) - np.maximum(faces[:, 1], region[1]), 0, None)
    area = max((region[2] - region[0]) * (region[3] - region[1]), 1e-6)
    return ix * iy / area


def change_kind(change: bool | str) -> str:
    """``change`` as one of :data:`CHANGES`; ``True`` is ``"mouth"`` and ``False`` ``"face"`` (the former
    ``mouth_only`` flag)."""
    if isinstance(change, bool):
        return "mouth" if change else "face"
    if change not in CHANGES:
        raise ValueError(f"change must be one of {', '.join(CHANGES)}, got {change!r}")
    return change


def face_estimate(box: Sequence[float], change: bool | str = "face", shape: FaceShape = FaceShape()) -> Box:
    """The whole face a changed region ``box`` implies by the proportions of ``shape`` (not clipped)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    kind = change_kind(change)
    cx = (x1 + x2) / 2
    if kind == "mouth":
        face_w = shape.face_per_mouth * max(x2 - x1, y2 - y1)
        face_h = shape.aspect * face_w
        top = (y1 + y2) / 2 - shape.mouth_height * face_h
        return (cx - face_w / 2, top, cx + face_w / 2, top + face_h)
    if kind == "whole":
        return (x1, y1, x2, y2)
    size = float(np.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0)))
    face_w = shape.face_per_change * size
    face_h = shape.aspect * face_w
    cy = (y1 + y2) / 2 - shape.centre_above_change * size
    return (cx - face_w / 2, cy - face_h / 2, cx + face_w / 2, cy + face_h / 2)


def finder_face(box: Sequence[float], faces: np.ndarray | None, change: bool | str = "face",
                shape: FaceShape = FaceShape()) -> int | None:
    """Index of the face-finder box (``faces``: ``(N, 4+)`` xyxy, whole-face convention) that is the face of
    the changed region ``box``, or None: of the boxes covering at least ``shape.min_overlap`` of the region,
    the one that overlaps the proportional estimate (:func:`face_estimate`) most."""
    if faces is None or not len(faces):
        return None
    faces = np.asarray(faces, dtype=np.float64).reshape(len(faces), -1)[:, :4]
    region = np.asarray(box, dtype=np.float64)
    covering = np.flatnonzero(_overlap_fraction(region, faces) >= shape.min_overlap)
    if not len(covering):
        return None
    estimate = np.asarray(face_estimate(region, change, shape))
    return int(covering[np.argmax(box_iou(estimate[None], faces[covering])[0])])


def clip_box(box: Sequence[float], image_size: tuple[int, int]) -> Box:
    """``box`` (xyxy) clipped to an image of ``(width, height)`` pixels."""
    width, height = image_size
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    return (float(np.clip(x1, 0, width)), float(np.clip(y1, 0, height)),
            float(np.clip(x2, 0, width)), float(np.clip(y2, 0, height)))


def grow_to_face(box: Sequence[float], image_size: tuple[int, int], change: bool | str = "face",
                 faces: np.ndarray | None = None, shape: FaceShape = FaceShape(), *,
                 mouth_only: bool | None = None) -> Box:
    """A whole-face box for a changed region ``box`` in an image of ``(width, height)`` pixels.

    ``change`` is one of :data:`CHANGES` (a bool, or the keyword ``mouth_only``, is the former flag: True is
    ``"mouth"``, False ``"face"``). The face-finder box (``faces``: ``(N, 4)`` xyxy whole-face boxes, further
    columns ignored) chosen by :func:`finder_face` is used when there is one; otherwise the region grows by the
    proportions of ``shape`` (:func:`face_estimate`). Clipped to the image.
    """
    if mouth_only is not None:
        change = mouth_only
    index = finder_face(box, faces, change, shape)
    if index is not None:
        return clip_box(np.asarray(faces, dtype=np.float64).reshape(len(faces), -1)[index], image_size)
    return clip_box(face_estimate(box, change, shape), image_size)
