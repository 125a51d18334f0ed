"""Changed regions of a frame pair and their growth to face boxes (dftag.annotations.pair_diff), and the labels of
one frame pair (dftag.annotations.autolabel.label_frame_pair), on numpy frames."""

from __future__ import annotations

import numpy as np
import pytest

from dftag.annotations.autolabel import FramePair, label_frame_pair
from dftag.annotations.pair_diff import (
    MTCNN_WHOLE_FACE,
    BoxExpansion,
    DiffParams,
    FaceShape,
    FrameDiff,
    change_regions,
    grow_to_face,
)


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
    # Change "whole" keeps the region itself (what mouth_only=False gave before face-swap regions grew); a face
    # swap's region (the inner face) grows to the whole face by default.
    assert grow_to_face((140, 200, 180, 220), (640, 480), "whole") == (140, 200, 180, 220)
    grown = grow_to_face((140, 200, 180, 220), (640, 480), mouth_only=False)
    size = np.sqrt(40 * 20)
    width = shape.face_per_change * size
    centre_y = 210 - shape.centre_above_change * size
    assert grown == pytest.approx((160 - width / 2, centre_y - shape.aspect * width / 2,
                                   160 + width / 2, centre_y + shape.aspect * width / 2))


def test_grow_uses_covering_detector_face_and_clips():
    faces = np.array([[0, 0, 50, 50], [120, 150, 200, 240]], dtype=np.float32)
    assert grow_to_face((140, 200, 180, 220), (640, 480), True, faces) == (120, 150, 200, 240)
    # no face covers the region: proportions, clipped to the image
    grown = grow_to_face((0, 10, 40, 30), (100, 100), True, faces[:1] + 500)
    assert grown[0] == 0 and grown[1] == 0 and grown[3] <= 100


def test_changed_fraction_of_boxes():
    original = textured(240, 320, 8)
    diff = FrameDiff(with_change(original, (100, 60, 180, 160)), original)
    assert diff.changed_fraction((110, 70, 170, 150)) > 0.9
    assert diff.changed_fraction((200, 20, 300, 120)) == 0.0
    assert diff.changed_fraction((400, 300, 500, 400)) == 0.0  # outside the frame
    assert diff.regions() == change_regions(with_change(original, (100, 60, 180, 160)), original)


def test_box_expansion_keeps_scores():
    grown = MTCNN_WHOLE_FACE(np.array([[100, 100, 200, 200, 0.97]]))
    w, h, shift = MTCNN_WHOLE_FACE.width, MTCNN_WHOLE_FACE.height, MTCNN_WHOLE_FACE.shift_y
    cy = 150 + shift * 100
    assert grown[0].tolist() == pytest.approx([150 - 50 * w, cy - 50 * h, 150 + 50 * w, cy + 50 * h, 0.97])
    assert BoxExpansion()(np.zeros((0, 5))).shape == (0, 5)


def test_frame_pair_labels_fake_unswapped_and_changed_faces():
    """A large change (a region, covered by a finder face), a small one (dropped as a region: under keep_frac of
    the largest, but its finder face changed) and an unchanged finder face (an unswapped person)."""
    original = textured(240, 320, 9)
    fake = with_change(with_change(original, (40, 40, 140, 140)), (250, 150, 290, 190), seed=3)
    faces = np.array([[30, 20, 150, 150, 0.99], [248, 148, 292, 192, 0.99], [180, 20, 240, 90, 0.99],
                      [180, 150, 230, 210, 0.5]])  # the last is not confident: not boxed
    frames = FramePair(0, 0.0, fake, original)
    labels = label_frame_pair(frames, "face", lambda images: [faces, faces[:0]])
    assert labels.fake == [(30, 20, 150, 150), (248, 148, 292, 192)]
    assert labels.real == [(180, 20, 240, 90)]
    assert (labels.found, labels.grown, labels.by_change, labels.ambiguous) == (1, 0, 1, 0)
    without = label_frame_pair(frames, "face")  # no finder: the large region grown by proportions only
    assert without.real == [] and without.grown == 1 and len(without.fake) == 1
    assert without.fake[0] == pytest.approx(grow_to_face(change_regions(fake, original)[0], (320, 240)))


def test_changed_regions_on_no_found_face_are_left_unboxed_unless_grown():
    """Re-encoding noise, a hand or a logo changes pixels where the face finder sees no face: with a finder such
    a region is no face and gets no box (counted); ``grow_faceless`` boxes it by face proportions as before."""
    original = textured(240, 320, 9)
    fake = with_change(with_change(original, (40, 40, 140, 140)), (200, 150, 300, 230), seed=3)
    face = np.array([[30, 20, 150, 150, 0.99]])  # the finder sees the face of the first change only
    frames = FramePair(0, 0.0, fake, original)
    labels = label_frame_pair(frames, "face", lambda images: [face, face[:0]])
    assert labels.fake == [(30, 20, 150, 150)] and (labels.found, labels.grown, labels.faceless) == (1, 0, 1)
    grown = label_frame_pair(frames, "face", lambda images: [face, face[:0]], grow_faceless=True)
    assert len(grown.fake) == 2 and (grown.found, grown.grown, grown.faceless) == (1, 1, 0)
    blind = label_frame_pair(frames, "face", lambda images: [face[:0], face[:0]])
    assert blind.fake == [] and blind.faceless == 2  # no fake box: autolabel skips the frame
