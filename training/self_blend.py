"""Self-blended images (SBI): a real face turned into a training fake by blending it with a changed copy of itself.

After Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images" (CVPR 2022; the reference code is
mapooon/SelfBlendedImages, ``src/utils/sbi.py`` and ``blend.py``). From every real face, on the fly:

1. **A face-shaped mask** (:func:`face_mask`). With landmarks: one of SBI's four landmark hulls (``hull``, the
   convex hull; ``dfl``; ``components``; ``extended``, brows raised towards the forehead), drawn uniformly, over
   the 68-point iBUG layout; five MTCNN points are first mapped onto that layout through a similarity-aligned
   mean face (:func:`face_landmarks68`). Without landmarks: a tapered superellipse in the box
   (:class:`FaceShape`), the best landmark-free mask measured (below), its size jittered by ``shape_scale``.
   An addition of dftag's, off by default (``lower_face``, a probability): the mask cut below a horizontal line
   at 45-60 % of the box height, so the blend covers the mouth and jaw only, as a lip-sync tool changes them
   (Wav2Lip regenerates the face's lower half; HyperLips the mouth region). SBI's whole-face masks teach a
   boundary around the face, which a lip-sync fake does not have.
2. **Source/target differences** (:func:`source_transform`), on the source: an RGB shift (p 0.3), a hue and
   saturation shift, brightness and contrast, then either down-up-sampling by 2 or 4 or a sharpening.
   SBI's HSV limits (+-0.3 on uint8 scales) change at most one grey level; here they are +-3 degrees of hue and
   +-8 % saturation. For a face crop, as in SBI, half of the time the target is transformed instead.
3. **Geometry** (:func:`random_warp`): source and mask translated and scaled together; the mask alone warped
   elastically. Amounts are fractions of the face box (SBI's fractions of its crop, about 2 x 2.4 boxes).
4. **The blend mask** (:func:`soft_mask`), as SBI's ``get_blend_mask``: the mask resized to a random size
   (the box spanning 96-128 px each way, independently), eroded by a random 5-25 px square (SBI: blur, keep the
   maximum), blurred by a random 5-25 px kernel of sigma 5-45, normalised and resized back; then multiplied by
   a ramp that is 0 on the box's border pixels, so a blend never leaves the face box of a frame (on a crop
   it may reach ``context`` past the box); times a blend ratio drawn from {.25, .5, .75, 1, 1, 1}.
   ``fake = mask * source + (1 - mask) * target``.
5. **JPEG** at quality 40-100 with p 0.5 over the whole image (:func:`random_jpeg`), where SBI applies it: after
   blending, to the whole frame or to both images of a crop pair alike, whether or not a face was blended, so
   that compression tells nothing about the label. It is a separate step (``jpeg_probability``; 0 turns it
   off) because it changes every pixel; everything before it leaves the pixels outside the face box (of a crop:
   outside the box grown by ``context``) unchanged.

Entry points: :func:`self_blend` (a whole frame with several boxes, for the single-stage detector's
``--self-blend``; JPEG included), :func:`self_blend_crop` (a face crop, for the classifier: the real/fake pair
and the mask, before JPEG: the caller compresses every training pair alike, self-blended or not, with
:func:`random_jpeg`) and :func:`blend_face` (one face of a frame, in place, no JPEG). All randomness comes from the given
``numpy`` Generator, in a fixed order: the same seed gives the same images.

Coordinates: boxes are absolute pixel ``xyxy`` of the image they are passed with; landmarks are ``(5, 2)`` xy
pixels in MTCNN order (left eye, right eye, nose, left mouth corner, right mouth corner; "left" as seen in the
image) or ``(68, 2)`` in iBUG order, of the same image. Images are uint8 RGB ``(H, W, 3)``.

Masks measured by ``benchmarks/sbi_mask.py`` on 10 FaceForensics++ Deepfakes/FaceSwap fake/original pairs (2 c23,
8 c40) x 5 frames: mean IoU with the real blending region (the largest region of the blurred, thresholded
``|fake - original|``), as ``hard`` (the face-shaped mask) | ``blended`` (where the processed blend mask reaches
0.5: what actually gets blended), given the region's auto-label box (dftag's own training box for such a face)
or the MTCNN box of the original frame::

    candidate                    auto-label box    MTCNN box
    box                          0.660 | 0.717     0.444 | 0.573
    ellipse 0.675 (old default)  0.495 | 0.268     0.628 | 0.391
    ellipse inscribed in box     0.743 | 0.630     0.557 | 0.639
    skin-colour hull             0.692 | 0.679     0.515 | 0.611
    GrabCut hull                 0.104 | 0.094     0.323 | 0.361
    mean-face hull in box        0.727 | 0.702     0.506 | 0.616
    FaceShape() (default)        0.641 | 0.725     0.436 | 0.570
    DETECTOR_BOX_SHAPE           0.739 | 0.578     0.600 | 0.651
    MTCNN landmarks: hull, dfl, components 0.607 | 0.591; extended 0.601 | 0.643

The default is chosen by the blended column: :class:`FaceShape` is the best for auto-label boxes (the box itself
is close, 0.717; the old ellipse the worst), :data:`DETECTOR_BOX_SHAPE` for detector boxes. SBI's erosion shrinks
every mask, so both shapes are larger than the regions they produce (fitted on 12 other FF++ pairs). With five
points the mapped mean face is convex, so ``hull``, ``dfl`` and ``components`` give the same mask; with 68
detected landmarks they differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from dftag.annotations.dataset import FAKE, REAL

HULL_TYPES = ("hull", "dfl", "components", "extended")


def _mean_face() -> np.ndarray:
    """A mean face in the 68-point iBUG layout, built from average facial proportions: ``(68, 2)`` in units of
    the distance between the eye centres, origin midway between them, x to the image's right, y down."""
    angle = np.linspace(0.0, np.pi, 17)  # jaw 0-16: ear (image left) over the chin to ear, a superellipse arc
    c, s = np.cos(angle), np.sin(angle)
    jaw = np.stack([-1.02 * np.sign(c) * np.abs(c) ** 0.8, 0.15 + 1.7 * np.abs(s) ** 0.8], axis=1)
    brow_x = np.linspace(-0.95, -0.12, 5)  # 17-21 image-left brow, outer to inner; 22-26 mirrored
    brow_y = -(0.28 + 0.12 * np.sin(np.pi * (brow_x + 0.95) / 0.83))
    brows = np.concatenate([np.stack([brow_x, brow_y], 1), np.stack([-brow_x[::-1], brow_y[::-1]], 1)])
    nose = [[0, -0.05], [0, 0.16], [0, 0.37], [0, 0.57],  # 27-30 bridge to tip
            [-0.22, 0.70], [-0.11, 0.73], [0, 0.75], [0.11, 0.73], [0.22, 0.70]]  # 31-35 nostrils
    eye = np.array([[-0.22, 0], [-0.08, -0.07], [0.08, -0.07], [0.22, 0], [0.08, 0.06], [-0.08, 0.06]])
    eyes = np.concatenate([eye + [-0.5, 0], eye + [0.5, 0]])  # 36-41, 42-47: corner, upper lid, corner, lower
    mouth = [[-0.41, 1.16], [-0.25, 1.07], [-0.1, 1.03], [0, 1.05], [0.1, 1.03], [0.25, 1.07],  # 48-53 upper
             [0.41, 1.16], [0.26, 1.27], [0.12, 1.32], [0, 1.33], [-0.12, 1.32], [-0.26, 1.27],  # 54-59 lower
             [-0.33, 1.16], [-0.12, 1.13], [0, 1.13], [0.12, 1.13], [0.33, 1.16],  # 60-64 inner, upper
             [0.12, 1.19], [0, 1.2], [-0.12, 1.19]]  # 65-67 inner, lower
    return np.concatenate([jaw, brows, nose, eyes, mouth]).astype(np.float64)


