"""Self-blended fakes: relabelled, changed only inside the face box, reproducible."""

from __future__ import annotations

import numpy as np

from dftag.annotations.dataset import FAKE, REAL
from dftag.training.self_blend import SelfBlendConfig, blend_face, self_blend

BOXES = np.array([[10.4, 12.0, 70.0, 80.6], [80.0, 20.0, 140.0, 90.0]], dtype=np.float32)


def image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 255, (100, 150, 3), dtype=np.uint8)


def test_relabels_and_changes_only_the_face_region():
    src = image()
    out, labels = self_blend(src, BOXES, np.array([REAL, FAKE]), 1.0, np.random.default_rng(0))
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
    out, labels = self_blend(src, BOXES, np.array([REAL, REAL]), 0.0, np.random.default_rng(0))
    assert out is src and labels.tolist() == [REAL, REAL]


def test_probability_is_per_face():
    rng = np.random.default_rng(0)
    flips = [self_blend(image(), BOXES[:1], np.array([REAL]), 0.3, rng)[1][0] == FAKE for _ in range(300)]
    assert 0.2 < np.mean(flips) < 0.4


def test_tiny_faces_are_left_alone():
    src = image()
    out, labels = self_blend(src, np.array([[5, 5, 9, 30]], np.float32), np.array([REAL]), 1.0,
                             np.random.default_rng(0), SelfBlendConfig(min_size=8))
    assert labels.tolist() == [REAL] and np.array_equal(out, src)


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
