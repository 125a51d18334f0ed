"""Face crop geometry: margins, frame borders (black fill), any orientation, exact pixels, point mapping."""

from __future__ import annotations

import numpy as np
import pytest

from dftag.detector.face_crop import crop_boxes, crop_faces, crop_transforms, invert, map_boxes, map_points


def frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 256, (height, width, 3), dtype=np.uint8)  # never black


def test_margin_arithmetic_by_hand():
    # w 40, h 80: side = 80 * (1 + 2 * 0.25) = 120 around the centre (30, 60)
    np.testing.assert_allclose(crop_boxes([[10, 20, 50, 100]], margin=0.25), [[-30, 0, 90, 120]])
    np.testing.assert_allclose(crop_boxes([[10, 10, 20, 40]], margin=0.0), [[0, 10, 30, 40]])  # wide side = h
    np.testing.assert_allclose(crop_boxes([[0, 0, 100, 10]], margin=0.3), [[-30, -75, 130, 85]])  # side = 1.6 w
    np.testing.assert_allclose(crop_boxes([[5, 5, 5, 5]]), [[4.5, 4.5, 5.5, 5.5]])  # degenerate: 1 px
    np.testing.assert_allclose(crop_boxes([[0, 0, 4, 4]]), [[-1.2, -1.2, 5.2, 5.2]])  # tiny, default 0.3
    assert crop_boxes(np.zeros((0, 4))).shape == (0, 4)
    with pytest.raises(ValueError):
        crop_boxes([[0, 0, 10, 10]], margin=-0.1)
    with pytest.raises(ValueError):
        crop_boxes([[10, 0, 0, 10]])
    with pytest.raises(ValueError):
        crop_boxes([[0, 0, np.nan, 10]])


@pytest.mark.parametrize("shape", [(48, 64), (64, 48)])  # landscape and portrait
def test_integer_aligned_crop_of_its_own_size_is_an_exact_copy(shape):
    image = frame(*shape)
    crops = crop_faces(image, [[10, 12, 30, 32], [5, 20, 15, 40]], size=20, margin=0.0)
    assert crops.images.shape == (2, 20, 20, 3) and crops.images.dtype == np.uint8
    assert np.array_equal(crops.images[0], image[12:32, 10:30])
    assert np.array_equal(crops.images[1], image[20:40, 0:20])  # square of side 20 centred on (10, 30)
    np.testing.assert_allclose(crops.boxes, [[10, 12, 30, 32], [0, 20, 20, 40]])


@pytest.mark.parametrize("box", [[-10, -6, 10, 14], [30, 50, 50, 70], [-25, 10, -5, 30], [100, 100, 120, 120]])
def test_outside_the_frame_is_black_inside_is_the_frame(box):
    image = frame(60, 40)  # portrait: 40 wide, 60 tall
    crop = crop_faces(image, [box], size=20, margin=0.0).images[0]
    x1, y1 = box[0], box[1]
    for v in range(20):
        for u in range(20):
            y, x = y1 + v, x1 + u
            expected = image[y, x] if 0 <= y < 60 and 0 <= x < 40 else 0
            assert np.array_equal(crop[v, u], np.broadcast_to(expected, (3,))), (v, u)


def test_scaled_crops_sample_at_pixel_centres():
    # a horizontal ramp, value = 2 * column: bilinear sampling of a linear ramp is exact
    height, width = 90, 60
    image = np.repeat((2 * np.arange(width, dtype=np.uint8))[None, :, None], height, 0).repeat(3, 2)
    box = [10.0, 30.0, 40.0, 50.0]  # side 30 with margin 0 (non-square: centred on y = 40)
    crops = crop_faces(image, [box], size=60, margin=0.0)
    np.testing.assert_allclose(crops.boxes, [[10, 25, 40, 55]])
    # crop pixel u covers [u, u+1) in crop pixels -> frame x = 10 + (u + 0.5) / 2, pixel index x - 0.5
    expected = 2 * (10 + (np.arange(60) + 0.5) / 2 - 0.5)
    row = crops.images[0, 30, :, 0].astype(float)
    inside = (expected >= 0) & (expected <= 2 * (width - 1))
    np.testing.assert_allclose(row[inside], expected[inside], atol=0.51)


def test_points_and_boxes_map_into_the_crop_and_back():
    boxes = np.array([[100.0, 50.0, 180.0, 150.0], [0.0, 0.0, 10.0, 30.0]])
    squares = crop_boxes(boxes, margin=0.3)
    transforms = crop_transforms(squares, 256)
    # the face box sits centred, its longer side spanning 1 / 1.6 of the crop
    face = map_boxes(boxes, transforms)
    np.testing.assert_allclose((face[:, :2] + face[:, 2:]) / 2, 128.0)
    np.testing.assert_allclose(np.maximum(face[:, 2] - face[:, 0], face[:, 3] - face[:, 1]), 256 / 1.6)
    np.testing.assert_allclose(map_boxes(squares, transforms), [[0, 0, 256, 256]] * 2, atol=1e-9)
    # five landmarks per face, frame -> crop -> frame
    points = np.random.default_rng(0).uniform(0, 200, (2, 5, 2))
    in_crop = map_points(points, transforms)
    np.testing.assert_allclose(map_points(in_crop, invert(transforms)), points, atol=1e-9)
    np.testing.assert_allclose(in_crop[1], (points[1] - squares[1, :2]) * 256 / (squares[1, 2] - squares[1, 0]))
    # crop pixels of a landmark carry the frame pixel it came from (integer-aligned, same size)
    image = frame(40, 30)
    crops = crop_faces(image, [[5, 10, 25, 30]], size=20, margin=0.0)
    u, v = map_points([[[12.5, 21.5]]], crops.transforms)[0, 0]
    assert np.array_equal(crops.images[0, int(v), int(u)], image[21, 12])


def test_no_boxes_give_no_crops():
    crops = crop_faces(frame(10, 10), np.zeros((0, 4)), size=32)
    assert crops.images.shape == (0, 32, 32, 3) and crops.boxes.shape == (0, 4) and crops.transforms.shape == (0, 2, 3)
