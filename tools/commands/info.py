"""``dftag info``: counts and box-size statistics of a dataset."""

from __future__ import annotations

import argparse
import json

from dftag.annotations.dataset import SPLITS, load_dataset
from dftag.annotations.stats import dataset_stats, format_stats
from dftag.tools.commands._common import add_parser

DESCRIPTION = """\
Show what a dataset holds: images, boxes per class (real/fake), videos, groups (original footage), and box
sizes in pixels (min/median/max of width, height and area, overall and per class) with the COCO size buckets
(small < 32x32, medium < 96x96, large).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "info", help="show counts and box-size statistics of a dataset",
                   description=DESCRIPTION,
                   examples=["dftag info data/ds",
                             "dftag info data/ds --split val",
                             "dftag info data/ds --json > stats.json"])
    p.add_argument("dataset", help="dataset folder (with annotations.json) or a canonical COCO file")
    p.add_argument("--split", choices=SPLITS, help="describe SPLIT.json instead of annotations.json")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    dataset = load_dataset(args.dataset, split=args.split)
    stats = dataset_stats(dataset.coco)
    print(json.dumps({"dataset": str(dataset.source), **stats}, indent=2) if args.json else
          f"{dataset.source}\n{format_stats(stats)}")
    return 0
