"""Training configuration: per-architecture defaults and the resolved settings of one run (``RUN/config.json``).

Defaults are chosen for fine-tuning on a few thousand frames on a CPU or one GPU: AdamW for the SSDLite
models (robust to the small batches a CPU affords), SGD with momentum for the VGG16 SSD (as in the SSD
paper), linear warm-up then cosine decay to zero, weight decay on weights only (not on biases or norm
parameters), gradient-norm clipping. ``batch_size`` is per process.

The SSDLite epoch count (6) is sized for the built-in sample data (about 630 training frames) to train in
about ten minutes on a 2-core CPU; docs/training.md has the measurements. Other data: set ``--epochs``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from pytorch_optimizer import SAM, disable_running_stats, enable_running_stats
from torch import nn

from dftag.detector.classifier import CLASSIFIER_ARCHITECTURES, ClassifierSpec
from dftag.detector.face_crop import DEFAULT_MARGIN, DEFAULT_SIZE
from dftag.detector.models import ARCHITECTURES
from dftag.training.augment import AugmentConfig

OPTIMIZERS = ("adamw", "sgd")
TWO_STAGE = "two-stage"  # the SSD finds faces, a crop classifier tags them (dftag.detector.classifier)
TWO_STAGE_DETECTOR = "ssdlite-mnv2"  # the first stage of a two-stage model
MODELS = (TWO_STAGE, *ARCHITECTURES)
DEFAULT_MODEL = TWO_STAGE


@dataclass(frozen=True)
class ModelDefaults:
    """Training hyperparameters for one architecture; sizes in pixels, ``warmup_epochs`` may be fractional."""

    image_size: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    momentum: float  # SGD momentum (AdamW's beta1 keeps its default)
    warmup_epochs: float
    epochs: int
    grad_clip: float  # max gradient L2 norm


MODEL_DEFAULTS: dict[str, ModelDefaults] = {
    "ssdlite-mnv2": ModelDefaults(image_size=320, batch_size=16, optimizer="adamw", lr=2e-3, weight_decay=1e-4,
                                  momentum=0.9, warmup_epochs=0.5, epochs=6, grad_clip=10.0),
    "ssdlite-mnv3": ModelDefaults(image_size=320, batch_size=16, optimizer="adamw", lr=2e-3, weight_decay=1e-4,
                                  momentum=0.9, warmup_epochs=0.5, epochs=6, grad_clip=10.0),
    "ssd300-vgg16": ModelDefaults(image_size=300, batch_size=8, optimizer="sgd", lr=1e-2, weight_decay=5e-4,
                                  momentum=0.9, warmup_epochs=1.0, epochs=12, grad_clip=10.0),
}


@dataclass
class ClassifierConfig:
    """The crop classifier stage of a two-stage model (:mod:`dftag.training.classifier_train`).

    ``crop_size`` and ``margin`` are the crop geometry (pixels; fraction of the face box side per side);
    ``batch_size`` counts pair units (each one real and one fake crop); ``fake_source`` is one of
    :data:`dftag.training.crops.FAKE_SOURCES`; ``lower_face`` is the share of self-blended fakes whose blend
    covers the lower face only (:class:`dftag.training.self_blend.SelfBlendConfig`); ``crop_augment`` is one of
    :data:`dftag.training.crops.CROP_AUGMENTS` (``"dfdc"`` adds the DFDC winner's colour, grey, noise, blur and
    affine steps to the jitter, flip and JPEG of ``"jitter"``); ``sam_rho`` > 0 trains with sharpness-aware
    minimisation of that radius around AdamW (as SBI trains its detector; :func:`sharpness_aware_step`, two
    forward-backward passes a step), 0 with AdamW alone; ``flip_average`` is the classifier's test-time flip
    (:attr:`dftag.detector.classifier.ClassifierSpec.flip_average`: validation and inference average each crop
    with its mirror image). Sized so that a CPU trains it in minutes on the sample
    data.
    """

    arch: str = CLASSIFIER_ARCHITECTURES[0]
    crop_size: int = DEFAULT_SIZE
    margin: float = DEFAULT_MARGIN
    epochs: int = 3
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.3
    grad_clip: float = 10.0
    fake_source: str = "both"
    lower_face: float = 0.0
    crop_augment: str = "jitter"
    sam_rho: float = 0.0
    flip_average: bool = False

    def spec(self) -> ClassifierSpec:
        return ClassifierSpec(arch=self.arch, crop_size=self.crop_size, margin=self.margin,
                              flip_average=self.flip_average)


@dataclass
class TrainConfig:
    """Everything that decides a training run; saved as ``RUN/config.json`` and reloaded by ``--resume``."""

    data: str
    out: str
    arch: str
    epochs: int
    image_size: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    momentum: float
    warmup_epochs: float
    grad_clip: float
    seed: int = 0
    workers: int = 2
    device: str = "auto"
    init: str | None = None
    pretrained: bool = True
    self_blend: float = 0.0
    balanced: bool = False
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    classifier: ClassifierConfig | None = None  # None: a single-stage detector

    @classmethod
    def for_model(cls, model: str, classifier: dict[str, Any] | None = None, **settings: Any) -> TrainConfig:
        """The defaults of ``model`` (one of :data:`MODELS`) overridden by the ``settings`` that are not
        ``None``; ``classifier`` overrides fields of a two-stage model's :class:`ClassifierConfig`."""
        arch = TWO_STAGE_DETECTOR if model == TWO_STAGE else model
        base = dataclasses.asdict(MODEL_DEFAULTS[arch])
        base.update({k: v for k, v in settings.items() if v is not None})
        stage = None
        if model == TWO_STAGE:
            stage = ClassifierConfig(**{k: v for k, v in (classifier or {}).items() if v is not None})
        return cls(arch=arch, classifier=stage, **base)

    @property
    def model(self) -> str:
        """The model name this config trains (one of :data:`MODELS`)."""
        return TWO_STAGE if self.classifier is not None else self.arch

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["augment"] = self.augment.to_dict()
        out["classifier"] = None if self.classifier is None else dataclasses.asdict(self.classifier)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = dict(values)
        values["augment"] = AugmentConfig.from_dict(values.get("augment", {}))
        if values.get("classifier") is not None:
            values["classifier"] = ClassifierConfig(**values["classifier"])
        return cls(**values)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Trainable parameters split into weights (decayed) and biases / norm parameters (not decayed)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]


