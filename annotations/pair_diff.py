"""Where a fake frame differs from its original: changed regions as boxes, grown to whole faces.

A face swap or lip-sync changes the pixels of one face (or its lower half) and leaves the rest of the frame as
it was, up to compression noise and sometimes a global colour shift. :func:`change_regions` finds the changed
regions of a frame pair: both frames are shrunk to a working size, blurred, subtracted; the per-channel median
of the signed difference (a global colour shift) is removed; pixels whose largest channel difference exceeds a
noise-adaptive threshold are cleaned with morphological opening and closing; connected regions near a larger one
are joined to it when the joined box stays face-shaped (a swap often changes forehead, cheeks and chin in
separate patches), and the largest regions are kept. :func:`grow_to_face` turns a region into a face box: the
detector's face box that covers it when face boxes are given, else, for a mouth-only change (lip-sync), a box
grown around the mouth by face proportions.

All boxes are absolute pixel ``xyxy`` floats of the input frames; images are ``uint8`` RGB ``(H, W, 3)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# Robust standard deviation of Gaussian noise from its median absolute value.
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class DiffParams:
    """Tuning of :func:`change_regions`. Fractions are of the working frame's longer side or of its area."""

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


def change_regions(fake: np.ndarray, original: np.ndarray, params: DiffParams = DiffParams()) -> list[Box]:
    """Boxes (xyxy, input pixels) of the changed regions of ``fake`` against ``original`` (same size), largest
    first; empty when none is confident (nothing above the threshold, only specks, or a change covering most of
    the frame). The blur widens a sharp-edged change by about one blur sigma on each side."""
    change, noise = difference_map(fake, original, params)
    threshold = max(params.min_level, params.noise_factor * noise)
    mask = (change > threshold).astype(np.uint8)
    side = max(mask.shape)

    def kernel(frac: float) -> np.ndarray:
        k = max(1, round(frac * side)) | 1
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))

    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel(params.open_frac))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel(params.close_frac))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    frame_area = float(mask.size)
    components = sorted(((int(stats[i, cv2.CC_STAT_AREA]), _xyxy(stats[i])) for i in range(1, count)
                         if stats[i, cv2.CC_STAT_AREA] >= params.min_region_frac * frame_area), key=lambda c: -c[0])
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
    scale_x = fake.shape[1] / mask.shape[1]
    scale_y = fake.shape[0] / mask.shape[0]
    return [(x1 * scale_x, y1 * scale_y, x2 * scale_x, y2 * scale_y)
            for area, (x1, y1, x2, y2) in groups[: params.max_regions] if area >= params.keep_frac * groups[0][0]]


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


@dataclass(frozen=True)
class FaceShape:
    """Face proportions used to grow a mouth change to a whole face when no detector face box covers it.

    Measured on lip-sync outputs (HyperLips): the changed region is roughly the mouth; the face box (brows or
    forehead to chin) is about 2.3 times the region's longer side wide, 1.2 times as tall as wide, and the
    mouth's centre sits at about 0.72 of the face's height from its top.
    """

    face_per_mouth: float = 2.3     # face width / longer side of the mouth region
    aspect: float = 1.2             # face height / face width
    mouth_height: float = 0.72      # mouth centre's position from the face top, fraction of the face height
    min_overlap: float = 0.5        # a detector face box is used when it covers this fraction of the region


def _overlap_fraction(region: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Fraction of ``region``'s area covered by each of ``faces`` (xyxy arrays)."""
    ix = np.clip(np.minimum(faces[:, 2], region[2]) - np.maximum(faces[:, 0], region[0]), 0, None)
    iy = np.clip(np.minimum(faces[:, 3], region[3]) - np.maximum(faces[:, 1], region[1]), 0, None)
    area = max((region[2] - region[0]) * (region[3] - region[1]), 1e-6)
    return ix * iy / area


def grow_to_face(box: Sequence[float], image_size: tuple[int, int], mouth_only: bool,
                 faces: np.ndarray | None = None, shape: FaceShape = FaceShape()) -> Box:
    """A whole-face box for a changed region ``box`` in an image of ``(width, height)`` pixels.

    The detector face box (``faces``: ``(N, 4)`` xyxy) covering most of the region is used when it covers at
    least ``shape.min_overlap`` of it. Otherwise a ``mouth_only`` region (a lip-sync change) is grown to a face
    by the proportions of :class:`FaceShape`, and any other region is the face itself. Clipped to the image.
    """
    width, height = image_size
    region = np.asarray(box, dtype=np.float64)
    covering = None
    if faces is not None and len(faces):
        faces = np.asarray(faces, dtype=np.float64).reshape(-1, 4)
        cover = _overlap_fraction(region, faces)
        if cover.max() >= shape.min_overlap:
            covering = faces[int(cover.argmax())]
    if covering is not None:
        region = covering
    elif mouth_only:
        x1, y1, x2, y2 = region
        face_w = shape.face_per_mouth * max(x2 - x1, y2 - y1)
        face_h = shape.aspect * face_w
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        top = cy - shape.mouth_height * face_h
        region = np.array([cx - face_w / 2, top, cx + face_w / 2, top + face_h])
    x1, y1, x2, y2 = region
    return (float(np.clip(x1, 0, width)), float(np.clip(y1, 0, height)),
            float(np.clip(x2, 0, width)), float(np.clip(y2, 0, height)))
