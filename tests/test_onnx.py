"""ONNX export (``dftag export``) and :class:`OnnxDetector`: same boxes and probabilities as torch."""

from __future__ import annotations

import json

import cv2
import numpy as np
import onnx
import pytest

from dftag.detector.checkpoint import save_calibrated
from dftag.detector.export import INPUT_NAME, OnnxDetector, load_detector
from dftag.detector.inference import Detector
from dftag.sample_data.synthetic_faces import Identity, draw_face

TEMPERATURE = 1.7


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_two_stage_checkpoint):
    """(checkpoint, onnx path): one export of the two-stage model for the module, through the command line
    (the SSD graph the single-stage model exports too, and the crop classifier's graph beside it)."""
    from dftag.tools.cli import main

    folder = tmp_path_factory.mktemp("onnx")
    ckpt = folder / "calibrated.pt"
    save_calibrated(tiny_two_stage_checkpoint, ckpt, TEMPERATURE, face_threshold=0.4, video_rule="confident",
                    video_temperature=2.5)
    out = folder / "model.onnx"
    assert main(["export", "--model", str(ckpt), "--onnx", str(out)]) == 0
    return ckpt, out


def face_images(seed: int = 0) -> list[np.ndarray]:
    """Generated scenes with one to three drawn faces, at several sizes."""
    rng = np.random.default_rng(seed)
    images = []
    for h, w in [(120, 160), (90, 90), (200, 110)]:
        image = np.full((h, w, 3), rng.integers(40, 200, 3), dtype=np.uint8)
        for _ in range(rng.integers(1, 4)):
            side = rng.uniform(0.25, 0.5) * min(h, w)
            x, y = rng.uniform(0, w - side), rng.uniform(0, h - side * 1.2)
            draw_face(image, [x, y, x + side, y + side * 1.2], Identity.random(rng), rng, fake=bool(rng.random() < 0.5))
        images.append(image)
    return images + [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)]


def test_export_has_dynamic_batch_and_metadata(exported):
    _, path = exported
    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert model.graph.input[0].name == INPUT_NAME and not dims[0].HasField("dim_value")  # symbolic batch
    assert [d.dim_value for d in dims[1:]] == [64, 64, 3]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["arch"] == "ssdlite-mnv2"
    assert json.loads(meta["calibration"]) == {"temperature": TEMPERATURE, "face_threshold": 0.4,
                                               "video_rule": "confident", "video_temperature": 2.5}


@pytest.mark.parametrize("batch_size", [1, 3])
def test_onnx_runtime_matches_torch(exported, batch_size):
    ckpt, path = exported
    torch_det, onnx_det = Detector.load(ckpt), OnnxDetector.load(path)
    assert onnx_det.model_id == torch_det.model_id and onnx_det.temperature == TEMPERATURE
    assert onnx_det.calibration == torch_det.calibration
    images = face_images()
    expected = torch_det.predict(images, score_threshold=0.0, batch_size=batch_size)
    got = onnx_det.predict(images, score_threshold=0.0, batch_size=batch_size)
    for a, b in zip(expected, got):
        assert len(a) == len(b) > 0
        assert np.abs(a.boxes - b.boxes).max() < 1e-2  # pixels
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
        np.testing.assert_allclose(a.p_fake, b.p_fake, atol=1e-4)


def test_predict_command_runs_the_onnx_model(exported, tmp_path, dftag):
    _, path = exported
    (tmp_path / "imgs").mkdir()
    for i, image in enumerate(face_images(seed=1)):
        cv2.imwrite(str(tmp_path / "imgs" / f"{i}.png"), image[..., ::-1])
    out = tmp_path / "preds.json"
    code, _, err = dftag("predict", "--model", path, tmp_path / "imgs", "--out", out, "--score-threshold", "0")
    assert code == 0, err
    assert {r["image_id"] for r in json.loads(out.read_text())} == {1, 2, 3, 4}
    assert isinstance(load_detector(path), OnnxDetector)


