"""The training loop behind ``dftag train``: epochs of SSD training, validation, checkpoints, resume, DDP.

One run lives in a folder ``RUN/``:

* ``config.json`` — the resolved :class:`dftag.training.config.TrainConfig`;
* ``metrics.csv`` — one row per finished epoch (:data:`METRIC_COLUMNS`); losses are means over the epoch's
  steps, ``lr`` the learning rate of its last step, ``val_*`` from :func:`dftag.eval.detection.evaluate_detections`
  on the dataset's ``val.json`` (AP in 0..1), ``seconds`` the epoch's wall time;
* ``last.pt`` — the checkpoint after the last finished epoch, with everything needed to continue exactly:
  model, optimizer, scheduler, epoch, the metrics so far, the RNG states of torch / numpy / python;
* ``best.pt`` — the checkpoint of the epoch with the highest validation COCO mAP (AP@[.50:.95]).

All four are written atomically, by process 0 only, best.pt before last.pt, so a run killed at any moment
resumes from a consistent last.pt. The data order and every augmentation are functions of ``(seed, epoch,
position)`` (:mod:`dftag.training.data`), so a resumed run repeats the interrupted epoch exactly. Every
image of an epoch is trained on: the epoch is cut into batches of ``batch_size`` without dropping a remainder,
and a remainder of one image is merged so that no step sees a single image (:func:`batch_sizes`).

A val split without real (or without fake) faces makes validation one-sided; the run says so once at its
start (:func:`validation_warnings`).

Learning-rate rule: ``lr(step) = lr * lr_factor(step, epochs * steps_per_epoch, warmup_steps)`` with the
``epochs`` of the current invocation: resuming a finished run with a larger ``--epochs`` stretches the cosine
over the new total, so the rate jumps from near zero back up to its value at that step of the longer schedule.

Distributed: started by ``torchrun``, each process trains on its share of every epoch
(:class:`dftag.training.data.TrainSampler`) with DistributedDataParallel, NCCL on GPUs and gloo on CPUs;
``batch_size`` is per process. Process 0 validates and writes; the others wait at a barrier.
"""

from __future__ import annotations

import csv
import io
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from dftag.annotations.dataset import CLASS_NAMES, Dataset, load_dataset
from dftag.core.atomic import write_json, write_text
from dftag.core.errors import DftagError
from dftag.core.io import read_json
from dftag.detector.checkpoint import load_checkpoint, save_checkpoint
from dftag.detector.device import resolve_device
from dftag.detector.inference import Detector
from dftag.detector.models import build_model
from dftag.eval.detection import evaluate_detections
from dftag.eval.predict import predict_dataset
from dftag.training.classifier_train import ClassifierTrainer
from dftag.training.config import (
    TrainConfig,
    build_optimizer,
    lr_factor,
    optimizer_step,
    parameter_groups,
    warmup_cosine,
)
from dftag.training.data import FaceDataset, SampleKey, TrainSampler, class_balanced_weights, collate
from dftag.training.run_folder import BEST_FILE, CONFIG_FILE, LAST_FILE, METRIC_COLUMNS, METRICS_FILE

# Settings a resumed run may change; every other one comes from RUN/config.json.
RESUMABLE_OVERRIDES = ("epochs", "workers", "device", "data")  # data: the dataset may have moved


@dataclass(frozen=True)
class Process:
    """This process's place in a (possibly single-process) distributed run, and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


@contextmanager
def process_group(device_name: str) -> Iterator[Process]:
    """Join the ``torchrun`` process group when ``WORLD_SIZE`` > 1 (NCCL on CUDA, gloo on CPU); leave it after."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world_size == 1:
        yield Process(0, 1, device)
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield Process(dist.get_rank(), world_size, device)
    finally:
        dist.destroy_process_group()


