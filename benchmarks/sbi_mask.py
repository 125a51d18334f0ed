"""Benchmark: self-blend mask candidates against the real blending regions of FaceForensics++ face swaps.

For 10 Deepfakes/FaceSwap fake/original pairs of ``DATA/pairs.csv`` (c23 and c40) x 5 frames (longer side 640 px),
the real manipulated region is the largest connected region of the blurred, thresholded ``|fake - original|``
(global colour shift removed, opened, closed, holes filled). Each candidate mask of
:mod:`dftag.training.self_blend` (and a few others) is made from the original frame and a face box, and scored
by IoU with that region. Two numbers per candidate: ``hard`` (the face-shaped mask itself) and ``blended`` (the
region where SBI's processed blend mask, :func:`random_warp` and :func:`soft_mask`, is at least 0.5 before the
blend ratio; mean of 3 draws, clipped as on a face crop). Boxes: ``autolabel`` (dftag's auto-label box of the
pair: :func:`dftag.annotations.pair_diff.change_regions`) and, when the MTCNN weights are there (``dftag weights
fetch``), ``mtcnn`` (:class:`dftag.detector.mtcnn.FaceLandmarker`'s box of the face in the original frame), whose
five landmarks also score the landmark hulls. Single-threaded, about 1.5 minutes on this project's CPU.

``--fit`` instead fits :class:`FaceShape` per box kind (Nelder-Mead on mean IoU) on the other 12 FF++ c40
Deepfakes/FaceSwap pairs, whose target videos are not among the measured ones. Usage::

    python benchmarks/sbi_mask.py --data ../shared/realdata [--fit]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy.optimize import minimize

from dftag.annotations.pair_diff import DiffParams, change_regions, difference_map
from dftag.annotations.pair_list import Pair, read_pairs
from dftag.annotations.video import read_frames
from dftag.core.errors import DftagError
from dftag.detector.mtcnn import FaceLandmarker
from dftag.training.self_blend import (
    DETECTOR_BOX_SHAPE,
    HULL_TYPES,
    MEAN_FACE_68,
    FaceShape,
    SelfBlendConfig,
    face_landmarks68,
    hull_mask,
    random_warp,
    shape_mask,
    soft_mask,
)

FRAMES = (15, 75, 135, 195, 255)
MAX_SIDE = 640
METHODS = ("FF++ Deepfakes", "FF++ FaceSwap")
MEASURED = ("519_515", "634_660")  # the c23 pairs, plus the c40 pairs of these target videos:
MEASURED_TARGETS = ("183", "469", "585", "672")
CONFIG = SelfBlendConfig()
Box = np.ndarray  # (4,) xyxy frame pixels


@dataclass
class Sample:
    """One frame pair: the original frame, the real region (bool), and its face boxes and landmarks."""

    name: str
    image: np.ndarray
    region: np.ndarray
    boxes: dict[str, Box]
    landmarks: np.ndarray | None  # (5, 2) MTCNN points, with the mtcnn box


def measured(pair: Pair) -> bool:
    stem = pair.fake.stem
    return stem in MEASURED or stem.split("_")[0] in MEASURED_TARGETS


def real_region(fake: np.ndarray, original: np.ndarray) -> np.ndarray | None:
    """The largest changed region of a frame pair, holes filled (bool, frame size), or ``None``."""
    change, noise = difference_map(fake, original, DiffParams(work_side=max(fake.shape[:2]), blur_frac=0.004))
    changed = (change > max(8.0, 5 * noise)).astype(np.uint8)
    side = max(changed.shape)
    for op, frac in ((cv2.MORPH_OPEN, 0.005), (cv2.MORPH_CLOSE, 0.02)):
        k = max(1, round(frac * side)) | 1
        changed = cv2.morphologyEx(changed, op, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
    if count < 2:
        return None
    largest = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    contours, _ = cv2.findContours(largest, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(largest)
    cv2.drawContours(filled, contours, -1, 1, cv2.FILLED)
    return filled.astype(bool)


def overlap(box: np.ndarray, region_box: np.ndarray) -> float:
    w = min(box[2], region_box[2]) - max(box[0], region_box[0])
    h = min(box[3], region_box[3]) - max(box[1], region_box[1])
    return max(w, 0) * max(h, 0)


def load_samples(pairs: Sequence[Pair], mtcnn: FaceLandmarker | None) -> list[Sample]:
    samples = []
    for pair in pairs:
        fakes = [f.image for f in read_frames(pair.fake.path, FRAMES, max_side=MAX_SIDE)]
        originals = [f.image for f in read_frames(pair.original.path, FRAMES, max_side=MAX_SIDE)]
        for fake, original in zip(fakes, originals):
            region = real_region(fake, original)
            autolabel = change_regions(fake, original)
            if region is None or not autolabel:
                continue
            ys, xs = np.nonzero(region)
            region_box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
            boxes = {"autolabel": max((np.array(b) for b in autolabel), key=lambda b: overlap(b, region_box))}
            landmarks = None
            if mtcnn is not None:
                found, _, points = mtcnn.detect(original)
                if len(found):
                    best = max(range(len(found)), key=lambda i: overlap(found[i], region_box))
                    if overlap(found[best], region_box) > 0:
                        boxes["mtcnn"], landmarks = found[best].astype(np.float64), points[best].astype(np.float64)
            samples.append(Sample(pair.fake.given, original, region, boxes, landmarks))
    return samples


def box_mask(shape: tuple[int, int], box: Box) -> np.ndarray:
    """The box itself (pixels whose centre is inside)."""
    ys, xs = np.arange(shape[0]) + 0.5, np.arange(shape[1]) + 0.5
    return np.outer((ys > box[1]) & (ys < box[3]), (xs > box[0]) & (xs < box[2])).astype(np.float32)


def ellipse(shape: tuple[int, int], box: Box, axes: float) -> np.ndarray:
    return shape_mask(*shape, box, FaceShape(half_width=axes, half_height=axes, exponent=2.0, taper=0.0))


def hull_of_largest(foreground: np.ndarray, shape: tuple[int, int], offset: tuple[int, int]) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground.astype(np.uint8), connectivity=8)
    mask = np.zeros(shape, np.uint8)
    if count > 1:
        ys, xs = np.nonzero(labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])))
        cv2.fillConvexPoly(mask, cv2.convexHull(np.stack([xs + offset[0], ys + offset[1]], 1).astype(np.int32)), 1)
    return mask.astype(np.float32)


def clipped(box: Box, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    return x1, y1, min(shape[1], int(np.ceil(box[2]))), min(shape[0], int(np.ceil(box[3])))


def skin_hull(image: np.ndarray, box: Box) -> np.ndarray:
    """Pixels of the box within 3 sigma (Mahalanobis, CrCb) of the colour of its central part: hull of the
    largest connected region."""
    x1, y1, x2, y2 = clipped(box, image.shape)
    crcb = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_RGB2YCrCb)[..., 1:].astype(np.float64)
    h, w = crcb.shape[:2]
    centre = crcb[int(0.35 * h):int(0.65 * h) + 1, int(0.3 * w):int(0.7 * w) + 1].reshape(-1, 2)
    inverse = np.linalg.inv(np.cov(centre.T) + np.eye(2))
    d = crcb - centre.mean(0)
    skin = np.einsum("...i,ij,...j->...", d, inverse, d) < 9.0
    skin = cv2.morphologyEx(skin.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return hull_of_largest(skin, image.shape[:2], (x1, y1))


def grabcut_hull(image: np.ndarray, box: Box, side: int = 96) -> np.ndarray:
    """GrabCut initialised with the box inside its 30 % larger surroundings (at ``side`` px): hull of the
    largest foreground region."""
    grow = 0.3 * (box[2:] - box[:2])
    x1, y1, x2, y2 = clipped(np.concatenate([box[:2] - grow, box[2:] + grow]), image.shape)
    scale = side / max(x2 - x1, y2 - y1)
    small = cv2.resize(image[y1:y2, x1:x2], (max(1, round((x2 - x1) * scale)), max(1, round((y2 - y1) * scale))),
                       interpolation=cv2.INTER_AREA)
    rect = (int((box[0] - x1) * scale), int((box[1] - y1) * scale),
            max(1, int((box[2] - box[0]) * scale)), max(1, int((box[3] - box[1]) * scale)))
    labels = np.zeros(small.shape[:2], np.uint8)
    cv2.setRNGSeed(0)
    cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), labels, rect, np.zeros((1, 65)), np.zeros((1, 65)), 3,
                cv2.GC_INIT_WITH_RECT)
    foreground = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    foreground = cv2.resize(foreground, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
    return hull_of_largest(foreground, image.shape[:2], (x1, y1))


def template_in_box(shape: tuple[int, int], box: Box) -> np.ndarray:
    """The mean face's convex hull stretched to fill the box."""
    lo, hi = MEAN_FACE_68.min(0), MEAN_FACE_68.max(0)
    return hull_mask(*shape, box[:2] + (MEAN_FACE_68 - lo) / (hi - lo) * (box[2:] - box[:2]), "hull")


