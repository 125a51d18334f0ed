"""MTCNN face detection with five landmarks, offline, on the weights that ``facenet-pytorch`` ships.

MTCNN (Zhang et al., "Joint Face Detection and Alignment using Multi-task Cascaded Convolutional Networks",
2016) is a cascade of three small networks:

1. **P-Net** (fully convolutional, 12 px window, stride 2) runs on an image pyramid: scale ``12 /
   min_face_size`` first, then each level ``factor`` (0.709) times smaller while the short side is still at
   least 12 px. Windows with face probability >= ``thresholds[0]`` become boxes, NMS at IoU 0.5 per level and
   0.7 over all levels, then the boxes are regressed and squared.
2. **R-Net** rescores 24 x 24 crops of those squares: probability > ``thresholds[1]``, NMS 0.7, regression,
   squaring.
3. **O-Net** rescores 48 x 48 crops: probability > ``thresholds[2]``, regression, five landmarks, and a last
   NMS that suppresses a box when its intersection covers more than 70 % of the smaller box ("Min" overlap).

This module reproduces ``facenet_pytorch.models.utils.detect_face`` (facenet-pytorch 2.6.0, MIT licence) step
by step: the same pyramid, "area" resampling, input scaling ``(x - 127.5) / 128``, thresholds, NMS and the
+1/-1 pixel offsets of the original MATLAB code, so boxes and landmarks agree with ``MTCNN.detect`` to float
precision (at most 1.2e-4 px apart on 13 FF++ and DFDC frames). Two differences: faces come ordered by score
(facenet-pytorch's default puts the largest first), and a crop that would be empty is dropped with its box
(facenet-pytorch misaligns crops and boxes then).

The networks' parameter names match facenet-pytorch's state dicts ``pnet.pt``, ``rnet.pt``, ``onet.pt``;
``dftag weights fetch`` puts verified copies in ``torch.hub.get_dir()/checkpoints/mtcnn``
(:data:`dftag.detector.weights.MTCNN`), and :meth:`FaceLandmarker.load` reads them with
``torch.load(..., weights_only=True)``. Nothing is downloaded at run time.

Coordinates are absolute pixels of the input image: boxes ``xyxy`` (as MTCNN regresses them, so they may
reach past the image border), landmarks ``(x, y)`` in the order of :data:`LANDMARKS`, where left and right
are as seen in the image (the "left eye" is the one with the smaller x in a frontal face).

Measured on this project's 2-core CPU (median over 5 frames per clip, defaults, one torch thread / two):
FF++ c23 640 x 480 about 80 / 70 ms, FF++ c23 1280 x 720 about 250 / 175 ms, DFDC 1920 x 1080 about 400-450 /
250-350 ms a frame, with other jobs on the cores (up to 2x slower when both were busy). The pyramid is most of
it, half "area" resampling and half P-Net: ``min_face_size=80`` takes those to about 25, 90 and 150 ms (one
thread). Batches (:meth:`FaceLandmarker.detect_batch` with ``batch_size`` > 1) were 20-40 % slower per frame on
this CPU, hence the default of 1. In 25 frames (5 each from the FF++ c23 originals 004, 519, 634 and the DFDC
clips widuwuoiur, brtujopkby) the person's face was found in every frame with score >= 0.994, plus 8 other
boxes scoring 0.73-0.96 (one a real face cut by the frame border, most background).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.functional import interpolate
from torchvision.ops import batched_nms

from dftag.core.errors import DftagError
from dftag.detector.torch_file import read_torch_file
from dftag.detector.weights import MTCNN as MTCNN_WEIGHTS

THRESHOLDS = (0.6, 0.7, 0.7)  # face probability needed at P-Net, R-Net, O-Net
FACTOR = 0.709  # scale step of the image pyramid
MIN_FACE_SIZE = 20  # pixels: the smallest face side searched for
LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
WEIGHT_FILES = tuple(MTCNN_WEIGHTS.sha256)  # ("pnet.pt", "rnet.pt", "onet.pt")


class PNet(nn.Module):
    """Proposal network: fully convolutional, one output cell per 12 x 12 window at stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x`` (B, 3, H, W) scaled RGB -> box offsets (B, 4, H', W') and face probability (B, H', W')."""
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)[:, 1]


class RNet(nn.Module):
    """Refinement network on 24 x 24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x`` (N, 3, 24, 24) scaled RGB -> box offsets (N, 4) and face probability (N,)."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = x.permute(0, 3, 2, 1).flatten(1)  # the converted Caffe weights expect (W, H, C) order
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)[:, 1]


