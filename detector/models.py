"""Face detector architectures: torchvision SSD / SSDLite with three classes (background, real, fake).

:func:`build_model` returns a :class:`torchvision.models.detection.SSD` for one of :data:`ARCHITECTURES`:

* ``ssdlite-mnv2`` (default): SSDLite at 320 px on MobileNetV2, as in section 6.3 of the MobileNetV2 paper:
  the first feature map is the expansion layer of the first stride-32 block (output stride 16), the second is
  the last backbone layer (stride 32), then four SSDLite extra blocks. The backbone starts from torchvision's
  ImageNet weights (``mobilenet_v2-b0353104.pth`` in torch's hub cache, placed by ``dftag weights fetch``).
* ``ssdlite-mnv3``: torchvision's ``ssdlite320_mobilenet_v3_large`` layout (full tail, so the layout does not
  depend on whether ImageNet weights were found).
* ``ssd300-vgg16``: torchvision's ``ssd300_vgg16`` layout at 300 px.

Weights are never downloaded: ImageNet backbone weights are used only when their file is already in
``torch.hub.get_dir()/checkpoints``; otherwise the model starts from random initialisation with a one-line
warning. ``init=PATH`` loads every matching tensor from a dftag checkpoint or a torchvision state dict.

Anchors are chosen for faces (one object kind): two square boxes per location plus one tall and one wide box
of aspect ratio :data:`FACE_ASPECT_RATIOS`. Images are stretched to a square input, so a face (about 1.25 times
taller than wide) becomes about 2.2 times taller than wide in a 16:9 frame and wider than tall in a portrait
frame; the square, 2:1 and 1:2 anchors cover both. The classification head's bias starts at the prior
probability :data:`FOREGROUND_PRIOR` of an anchor being a face (as in RetinaNet), split evenly between real
and fake, so early training is not swamped by background anchors and ``logit_fake - logit_real`` starts at 0.

Preprocessing, shared by training and inference (:func:`resize_image`, :func:`images_to_tensor`): the uint8
RGB image is resized to ``image_size x image_size`` (stretched; area interpolation when shrinking, bilinear
when enlarging), scaled to ``[0, 1]`` and normalised by the model's own ``model.transform`` mean and std. A
box in original-image pixels maps to input pixels by :func:`box_scale`.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor, nn
from torchvision.models import (
    MobileNet_V2_Weights,
    MobileNet_V3_Large_Weights,
    VGG16_Weights,
    mobilenet_v2,
    mobilenet_v3_large,
    vgg,
)
from torchvision.models._api import WeightsEnum
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD, _vgg_extractor
from torchvision.models.detection.ssdlite import SSDLiteHead, _extra_block, _mobilenet_extractor, _normal_init

from dftag.core.errors import DftagError
from dftag.detector.torch_file import read_state_dict

log = logging.getLogger("dftag.detector")

ARCHITECTURES = ("ssdlite-mnv2", "ssdlite-mnv3", "ssd300-vgg16")
DEFAULT_ARCH = "ssdlite-mnv2"
NUM_CLASSES = 3  # 0 background, 1 real, 2 fake (dftag.annotations.dataset.REAL / FAKE)

FACE_ASPECT_RATIOS = [2.0]  # per feature map, besides the two square anchors; each ratio adds a tall and a wide box
FOREGROUND_PRIOR = 0.01  # initial probability that an anchor is a face
SSDLITE_SCALES = (0.1, 0.9)  # smallest and largest anchor side as a fraction of the input side (32..288 px at 320)
SSD300_SCALES = [0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05]  # torchvision's ssd300_vgg16 anchor scales
SSDLITE_NORM = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)  # torchvision's SSDLite head/extra norm layer

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


@dataclass(frozen=True)
class ArchSpec:
    """What :func:`build_model` needs to know about one architecture.

    ``min_image_size`` is the smallest input side for which every feature map is at least 1x1.
    """

    image_size: int
    min_image_size: int
    backbone_weights: WeightsEnum
    build: Callable[[WeightsEnum | None, int], SSD]


def _mobilenet_v2_ssdlite(weights: WeightsEnum | None, image_size: int) -> SSD:
    backbone = mobilenet_v2(weights=weights)
    if weights is None:
        _normal_init(backbone)
    return _ssdlite(MobileNetV2Features(backbone, SSDLITE_NORM), image_size, IMAGENET_MEAN, IMAGENET_STD)


def _mobilenet_v3_ssdlite(weights: WeightsEnum | None, image_size: int) -> SSD:
    backbone = mobilenet_v3_large(weights=weights, norm_layer=SSDLITE_NORM, reduced_tail=False)
    if weights is None:
        _normal_init(backbone)
    all_stages = len(_stage_starts(backbone.features)) + 2  # stem, strided stages, last layer: train them all
    extractor = _mobilenet_extractor(backbone, trainable_layers=all_stages, norm_layer=SSDLITE_NORM)
    # torchvision's ssdlite320_mobilenet_v3_large rescales [0, 1] input to [-1, 1]
    return _ssdlite(extractor, image_size, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5])


def _vgg16_features(weights: WeightsEnum | None) -> nn.Module:
    """torchvision's VGG16 convolutional part only (``.features``), ImageNet or torchvision-initialised.

    ``torchvision.models.vgg16()`` would also build and initialise the 120M-parameter classifier SSD drops.
    """
    holder = nn.Module()
    holder.features = vgg.make_layers(vgg.cfgs["D"])
    if weights is not None:
        state = weights.get_state_dict(progress=False)
        holder.load_state_dict({k: v for k, v in state.items() if k.startswith("features.")})
    else:
        for conv in holder.features.modules():
            if isinstance(conv, nn.Conv2d):  # as torchvision.models.VGG initialises them
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(conv.bias, 0)
    return holder


def _vgg16_ssd(weights: WeightsEnum | None, image_size: int) -> SSD:
    backbone = _vgg_extractor(_vgg16_features(weights), highres=False, trainable_layers=5)
    anchors = DefaultBoxGenerator([FACE_ASPECT_RATIOS] * 6, scales=SSD300_SCALES)
    # torchvision's ssd300_vgg16 normalisation: mean of the Caffe VGG, undo the [0, 1] scaling
    model = SSD(backbone, anchors, (image_size, image_size), NUM_CLASSES,
                image_mean=[0.48235, 0.45882, 0.40784], image_std=[1.0 / 255.0] * 3)
    _init_foreground_prior(model)
    return model


ARCH_SPECS: dict[str, ArchSpec] = {
    "ssdlite-mnv2": ArchSpec(320, 32, MobileNet_V2_Weights.IMAGENET1K_V1, _mobilenet_v2_ssdlite),
    "ssdlite-mnv3": ArchSpec(320, 32, MobileNet_V3_Large_Weights.IMAGENET1K_V1, _mobilenet_v3_ssdlite),
    "ssd300-vgg16": ArchSpec(300, 268, VGG16_Weights.IMAGENET1K_FEATURES, _vgg16_ssd),
}


def _stage_starts(features: nn.Sequential) -> list[int]:
    """Indices of the strided blocks of a torchvision MobileNet (the starts of its C1..Cn stages)."""
    return [i for i, block in enumerate(features) if getattr(block, "_is_cn", False)]


class MobileNetV2Features(nn.Module):
    """SSDLite feature maps of a torchvision MobileNetV2 (MobileNetV2 paper, section 6.3).

    Returns six maps: the expansion of the first stride-32 block (stride 16, 576 channels), the last backbone
    layer (stride 32, 1280 channels) and four SSDLite extra blocks (512, 256, 256, 128 channels), each halving
    the resolution. (torchvision's SSDLite extractor expects MobileNetV3 blocks, whose layers are ``.block``.)
    """

    def __init__(self, backbone: nn.Module, norm_layer: Callable[..., nn.Module]):
        super().__init__()
        features = backbone.features
        c5 = _stage_starts(features)[-1]
        self.features = nn.Sequential(
            nn.Sequential(*features[:c5], features[c5].conv[0]),  # up to the C5 expansion layer
            nn.Sequential(features[c5].conv[1:], *features[c5 + 1:]),  # from the C5 depthwise to the end
        )
        widths = [features[-1].out_channels, 512, 256, 256, 128]
        self.extra = nn.ModuleList(
            [_extra_block(c_in, c_out, norm_layer) for c_in, c_out in zip(widths[:-1], widths[1:])])
        _normal_init(self.extra)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        outputs = []
        for block in [*self.features, *self.extra]:
            x = block(x)
            outputs.append(x)
        return OrderedDict((str(i), v) for i, v in enumerate(outputs))


def _ssdlite(extractor: nn.Module, image_size: int, mean: list[float], std: list[float]) -> SSD:
    size = (image_size, image_size)
    anchors = DefaultBoxGenerator([FACE_ASPECT_RATIOS] * 6, min_ratio=SSDLITE_SCALES[0],
                                  max_ratio=SSDLITE_SCALES[1])
    out_channels = det_utils.retrieve_out_channels(extractor, size)
    head = SSDLiteHead(out_channels, anchors.num_anchors_per_location(), NUM_CLASSES, SSDLITE_NORM)
    model = SSD(extractor, anchors, size, NUM_CLASSES, image_mean=mean, image_std=std, head=head)
    _init_foreground_prior(model)
    return model


def _init_foreground_prior(model: SSD) -> None:
    """Set the classification biases so each anchor starts at P(face) = FOREGROUND_PRIOR, real = fake."""
    fg_bias = math.log(FOREGROUND_PRIOR / ((NUM_CLASSES - 1) * (1.0 - FOREGROUND_PRIOR)))
    for block in model.head.classification_head.module_list:
        conv = [m for m in block.modules() if isinstance(m, nn.Conv2d)][-1]
        with torch.no_grad():
            bias = conv.bias.view(-1, NUM_CLASSES)  # channels are (anchor, class)
            bias[:, 0] = 0.0
            bias[:, 1:] = fg_bias


def weights_file(weights: WeightsEnum) -> Path:
    """Where torchvision looks for ``weights`` in torch's hub cache (it downloads there when missing)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def build_model(arch: str = DEFAULT_ARCH, *, pretrained_backbone: bool = True, init: str | os.PathLike | None = None,
                image_size: int | None = None) -> SSD:
    """Build a 3-class SSD (background, real, fake) for ``arch``; see the module docstring.

    ``pretrained_backbone`` uses the ImageNet backbone weights when their file is in torch's hub cache (never
    downloads). ``init`` is a dftag checkpoint or a torchvision state dict whose matching tensors are loaded
    (it replaces the ImageNet weights). ``image_size`` (pixels, square) defaults to the architecture's own.
    The returned model carries ``model.dftag_arch``.
    """
    if arch not in ARCH_SPECS:
        raise DftagError(f"unknown architecture {arch!r} (choose from {', '.join(ARCHITECTURES)})")
    spec = ARCH_SPECS[arch]
    image_size = image_size or spec.image_size
    if image_size < spec.min_image_size:
        raise DftagError(f"{arch} needs an image size of at least {spec.min_image_size} px, got {image_size}")
    weights = None
    if pretrained_backbone and init is None:
        path = weights_file(spec.backbone_weights)
        if path.is_file():
            weights = spec.backbone_weights
        else:
            hint = " (run 'dftag weights fetch')" if arch == "ssdlite-mnv2" else ""
            log.warning("%s: no ImageNet backbone weights at %s%s; training from random initialisation",
                        arch, path, hint)
    try:
        model = spec.build(weights, image_size)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as err:
        raise DftagError(f"cannot load ImageNet backbone weights: {err}".splitlines()[0],
                         weights_file(spec.backbone_weights)) from None
    model.dftag_arch = arch
    if init is not None:
        load_matching(model, init)
    return model