Candidate = Callable[[Sample, Box], np.ndarray]


def shape(sample: Sample) -> tuple[int, int]:
    return sample.image.shape[:2]


def candidates(kind: str) -> dict[str, Candidate]:
    """The masks scored with ``kind`` boxes, by name (the old default's shape at its mean axes)."""
    found: dict[str, Candidate] = {
        "box": lambda s, b: box_mask(shape(s), b),
        "ellipse 0.675 (old default)": lambda s, b: ellipse(shape(s), b, 0.675),
        "ellipse inscribed": lambda s, b: ellipse(shape(s), b, 1.0),
        "skin-colour hull": lambda s, b: skin_hull(s.image, b),
        "GrabCut hull": lambda s, b: grabcut_hull(s.image, b),
        "mean-face hull in box": lambda s, b: template_in_box(shape(s), b),
        "FaceShape() (default)": lambda s, b: shape_mask(*shape(s), b, FaceShape()),
        "DETECTOR_BOX_SHAPE": lambda s, b: shape_mask(*shape(s), b, DETECTOR_BOX_SHAPE),
    }
    if kind == "mtcnn":
        for hull in HULL_TYPES:
            found[f"landmarks: {hull}"] = (lambda s, b, h=hull: hull_mask(*shape(s), face_landmarks68(s.landmarks), h))
    return found


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def blended(mask: np.ndarray, box: Box, seed: int, draws: int = 3) -> list[np.ndarray]:
    """The region where SBI's processed blend mask of ``mask`` reaches 0.5, for ``draws`` seeds (computed on
    the box grown by half its size per side, where every processed mask lies)."""
    x1, y1, x2, y2 = clipped(np.concatenate([box[:2] - (box[2:] - box[:2]) / 2, box[2:] + (box[2:] - box[:2]) / 2]),
                             mask.shape)
    local = box - [x1, y1, x1, y1]
    grow = CONFIG.context * (box[2:] - box[:2])
    limit = np.concatenate([local[:2] - grow, local[2:] + grow])
    out = []
    for k in range(draws):
        rng = np.random.default_rng(seed * draws + k)
        canvas = mask[y1:y2, x1:x2]
        _, warped = random_warp(np.zeros((*canvas.shape, 3), np.float32), canvas, local, rng, CONFIG)
        full = np.zeros(mask.shape, bool)
        full[y1:y2, x1:x2] = soft_mask(warped, local, rng, CONFIG, limit) >= 0.5
        out.append(full)
    return out


