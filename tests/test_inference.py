"""Detector inference: shapes, coordinates, p_fake, class-agnostic NMS, batching, and ``dftag predict``."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from dftag.annotations.dataset import FAKE, REAL
from dftag.detector.checkpoint import save_calibrated
from dftag.detector.inference import MAX_DETECTIONS, Detector, postprocess
from dftag.detector.models import resize_image

TEMPERATURE = 2.0


@pytest.fixture(scope="module")
def detector(tmp_path_factory, tiny_checkpoint) -> Detector:
    path = tmp_path_factory.mktemp("calibrated") / "calibrated.pt"
    save_calibrated(tiny_checkpoint, path, TEMPERATURE)
    return Detector.load(path)


def random_images(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


def test_load_reads_arch_size_temperature(detector):
    assert detector.arch == "ssdlite-mnv2" and detector.image_size == 64
    assert detector.temperature == TEMPERATURE and detector.model_id.startswith("ssdlite-mnv2@")


def test_predict_fields_and_coordinates(detector):
    images = random_images([(90, 160), (200, 120), (64, 64)])
    results = detector.predict(images, score_threshold=0.0, nms_iou=0.5, batch_size=2)
    assert len(results) == 3
    for image, det in zip(images, results):
        h, w = image.shape[:2]
        n = len(det)
        assert 0 < n <= MAX_DETECTIONS
        assert det.boxes.shape == (n, 4) and det.boxes.dtype == np.float32
        assert det.labels.dtype == np.int64 and set(det.labels) <= {REAL, FAKE}
        for field in (det.scores, det.fake_logit, det.p_fake):
            assert field.shape == (n,) and field.dtype == np.float32
        assert (det.boxes[:, [0, 2]] >= 0).all() and (det.boxes[:, [0, 2]] <= w).all()
        assert (det.boxes[:, [1, 3]] >= 0).all() and (det.boxes[:, [1, 3]] <= h).all()
        assert (det.boxes[:, 2:] > det.boxes[:, :2]).all()
        assert (np.diff(det.scores) <= 0).all()  # best first
        # one box per face: no two kept boxes overlap more than nms_iou, whatever their labels
        iou = box_iou(torch.from_numpy(det.boxes), torch.from_numpy(det.boxes)).fill_diagonal_(0)
        assert float(iou.max()) <= 0.5


def test_boxes_labels_scores_and_p_fake_follow_the_network(detector):
    """The best detection is the network's best anchor, mapped from input to original pixels."""
    image = random_images([(120, 200)], seed=3)[0]
    det = detector.predict([image], score_threshold=0.0)[0]
    boxes, logits = detector.forward(resize_image(image, detector.image_size)[None])
    probs = logits[0].softmax(-1)
    best = int(probs[:, 1:].max(-1).values.argmax())
    scale = np.array([200, 120, 200, 120], np.float32) / detector.image_size
    expected_box = np.clip(boxes[0, best].numpy(), 0, detector.image_size) * scale
    np.testing.assert_allclose(det.boxes[0], expected_box, atol=1e-3)
    assert det.labels[0] == (FAKE if probs[best, 2] > probs[best, 1] else REAL)
    assert det.scores[0] == pytest.approx(float(probs[best, det.labels[0]]), abs=1e-6)
    fake_logit = float(logits[0, best, 2] - logits[0, best, 1])
    assert det.fake_logit[0] == pytest.approx(fake_logit, abs=1e-5)
    np.testing.assert_allclose(det.p_fake, 1 / (1 + np.exp(-det.fake_logit / TEMPERATURE)), rtol=1e-5)


def test_batch_size_does_not_change_results(detector):
    images = random_images([(80, 100), (100, 80), (50, 70)], seed=1)
    one = detector.predict(images, score_threshold=0.0, batch_size=1)
    three = detector.predict(images, score_threshold=0.0, batch_size=3)
    for a, b in zip(one, three):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        np.testing.assert_allclose(a.p_fake, b.p_fake, atol=1e-5)


def test_threshold_filters(detector):
    images = random_images([(64, 64)])
    assert len(detector.predict(images, score_threshold=1.01)[0]) == 0
    everything = detector.predict(images, score_threshold=0.0)[0]
    cut = float(np.median(everything.scores))
    assert (detector.predict(images, score_threshold=cut)[0].scores >= cut).all()