def load_matching(model: nn.Module, path: str | os.PathLike) -> tuple[int, int]:
    """Copy into ``model`` every tensor of the file at ``path`` whose name and shape match.

    The file is a dftag checkpoint (its ``model`` entry) or a plain state dict (torchvision's, or a training
    checkpoint with a ``model`` entry), read with ``weights_only=True``. Logs one line with the counts and
    returns ``(loaded, total tensors in the model)``; an error when nothing matches.
    """
    source = read_state_dict(path)
    target = model.state_dict()
    matched = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    if not matched:
        raise DftagError(f"no tensor matches the {getattr(model, 'dftag_arch', 'model')} layout", path)
    model.load_state_dict(matched, strict=False)
    reshaped = sorted(k for k in source if k in target and k not in matched)
    missing = [k for k in target if k not in source]
    unused = [k for k in source if k not in target]
    line = f"init from {path}: loaded {len(matched)}/{len(target)} tensors"
    if reshaped:
        line += f"; {len(reshaped)} with other shapes (first {reshaped[0]})"
    if missing:
        line += f"; {len(missing)} missing (first {missing[0]})"
    if unused:
        line += f"; {len(unused)} unused (first {unused[0]})"
    (log.warning if reshaped or missing else log.info)(line)
    return len(matched), len(target)


def model_image_size(model: SSD) -> int:
    """The square input side (pixels) the model was built for."""
    return int(model.transform.fixed_size[0])


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Stretch a uint8 RGB ``(H, W, 3)`` image to ``(size, size, 3)`` (area when shrinking, bilinear otherwise)."""
    h, w = image.shape[:2]
    interpolation = cv2.INTER_AREA if size < h or size < w else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def box_scale(width: int, height: int, size: int) -> np.ndarray:
    """Factors ``[sx, sy, sx, sy]`` mapping xyxy pixels of a ``width x height`` image to the ``size`` input."""
    return np.array([size / width, size / height] * 2, dtype=np.float32)


def images_to_tensor(batch: np.ndarray | Sequence[np.ndarray]) -> Tensor:
    """uint8 RGB ``(B, S, S, 3)`` images -> float ``(B, 3, S, S)`` in ``[0, 1]`` (normalisation is the model's)."""
    return torch.from_numpy(np.ascontiguousarray(np.stack(batch))).permute(0, 3, 1, 2).float().div_(255.0)
