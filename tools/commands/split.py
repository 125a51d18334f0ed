"""``dftag split``: write train/val/test COCO files beside a dataset's annotations.json, grouped by source."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dftag.annotations.dataset import ANNOTATIONS_FILE, SPLITS
from dftag.annotations.splits import write_splits
from dftag.core.outputs import check_outputs, file
from dftag.tools.commands._common import add_parser, nonnegative_int, probability

DESCRIPTION = """\
Split a dataset into train.json, val.json and test.json (full COCO files, written beside annotations.json).

Images are split by group (image field 'group': the original footage a frame derives from), so a fake and the
original it was made from always land in the same split. Within that rule every split gets close to its
fraction of real boxes, fake boxes and images. The same --seed always gives the same split.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "split", help="split a dataset into train/val/test by source group",
                   description=DESCRIPTION,
                   examples=["dftag split data/ds",
                             "dftag split data/ds --val 0.2 --test 0.1 --seed 3",
                             "dftag split data/ds --val 0.2 --test 0   # no test split"])
    p.add_argument("dataset", help="dataset folder (with annotations.json)")
    p.add_argument("--val", type=probability, default=0.15, help="fraction for validation (default: 0.15)")
    p.add_argument("--test", type=probability, default=0.15, help="fraction for test (default: 0.15)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="shuffle seed; same seed, same split (default: 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    given = Path(args.dataset)
    source = given / ANNOTATIONS_FILE if given.is_dir() else given
    check_outputs([file(source.parent / f"{s}.json", None) for s in SPLITS], [source])
    result, folder = write_splits(args.dataset, args.val, args.test, args.seed)
    print(result.table())
    print(f"wrote {', '.join(f'{s}.json' for s in SPLITS)} in {folder}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
