"""The two-stage detector: SSD face boxes, then a crop classifier on the original-resolution frame; one
checkpoint holding both, loaded with weights_only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dftag.annotations.dataset import FAKE, REAL
from dftag.core.errors import DftagError
from dftag.detector.checkpoint import FORMAT, load_checkpoint, save_calibrated
from dftag.detector.classifier import ClassifierSpec, FaceClassifier
from dftag.detector.face_crop import crop_faces
from dftag.detector.inference import Detector
from tests.conftest import with_batch_statistics


@pytest.fixture(scope="module")
def detectors(tiny_checkpoint, tiny_two_stage_checkpoint):
    return Detector.load(tiny_checkpoint), Detector.load(tiny_two_stage_checkpoint)


def images(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(120, 160), (200, 90), (64, 64)]]


def test_checkpoint_holds_both_stages_and_loads_weights_only(tiny_two_stage_checkpoint, detectors):
    raw = torch.load(tiny_two_stage_checkpoint, weights_only=True)
    assert raw["format"] == FORMAT and raw["classifier"]["arch"] == "crop-mnv2"
    assert raw["classifier"]["crop_size"] == 64 and all(isinstance(v, torch.Tensor)
                                                        for v in raw["classifier"]["model"].values())
    single, two = detectors
    assert not single.two_stage and two.two_stage
    assert two.model_id.startswith("ssdlite-mnv2+crop-mnv2@")
    for name, tensor in raw["classifier"]["model"].items():
        assert torch.equal(two.classifier.state_dict()[name], tensor), name


def test_calibrated_copy_keeps_the_classifier(tiny_two_stage_checkpoint, tmp_path):
    out = tmp_path / "calibrated.pt"
    save_calibrated(tiny_two_stage_checkpoint, out, 2.0)
    ckpt = load_checkpoint(out)
    assert ckpt["calibration"]["temperature"] == 2.0 and ckpt["classifier"]["crop_size"] == 64


def test_faces_of_the_first_stage_are_tagged_from_crops_of_the_original(detectors):
    single, two = detectors
    pictures = images()
    found = two.predict(pictures, score_threshold=0.0)
    boxes_only = single.predict(pictures, score_threshold=0.0)
    for image, dets, ssd in zip(pictures, found, boxes_only):
        assert len(dets) > 0
        # the classifier sees crops of the original image around the SSD's boxes
        crops = crop_faces(image, dets.boxes, 64, 0.3).images
        with torch.inference_mode():
            expected = two.classifier(torch.from_numpy(crops)).numpy()
        np.testing.assert_allclose(dets.fake_logit, expected, atol=1e-5)
        np.testing.assert_array_equal(dets.labels, np.where(expected >= 0, FAKE, REAL))
        np.testing.assert_allclose(dets.p_fake, 1 / (1 + np.exp(-expected)), atol=1e-6)
        assert (dets.scores <= 1).all() and (dets.scores > 0).all()
        assert dets.boxes.shape == (len(dets), 4)
        assert (dets.boxes[:, 2] <= image.shape[1]).all() and (dets.boxes[:, 3] <= image.shape[0]).all()
        assert len(ssd) > 0


def test_first_stage_threshold_is_the_face_probability_and_at_most_max_faces_are_tagged(detectors):
    from dftag.detector.inference import MAX_FACES

    single, two = detectors
    assert len(two.predict(images(), score_threshold=1.01)[0]) == 0
    many = single.predict(images(), score_threshold=0.0)
    tagged = two.predict(images(), score_threshold=0.0)
    assert max(map(len, many)) > MAX_FACES and all(len(t) <= MAX_FACES for t in tagged)


def test_temperature_scales_p_fake_only(tiny_two_stage_checkpoint, tmp_path):
    out = tmp_path / "t.pt"
    save_calibrated(tiny_two_stage_checkpoint, out, 3.0)
    plain, hot = Detector.load(tiny_two_stage_checkpoint), Detector.load(out)
    a, b = plain.predict(images(1), score_threshold=0.0)[0], hot.predict(images(1), score_threshold=0.0)[0]
    np.testing.assert_allclose(a.fake_logit, b.fake_logit, atol=1e-6)
    np.testing.assert_allclose(b.p_fake, 1 / (1 + np.exp(-a.fake_logit / 3.0)), atol=1e-6)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_bad_classifier_entries_are_clear_errors(tiny_checkpoint, tmp_path):
    ckpt = load_checkpoint(tiny_checkpoint)
    for entry, message in [({"arch": "resnet", "crop_size": 64, "margin": 0.3, "model": {}}, "unknown classifier"),
                           ({"arch": "crop-mnv2", "crop_size": 8, "margin": 0.3, "model": {}}, "crop_size"),
                           ({"arch": "crop-mnv2", "crop_size": 64, "margin": 0.3}, "lacks its weights"),
                           ({"arch": "crop-mnv2", "crop_size": 64, "margin": 0.3, "flip_average": "yes",
                             "model": {}}, "flip_average must be true or false"),
                           ({"arch": "crop-mnv2", "crop_size": 64, "margin": 0.3,
                             "model": {"x": torch.zeros(1)}}, "do not fit")]:
        path = tmp_path / "bad.pt"
        torch.save({**ckpt, "classifier": entry}, path)
        with pytest.raises(DftagError, match=message):
            Detector.load(path)


def test_classifier_output_is_one_logit_per_crop():
    model = FaceClassifier(ClassifierSpec(crop_size=64), pretrained_backbone=False).eval()
    with torch.inference_mode():
        out = model(torch.zeros((3, 64, 64, 3), dtype=torch.uint8))
    assert out.shape == (3,) and out.dtype == torch.float32


def test_flip_average_is_the_mean_over_each_crop_and_its_mirror_in_eval_mode_only():
    torch.manual_seed(0)
    plain = with_batch_statistics(FaceClassifier(ClassifierSpec(crop_size=64), pretrained_backbone=False))
    flip = FaceClassifier(ClassifierSpec(crop_size=64, flip_average=True), pretrained_backbone=False)
    flip.load_state_dict(plain.state_dict())
    flip.eval()
    crops = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8))
    mirrored = crops.flip(2)  # (N, H, W, 3): the width axis
    with torch.inference_mode():
        alone, mirror, averaged = plain(crops), plain(mirrored), flip(crops)
        torch.testing.assert_close(averaged, (alone + mirror) / 2, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(flip(mirrored), averaged, atol=1e-5, rtol=1e-5)  # a crop and its mirror agree
        assert (alone - mirror).abs().max() > 1e-2  # ... which the plain classifier does not: the test can fail
    plain.train(), flip.train()  # training sees each crop alone
    for model in (plain, flip):
        torch.manual_seed(1)  # the same dropout
        model.zero_grad()
        model(crops).sum().backward()
    torch.testing.assert_close(flip.head[1].weight.grad, plain.head[1].weight.grad)


def test_flip_average_survives_the_checkpoint_and_is_what_predict_uses(tiny_flip_checkpoints):
    plain, flip = Detector.load(tiny_flip_checkpoints[False]), Detector.load(tiny_flip_checkpoints[True])
    assert flip.classifier_spec.flip_average and not plain.classifier_spec.flip_average
    assert torch.load(tiny_flip_checkpoints[True], weights_only=True)["classifier"]["flip_average"] is True
    scenes = images()
    found = 0
    for a, b, image in zip(plain.predict(scenes, score_threshold=0.0), flip.predict(scenes, score_threshold=0.0),
                           scenes):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        crops = crop_faces(image, a.boxes, 64, 0.3).images
        mirror = plain.classify(crops[:, :, ::-1].copy())
        assert np.abs(mirror - a.fake_logit).max() > 1e-3  # the plain classifier tells a crop from its mirror
        np.testing.assert_allclose(b.fake_logit, (a.fake_logit + mirror) / 2, atol=1e-5)
        found += len(a)
    assert found > 0


def test_evaluate_runs_a_two_stage_model_on_a_split(tiny_two_stage_checkpoint, face_dataset, dftag, tmp_path):
    data = face_dataset(n_train=3, n_val=3)
    code, _, err = dftag("evaluate", "--model", tiny_two_stage_checkpoint, "--data", data, "--split", "val",
                         "--out", tmp_path / "rep")
    assert code == 0, err
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert metrics["source"]["model_id"].startswith("ssdlite-mnv2+crop-mnv2@")