def rng_state() -> dict[str, Any]:
    """The RNG states of torch (CPU and CUDA), numpy and python as tensors and plain data."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next}}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["gauss"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text(path, buffer.getvalue())


def resume_config(run_dir: Path, overrides: dict[str, Any], model: str | None = None,
                  classifier: dict[str, Any] | None = None) -> TrainConfig:
    """The saved config of ``run_dir`` with the allowed ``overrides`` (``None`` values are ignored).

    The run continues in ``run_dir`` itself, wherever the saved config says it was first written (a copied or
    moved run folder never writes into the original). ``model``, when given, must be the saved one, and so must
    the fields of a two-stage run's :class:`ClassifierConfig` given in ``classifier`` (named ``classifier_<field>``
    in the error; a single-stage run has none to keep).
    """
    saved = read_json(run_dir / CONFIG_FILE)
    try:
        config = TrainConfig.from_dict(saved)
    except (TypeError, KeyError, ValueError) as err:
        raise DftagError(f"not a dftag training config ({err})", run_dir / CONFIG_FILE) from None
    config.out = str(run_dir)
    if model is not None and model != config.model:
        raise DftagError("a resumed run keeps its saved settings; {parameter} cannot change "
                         f"(saved {config.model!r}, given {model!r})", run_dir / CONFIG_FILE, parameter="model")
    for name, value in overrides.items():
        if value is None or value == getattr(config, name):
            continue
        if name not in RESUMABLE_OVERRIDES:
            raise DftagError("a resumed run keeps its saved settings; {parameter} cannot change "
                             f"(saved {getattr(config, name)!r}, given {value!r})", run_dir / CONFIG_FILE,
                             parameter=name)
        setattr(config, name, value)
    for name, value in (classifier or {}).items() if config.classifier is not None else ():
        saved_value = getattr(config.classifier, name)
        if value is not None and value != saved_value:
            raise DftagError("a resumed run keeps its saved settings; {parameter} cannot change "
                             f"(saved {saved_value!r}, given {value!r})", run_dir / CONFIG_FILE,
                             parameter=f"classifier_{name}")
    return config


def validate(model: torch.nn.Module, val: Dataset, device: torch.device, batch_size: int) -> dict[str, float]:
    """Per-class AP50 and COCO mAP of ``model`` on ``val``, by the prediction and scoring code of
    ``dftag evaluate`` (:func:`dftag.eval.predict.predict_dataset`, :func:`dftag.eval.detection.evaluate_detections`)."""
    predictions = predict_dataset(Detector.from_model(model, device=device), val, batch_size=batch_size,
                                  progress=False)
    scores = evaluate_detections(val.coco, predictions.coco_results())
    return {f"val_AP50_{name}": scores["AP50"][name] for name in CLASS_NAMES.values()} | {
        "val_mAP50": scores["mAP50"], "val_mAP": scores["mAP"]}


def batch_sizes(n: int, batch_size: int) -> list[int]:
    """The sizes of the batches an epoch of ``n`` samples is cut into: every sample is used, in batches of
    ``batch_size``, and a last batch of a single sample (batch norm in training mode needs two values per
    channel, and SSDLite's last feature maps are 1x1) is avoided: the last full batch and the one sample left
    over are split into two halves, or, with ``batch_size`` 2, become one batch of 3. Only ``n < 2`` gives a
    batch of one."""
    full, rest = divmod(n, batch_size)
    if rest != 1 or full == 0:
        return [batch_size] * full + ([rest] if rest else [])
    if batch_size == 2:
        return [2] * (full - 1) + [3]
    return [batch_size] * (full - 1) + [(batch_size + 2) // 2, (batch_size + 1) // 2]


class EpochBatches(Sampler[list[SampleKey]]):
    """The keys of ``sampler``'s current epoch cut into consecutive batches of :func:`batch_sizes`: a pure
    function of the epoch's order, so a resumed epoch has the same batches."""

    def __init__(self, sampler: TrainSampler, batch_size: int):
        self.sampler, self.batch_size = sampler, batch_size

    def __len__(self) -> int:
        return len(batch_sizes(len(self.sampler), self.batch_size))

    def __iter__(self) -> Iterator[list[SampleKey]]:
        keys = list(self.sampler)
        start = 0
        for size in batch_sizes(len(keys), self.batch_size):
            yield keys[start:start + size]
            start += size


def validation_warnings(val: Dataset) -> list[str]:
    """What makes validation one-sided: a class (real, fake) without a face that counts (not crowd, not
    difficult) in ``val``. Its validation AP is then n/a (-1 in ``metrics.csv``, COCO's convention) and
    best.pt is chosen on the other class alone (or, without any face, is the first epoch's)."""
    counted = {a["category_id"] for a in val.coco.get("annotations", [])
               if not a.get("iscrowd") and not a.get("difficult")}
    missing = [name for k, name in CLASS_NAMES.items() if k not in counted]
    if not missing:
        return []
    if len(missing) == len(CLASS_NAMES):
        return [f"{val.source} has no {' or '.join(CLASS_NAMES.values())} face: every validation AP is n/a "
                "(-1 in metrics.csv) and best.pt stays the first epoch's"]
    present = [name for name in CLASS_NAMES.values() if name not in missing]
    return [f"{val.source} has no {name} face: val_AP50_{name} is n/a (-1 in metrics.csv) and best.pt is "
            f"chosen on {' and '.join(present)} faces only" for name in missing]


def log_warning(message: str) -> None:
    tqdm.write(f"warning: {message}", file=sys.stderr)


def _log_value(name: str, value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if name.startswith("val_") and value == -1 else f"{value:.4g}"
    return str(value)


class Trainer:
    """One training run; build with a resolved config and call :meth:`run`. :attr:`warnings` are the
    :func:`validation_warnings` of the val split; :meth:`run` gives each to ``warn`` once, before the first
    epoch (on process 0)."""

    def __init__(self, config: TrainConfig, process: Process, resume: bool,
                 warn: Callable[[str], None] = log_warning):
        self.config = config
        self.process = process
        self.warn = warn
        self.run_dir = Path(config.out)
        checkpoint = self._check_run_dir(resume)
        seed_everything(config.seed)
        self.train_set = load_dataset(config.data, "train")
        self.val_set = load_dataset(config.data, "val")
        if len(self.train_set.images) < 2:
            raise DftagError("the train split needs at least 2 images", self.train_set.source)
        self.warnings = validation_warnings(self.val_set)
        self.data = FaceDataset(self.train_set, config.image_size, config.augment, config.self_blend)
        weights = class_balanced_weights([labels for _, labels in self.data.targets]) if config.balanced else None
        self.sampler = TrainSampler(len(self.data), seed=config.seed, weights=weights,
                                    num_replicas=process.world_size, rank=process.rank)
        # every image of the epoch is used; no step sees a single image (see batch_sizes)
        self.loader = DataLoader(self.data, batch_sampler=EpochBatches(self.sampler, config.batch_size),
                                 num_workers=config.workers, collate_fn=collate,
                                 pin_memory=process.device.type == "cuda", persistent_workers=config.workers > 0)
        self.model = build_model(config.arch, pretrained_backbone=config.pretrained and checkpoint is None,
                                 init=config.init if checkpoint is None else None,
                                 image_size=config.image_size).to(process.device)
        self.optimizer = build_optimizer(parameter_groups(self.model, config.weight_decay), config.optimizer,
                                         config.lr, config.momentum)
        self.steps_per_epoch = len(self.loader)
        self.total_steps = config.epochs * self.steps_per_epoch
        self.warmup_steps = round(config.warmup_epochs * self.steps_per_epoch)
        self.scheduler = warmup_cosine(self.optimizer, self.total_steps, self.warmup_steps)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.best_map = -math.inf
        if checkpoint is not None:
            self._restore(checkpoint)
        self.train_model = (DistributedDataParallel(self.model, device_ids=[process.device.index]
                                                    if process.device.type == "cuda" else None)
                            if process.distributed else self.model)

    def _check_run_dir(self, resume: bool) -> dict[str, Any] | None:
        last = self.run_dir / LAST_FILE
        if not resume:
            if last.exists():
                raise DftagError("already holds a training run (choose another output folder)", self.run_dir,
                                 fix=("resume", "to continue it"))
            return None
        if not last.exists():
            raise DftagError(f"nothing to resume: no {LAST_FILE}", self.run_dir)
        checkpoint = load_checkpoint(last)
        if checkpoint.get("epoch", 0) > self.config.epochs:
            raise DftagError(f"the run has done {checkpoint['epoch']} epochs; {{parameter}} {self.config.epochs} "
                             "cannot shorten it", self.run_dir, parameter="epochs")
        return checkpoint

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.epoch = checkpoint["epoch"]
        self.history = checkpoint["history"]
        self.best_map = checkpoint["best_mAP"]
        step = self.scheduler.last_epoch
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * lr_factor(step, self.total_steps, self.warmup_steps)  # the rule for --epochs
        set_rng_state(checkpoint["rng"])

    def run(self) -> list[dict[str, Any]]:
        """Train the remaining epochs; returns the metrics rows of the whole run."""
        if self.process.is_main:
            for message in self.warnings:
                self.warn(message)
            write_json(self.run_dir / CONFIG_FILE, self.config.to_dict(), indent=2)
        while self.epoch < self.config.epochs:
            start = time.perf_counter()
            row = self.train_epoch()
            if self.process.is_main:
                row |= validate(self.model, self.val_set, self.process.device, self.config.batch_size)
            self.epoch += 1
            row = {"epoch": self.epoch, **row, "seconds": round(time.perf_counter() - start, 3)}
            self.history.append(row)
            if self.process.is_main:
                self.save(row)
                tqdm.write(" ".join(f"{k}={_log_value(k, v)}" for k, v in row.items()), file=sys.stderr)
            self.process.barrier()
        return self.history

    def train_epoch(self) -> dict[str, float]:
        """One pass over this process's share of the epoch; returns the lr of its last step and mean losses."""
        self.sampler.set_epoch(self.epoch)
        self.train_model.train()
        sums = torch.zeros(3, dtype=torch.float64)  # loss, box, cls
        seen, start, lr = 0, time.perf_counter(), math.nan
        bar = tqdm(self.loader, desc=f"epoch {self.epoch + 1}/{self.config.epochs}", unit="batch",
                   file=sys.stderr, disable=not self.process.is_main, leave=False)
        for step, (images, targets) in enumerate(bar, 1):
            lr = self.optimizer.param_groups[0]["lr"]
            losses = self.step(images, targets, step)
            sums += losses
            seen += len(images) * self.process.world_size
            bar.set_postfix(loss=f"{losses[0]:.3f}", img_s=f"{seen / (time.perf_counter() - start):.1f}")
        if self.process.distributed:
            dist.all_reduce(sums)
            sums /= self.process.world_size
        loss, loss_box, loss_cls = (sums / max(1, self.steps_per_epoch)).tolist()
        return {"lr": lr, "loss": loss, "loss_box": loss_box, "loss_cls": loss_cls}

    def step(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]], step: int) -> torch.Tensor:
        """One optimisation step on a collated batch (uint8 images); returns ``[loss, box loss, class loss]``.

        A non-finite loss or gradient norm raises :class:`DftagError` naming the epoch and ``step``.
        """
        device = self.process.device
        images = images.to(device, non_blocking=True).float().div_(255.0)
        targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
        losses = self.train_model(images, targets)
        loss = losses["bbox_regression"] + losses["classification"]
        if not optimizer_step(loss, self.model, self.optimizer, self.scheduler, self.config.grad_clip):
            raise DftagError(f"training diverged at epoch {self.epoch + 1}, step {step}: loss {loss.item():.4g} "
                             "(try a lower {parameter})", self.run_dir, parameter="lr")
        return torch.stack([loss, losses["bbox_regression"], losses["classification"]]).detach().double().cpu()

    def save(self, row: dict[str, Any]) -> None:
        extra = {"epoch": self.epoch, "train_config": self.config.to_dict(),
                 "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "sampler": {"seed": self.sampler.seed, "epoch": self.epoch}, "history": self.history,
                 "rng": rng_state()}
        current = row.get("val_mAP", -math.inf)
        if current > self.best_map or not (self.run_dir / BEST_FILE).exists():
            self.best_map = max(current, self.best_map)
            save_checkpoint(self.run_dir / BEST_FILE, self.model, extra={**extra, "best_mAP": self.best_map})
        save_checkpoint(self.run_dir / LAST_FILE, self.model, extra={**extra, "best_mAP": self.best_map})
        write_metrics(self.run_dir / METRICS_FILE, self.history)


def train(config: TrainConfig, resume: bool = False, warn: Callable[[str], None] = log_warning
          ) -> list[dict[str, Any]]:
    """Run (or, with ``resume``, continue) training as described in the module docstring; a two-stage model
    (``config.classifier`` set) then trains its crop classifier (:mod:`dftag.training.classifier_train`).
    ``warn`` is called once per :func:`validation_warnings` line, before the first epoch (default: a
    ``warning:`` line on stderr). Returns the SSD stage's metrics rows."""
    with process_group(config.device) as process:
        history = Trainer(config, process, resume, warn).run()
        if config.classifier is not None:
            if process.is_main:
                stage = ClassifierTrainer(config.classifier, config.data, Path(config.out), seed=config.seed,
                                          workers=config.workers, device=process.device,
                                          pretrained=config.pretrained)
                if resume:
                    stage.resume()
                stage.run()
            process.barrier()
        return history
