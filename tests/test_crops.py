"""Training data of the crop classifier: every unit is one real and one fake crop; a dataset fake is cropped
with its own original's box; self-blended units come from every real face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dftag.annotations.dataset import FAKE, REAL, load_dataset, new_coco, save_coco
from dftag.detector.classifier import ClassifierSpec
from dftag.training.crops import (
    CropDataset,
    Face,
    Unit,
    ValidationCrops,
    build_units,
    collate_units,
    original_faces,
    split_faces,
)

SPEC = ClassifierSpec(crop_size=48, margin=0.2)


@pytest.fixture
def paired_dataset(tmp_path):
    """Two frames of an original video with one real face each, their fakes (face moved by 3 px, as an
    autolabelled swap box would be), and one still image of a fake without an original."""
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, anns = [], []

    def add(name, video, frame, label, box, original=None, video_label=None):
        image = rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "images" / name), image[..., ::-1])
        entry = {"id": len(images) + 1, "file_name": name, "width": 100, "height": 80, "video": video,
                 "frame_index": frame, "timestamp": None, "group": "orig", "video_label": video_label}
        if original:
            entry["original"] = original
        images.append(entry)
        x1, y1, x2, y2 = box
        anns.append({"id": len(anns) + 1, "image_id": entry["id"], "category_id": label,
                     "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})

    for frame in (0, 5):
        add(f"o{frame}.png", "videos/orig.mp4", frame, REAL, (20, 10, 60, 60), video_label="real")
        add(f"f{frame}.png", "videos/fake.mp4", frame, FAKE, (23, 12, 62, 63), original="orig.mp4",
            video_label="fake")
    add("lonely.png", None, None, FAKE, (10, 10, 40, 50))
    coco = new_coco(images, anns)
    save_coco(coco, root / "annotations.json")
    save_coco(coco, root / "train.json")
    return load_dataset(root, "train")


def test_fakes_find_the_same_face_in_their_original_by_file_name(paired_dataset):
    faces = split_faces(paired_dataset)
    originals = original_faces(paired_dataset, faces)
    fakes = [i for i, f in enumerate(faces) if f.label == FAKE]
    assert sorted(originals) == fakes[:2]  # the still fake has no original
    for position, original in originals.items():
        fake_image = paired_dataset.images[faces[position].image]
        real_image = paired_dataset.images[original.image]
        assert original.label == REAL and real_image["frame_index"] == fake_image["frame_index"]
        assert real_image["video"] == "videos/orig.mp4"


def test_units_pair_each_fake_with_its_original_cropped_by_the_original_box(paired_dataset):
    units = build_units(paired_dataset, "pairs", np.random.default_rng(0))
    assert len(units) == 3  # two dataset pairs and the lonely fake with a random real partner
    paired = [u for u in units if u.fake.box == u.real.box]
    assert len(paired) == 2 and all(u.real.box == (20.0, 10.0, 60.0, 60.0) for u in paired)
    assert all(u.fake.label == FAKE and u.real.label == REAL for u in units)
    sbi = build_units(paired_dataset, "sbi", np.random.default_rng(0))
    assert len(sbi) == 2 and all(u.fake is None for u in sbi)
    assert len(build_units(paired_dataset, "both", np.random.default_rng(0))) == 5


def test_batches_are_balanced_and_paired(paired_dataset):
    units = build_units(paired_dataset, "both", np.random.default_rng(0))
    data = CropDataset(paired_dataset, units, SPEC)
    batch = collate_units([data[(i, 1000 + i)] for i in range(len(units))])
    crops, labels = batch
    assert crops.shape == (2 * len(units), 48, 48, 3) and crops.dtype == torch.uint8
    assert labels.tolist() == [0.0, 1.0] * len(units)  # each unit: its real, then its fake


def test_same_seed_same_crops_and_no_jitter_without_seed(paired_dataset):
    units = build_units(paired_dataset, "both", np.random.default_rng(0))
    data = CropDataset(paired_dataset, units, SPEC)
    for i in range(len(units)):
        assert torch.equal(data[(i, 7)][0], data[(i, 7)][0])
    plain = data[(0, None)][0]
    assert torch.equal(plain, data[(0, None)][0])


def test_dfdc_augmentation_changes_both_crops_of_a_unit_alike(paired_dataset):
    units = build_units(paired_dataset, "pairs", np.random.default_rng(0))
    same = Unit(units[0].real, Face(units[0].real.image, units[0].real.box, FAKE))  # the fake is the real face
    plain = CropDataset(paired_dataset, [same], SPEC)
    augmented = CropDataset(paired_dataset, [same], SPEC, augment="dfdc")
    changed = 0
    for seed in range(12):
        crops = augmented[(0, seed)][0]
        assert torch.equal(crops[0], crops[1])  # one draw for both crops: nothing tells them apart
        assert torch.equal(crops, augmented[(0, seed)][0])  # a pure function of the seed
        changed += not torch.equal(crops, plain[(0, seed)][0])
    assert changed >= 6  # p 0.7 colour, 0.5 affine, 0.2 grey ...: most draws change the crops
    assert torch.equal(augmented[(0, None)][0], plain[(0, None)][0])  # validation crops are never augmented
    with pytest.raises(ValueError, match="augment"):
        CropDataset(paired_dataset, [same], SPEC, augment="heavy")


def test_validation_crops_use_each_face_with_its_own_box(paired_dataset):
    crops = ValidationCrops(paired_dataset, SPEC)
    assert len(crops) == 5
    crop, label = crops[1]
    assert crop.shape == (48, 48, 3) and label.item() == 1.0


def test_unknown_fake_source_is_rejected(paired_dataset):
    with pytest.raises(ValueError, match="fake_source"):
        build_units(paired_dataset, "gan", np.random.default_rng(0))
