"""dftag split: groups never span splits, stratified, deterministic, clear errors."""

from __future__ import annotations

import json
import random

import pytest

from dftag.annotations.dataset import FAKE, REAL, SPLITS, load_dataset, new_coco, save_coco
from dftag.annotations.splits import STRATA, image_group, split_dataset, write_splits
from dftag.core.errors import DftagError
from dftag.tools.commands._common import error_line


def random_coco(seed: int, n_originals: int, max_fakes: int = 3, max_frames: int = 4) -> dict:
    """Originals with 0..max_fakes fakes each; every video has 1..max_frames frames with one face box."""
    rng = random.Random(seed)
    images, anns = [], []
    for o in range(n_originals):
        videos = [(f"orig{o}", REAL)] + [(f"fake{o}_{k}", FAKE) for k in range(rng.randint(0, max_fakes))]
        for video, label in videos:
            for f in range(rng.randint(1, max_frames)):
                iid = len(images) + 1
                images.append({"id": iid, "file_name": f"{video}/{f:06d}.jpg", "width": 64, "height": 48,
                               "video": f"{video}.mp4", "frame_index": f, "timestamp": f / 25,
                               "group": f"orig{o}"})
                anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": label,
                             "bbox": [10.0, 8.0, 20.0, 24.0], "area": 480.0, "iscrowd": 0})
    return new_coco(images, anns)


@pytest.mark.parametrize("seed", range(8))
def test_groups_never_span_splits(seed):
    coco = random_coco(seed, n_originals=random.Random(seed).randint(3, 30))
    result = split_dataset(coco, 0.15, 0.15, seed)
    by_id = {img["id"]: img for img in coco["images"]}
    split_of_group: dict[str, str] = {}
    for split, ids in result.image_ids.items():
        for iid in ids:
            assert split_of_group.setdefault(image_group(by_id[iid]), split) == split
    assert sorted(i for ids in result.image_ids.values() for i in ids) == sorted(by_id)
    assert all(result.counts[s]["images"] > 0 for s in SPLITS)


def test_same_seed_same_split_other_seed_differs():
    coco = random_coco(1, n_originals=40)
    a, b = split_dataset(coco, 0.2, 0.2, 7), split_dataset(coco, 0.2, 0.2, 7)
    assert a.image_ids == b.image_ids
    assert any(split_dataset(coco, 0.2, 0.2, s).groups != a.groups for s in range(8, 12))


def test_stratified_close_to_fractions():
    coco = random_coco(2, n_originals=200)
    result = split_dataset(coco, 0.15, 0.15, 0)
    fractions = {"train": 0.7, "val": 0.15, "test": 0.15}
    for stratum in ("real boxes", "fake boxes", "images"):
        total = sum(result.counts[s][stratum] for s in SPLITS)
        for s in SPLITS:
            assert abs(result.counts[s][stratum] / total - fractions[s]) < 0.03, (s, stratum, result.counts)


def test_zero_fraction_split_is_empty():
    result = split_dataset(random_coco(3, n_originals=10), 0.3, 0.0, 0)
    assert result.image_ids["test"] == [] and result.image_ids["val"] and result.image_ids["train"]


def test_three_equal_groups_fill_three_splits():
    # greedy alone would put two of them into train (its deficit stays largest); every split must get one
    coco = random_coco(4, n_originals=30, max_fakes=0, max_frames=1)
    for img in coco["images"]:
        img["group"] = f"g{img['id'] % 3}"
    result = split_dataset(coco, 0.15, 0.15, 0)
    assert sorted(len(result.groups[s]) for s in SPLITS) == [1, 1, 1]


def test_fewer_groups_than_splits_is_a_clear_error():
    coco = random_coco(6, n_originals=2)
    with pytest.raises(DftagError, match="2 group.*3 splits"):
        split_dataset(coco, 0.15, 0.15, 0)
    assert split_dataset(coco, 0.5, 0.0, 0).groups["val"]  # two splits from two groups is fine


@pytest.mark.parametrize("val,test,said", [(-0.1, 0.1, "--val must be a fraction"), (0.6, 0.5, "the val and test"),
                                           (1.0, 0.0, "--val must be a fraction"), (0.1, 1.5, "--test must")])
def test_bad_fractions(val, test, said):
    with pytest.raises(DftagError) as caught:
        split_dataset(random_coco(0, 5), val, test, 0)
    assert "--" not in caught.value.line()  # the library names its own parameters ...
    assert said in error_line(caught.value)  # ... and the command line spells them as flags


