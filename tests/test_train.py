"""``dftag train``: run folder, validation metrics, exact resume after SIGKILL, extension, errors, DDP on CPU."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dftag.training.run_folder import METRIC_COLUMNS

REPO = Path(__file__).resolve().parents[1]
# tiny and fast: 64 px input, 2-image batches, in-process data loading, a fixed seed
TINY = ["--image-size", "64", "--batch-size", "2", "--workers", "0", "--device", "cpu", "--seed", "1",
        "--no-pretrained", "--crop-size", "32", "--classifier-epochs", "1"]


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread in this process and in the ones it starts: equal numerics, no oversubscription."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


ONE_THREAD_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def metrics(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dftag", *map(str, args)], cwd=REPO, env=ONE_THREAD_ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_killed_run_resumes_to_the_same_weights(face_dataset, dftag, tmp_path):
    data = face_dataset(n_train=7, n_val=3)  # 7 images in batches of 2: the epoch ends with a batch of 3
    common = ["train", "--data", data, "--epochs", "2", *TINY, "--self-blend", "0.5", "--balanced",
              "--lower-face", "0.5", "--crop-augment", "dfdc", "--sam-rho", "0.05", "--flip-average"]
    code, out, err = dftag(*common, "--out", tmp_path / "straight")
    assert code == 0, err
    assert "best val mAP" in out

    run = tmp_path / "killed"
    proc = cli(*common, "--out", run)
    while not (run / "last.pt").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 1
    code, _, err = dftag(*common, "--out", run, "--resume")
    assert code == 0, err

    straight, resumed = weights(tmp_path / "straight" / "last.pt"), weights(run / "last.pt")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    rows = metrics(run)
    assert [r["epoch"] for r in rows] == ["1", "2"] and list(rows[0]) == list(METRIC_COLUMNS)
    assert [r["loss"] for r in rows] == [r["loss"] for r in metrics(tmp_path / "straight")]
    for key in ("val_AP50_real", "val_AP50_fake", "val_mAP50", "val_mAP"):
        assert 0.0 <= float(rows[-1][key]) <= 1.0
    # the default model is two-stage: its crop classifier's files come after the SSD's
    assert {p.name for p in run.iterdir()} == {"config.json", "metrics.csv", "last.pt", "best.pt",
                                               "classifier_metrics.csv", "classifier_last.pt"}
    classifier = json.loads((run / "config.json").read_text())["classifier"]
    assert classifier["lower_face"] == 0.5 and classifier["crop_augment"] == "dfdc" and classifier["sam_rho"] == 0.05
    best = torch.load(run / "best.pt", weights_only=True)
    assert classifier["flip_average"] and best["classifier"]["flip_average"]
    assert best["arch"] == "ssdlite-mnv2" and best["image_size"] == 64


def test_resume_extends_a_finished_run_and_keeps_its_settings(face_dataset, dftag, tmp_path):
    data, run = face_dataset(n_train=4, n_val=2), tmp_path / "run"
    base = ["train", "--data", data, "--out", run, *TINY, "--warmup-epochs", "0"]
    assert dftag(*base, "--epochs", "1")[0] == 0
    code, _, err = dftag(*base, "--epochs", "1")
    assert code == 1 and "already holds a training run" in err
    code, _, err = dftag(*base, "--epochs", "2", "--resume", "--lr", "0.5")
    assert code == 1 and "--lr cannot change" in err
    for option, value in (("--sam-rho", "0.05"), ("--classifier-epochs", "3"), ("--fakes", "sbi"),
                          ("--flip-average", None)):
        given = (option,) if value is None else (option, value)
        code, _, err = dftag(*base, "--epochs", "2", "--resume", *given)  # not silently ignored
        assert code == 1 and f"{option} cannot change" in err and len(err.strip().splitlines()) == 1, err
    assert dftag(*base, "--epochs", "2", "--resume")[0] == 0
    rows = metrics(run)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    # 2 steps per epoch, lr 2e-3, cosine over the run's steps: epoch 1 ended with step 1 of the 2-step schedule;
    # extended, the cosine spans 4 steps and epoch 2 ends with step 3 of 4
    assert float(rows[0]["lr"]) == pytest.approx(2e-3 * 0.5 * (1 + math.cos(math.pi * 1 / 2)))
    assert float(rows[1]["lr"]) == pytest.approx(2e-3 * 0.5 * (1 + math.cos(math.pi * 3 / 4)))
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["train_config"]["epochs"] == 2
    assert ckpt["scheduler"]["last_epoch"] == 2 * 2  # 4 images / batch 2 = 2 steps per epoch


def test_resume_of_a_copied_run_writes_into_the_copy_only(face_dataset, dftag, tmp_path):
    data = face_dataset(n_train=4, n_val=2)
    base = ["train", "--data", data, *TINY, "--model", "ssdlite-mnv2"]
    original = tmp_path / "original"
    assert dftag(*base, "--out", original, "--epochs", "1")[0] == 0
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    before = {p.name: p.read_bytes() for p in original.iterdir()}
    code, _, err = dftag(*base, "--out", copy, "--epochs", "2", "--resume")
    assert code == 0, err
    assert {p.name: p.read_bytes() for p in original.iterdir()} == before  # the original run is untouched
    assert [r["epoch"] for r in metrics(copy)] == ["1", "2"]
    assert json.loads((copy / "config.json").read_text())["out"] == str(copy)


def test_diverging_loss_stops_with_the_epoch_and_step(face_dataset, dftag, tmp_path):
    data = face_dataset(n_train=6, n_val=2)
    code, _, err = dftag("train", "--data", data, "--out", tmp_path / "run", "--epochs", "1", *TINY,
                         "--lr", "1e30", "--warmup-epochs", "0")
    assert code == 1
    assert "diverged at epoch 1, step " in err and "Traceback" not in err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_user_errors_are_one_line(face_dataset, dftag, tmp_path):
    data = face_dataset(n_train=4, n_val=2)
    (data / "val.json").unlink()
    code, _, err = dftag("train", "--data", data, "--out", tmp_path / "r", *TINY)
    assert code == 1 and "val.json" in err and "dftag split" in err
    code, _, err = dftag("train", "--data", data, "--out", tmp_path / "r2", "--resume")
    assert code == 1 and "nothing to resume" in err
    bad = tmp_path / "aug.json"
    bad.write_text('{"rotate": 5}')
    code, _, err = dftag("train", "--data", data, "--out", tmp_path / "r3", "--augment", bad)
    assert code == 1 and "aug.json" in err and "rotate" in err


def test_help_has_examples(dftag):
    code, out, _ = dftag("train", "--help")
    assert code == 0
    for text in ("examples:", "--resume", "--self-blend", "torchrun", "ssdlite-mnv2"):
        assert text in out


def test_two_process_ddp_on_cpu(face_dataset, tmp_path):
    data, run = face_dataset(n_train=8, n_val=2), tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "dftag", "train", "--data", str(data), "--out", str(run), "--epochs", "1", *TINY],
        cwd=REPO, env=ONE_THREAD_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = metrics(run)
    assert [r["epoch"] for r in rows] == ["1"]
    ckpt = torch.load(run / "last.pt", weights_only=True)
    # each process took 4 of the 8 images: 2 steps of 2 per epoch
    assert ckpt["scheduler"]["last_epoch"] == 2
    assert not any(p.name.startswith(".") for p in run.iterdir())  # no leftover temporary files


@pytest.mark.parametrize("n, batch, sizes", [(7, 3, [3, 2, 2]), (17, 16, [9, 8]), (5, 2, [2, 3]), (6, 4, [4, 2]),
                                             (8, 4, [4, 4]), (3, 8, [3])])
def test_every_training_image_is_used_and_no_step_sees_one_image(face_dataset, tmp_path, n, batch, sizes):
    from dftag.training.config import TrainConfig
    from dftag.training.train import Process, Trainer

    data = face_dataset(n_train=n, n_val=1)
    config = TrainConfig.for_model("ssdlite-mnv2", data=str(data), out=str(tmp_path / "run"), image_size=32,
                                   batch_size=batch, workers=0, device="cpu", seed=1, pretrained=False)
    trainer = Trainer(config, Process(0, 1, torch.device("cpu")), resume=False)
    for epoch in (0, 1):
        trainer.sampler.set_epoch(epoch)
        batches = list(trainer.loader.batch_sampler)
        assert [len(b) for b in batches] == sizes and len(trainer.loader) == len(sizes) == trainer.steps_per_epoch
        assert sorted(index for b in batches for index, _ in b) == list(range(n))  # each image once per epoch
        assert [len(images) for images, _ in trainer.loader] == sizes


def test_val_split_without_fakes_warns_once_at_the_start(face_dataset, dftag, tmp_path):
    import json

    data = face_dataset(n_train=4, n_val=3)
    val = json.loads((data / "val.json").read_text())
    val["annotations"] = [a for a in val["annotations"] if a["category_id"] == 1]  # real faces only
    (data / "val.json").write_text(json.dumps(val))
    code, out, err = dftag("train", "--data", data, "--out", tmp_path / "run", "--epochs", "2", "--model",
                           "ssdlite-mnv2", *TINY)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1, err
    assert "val.json" in warnings[0] and "no fake face" in warnings[0] and "best.pt" in warnings[0]
    assert err.index("warning") < err.index("epoch=1")  # at the start, before the first epoch's line
    assert "val_AP50_fake=n/a" in err and "val_AP50_fake=-1" not in err
    assert "fake n/a" in out and "-1.0000" not in out
    assert [float(r["val_AP50_fake"]) for r in metrics(tmp_path / "run")] == [-1.0, -1.0]  # COCO's convention