MEAN_FACE_68 = _mean_face()


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """The MTCNN five points of a 68-point face: eye centres, nose tip, mouth corners, ``(5, 2)``."""
    return np.stack([landmarks68[36:42].mean(0), landmarks68[42:48].mean(0), landmarks68[30],
                     landmarks68[48], landmarks68[54]])


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The least-squares similarity (rotation, uniform scale, shift; Umeyama) taking ``src`` to ``dst``
    (``(K, 2)`` each), as a ``(2, 3)`` matrix."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    a, b = src - src_mean, dst - dst_mean
    u, sv, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])
    rotation = u @ d @ vt
    scale = np.trace(np.diag(sv) @ d) / a.var(0).sum()
    return np.concatenate([scale * rotation, (dst_mean - scale * rotation @ src_mean)[:, None]], axis=1)


def face_landmarks68(points5: np.ndarray) -> np.ndarray:
    """68 iBUG points ``(68, 2)`` for a face given its five MTCNN points ``(5, 2)`` (xy pixels): the mean face
    :data:`MEAN_FACE_68` moved onto them by the least-squares similarity of the five."""
    matrix = _similarity(five_points(MEAN_FACE_68), np.asarray(points5, dtype=np.float64))
    return MEAN_FACE_68 @ matrix[:, :2].T + matrix[:, 2]


