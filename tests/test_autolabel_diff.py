"""Changed regions of a frame pair and their growth to face boxes (dftag.annotations.pair_diff), on numpy frames."""

from __future__ import annotations

import numpy as np
import pytest

from dftag.annotations.pair_diff import DiffParams, FaceShape, change_regions, grow_to_face


def textured(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random RGB texture, like a blurred photo."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
    big = np.kron(small, np.ones((8, 8, 1)))[:h, :w]
    return big.astype(np.uint8)


def with_change(image: np.ndarray, box: tuple[int, int, int, int], seed: int = 99) -> np.ndarray:
    x1, y1, x2, y2 = box
    out = image.copy()
    out[y1:y2, x1:x2] = textured(image.shape[0], image.shape[1], seed)[y1:y2, x1:x2]
    return out



def tolerance(longer_side: int) -> float:
    """The blur widens a sharp change by up to ~2 blur sigmas (a fraction of the longer side) on each side,
    plus a pixel of rounding at the working scale."""
    return 2 * DiffParams().blur_frac * longer_side + 2


def test_region_box_matches_the_change():
    original = textured(240, 320, 0)
    box = (120, 60, 200, 160)
    regions = change_regions(with_change(original, box), original)
    assert len(regions) == 1
    assert np.allclose(regions[0], box, atol=tolerance(320))


def test_global_colour_shift_and_noise_are_not_changes():
    original = textured(240, 320, 1)
    rng = np.random.default_rng(0)
    shifted = np.clip(original.astype(np.int16) + [12, -8, 5] + rng.integers(-3, 4, original.shape), 0, 255)
    assert change_regions(shifted.astype(np.uint8), original) == []
    regions = change_regions(with_change(shifted.astype(np.uint8), (40, 40, 120, 140)), original)
    assert len(regions) == 1 and np.allclose(regions[0], (40, 40, 120, 140), atol=tolerance(320))


def test_two_faces_and_specks():
    original = textured(240, 320, 2)
    fake = with_change(with_change(original, (20, 30, 90, 120)), (200, 100, 280, 200), seed=5)
    fake[5:7, 300:302] = 255 - fake[5:7, 300:302]  # a speck: removed by the opening
    boxes = sorted(change_regions(fake, original))
    assert len(boxes) == 2
    assert np.allclose(boxes, [(20, 30, 90, 120), (200, 100, 280, 200)], atol=tolerance(320))


def test_patches_of_one_face_join_into_one_box():
    original = textured(240, 320, 7)
    fake = original
    for patch in [(130, 40, 190, 70), (120, 95, 150, 130), (140, 150, 180, 170)]:  # forehead, cheek, chin
        fake = with_change(fake, patch, seed=patch[0])
    regions = change_regions(fake, original)
    assert len(regions) == 1 and np.allclose(regions[0], (120, 40, 190, 170), atol=tolerance(320))


def test_whole_frame_change_is_not_confident():
    assert change_regions(textured(120, 160, 3), textured(120, 160, 4)) == []


def test_working_scale_maps_back_to_input_pixels():
    original = textured(720, 1280, 6)
    box = (600, 200, 760, 400)
    regions = change_regions(with_change(original, box), original, DiffParams(work_side=640))
    assert np.allclose(regions[0], box, atol=tolerance(1280))


def test_grow_mouth_to_face_by_proportions():
    shape = FaceShape()
    face = grow_to_face((140, 200, 180, 220), (640, 480), mouth_only=True)
    width = shape.face_per_mouth * 40
    assert face[2] - face[0] == pytest.approx(width)
    assert face[3] - face[1] == pytest.approx(shape.aspect * width)
    assert (210 - face[1]) / (face[3] - face[1]) == pytest.approx(shape.mouth_height)
    assert grow_to_face((140, 200, 180, 220), (640, 480), mouth_only=False) == (140, 200, 180, 220)


def test_grow_uses_covering_detector_face_and_clips():
    faces = np.array([[0, 0, 50, 50], [120, 150, 200, 240]], dtype=np.float32)
    assert grow_to_face((140, 200, 180, 220), (640, 480), True, faces) == (120, 150, 200, 240)
    # no face covers the region: proportions, clipped to the image
    grown = grow_to_face((0, 10, 40, 30), (100, 100), True, faces[:1] + 500)
    assert grown[0] == 0 and grown[1] == 0 and grown[3] <= 100