def scores(samples: Sequence[Sample], kind: str, make: Candidate) -> tuple[float, float]:
    """Mean hard and blended IoU of candidate ``make`` with ``kind`` boxes."""
    hard, soft = [], []
    for i, s in enumerate(samples):
        box = s.boxes[kind]
        mask = make(s, box)
        hard.append(iou(mask > 0.5, s.region))
        soft.append(np.mean([iou(m, s.region) for m in blended(mask, box, i)]))
    return float(np.mean(hard)), float(np.mean(soft))


def measure(samples: list[Sample]) -> None:
    kinds = [k for k in ("autolabel", "mtcnn") if any(k in s.boxes for s in samples)]
    names = list(candidates(kinds[-1]))
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for kind in kinds:
        use = [s for s in samples if kind in s.boxes]
        for name, make in candidates(kind).items():
            table.setdefault(name, {})[kind] = scores(use, kind, make)
    counts = ", ".join(f"{sum(k in s.boxes for s in samples)} with {k} boxes" for k in kinds)
    print(f"\nmean IoU with the real blending region: {len({s.name for s in samples})} FF++ Deepfakes/FaceSwap "
          f"pairs, {len(samples)} frames ({counts}); hard | blended")
    print(f"{'candidate':30s}" + "".join(f"{kind + ' box':>22s}" for kind in kinds))
    for name in names:
        cells = [table[name].get(kind) for kind in kinds]
        print(f"{name:30s}" + "".join(f"{'-':>22s}" if c is None else f"{c[0]:>14.3f} | {c[1]:.3f}" for c in cells))