class ONet(nn.Module):
    """Output network on 48 x 48 crops: box offsets, five landmarks, face probability."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x`` (N, 3, 48, 48) scaled RGB -> box offsets (N, 4), landmarks (N, 10: five x then five y, as
        fractions of the crop) and face probability (N,)."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).flatten(1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)[:, 1]


class Faces(NamedTuple):
    """The faces found in one image, best score first (unpacks as ``boxes, scores, landmarks``).

    ``boxes`` (N, 4) float32 xyxy pixels; ``scores`` (N,) float32 O-Net face probability; ``landmarks``
    (N, 5, 2) float32 (x, y) pixels in the order of :data:`LANDMARKS`.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray


class FaceLandmarker:
    """MTCNN face boxes and five landmarks for uint8 RGB images (see the module docstring).

    Build it from weights with :meth:`load`, or from networks (random ones in tests) with the constructor.
    ``min_face_size`` (pixels), ``thresholds`` and ``factor`` are MTCNN's usual parameters, defaulting to
    facenet-pytorch's.
    """

    def __init__(self, pnet: PNet, rnet: RNet, onet: ONet, *, device: str | torch.device = "cpu",
                 min_face_size: float = MIN_FACE_SIZE, thresholds: Sequence[float] = THRESHOLDS,
                 factor: float = FACTOR):
        if min_face_size <= 0 or not 0 < factor < 1 or len(thresholds) != 3:
            raise ValueError("need min_face_size > 0, 0 < factor < 1 and three thresholds")
        self.device = torch.device(device)
        self.pnet, self.rnet, self.onet = (net.eval().to(self.device) for net in (pnet, rnet, onet))
        self.min_face_size, self.thresholds, self.factor = float(min_face_size), tuple(thresholds), factor

    @classmethod
    def load(cls, weights: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
             device: str | torch.device = "cpu", **options) -> FaceLandmarker:
        """Load the networks from ``weights``: a folder holding ``pnet.pt``, ``rnet.pt`` and ``onet.pt``, or
        those three files in that order; ``None`` is the folder ``dftag weights fetch`` fills. ``options`` go to
        the constructor. A missing or unusable file is one :class:`DftagError` naming it."""
        if weights is None:
            weights = MTCNN_WEIGHTS.folder()
        if isinstance(weights, (str, os.PathLike)):
            paths = [os.path.join(weights, name) for name in WEIGHT_FILES]
        else:
            paths = list(weights)
            if len(paths) != 3:
                raise ValueError("weights must be a folder or the three files pnet.pt, rnet.pt, onet.pt")
        nets = [_load_net(net, path) for net, path in zip((PNet(), RNet(), ONet()), paths)]
        return cls(*nets, device=device, **options)

    def detect(self, image: np.ndarray) -> Faces:
        """The faces in one uint8 RGB image ``(H, W, 3)``."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray], batch_size: int = 1) -> list[Faces]:
        """The faces in each image. Images of one size go through the networks ``batch_size`` at a time, with
        the same results as one by one (on a CPU one at a time is fastest)."""
        for image in images:
            if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
                    and image.shape[2] == 3):
                raise ValueError("images must be uint8 RGB numpy arrays of shape (H, W, 3)")
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            by_shape.setdefault(image.shape, []).append(i)
        out: list[Faces | None] = [None] * len(images)
        with torch.inference_mode():
            for indices in by_shape.values():
                for start in range(0, len(indices), batch_size):
                    chunk = indices[start:start + batch_size]
                    batch = torch.from_numpy(np.stack([images[i] for i in chunk])).to(self.device)
                    batch = batch.permute(0, 3, 1, 2).float().contiguous()  # NCHW: faster "area" resampling
                    for i, faces in zip(chunk, self._detect(batch)):
                        out[i] = faces
        return out

    def _detect(self, imgs: Tensor) -> list[Faces]:
        """The three stages on ``imgs`` (B, 3, H, W) float 0-255 of one size."""
        boxes, image_ids = self._propose(imgs)
        t1, t2 = self.thresholds[1:]

        # R-Net: rescore, NMS, regress, square.
        crops, boxes, image_ids = _crops(imgs, _square(boxes), image_ids, 24)
        if len(boxes):
            reg, prob = _run(self.rnet, crops)
            keep = prob > t1
            boxes, image_ids, reg, prob = boxes[keep], image_ids[keep], reg[keep], prob[keep]
            keep = batched_nms(boxes, prob, image_ids, 0.7)
            boxes, image_ids = _square(_regress(boxes[keep], reg[keep])), image_ids[keep]

        # O-Net: rescore, landmarks from the unregressed crop box, regress, "Min" NMS.
        crops, boxes, image_ids = _crops(imgs, boxes, image_ids, 48)
        scores = boxes.new_zeros(0)
        points = boxes.new_zeros(0, 5, 2)
        if len(boxes):
            reg, marks, prob = _run(self.onet, crops)
            keep = prob > t2
            boxes, image_ids, reg, marks, scores = boxes[keep], image_ids[keep], reg[keep], marks[keep], prob[keep]
            size = boxes[:, 2:] - boxes[:, :2] + 1  # (width, height)
            points = marks.view(-1, 2, 5).transpose(1, 2) * size[:, None] + boxes[:, None, :2] - 1
            boxes = _regress(boxes, reg)
        faces = []
        for b in range(len(imgs)):
            mine = torch.nonzero(image_ids == b)[:, 0]
            mine = mine[_nms_min(boxes[mine], scores[mine], 0.7)]
            faces.append(Faces(boxes[mine].cpu().numpy().astype(np.float32),
                               scores[mine].cpu().numpy().astype(np.float32),
                               points[mine].cpu().numpy().astype(np.float32)))
        return faces

    def _propose(self, imgs: Tensor) -> tuple[Tensor, Tensor]:
        """P-Net over the pyramid: regressed (not yet squared) boxes (N, 4) and their image indices (N,)."""
        h, w = imgs.shape[2:]
        scale = 12.0 / self.min_face_size
        short = min(h, w) * scale
        boxes, scores, offsets, image_ids = [], [], [], []
        while short >= 12:
            level = interpolate(imgs, size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
            reg, prob = self.pnet((level - 127.5) * 0.0078125)
            hit = torch.nonzero(prob >= self.thresholds[0])  # (image, row, col)
            cells = hit[:, 1:].flip(1).to(imgs.dtype)  # (col, row) = window position / 2
            level_boxes = torch.cat([((2 * cells + 1) / scale).floor(), ((2 * cells + 12) / scale).floor()], 1)
            level_scores = prob[hit[:, 0], hit[:, 1], hit[:, 2]]
            keep = batched_nms(level_boxes, level_scores, hit[:, 0], 0.5)
            boxes.append(level_boxes[keep])
            scores.append(level_scores[keep])
            offsets.append(reg[hit[keep, 0], :, hit[keep, 1], hit[keep, 2]])
            image_ids.append(hit[keep, 0])
            scale *= self.factor
            short *= self.factor
        if not boxes:  # image smaller than the smallest face
            return imgs.new_zeros(0, 4), torch.zeros(0, dtype=torch.long, device=imgs.device)
        boxes, scores, offsets, image_ids = (torch.cat(v) for v in (boxes, scores, offsets, image_ids))
        keep = batched_nms(boxes, scores, image_ids, 0.7)
        boxes, offsets = boxes[keep], offsets[keep]
        size = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)  # P-Net's regression has no +1
        return boxes + offsets * size, image_ids[keep]


def _load_net(net: nn.Module, path: str | os.PathLike) -> nn.Module:
    """``net`` with the state dict in ``path`` (read with ``weights_only=True``); one error naming the file."""
    if not os.path.isfile(path):
        raise DftagError("no such MTCNN weights file (dftag weights fetch places them)", path)
    state = read_torch_file(path)
    name = type(net).__name__
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DftagError(f"not a state dict of tensors (MTCNN {name} weights)", path)
    expected = net.state_dict()
    wrong = sorted(k for k in expected.keys() | state.keys()
                   if k not in state or k not in expected or state[k].shape != expected[k].shape)
    if wrong:
        shown = ", ".join(wrong[:3]) + (f" and {len(wrong) - 3} more" if len(wrong) > 3 else "")
        raise DftagError(f"not MTCNN {name} weights (tensors missing, unexpected or of another shape: {shown})",
                         path)
    net.load_state_dict(state)
    return net


def _run(net: nn.Module, crops: Tensor, chunk: int = 512) -> tuple[Tensor, ...]:
    """``net`` on ``crops`` in chunks (bounded memory), outputs concatenated."""
    outs = [net(crops[i:i + chunk]) for i in range(0, len(crops), chunk)]
    return tuple(torch.cat(parts) for parts in zip(*outs))


def _square(boxes: Tensor) -> Tensor:
    """Boxes grown to squares of side max(w, h) about their centres."""
    wh = boxes[:, 2:] - boxes[:, :2]
    side = wh.max(dim=1, keepdim=True).values
    top_left = boxes[:, :2] + wh * 0.5 - side * 0.5
    return torch.cat([top_left, top_left + side], 1)


def _regress(boxes: Tensor, offsets: Tensor) -> Tensor:
    """Move each side by its offset times the box's width or height (MATLAB-style, inclusive: +1)."""
    size = (boxes[:, 2:] - boxes[:, :2] + 1).repeat(1, 2)
    return boxes + offsets * size


