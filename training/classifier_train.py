"""The second training stage of a two-stage model: the crop classifier, after the SSD.

It trains :class:`dftag.detector.classifier.FaceClassifier` on balanced, paired (real, fake) crops of the
train split (:mod:`dftag.training.crops`) with a binary cross-entropy on the fake logit, AdamW (sharpness-aware
with ``sam_rho`` > 0), a linear warm-up then cosine decay, gradient clipping, and validates after every epoch
on the crops of every face of the val split, each cut with its own box (what the first stage hands over at
inference): face-level ROC AUC and log loss. The epoch with the highest validation AUC (ties: lower log loss;
without both classes in val: the last epoch) is the best one.

Files it adds to the run folder ``RUN/``:

* ``classifier_metrics.csv`` — one row per epoch (:data:`CLASSIFIER_METRIC_COLUMNS`);
* ``classifier_last.pt`` — the classifier, optimizer, scheduler, epoch, history and RNG state, to resume;
* ``best.pt`` and ``last.pt`` are rewritten as two-stage checkpoints: the SSD's best (or last) checkpoint with
  the best (or last) classifier inside (:func:`dftag.detector.checkpoint.with_classifier`).

Everything is written atomically after each epoch, so a run killed at any moment resumes from the last
finished epoch. In a distributed run process 0 trains this stage alone while the others wait.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from dftag.annotations.dataset import Dataset, load_dataset
from dftag.core.atomic import write_text
from dftag.core.errors import DftagError
from dftag.detector.checkpoint import load_checkpoint, with_classifier, write_checkpoint
from dftag.detector.classifier import FaceClassifier
from dftag.detector.torch_file import read_torch_file
from dftag.eval.video_metrics import log_loss, roc_auc
from dftag.training.config import (
    ClassifierConfig,
    build_optimizer,
    optimizer_step,
    parameter_groups,
    sharpness_aware_step,
    warmup_cosine,
)
from dftag.training.crops import CropDataset, ValidationCrops, build_units, collate_units
from dftag.training.data import sample_seed
from dftag.training.run_folder import (
    BEST_FILE,
    CLASSIFIER_LAST_FILE,
    CLASSIFIER_METRIC_COLUMNS,
    CLASSIFIER_METRICS_FILE,
    LAST_FILE,
)
from dftag.training.self_blend import SelfBlendConfig

CLASSIFIER_FORMAT = "dftag-classifier-training"


def fake_logits(classifier: FaceClassifier, crops: ValidationCrops, device: torch.device, batch_size: int,
                workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(fake logits, labels 0 real / 1 fake)`` of every crop of ``crops``."""
    classifier.eval()
    loader = DataLoader(crops, batch_size=batch_size, num_workers=workers)
    logits, labels = [], []
    with torch.inference_mode():
        for batch, label in loader:
            logits.append(classifier(batch.to(device)).float().cpu())
            labels.append(label)
    if not logits:
        return np.zeros(0), np.zeros(0)
    return torch.cat(logits).numpy().astype(np.float64), torch.cat(labels).numpy().astype(np.int64)


