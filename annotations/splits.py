"""Group-aware, class-stratified train/val/test splits of a canonical dataset.

A *group* is the original footage an image derives from (image field ``group``: a fake and its original share
one), so a group never spans two splits and no face identity or scene leaks from training into evaluation.
Within that constraint each split gets close to its fraction of every *stratum*: real boxes, fake boxes and
images. Groups are shuffled with the seed, ordered largest first (ties in shuffled order), and each goes to the
split furthest below its target in the strata that group carries; when only as many groups remain as there are
still-empty splits, they go to those, so every requested split gets a group whenever there are enough.

A requested split that ends up with no box of a class the dataset has (few groups carry fake faces, say) cannot
measure that class: :attr:`SplitResult.warnings` says so, one line per split and class.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from dftag.annotations.dataset import CLASS_NAMES, SPLITS, Dataset, load_dataset, new_coco, save_coco
from dftag.core.atomic import atomic_path
from dftag.core.errors import DftagError

# Strata balanced across splits: one column per class (box counts), then the image count.
STRATA = (*[f"{name} boxes" for name in CLASS_NAMES.values()], "images")


def image_group(image: dict[str, Any]) -> str:
    """The group an image belongs to: its ``group``, else its video's stem, else its file's stem."""
    if image.get("group") is not None:
        return str(image["group"])
    source = image.get("video") or image["file_name"]
    return PurePath(str(source).split("#")[0]).stem


@dataclass
class SplitResult:
    """Image ids per split (in dataset order) and per-split counts."""

    image_ids: dict[str, list[int]]
    groups: dict[str, list[str]]
    counts: dict[str, dict[str, int]]  # split -> {"images", "real boxes", "fake boxes", "groups"}
    warnings: list[str] = field(default_factory=list)  # requested splits lacking a class the dataset has

    def table(self) -> str:
        """The counts as text: one row per split, one column per stratum plus groups."""
        columns = [*STRATA, "groups"]
        header = f"{'split':<6}" + "".join(f"{c:>12}" for c in columns)
        rows = [f"{s:<6}" + "".join(f"{self.counts[s][c]:>12}" for c in columns) for s in self.counts]
        return "\n".join([header, *rows])


def _group_counts(coco: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, list[int]]]:
    """Per group: the strata counts vector and its image ids (in dataset order)."""
    class_column = {cid: i for i, cid in enumerate(CLASS_NAMES)}
    image_group_of: dict[int, str] = {}
    members: dict[str, list[int]] = defaultdict(list)
    counts: dict[str, np.ndarray] = {}
    for img in coco["images"]:
        g = image_group(img)
        image_group_of[img["id"]] = g
        members[g].append(img["id"])
        counts.setdefault(g, np.zeros(len(STRATA)))[-1] += 1
    for ann in coco["annotations"]:
        counts[image_group_of[ann["image_id"]]][class_column[ann["category_id"]]] += 1
    return counts, dict(members)


def check_fractions(val: float, test: float) -> dict[str, float]:
    """Fractions per split (train takes the rest); raise :class:`DftagError` unless valid."""
    for name, f in (("val", val), ("test", test)):
        if not 0.0 <= f < 1.0:
            raise DftagError(f"{{parameter}} must be a fraction in [0, 1), got {f}", parameter=name)
    if val + test >= 1.0:
        raise DftagError(f"the val and test fractions must leave something for train, got {val} + {test} = "
                         f"{val + test:g}")
    return {"train": 1.0 - val - test, "val": val, "test": test}


def assign_groups(counts: dict[str, np.ndarray], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Map each group to a split (see module docstring). ``counts`` are the groups' strata vectors."""
    names = sorted(counts)
    random.Random(seed).shuffle(names)
    names.sort(key=lambda g: -counts[g].sum())  # stable: equal sizes stay in shuffled order
    total = np.maximum(sum(counts.values()), 1.0)
    wanted = [s for s in SPLITS if fractions.get(s, 0.0) > 0]
    target = {s: fractions[s] * total for s in wanted}
    filled = {s: np.zeros_like(total) for s in wanted}
    assignment: dict[str, str] = {}
    for pos, g in enumerate(names):
        empty = [s for s in wanted if not filled[s].any()]
        remaining = len(names) - pos
        if empty and remaining <= len(empty):
            candidates = empty
        else:
            candidates = wanted
        weight = counts[g] / max(counts[g].sum(), 1.0)
        # deficit of each split in the strata this group carries, each stratum scaled by its dataset total
        best = max(candidates, key=lambda s: float(weight @ ((target[s] - filled[s]) / total)))
        assignment[g] = best
        filled[best] += counts[g]
    return assignment


