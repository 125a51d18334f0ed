"""Run a trained detector on images: :class:`Detector` and its per-image :class:`Detections` (defined in
:mod:`dftag.core.detections`, re-exported here).

The network (:class:`DetectorNetwork`) takes a batch of uint8 RGB images already resized to the model's square
input (see :func:`dftag.detector.models.resize_image`), normalises them as the model's ``transform`` does, and
returns every anchor's decoded box (xyxy, input pixels) and its three class logits (background, real, fake).
Post-processing (:func:`postprocess`) is shared by the torch and the ONNX Runtime backends: a box is labelled
with the likelier of real and fake, kept when that label's 3-way softmax probability reaches
``score_threshold`` (or, with ``by_face``, when its face probability ``p(real) + p(fake)`` does:
``face_scores``, what the tracker follows), and boxes overlapping more than ``nms_iou`` are suppressed across
both labels (one box per face). Boxes are mapped back to original-image pixels.

A **two-stage** detector (a checkpoint with a ``classifier``) uses the SSD only to find faces: a box is kept
when its face probability ``1 - p(background)`` reaches ``score_threshold`` (at most :data:`MAX_FACES` per
image, the likeliest: an evaluation at a low threshold would otherwise classify a hundred background boxes per
image); each kept face is then cut from the
original image (:func:`dftag.detector.face_crop.crop_faces`, the classifier's crop size and margin) and tagged by
the crop classifier (:mod:`dftag.detector.classifier`): ``fake_logit`` is the classifier's, ``labels`` the
likelier class, ``scores`` = face probability x that class's probability (so the per-class precision-recall
curves rank faces as the single-stage model's do), ``p_fake`` = sigmoid(fake_logit / temperature).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.ssd import SSD
from torchvision.ops import batched_nms, clip_boxes_to_image

from dftag.annotations.dataset import FAKE, REAL
from dftag.core.detections import Detections
from dftag.core.thresholds import FACE_SCORE_THRESHOLD
from dftag.detector.checkpoint import (
    calibration_of,
    classifier_from_checkpoint,
    file_sha256,
    load_checkpoint,
    model_from_checkpoint,
)
from dftag.detector.classifier import ClassifierSpec, FaceClassifier
from dftag.detector.face_crop import crop_faces
from dftag.detector.model_calibration import ModelCalibration
from dftag.detector.models import model_image_size, resize_image

DEFAULT_NMS_IOU = 0.45  # torchvision's SSD default
DEFAULT_BATCH_SIZE = 8
MAX_DETECTIONS = 100  # per image, after NMS
MAX_FACES = 20  # per image, the first stage's best faces that a two-stage detector's classifier tags
# Crops per classifier call: on CPU, 224 px crops in small batches stay in cache (4 at a time ran 3x faster
# than 32 on 2 cores, benchmarks/video.py); a loaded detector holds its weights channels-last, the layout the
# permuted uint8 NHWC input already has.
CLASSIFY_BATCH = 4


class DetectorNetwork(nn.Module):
    """The SSD's backbone and head with normalisation in front and box decoding behind.

    Input: uint8 ``(B, S, S, 3)`` RGB at the model's input size ``S``. Output: ``boxes (B, A, 4)`` float xyxy in
    input pixels (unclipped) and ``logits (B, A, 3)`` (background, real, fake) for all ``A`` anchors. Shares
    its modules with ``model`` and puts it in eval mode.
    """

    def __init__(self, model: SSD):
        super().__init__()
        model.eval()
        self.backbone, self.head, self.box_coder = model.backbone, model.head, model.box_coder
        size = model_image_size(model)
        transform = model.transform
        self.register_buffer("mean", torch.tensor(transform.image_mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(transform.image_std).view(1, 3, 1, 1))
        device = next(model.parameters()).device
        with torch.inference_mode():
            probe = torch.zeros((1, 3, size, size), device=device)
            features = list(self.backbone(probe).values())
            anchors = model.anchor_generator(ImageList(probe, [(size, size)]), features)[0]
        self.register_buffer("anchors", anchors.clone())
        self.eval()

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = images.permute(0, 3, 1, 2).float() / 255.0
        x = (x - self.mean) / self.std
        out = self.head(list(self.backbone(x).values()))
        regression = out["bbox_regression"]  # (B, A, 4)
        batch, num_anchors = regression.shape[:2]
        # decode_single takes one column group of 4 per box set: lay the batch out along columns
        codes = regression.permute(1, 0, 2).reshape(num_anchors, batch * 4)
        boxes = self.box_coder.decode_single(codes, self.anchors).reshape(num_anchors, batch, 4).permute(1, 0, 2)
        return boxes, out["cls_logits"]


def postprocess(boxes: Tensor, logits: Tensor, image_sizes: Sequence[tuple[int, int]], input_size: int, *,
                score_threshold: float, nms_iou: float, temperature: float, faces_only: bool = False,
                by_face: bool = False) -> list[Detections]:
    """Network outputs for a batch -> :class:`Detections` per image (``image_sizes`` are original ``(h, w)``).

    Boxes are kept, suppressed and ordered by the likelier label's probability, or with ``by_face`` by their
    face probability ``p(real) + p(fake)``. ``faces_only`` (the first stage of a two-stage model, which implies
    ``by_face``) also puts the face probability in ``scores``."""
    probs = logits.softmax(-1)
    label_scores, best = probs[..., 1:].max(-1)  # likelier of real and fake
    face_scores = probs[..., 1:].sum(-1)
    rank = face_scores if by_face or faces_only else label_scores
    scores = face_scores if faces_only else label_scores
    image_idx, anchor_idx = torch.nonzero(rank >= score_threshold, as_tuple=True)
    kept_boxes = clip_boxes_to_image(boxes[image_idx, anchor_idx], (input_size, input_size))
    kept_rank = rank[image_idx, anchor_idx]
    wh = kept_boxes[:, 2:] - kept_boxes[:, :2]
    valid = (wh > 0).all(1)
    candidates = torch.nonzero(valid).flatten()
    # class-agnostic NMS, run once for the whole batch with the image index as the group
    order = candidates[batched_nms(kept_boxes[valid], kept_rank[valid], image_idx[valid], nms_iou)]
    selected_logits = logits[image_idx[order], anchor_idx[order]]
    fake_logit = selected_logits[:, 2] - selected_logits[:, 1]
    fields = {
        "boxes": kept_boxes[order],
        "labels": torch.where(best[image_idx[order], anchor_idx[order]] == 1, FAKE, REAL),
        "scores": scores[image_idx[order], anchor_idx[order]],
        "fake_logit": fake_logit,
        "p_fake": torch.sigmoid(fake_logit / temperature),
        "face_scores": face_scores[image_idx[order], anchor_idx[order]],
    }
    owner = image_idx[order]
    results = []
    for i, (h, w) in enumerate(image_sizes):
        mine = torch.nonzero(owner == i).flatten()[:MAX_DETECTIONS]
        scale = torch.tensor([w, h, w, h], dtype=torch.float32) / input_size
        out = {k: v[mine] for k, v in fields.items()}
        out["boxes"] = clip_boxes_to_image(out["boxes"].float() * scale, (h, w))
        results.append(Detections(**{k: v.cpu().numpy() for k, v in out.items()}))
    return results


class Detector:
    """A face detector that tags each face real or fake; ``predict`` works on uint8 RGB images of any size.

    Build it with :meth:`load` (a checkpoint file) or :meth:`from_model` (an in-memory model, e.g. during
    training). ``model_id`` names the architecture and the checkpoint's hash; ``calibration`` is what the
    checkpoint stores of it (:class:`~dftag.detector.model_calibration.ModelCalibration`: the temperature
    applied to ``p_fake``, 1.0 when uncalibrated, and the face threshold and video rule the pipeline uses when
    set).
    """

    def __init__(self, network: nn.Module | None, *, arch: str, image_size: int,
                 calibration: ModelCalibration = ModelCalibration(), model_id: str = "",
                 device: str | torch.device = "cpu", classifier: FaceClassifier | None = None,
                 classifier_spec: ClassifierSpec | None = None):
        self.network = network
        self.classifier = classifier
        self.classifier_spec = classifier_spec or (classifier.spec if classifier is not None else None)
        self.arch = arch
        self.image_size = image_size
        self.calibration = calibration
        self.model_id = model_id or arch
        self.device = torch.device(device)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> Detector:
        """Load a dftag checkpoint (``weights_only``); errors name the file."""
        ckpt = load_checkpoint(path)
        # weights channels-last for inference (see CLASSIFY_BATCH); never for a model still in training, whose
        # arithmetic would change with the layout
        model = model_from_checkpoint(ckpt, path).to(memory_format=torch.channels_last)
        classifier = classifier_from_checkpoint(ckpt, path)
        return cls.from_model(model, calibration=calibration_of(ckpt, path),
                              model_id=checkpoint_id(model_name(ckpt), path), device=device,
                              classifier=None if classifier is None else classifier.to(memory_format=torch.channels_last))

    @classmethod
    def from_model(cls, model: SSD, *, calibration: ModelCalibration = ModelCalibration(), model_id: str = "",
                   device: str | torch.device = "cpu", classifier: FaceClassifier | None = None) -> Detector:
        """Wrap a model built by :func:`dftag.detector.models.build_model` and, for a two-stage detector, its crop
        classifier (both are switched to eval mode)."""
        network = DetectorNetwork(model.to(device)).eval()
        if classifier is not None:
            classifier = classifier.to(device).eval()
        return cls(network, arch=model.dftag_arch, image_size=model_image_size(model), calibration=calibration,
                   model_id=model_id, device=device, classifier=classifier)

    @property
    def temperature(self) -> float:
        """The calibration temperature of ``p_fake`` (``calibration.temperature``)."""
        return self.calibration.temperature

    @property
    def two_stage(self) -> bool:
        """Whether faces are tagged by a crop classifier (else by the SSD itself)."""
        return self.classifier_spec is not None

    def predict(self, images: Sequence[np.ndarray], score_threshold: float = FACE_SCORE_THRESHOLD,
                nms_iou: float = DEFAULT_NMS_IOU, batch_size: int = DEFAULT_BATCH_SIZE, by_face: bool = False
                ) -> list[Detections]:
        """Detect faces in uint8 RGB ``(H, W, 3)`` images (any sizes); one :class:`Detections` per image.

        ``score_threshold`` applies to each box's label probability (what precision-recall curves rank), or
        with ``by_face`` to its face probability ``face_scores`` (what tracking follows); a two-stage detector
        always keeps faces by their face probability."""
        results: list[Detections] = []
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            for image in chunk:
                if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
                        and image.shape[2] == 3):
                    raise ValueError("images must be uint8 RGB numpy arrays of shape (H, W, 3)")
            batch = np.stack([resize_image(image, self.image_size) for image in chunk])
            boxes, logits = self.forward(batch)
            found = postprocess(boxes, logits, [image.shape[:2] for image in chunk], self.image_size,
                                score_threshold=score_threshold, nms_iou=nms_iou, temperature=self.temperature,
                                faces_only=self.two_stage, by_face=by_face)
            results.extend(self.tag(chunk, [faces[:MAX_FACES] for faces in found]) if self.two_stage else found)
        return results

    def tag(self, images: Sequence[np.ndarray], found: Sequence[Detections]) -> list[Detections]:
        """The second stage: tag the faces ``found`` in ``images`` (face probability in ``scores``) from crops
        of the original images; see the module docstring."""
        spec = self.classifier_spec
        crops = [crop_faces(image, faces.boxes, spec.crop_size, spec.margin).images
                 for image, faces in zip(images, found)]
        logits = self.classify(np.concatenate(crops)) if sum(map(len, crops)) else np.zeros(0, np.float32)
        out, start = [], 0
        for faces in found:
            fake_logit = logits[start:start + len(faces)]
            start += len(faces)
            p_label = 1.0 / (1.0 + np.exp(-np.abs(fake_logit)))  # probability of the likelier class
            out.append(Detections(boxes=faces.boxes, labels=np.where(fake_logit >= 0, FAKE, REAL),
                                  scores=faces.scores * p_label, fake_logit=fake_logit,
                                  p_fake=1.0 / (1.0 + np.exp(-fake_logit / self.temperature)),
                                  face_scores=faces.face_scores))
        return out

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """Fake logits ``(N,)`` float32 of uint8 ``(N, S, S, 3)`` face crops, :data:`CLASSIFY_BATCH` at a time."""
        with torch.inference_mode():
            return np.concatenate([
                self.classifier(torch.from_numpy(crops[i:i + CLASSIFY_BATCH]).to(self.device)).float().cpu().numpy()
                for i in range(0, len(crops), CLASSIFY_BATCH)]) if len(crops) else np.zeros(0, np.float32)

    def forward(self, batch: np.ndarray) -> tuple[Tensor, Tensor]:
        """Run the network on uint8 ``(B, S, S, 3)`` input; returns CPU ``boxes`` and ``logits`` tensors."""
        with torch.inference_mode():
            boxes, logits = self.network(torch.from_numpy(batch).to(self.device))
        return boxes.cpu(), logits.cpu()


def model_name(ckpt: dict) -> str:
    """``arch`` of a single-stage checkpoint, ``arch+classifier arch`` of a two-stage one."""
    return ckpt["arch"] + (f"+{ckpt['classifier']['arch']}" if ckpt.get("classifier") else "")


def checkpoint_id(name: str, path: str | os.PathLike) -> str:
    """A short model id: the model name and the first 10 hex digits of the file's sha256."""
    return f"{name}@{file_sha256(Path(path))[:10]}"
