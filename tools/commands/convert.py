"""``dftag convert``: read an annotation export, cut the annotated frames and write a canonical dataset."""

from __future__ import annotations

from pathlib import Path

from dftag.annotations.convert import ConvertOptions
from dftag.annotations.exports import convert_export
from dftag.annotations.formats import READERS, csv_format, dfdc
from dftag.annotations.labels import LabelMap, parse_class_names
from dftag.core.errors import DftagError, Warnings
from dftag.core.outputs import check_outputs, folder
from dftag.tools.commands._common import positive_int

DESCRIPTION = """\
Convert an annotation export into a dftag dataset (DATASET/annotations.json + DATASET/images/).

Video formats (cvat-video, labelstudio, mot, dfdc) are decoded once per video and exactly the annotated frames
are stored upright as JPEG (phone videos with rotation metadata included; boxes are rotated when the export
declares the raw, coded frame size). Tracks are interpolated between keyframes as the tools do. Labels are
mapped to real/fake: defaults real <- real/pristine/original/genuine and fake <- fake/deepfake/manipulated/
swapped (any case); extend with --label-map. --input may be a file, a folder or an export zip. Boxes partly
outside the image are clipped (dropped when under 1 px); repairs are counted as warnings. See docs/formats.md.
"""

EXAMPLES = [
    "dftag convert --format cvat-video --input sample/cvat --media sample/videos --out data/faces",
    "dftag convert --format cvat-video --input task_export.zip --media videos/ --out data/faces --every 5",
    "dftag convert --format labelstudio --input project-1.json --media videos/ --out data/ls "
    "--label-map 'real=person_real,ok;fake=df'",
    "dftag convert --format coco --input instances.json --media images/ --out data/coco --max-side 1280",
    "dftag convert --format voc --input VOC2012/ --out data/voc --skip-unknown",
    "dftag convert --format yolo --input yolo_export.zip --out data/yolo",
    "dftag convert --format mot --input MOT/seq01 --media seq01.mp4 --class-names 1=fake --out data/mot",
    "dftag convert --format csv --input boxes.csv --media images/ --columns image=filename,label=class --out data/csv",
    "dftag convert --format dfdc --input dfdc_train_part_0/metadata.json --every 30 --out data/dfdc",
    "dftag convert --format cvat-video --input cvat/ --media videos/ --groups metadata.json "
    "--negatives-every 50 --out data/faces --force",
]
DFDC_EVERY = 30


def register(sub) -> None:
    from dftag.tools.commands._common import add_parser

    p = add_parser(sub, "convert", help="convert an annotation export (CVAT, Label Studio, COCO, ...) to a dataset",
                   description=DESCRIPTION, examples=EXAMPLES)
    p.add_argument("--format", required=True, choices=sorted(READERS), help="the export's format")
    p.add_argument("--input", required=True, type=Path, help="annotation file, folder or export zip")
    p.add_argument("--media", type=Path,
                   help="folder holding the videos/images the export names (default: beside the annotations)")
    p.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    p.add_argument("--force", action="store_true", help="replace --out if it exists and is not empty")
    p.add_argument("--label-map", metavar="SPEC|FILE.json",
                   help="extra label names: 'real=a,b;fake=c' or a JSON file {\"real\": [...], \"fake\": [...]}")
    p.add_argument("--skip-unknown", action="store_true", help="drop boxes whose label is not mapped (else an error)")
    p.add_argument("--every", type=positive_int, metavar="N",
                   help=f"keep annotated frames whose index is a multiple of N; for dfdc, cut every N-th frame "
                        f"(default {DFDC_EVERY})")
    p.add_argument("--negatives-every", type=positive_int, metavar="N",
                   help="also store every N-th unannotated video frame as an image without boxes")
    p.add_argument("--max-side", type=positive_int, metavar="PX",
                   help="shrink stored images so their longer side is at most PX (boxes scaled)")
    p.add_argument("--groups", type=Path, metavar="metadata.json",
                   help="DFDC-style metadata giving each video's label and original: a fake's images are grouped "
                        "with its original (see docs/architecture.md 'Groups')")
    p.add_argument("--class-names", metavar="ID=NAME,...",
                   help="class ids of mot and csv files (default 1=real,2=fake), e.g. '1=fake,2=real'")
    p.add_argument("--columns", metavar="FIELD=COLUMN,...",
                   help="csv column mapping for fields image,xmin,ymin,xmax,ymax,label "
                        "(default ssd_keras: image=image_name,xmin=xmin,xmax=xmax,ymin=ymin,ymax=ymax,label=class_id)")
    p.set_defaults(func=run)


def _reader_options(args) -> dict:
    if args.format == "csv":
        return {"columns": csv_format.parse_columns(args.columns),
                "class_names": parse_class_names(args.class_names, csv_format.DEFAULT_CLASS_NAMES)}
    if args.format == "mot":
        from dftag.annotations.formats.mot import DEFAULT_CLASS_NAMES

        return {"class_names": parse_class_names(args.class_names, DEFAULT_CLASS_NAMES)}
    if args.format == "dfdc":
        return {"every": args.every or DFDC_EVERY}
    for flag, value in (("--columns", args.columns), ("--class-names", args.class_names)):
        if value:
            raise DftagError(f"{flag} applies to {'csv' if flag == '--columns' else 'mot and csv'}, "
                             f"not {args.format}")
    return {}


def run(args) -> int:
    label_map_file = args.label_map if args.label_map and Path(args.label_map).is_file() else None
    check_outputs([folder(args.out)], [args.input, args.media, args.groups, label_map_file], overwrite=args.force)
    options = ConvertOptions(label_map=LabelMap.parse(args.label_map), skip_unknown=args.skip_unknown,
                             every=None if args.format == "dfdc" else args.every,
                             negatives_every=args.negatives_every, max_side=args.max_side,
                             groups=dfdc.read_metadata(args.groups) if args.groups else None)
    warnings = Warnings()
    summary = convert_export(args.format, args.input, args.out, media=args.media, options=options,
                             reader_options=_reader_options(args), warnings=warnings, overwrite=args.force)
    print(f"wrote {args.out}")
    for line in summary.lines():
        print(line)
    warnings.print()
    return 0
