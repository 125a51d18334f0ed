"""Training data: a torch dataset over one split of a canonical dataset, its sampler and its collate function.

:class:`FaceDataset` decodes an image (OpenCV, to uint8 RGB), turns its COCO ``[x, y, w, h]`` boxes into
absolute pixel ``xyxy`` clipped to the image, optionally turns real faces into self-blended fakes
(:mod:`dftag.training.self_blend`), augments (:mod:`dftag.training.augment`) and resizes to the square network input.
Images without boxes are kept as negatives. Crowd annotations (``iscrowd=1``) are not used for training.

Randomness is a pure function of a per-sample seed: :class:`TrainSampler` yields ``(index, seed)`` keys, the
seed derived from the run's seed, the epoch and the position in the epoch, so an epoch's batches are the same
whatever the number of DataLoader workers or processes, and a resumed run sees exactly the data an
uninterrupted one would. A plain ``int`` key means "no augmentation, no self-blend".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from dftag.annotations.dataset import Dataset
from dftag.core.boxes import xywh_to_xyxy
from dftag.core.io import read_image
from dftag.training.augment import AugmentConfig, apply, build_transform, reseed
from dftag.training.self_blend import SelfBlendConfig, self_blend

SampleKey = int | tuple[int, int]  # dataset index, or (dataset index, augmentation seed)
Target = dict[str, torch.Tensor]  # {"boxes": float32 (N, 4) xyxy input pixels, "labels": int64 (N,)}


def image_boxes(dataset: Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image of ``dataset`` (in order): ``(boxes float32 (N, 4) xyxy pixels, labels int64 (N,))``,
    crowd annotations left out, boxes clipped to the image and dropped when empty after clipping."""
    by_image = dataset.annotations_by_image()
    out = []
    for img in dataset.images:
        anns = [a for a in by_image[img["id"]] if not a.get("iscrowd")]
        boxes = np.array([xywh_to_xyxy(a["bbox"]) for a in anns], dtype=np.float32).reshape(-1, 4)
        labels = np.array([a["category_id"] for a in anns], dtype=np.int64)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, img["width"])
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, img["height"])
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        out.append((boxes[keep], labels[keep]))
    return out


class FaceDataset(torch.utils.data.Dataset):
    """Images of one split as ``(uint8 (3, S, S) tensor, target)``, boxes in ``S x S`` input pixels.

    ``augment=None`` and ``self_blend_p=0`` give plain resized images; otherwise keys must carry a seed.
    """

    def __init__(self, dataset: Dataset, image_size: int, augment: AugmentConfig | None = None,
                 self_blend_p: float = 0.0, self_blend_config: SelfBlendConfig = SelfBlendConfig()):
        self.dataset = dataset
        self.image_size = image_size
        self.self_blend_p = self_blend_p
        self.self_blend_config = self_blend_config
        self.targets = image_boxes(dataset)
        self.plain = build_transform(image_size, None)
        self.augment = build_transform(image_size, augment) if augment is not None else None

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, Target]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        image = read_image(self.dataset.image_path(self.dataset.images[index]))
        boxes, labels = self.targets[index]
        transform = self.plain
        if seed is not None:
            rng = np.random.default_rng(seed)
            if self.self_blend_p > 0:
                image, labels = self_blend(image, boxes, labels, self.self_blend_p, rng, self.self_blend_config)
            if self.augment is not None:
                transform = self.augment
                reseed(transform, int(rng.integers(2**31)))
        image, boxes, labels = apply(transform, image, boxes, labels)
        return (torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
                {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels)})


def collate(batch: Sequence[tuple[torch.Tensor, Target]]) -> tuple[torch.Tensor, list[Target]]:
    """Stack same-size images into uint8 ``(B, 3, S, S)``; targets stay a list (counts differ per image)."""
    images, targets = zip(*batch)
    return torch.stack(images), list(targets)


def class_balanced_weights(labels_per_image: Sequence[np.ndarray]) -> np.ndarray:
    """Sampling weight per image: ``1 / (number of images holding its rarest class)``.

    An image's classes are the labels of its boxes, or "no face" for a negative, so real, fake and face-less
    images are each drawn about equally often in total. Weights sum to 1.
    """
    classes = [set(labels.tolist()) or {0} for labels in labels_per_image]
    counts = Counter(c for cs in classes for c in cs)
    weights = np.array([max(1.0 / counts[c] for c in cs) for cs in classes], dtype=np.float64)
    return weights / weights.sum()


class TrainSampler(DistributedSampler):
    """An epoch of ``(index, seed)`` keys for this process: a shuffle (or, with ``weights``, a class-balanced
    draw with replacement) of the whole dataset from ``seed + epoch``, padded to a multiple of
    ``num_replicas`` and split among processes like :class:`torch.utils.data.DistributedSampler`.

    Call :meth:`set_epoch` before each epoch; the sampler's whole state is its epoch.
    """

    def __init__(self, size: int, *, seed: int, weights: np.ndarray | None = None,
                 num_replicas: int = 1, rank: int = 0):
        super().__init__(range(size), num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)

    def epoch_order(self) -> list[int]:
        """All processes' indices of the current epoch, in order (``total_size`` of them)."""
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        size = len(self.dataset)
        if self.weights is None:
            order = torch.randperm(size, generator=g)
        else:
            order = torch.multinomial(self.weights, size, replacement=True, generator=g)
        order = order.tolist()
        return (order * math.ceil(self.total_size / size))[:self.total_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        positions = range(self.rank, self.total_size, self.num_replicas)
        order = self.epoch_order()
        for position in positions:
            yield order[position], sample_seed(self.seed, self.epoch, position)


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """The augmentation seed of the ``position``-th sample of ``epoch`` (independent streams per sample)."""
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1)[0])
