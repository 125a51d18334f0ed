"""``dftag autolabel``: a real/fake face dataset from (fake, original) video pairs and real-only videos, without
hand annotation (face finders: :func:`dftag.detector.face_finders.face_finder`)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from dftag.annotations.autolabel import REAL_FACE_SCORE, autolabel_pairs
from dftag.annotations.pair_diff import MTCNN_WHOLE_FACE
from dftag.annotations.pair_list import read_pairs
from dftag.core.errors import DftagError
from dftag.core.outputs import check_outputs, folder
from dftag.detector.face_finders import FACE_FINDERS, face_finder
from dftag.tools.commands._common import add_parser, positive_int, probability

DESCRIPTION = f"""\
Label real and fake faces automatically from pairs of a fake video and the original it was made from, and
real faces from real-only videos.

For every pair both videos are decoded in step (only the frames both have), the frames are compared (blurred
difference, global colour shift removed, cleaned with morphology), and each large changed region becomes a
whole-face box (forehead to chin, ear to ear): 'fake' in the fake's frame, 'real' at the same place in the
original's frame. The box is the face finder's box that covers the region, else the region grown by face
proportions (a face swap changes the inner face, a lip-sync the mouth; see --change). Faces the face finder
finds with a score of at least --real-score whose pixels did not change (people a mixed fake left unswapped)
are boxed 'real' in both frames. Both frames get group = the original's stem, so 'dftag split' keeps them
together. Frames without a confident difference are skipped and counted.

Face finder (--face-finder): auto (default) is the --model checkpoint's detector when --model is given, else
MTCNN when its weights are fetched ('dftag weights fetch mtcnn'; a warning and no face finder when they are
not); mtcnn: MTCNN's boxes expanded to whole faces (width x{MTCNN_WHOLE_FACE.width}, height x{MTCNN_WHOLE_FACE.height}, centre moved by
{MTCNN_WHOLE_FACE.shift_y} of the height); model: the --model checkpoint's boxes as they are; none: changed regions
only.

--real VIDEO (repeatable; a path as given, not relative to --media) adds a real-only video: every confident
face the face finder finds on every K-th frame (--real-every, default --every) is boxed 'real'.

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
                             "dftag autolabel --pairs pairs.csv --out data/auto --model runs/r1/best.pt",
                             "dftag autolabel --pairs pairs.csv --out data/auto --real talk1.mp4 --real talk2.mp4 "
                             "--real-every 50",
                             "dftag autolabel --pairs pairs.csv --out data/auto --face-finder none"])
    p.add_argument("--pairs", type=Path, help="DFDC metadata.json or CSV of fake,original pairs")
    p.add_argument("--media", type=Path, help="folder the pair paths are relative to (default: the pairs file's)")
    p.add_argument("--real", action="append", default=[], metavar="VIDEO",
                   help="a real-only video whose found faces are labelled real (repeatable; #left_half or "
                        "#right_half for half a side-by-side file; needs a face finder; not relative to --media)")
    p.add_argument("--out", required=True, type=Path, help="output dataset folder")
    p.add_argument("--every", type=positive_int, default=1, help="use frames 0, N, 2N, ... (default: 1, every frame)")
    p.add_argument("--real-every", type=positive_int, help="frames of the --real videos: 0, N, 2N, ... (default: --every)")
    p.add_argument("--max-side", type=positive_int, help="shrink frames so their longer side is at most this (pixels)")
    p.add_argument("--face-finder", choices=FACE_FINDERS, default="auto",
                   help="where whole-face boxes come from (see above; default: auto)")
    p.add_argument("--model", type=Path, help="detector checkpoint whose face boxes are the face finder's")
    p.add_argument("--real-score", type=probability, default=REAL_FACE_SCORE,
                   help="face-finder score from which an unchanged face (or a face of a --real video) is "
                        "labelled real (default: %(default)s)")
    p.add_argument("--change", choices=("auto", "face", "mouth", "whole"), default="auto",
                   help="what the fakes change: the inner face (a face swap: grown to the whole face), only the "
                        "mouth (lip-sync: grown to the face), the whole face (boxed as it is), or auto: mouth "
                        "when the pair's method mentions lip-sync or mouth, else face (default)")
    p.add_argument("--grow-faceless", action="store_true",
                   help="with a face finder, also box the changed regions none of its faces covers, grown by face "
                        "proportions (by default they are left unboxed: mostly hands, objects, logos and "
                        "re-encoding noise; a frame left without a fake box is skipped)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.pairs is None and not args.real:
        raise DftagError("nothing to label: give --pairs, --real or both")
    pairs = read_pairs(args.pairs, args.media) if args.pairs is not None else []
    videos = sorted({side.path for pair in pairs for side in (pair.fake, pair.original)}
                    | {Path(v.partition("#")[0]) for v in args.real})
    check_outputs([folder(args.out)], [args.pairs, args.media, args.model, *videos], overwrite=args.force)
    if args.change != "auto":
        pairs = [dataclasses.replace(p, change=args.change) for p in pairs]
    finder = face_finder(args.face_finder, args.model)
    report = autolabel_pairs(pairs, args.out, every=args.every, max_side=args.max_side, face_finder=finder,
                             force=args.force, progress=sys.stderr.isatty(), real_videos=args.real,
                             real_every=args.real_every, real_score=args.real_score,
                             grow_faceless=args.grow_faceless)
    for line in report.lines():
        print(line)
    report.warnings.print()
    print(f"wrote {args.out}")
    return 0
