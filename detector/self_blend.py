"""Self-blended fakes: turn a real face into a training fake by blending the face with a jittered copy of itself.

After Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images" (CVPR 2022): a copy of the face
is colour-, scale- and shift-jittered and blended back into the original through a soft mask, which leaves
the generic traces of face swapping (a blending boundary, colour and geometry mismatch) without any
particular generator's fingerprint. The paper's mask comes from facial landmarks; here, with only a box, it
is a blurred ellipse inside the box. Everything happens inside the (integer-rounded) box: pixels outside it
are never changed. Boxes are absolute pixel ``xyxy``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dftag.annotations.dataset import FAKE, REAL


@dataclass(frozen=True)
class SelfBlendConfig:
    """Jitter ranges of the blended copy and of the mask; sizes are fractions of the box's width / height."""

    colour_shift: float = 20.0  # per-channel additive shift, 0..255 units
    contrast: tuple[float, float] = (0.9, 1.1)  # multiplicative, around the face's mean
    scale: tuple[float, float] = (0.95, 1.05)
    shift: float = 0.03
    mask_axes: tuple[float, float] = (0.55, 0.8)  # ellipse semi-axes / half box size
    mask_blur: tuple[float, float] = (0.02, 0.05)  # Gaussian sigma / shorter box side
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # peak mask opacity, drawn uniformly
    min_size: int = 8  # pixels: smaller boxes are left alone


def elliptical_mask(height: int, width: int, rng: np.random.Generator, config: SelfBlendConfig) -> np.ndarray:
    """A ``(height, width)`` float32 mask in 0..1: an ellipse centred in the box, blurred by a Gaussian kernel
    truncated to the margin between ellipse and box (so the mask is exactly 0 on the box's border), times a
    blend ratio."""
    ax = rng.uniform(*config.mask_axes) * width / 2
    ay = rng.uniform(*config.mask_axes) * height / 2
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    inside = (((xx + 0.5 - width / 2) / ax) ** 2 + ((yy + 0.5 - height / 2) / ay) ** 2 <= 1.0).astype(np.float32)
    half = max(0, int(min(width / 2 - ax, height / 2 - ay)) - 1)  # kernel radius that stays inside the box
    sigma = min(rng.uniform(*config.mask_blur) * min(height, width), half / 3)
    mask = cv2.GaussianBlur(inside, (2 * half + 1, 2 * half + 1), sigmaX=sigma) if sigma > 0 else inside
    return mask * float(rng.choice(config.blend_ratios))


def jittered_copy(face: np.ndarray, rng: np.random.Generator, config: SelfBlendConfig) -> np.ndarray:
    """``face`` (uint8 RGB crop) with a random colour shift and contrast, scaled and shifted about its centre."""
    height, width = face.shape[:2]
    out = face.astype(np.float32)
    mean = out.mean(axis=(0, 1), keepdims=True)
    out = (out - mean) * rng.uniform(*config.contrast) + mean
    out += rng.uniform(-config.colour_shift, config.colour_shift, size=3).astype(np.float32)
    scale = rng.uniform(*config.scale)
    dx, dy = rng.uniform(-config.shift, config.shift, size=2) * (width, height)
    warp = cv2.getRotationMatrix2D((width / 2, height / 2), 0.0, scale)
    warp[:, 2] += (dx, dy)
    out = cv2.warpAffine(out, warp, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(out, 0, 255)


def blend_face(image: np.ndarray, box: np.ndarray, rng: np.random.Generator,
               config: SelfBlendConfig = SelfBlendConfig()) -> bool:
    """Blend a jittered copy of the face in ``box`` (xyxy pixels) back into ``image``, in place.

    Returns ``False`` (and leaves ``image`` alone) when the box, clipped to the image, is under
    ``config.min_size`` pixels on a side.
    """
    height, width = image.shape[:2]
    x1, y1 = int(np.clip(np.ceil(box[0]), 0, width)), int(np.clip(np.ceil(box[1]), 0, height))
    x2, y2 = int(np.clip(np.floor(box[2]), 0, width)), int(np.clip(np.floor(box[3]), 0, height))
    if min(x2 - x1, y2 - y1) < config.min_size:
        return False
    face = image[y1:y2, x1:x2]
    mask = elliptical_mask(y2 - y1, x2 - x1, rng, config)[..., None]
    blended = mask * jittered_copy(face, rng, config) + (1 - mask) * face.astype(np.float32)
    image[y1:y2, x1:x2] = np.round(blended).astype(np.uint8)
    return True


def self_blend(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, probability: float,
               rng: np.random.Generator, config: SelfBlendConfig = SelfBlendConfig()
               ) -> tuple[np.ndarray, np.ndarray]:
    """With ``probability`` per real face, blend it with itself and relabel it fake.

    Returns ``(image, labels)``: new arrays when something changed, the inputs otherwise (never modified).
    """
    chosen = [i for i in np.flatnonzero(labels == REAL) if rng.random() < probability]
    if not chosen:
        return image, labels
    image, labels = image.copy(), labels.copy()
    for i in chosen:
        if blend_face(image, boxes[i], rng, config):
            labels[i] = FAKE
    return image, labels