def test_postprocess_suppresses_across_labels():
    """A real-labelled and a fake-labelled box on the same face leave one box; a separate face stays."""
    boxes = torch.tensor([[[10.0, 10, 50, 60], [12, 11, 51, 60], [70, 70, 90, 95], [0, 0, 5, 5]]])
    logits = torch.tensor([[[0.0, 3, 1], [0, 1, 2.5], [0, 0.5, 2], [5, 0, 0]]])  # real, fake, fake, background
    det = postprocess(boxes, logits, [(200, 100)], 100, score_threshold=0.3, nms_iou=0.5, temperature=1.0)[0]
    assert det.labels.tolist() == [REAL, FAKE]
    np.testing.assert_allclose(det.boxes, [[10, 20, 50, 120], [70, 140, 90, 190]])  # y scaled by 200/100
    np.testing.assert_allclose(det.fake_logit, [-2.0, 1.5])
    np.testing.assert_allclose(det.scores, torch.tensor([[0, 3, 1], [0, 0.5, 2]]).softmax(-1).max(-1).values,
                               rtol=1e-6)


def test_by_face_keeps_a_face_whose_labels_split_its_probability():
    """p(real) = p(fake) = 0.3: no label reaches 0.35, the face (0.6) does; tracking asks by face."""
    boxes = torch.tensor([[[10.0, 10, 50, 60]]])
    logits = torch.log(torch.tensor([[[0.4, 0.3, 0.3]]]))
    kwargs = dict(score_threshold=0.35, nms_iou=0.5, temperature=1.0)
    assert len(postprocess(boxes, logits, [(100, 100)], 100, **kwargs)[0]) == 0
    det = postprocess(boxes, logits, [(100, 100)], 100, by_face=True, **kwargs)[0]
    np.testing.assert_allclose(det.face_scores, [0.6], rtol=1e-6)
    np.testing.assert_allclose(det.scores, [0.3], rtol=1e-6)  # still the label's probability


def test_bad_images_are_rejected(detector):
    with pytest.raises(ValueError, match="uint8 RGB"):
        detector.predict([np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError, match="uint8 RGB"):
        detector.predict([np.zeros((10, 10, 3), np.float32)])


def write_images(folder, sizes):
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, image in enumerate(random_images(sizes, seed=5)):
        names.append(f"img{i}.png")
        cv2.imwrite(str(folder / names[-1]), image)
    return names


def test_cli_predict_folder(tmp_path, dftag, tiny_checkpoint):
    names = write_images(tmp_path / "imgs", [(60, 80), (90, 70)])
    out = tmp_path / "preds.json"
    code, stdout, err = dftag("predict", "--model", tiny_checkpoint, tmp_path / "imgs", "--out", out,
                              "--score-threshold", "0", "--batch-size", "2")
    assert code == 0, err
    results = json.loads(out.read_text())
    assert {r["image_id"] for r in results} == {1, 2}
    for r in results:
        assert set(r) == {"image_id", "category_id", "bbox", "score", "p_fake", "file_name"}
        assert r["file_name"].endswith(names[r["image_id"] - 1])
        x, y, w, h = r["bbox"]
        assert w > 0 and h > 0 and 0 <= r["p_fake"] <= 1 and r["category_id"] in (REAL, FAKE)


def test_cli_predict_with_gt_uses_its_ids(tmp_path, dftag, tiny_checkpoint):
    names = write_images(tmp_path / "ds" / "images", [(60, 80), (90, 70)])
    gt = {"images": [{"id": 7, "file_name": names[1], "width": 70, "height": 90},
                     {"id": 9, "file_name": names[0], "width": 80, "height": 60}],
          "annotations": [], "categories": [{"id": 1, "name": "real"}, {"id": 2, "name": "fake"}]}
    (tmp_path / "ds" / "test.json").write_text(json.dumps(gt))
    out = tmp_path / "preds.json"
    code, _, err = dftag("predict", "--model", tiny_checkpoint, "--gt", tmp_path / "ds" / "test.json",
                         "--out", out, "--score-threshold", "0")
    assert code == 0, err
    by_id = {r["image_id"]: r["file_name"] for r in json.loads(out.read_text())}
    assert by_id == {7: names[1], 9: names[0]}


def test_cli_predict_bad_input_writes_nothing(tmp_path, dftag, tiny_checkpoint):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "preds.json"
    code, _, err = dftag("predict", "--model", tiny_checkpoint, tmp_path / "imgs", "--out", out)
    assert code == 1 and "broken.png" in err and err.count("\n") == 1
    assert not out.exists()
    code, _, err = dftag("predict", "--model", tmp_path / "missing.pt", tmp_path / "imgs", "--out", out)
    assert code == 1 and "missing.pt" in err and not out.exists()


def test_wrapping_a_model_in_training_leaves_its_weight_layout_alone():
    """Validation during training wraps the model being trained: its weights must keep their layout (a resumed
    run is bit-exact only if the arithmetic does not change); a loaded detector may hold them channels-last."""
    from dftag.detector.models import build_model

    model = build_model("ssdlite-mnv2", pretrained_backbone=False, image_size=64)
    Detector.from_model(model)
    assert all(p.is_contiguous() for p in model.parameters())
