"""The training dataset, its sampler and collate: boxes, negatives, balance, determinism across workers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from dftag.annotations.dataset import FAKE, REAL, load_dataset
from dftag.core.errors import DftagError
from dftag.core.io import read_image
from dftag.training.augment import AugmentConfig
from dftag.training.data import FaceDataset, TrainSampler, class_balanced_weights, collate, image_boxes


def test_items_are_resized_images_with_xyxy_boxes(face_dataset):
    ds = load_dataset(face_dataset(n_train=3, n_val=1, size=(96, 72)), "train")
    data = FaceDataset(ds, image_size=48)
    image, target = data[0]
    assert image.shape == (3, 48, 48) and image.dtype == torch.uint8
    ann = ds.annotations_by_image()[ds.images[0]["id"]][0]
    x, y, w, h = ann["bbox"]
    expected = [x * 48 / 96, y * 48 / 72, (x + w) * 48 / 96, (y + h) * 48 / 72]
    np.testing.assert_allclose(target["boxes"][0].numpy(), expected, rtol=1e-5)
    assert target["labels"].tolist() == [REAL, FAKE]
    negative = data[2][1]  # every third image has no face
    assert negative["boxes"].shape == (0, 4) and negative["labels"].shape == (0,)


def test_boxes_are_clipped_and_crowds_left_out(face_dataset):
    root = face_dataset(n_train=3, n_val=1)
    coco = json.loads((root / "train.json").read_text())
    coco["annotations"][0]["bbox"] = [-10, -5, 30, 20]
    coco["annotations"][1]["iscrowd"] = 1
    (root / "train.json").write_text(json.dumps(coco))
    boxes, labels = image_boxes(load_dataset(root, "train"))[0]
    np.testing.assert_allclose(boxes, [[0, 0, 20, 15]])
    assert labels.tolist() == [REAL]


def test_unreadable_image_names_the_file(face_dataset, tmp_path):
    root = face_dataset(n_train=3, n_val=1)
    (root / "images" / "000.png").write_bytes(b"not an image")
    with pytest.raises(DftagError, match="000.png.*undecodable"):
        FaceDataset(load_dataset(root, "train"), 32)[0]
    with pytest.raises(DftagError, match="missing"):
        read_image(tmp_path / "nope.jpg")


def test_seeded_keys_augment_and_self_blend(face_dataset):
    ds = load_dataset(face_dataset(n_train=3, n_val=1), "train")
    plain = FaceDataset(ds, 64)
    data = FaceDataset(ds, 64, AugmentConfig(), self_blend_p=1.0)
    image, target = data[(0, 7)]
    again, _ = data[(0, 7)]
    assert torch.equal(image, again)
    assert not torch.equal(image, plain[0][0])
    assert target["labels"].tolist() == [FAKE, FAKE]  # the real face became a self-blended fake
    assert torch.equal(data[0][0], plain[0][0])  # an int key: no augmentation


def test_collate_stacks_images_and_keeps_targets():
    items = [(torch.zeros(3, 8, 8, dtype=torch.uint8), {"boxes": torch.zeros(n, 4), "labels": torch.ones(n)})
             for n in (0, 2)]
    images, targets = collate(items)
    assert images.shape == (2, 3, 8, 8) and [len(t["boxes"]) for t in targets] == [0, 2]


def test_class_balanced_weights_favour_the_rarer_class():
    labels = [np.array([REAL])] * 6 + [np.array([REAL, FAKE])] * 2 + [np.array([], dtype=np.int64)] * 2
    w = class_balanced_weights(labels)
    assert w.sum() == pytest.approx(1.0)
    # real in 8 images, fake in 2, negatives 2: images with a fake are drawn 4x as often as real-only ones
    assert w[6] == pytest.approx(4 * w[0]) and w[8] == pytest.approx(w[6])
    sampler = TrainSampler(len(labels), seed=0, weights=w)
    drawn = [i for epoch in range(200) for i, _ in (sampler.set_epoch(epoch), list(sampler))[1]]
    fake_share = np.isin(drawn, [6, 7]).mean()
    assert 0.25 < fake_share < 0.41  # uniform sampling would give 0.2


def test_sampler_is_a_function_of_seed_and_epoch_and_splits_among_processes():
    def epoch(seed: int, n: int, replicas: int = 1, rank: int = 0) -> list[tuple[int, int]]:
        s = TrainSampler(10, seed=seed, num_replicas=replicas, rank=rank)
        s.set_epoch(n)
        return list(s)

    assert epoch(0, 1) == epoch(0, 1)
    assert epoch(0, 1) != epoch(0, 2) and epoch(0, 1) != epoch(1, 1)
    assert sorted(i for i, _ in epoch(0, 3)) == list(range(10))
    shards = [epoch(0, 3, 3, r) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4]  # padded to a multiple of the process count
    assert {i for s in shards for i, _ in s} == set(range(10))
    assert len({seed for s in shards for _, seed in s}) == 12  # every position has its own seed


def test_batches_do_not_depend_on_worker_count(face_dataset):
    ds = load_dataset(face_dataset(n_train=6, n_val=1), "train")
    data = FaceDataset(ds, 48, AugmentConfig(), self_blend_p=0.5)

    def batches(workers: int) -> list[tuple[torch.Tensor, list]]:
        sampler = TrainSampler(len(data), seed=3)
        sampler.set_epoch(1)
        return list(DataLoader(data, batch_size=2, sampler=sampler, num_workers=workers, collate_fn=collate))

    for (a, ta), (b, tb) in zip(batches(0), batches(2), strict=True):
        assert torch.equal(a, b)
        assert all(torch.equal(x["boxes"], y["boxes"]) and torch.equal(x["labels"], y["labels"])
                   for x, y in zip(ta, tb))