def build_optimizer(groups: Iterable[dict[str, Any]], name: str, lr: float, momentum: float = 0.9,
                    sam_rho: float = 0.0) -> torch.optim.Optimizer:
    """One of :data:`OPTIMIZERS` over the parameter ``groups`` (``momentum``: SGD's; AdamW keeps its betas).

    ``sam_rho`` > 0 wraps it in sharpness-aware minimisation (Foret et al., ICLR 2021; ``pytorch_optimizer.SAM``)
    of that L2 radius in weight space: step such an optimizer with :func:`sharpness_aware_step`.
    """
    if name == "adamw":
        base, settings = torch.optim.AdamW, {"lr": lr}
    elif name == "sgd":
        base, settings = torch.optim.SGD, {"lr": lr, "momentum": momentum}
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    if sam_rho > 0:
        return SAM(list(groups), base, rho=sam_rho, **settings)
    return base(groups, **settings)


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int
                  ) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning-rate schedule of every dftag training stage: :func:`lr_factor` per optimizer step (of a
    :class:`SAM` optimizer, its base optimizer's: the one that steps; both share the parameter groups)."""
    stepping = optimizer.base_optimizer if isinstance(optimizer, SAM) else optimizer
    return torch.optim.lr_scheduler.LambdaLR(stepping, lambda step: lr_factor(step, total_steps, warmup_steps))


def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Multiplier of the base learning rate at optimizer ``step`` (0-based): linear warm-up from 1/warmup to 1
    over ``warmup_steps``, then half a cosine from 1 down to 0 at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def optimizer_step(loss: torch.Tensor, model: nn.Module, optimizer: torch.optim.Optimizer,
                   scheduler: torch.optim.lr_scheduler.LRScheduler, grad_clip: float) -> bool:
    """Back-propagate ``loss``, clip the gradients' L2 norm to ``grad_clip`` and step ``optimizer`` and
    ``scheduler``; ``False`` (nothing stepped) when the loss or the gradient norm is not finite. Under DDP the
    gradients are all-reduced by then, so every process sees the same norm."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if not (torch.isfinite(loss) and torch.isfinite(norm)):
        return False
    optimizer.step()
    scheduler.step()
    return True


def sharpness_aware_step(loss: torch.Tensor, loss_again: Callable[[], torch.Tensor], model: nn.Module,
                         optimizer: SAM, scheduler: torch.optim.lr_scheduler.LRScheduler, grad_clip: float) -> bool:
    """One sharpness-aware step: back-propagate ``loss`` (computed at the weights ``w``), move to
    ``w + rho * g / |g|``, back-propagate ``loss_again()`` there (the same batch; BatchNorm running statistics
    are not updated by this second pass), clip that gradient's L2 norm to ``grad_clip`` and apply it at ``w``
    with the base optimizer, then step ``scheduler``. ``False`` when a loss or the gradient norm is not finite:
    nothing is applied, and the weights may be left at the perturbed point (a diverged run stops there)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if not torch.isfinite(loss):
        return False
    optimizer.first_step(zero_grad=True)
    disable_running_stats(model)
    try:
        perturbed = loss_again()
        perturbed.backward()
    finally:
        enable_running_stats(model)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if not (torch.isfinite(perturbed) and torch.isfinite(norm)):
        return False
    optimizer.second_step(zero_grad=True)
    scheduler.step()
    return True
