"""Procedurally drawn faces and face-swap blending, for the built-in sample data and for tests.

A face is drawn in a *canonical* frame (face centre at the origin, units are canonical pixels, the face
outline spans ``[-a, a] x [-b, b]`` before the pose) and then warped into the image by one affine map: the
head pose (roll as a rotation, yaw as a horizontal squeeze with features shifted sideways, pitch as a
vertical feature shift) followed by the scale and translation that put the outline (forehead to chin, ear to
ear) exactly on the requested box. So the box handed to :func:`draw_face` is, to the pixel, the tight box
around the drawn head.

A *fake* face is what face-swap pipelines produce: another identity's inner face (brows, eyes, nose, mouth and
their skin) is rendered on the target's head geometry, warped in with a small misalignment, colour-corrected
imperfectly (a skin-tone mismatch), slightly blurred, and blended through a feathered mask, which leaves a
seam (halo) along the mask boundary. All strengths are fields of :class:`Swap`, drawn at random in
:meth:`Swap.random` over ranges that keep the artefacts visible at 320 px input scale.

Boxes are absolute pixel ``xyxy`` floats; images are ``uint8`` RGB ``(H, W, 3)`` arrays, drawn in place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

_KERNEL = np.ones((3, 3), np.uint8)
# Fixed-point bits for sub-pixel drawing with OpenCV.
_SHIFT = 4
_ONE = 1 << _SHIFT

SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (255, 224, 196), (241, 194, 160), (224, 172, 135), (198, 144, 108), (172, 118, 84),
    (141, 92, 62), (110, 70, 45), (84, 52, 34), (232, 190, 150), (190, 150, 115),
)
HAIR_COLOURS: tuple[tuple[int, int, int], ...] = (
    (20, 16, 14), (45, 30, 20), (85, 55, 30), (140, 95, 50), (200, 160, 95), (225, 200, 140),
    (150, 60, 30), (170, 170, 170), (235, 235, 230), (60, 40, 90),
)
IRIS_COLOURS: tuple[tuple[int, int, int], ...] = (
    (70, 45, 25), (40, 25, 15), (60, 100, 150), (80, 120, 70), (120, 90, 50), (90, 110, 120),
)
_LIGHTER = np.ones(3) / math.sqrt(3)
_REDDER = np.array([0.8, -0.45, -0.35]) / np.linalg.norm([0.8, -0.45, -0.35])
_YELLOWER = np.array([0.35, 0.4, -0.85]) / np.linalg.norm([0.35, 0.4, -0.85])
_MISMATCH_REFERENCE = 170.0  # mean skin RGB at which colour_mismatch applies in full
HAIR_STYLES = ("bald", "short", "fringe", "long", "bun", "curly")

# Fraction of the canonical patch beyond the face outline: left/right in units of a, top/bottom of b.
_PATCH_X, _PATCH_TOP, _PATCH_BOTTOM = 2.6, 1.7, 2.8


@dataclass(frozen=True)
class Identity:
    """Everything that makes one person look like themselves. Lengths are fractions of the face half-width
    ``a`` (horizontal) or half-height ``b`` (vertical); colours are RGB 0-255."""

    skin: tuple[float, float, float]
    aspect: float          # a / b of the outline
    squareness: float      # superellipse exponent: 2 = ellipse, larger = squarer
    chin_taper: float      # 0 = round jaw, larger = narrower chin
    hair_style: str
    hair: tuple[float, float, float]
    hairline: float        # fraction of b from the top of the outline down to the hairline
    eye_spacing: float     # eye centre distance from the axis, fraction of a
    eye_height: float      # eye centre y, fraction of b (negative = above centre)
    eye_size: float        # eye half-width, fraction of a
    iris: tuple[float, float, float]
    brow_gap: float        # brow above the eye, fraction of b
    brow_thickness: float  # fraction of b
    brow_arch: float       # fraction of b
    nose_length: float     # nose tip y, fraction of b
    nose_width: float      # fraction of a
    mouth_y: float         # fraction of b
    mouth_width: float     # half-width, fraction of a
    lip_thickness: float   # fraction of b
    lips: tuple[float, float, float]
    smile: float           # mouth corner lift, fraction of b
    beard: bool
    glasses: bool
    clothing: tuple[float, float, float]
    light: float           # horizontal light direction, -1 (left) to 1 (right)
    texture_seed: int      # hair and skin texture

    @staticmethod
    def random(rng: np.random.Generator) -> Identity:
        """A random person: skin tone, face shape, hair, eyes, brows, nose, mouth, clothing."""
        skin = np.asarray(SKIN_TONES[rng.integers(len(SKIN_TONES))], float) + rng.normal(0, 6, 3)
        hair = np.asarray(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], float) + rng.normal(0, 8, 3)
        lips = skin * np.array([0.82, 0.55, 0.55]) + np.array([35, 5, 10]) + rng.normal(0, 6, 3)
        u = rng.uniform
        return Identity(
            skin=_rgb(skin), aspect=u(0.72, 0.86), squareness=u(1.9, 2.8), chin_taper=u(0.0, 0.35),
            hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))], hair=_rgb(hair), hairline=u(0.2, 0.42),
            eye_spacing=u(0.36, 0.46), eye_height=u(-0.16, -0.04), eye_size=u(0.2, 0.27),
            iris=_rgb(np.asarray(IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))], float) + rng.normal(0, 6, 3)),
            brow_gap=u(0.15, 0.24), brow_thickness=u(0.035, 0.075), brow_arch=u(0.0, 0.07),
            nose_length=u(0.2, 0.32), nose_width=u(0.16, 0.26), mouth_y=u(0.48, 0.6),
            mouth_width=u(0.28, 0.42), lip_thickness=u(0.05, 0.09), lips=_rgb(lips), smile=u(-0.02, 0.06),
            beard=bool(rng.random() < 0.18), glasses=bool(rng.random() < 0.15),
            clothing=_rgb(rng.uniform(20, 235, 3)), light=u(-0.8, 0.8),
            texture_seed=int(rng.integers(2**31)),
        )


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees: ``roll`` rotates the head in the image plane (clockwise positive), ``yaw`` turns it
    left/right, ``pitch`` nods it (positive = looking down)."""

    roll: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0


