"""MTCNN face boxes and landmarks: shapes with random networks, loading errors, and with the real weights (when
fetched) agreement with facenet-pytorch 2.6.0 and sensible landmarks on drawn and real faces."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from dftag.annotations.video import read_frames
from dftag.core.boxes import box_iou
from dftag.core.errors import DftagError
from dftag.core.io import read_image
from dftag.detector.mtcnn import WEIGHT_FILES, FaceLandmarker, ONet, PNet, RNet
from dftag.detector.weights import MTCNN
from dftag.sample_data.synthetic_faces import Identity, draw_face
from tests.conftest import REALDATA

HAVE_WEIGHTS = all((MTCNN.folder() / name).is_file()
                   and hashlib.sha256((MTCNN.folder() / name).read_bytes()).hexdigest() == digest
                   for name, digest in MTCNN.sha256.items())
needs_weights = pytest.mark.skipif(not HAVE_WEIGHTS, reason="MTCNN weights not fetched (dftag weights fetch mtcnn)")
SAMPLES = REALDATA / "polimi-ispl+icpr2020dfdc"
DFDC_FRAME = SAMPLES / "notebook" / "samples" / "lynaeydofd_fr0.jpg"  # 1920 x 1080, one face
FFPP_VIDEO = SAMPLES / "test/data/ffpp/original_sequences/youtube/c23/videos/634.mp4"  # 1280 x 720


def random_landmarker(**options) -> FaceLandmarker:
    torch.manual_seed(0)
    return FaceLandmarker(PNet(), RNet(), ONet(), **options)


@pytest.fixture(scope="module")
def landmarker() -> FaceLandmarker:
    return FaceLandmarker.load()


def assert_plausible(boxes: np.ndarray, landmarks: np.ndarray) -> None:
    """Landmarks inside their box; eyes above nose above mouth; left eye / mouth corner left of the right."""
    x, y = landmarks[..., 0], landmarks[..., 1]
    assert np.all((x >= boxes[:, :1]) & (x <= boxes[:, 2:3]) & (y >= boxes[:, 1:2]) & (y <= boxes[:, 3:4]))
    assert np.all(x[:, 0] < x[:, 1]) and np.all(x[:, 3] < x[:, 4])
    assert np.all(np.maximum(y[:, 0], y[:, 1]) < y[:, 2]) and np.all(y[:, 2] < np.minimum(y[:, 3], y[:, 4]))


def test_networks_output_shapes():
    reg, prob = PNet()(torch.zeros(2, 3, 30, 40))
    assert reg.shape == (2, 4, 10, 15) and prob.shape == (2, 10, 15)
    reg, prob = RNet()(torch.zeros(5, 3, 24, 24))
    assert reg.shape == (5, 4) and prob.shape == (5,)
    reg, marks, prob = ONet()(torch.zeros(5, 3, 48, 48))
    assert reg.shape == (5, 4) and marks.shape == (5, 10) and prob.shape == (5,)
    assert torch.all((prob > 0) & (prob < 1))


def test_random_networks_give_well_formed_faces():
    """With every threshold at 0 random networks pass boxes through all three stages."""
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    boxes, scores, landmarks = random_landmarker(thresholds=(0, 0, 0)).detect(image)
    n = len(boxes)
    assert n > 0 and boxes.shape == (n, 4) and scores.shape == (n,) and landmarks.shape == (n, 5, 2)
    assert boxes.dtype == scores.dtype == landmarks.dtype == np.float32
    assert np.all(np.diff(scores) <= 0) and np.all(boxes[:, 2:] > boxes[:, :2])


def test_batches_match_single_images():
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(40, 56, 3), (64, 48, 3), (40, 56, 3)]]
    landmarker = random_landmarker(thresholds=(0, 0, 0))
    batched = landmarker.detect_batch(images, batch_size=2)
    for image, faces in zip(images, batched):
        single = landmarker.detect(image)
        for a, b in zip(faces, single):
            np.testing.assert_allclose(a, b, atol=1e-3)


def test_image_below_the_smallest_face_finds_nothing():
    boxes, scores, landmarks = random_landmarker(thresholds=(0, 0, 0)).detect(np.zeros((19, 300, 3), np.uint8))
    assert boxes.shape == (0, 4) and scores.shape == (0,) and landmarks.shape == (0, 5, 2)


def test_rejects_non_uint8_rgb():
    with pytest.raises(ValueError, match="uint8 RGB"):
        random_landmarker().detect(np.zeros((32, 32), np.uint8))
    with pytest.raises(ValueError, match="uint8 RGB"):
        random_landmarker().detect(np.zeros((32, 32, 3), np.float32))


def test_load_from_a_folder_and_from_files(tmp_path):
    torch.manual_seed(0)
    nets = [PNet(), RNet(), ONet()]
    for name, net in zip(WEIGHT_FILES, nets):
        torch.save(net.state_dict(), tmp_path / name)
    image = np.random.default_rng(2).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    expected = FaceLandmarker(*nets, thresholds=(0, 0, 0)).detect(image)
    for weights in (tmp_path, [tmp_path / name for name in WEIGHT_FILES]):
        got = FaceLandmarker.load(weights, thresholds=(0, 0, 0)).detect(image)
        np.testing.assert_array_equal(got.boxes, expected.boxes)


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.unlink(), "no such MTCNN weights file"),
    (lambda p: p.write_bytes(b"garbage"), "not a readable weights file"),
    (lambda p: torch.save(RNet().state_dict(), p), "not MTCNN PNet weights"),
    (lambda p: torch.save([torch.zeros(1)], p), "not a state dict of tensors"),
])
def test_a_bad_weights_file_is_one_error_naming_it(tmp_path, damage, message):
    for name, net in zip(WEIGHT_FILES, (PNet(), RNet(), ONet())):
        torch.save(net.state_dict(), tmp_path / name)
    damage(tmp_path / "pnet.pt")
    with pytest.raises(DftagError, match=message) as err:
        FaceLandmarker.load(tmp_path)
    assert str(tmp_path / "pnet.pt") in str(err.value) and "\n" not in str(err.value)


@needs_weights
def test_real_files_match_the_networks_keys_and_shapes():
    for name, net in zip(WEIGHT_FILES, (PNet(), RNet(), ONet())):
        state = torch.load(MTCNN.folder() / name, map_location="cpu", weights_only=True)
        assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in net.state_dict().items()}


@needs_weights
def test_finds_drawn_faces_with_ordered_landmarks(landmarker):
    """Procedural faces (dftag.sample_data): most are found, on the drawn head, with plausible landmarks."""
    box = np.array([[110, 50, 190, 150]], np.float32)  # the tight box around the drawn head
    found = 0
    for seed in range(6):
        canvas = np.full((240, 320, 3), 120, np.uint8)
        draw_face(canvas, box[0], Identity.random(np.random.default_rng(seed)))
        faces = landmarker.detect(canvas)
        if len(faces.boxes):
            found += 1
            assert len(faces.boxes) == 1 and box_iou(faces.boxes, box)[0, 0] > 0.5
            assert_plausible(faces.boxes, faces.landmarks)
    assert found >= 4


@needs_weights
@pytest.mark.skipif(not DFDC_FRAME.is_file(), reason="needs /work/shared/realdata")
def test_dfdc_frame_agrees_with_facenet_pytorch(landmarker):
    """Boxes, score and landmarks that facenet-pytorch 2.6.0 ``MTCNN.detect`` gives on this frame."""
    boxes, scores, landmarks = landmarker.detect(read_image(DFDC_FRAME))
    np.testing.assert_allclose(boxes, [[846.46, 239.72, 1043.23, 495.51]], atol=0.05)
    np.testing.assert_allclose(scores, [1.0], atol=1e-5)
    np.testing.assert_allclose(landmarks, [[[904.44, 333.35], [991.00, 343.07], [946.26, 372.00],
                                            [906.25, 428.36], [971.84, 435.74]]], atol=0.05)
    assert_plausible(boxes, landmarks)


@needs_weights
@pytest.mark.skipif(not FFPP_VIDEO.is_file(), reason="needs /work/shared/realdata")
def test_ffpp_frame_with_a_face_cut_by_the_border(landmarker):
    """FF++ 634 frame 30: the presenter and a face cut by the left border (its box reaches past x = 0)."""
    image = next(read_frames(FFPP_VIDEO, indices=[30])).image
    boxes, scores, landmarks = landmarker.detect(image)
    np.testing.assert_allclose(boxes, [[550.91, 103.65, 737.75, 360.55], [-40.23, 167.44, 95.85, 338.88]],
                               atol=1.0)
    np.testing.assert_allclose(scores, [0.9992, 0.8149], atol=0.01)
    assert_plausible(boxes, landmarks)
