"""The crop-classifier stage of a two-stage run: trains on balanced pairs, validates on every val face, writes
two-stage best.pt / last.pt, resumes from its last finished epoch."""

from __future__ import annotations

import csv

import pytest
import torch
from pytorch_optimizer import SAM

from dftag.detector.checkpoint import save_checkpoint
from dftag.detector.inference import Detector
from dftag.detector.models import build_model
from dftag.training.classifier_train import ClassifierTrainer
from dftag.training.config import ClassifierConfig, TrainConfig
from dftag.training.run_folder import BEST_FILE, CLASSIFIER_LAST_FILE, CLASSIFIER_METRICS_FILE, LAST_FILE

CONFIG = ClassifierConfig(crop_size=32, epochs=2, batch_size=2)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def ssd_run(tmp_path):
    """A run folder as the SSD stage leaves it: best.pt and last.pt of a tiny random SSD."""
    run = tmp_path / "run"
    model = build_model("ssdlite-mnv2", pretrained_backbone=False, image_size=64)
    for name in (BEST_FILE, LAST_FILE):
        save_checkpoint(run / name, model)
    return run


def copy_of(run, folder):
    """A second SSD-stage run folder holding the same best.pt and last.pt as ``run``."""
    folder.mkdir()
    for name in (BEST_FILE, LAST_FILE):
        (folder / name).write_bytes((run / name).read_bytes())
    return folder


def stage(data, run, config=CONFIG):
    return ClassifierTrainer(config, str(data), run, seed=3, workers=0, device=torch.device("cpu"),
                             pretrained=False)


def test_stage_writes_metrics_and_two_stage_checkpoints(face_dataset, ssd_run):
    data = face_dataset(n_train=6, n_val=3)
    history = stage(data, ssd_run).run()
    assert [row["epoch"] for row in history] == [1, 2]
    with open(ssd_run / CLASSIFIER_METRICS_FILE, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and 0.0 <= float(rows[-1]["val_auc"]) <= 1.0
    for name in (BEST_FILE, LAST_FILE):
        detector = Detector.load(ssd_run / name)
        assert detector.two_stage and detector.classifier_spec.crop_size == 32
    assert (ssd_run / CLASSIFIER_LAST_FILE).is_file()


def test_resume_continues_from_the_last_finished_epoch(face_dataset, ssd_run, tmp_path):
    data = face_dataset(n_train=6, n_val=3)
    straight_run = copy_of(ssd_run, tmp_path / "straight")
    stage(data, straight_run).run()
    killed = stage(data, ssd_run)
    save = killed.save

    def save_then_die() -> None:  # killed right after its first epoch was written
        save()
        raise KeyboardInterrupt

    killed.save = save_then_die
    with pytest.raises(KeyboardInterrupt):
        killed.run()
    resumed = stage(data, ssd_run)
    resumed.resume()
    assert resumed.epoch == 1
    resumed.run()
    a = torch.load(straight_run / LAST_FILE, weights_only=True)["classifier"]["model"]
    b = torch.load(ssd_run / LAST_FILE, weights_only=True)["classifier"]["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_two_stage_config_round_trips_through_json():
    config = TrainConfig.for_model("two-stage", data="d", out="o", classifier={"epochs": 5, "crop_size": None})
    assert config.model == "two-stage" and config.arch == "ssdlite-mnv2" and config.classifier.epochs == 5
    again = TrainConfig.from_dict(config.to_dict())
    assert again.classifier == config.classifier and again.model == "two-stage"
    assert TrainConfig.for_model("ssdlite-mnv2", data="d", out="o").classifier is None


def test_lower_face_share_reaches_the_self_blends(face_dataset, ssd_run):
    data = face_dataset(n_train=2, n_val=1)
    trainer = stage(data, ssd_run, ClassifierConfig(crop_size=32, lower_face=0.7))
    assert trainer.crops.blend.lower_face == 0.7
    assert stage(data, ssd_run).crops.blend.lower_face == 0.0  # off by default: SBI's whole-face masks


def test_crop_augmentation_reaches_the_training_crops(face_dataset, ssd_run):
    data = face_dataset(n_train=2, n_val=1)
    trainer = stage(data, ssd_run, ClassifierConfig(crop_size=32, crop_augment="dfdc"))
    assert trainer.crops.augment == "dfdc" and trainer.crops.transform is not None
    assert stage(data, ssd_run).crops.transform is None  # off by default: jitter, flip and JPEG only


def test_sharpness_aware_training_is_its_own_optimizer(face_dataset, ssd_run, tmp_path):
    data = face_dataset(n_train=2, n_val=1)
    plain_run = copy_of(ssd_run, tmp_path / "plain")
    sam = stage(data, ssd_run, ClassifierConfig(crop_size=32, epochs=1, batch_size=2, sam_rho=0.05))
    plain = stage(data, plain_run, ClassifierConfig(crop_size=32, epochs=1, batch_size=2))
    assert isinstance(sam.optimizer, SAM) and not isinstance(plain.optimizer, SAM)
    sam.run()
    plain.run()
    a = torch.load(ssd_run / LAST_FILE, weights_only=True)["classifier"]["model"]
    b = torch.load(plain_run / LAST_FILE, weights_only=True)["classifier"]["model"]
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())