@dataclass(frozen=True)
class Expression:
    """``blink``: eyes closed; ``mouth_open``: 0 (closed) to 1 (wide open)."""

    blink: bool = False
    mouth_open: float = 0.0


@dataclass(frozen=True)
class Swap:
    """How a face swap pasted ``donor``'s inner face onto a target head, and how badly.

    Lengths are fractions of the face height; colours in 0-255 RGB units.
    """

    donor: Identity
    colour_mismatch: float   # RGB distance between the pasted skin and the target's skin
    colour_direction: tuple[float, float, float]  # unit RGB direction of the mismatch
    seam: float              # brightness change along the mask boundary (signed)
    feather: float           # mask edge softness (Gaussian sigma)
    blur: float              # Gaussian sigma applied to the pasted face
    shift: tuple[float, float]  # misalignment of the pasted face (dx, dy)
    scale: float             # misalignment scale factor
    rotation: float          # misalignment rotation, degrees
    mask_top: float          # top of the inner-face mask, fraction of b above the centre
    mask_bottom: float       # bottom of the inner-face mask, fraction of b below the centre
    mask_width: float        # half-width of the mask, fraction of a
    flicker: float           # per-frame jitter of colour (RGB units) and alignment (fraction of face height / 100)

    @staticmethod
    def random(rng: np.random.Generator, donor: Identity | None = None) -> Swap:
        """Random swap artefacts, each varied in strength but together visible at ~40 px face height."""
        # skin mismatches are lighter or darker, and pinker or more olive: never green, blue or grey
        direction = rng.normal(0, 1) * _LIGHTER + abs(rng.normal(0, 0.6, 2)) @ np.stack([_REDDER, _YELLOWER])
        direction /= np.linalg.norm(direction)
        u = rng.uniform
        return Swap(
            donor=donor or Identity.random(rng), colour_mismatch=u(28, 52),
            colour_direction=tuple(float(v) for v in direction),
            seam=float(rng.choice([-1, 1]) * u(20, 40)), feather=u(0.02, 0.05), blur=u(0.01, 0.025),
            shift=(u(-0.04, 0.04), u(-0.04, 0.05)), scale=u(0.94, 1.08), rotation=u(-5, 5),
            mask_top=u(0.2, 0.5), mask_bottom=u(0.62, 0.8), mask_width=u(0.62, 0.8), flicker=u(1.0, 4.0),
        )


