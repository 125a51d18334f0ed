"""``dftag autolabel``: a real/fake face dataset from (fake, original) video pairs, without hand annotation."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from dftag.annotations.autolabel import FaceFinder, autolabel_pairs
from dftag.core.errors import DftagError
from dftag.annotations.pair_list import read_pairs
from dftag.tools.commands._common import add_parser

DESCRIPTION = """\
Label real and fake faces automatically from pairs of a fake video and the original it was made from.

For every pair both videos are decoded in step (only the frames both have), the frames are compared (blurred
difference, global colour shift removed, cleaned with morphology), and each large changed region becomes a face
box: 'fake' in the fake's frame, 'real' at the same place in the original's frame. Both frames get group = the
original's stem, so 'dftag split' keeps them together. Frames without a confident difference are skipped and
counted. A mouth-only change (lip-sync) is grown to the whole face: to the --model detector's face box when
given, else by face proportions.

PAIRS is one of:
  DFDC metadata.json        every FAKE entry with an 'original'
  CSV fake,original[,method]  (header optional); paths relative to --media
  realdata pairs.csv        kind,repo,fake_path,original_path,method; files at MEDIA/<owner>+<repo>/<path>
A path ending in #left_half or #right_half is that half of a side-by-side file (decoded once, split per frame).
A pair whose method mentions lip-sync or mouth is treated as mouth-only (see --change).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "autolabel", help="build a labelled dataset from (fake, original) video pairs",
                   description=DESCRIPTION,
                   examples=["dftag autolabel --pairs dfdc/metadata.json --out data/auto --every 10",
                             "dftag autolabel --pairs pairs.csv --media videos/ --out data/auto --change mouth",
                             "dftag autolabel --pairs /work/shared/realdata/pairs.csv --media /work/shared/realdata "
                             "--out data/real --every 25 --max-side 640",
                             "dftag autolabel --pairs pairs.csv --out data/auto --model runs/r1/best.pt"])
    p.add_argument("--pairs", required=True, type=Path, help="DFDC metadata.json or CSV of fake,original pairs")
    p.add_argument("--media", type=Path, help="folder the pair paths are relative to (default: the pairs file's)")
    p.add_argument("--out", required=True, type=Path, help="output dataset folder")
    p.add_argument("--every", type=int, default=1, help="use frames 0, N, 2N, ... (default: 1, every frame)")
    p.add_argument("--max-side", type=int, help="shrink frames so their longer side is at most this (pixels)")
    p.add_argument("--model", type=Path, help="detector checkpoint whose face boxes changed regions grow to")
    p.add_argument("--change", choices=("auto", "face", "mouth"), default="auto",
                   help="what the fakes change: the whole face, only the mouth (lip-sync: boxes grow to the "
                        "face), or auto: mouth when the pair's method mentions lip-sync or mouth (default)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=run)


def detector_faces(model: Path) -> FaceFinder:
    """Face boxes from a trained detector checkpoint (``dftag.detector.inference.Detector``), either label."""
    if not model.is_file():
        raise DftagError("model checkpoint not found", model)
    from dftag.detector.inference import Detector

    detector = Detector.load(model)
    return lambda images: [d.boxes for d in detector.predict(images)]


def run(args: argparse.Namespace) -> int:
    pairs = read_pairs(args.pairs, args.media)
    if args.change != "auto":
        pairs = [dataclasses.replace(p, mouth_only=args.change == "mouth") for p in pairs]
    face_finder = detector_faces(args.model) if args.model else None
    report = autolabel_pairs(pairs, args.out, every=args.every, max_side=args.max_side, face_finder=face_finder,
                             force=args.force, progress=sys.stderr.isatty())
    for line in report.lines():
        print(line)
    report.warnings.print()
    print(f"wrote {args.out}")
    return 0
