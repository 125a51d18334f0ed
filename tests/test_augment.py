"""Training augmentation: bbox-aware, faces kept whole, reproducible per seed, off for validation."""

from __future__ import annotations

import numpy as np
import pytest

from dftag.detector.models import resize_image
from dftag.training.augment import AugmentConfig, ZoomOut, apply, build_transform, reseed

BOXES = np.array([[20, 10, 60, 70], [90, 30, 130, 90]], dtype=np.float32)
LABELS = np.array([1, 2])


def image(h: int = 100, w: int = 150) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)


def everything_on() -> AugmentConfig:
    return AugmentConfig(zoom_out_p=1, crop_p=1, flip_p=1, affine_p=1, brightness_contrast_p=1, blur_p=1, jpeg_p=1)


def test_validation_pipeline_only_resizes_like_inference():
    out, boxes, labels = apply(build_transform(64, None), image(), BOXES, LABELS)
    assert np.array_equal(out, resize_image(image(), 64))
    np.testing.assert_allclose(boxes, BOXES * [64 / 150, 64 / 100, 64 / 150, 64 / 100], rtol=1e-5)
    assert labels.tolist() == [1, 2]


def test_training_pipeline_keeps_faces_and_labels():
    transform = build_transform(64, everything_on())
    for seed in range(20):
        reseed(transform, seed)
        out, boxes, labels = apply(transform, image(), BOXES, LABELS)
        assert out.shape == (64, 64, 3) and out.dtype == np.uint8
        assert sorted(labels.tolist()) == [1, 2]  # the safe crop and small warps never drop a face
        assert ((boxes >= 0) & (boxes <= 64)).all()
        assert (boxes[:, 2:] > boxes[:, :2]).all()


def test_flip_mirrors_boxes():
    config = AugmentConfig(zoom_out_p=0, crop_p=0, flip_p=1, affine_p=0, brightness_contrast_p=0, blur_p=0,
                           jpeg_p=0)
    out, boxes, _ = apply(build_transform(150, config), image(150, 150), BOXES, LABELS)
    np.testing.assert_allclose(boxes[0], [150 - 60, 10, 150 - 20, 70], atol=1e-4)
    assert np.array_equal(out, resize_image(image(150, 150), 150)[:, ::-1])


def test_same_seed_same_result_and_steps_draw_independently():
    transform = build_transform(64, AugmentConfig(flip_p=0.5, jpeg_p=0.5, zoom_out_p=0.5, crop_p=0.5,
                                                  affine_p=0.5, blur_p=0.5, brightness_contrast_p=0.5))
    runs = []
    for seed in (3, 3, 4):
        reseed(transform, seed)
        runs.append(apply(transform, image(), BOXES, LABELS))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[2][0])
    # albumentations seeds all steps alike; reseed must decorrelate them (flip and jpeg fire independently)
    transform = build_transform(64, AugmentConfig(flip_p=0.5, jpeg_p=0.5, zoom_out_p=0, crop_p=0, affine_p=0,
                                                  blur_p=0, brightness_contrast_p=0))
    transform.save_applied_params = True
    patterns = set()
    for seed in range(40):
        reseed(transform, seed)
        applied = transform(image=image(), bboxes=BOXES, labels=LABELS)["applied_transforms"]
        patterns.add(tuple(sorted(name for name, _ in applied)))
    assert len(patterns) == 4


def test_zoom_out_places_image_on_mean_canvas():
    transform = build_transform(300, AugmentConfig(zoom_out_p=1, zoom_out_max=3.0, crop_p=0, flip_p=0, affine_p=0,
                                                   brightness_contrast_p=0, blur_p=0, jpeg_p=0))
    zoom = transform.transforms[0]
    assert isinstance(zoom, ZoomOut)
    src = np.full((100, 100, 3), 255, np.uint8)
    box = np.array([[0, 0, 100, 100]], np.float32)
    for seed in range(5):
        reseed(transform, seed)
        out, boxes, _ = apply(transform, src, box, np.array([1]))
        x1, y1, x2, y2 = boxes[0]
        assert x2 - x1 == pytest.approx(y2 - y1, rel=0.05) and x2 - x1 <= 300
        inside = out[int(y1) + 2:int(y2) - 2, int(x1) + 2:int(x2) - 2]
        assert (inside == 255).all()  # the image sits exactly where its box says
        assert (out == 255).all(axis=2).mean() < 1.0  # and the rest is canvas


def test_negative_images_pass_through():
    out, boxes, labels = apply(build_transform(48, everything_on()), image(), np.zeros((0, 4)), np.zeros(0))
    assert out.shape == (48, 48, 3) and boxes.shape == (0, 4) and labels.shape == (0,)


def test_config_round_trip_and_unknown_keys():
    config = AugmentConfig(jpeg_quality=(70, 90), blur_p=0.1)
    assert AugmentConfig.from_dict(config.to_dict()) == config
    with pytest.raises(KeyError, match="colour"):
        AugmentConfig.from_dict({"colour": 1})


def test_boxes_follow_the_pixels_they_frame(tmp_path):
    """Two solid-colour 'faces' on a neutral image: after every augmentation, each box still frames its own
    colour (geometric check), and a contact sheet of the results is saved for a visual check."""
    import cv2

    base = np.full((120, 160, 3), 128, np.uint8)
    colours = [(255, 0, 0), (0, 0, 255)]
    for (x1, y1, x2, y2), colour in zip(BOXES.astype(int), colours):
        base[y1:y2, x1:x2] = colour
    transform = build_transform(96, everything_on())
    sheet = []
    for seed in range(12):
        reseed(transform, seed)
        out, boxes, labels = apply(transform, base, BOXES, LABELS)
        drawn = out.copy()
        for box, label in zip(boxes, labels):
            colour = np.array(colours[label - 1])
            # pixels clearly of this face's colour (blur, JPEG and brightness shift them a little)
            mask = np.abs(out.astype(int) - colour).sum(axis=2) < 150
            ys, xs = np.nonzero(mask)
            assert len(xs) > 20, f"seed {seed}: face {label} vanished"
            extent = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
            # the box contains the face's pixels (up to the 3 px blur) and is not much larger than them
            # (rotation enlarges boxes)
            assert (extent[:2] >= box[:2] - 3).all() and (extent[2:] <= box[2:] + 3).all(), (seed, box, extent)
            inter = np.prod(np.clip(np.minimum(box[2:], extent[2:]) - np.maximum(box[:2], extent[:2]), 0, None))
            assert inter / np.prod(box[2:] - box[:2]) > 0.6, (seed, box, extent)
            cv2.rectangle(drawn, tuple(map(int, box[:2])), tuple(map(int, box[2:])), (0, 255, 0), 1)
        sheet.append(drawn)
    path = tmp_path / "augmented_boxes.png"  # look at it: every green box sits on its colour block
    grid = np.vstack([np.hstack(sheet[r * 4:(r + 1) * 4]) for r in range(3)])
    assert cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    assert cv2.imread(str(path)).shape == (3 * 96, 4 * 96, 3)