def fit(samples: list[Sample]) -> None:
    """Fit :class:`FaceShape` per box kind on ``samples``: first its form to the region (hard IoU, in box
    coordinates, where IoU is the same), then its size to maximise the blended IoU (SBI's erosion shrinks the
    blended region, so the mask must be larger than the region it is to produce)."""
    size, reach = 120, 1.5  # a size x size grid over +-reach half boxes around the box centre
    for kind in ("autolabel", "mtcnn"):
        use = [s for s in samples if kind in s.boxes]
        if not use:
            continue
        regions = []
        for s in use:
            b = s.boxes[kind]
            sx, sy = size / (reach * (b[2] - b[0])), size / (reach * (b[3] - b[1]))
            matrix = np.array([[sx, 0, size / 2 - sx * (b[0] + b[2]) / 2], [0, sy, size / 2 - sy * (b[1] + b[3]) / 2]])
            regions.append(cv2.warpAffine(s.region.astype(np.float32), matrix, (size, size)) > 0.5)
        box = np.array([size / 2 - size / (2 * reach), size / 2 - size / (2 * reach),
                        size / 2 + size / (2 * reach), size / 2 + size / (2 * reach)])

        def loss(p: np.ndarray) -> float:
            m = shape_mask(size, size, box, FaceShape(*p)) > 0.5
            return -float(np.mean([iou(m, r) for r in regions]))

        start = np.array([0.85, 0.85, 3.0, 0.05, 0.05])
        simplex = np.vstack([start, start + np.diag([0.1, 0.1, 0.8, 0.1, 0.15])])
        best = minimize(loss, start, method="Nelder-Mead",
                        options={"initial_simplex": simplex, "maxiter": 800, "xatol": 1e-3, "fatol": 1e-5})
        form = FaceShape(*best.x)
        sized = {scale: scores(use, kind, lambda s, b, k=scale: shape_mask(*s.image.shape[:2], b, form, k))[1]
                 for scale in np.arange(1.0, 1.41, 0.05)}
        scale = max(sized, key=sized.get)
        shape = FaceShape(*(round(float(v), 2) for v in (form.half_width * scale, form.half_height * scale,
                                                        form.exponent, form.centre, form.taper)))
        rounded = FaceShape(*(round(float(v), 3) for v in best.x))
        print(f"{kind} boxes ({len(use)} frames): form {rounded} hard IoU {-best.fun:.3f}; "
              f"x {scale:.2f} for blended IoU {sized[scale]:.3f}: {shape}")


def load_mtcnn() -> FaceLandmarker | None:
    try:
        return FaceLandmarker.load()
    except DftagError as e:
        print(f"MTCNN boxes and landmark hulls are left out ({e}; `dftag weights fetch` gets the weights)")
        return None


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="the realdata folder (pairs.csv)")
    p.add_argument("--fit", action="store_true", help="fit FaceShape on the pairs not measured")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    start = time.time()
    pairs = [q for q in read_pairs(f"{args.data}/pairs.csv") if q.method.startswith(METHODS)]
    pairs = [q for q in pairs if measured(q) != args.fit]
    samples = load_samples(pairs, load_mtcnn())
    (fit if args.fit else measure)(samples)
    print(f"({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
