"""Checkpoints: tensors and plain data only, weights_only loading, clear errors, calibrated copies."""

from __future__ import annotations

import pytest
import torch

from dftag.core.errors import DftagError
from dftag.detector.checkpoint import FORMAT, load_checkpoint, model_from_checkpoint, save_calibrated, save_checkpoint
from dftag.detector.inference import Detector
from dftag.detector.model_calibration import ModelCalibration
from dftag.detector.models import build_model
from dftag.detector.torch_file import read_state_dict


class NotData:
    """An arbitrary object: checkpoints holding one must not be unpickled."""


def test_round_trip_keeps_weights_and_training_state(tmp_path):
    model = build_model("ssdlite-mnv3", pretrained_backbone=False, image_size=96)
    extra = {"epoch": 4, "optimizer": torch.optim.SGD(model.parameters(), lr=0.1).state_dict(),
             "rng": {"torch": torch.get_rng_state(), "python": [3, 1, 4]}}
    path = tmp_path / "run" / "last.pt"
    save_checkpoint(path, model, temperature=1.5, extra=extra)
    raw = torch.load(path, weights_only=True)  # plain data only
    assert raw["format"] == FORMAT and raw["arch"] == "ssdlite-mnv3" and raw["image_size"] == 96
    assert raw["calibration"] == {"temperature": 1.5} and raw["epoch"] == 4
    assert torch.equal(raw["rng"]["torch"], extra["rng"]["torch"])
    assert not list(tmp_path.joinpath("run").glob(".*"))  # no temporary file left
    ckpt = load_checkpoint(path)
    rebuilt = model_from_checkpoint(ckpt, path)
    assert not rebuilt.training and rebuilt.dftag_arch == "ssdlite-mnv3"
    for name, tensor in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[name], tensor), name


def test_arbitrary_objects_are_never_unpickled(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "version": 1, "payload": NotData()}, path)
    with pytest.raises(DftagError, match="evil.pt: not a readable weights file"):
        load_checkpoint(path)
    with pytest.raises(DftagError, match="not a readable weights file"):
        read_state_dict(path)


@pytest.mark.parametrize("content, message", [
    ([1, 2, 3], "not a dftag detector checkpoint"),
    ({"format": FORMAT, "version": 99}, "version 99 is not supported"),
    ({"format": FORMAT, "version": 1, "arch": "resnet"}, "unknown architecture 'resnet'"),
    ({"format": FORMAT, "version": 1, "arch": "ssdlite-mnv2", "image_size": 320, "model": {},
      "calibration": {"temperature": 0.0}}, "temperature must be a positive number"),
    ({"format": FORMAT, "version": 1, "arch": "ssdlite-mnv2", "image_size": 320, "model": {},
      "calibration": {"temperature": 1.0, "face_threshold": 1.5}}, r"face_threshold must be in \(0, 1\)"),
    ({"format": FORMAT, "version": 1, "arch": "ssdlite-mnv2", "image_size": 320, "model": {},
      "calibration": {"temperature": 1.0, "video_rule": "mean", "video_temperature": 1.0}},
     "video_rule must be one of median, confident, confident-pooled, got 'mean'"),
    ({"format": FORMAT, "version": 1, "arch": "ssdlite-mnv2", "image_size": 320, "model": {},
      "calibration": {"temperature": 1.0, "video_rule": "median"}}, "video_rule and video_temperature together"),
    ({"format": FORMAT, "version": 1, "arch": "ssdlite-mnv2", "image_size": 320, "model": {},
      "calibration": {"temperature": 1.0, "bias": 2}}, r"unknown entries \['bias'\]"),
])
def test_bad_checkpoints_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    torch.save(content, path)
    with pytest.raises(DftagError, match=message):
        load_checkpoint(path)


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(DftagError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00garbage")
    with pytest.raises(DftagError, match="garbage.pt: not a readable weights file"):
        load_checkpoint(garbage)


def test_weights_of_another_layout_are_a_clear_error(tmp_path, tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    ckpt["arch"] = "ssdlite-mnv3"
    with pytest.raises(DftagError, match="weights do not fit ssdlite-mnv3"):
        model_from_checkpoint(ckpt, tiny_checkpoint)


def test_save_calibrated_changes_only_the_temperature(tmp_path, tiny_checkpoint):
    dst = tmp_path / "calibrated.pt"
    save_calibrated(tiny_checkpoint, dst, 2.5)
    before, after = load_checkpoint(tiny_checkpoint), load_checkpoint(dst)
    assert before["calibration"]["temperature"] == 1.0  # source untouched
    assert after["calibration"] == {"temperature": 2.5}
    assert all(torch.equal(after["model"][k], v) for k, v in before["model"].items())
    with pytest.raises(DftagError, match="temperature must be a positive number"):
        save_calibrated(tiny_checkpoint, tmp_path / "x.pt", -1.0)
    assert not (tmp_path / "x.pt").exists()


def test_save_calibrated_keeps_entries_it_is_not_given(tmp_path, tiny_checkpoint):
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    save_calibrated(tiny_checkpoint, first, face_threshold=0.35)
    save_calibrated(first, second, video_rule="confident", video_temperature=2.0)
    assert load_checkpoint(second)["calibration"] == {"temperature": 1.0, "face_threshold": 0.35,
                                                      "video_rule": "confident", "video_temperature": 2.0}
    assert Detector.load(second).calibration == ModelCalibration(1.0, 0.35, "confident", 2.0)
    assert load_checkpoint(first)["calibration"] == {"temperature": 1.0, "face_threshold": 0.35}