def _crops(imgs: Tensor, boxes: Tensor, image_ids: Tensor, side: int) -> tuple[Tensor, Tensor, Tensor]:
    """``side`` x ``side`` crops of ``boxes`` (truncated to whole pixels, clipped to the image), scaled for the
    networks; boxes whose crop would be empty are dropped. Returns crops, kept boxes and their image ids."""
    h, w = imgs.shape[2:]
    corners = boxes.trunc().int().cpu()
    x1, y1 = corners[:, 0].clamp(min=1).tolist(), corners[:, 1].clamp(min=1).tolist()
    x2, y2 = corners[:, 2].clamp(max=w).tolist(), corners[:, 3].clamp(max=h).tolist()
    ids = image_ids.tolist()
    crops, kept = [], []
    for k in range(len(ids)):
        if y2[k] > y1[k] - 1 and x2[k] > x1[k] - 1:
            crop = imgs[ids[k]:ids[k] + 1, :, y1[k] - 1:y2[k], x1[k] - 1:x2[k]]
            crops.append(interpolate(crop, size=(side, side), mode="area"))
            kept.append(k)
    if not kept:
        return imgs.new_zeros(0, 3, side, side), boxes[:0], image_ids[:0]
    kept_t = torch.tensor(kept, device=boxes.device)
    return (torch.cat(crops) - 127.5) * 0.0078125, boxes[kept_t], image_ids[kept_t]


def _nms_min(boxes: Tensor, scores: Tensor, threshold: float) -> Tensor:
    """Greedy NMS that drops a box when its intersection over the *smaller* area exceeds ``threshold``
    (MATLAB-style areas, +1). Returns kept indices, best score first. (torchvision.ops has only IoU NMS.)"""
    order = torch.argsort(scores, descending=True)
    x1, y1, x2, y2 = boxes.unbind(1)
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest]) + 1).clamp(min=0)
        ih = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest]) + 1).clamp(min=0)
        order = rest[iw * ih / torch.minimum(area[i], area[rest]) <= threshold]
    return torch.stack(keep) if keep else order