def test_score_and_annotate_run_the_onnx_model(exported, make_video, tmp_path, dftag):
    ckpt, path = exported
    clip = make_video("clip.mp4", size=(96, 64), fps=10, seconds=0.5)
    rows = {}
    for model in (ckpt, path):
        out = tmp_path / f"{model.suffix[1:]}.csv"
        code, _, err = dftag("score", clip, "--model", model, "--frames", 3, "--out", out)
        assert code == 0, err
        rows[model.suffix] = out.read_text().splitlines()
    assert rows[".onnx"][0] == "filename,label" and len(rows[".onnx"]) == 2
    code, _, err = dftag("annotate", clip, "--model", path, "--out", tmp_path / "annotated")
    assert code == 0, err
    assert (tmp_path / "annotated" / "clip.mp4").is_file()


def test_bad_onnx_files_are_clear_errors(tmp_path, dftag):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    image = tmp_path / "imgs" / "face.png"
    image.parent.mkdir()
    cv2.imwrite(str(image), face_images()[0])
    code, _, err = dftag("predict", "--model", bad, image, "--out", tmp_path / "p.json")
    assert code == 1 and "bad.onnx: not a readable ONNX model" in err and err.count("\n") == 1
    code, _, err = dftag("export", "--model", tmp_path / "none.pt", "--onnx", tmp_path / "m.onnx")
    assert code == 1 and "none.pt: no such checkpoint file" in err
    assert not (tmp_path / "m.onnx").exists()


def test_two_stage_export_writes_both_graphs_and_matches_torch(exported):
    from dftag.detector.export import CLASSIFIER_INPUT, classifier_path

    ckpt, path = exported
    classifier = onnx.load(str(classifier_path(path)))
    dims = classifier.graph.input[0].type.tensor_type.shape.dim
    assert classifier.graph.input[0].name == CLASSIFIER_INPUT and [d.dim_value for d in dims[1:]] == [64, 64, 3]
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["classifier"] == "model.classifier.onnx" and meta["crop_size"] == "64"
    torch_det, onnx_det = Detector.load(ckpt), OnnxDetector.load(path)
    assert onnx_det.two_stage and onnx_det.model_id == torch_det.model_id
    images = face_images()
    for a, b in zip(torch_det.predict(images, score_threshold=0.0), onnx_det.predict(images, score_threshold=0.0)):
        assert len(a) == len(b) > 0
        assert np.abs(a.boxes - b.boxes).max() < 1e-2
        np.testing.assert_allclose(a.fake_logit, b.fake_logit, atol=1e-3)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.p_fake, b.p_fake, atol=1e-4)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


def test_a_flip_averaging_classifier_exports_the_flip_inside_its_graph(tiny_flip_checkpoints, tmp_path):
    from dftag.detector.export import export_onnx

    for flip, checkpoint in tiny_flip_checkpoints.items():
        out = tmp_path / f"{flip}.onnx"
        assert export_onnx(checkpoint, out)["flip_average"] == str(flip).lower()
        torch_det, onnx_det = Detector.load(checkpoint), OnnxDetector.load(out)
        assert onnx_det.classifier_spec == torch_det.classifier_spec
        crops = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
        logits, mirror = onnx_det.classify(crops), onnx_det.classify(crops[:, :, ::-1].copy())
        np.testing.assert_allclose(logits, torch_det.classify(crops), atol=1e-4)
        # a flip-averaging graph gives a crop and its mirror one logit; the plain one tells them apart
        assert (np.abs(mirror - logits).max() < 1e-4) == flip


def test_two_stage_export_without_its_classifier_file_is_a_clear_error(exported, tmp_path):
    from dftag.core.errors import DftagError

    _, path = exported
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(path.read_bytes())
    with pytest.raises(DftagError, match="model.classifier.onnx: no such ONNX file"):
        OnnxDetector.load(lonely)
