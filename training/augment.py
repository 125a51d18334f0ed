"""Bounding-box-aware training augmentation for face crops (albumentations).

Boxes go in and come out as absolute pixel ``xyxy`` (albumentations' ``pascal_voc``) with one label per box;
images are ``uint8`` RGB ``(H, W, 3)`` and come out ``(size, size, 3)``, squashed to a square like the SSD
models' own resize at inference. The pipeline, in order (each step has its own probability):

1. SSD zoom-out: paste the image at a random spot of a canvas up to ``zoom_out_max`` times larger, filled
   with the mean colour, so faces are also seen small;
2. random crop that keeps every face whole (:class:`albumentations.BBoxSafeRandomCrop`);
3. resize to the training size, then horizontal flip;
4. one affine warp: rotation within +-``rotate_degrees`` and independent x / y scale;
5. brightness and contrast, box blur up to ``blur_max`` pixels, JPEG re-encoding at ``jpeg_quality``.

Validation uses :func:`build_transform` with ``config=None``: the resize alone.

albumentations seeds every transform of a ``Compose`` with the same number, which makes their random draws
identical (two ``p=0.5`` transforms would always fire together); :func:`reseed` gives each its own stream.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import albumentations as A
import cv2
import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema
from pydantic import Field

from dftag.detector.models import resize_image

# Mean RGB of ImageNet in 0..255, SSD's fill for the zoom-out canvas.
MEAN_RGB = (124, 116, 104)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities (``*_p``, 0..1) and ranges of the training augmentations; all zero probabilities = off."""

    zoom_out_p: float = 0.3
    zoom_out_max: float = 2.0  # largest canvas side / image side
    crop_p: float = 0.5
    crop_erosion: float = 0.0  # fraction of the union of faces the crop may cut (0 = faces kept whole)
    flip_p: float = 0.5
    affine_p: float = 0.5
    rotate_degrees: float = 10.0
    scale_range: tuple[float, float] = (0.9, 1.1)  # drawn independently for x and y
    brightness_contrast_p: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    blur_p: float = 0.2
    blur_max: int = 3  # pixels (odd kernel size)
    jpeg_p: float = 0.5
    jpeg_quality: tuple[int, int] = (65, 100)
    min_visibility: float = 0.3  # boxes keeping less of their area after a warp are dropped

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AugmentConfig:
        """Build from a JSON-style dict (lists for ranges); unknown keys raise ``KeyError`` naming them."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise KeyError(", ".join(unknown))
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


class ZoomOut(A.Pad):
    """SSD's zoom-out ("expand"): pad to a canvas ``ratio`` in [1, ``max_ratio``] times the image on each side,
    with the image at a uniformly random position and the rest filled with ``fill``."""

    class InitSchema(BaseTransformInitSchema):
        max_ratio: float = Field(ge=1.0)
        fill: tuple[float, ...]

    def __init__(self, max_ratio: float = 2.0, fill: tuple[float, ...] = MEAN_RGB, p: float = 0.5):
        super().__init__(padding=0, fill=fill, border_mode=cv2.BORDER_CONSTANT, p=p)
        self.max_ratio = max_ratio

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, int]:
        height, width = params["shape"][:2]
        ratio = self.py_random.uniform(1.0, self.max_ratio)
        extra_x, extra_y = int(width * (ratio - 1)), int(height * (ratio - 1))
        left, top = self.py_random.randint(0, extra_x), self.py_random.randint(0, extra_y)
        return {"pad_left": left, "pad_right": extra_x - left, "pad_top": top, "pad_bottom": extra_y - top}

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("max_ratio", "fill")


class ModelResize(A.Resize):
    """Stretch to the square network input exactly as inference does (:func:`dftag.detector.models.resize_image`)."""

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        return resize_image(img, self.height)


def build_transform(size: int, config: AugmentConfig | None) -> A.Compose:
    """The pipeline to ``size x size`` pixels; ``config=None`` gives the validation pipeline (resize only)."""
    resize = ModelResize(size, size)
    if config is None:
        steps: list[A.BasicTransform] = [resize]
    else:
        c = config
        blur_max = max(3, c.blur_max + 1 - c.blur_max % 2)  # odd kernel, albumentations' minimum is 3
        steps = [
            ZoomOut(max_ratio=c.zoom_out_max, p=c.zoom_out_p),
            A.BBoxSafeRandomCrop(erosion_rate=c.crop_erosion, p=c.crop_p),
            resize,
            A.HorizontalFlip(p=c.flip_p),
            A.Affine(rotate=(-c.rotate_degrees, c.rotate_degrees),
                     scale={"x": c.scale_range, "y": c.scale_range},
                     rotate_method="ellipse", border_mode=cv2.BORDER_CONSTANT, fill=MEAN_RGB, p=c.affine_p),
            A.RandomBrightnessContrast(brightness_limit=c.brightness, contrast_limit=c.contrast,
                                       p=c.brightness_contrast_p),
            A.Blur(blur_limit=(3, blur_max), p=c.blur_p),
            A.ImageCompression(quality_range=c.jpeg_quality, p=c.jpeg_p),
        ]
    min_visibility = config.min_visibility if config else 0.0
    return A.Compose(steps, bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"],
                                                     min_visibility=min_visibility, clip=True))


def reseed(transform: A.Compose, seed: int) -> None:
    """Seed every step of ``transform`` with its own independent stream derived from ``seed``."""
    transform.set_random_seed(seed)
    children = np.random.SeedSequence(seed).spawn(len(transform.transforms))
    for step, child in zip(transform.transforms, children):
        step.set_random_seed(int(child.generate_state(1)[0]))


def apply(transform: A.Compose, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``transform`` on an image with ``(N, 4)`` xyxy pixel boxes and ``(N,)`` labels; boxes that leave
    the image are dropped with their labels. Returns ``(image, boxes float32 (M, 4), labels int64 (M,))``."""
    out = transform(image=image, bboxes=boxes.reshape(-1, 4), labels=labels)
    return (out["image"], np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 4),
            np.asarray(out["labels"], dtype=np.int64).reshape(-1))