def validation_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Face-level ROC AUC and log loss of ``sigmoid(logits)``; NaN where a metric is undefined."""
    if len(labels) == 0:
        return {"val_auc": math.nan, "val_log_loss": math.nan}
    auc = roc_auc(labels, logits)
    return {"val_auc": math.nan if auc is None else auc,
            "val_log_loss": log_loss(labels, 1.0 / (1.0 + np.exp(-logits)))}


def _better(row: dict[str, float], best: dict[str, float] | None) -> bool:
    if best is None or math.isnan(row["val_auc"]):
        return True  # no AUC to compare: the latest epoch wins
    if math.isnan(best["val_auc"]) or row["val_auc"] > best["val_auc"]:
        return True
    return row["val_auc"] == best["val_auc"] and row["val_log_loss"] < best["val_log_loss"]


class ClassifierTrainer:
    """The classifier stage of one run: ``run_dir`` must already hold the SSD stage's best.pt and last.pt."""

    def __init__(self, config: ClassifierConfig, data: str, run_dir: Path, *, seed: int, workers: int,
                 device: torch.device, pretrained: bool = True):
        self.config, self.run_dir, self.seed, self.workers, self.device = config, run_dir, seed, workers, device
        self.train_set: Dataset = load_dataset(data, "train")
        self.val_set: Dataset = load_dataset(data, "val")
        self.units = build_units(self.train_set, config.fake_source, np.random.default_rng(seed))
        if not self.units:
            raise DftagError(f"no {config.fake_source!r} training pairs: the train split needs real faces "
                             "(and, for 'pairs', fakes)", self.train_set.source, parameter="fake_source")
        self.crops = CropDataset(self.train_set, self.units, config.spec(),
                                 blend=SelfBlendConfig(lower_face=config.lower_face), augment=config.crop_augment)
        self.val_crops = ValidationCrops(self.val_set, config.spec())
        torch.manual_seed(seed)  # the stage's initialisation and dropout depend on the seed only, not on the SSD stage
        self.model = FaceClassifier(config.spec(), pretrained_backbone=pretrained).to(device)
        self.optimizer = build_optimizer(parameter_groups(self.model, config.weight_decay), "adamw", config.lr,
                                         sam_rho=config.sam_rho)
        self.steps_per_epoch = math.ceil(len(self.units) / config.batch_size)
        self.total_steps = config.epochs * self.steps_per_epoch
        self.warmup_steps = round(config.warmup_epochs * self.steps_per_epoch)
        self.scheduler = warmup_cosine(self.optimizer, self.total_steps, self.warmup_steps)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    def resume(self) -> None:
        """Continue from ``classifier_last.pt`` when the run has one."""
        path = self.run_dir / CLASSIFIER_LAST_FILE
        if not path.is_file():
            return
        state = read_torch_file(path)
        if not isinstance(state, dict) or state.get("format") != CLASSIFIER_FORMAT:
            raise DftagError("not a dftag classifier training state", path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.history = state["epoch"], state["history"]
        self.best, self.best_state = state["best"], state["best_model"]
        torch.set_rng_state(state["torch_rng"])

    def epoch_keys(self) -> list[tuple[int, int]]:
        """``(unit index, seed)`` of this epoch, in order: a shuffle from the run's seed and the epoch."""
        order = np.random.default_rng([self.seed, 1, self.epoch]).permutation(len(self.units))
        return [(int(i), sample_seed(self.seed + 1, self.epoch, position)) for position, i in enumerate(order)]

    def run(self) -> list[dict[str, Any]]:
        """Train the remaining epochs; returns the metrics rows of the whole stage."""
        if self.epoch >= self.config.epochs and self.history:
            self.save()  # the SSD stage may have rewritten best.pt / last.pt since (a resume with more epochs)
        while self.epoch < self.config.epochs:
            start = time.perf_counter()
            row = self.train_epoch()
            row |= validation_metrics(*fake_logits(self.model, self.val_crops, self.device,
                                                   2 * self.config.batch_size, self.workers))
            self.epoch += 1
            row = {"epoch": self.epoch, **row, "seconds": round(time.perf_counter() - start, 3)}
            self.history.append(row)
            if _better(row, self.best):
                self.best = row
                self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            self.save()
            tqdm.write("classifier " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                               for k, v in row.items()), file=sys.stderr)
        return self.history

    def train_epoch(self) -> dict[str, float]:
        self.model.train()
        loader = DataLoader(self.crops, batch_size=self.config.batch_size, sampler=self.epoch_keys(),
                            num_workers=self.workers, collate_fn=collate_units)
        total, steps, lr = 0.0, 0, math.nan
        bar = tqdm(loader, desc=f"classifier epoch {self.epoch + 1}/{self.config.epochs}", unit="batch",
                   file=sys.stderr, leave=False)
        for crops, labels in bar:
            lr = self.optimizer.param_groups[0]["lr"]
            crops, labels = crops.to(self.device), labels.to(self.device)

            def batch_loss() -> torch.Tensor:
                return torch.nn.functional.binary_cross_entropy_with_logits(self.model(crops), labels)

            loss = batch_loss()
            if self.config.sam_rho > 0:
                stepped = sharpness_aware_step(loss, batch_loss, self.model, self.optimizer, self.scheduler,
                                               self.config.grad_clip)
            else:
                stepped = optimizer_step(loss, self.model, self.optimizer, self.scheduler, self.config.grad_clip)
            if not stepped:
                raise DftagError(f"classifier training diverged at epoch {self.epoch + 1}, step {steps + 1}: "
                                 f"loss {loss.item():.4g} (try a lower {{parameter}})", self.run_dir,
                                 parameter="lr")
            total += loss.item()
            steps += 1
            bar.set_postfix(loss=f"{loss.item():.3f}")
        return {"lr": lr, "loss": total / max(1, steps)}

    def save(self) -> None:
        """Write the training state, the metrics and the two-stage best.pt / last.pt (all atomically)."""
        state = {"format": CLASSIFIER_FORMAT, "epoch": self.epoch, "history": self.history,
                 "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                 "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "best": self.best, "best_model": self.best_state, "torch_rng": torch.get_rng_state()}
        write_checkpoint(self.run_dir / CLASSIFIER_LAST_FILE, state)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CLASSIFIER_METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.history)
        write_text(self.run_dir / CLASSIFIER_METRICS_FILE, buffer.getvalue())
        for name, weights in ((BEST_FILE, self.best_state), (LAST_FILE, state["model"])):
            ckpt = with_classifier(load_checkpoint(self.run_dir / name), self.config.spec(), weights)
            write_checkpoint(self.run_dir / name, ckpt)