def test_cli_writes_canonical_split_files(tmp_path, dftag):
    save_coco(random_coco(7, n_originals=12), tmp_path / "annotations.json")
    before = (tmp_path / "annotations.json").read_bytes()
    code, out, err = dftag("split", tmp_path, "--val", "0.2", "--test", "0.2", "--seed", "3")
    assert code == 0, err
    assert "real boxes" in out and out.count("\n") >= 4
    loaded = {s: load_dataset(tmp_path, split=s) for s in SPLITS}
    ids = [img["id"] for s in SPLITS for img in loaded[s].images]
    assert sorted(ids) == sorted(img["id"] for img in load_dataset(tmp_path).images)
    assert all(d.coco["info"]["split"] == s for s, d in loaded.items())
    assert (tmp_path / "annotations.json").read_bytes() == before
    first = {s: (tmp_path / f"{s}.json").read_bytes() for s in SPLITS}
    dftag("split", tmp_path, "--val", "0.2", "--test", "0.2", "--seed", "3")
    assert {s: (tmp_path / f"{s}.json").read_bytes() for s in SPLITS} == first


def test_write_splits_writes_what_split_dataset_chose(tmp_path):
    coco = random_coco(5, n_originals=10)
    save_coco(coco, tmp_path / "annotations.json")
    result, folder = write_splits(tmp_path / "annotations.json", 0.2, 0.2, 1)
    assert folder == tmp_path and result.image_ids == split_dataset(coco, 0.2, 0.2, 1).image_ids
    assert {s: [img["id"] for img in load_dataset(tmp_path, s).images] for s in SPLITS} == result.image_ids
    header, *rows = result.table().splitlines()
    assert header.split()[0] == "split" and all(name.split()[0] in header for name in STRATA)
    assert [row.split()[0] for row in rows] == list(SPLITS)


def test_a_split_that_fails_to_write_leaves_the_previous_split_whole(tmp_path, monkeypatch):
    from dftag.annotations import splits

    save_coco(random_coco(5, n_originals=10), tmp_path / "annotations.json")
    write_splits(tmp_path, 0.2, 0.2, seed=1)
    before = {s: (tmp_path / f"{s}.json").read_bytes() for s in SPLITS}
    real_save, written = splits.save_coco, []

    def fails_on_the_last(coco, path):
        if len(written) == len(SPLITS) - 1:
            raise OSError("disk full")
        written.append(path)
        real_save(coco, path)

    monkeypatch.setattr(splits, "save_coco", fails_on_the_last)
    with pytest.raises(OSError):
        write_splits(tmp_path, 0.3, 0.3, seed=2)
    assert {s: (tmp_path / f"{s}.json").read_bytes() for s in SPLITS} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["annotations.json", *(f"{s}.json" for s in SPLITS)])


def test_cli_bad_input(tmp_path, dftag):
    code, _, err = dftag("split", tmp_path)
    assert code == 1 and "annotations.json" in err and "Traceback" not in err
    (tmp_path / "annotations.json").write_text(json.dumps({"images": []}))
    code, _, err = dftag("split", tmp_path)
    assert code == 1 and "annotations" in err
    save_coco(random_coco(0, 1), tmp_path / "annotations.json")
    code, _, err = dftag("split", tmp_path)
    assert code == 1 and "group" in err and not (tmp_path / "train.json").exists()


def _one_fake_group_coco() -> dict:
    """Three originals; only orig0 has a fake, so two of three splits cannot get a fake box."""
    images, anns = [], []
    for video, group, label in [("orig0", "orig0", REAL), ("fake0", "orig0", FAKE), ("orig1", "orig1", REAL),
                                ("orig2", "orig2", REAL)]:
        for f in range(2):
            iid = len(images) + 1
            images.append({"id": iid, "file_name": f"{video}/{f:06d}.jpg", "width": 64, "height": 48,
                           "video": f"{video}.mp4", "frame_index": f, "timestamp": f / 25, "group": group})
            anns.append({"id": iid, "image_id": iid, "category_id": label, "bbox": [1.0, 1.0, 9.0, 9.0],
                         "area": 81.0, "iscrowd": 0})
    return new_coco(images, anns)


def test_split_without_a_class_is_a_warning_in_the_result_and_on_the_command_line(tmp_path, dftag):
    coco = _one_fake_group_coco()
    result = split_dataset(coco, 0.3, 0.3, 0)
    lacking = sorted(s for s in SPLITS if result.counts[s]["fake boxes"] == 0)
    assert len(lacking) == 2
    assert result.warnings == [f"split {s!r} has no fake box (the dataset has 2 in 1 group): its fake AP cannot "
                               f"be measured; try another seed or a larger fraction, or add fake footage"
                               for s in SPLITS if s in lacking]
    assert split_dataset(random_coco(7, n_originals=12), 0.2, 0.2, 3).warnings == []
    assert split_dataset(coco, 0.0, 0.0, 0).warnings == []  # train alone holds everything

    save_coco(coco, tmp_path / "annotations.json")
    code, out, err = dftag("split", tmp_path, "--val", "0.3", "--test", "0.3")
    assert code == 0, err
    warned = [ln for ln in err.splitlines() if ln.startswith("warning: split ")]
    assert warned == [f"warning: {w}" for w in result.warnings]
