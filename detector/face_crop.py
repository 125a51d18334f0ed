"""Square face crops cut from the original-resolution frame, for the per-face real/fake classifier.

Coordinates are continuous absolute pixels: pixel ``(i, j)`` of an image covers ``[j, j + 1) x [i, i + 1)``, so
the box ``[0, 0, W, H]`` is the whole ``W x H`` image, as for every ``xyxy`` box in dftag. Frames may have any
orientation (portrait or landscape); nothing here looks at which side is longer.

* :func:`crop_boxes`: the square crop around each face box: centred on the box centre, side
  ``max(w, h) * (1 + 2 * margin)``; it may reach past the frame.
* :func:`crop_transforms`: the ``(N, 2, 3)`` affine maps from frame pixels to the pixels of ``S x S`` crops.
* :func:`crop_faces`: the ``(N, S, S, 3)`` uint8 crops, one ``cv2.warpAffine`` each (bilinear, as SBI resizes
  its crops). Crop pixels outside the frame are constant black: nothing is invented where the frame has no
  data (replicating the border would smear hair or background into streaks), and a real face and its fake,
  cut with the same box, get the same fill.
* :func:`map_points`, :func:`map_boxes`, :func:`invert`: put landmarks or boxes into crop pixels and back.

The default margin is 0.3 of the box side per side, as the DFDC winner's MTCNN crops (SBI uses 0.125 around
tighter landmark boxes): dftag's training boxes come from the auto-labeller and hug the manipulated region, so
a face swap's blending boundary lies on or just outside the box; 0.3 keeps it, and some of the surrounding
hair and background, well inside the crop, and leaves room for a detector's box being a little off.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike

DEFAULT_MARGIN = 0.3
DEFAULT_SIZE = 224
MIN_SIDE = 1.0  # pixels: the crop of a degenerate (zero-size) box is at least this wide


@dataclass(frozen=True)
class FaceCrops:
    """``images`` uint8 ``(N, S, S, 3)``; ``boxes`` float64 ``(N, 4)``, each crop's square in frame pixels
    (xyxy); ``transforms`` float64 ``(N, 2, 3)``, frame pixels to crop pixels (see :func:`crop_transforms`)."""

    images: np.ndarray
    boxes: np.ndarray
    transforms: np.ndarray


def _as_boxes(boxes: ArrayLike) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not np.isfinite(boxes).all() or (boxes[:, 2:] < boxes[:, :2]).any():
        raise ValueError("boxes must be finite xyxy with x2 >= x1 and y2 >= y1")
    return boxes


def crop_boxes(boxes: ArrayLike, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """The square crop of each face box ``(N, 4)`` xyxy: same centre, side ``max(w, h) * (1 + 2 * margin)``
    (at least :data:`MIN_SIDE`). Returns float64 ``(N, 4)`` xyxy frame pixels, not clipped to the frame."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    boxes = _as_boxes(boxes)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = np.maximum((boxes[:, 2:] - boxes[:, :2]).max(axis=1) * (1 + 2 * margin), MIN_SIDE)
    half = side[:, None] / 2
    return np.concatenate([centre - half, centre + half], axis=1)


def crop_transforms(squares: ArrayLike, size: int) -> np.ndarray:
    """Affine maps ``(N, 2, 3)`` from frame pixels to the pixels of ``size x size`` crops of ``squares``
    (``(N, 4)`` xyxy, square): ``u = (x - x1) * size / side``, the same for ``y``. Apply with
    :func:`map_points` / :func:`map_boxes`."""
    squares = _as_boxes(squares)
    scale = size / np.maximum(squares[:, 2] - squares[:, 0], MIN_SIDE)
    out = np.zeros((len(squares), 2, 3))
    out[:, 0, 0] = out[:, 1, 1] = scale
    out[:, :, 2] = -squares[:, :2] * scale[:, None]
    return out


def map_points(points: ArrayLike, transforms: ArrayLike) -> np.ndarray:
    """Points ``(N, ..., 2)`` (xy pixels, one group per transform) mapped by ``transforms`` ``(N, 2, 3)``."""
    points = np.asarray(points, dtype=np.float64)
    transforms = np.asarray(transforms, dtype=np.float64)
    linear = transforms[:, :, :2].reshape(len(transforms), *(1,) * (points.ndim - 2), 2, 2)
    shift = transforms[:, :, 2].reshape(len(transforms), *(1,) * (points.ndim - 2), 2)
    return (linear @ points[..., None])[..., 0] + shift


def map_boxes(boxes: ArrayLike, transforms: ArrayLike) -> np.ndarray:
    """Boxes ``(N, ..., 4)`` xyxy mapped by ``transforms`` ``(N, 2, 3)`` by their two corners (exact for the
    scale-and-shift maps of :func:`crop_transforms` and their inverses)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return map_points(boxes.reshape(*boxes.shape[:-1], 2, 2), transforms).reshape(boxes.shape)


def invert(transforms: ArrayLike) -> np.ndarray:
    """The inverse affine maps ``(N, 2, 3)`` (crop pixels back to frame pixels)."""
    transforms = np.asarray(transforms, dtype=np.float64)
    inverse = np.linalg.inv(transforms[:, :, :2])
    return np.concatenate([inverse, -(inverse @ transforms[:, :, 2:])], axis=2)


def crop_faces(image: np.ndarray, boxes: ArrayLike, size: int = DEFAULT_SIZE,
               margin: float = DEFAULT_MARGIN) -> FaceCrops:
    """Cut a ``size x size`` crop of ``image`` (uint8 RGB ``(H, W, 3)``) around each face box ``(N, 4)`` xyxy.

    One bilinear ``cv2.warpAffine`` per face; pixels of a crop that fall outside the frame are black. A crop whose
    square is integer-aligned with a side of ``size`` pixels is an exact copy of those frame pixels.
    """
    squares = crop_boxes(boxes, margin)
    transforms = crop_transforms(squares, size)
    # cv2 addresses pixel centres at integer coordinates: shift by half a pixel on both sides of the map
    half = np.array([0.5, 0.5])
    images = np.empty((len(squares), size, size, 3), dtype=np.uint8)
    for i, forward in enumerate(transforms):
        matrix = forward.copy()
        matrix[:, 2] += forward[:, :2] @ half - half
        images[i] = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return FaceCrops(images, squares, transforms)
