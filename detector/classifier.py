"""The second stage of the two-stage tagger: a real/fake classifier of face crops.

Every public detector that works on real deepfakes classifies a face crop taken from the full-resolution
frame (DFDC winner: box + ~30 % margin at 380 px; SBI: box + 12.5 % at 380 px; DeepfakeBench: box x1.3 at
256 px), because blending seams, texture and colour mismatch are gone once a 1080p frame is shrunk to the
detector's 320 px. :class:`FaceClassifier` is MobileNetV2 (ImageNet initialised, the same offline weight file
as the SSDLite backbone) with global average pooling and one linear output: the **fake logit** of a crop,
``log p(fake) - log p(real)``. Its input is uint8 RGB crops ``(N, S, S, 3)`` cut by
:func:`dftag.detector.face_crop.crop_faces` with :attr:`ClassifierSpec.margin`; normalisation happens inside,
so torch and ONNX Runtime see the same graph. With :attr:`ClassifierSpec.flip_average` the classifier in eval
mode (inference, validation, export) returns the mean of the fake logits of each crop and of its mirror image
(test-time flip: training flips crops at random, so both views are in its domain); in train mode it sees
the crop alone.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

from dftag.core.errors import DftagError
from dftag.detector.face_crop import DEFAULT_MARGIN, DEFAULT_SIZE
from dftag.detector.models import IMAGENET_MEAN, IMAGENET_STD, weights_file

log = logging.getLogger("dftag.detector")

CLASSIFIER_ARCHITECTURES = ("crop-mnv2",)
DROPOUT = 0.2  # torchvision's MobileNetV2 classifier dropout


@dataclass(frozen=True)
class ClassifierSpec:
    """What a classifier checkpoint records besides its weights: ``arch``, the square crop side ``crop_size``
    (pixels), the ``margin`` around the face box (fraction of the box side, per side) and ``flip_average``
    (eval mode averages the fake logits of a crop and its mirror image; off in checkpoints that predate it)."""

    arch: str = CLASSIFIER_ARCHITECTURES[0]
    crop_size: int = DEFAULT_SIZE  # DeepfakeBench uses 256, SBI and the DFDC winner 380 (GPU budgets)
    margin: float = DEFAULT_MARGIN
    flip_average: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Any, path: Any = None) -> ClassifierSpec:
        """Read a spec from checkpoint data; a :class:`DftagError` naming ``path`` when it is malformed."""
        if not isinstance(values, dict):
            raise DftagError("classifier entry must be a dict", path)
        spec = cls(**{k: values[k] for k in ("arch", "crop_size", "margin", "flip_average") if k in values})
        if spec.arch not in CLASSIFIER_ARCHITECTURES:
            raise DftagError(f"unknown classifier architecture {spec.arch!r}", path)
        if not isinstance(spec.crop_size, int) or spec.crop_size < 32:
            raise DftagError(f"classifier crop_size must be an integer of at least 32, got {spec.crop_size!r}", path)
        if not isinstance(spec.margin, (int, float)) or not 0 <= spec.margin <= 2:
            raise DftagError(f"classifier margin must be in 0..2, got {spec.margin!r}", path)
        if not isinstance(spec.flip_average, bool):
            raise DftagError(f"classifier flip_average must be true or false, got {spec.flip_average!r}", path)
        return spec


class FaceClassifier(nn.Module):
    """MobileNetV2 on uint8 RGB crops ``(N, S, S, 3)`` -> fake logits ``(N,)`` (float32); in eval mode with
    ``spec.flip_average`` the mean over each crop and its mirror image."""

    def __init__(self, spec: ClassifierSpec = ClassifierSpec(), pretrained_backbone: bool = True):
        super().__init__()
        self.spec = spec
        weights = None
        if pretrained_backbone:
            path = weights_file(MobileNet_V2_Weights.IMAGENET1K_V1)
            if path.is_file():
                weights = MobileNet_V2_Weights.IMAGENET1K_V1
            else:
                log.warning("%s: no ImageNet backbone weights at %s; training from random initialisation",
                            spec.arch, path)
        try:
            backbone = mobilenet_v2(weights=weights)
        except (RuntimeError, EOFError, OSError) as err:
            raise DftagError(f"cannot load ImageNet backbone weights: {err}".splitlines()[0],
                             weights_file(MobileNet_V2_Weights.IMAGENET1K_V1)) from None
        self.features = backbone.features
        self.head = nn.Sequential(nn.Dropout(DROPOUT), nn.Linear(backbone.last_channel, 1))
        nn.init.normal_(self.head[1].weight, 0.0, 0.01)
        nn.init.zeros_(self.head[1].bias)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, crops: Tensor) -> Tensor:
        x = crops.permute(0, 3, 1, 2).float() / 255.0
        x = (x - self.mean) / self.std
        if self.spec.flip_average and not self.training:
            return self.fake_logits(torch.cat([x, x.flip(3)])).view(2, -1).mean(0)
        return self.fake_logits(x)

    def fake_logits(self, x: Tensor) -> Tensor:
        """Fake logits ``(N,)`` of normalised ``(N, 3, S, S)`` float images."""
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.head(x).squeeze(1)


def classifier_from_state(spec: ClassifierSpec, state: dict[str, Tensor], path: Any = None) -> FaceClassifier:
    """Rebuild a classifier from its spec and state dict (eval mode, CPU)."""
    model = FaceClassifier(spec, pretrained_backbone=False)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise DftagError(f"classifier weights do not fit {spec.arch}: {str(err).splitlines()[0]}", path) from None
    return model.eval()