def split_dataset(coco: dict[str, Any], val: float, test: float, seed: int) -> SplitResult:
    """Split a canonical COCO dict by group; see the module docstring for the rule."""
    fractions = check_fractions(val, test)
    if not coco["images"]:
        raise DftagError("dataset has no images to split")
    counts, members = _group_counts(coco)
    wanted = [s for s in SPLITS if fractions[s] > 0]
    if len(counts) < len(wanted):
        raise DftagError(f"dataset has {len(counts)} group(s) but {len(wanted)} splits were asked for "
                         f"({', '.join(wanted)}); a group cannot span two splits: add data or set "
                         f"--val/--test to 0")
    assignment = assign_groups(counts, fractions, seed)
    split_of_image = {iid: assignment[g] for g, ids in members.items() for iid in ids}
    image_ids = {s: [img["id"] for img in coco["images"] if split_of_image[img["id"]] == s] for s in SPLITS}
    groups = {s: sorted(g for g, sp in assignment.items() if sp == s) for s in SPLITS}
    result_counts = {}
    for s in SPLITS:
        vec = sum((counts[g] for g in groups[s]), np.zeros(len(STRATA)))
        result_counts[s] = {name: int(v) for name, v in zip(STRATA, vec)} | {"groups": len(groups[s])}
    return SplitResult(image_ids, groups, result_counts, _missing_classes(result_counts, counts, wanted))


def _missing_classes(split_counts: dict[str, dict[str, int]], group_counts: dict[str, np.ndarray],
                     wanted: list[str]) -> list[str]:
    """One line per requested split that gets no box of a class the dataset has."""
    lines = []
    for name in CLASS_NAMES.values():
        column = f"{name} boxes"
        column_index = STRATA.index(column)
        total = sum(split_counts[s][column] for s in SPLITS)
        carriers = sum(1 for v in group_counts.values() if v[column_index] > 0)
        if not total:
            continue
        for s in wanted:
            if split_counts[s][column] == 0:
                lines.append(f"split {s!r} has no {name} box (the dataset has {total} in "
                             f"{carriers} group{'s' if carriers != 1 else ''}): its {name} AP cannot be measured; "
                             f"try another seed or a larger fraction, or add {name} footage")
    return lines


def subset_coco(coco: dict[str, Any], image_ids: list[int], split: str) -> dict[str, Any]:
    """A full canonical COCO dict holding only ``image_ids`` (ids kept) and their annotations."""
    keep = set(image_ids)
    images = [img for img in coco["images"] if img["id"] in keep]
    annotations = [ann for ann in coco["annotations"] if ann["image_id"] in keep]
    return new_coco(images, annotations, **(coco.get("info", {}) | {"split": split}))


def write_splits(dataset: str | os.PathLike[str], val: float, test: float, seed: int) -> tuple[SplitResult, Path]:
    """Split the dataset ``dataset`` (:func:`split_dataset`: ``val`` and ``test`` are fractions, train takes the
    rest) and write ``train.json``, ``val.json`` and ``test.json``, each a full canonical COCO file, beside its
    ``annotations.json``; returns the split and the folder the files are in. The three are written to
    temporaries first and renamed together at the end, so a failure leaves the previous split whole, never a
    new ``train.json`` beside an old ``test.json``."""
    loaded = load_dataset(dataset)
    result = split_dataset(loaded.coco, val, test, seed)
    return result, write_split_files(loaded, result.image_ids)


def write_split_files(dataset: Dataset, image_ids: Mapping[str, Sequence[int]]) -> Path:
    """Write ``train.json``, ``val.json`` and ``test.json`` beside the ``annotations.json`` of ``dataset``
    (loaded without a split), each a full canonical COCO file of the ``image_ids`` of that split; all three go
    to temporaries first and are renamed together at the end. Returns the folder."""
    with contextlib.ExitStack() as renames:
        for split in SPLITS:
            tmp = renames.enter_context(atomic_path(dataset.root / f"{split}.json"))
            save_coco(subset_coco(dataset.coco, list(image_ids.get(split, ())), split), tmp)
    return dataset.root