def _raised_brows(p: np.ndarray) -> np.ndarray:
    """``p`` with each brow moved up by half its height above the eye below it (the ``extended`` hull)."""
    p = p.copy()
    left_mid, right_mid = (p[36] + p[0]) / 2, (p[16] + p[45]) / 2
    under_left = np.stack([(p[36] + left_mid) / 2, p[36], p[37], p[38], p[39]])
    under_right = np.stack([p[42], p[43], p[44], p[45], (p[45] + right_mid) / 2])
    p[17:22] += (p[17:22] - under_left) / 2
    p[22:27] += (p[22:27] - under_right) / 2
    return p


# Each hull type is a union of convex hulls of these point groups (index ranges of the 68-point layout).
_COMPONENTS = [[(0, 9), (17, 18)], [(8, 17), (26, 27)], [(17, 20), (8, 9)], [(24, 27), (8, 9)],
               [(19, 25), (8, 9)], [(17, 22), (27, 28), (31, 36), (8, 9)],
               [(22, 27), (27, 28), (31, 36), (8, 9)], [(27, 31), (31, 36)]]
_HULL_PARTS = {
    "hull": [[(0, 68)]],
    "dfl": [[(0, 17), (48, 68)], [(27, 31), (33, 34)], [(17, 27), (0, 1), (27, 28), (16, 17), (33, 34)]],
    "components": _COMPONENTS,
    "extended": _COMPONENTS,
}


