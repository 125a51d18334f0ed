"""Training data of the crop classifier: balanced, paired (real, fake) face crops from one dataset split.

A training example is a **pair unit**: one real face and one fake face seen in the same batch, so the
classifier cannot separate them by identity, background or camera, only by what the manipulation changed:

* a *dataset pair*: a fake face and the same face in its own original (the image of the fake's
  ``original`` video at the same ``frame_index``), both cropped with the **original's** box (DFDC winner;
  GenD), so the crop of the fake does not frame the swapped region differently from the real one;
* a *self-blended pair*: a real face and its self-blended copy (:mod:`dftag.training.self_blend`, SBI).

:data:`FAKE_SOURCES` selects what makes the fakes: ``"pairs"`` (dataset fakes only; a fake whose original is not
in the split is paired with a real face drawn at random), ``"sbi"`` (self-blended fakes only, from every real
face), ``"both"`` (every dataset fake and every real face's self-blend). Classes are balanced by construction:
every unit yields one real and one fake crop. Both crops of a unit share one random crop jitter, flip and JPEG
quality, so none of these separates the classes.

Crops are cut from the stored frames (full resolution, see README "Dataset format") with
:func:`dftag.detector.face_crop.crop_faces` around the face box plus the classifier's margin. The
augmentation of both crops is one of :data:`CROP_AUGMENTS`: ``"jitter"`` (box jitter, flip and JPEG, above) or
``"dfdc"``, which adds the DFDC winner's colour, grey, noise, blur and affine steps (:func:`dfdc_transform`),
drawn once per unit and applied alike to its two crops. Randomness is a pure function of the unit's seed
(:func:`dftag.training.data.sample_seed`), so epochs replay exactly on resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import torch

from dftag.annotations.dataset import FAKE, REAL, Dataset
from dftag.core.boxes import box_iou, xywh_to_xyxy
from dftag.core.io import read_image
from dftag.detector.classifier import ClassifierSpec
from dftag.detector.face_crop import FaceCrops, crop_faces, map_boxes
from dftag.training.augment import reseed
from dftag.training.self_blend import SelfBlendConfig, random_jpeg, self_blend_crop

FAKE_SOURCES = ("both", "pairs", "sbi")
CROP_AUGMENTS = ("jitter", "dfdc")
PAIR_IOU = 0.3  # a fake face and an original face overlapping at least this much are the same face


@dataclass(frozen=True)
class Face:
    """One face of a split: the image (index into ``dataset.images``), its box (xyxy pixels of that image)
    and its label (1 real, 2 fake)."""

    image: int
    box: tuple[float, float, float, float]
    label: int


@dataclass(frozen=True)
class Unit:
    """One real and one fake crop. ``fake is None`` makes the fake a self-blend of ``real``; a dataset pair
    crops both with ``real.box`` (the original's)."""

    real: Face
    fake: Face | None


@dataclass(frozen=True)
class CropJitter:
    """Random changes shared by both crops of a unit: box scale and shift (fractions of the box side) and a
    horizontal flip; JPEG compression of both at one quality follows :class:`SelfBlendConfig`."""

    scale: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.05
    flip: float = 0.5


def dfdc_transform() -> A.Compose:
    """The DFDC winner's crop augmentations beyond flip and JPEG (selimsef/dfdc_deepfake_challenge,
    ``create_train_transforms``), on uint8 RGB crops: one of brightness and contrast (+-20 %), FancyPCA or a
    hue / saturation / value shift (p 0.7); grey (p 0.2); Gaussian noise of standard deviation 3-7 grey levels
    (p 0.1; its variance 10-50 in albumentations 1.x); a 3 x 3 Gaussian blur (p 0.05); a shift of up to 10 % of
    the side, a scale of 0.8-1.2 and a rotation within +-10 degrees, black outside (p 0.5). The ``fake`` target
    gets the same draws as ``image``, so the two crops of a unit change alike."""
    return A.Compose([
        A.OneOf([A.RandomBrightnessContrast(), A.FancyPCA(), A.HueSaturationValue()], p=0.7),
        A.ToGray(p=0.2),
        A.GaussNoise(std_range=(3 / 255, 7 / 255), p=0.1),
        A.GaussianBlur(blur_limit=(3, 3), p=0.05),
        A.Affine(translate_percent=(-0.1, 0.1), scale=(0.8, 1.2), rotate=(-10, 10),
                 border_mode=cv2.BORDER_CONSTANT, fill=0, p=0.5),
    ], additional_targets={"fake": "image"})


def split_faces(dataset: Dataset) -> list[Face]:
    """Every non-crowd face box of ``dataset`` with a positive area, in image order."""
    faces = []
    by_image = dataset.annotations_by_image()
    for index, img in enumerate(dataset.images):
        for ann in by_image[img["id"]]:
            if ann.get("iscrowd") or ann["bbox"][2] <= 0 or ann["bbox"][3] <= 0:
                continue
            faces.append(Face(index, tuple(float(v) for v in xywh_to_xyxy(ann["bbox"])), int(ann["category_id"])))
    return faces


def original_faces(dataset: Dataset, faces: Sequence[Face]) -> dict[int, Face]:
    """For each fake face (by position in ``faces``), the same face in its original: a real face of the
    image whose ``video`` is the fake image's ``original`` at the same ``frame_index``, overlapping the fake's
    box by at least :data:`PAIR_IOU` (the best one)."""
    images = dataset.images
    frame_of: dict[tuple[str, int], int | None] = {}
    for i, img in enumerate(images):
        if img.get("video") is None or img.get("frame_index") is None:
            continue
        frame_of[(img["video"], img["frame_index"])] = i
        by_name = (Path(img["video"]).name, img["frame_index"])  # DFDC metadata names originals by file name
        frame_of[by_name] = i if frame_of.get(by_name, i) == i else None  # None: ambiguous
    reals_by_image: dict[int, list[Face]] = {}
    for face in faces:
        if face.label == REAL:
            reals_by_image.setdefault(face.image, []).append(face)
    out = {}
    for position, face in enumerate(faces):
        img = images[face.image]
        if face.label != FAKE or img.get("original") is None:
            continue
        key = (img["original"], img.get("frame_index"))
        index = frame_of[key] if key in frame_of else frame_of.get((Path(img["original"]).name, key[1]))
        candidates = reals_by_image.get(index, [])
        if not candidates:
            continue
        iou = box_iou(np.array([face.box]), np.array([c.box for c in candidates]))[0]
        if iou.max() >= PAIR_IOU:
            out[position] = candidates[int(iou.argmax())]
    return out


def build_units(dataset: Dataset, fake_source: str, rng: np.random.Generator) -> list[Unit]:
    """The pair units of one epoch's worth of ``dataset`` for ``fake_source`` (see the module docstring);
    ``rng`` draws the random real partner of a fake without an original."""
    if fake_source not in FAKE_SOURCES:
        raise ValueError(f"fake_source must be one of {FAKE_SOURCES}, got {fake_source!r}")
    faces = split_faces(dataset)
    reals = [f for f in faces if f.label == REAL]
    units: list[Unit] = []
    if fake_source in ("pairs", "both"):
        originals = original_faces(dataset, faces)
        for position, face in enumerate(faces):
            if face.label != FAKE:
                continue
            if position in originals:
                # the fake is cropped with its original's box
                original = originals[position]
                units.append(Unit(original, Face(face.image, original.box, FAKE)))
            elif reals:
                units.append(Unit(reals[int(rng.integers(len(reals)))], face))
    if fake_source in ("sbi", "both"):
        units.extend(Unit(real, None) for real in reals)
    return units


def _jittered_box(box: Sequence[float], jitter: CropJitter, rng: np.random.Generator) -> np.ndarray:
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2 + rng.uniform(-1, 1) * jitter.shift * side, (y1 + y2) / 2 + rng.uniform(-1, 1) * \
        jitter.shift * side
    half_w, half_h = (x2 - x1) / 2 * rng.uniform(*jitter.scale), (y2 - y1) / 2 * rng.uniform(*jitter.scale)
    return np.array([[cx - half_w, cy - half_h, cx + half_w, cy + half_h]], dtype=np.float32)


class CropDataset(torch.utils.data.Dataset):
    """Pair units as ``(uint8 crops (2, S, S, 3), labels (2,) float32: 0 real, 1 fake)``.

    A key is ``(unit index, seed)``; seed ``None`` means no jitter and no augmentation (validation), in which
    case only dataset pairs and unpaired fakes make sense (a self-blend needs randomness; it is drawn from the
    unit index). ``augment`` is one of :data:`CROP_AUGMENTS`.
    """

    def __init__(self, dataset: Dataset, units: Sequence[Unit], spec: ClassifierSpec,
                 jitter: CropJitter = CropJitter(), blend: SelfBlendConfig = SelfBlendConfig(),
                 augment: str = CROP_AUGMENTS[0]):
        if augment not in CROP_AUGMENTS:
            raise ValueError(f"augment must be one of {CROP_AUGMENTS}, got {augment!r}")
        self.dataset, self.units, self.spec, self.jitter, self.blend = dataset, list(units), spec, jitter, blend
        self.augment = augment
        self.transform = dfdc_transform() if augment == "dfdc" else None

    def __len__(self) -> int:
        return len(self.units)

    def _crop(self, face: Face, box: np.ndarray) -> FaceCrops:
        image = read_image(self.dataset.image_path(self.dataset.images[face.image]))
        return crop_faces(image, box, self.spec.crop_size, self.spec.margin)

    def _box(self, face: Face, rng: np.random.Generator, jitter: bool) -> np.ndarray:
        return _jittered_box(face.box, self.jitter, rng) if jitter else np.array([face.box], dtype=np.float64)

    def __getitem__(self, key: tuple[int, int | None]) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = key
        unit = self.units[index]
        rng = np.random.default_rng(index if seed is None else seed)
        box = self._box(unit.real, rng, seed is not None)
        real = self._crop(unit.real, box)
        if unit.fake is None:
            face_in_crop = map_boxes(np.array([unit.real.box]), real.transforms)[0]
            blended = self_blend_crop(real.images[0], face_in_crop, rng, self.blend)
            if blended is None:  # no face-shaped mask fits (a face of a few pixels): blend the whole crop
                side = self.spec.crop_size
                blended = self_blend_crop(real.images[0], np.array([0.0, 0.0, side, side]), rng, self.blend)
            crops = [blended.real, blended.fake]
        else:
            same_box = unit.fake.box == unit.real.box  # a dataset pair: both cut with the original's box
            fake = self._crop(unit.fake, box if same_box else self._box(unit.fake, rng, seed is not None))
            crops = [real.images[0], fake.images[0]]
        if seed is not None:
            if rng.random() < self.jitter.flip:
                crops = [c[:, ::-1] for c in crops]
            if self.transform is not None:
                reseed(self.transform, int(rng.integers(2**31)))
                out = self.transform(image=np.ascontiguousarray(crops[0]), fake=np.ascontiguousarray(crops[1]))
                crops = [out["image"], out["fake"]]
            crops = random_jpeg(crops, rng, self.blend)
        return torch.from_numpy(np.ascontiguousarray(np.stack(crops))), torch.tensor([0.0, 1.0])


def collate_units(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate units into crops ``(2B, S, S, 3)`` and labels ``(2B,)``: each unit's real and fake together."""
    crops, labels = zip(*batch)
    return torch.cat(crops), torch.cat(labels)


class ValidationCrops(torch.utils.data.Dataset):
    """Every face of a split cropped with its own box, no jitter: ``(uint8 crop (S, S, 3), label 0 real / 1 fake)``
    (validation, as the two-stage detector will see the faces the first stage finds)."""

    def __init__(self, dataset: Dataset, spec: ClassifierSpec):
        self.dataset, self.spec, self.faces = dataset, spec, split_faces(dataset)

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        face = self.faces[index]
        image = read_image(self.dataset.image_path(self.dataset.images[face.image]))
        crop = crop_faces(image, np.array([face.box]), self.spec.crop_size, self.spec.margin).images[0]
        return torch.from_numpy(np.ascontiguousarray(crop)), torch.tensor(float(face.label == FAKE))