def _rgb(v) -> tuple[float, float, float]:
    c = np.clip(np.asarray(v, float), 0, 255)
    return (float(c[0]), float(c[1]), float(c[2]))


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def _ellipse(img: np.ndarray, centre, axes, angle: float, colour, thickness: int = -1,
             start: float = 0, end: float = 360) -> None:
    cv2.ellipse(img, _pt(*centre), _pt(max(axes[0], 0.3), max(axes[1], 0.3)), angle, start, end, colour,
                thickness, cv2.LINE_AA, _SHIFT)


def _poly(img: np.ndarray, points: np.ndarray, colour) -> None:
    cv2.fillPoly(img, [np.round(points * _ONE).astype(np.int32)], colour, cv2.LINE_AA, _SHIFT)


def _polyline(img: np.ndarray, points: np.ndarray, colour, thickness: float) -> None:
    cv2.polylines(img, [np.round(points * _ONE).astype(np.int32)], False, colour,
                  max(1, int(round(thickness))), cv2.LINE_AA, _SHIFT)


def outline_points(identity: Identity, a: float, b: float, n: int = 96) -> np.ndarray:
    """The head outline (forehead to chin) as ``(n, 2)`` canonical points around the origin."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    e = 2.0 / identity.squareness
    c, s = np.cos(t), np.sin(t)
    x = a * np.sign(c) * np.abs(c) ** e
    y = b * np.sign(s) * np.abs(s) ** e
    lower = np.clip(y / b, 0, 1)
    x = x * (1 - identity.chin_taper * lower**2)
    return np.stack([x, y], axis=1)


def _ear_points(identity: Identity, a: float, b: float) -> np.ndarray:
    """Both ears as canonical points (used for the box when the ears are visible)."""
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    pts = []
    for side in (-1, 1):
        cx = side * a * (1.0 - 0.04)
        cy = b * (identity.eye_height + 0.1)
        pts.append(np.stack([cx + side * 0.08 * a + 0.12 * a * np.cos(t), cy + 0.2 * b * np.sin(t)], axis=1))
    return np.concatenate(pts)


def _ears_visible(identity: Identity) -> bool:
    return identity.hair_style not in ("long", "curly")


def _box_points(identity: Identity, a: float, b: float) -> np.ndarray:
    """The canonical points the face box is tight around: the outline, and the ears where visible."""
    pts = outline_points(identity, a, b)
    return np.concatenate([pts, _ear_points(identity, a, b)]) if _ears_visible(identity) else pts


def face_aspect(identity: Identity) -> float:
    """Width / height of the face box of ``identity`` seen frontally."""
    pts = _box_points(identity, identity.aspect, 1.0)
    w, h = pts.max(0) - pts.min(0)
    return float(w / h)


def _pose_matrix(pose: Pose) -> np.ndarray:
    """2x2 linear part of the head pose in canonical units (roll rotation after a yaw squeeze)."""
    r = math.radians(pose.roll)
    rot = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
    squeeze = np.diag([math.cos(math.radians(pose.yaw)) ** 0.6, math.cos(math.radians(pose.pitch)) ** 0.4])
    return rot @ squeeze


def face_affine(identity: Identity, pose: Pose, box: Sequence[float], a: float, b: float,
                origin: tuple[float, float]) -> np.ndarray:
    """The 2x3 affine from canonical patch pixels (face centre at ``origin``) to image pixels that puts the
    posed outline (and ears, where visible) tight on ``box``."""
    lin = _pose_matrix(pose)
    posed = _box_points(identity, a, b) @ lin.T
    lo, hi = posed.min(0), posed.max(0)
    x1, y1, x2, y2 = (float(v) for v in box)
    scale = np.diag([(x2 - x1) / (hi[0] - lo[0]), (y2 - y1) / (hi[1] - lo[1])])
    m = scale @ lin
    centre = np.array([x1, y1]) - scale @ lo
    t = centre - m @ np.asarray(origin)
    return np.hstack([m, t[:, None]])


class _Canvas:
    """The canonical drawing surface: an RGB patch, its opacity, and the head region."""

    def __init__(self, a: float, b: float):
        self.a, self.b = a, b
        w = int(math.ceil(2 * _PATCH_X * a)) + 2
        h = int(math.ceil((_PATCH_TOP + 1 + _PATCH_BOTTOM) * b)) + 2
        self.origin = (_PATCH_X * a + 1, _PATCH_TOP * b + 1)
        self.rgb = np.zeros((h, w, 3), np.uint8)
        self.alpha = np.zeros((h, w), np.uint8)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        self.x = (xs - self.origin[0]) / a  # normalised canonical coordinates
        self.y = (ys - self.origin[1]) / b

    def p(self, x: float, y: float) -> tuple[float, float]:
        """Patch pixel of the normalised canonical point (x * a, y * b)."""
        return self.origin[0] + x * self.a, self.origin[1] + y * self.b

    def window(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice]:
        """Rows and columns of the patch covering normalised canonical ``[x0, x1] x [y0, y1]``."""
        (c0, r0), (c1, r1) = self.p(x0, y0), self.p(x1, y1)
        h, w = self.alpha.shape
        return (slice(max(0, int(r0)), min(h, int(math.ceil(r1)))), slice(max(0, int(c0)), min(w, int(math.ceil(c1)))))

    def points(self, pts: np.ndarray) -> np.ndarray:
        return pts + np.asarray(self.origin)

    def fill(self, mask: np.ndarray, colour, opacity: float = 1.0) -> None:
        """Paint ``colour`` where ``mask`` (0-1 float) is set, with ``opacity``; also marks it opaque."""
        roi = _support(mask)
        m = mask[roi][..., None] * opacity
        self.rgb[roi] = np.clip(self.rgb[roi] * (1 - m) + np.asarray(colour, np.float32) * m, 0, 255).astype(np.uint8)
        self.alpha[roi] = np.maximum(self.alpha[roi], (mask[roi] * 255).astype(np.uint8))


def _support(mask: np.ndarray) -> tuple[slice, slice]:
    """The bounding rows and columns of the non-zero part of ``mask``."""
    x, y, w, h = cv2.boundingRect((mask > 0).view(np.uint8))
    return slice(y, y + h), slice(x, x + w)


def _texture(seed: int, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth noise in [-1, 1] of ``shape``, fixed by ``seed`` and independent of the patch size."""
    small = np.random.default_rng(seed).uniform(-1, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _mask_of(draw, shape) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    draw(m)
    return m.astype(np.float32) / 255.0


def _head_mask(c: _Canvas, identity: Identity) -> np.ndarray:
    outline = c.points(outline_points(identity, c.a, c.b))
    return _mask_of(lambda m: _poly(m, outline, 255), c.rgb.shape)


def _shade_skin(c: _Canvas, identity: Identity, head: np.ndarray) -> None:
    """Round the head: darker towards the outline, lit from the identity's light side, faint skin texture."""
    roi = _support(head)
    x, y = c.x[roi], c.y[roi]
    tex = _texture(identity.texture_seed + 1, c.rgb.shape[:2], 9)[roi]
    shade = 1.0 - 0.22 * np.clip(x**2 + (y * 0.9) ** 2, 0, 1.3) + 0.09 * identity.light * np.clip(x, -1, 1) + 0.025 * tex
    m = head[roi][..., None]
    rgb = c.rgb[roi].astype(np.float32)
    c.rgb[roi] = np.clip(rgb * (1 - m) + rgb * shade[..., None] * m, 0, 255).astype(np.uint8)


def _draw_body(c: _Canvas, identity: Identity) -> None:
    skin = np.asarray(identity.skin)
    if identity.hair_style == "long":
        _ellipse_fill(c, (0, 0.25), (1.32, 1.55), identity.hair)
    body = np.array([[-2.4, 2.8], [-2.1, 1.65], [-0.9, 1.25], [0.9, 1.25], [2.1, 1.65], [2.4, 2.8]])
    _poly_fill(c, body, identity.clothing)
    neck = np.array([[-0.42, 0.55], [0.42, 0.55], [0.46, 1.45], [0, 1.62], [-0.46, 1.45]])
    _poly_fill(c, neck, skin * 0.78)
    if _ears_visible(identity):
        for side in (-1, 1):
            _ellipse_fill(c, (side * (1.04), identity.eye_height + 0.1), (0.12, 0.2), skin * 0.9)


def _ellipse_fill(c: _Canvas, centre, axes, colour) -> None:
    """Opaque ellipse at normalised canonical centre/axes."""
    mask = _mask_of(lambda m: _ellipse(m, c.p(*centre), (axes[0] * c.a, axes[1] * c.b), 0, 255), c.rgb.shape)
    c.fill(mask, colour)


def _poly_fill(c: _Canvas, pts: np.ndarray, colour) -> None:
    px = np.stack([c.origin[0] + pts[:, 0] * c.a, c.origin[1] + pts[:, 1] * c.b], axis=1)
    c.fill(_mask_of(lambda m: _poly(m, px, 255), c.rgb.shape), colour)


def _draw_hair_front(c: _Canvas, identity: Identity) -> None:
    """The hair cap: a shape a little larger than the skull, above a hairline that dips at the temples."""
    style = identity.hair_style
    if style == "bald":
        return
    if style == "bun":
        _ellipse_fill(c, (0, -1.18), (0.38, 0.26), identity.hair)
    roi = c.window(-1.3, 1.3, -1.45, 0.6)
    x, y = c.x[roi], c.y[roi]
    line = -1 + identity.hairline + 0.45 * np.abs(x) ** 2
    if style == "fringe":
        line = line + 0.25 - 0.1 * np.abs(np.sin(x * 7))
    cap_r = (x / 1.1) ** 2 + ((y + 0.12) / 1.12) ** 2
    bulge = 1.0 if style != "curly" else 1.0 + 0.08 * np.sin(np.arctan2(y, x) * 14)
    cap = (cap_r < bulge) & (y < line)
    if style in ("long", "curly"):
        cap |= (np.abs(x) > 0.82) & (np.abs(x) < 1.12) & (y < 0.5) & (cap_r < 1.6)
    mask = cv2.GaussianBlur(cap.astype(np.float32), (0, 0), 0.6)[..., None]
    tex = _texture(identity.texture_seed, c.rgb.shape[:2], 14)[roi][..., None]
    shaded = np.asarray(identity.hair, np.float32) * (1 + 0.16 * tex) + 6 * tex
    c.rgb[roi] = np.clip(c.rgb[roi] * (1 - mask) + shaded * mask, 0, 255).astype(np.uint8)
    c.alpha[roi] = np.maximum(c.alpha[roi], (mask[..., 0] * 255).astype(np.uint8))


def _draw_features(c: _Canvas, identity: Identity, pose: Pose, expression: Expression) -> None:
    """Brows, eyes, nose, mouth, beard and glasses; yaw and pitch shift them over the head."""
    a, b = c.a, c.b
    yaw = math.sin(math.radians(pose.yaw))
    pitch = math.sin(math.radians(pose.pitch))
    skin = np.asarray(identity.skin)

    def at(x: float, y: float, depth: float = 1.0) -> tuple[float, float]:
        return c.p(x + 0.42 * yaw * depth, y + 0.3 * pitch * depth)

    if identity.beard:
        beard_y = identity.nose_length + 0.08
        pts = outline_points(identity, a, b)
        lower = pts[pts[:, 1] > beard_y * b]
        lower = lower[np.argsort(np.arctan2(lower[:, 1], lower[:, 0]))]
        poly = np.vstack([lower, [[-0.45 * a, beard_y * b], [0.45 * a, beard_y * b]]])
        beard = _mask_of(lambda m: _poly(m, c.points(poly), 255), c.rgb.shape)
        c.fill(beard, np.asarray(identity.hair) * 0.9, 0.85)

    ey, ew = identity.eye_height, identity.eye_size
    for side in (-1, 1):
        squash = 1 - 0.35 * max(0.0, side * yaw)  # the far eye looks narrower
        cx = side * identity.eye_spacing * squash
        centre = at(cx, ey)
        rx, ry = ew * a * squash, ew * a * 0.48
        # brow
        by = ey - identity.brow_gap
        bx = np.linspace(cx - side * ew * 0.95, cx + side * ew * 1.15, 7)
        bys = by - identity.brow_arch * np.sin(np.linspace(0.2, math.pi - 0.2, 7)) + 0.04 * (side * (bx - cx))
        brow = np.array([at(x, y) for x, y in zip(bx, bys)])
        _polyline(c.rgb, brow, _rgb(np.asarray(identity.hair) * 0.7), identity.brow_thickness * b)
        if expression.blink:
            _ellipse(c.rgb, centre, (rx, ry * 0.35), 0, _rgb(skin * 0.85))
            _ellipse(c.rgb, centre, (rx, ry * 0.35), 0, (45, 30, 25), max(1, int(ry * 0.25)), 0, 180)
            continue
        _ellipse(c.rgb, centre, (rx, ry), 0, (236, 232, 226))
        iris_c = (centre[0] + yaw * rx * 0.35, centre[1])
        _ellipse(c.rgb, iris_c, (ry * 0.95, ry * 0.95), 0, identity.iris)
        _ellipse(c.rgb, iris_c, (ry * 0.45, ry * 0.45), 0, (12, 10, 10))
        _ellipse(c.rgb, (iris_c[0] + ry * 0.3, iris_c[1] - ry * 0.3), (ry * 0.18, ry * 0.18), 0, (250, 250, 250))
        _ellipse(c.rgb, centre, (rx * 1.04, ry * 1.02), 0, (40, 28, 24), max(1, int(round(ry * 0.3))), 180, 360)

    nose_tip = identity.nose_length
    nose_col = _rgb(skin * 0.72)
    bridge = np.array([at(0.02, ey + 0.05, 1.2), at(0.04, nose_tip - 0.04, 1.5)])
    _polyline(c.rgb, bridge, _rgb(skin * 0.86), max(1.0, 0.03 * b))
    nw = identity.nose_width
    for side in (-1, 1):
        _ellipse(c.rgb, at(side * nw * 0.55, nose_tip, 1.4), (nw * a * 0.28, 0.035 * b), 0, nose_col)
    _ellipse(c.rgb, at(0, nose_tip - 0.03, 1.5), (nw * a * 0.5, 0.05 * b), 0, _rgb(skin * 0.92), 1, 0, 180)

    my, mw, lt = identity.mouth_y, identity.mouth_width, identity.lip_thickness
    opening = expression.mouth_open * 0.14
    centre = at(0, my, 1.1)
    lips = identity.lips
    _ellipse(c.rgb, (centre[0], centre[1] - 0.02 * b), (mw * a, (lt + opening * 0.5) * b), 0, lips)
    if opening > 0.01:
        _ellipse(c.rgb, centre, (mw * a * 0.8, opening * b * 0.8), 0, (45, 15, 20))
        _ellipse(c.rgb, (centre[0], centre[1] - opening * b * 0.5), (mw * a * 0.6, opening * b * 0.25), 0,
                 (235, 230, 220), -1, 180, 360)
    corner = np.array([at(-mw, my - identity.smile), at(-mw * 0.4, my + 0.01), at(0, my + 0.015),
                       at(mw * 0.4, my + 0.01), at(mw, my - identity.smile)])
    _polyline(c.rgb, corner, _rgb(np.asarray(lips) * 0.55), max(1.0, 0.018 * b))

    if identity.glasses:
        frame = (30, 30, 35)
        for side in (-1, 1):
            _ellipse(c.rgb, at(side * identity.eye_spacing, ey), (ew * a * 1.45, ew * a * 1.05), 0, frame,
                     max(1, int(round(0.025 * b))))
        _polyline(c.rgb, np.array([at(-identity.eye_spacing + ew * 1.4, ey), at(identity.eye_spacing - ew * 1.4, ey)]),
                  frame, max(1.0, 0.025 * b))


def _render(identity: Identity, pose: Pose, expression: Expression, a: float, b: float) -> tuple[_Canvas, np.ndarray]:
    """Draw a whole person (hair, body, head, features) in a canonical patch; returns it with the head mask."""
    c = _Canvas(a, b)
    _draw_body(c, identity)
    head = _head_mask(c, identity)
    c.fill(head, identity.skin)
    _shade_skin(c, identity, head)
    _draw_features(c, identity, pose, expression)
    _draw_hair_front(c, identity)
    return c, head


def _render_inner_face(target: Identity, donor: Identity, pose: Pose, expression: Expression,
                       a: float, b: float) -> np.ndarray:
    """The donor's inner face (skin, eyes, brows, nose, mouth) on the target's head geometry, with the target's
    beard and glasses (swap models reproduce what the target wears), as a float RGB patch."""
    face = replace(target, skin=donor.skin, eye_spacing=donor.eye_spacing, eye_height=donor.eye_height,
                   eye_size=donor.eye_size, iris=donor.iris, brow_gap=donor.brow_gap,
                   brow_thickness=donor.brow_thickness, brow_arch=donor.brow_arch,
                   nose_length=donor.nose_length, nose_width=donor.nose_width, mouth_y=donor.mouth_y,
                   mouth_width=donor.mouth_width, lip_thickness=donor.lip_thickness, lips=donor.lips,
                   smile=donor.smile, texture_seed=donor.texture_seed)
    c = _Canvas(a, b)
    head = _head_mask(c, face)
    c.fill(head, face.skin)
    _shade_skin(c, face, head)
    _draw_features(c, face, pose, expression)
    return c.rgb.astype(np.float32)


def _blend_swap(c: _Canvas, head: np.ndarray, target: Identity, swap: Swap, pose: Pose,
                expression: Expression, jitter: np.random.Generator | None) -> None:
    """Paste the donor's inner face into ``c`` the way a face swap does (see the module docstring)."""
    a, b = c.a, c.b
    height = 2 * b
    donor = _render_inner_face(target, swap.donor, pose, expression, a, b)
    # imperfect colour transfer: the pasted skin lands ``colour_mismatch`` away from the target's skin
    flick = jitter.normal(0, swap.flicker, 3) if jitter is not None else np.zeros(3)
    # on dark skin the same RGB shift is a larger relative change: scale it down (to half at most)
    relative = float(np.clip(np.mean(target.skin) / _MISMATCH_REFERENCE, 0.5, 1.0))
    wanted = np.asarray(target.skin) + relative * swap.colour_mismatch * np.asarray(swap.colour_direction) + flick
    donor += (wanted - np.asarray(swap.donor.skin)).astype(np.float32)
    # misaligned warp of the pasted face about the inner-face centre
    dj = jitter.normal(0, swap.flicker / 100, 2) if jitter is not None else np.zeros(2)
    centre = c.p(0, 0.1)
    rot = cv2.getRotationMatrix2D(centre, swap.rotation, swap.scale)
    rot[:, 2] += (np.asarray(swap.shift) + dj) * height
    donor = cv2.warpAffine(donor, rot, (donor.shape[1], donor.shape[0]), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    donor = cv2.GaussianBlur(donor, (0, 0), max(swap.blur * height, 0.3))
    # feathered inner-face mask, kept inside the head
    top, bottom = -swap.mask_top, swap.mask_bottom
    inner = _mask_of(lambda m: _ellipse(m, c.p(0, (top + bottom) / 2), (swap.mask_width * a, (bottom - top) / 2 * b),
                                        0, 255), c.rgb.shape)
    # kept two pixels inside the outline, so nothing outside the face box changes
    mask = cv2.GaussianBlur(inner, (0, 0), max(swap.feather * height, 0.5)) * cv2.erode(head, _KERNEL, iterations=2)
    seam = 4 * mask * (1 - mask) * swap.seam
    m = mask[..., None]
    rgb = c.rgb.astype(np.float32) * (1 - m) + donor * m + seam[..., None]
    c.rgb[:] = np.clip(rgb, 0, 255).astype(np.uint8)


def draw_face(canvas: np.ndarray, box: Sequence[float], identity: Identity, rng: np.random.Generator | None = None,
              fake: bool = False, *, pose: Pose = Pose(), expression: Expression = Expression(),
              swap: Swap | None = None) -> None:
    """Draw ``identity`` onto ``canvas`` (uint8 RGB, modified in place) so its head is tight on ``box`` (xyxy).

    ``fake=True`` pastes another identity's inner face with random swap artefacts drawn from ``rng`` (unless
    ``swap`` gives them); with ``swap`` given, ``rng`` (if any) only adds per-frame flicker. Parts of the
    person outside the canvas (hair, shoulders, or the face itself) are clipped.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if x2 - x1 < 2 or y2 - y1 < 2:
        raise ValueError(f"face box too small to draw: {box}")
    if fake and swap is None:
        if rng is None:
            raise ValueError("draw_face(fake=True) needs an rng or a swap")
        swap = Swap.random(rng)
    b = max((y2 - y1) / 2, 12.0)
    a = b * identity.aspect
    c, head = _render(identity, pose, expression, a, b)
    if swap is not None:
        _blend_swap(c, head, identity, swap, pose, expression, rng)
    affine = face_affine(identity, pose, box, a, b, c.origin)
    _composite(canvas, c.rgb, c.alpha, affine)


def _composite(canvas: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, affine: np.ndarray) -> None:
    """Warp the patch by ``affine`` and alpha-blend it onto the part of ``canvas`` it covers."""
    h, w = rgb.shape[:2]
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], float) @ affine.T
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, canvas.shape[1]), min(y1, canvas.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    shifted = affine.copy()
    shifted[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(rgb, shifted, size, flags=cv2.INTER_LINEAR, borderValue=0).astype(np.float32)
    a = cv2.warpAffine(alpha, shifted, size, flags=cv2.INTER_LINEAR, borderValue=0).astype(np.float32)[..., None] / 255
    roi = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = np.clip(roi * (1 - a) + warped * a + 0.5, 0, 255).astype(np.uint8)