def hull_mask(height: int, width: int, landmarks68: np.ndarray, kind: str = "hull") -> np.ndarray:
    """The ``kind`` hull (one of :data:`HULL_TYPES`) of 68 landmarks (xy pixels), float32 ``(height, width)``
    0/1 (a pixel is in when its centre is)."""
    points = _raised_brows(landmarks68) if kind == "extended" else np.asarray(landmarks68, dtype=np.float64)
    fixed = np.round((points - 0.5) * 16).astype(np.int32)  # cv2: pixel centres at integers, 4 fraction bits
    mask = np.zeros((height, width), np.uint8)
    for part in _HULL_PARTS[kind]:
        group = np.concatenate([fixed[a:b] for a, b in part])
        cv2.fillConvexPoly(mask, cv2.convexHull(group), 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(np.float32)


@dataclass(frozen=True)
class FaceShape:
    """The landmark-free face mask: a tapered superellipse in box coordinates ``u, v`` (-1 and 1 at the box's
    edges, ``v`` down): ``|u / (a (1 - t y))|^n + |y|^n <= 1`` with ``y = (v - c) / b``.

    ``a`` = ``half_width``, ``b`` = ``half_height`` (fractions of the half box), ``n`` = ``exponent`` (2: an
    ellipse; larger: squarer), ``c`` = ``centre`` (downward shift, fraction of the half box height), ``t`` =
    ``taper`` (> 0: wider at the brows than at the chin). The defaults fit dftag's auto-label boxes (a box of
    the changed region of a face swap); :data:`DETECTOR_BOX_SHAPE` fits face-detector boxes (MTCNN's, forehead
    to chin). Both were fitted by ``benchmarks/sbi_mask.py --fit`` on FaceForensics++ pairs kept out of its
    measurement, so that the blended region (after :func:`soft_mask`'s erosion) matches the real one; the hard
    shape is therefore a little larger than the box. A blend on a frame is still cut at the box.
    """

    half_width: float = 1.02
    half_height: float = 1.1
    exponent: float = 3.5
    centre: float = 0.0
    taper: float = 0.21


DETECTOR_BOX_SHAPE = FaceShape(half_width=0.92, half_height=0.85, exponent=3.4, centre=0.09, taper=0.27)


def shape_mask(height: int, width: int, box: np.ndarray, shape: FaceShape = FaceShape(),
               scale: float = 1.0) -> np.ndarray:
    """``shape`` (its half axes times ``scale``) in ``box`` (xyxy pixels), float32 ``(height, width)`` 0/1 by
    pixel centre."""
    x1, y1, x2, y2 = (float(v) for v in box)
    u = (np.arange(width) + 0.5 - (x1 + x2) / 2) / max((x2 - x1) / 2, 1e-6)
    v = (np.arange(height) + 0.5 - (y1 + y2) / 2) / max((y2 - y1) / 2, 1e-6)
    y = (v[:, None] - shape.centre) / (shape.half_height * scale)
    half = np.maximum(shape.half_width * scale * (1 - shape.taper * y), 1e-6)
    return ((np.abs(u[None, :] / half) ** shape.exponent + np.abs(y) ** shape.exponent) <= 1).astype(np.float32)


@dataclass(frozen=True)
class SelfBlendConfig:
    """Every range of the SBI transform. Sizes named "of the box" are fractions of the face box's width (x) and
    height (y); colour amounts are on the 0-255 scale unless stated; ``(lo, hi)`` ranges are drawn uniformly."""

    face_shape: FaceShape = field(default_factory=FaceShape)  # landmark-free mask
    shape_scale: tuple[float, float] = (0.9, 1.1)  # its size, drawn per face
    hull_types: tuple[str, ...] = HULL_TYPES  # with landmarks: the hull, drawn uniformly
    lower_face: float = 0.0  # probability that the mask keeps only the part below a cut (the lower face)
    lower_face_cut: tuple[float, float] = (0.45, 0.6)  # the cut's height: fraction of the box from its top
    context: float = 0.25  # a face of a frame is transformed inside its box grown by this (of the box) per side
    rgb_shift: float = 20.0  # per channel, with probability rgb_shift_p
    rgb_shift_p: float = 0.3
    hue_shift: float = 3.0  # degrees
    saturation_shift: float = 0.08  # relative
    brightness: float = 0.1  # +- this times 255
    contrast: float = 0.1  # gain 1 +- this
    downscale: tuple[int, ...] = (2, 4)  # down-up-sampling factors (else sharpening, each half of the time)
    sharpen_alpha: tuple[float, float] = (0.2, 0.5)
    sharpen_lightness: tuple[float, float] = (0.5, 1.0)
    translate: tuple[float, float] = (0.06, 0.036)  # +- of the box, x and y
    scale: tuple[float, float] = (0.95, 1 / 0.95)  # about the box centre
    elastic_sigma: float = 0.035  # smoothness of the mask's elastic warp, of the box's longer side
    elastic_std: float = 0.006  # its displacement, of the box's longer side
    mask_size: tuple[int, int] = (192, 256)  # px, per axis: the blend mask is processed with the box spanning half
    blur_kernel: tuple[int, int] = (5, 25)  # px, odd sizes: the erosion square and the blur kernel, each drawn
    blur_sigma: tuple[int, int] = (5, 45)  # px, whole numbers, of the second blur
    edge_feather: float = 0.05  # of the box: the blend fades to 0 over this much inside the box's border
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # peak mask opacity, drawn uniformly
    target_transform_p: float = 0.5  # face crops: how often the target, not the source, gets the transforms
    jpeg_quality: tuple[int, int] = (40, 100)  # whole numbers, inclusive
    jpeg_probability: float = 0.5  # per frame or crop pair (random_jpeg); 0: no JPEG step
    min_size: int = 8  # pixels: faces whose box (clipped to the image) is smaller on a side are left alone


def face_mask(height: int, width: int, box: np.ndarray, rng: np.random.Generator,
              config: SelfBlendConfig = SelfBlendConfig(), landmarks: np.ndarray | None = None) -> np.ndarray:
    """The hard face mask, float32 ``(height, width)`` 0/1, of the face in ``box``: a random hull of its
    ``landmarks`` (``(5, 2)`` MTCNN or ``(68, 2)`` iBUG, xy pixels) when given, else :class:`FaceShape`; with
    probability ``config.lower_face``, only its pixels whose centres lie below a cut drawn from
    ``config.lower_face_cut`` (fraction of the box height from its top)."""
    if landmarks is None:
        mask = shape_mask(height, width, box, config.face_shape, rng.uniform(*config.shape_scale))
    else:
        points = np.asarray(landmarks, dtype=np.float64)
        if points.shape not in ((5, 2), (68, 2)):
            raise ValueError(f"landmarks must be (5, 2) or (68, 2) xy pixels, got {points.shape}")
        points = face_landmarks68(points) if len(points) == 5 else points
        mask = hull_mask(height, width, points, config.hull_types[rng.integers(len(config.hull_types))])
    if config.lower_face > 0 and rng.random() < config.lower_face:
        cut = float(box[1]) + rng.uniform(*config.lower_face_cut) * float(box[3] - box[1])
        mask[:max(0, int(np.ceil(cut - 0.5)))] = 0  # rows whose pixel centres (row + 0.5) lie above the cut
    return mask


def source_transform(image: np.ndarray, rng: np.random.Generator,
                     config: SelfBlendConfig = SelfBlendConfig()) -> np.ndarray:
    """SBI's colour and sharpness changes of ``image`` (float32 RGB 0-255); returns float32 0-255."""
    out = image.astype(np.float32)
    if rng.random() < config.rgb_shift_p:
        out = out + rng.uniform(-config.rgb_shift, config.rgb_shift, 3).astype(np.float32)
    hsv = cv2.cvtColor(np.clip(out, 0, 255) / 255, cv2.COLOR_RGB2HSV)  # H in degrees, S and V in 0..1
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-config.hue_shift, config.hue_shift)) % 360
    hsv[..., 1] = np.clip(hsv[..., 1] * (1 + rng.uniform(-config.saturation_shift, config.saturation_shift)), 0, 1)
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255
    out = out * (1 + rng.uniform(-config.contrast, config.contrast)) + 255 * rng.uniform(-config.brightness,
                                                                                          config.brightness)
    height, width = out.shape[:2]
    if rng.random() < 0.5:
        factor = int(config.downscale[rng.integers(len(config.downscale))])
        small = cv2.resize(out, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_NEAREST)
        out = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    else:
        alpha, lightness = rng.uniform(*config.sharpen_alpha), rng.uniform(*config.sharpen_lightness)
        kernel = np.full((3, 3), -alpha, np.float32)
        kernel[1, 1] = 1 - alpha + alpha * (8 + lightness)
        out = cv2.filter2D(out, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return np.clip(out, 0, 255)


def random_warp(source: np.ndarray, mask: np.ndarray, box: np.ndarray, rng: np.random.Generator,
                config: SelfBlendConfig = SelfBlendConfig()) -> tuple[np.ndarray, np.ndarray]:
    """``source`` (float32 image) and ``mask`` (float32 0/1, same size) translated and scaled together about the
    centre of ``box``, then ``mask`` warped elastically. Returns the warped pair."""
    height, width = mask.shape
    box_w, box_h = float(box[2] - box[0]), float(box[3] - box[1])
    shift = rng.uniform(-1, 1, 2) * np.array(config.translate) * (box_w, box_h)
    scale = rng.uniform(*config.scale)
    centre = np.array([box[0] + box[2], box[1] + box[3]]) / 2 - 0.5  # cv2 pixel-centre coordinates
    matrix = np.array([[scale, 0, 0], [0, scale, 0]])
    matrix[:, 2] = centre * (1 - scale) + shift
    source = cv2.warpAffine(source, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = cv2.warpAffine(mask, matrix, (width, height), flags=cv2.INTER_NEAREST, borderValue=0)
    side = max(box_w, box_h)
    noise = rng.uniform(-1, 1, (2, height, width)).astype(np.float32)
    fields = [cv2.GaussianBlur(n, (0, 0), max(config.elastic_sigma * side, 0.5)) for n in noise]
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    map_x, map_y = (grid + f * np.float32(config.elastic_std * side / max(float(f.std()), 1e-6))
                    for grid, f in zip((grid_x, grid_y), fields))
    mask = cv2.remap(mask, map_x, map_y, interpolation=cv2.INTER_NEAREST, borderValue=0)
    return source, mask


def box_window(height: int, width: int, box: np.ndarray, feather: float) -> np.ndarray:
    """float32 ``(height, width)``: 1 inside ``box`` deeper than ``feather`` (of the box) from its edge, falling
    linearly to 0 on the box's outermost whole pixels, 0 outside."""
    x1, y1 = int(np.clip(np.ceil(box[0]), 0, width)), int(np.clip(np.ceil(box[1]), 0, height))
    x2, y2 = int(np.clip(np.floor(box[2]), 0, width)), int(np.clip(np.floor(box[3]), 0, height))

    def ramp(n: int, lo: int, hi: int) -> np.ndarray:
        i = np.arange(n, dtype=np.float32)
        return np.clip(np.minimum(i - lo, hi - 1 - i) / max(feather * (hi - lo), 1.0), 0, 1)

    return ramp(height, y1, y2)[:, None] * ramp(width, x1, x2)[None, :]


def _odd(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    lo, hi = bounds
    return lo + 2 * int(rng.integers((hi - lo) // 2 + 1))


def soft_mask(mask: np.ndarray, box: np.ndarray, rng: np.random.Generator,
              config: SelfBlendConfig = SelfBlendConfig(), limit: np.ndarray | None = None) -> np.ndarray:
    """SBI's blend mask of a hard ``mask`` (float32 0/1) of the face in ``box``: float32 in 0..1, peak 1
    (all 0 when ``mask`` is empty), 0 on and outside the border of ``limit`` (default ``box``;
    :func:`box_window`)."""
    height, width = mask.shape
    box_w, box_h = max(float(box[2] - box[0]), 1.0), max(float(box[3] - box[1]), 1.0)
    work_w = max(1, round(width * rng.integers(config.mask_size[0], config.mask_size[1] + 1) / (2 * box_w)))
    work_h = max(1, round(height * rng.integers(config.mask_size[0], config.mask_size[1] + 1) / (2 * box_h)))
    small = cv2.resize(mask, (work_w, work_h), interpolation=cv2.INTER_LINEAR)
    erode, blur = _odd(rng, config.blur_kernel), _odd(rng, config.blur_kernel)
    sigma = float(rng.integers(config.blur_sigma[0], config.blur_sigma[1] + 1))
    core = cv2.erode(small, np.ones((erode, erode), np.uint8), borderType=cv2.BORDER_REFLECT) >= 1 - 1e-6
    if not core.any():  # thinner than the erosion: blur the mask itself
        core = small >= 0.5
    if not core.any():
        return np.zeros((height, width), np.float32)
    soft = cv2.GaussianBlur(core.astype(np.float32), (blur, blur), sigma)
    soft = cv2.resize(soft / soft.max(), (width, height), interpolation=cv2.INTER_LINEAR)
    return soft * box_window(height, width, box if limit is None else limit, config.edge_feather)


def _blend(canvas: np.ndarray, box: np.ndarray, rng: np.random.Generator, config: SelfBlendConfig,
           landmarks: np.ndarray | None, limit: np.ndarray, transform_target: bool
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """SBI on one face of ``canvas`` (uint8 RGB; ``box``, ``landmarks`` in its pixels), the blend kept inside
    ``limit`` (xyxy): ``(fake, target, mask)`` as uint8, uint8 and float32 (blend ratio included), or ``None``
    when the mask comes out empty."""
    height, width = canvas.shape[:2]
    hard = face_mask(height, width, box, rng, config, landmarks)
    source = target = canvas.astype(np.float32)
    if transform_target and rng.random() < config.target_transform_p:
        target = source_transform(target, rng, config)
    else:
        source = source_transform(source, rng, config)
    source, hard = random_warp(source, hard, box, rng, config)
    ratio = config.blend_ratios[rng.integers(len(config.blend_ratios))]
    mask = soft_mask(hard, box, rng, config, limit) * np.float32(ratio)
    if not mask.any():
        return None
    fake = mask[..., None] * source + (1 - mask[..., None]) * target
    return (np.round(fake).astype(np.uint8), np.round(target).astype(np.uint8), mask)


def _large_enough(box: np.ndarray, height: int, width: int, min_size: int) -> bool:
    w = min(float(box[2]), width) - max(float(box[0]), 0.0)
    h = min(float(box[3]), height) - max(float(box[1]), 0.0)
    return min(w, h) >= min_size


def blend_face(image: np.ndarray, box: np.ndarray, rng: np.random.Generator,
               config: SelfBlendConfig = SelfBlendConfig(), landmarks: np.ndarray | None = None) -> bool:
    """Self-blend the face in ``box`` (xyxy pixels; ``landmarks`` optional, pixels of ``image``) into ``image``,
    in place; only pixels inside the box change. No JPEG. The source, never the target, is transformed.

    Returns ``False`` (``image`` untouched) when the box, clipped to the image, is under ``config.min_size``
    pixels on a side, or its mask comes out empty.
    """
    height, width = image.shape[:2]
    box = np.asarray(box, dtype=np.float64)
    if not _large_enough(box, height, width, config.min_size):
        return False
    grow = config.context * (box[2:] - box[:2])
    x1, y1 = np.maximum(np.floor(box[:2] - grow), 0).astype(int)
    x2, y2 = np.minimum(np.ceil(box[2:] + grow), (width, height)).astype(int)
    offset = np.array([x1, y1], dtype=np.float64)
    local = None if landmarks is None else np.asarray(landmarks, dtype=np.float64) - offset
    local_box = box - np.tile(offset, 2)
    done = _blend(image[y1:y2, x1:x2], local_box, rng, config, local, local_box, transform_target=False)
    if done is None:
        return False
    image[y1:y2, x1:x2] = done[0]
    return True


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (uint8 RGB) through a JPEG encode and decode at ``quality`` (0-100)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def random_jpeg(images: Sequence[np.ndarray], rng: np.random.Generator,
                config: SelfBlendConfig = SelfBlendConfig()) -> list[np.ndarray]:
    """With ``config.jpeg_probability``, all ``images`` JPEG-compressed at one quality drawn from
    ``config.jpeg_quality``; else the images themselves."""
    if config.jpeg_probability <= 0 or rng.random() >= config.jpeg_probability:
        return list(images)
    quality = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
    return [jpeg(image, quality) for image in images]


@dataclass(frozen=True)
class SelfBlended:
    """A self-blended training pair from one face crop: ``real`` and ``fake`` uint8 RGB (the same size as the
    crop; ``real`` is the crop, or the crop with SBI's transforms when they went to the target) and ``mask``,
    the float32 blend mask (0..1, blend ratio included) that made ``fake`` from ``real``. No JPEG yet."""

    real: np.ndarray
    fake: np.ndarray
    mask: np.ndarray


def self_blend_crop(crop: np.ndarray, box: np.ndarray, rng: np.random.Generator,
                    config: SelfBlendConfig = SelfBlendConfig(),
                    landmarks: np.ndarray | None = None) -> SelfBlended | None:
    """SBI on one face crop (the classifier's input): ``box`` is the face's box and ``landmarks`` (optional) its
    points, in crop pixels (see :mod:`dftag.detector.face_crop`). The whole crop is the canvas, and the blend
    may reach ``config.context`` (of the box) past the box on each side, so that a landmark hull wider than the
    box is not cut square. No JPEG: pass the pair through :func:`random_jpeg` together, as every other
    training pair. ``None`` when the face is under ``config.min_size`` or its mask is empty."""
    box = np.asarray(box, dtype=np.float64)
    if not _large_enough(box, crop.shape[0], crop.shape[1], config.min_size):
        return None
    grow = config.context * (box[2:] - box[:2])
    limit = np.concatenate([box[:2] - grow, box[2:] + grow])
    done = _blend(crop, box, rng, config, landmarks, limit, transform_target=True)
    if done is None:
        return None
    fake, real, mask = done
    return SelfBlended(real=real, fake=fake, mask=mask)


def self_blend(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, probability: float,
               rng: np.random.Generator, config: SelfBlendConfig = SelfBlendConfig(),
               landmarks: Sequence[np.ndarray | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """With ``probability`` per real face, self-blend it (:func:`blend_face`) and relabel it fake; then the
    whole frame goes through :func:`random_jpeg`, whether or not a face was blended.

    ``boxes`` ``(N, 4)`` xyxy pixels, ``labels`` ``(N,)``; ``landmarks`` one entry per box (``None`` for a face
    without). Returns ``(image, labels)``: new arrays when something changed, the inputs otherwise (never
    modified).
    """
    chosen = [i for i in np.flatnonzero(labels == REAL) if rng.random() < probability]
    out, new_labels = (image.copy(), labels.copy()) if chosen else (image, labels)
    for i in chosen:
        if blend_face(out, boxes[i], rng, config, None if landmarks is None else landmarks[i]):
            new_labels[i] = FAKE
    return random_jpeg([out], rng, config)[0], new_labels
