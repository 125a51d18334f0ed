"""Detector architectures: build, train one step, anchors and bias init for faces, init from local files."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from dftag.core.errors import DftagError
from dftag.detector.models import (
    ARCH_SPECS,
    ARCHITECTURES,
    FACE_ASPECT_RATIOS,
    FOREGROUND_PRIOR,
    NUM_CLASSES,
    box_scale,
    build_model,
    images_to_tensor,
    load_matching,
    model_image_size,
    resize_image,
    weights_file,
)

SMALL_SIZE = {"ssdlite-mnv2": 96, "ssdlite-mnv3": 96, "ssd300-vgg16": ARCH_SPECS["ssd300-vgg16"].min_image_size}


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """Point torch's hub cache at an empty folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_each_architecture_trains_one_step(arch):
    torch.manual_seed(0)
    model = build_model(arch, pretrained_backbone=False, image_size=SMALL_SIZE[arch]).train()
    assert model.dftag_arch == arch and model_image_size(model) == SMALL_SIZE[arch]
    images = [torch.rand(3, 90, 120), torch.rand(3, 64, 64)]
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 50.0, 70.0]]), "labels": torch.tensor([2])},
               {"boxes": torch.tensor([[5.0, 8.0, 30.0, 40.0]]), "labels": torch.tensor([1])}]
    losses = model(images, targets)
    assert set(losses) == {"bbox_regression", "classification"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    head_grads = [p.grad for p in model.head.parameters() if p.requires_grad]
    backbone_grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert all(g is not None for g in head_grads) and any(g.abs().sum() > 0 for g in backbone_grads)
    # every parameter trains (nothing frozen)
    assert all(p.requires_grad for p in model.parameters())


def test_face_anchors_and_three_classes():
    model = build_model("ssdlite-mnv2", pretrained_backbone=False, image_size=96).eval()
    generator = model.anchor_generator
    assert generator.num_anchors_per_location() == [2 + 2 * len(FACE_ASPECT_RATIOS)] * 6
    wh = generator._wh_pairs[0]
    ratios = sorted((wh[:, 1] / wh[:, 0]).tolist())
    assert ratios == pytest.approx([1 / FACE_ASPECT_RATIOS[0], 1.0, 1.0, FACE_ASPECT_RATIOS[0]])
    with torch.no_grad():
        features = list(model.backbone(torch.zeros(1, 3, 96, 96)).values())
        logits = model.head(features)["cls_logits"]
    assert logits.shape[-1] == NUM_CLASSES


def test_classification_bias_starts_at_the_face_prior():
    model = build_model("ssd300-vgg16", pretrained_backbone=False)
    for block in model.head.classification_head.module_list:
        conv = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        probs = conv.bias.detach().view(-1, NUM_CLASSES).softmax(-1)
        assert probs[:, 1:].sum(-1) == pytest.approx(torch.full((len(probs),), FOREGROUND_PRIOR), rel=1e-4)
        assert torch.equal(probs[:, 1], probs[:, 2])


def test_missing_imagenet_weights_warn_in_one_line(empty_hub, caplog):
    with caplog.at_level(logging.WARNING, logger="dftag.detector"):
        build_model("ssdlite-mnv2", image_size=96)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert str(empty_hub / "mobilenet_v2-b0353104.pth") in lines[0] and "random" in lines[0]


def _first_conv(module: torch.nn.Module) -> torch.Tensor:
    return next(m for m in module.modules() if isinstance(m, torch.nn.Conv2d)).weight


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_imagenet_weights_from_the_hub_cache(arch, empty_hub, caplog):
    """A weights file in the hub cache is used (without any download); no warning."""
    import torchvision

    from dftag.detector.models import _vgg16_features

    reference = {"ssdlite-mnv2": lambda: torchvision.models.mobilenet_v2(),
                 "ssdlite-mnv3": lambda: torchvision.models.mobilenet_v3_large(),
                 "ssd300-vgg16": lambda: _vgg16_features(None)}[arch]()
    path = weights_file(ARCH_SPECS[arch].backbone_weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(reference.state_dict(), path)
    with caplog.at_level(logging.WARNING, logger="dftag.detector"):
        model = build_model(arch, image_size=SMALL_SIZE[arch])
    assert not caplog.records
    assert torch.equal(_first_conv(model.backbone), _first_conv(reference))


def test_mobilenet_v2_feature_maps_follow_the_paper(empty_hub):
    """SSDLite on MobileNetV2: C5 expansion (stride 16, 576 ch), last layer (stride 32, 1280 ch), 4 extras."""
    model = build_model("ssdlite-mnv2", pretrained_backbone=False).eval()
    with torch.no_grad():
        maps = list(model.backbone(torch.zeros(1, 3, 320, 320)).values())
    assert [m.shape[1] for m in maps] == [576, 1280, 512, 256, 256, 128]
    assert [m.shape[-1] for m in maps] == [20, 10, 5, 3, 2, 1]


def test_corrupt_imagenet_weights_are_a_clear_error(empty_hub):
    path = weights_file(ARCH_SPECS["ssdlite-mnv2"].backbone_weights)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a torch file")
    with pytest.raises(DftagError, match="mobilenet_v2-b0353104.pth"):
        build_model("ssdlite-mnv2", image_size=96)


def test_bad_arch_and_size_are_errors():
    with pytest.raises(DftagError, match="unknown architecture"):
        build_model("yolo", pretrained_backbone=False)
    with pytest.raises(DftagError, match="at least 268"):
        build_model("ssd300-vgg16", pretrained_backbone=False, image_size=128)


def test_init_loads_matching_tensors_and_reports_the_rest(tmp_path, caplog):
    source = build_model("ssdlite-mnv2", pretrained_backbone=False, image_size=96)
    state = source.state_dict()
    reshaped = "head.classification_head.module_list.0.1.weight"
    dropped = "head.regression_head.module_list.0.1.bias"
    state[reshaped] = torch.zeros(7, 3, 1, 1)
    del state[dropped]
    path = tmp_path / "torchvision_style.pth"
    torch.save(state, path)
    with caplog.at_level(logging.INFO, logger="dftag.detector"):
        model = build_model("ssdlite-mnv2", init=path, image_size=96)
    total = len(source.state_dict())
    line = caplog.records[-1].getMessage()
    assert f"loaded {total - 2}/{total}" in line and "1 with other shapes" in line and "1 missing" in line
    for name, tensor in state.items():
        if name != reshaped:
            assert torch.equal(model.state_dict()[name], tensor), name
    assert not torch.equal(model.state_dict()[reshaped], source.state_dict()[reshaped])


def test_init_from_a_dftag_checkpoint(tiny_checkpoint):
    model = build_model("ssdlite-mnv2", init=tiny_checkpoint, image_size=64)
    stored = torch.load(tiny_checkpoint, weights_only=True)["model"]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in stored.items())
    assert load_matching(model, tiny_checkpoint) == (len(stored), len(stored))


def test_init_without_any_matching_tensor_is_an_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(DftagError, match="no tensor matches"):
        build_model("ssdlite-mnv3", init=path, image_size=96)


def test_preprocessing_resizes_and_maps_boxes():
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:60, 50:90] = 255
    small = resize_image(image, 50)
    assert small.shape == (50, 50, 3) and small.dtype == np.uint8
    box = np.array([50, 20, 90, 60], np.float32) * box_scale(200, 100, 50)
    np.testing.assert_allclose(box, [12.5, 10, 22.5, 30])
    x1, y1, x2, y2 = box.astype(int)
    assert small[y1 + 1:y2 - 1, x1 + 1:x2 - 1].min() == 255 and small[:y1 - 1].max() == 0
    assert resize_image(image[:10, :10], 40).shape == (40, 40, 3)  # enlarging
    tensor = images_to_tensor([small, small])
    assert tensor.shape == (2, 3, 50, 50) and tensor.dtype == torch.float32 and float(tensor.max()) == 1.0
