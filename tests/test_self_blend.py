"""Self-blended fakes (SBI): relabelled, changed only inside the mask and box, face-shaped masks, blend ratios,
JPEG as a separate step, reproducible per seed, on whole frames and on face crops."""

from __future__ import annotations

import numpy as np
import pytest

from dftag.annotations.dataset import FAKE, REAL
from dftag.training.self_blend import (
    HULL_TYPES,
    MEAN_FACE_68,
    SelfBlendConfig,
    blend_face,
    face_landmarks68,
    face_mask,
    five_points,
    hull_mask,
    jpeg,
    random_jpeg,
    self_blend,
    self_blend_crop,
    shape_mask,
    soft_mask,
)

BOXES = np.array([[10.4, 12.0, 70.0, 80.6], [80.0, 20.0, 140.0, 90.0]], dtype=np.float32)
NO_JPEG = SelfBlendConfig(jpeg_probability=0.0)
RATIOS = (0.25, 0.5, 0.75, 1.0)


def image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 255, (100, 150, 3), dtype=np.uint8)


def face_points(box: np.ndarray) -> np.ndarray:
    """Five MTCNN points where a face sits in ``box`` (xyxy): eyes at 30 % height, mouth at 75 %."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    rel = np.array([[0.32, 0.32], [0.68, 0.32], [0.5, 0.52], [0.36, 0.75], [0.64, 0.75]])
    return np.array([x1, y1]) + rel * (w, h)


def test_relabels_and_changes_only_the_face_region():
    src = image()
    out, labels = self_blend(src, BOXES, np.array([REAL, FAKE]), 1.0, np.random.default_rng(0), NO_JPEG)
    assert labels.tolist() == [FAKE, FAKE]
    assert np.array_equal(src, image())  # input untouched
    changed = (out != src).any(axis=2)
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 100
    # only the real face (box 0) was blended; every changed pixel lies inside its box
    assert xs.min() >= 10 and xs.max() < 70 and ys.min() >= 12 and ys.max() < 81
    outside = np.ones(changed.shape, bool)
    outside[12:81, 10:71] = False
    assert not changed[outside].any()


def test_probability_zero_keeps_everything():
    src = image()
    out, labels = self_blend(src, BOXES, np.array([REAL, REAL]), 0.0, np.random.default_rng(0), NO_JPEG)
    assert out is src and labels.tolist() == [REAL, REAL]


def test_probability_is_per_face():
    rng = np.random.default_rng(0)
    flips = [self_blend(image(), BOXES[:1], np.array([REAL]), 0.3, rng, NO_JPEG)[1][0] == FAKE for _ in range(300)]
    assert 0.2 < np.mean(flips) < 0.4


def test_tiny_faces_are_left_alone():
    src = image()
    out, labels = self_blend(src, np.array([[5, 5, 9, 30]], np.float32), np.array([REAL]), 1.0,
                             np.random.default_rng(0), SelfBlendConfig(min_size=8, jpeg_probability=0.0))
    assert labels.tolist() == [REAL] and np.array_equal(out, src)
    assert self_blend_crop(image(), np.array([5, 5, 9, 30]), np.random.default_rng(0)) is None


def test_blend_is_soft_and_reproducible():
    a, b = image(), image()
    assert blend_face(a, BOXES[0], np.random.default_rng(5)) and blend_face(b, BOXES[0], np.random.default_rng(5))
    assert np.array_equal(a, b)
    # a soft mask that fades out inside the box: the box's border rows and columns are never touched
    for seed in range(20):
        out = image()
        blend_face(out, BOXES[0], np.random.default_rng(seed))
        crop, orig = out[12:80, 11:70].astype(int), image()[12:80, 11:70].astype(int)
        for edge in (np.s_[0], np.s_[-1], np.s_[:, 0], np.s_[:, -1]):
            assert np.array_equal(crop[edge], orig[edge])
        centre = np.s_[25:55, 20:50]
        assert np.abs(crop[centre] - orig[centre]).mean() > 1


def test_faces_at_the_frame_border_blend_inside_the_frame():
    src = image()
    out = src.copy()
    box = np.array([-20.0, 60.0, 40.0, 130.0])  # past the left and bottom edges
    assert blend_face(out, box, np.random.default_rng(3))
    ys, xs = np.nonzero((out != src).any(axis=2))
    assert len(xs) > 100 and xs.max() < 40 and ys.min() >= 60


def test_crop_pixels_outside_the_mask_are_unchanged_and_the_mask_is_in_range():
    crop = image()[:, :100]
    box = np.array([20.0, 15.0, 80.0, 85.0])
    for seed in range(10):
        pair = self_blend_crop(crop, box, np.random.default_rng(seed), NO_JPEG)
        assert pair.mask.shape == crop.shape[:2] and pair.mask.dtype == np.float32
        assert pair.real.shape == pair.fake.shape == crop.shape and pair.fake.dtype == np.uint8
        assert 0 <= pair.mask.min() and pair.mask.max() <= 1
        unmasked = pair.mask == 0
        assert np.array_equal(pair.fake[unmasked], pair.real[unmasked])
        assert (pair.fake != pair.real).any(axis=2)[pair.mask > 0.2].mean() > 0.5
        # the blend reaches at most `context` (0.25 of the box) past the box
        assert not pair.mask[:, :5].any() and not pair.mask[:, 95:].any() and not pair.mask[:, 94].any()
    # without target transforms the real image is the crop itself
    pair = self_blend_crop(crop, box, np.random.default_rng(0), SelfBlendConfig(jpeg_probability=0,
                                                                                target_transform_p=0))
    assert np.array_equal(pair.real, crop)


def test_blend_ratios_come_from_the_sbi_set():
    crop = image()
    box = np.array([30.0, 10.0, 110.0, 90.0])
    peaks = [float(self_blend_crop(crop, box, np.random.default_rng(seed), NO_JPEG).mask.max())
             for seed in range(120)]
    nearest = [min(RATIOS, key=lambda r: abs(r - p)) for p in peaks]
    np.testing.assert_allclose(peaks, nearest, atol=2e-3)
    assert set(nearest) == set(RATIOS)
    assert 0.35 < np.mean(np.array(nearest) == 1.0) < 0.65  # three of the six ratios are 1


def test_same_seed_same_images_other_seed_other_images():
    crop = image()
    box = np.array([30.0, 10.0, 110.0, 90.0])
    a, b, c = (self_blend_crop(crop, box, np.random.default_rng(s)) for s in (7, 7, 8))
    assert np.array_equal(a.fake, b.fake) and np.array_equal(a.real, b.real) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.fake, c.fake)
    labels = np.array([REAL, REAL])
    frames = [self_blend(image(), BOXES, labels, 1.0, np.random.default_rng(s))[0] for s in (4, 4, 5)]
    assert np.array_equal(frames[0], frames[1]) and not np.array_equal(frames[0], frames[2])


def test_mean_face_follows_five_points():
    # the mean face's own five points, rotated, scaled and shifted, give back the mean face moved alike
    angle, scale, shift = 0.3, 40.0, np.array([60.0, 50.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = MEAN_FACE_68 @ (scale * rotation).T + shift
    np.testing.assert_allclose(face_landmarks68(five_points(moved)), moved, atol=1e-9)


def test_landmarks_give_a_hull_shaped_mask_holding_the_points():
    box = np.array([30.0, 20.0, 90.0, 95.0])
    points = face_points(box)
    for kind in HULL_TYPES:
        mask = face_mask(120, 120, box, np.random.default_rng(0), SelfBlendConfig(hull_types=(kind,)), points)
        assert mask.dtype == np.float32 and set(np.unique(mask)) == {0.0, 1.0}
        assert all(mask[int(y), int(x)] == 1 for x, y in points)
        assert np.array_equal(mask, hull_mask(120, 120, face_landmarks68(points), kind))
    hull = hull_mask(120, 120, face_landmarks68(points), "hull")
    assert not np.array_equal(hull, shape_mask(120, 120, box))  # not the landmark-free shape
    # the convex hull: every row and column of it is one run of pixels
    for line in (*hull, *hull.T):
        on = np.flatnonzero(line)
        assert len(on) == 0 or on[-1] - on[0] + 1 == len(on)
    extended = hull_mask(120, 120, face_landmarks68(points), "extended")
    assert np.flatnonzero(extended.any(axis=1))[0] < np.flatnonzero(hull.any(axis=1))[0]  # up the forehead
    # 68 landmarks are used as given; other shapes are refused
    np.testing.assert_array_equal(face_mask(120, 120, box, np.random.default_rng(0), SelfBlendConfig(
        hull_types=("hull",)), face_landmarks68(points)), hull)
    with pytest.raises(ValueError):
        face_mask(120, 120, box, np.random.default_rng(0), landmarks=points[:4])


def test_landmark_free_shape_is_face_shaped_inside_its_box():
    box = np.array([20.0, 10.0, 80.0, 90.0])
    mask = shape_mask(100, 100, box)
    widths = mask.sum(axis=1)
    assert widths[30] > widths[75] > 0  # wider at the brows than at the chin
    soft = soft_mask(mask, box, np.random.default_rng(0))
    assert soft.max() == pytest.approx(1.0, abs=1e-3) and not soft[:, :21].any() and not soft[:10].any()


def test_landmarks_on_crops_and_frames():
    crop = image()
    box = np.array([30.0, 10.0, 110.0, 95.0])
    points = face_points(box)
    pair = self_blend_crop(crop, box, np.random.default_rng(2), NO_JPEG, points)
    assert pair.mask[int(points[2, 1]), int(points[2, 0])] > 0  # the nose is blended
    src = image()
    out, labels = self_blend(src, BOXES, np.array([REAL, REAL]), 1.0, np.random.default_rng(2), NO_JPEG,
                             [face_points(BOXES[0]), None])
    assert labels.tolist() == [FAKE, FAKE]
    changed = (out != src).any(axis=2)
    assert changed[12:81, 10:71].any() and changed[20:90, 80:140].any()


def test_lower_face_masks_keep_only_the_face_below_the_cut():
    box = np.array([20.0, 10.0, 80.0, 90.0])
    lower_only = SelfBlendConfig(lower_face=1.0, jpeg_probability=0.0)
    top, bottom = 10 + 0.45 * 80, 10 + 0.6 * 80  # the cut lies between these rows
    points = face_points(box)
    for seed in range(5):
        for landmarks in (None, points):
            whole = face_mask(100, 100, box, np.random.default_rng(seed), SelfBlendConfig(), landmarks)
            lower = face_mask(100, 100, box, np.random.default_rng(seed), lower_only, landmarks)
            # the same face, cut: nothing above the cut, the whole mask below it
            assert not lower[:int(top)].any() and lower.sum() > 0.2 * whole.sum()
            np.testing.assert_array_equal(lower[int(np.ceil(bottom)):], whole[int(np.ceil(bottom)):])
        pair = self_blend_crop(image()[:, :100], box, np.random.default_rng(seed), lower_only)
        changed_rows = np.flatnonzero((pair.fake != pair.real).any(axis=(1, 2)))
        eyes = 10 + 0.32 * 80
        assert len(changed_rows) and changed_rows.min() > eyes  # the warp and the blur reach a little above the cut
        assert pair.mask[:int(top)].sum() < 0.05 * pair.mask.sum()
    # the share of cut masks follows the probability; 0 keeps SBI's whole-face masks and its random draws
    cut = [not face_mask(100, 100, box, np.random.default_rng(s), SelfBlendConfig(lower_face=0.5))[:int(top)].any()
           for s in range(200)]
    assert 0.35 < np.mean(cut) < 0.65
    a = self_blend_crop(image(), box, np.random.default_rng(3), SelfBlendConfig())
    b = self_blend_crop(image(), box, np.random.default_rng(3), SelfBlendConfig(lower_face=0.0))
    assert np.array_equal(a.fake, b.fake)


def test_jpeg_is_a_separate_whole_image_step():
    src = image()
    once = jpeg(src, 60)
    assert once.shape == src.shape and once.dtype == np.uint8 and not np.array_equal(once, src)
    always = SelfBlendConfig(jpeg_probability=1.0)
    a, b = random_jpeg([src, src.copy()], np.random.default_rng(0), always)
    assert np.array_equal(a, b) and not np.array_equal(a, src)  # one quality for the whole pair
    kept = random_jpeg([src], np.random.default_rng(0), NO_JPEG)
    assert kept[0] is src
    # the frame is compressed whether or not a face was blended, so compression tells nothing of the label
    out, labels = self_blend(src, BOXES, np.array([REAL, REAL]), 0.0, np.random.default_rng(0), always)
    assert labels.tolist() == [REAL, REAL] and not np.array_equal(out, src) and np.array_equal(src, image())
    rate = np.mean([not np.array_equal(random_jpeg([src], np.random.default_rng(s))[0], src) for s in range(60)])
    assert 0.3 < rate < 0.7  # the default probability is SBI's 0.5
    # a crop pair comes out before JPEG: the caller compresses it like every other training pair
    pair = self_blend_crop(src, np.array([30.0, 10.0, 110.0, 90.0]), np.random.default_rng(1),
                           SelfBlendConfig(jpeg_probability=1.0, target_transform_p=0.0))
    assert np.array_equal(pair.real, src)
