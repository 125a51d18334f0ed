"""Detector checkpoints: a ``torch.save`` of tensors and plain data only, read back with ``weights_only=True``.

A checkpoint is a dict with at least::

    {"format": "dftag-detector", "version": 1,
     "arch": "ssdlite-mnv2",            # one of detector.models.ARCHITECTURES
     "image_size": 320,                 # square network input side, pixels
     "model": {name: tensor},           # the SSD's state dict
     "calibration": {"temperature": 1.0},  # and, once calibrated, the entries of ModelCalibration
     "classifier": {"arch": "crop-mnv2", "crop_size": 224, "margin": 0.3,   # two-stage models only
                    "model": {name: tensor}}}                            # the crop classifier's state dict

Training adds its own plain entries (``epoch``, ``optimizer``, ``scheduler``, RNG state as tensors or lists,
...) through ``extra``; they are kept as they are. Nothing else is ever unpickled: numpy arrays and custom
objects must be turned into tensors or lists before saving. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import torch
from torchvision.models.detection.ssd import SSD

from dftag.core.atomic import atomic_path
from dftag.core.errors import DftagError
from dftag.detector.classifier import ClassifierSpec, FaceClassifier, classifier_from_state
from dftag.detector.model_calibration import ModelCalibration
from dftag.detector.models import ARCHITECTURES, build_model, model_image_size
from dftag.detector.torch_file import read_torch_file

FORMAT = "dftag-detector"
VERSION = 1


def checkpoint_dict(model: SSD, *, temperature: float = 1.0, extra: Mapping[str, Any] | None = None) -> dict:
    """The checkpoint content for a model built by :func:`dftag.detector.models.build_model`."""
    return {**(extra or {}), "format": FORMAT, "version": VERSION, "arch": model.dftag_arch,
            "image_size": model_image_size(model),
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "calibration": {"temperature": float(temperature)}}


def save_checkpoint(path: str | os.PathLike, model: SSD, *, temperature: float = 1.0,
                    extra: Mapping[str, Any] | None = None) -> None:
    """Write ``model`` (and the plain ``extra`` entries, e.g. optimizer state) atomically to ``path``."""
    write_checkpoint(path, checkpoint_dict(model, temperature=temperature, extra=extra))


def write_checkpoint(path: str | os.PathLike, ckpt: Mapping[str, Any]) -> None:
    """Write a checkpoint dict atomically."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(dict(ckpt), tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a dftag checkpoint (on CPU); a clear error naming the file when it is not one."""
    ckpt = read_torch_file(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DftagError("not a dftag detector checkpoint", path)
    if ckpt.get("version") != VERSION:
        raise DftagError(f"checkpoint version {ckpt.get('version')} is not supported (expected {VERSION})", path)
    if ckpt.get("arch") not in ARCHITECTURES:
        raise DftagError(f"unknown architecture {ckpt.get('arch')!r}", path)
    if not isinstance(ckpt.get("image_size"), int) or not isinstance(ckpt.get("model"), dict):
        raise DftagError("checkpoint lacks image_size or model weights", path)
    ModelCalibration.from_dict(ckpt.get("calibration"), path)
    if ckpt.get("classifier") is not None:
        ClassifierSpec.from_dict(ckpt["classifier"], path)
        if not isinstance(ckpt["classifier"].get("model"), dict):
            raise DftagError("checkpoint's classifier lacks its weights", path)
    return ckpt


def with_classifier(ckpt: Mapping[str, Any], spec: ClassifierSpec, state: Mapping[str, torch.Tensor]
                    ) -> dict[str, Any]:
    """A copy of the detector checkpoint ``ckpt`` that also holds the crop classifier of ``spec`` with the
    state dict ``state`` (a two-stage model)."""
    return {**ckpt, "classifier": {**spec.to_dict(), "model": {k: v.detach().cpu() for k, v in state.items()}}}


def classifier_from_checkpoint(ckpt: Mapping[str, Any], path: str | os.PathLike | None = None
                               ) -> FaceClassifier | None:
    """The crop classifier of a two-stage checkpoint (eval mode, CPU), ``None`` for a single-stage one."""
    entry = ckpt.get("classifier")
    if entry is None:
        return None
    return classifier_from_state(ClassifierSpec.from_dict(entry, path), entry["model"], path)


def model_from_checkpoint(ckpt: Mapping[str, Any], path: str | os.PathLike | None = None) -> SSD:
    """Rebuild the model stored in a checkpoint dict (eval mode, CPU)."""
    model = build_model(ckpt["arch"], pretrained_backbone=False, image_size=ckpt["image_size"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise DftagError(f"weights do not fit {ckpt['arch']}: {str(err).splitlines()[0]}", path) from None
    return model.eval()


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def calibration_of(ckpt: Mapping[str, Any], path: str | os.PathLike | None = None) -> ModelCalibration:
    """The calibration stored in a checkpoint dict."""
    return ModelCalibration.from_dict(ckpt.get("calibration"), path)


def save_calibrated(src: str | os.PathLike, dst: str | os.PathLike, temperature: float | None = None, *,
                    face_threshold: float | None = None, video_rule: str | None = None,
                    video_temperature: float | None = None) -> None:
    """Copy the checkpoint ``src`` to ``dst`` (atomically) with the given calibration entries replaced (see
    :class:`~dftag.detector.model_calibration.ModelCalibration`; ``None`` keeps an entry as it is)."""
    ckpt = load_checkpoint(src)
    changes = {"temperature": temperature, "face_threshold": face_threshold, "video_rule": video_rule,
               "video_temperature": video_temperature}
    merged = {**calibration_of(ckpt, src).to_dict(), **{k: v for k, v in changes.items() if v is not None}}
    ckpt["calibration"] = ModelCalibration.from_dict(merged, dst).to_dict()
    write_checkpoint(dst, ckpt)
