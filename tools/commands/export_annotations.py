"""``dftag export-annotations``: write a dataset in another tool's format (COCO, Pascal VOC, YOLO, CSV)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dftag.annotations.dataset import SPLITS, load_dataset
from dftag.annotations.formats import WRITERS
from dftag.core.errors import DftagError
from dftag.core.outputs import check_outputs, folder
from dftag.tools.commands._common import add_parser, dataset_inputs

DESCRIPTION = """\
Export a dataset (or one split of it) with its images for other tools. Formats:
  coco  OUT/annotations.json + OUT/images/ (the canonical file, categories 1=real 2=fake)
  voc   OUT/Annotations/*.xml + OUT/JPEGImages/ (1-based pixel corners; nested names flattened with '__')
  yolo  OUT/data.yaml (names 0=real 1=fake) + OUT/images/ + OUT/labels/*.txt (normalised centre/size)
  csv   OUT/annotations.csv (ssd_keras: image_name,xmin,xmax,ymin,ymax,class_id; 1=real 2=fake) + OUT/images/
Images are hard-linked where possible, else copied; the output folder appears whole or not at all.
Each export reads back with 'dftag convert --format FORMAT --input OUT'. See docs/formats.md.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "export-annotations", help="export a dataset as COCO, Pascal VOC, YOLO or CSV",
                   description=DESCRIPTION,
                   examples=["dftag export-annotations data/ds --format yolo --out exports/yolo",
                             "dftag export-annotations data/ds --format voc --split test --out exports/voc_test",
                             "dftag export-annotations data/ds --format csv --out exports/csv --force"])
    p.add_argument("dataset", help="dataset folder (with annotations.json) or a canonical COCO file")
    p.add_argument("--format", required=True, choices=sorted(WRITERS), help="output format")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--split", choices=SPLITS, help="export SPLIT.json instead of annotations.json")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_outputs([folder(args.out)], dataset_inputs(args.dataset, args.split), overwrite=args.force)
    dataset = load_dataset(args.dataset, split=args.split)
    missing = [img for img in dataset.images if not dataset.image_path(img).is_file()]
    if missing:
        raise DftagError(f"image file missing ({len(missing)} of {len(dataset.images)} images)",
                         dataset.image_path(missing[0]))
    WRITERS[args.format](dataset, args.out, force=args.force)
    print(f"wrote {len(dataset.images)} images and {len(dataset.annotations)} boxes as {args.format} to {args.out}")
    return 0
