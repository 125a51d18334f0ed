"""``dftag sample-data``: write the built-in synthetic videos with their CVAT, DFDC and ground-truth files."""

from __future__ import annotations

import argparse
import os
import re
import time
from collections import Counter

from dftag.core.outputs import check_outputs, folder
from dftag.sample_data import generator as sample_data
from dftag.tools.commands._common import Number, add_parser, nonnegative_int, positive_float, positive_int

DESCRIPTION = """\
Generate short videos of procedurally drawn people, real and face-swapped, with their annotations.

Each scene (cluttered background, camera motion, one to three moving people) is rendered as an original and,
for most scenes, as one or two fakes in which one or more inner faces are swapped with another identity's
(soft mask, colour mismatch, blur, boundary seam), as DFDC made its fakes. Some fakes swap only one of two
people (mixed clips, video label FAKE). Output (replaced atomically; needs --force if OUT is not empty):

  OUT/videos/clip_NNN.mp4     H.264 clips
  OUT/cvat/clip_NNN.xml       CVAT for video 1.1, one task per video, sparse keyframes (dftag convert)
  OUT/metadata.json           DFDC labels and originals (dftag convert --groups, video-level eval)
  OUT/ground_truth.json       every face box (xyxy pixels) on every frame, with label and track id

Nothing is downloaded; the same --seed gives the same data.
"""


MAX_SIDE = 4096  # frames are drawn in memory: 4096x4096 RGB is 50 MB a frame


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)[xX](\d+)", text)
    if not m or min(int(m.group(1)), int(m.group(2))) < 32 or max(int(m.group(1)), int(m.group(2))) > MAX_SIDE:
        raise argparse.ArgumentTypeError(f"expected WxH from 32x32 to {MAX_SIDE}x{MAX_SIDE}, e.g. 320x240, "
                                         f"got {text!r}")
    return int(m.group(1)), int(m.group(2))


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "sample-data", help="generate synthetic real/fake face videos with annotations",
                   description=DESCRIPTION,
                   examples=["dftag sample-data --out data/sample",
                             "dftag sample-data --out data/sample --videos 40 --seed 7 --force",
                             "dftag sample-data --out /tmp/tiny --videos 3 --frames 12 --size 160x120",
                             "dftag convert --format cvat-video --input data/sample/cvat --media data/sample/videos "
                             "--groups data/sample/metadata.json --out data/ds"])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--videos", type=positive_int, default=sample_data.DEFAULT_VIDEOS,
                   help=f"number of videos (default: {sample_data.DEFAULT_VIDEOS})")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default: 0)")
    p.add_argument("--size", type=_size, default=sample_data.DEFAULT_SIZE, metavar="WxH",
                   help="frame size in pixels, 32x32 to {0}x{0} (default: {1}x{2})".format(
                       MAX_SIDE, *sample_data.DEFAULT_SIZE))
    p.add_argument("--frames", type=Number(int, 2), default=sample_data.DEFAULT_FRAMES,
                   help=f"frames per video (default: {sample_data.DEFAULT_FRAMES})")
    p.add_argument("--fps", type=positive_float, default=sample_data.DEFAULT_FPS,
                   help=f"frame rate (default: {sample_data.DEFAULT_FPS:g})")
    p.add_argument("--jobs", type=positive_int, default=min(2, os.cpu_count() or 1),
                   help="parallel worker processes; the output does not depend on it (default: up to 2)")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_outputs([folder(args.out)], overwrite=args.force)
    start = time.perf_counter()
    plan = sample_data.generate(args.out, videos=args.videos, seed=args.seed, size=args.size, frames=args.frames,
                                fps=args.fps, force=args.force, jobs=args.jobs, progress=True)
    labels = Counter(v.label for v in plan)
    faces = Counter(v.track_label(p.track_id) for v in plan for p in v.scene.people)
    mixed = sum(1 for v in plan if v.swaps and len(v.swaps) < len(v.scene.people))
    print(f"wrote {len(plan)} videos ({labels['REAL']} REAL, {labels['FAKE']} FAKE of which {mixed} mixed; "
          f"{faces['real']} real and {faces['fake']} fake face tracks) to {args.out} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0
