"""``dftag score``: the probability that each video is fake, fast, as a DFDC-style CSV."""

from __future__ import annotations

import argparse

from dftag.core.errors import DftagError
from dftag.eval.video_metrics import DETAILS_SUFFIX
from dftag.pipeline.annotator import detection_summary
from dftag.pipeline.score_csv import score_to_csv
from dftag.pipeline.scorer import DECODE_SIDE, DEFAULT_FRAMES, ScoreSettings, find_videos, parse_shard, shard
from dftag.tools.commands._common import add_parser, print_error
from dftag.tools.commands._video_options import add_model_options, detector_loader, positive_int, settings_from_args

DESCRIPTION = f"""\
Score videos without rendering: ffmpeg decodes N evenly spaced frames (--frames), scaled down so the longer
side is at most {DECODE_SIDE} px for a single-stage detector and at full resolution for a two-stage one (its
classifier crops faces from the frame); faces are detected in batches, tracked by IoU over those frames and
the video score is computed as in 'dftag annotate' (--video-rule; by default the median p_fake of the most
confidently fake face track with enough frames, clipped to [0.01, 0.99]; --prior when no face is found).

Writes OUT (CSV 'filename,label': label = probability the video is fake, the DFDC submission format; filename
is the file's name) and --details (default: OUT with its suffix replaced by {DETAILS_SUFFIX}, so it never
overwrites OUT or a .json beside it) holding per-video details (tracks, settings, timings) and the errors. Both
are checked before any work: neither may be, contain or sit inside an input. Folders are searched recursively for video files. Videos run in --workers processes (torch threads
per worker = cores / workers). --shard i/n (0 <= i < n) keeps every n-th video of the sorted list starting at
the i-th, so a job array can split a large folder. A video that fails is reported with its error and skipped;
the exit status is then 1.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "score", help="score videos (probability of fake) into a DFDC-style CSV",
                   description=DESCRIPTION,
                   examples=["dftag score test_videos/ --model best.pt --out scores.csv",
                             "dftag score a.mp4 b.mp4 --model best.pt --out scores.csv --frames 16",
                             "dftag score videos/ --model best.pt --out part0.csv --workers 2 --shard 0/4"])
    p.add_argument("videos", nargs="+", metavar="VIDEO_OR_DIR", help="video files and/or folders of videos")
    p.add_argument("--out", required=True, metavar="CSV", help="output CSV")
    p.add_argument("--details", metavar="JSON",
                   help=f"per-video details and errors (default: --out with its suffix replaced by {DETAILS_SUFFIX}, "
                        f"scores.csv -> scores{DETAILS_SUFFIX})")
    add_model_options(p)
    p.add_argument("--frames", type=positive_int, default=DEFAULT_FRAMES, metavar="N",
                   help="evenly spaced frames scored per video (default: %(default)s)")
    p.add_argument("--decode-side", type=positive_int, metavar="PX",
                   help=f"longest side frames are decoded at (default: {DECODE_SIDE} for a single-stage "
                        "detector, full resolution for a two-stage one)")
    p.add_argument("--exact-frames", dest="reference_only", action="store_false",
                   help="decode every frame so that the sampled frames are exactly evenly spaced (slower; default: "
                        "only reference frames are decoded, each sampled frame is the first of them at or after "
                        "its place)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="W",
                   help="videos scored in parallel processes (default: %(default)s)")
    p.add_argument("--shard", metavar="i/n", help="score only the i-th of n slices of the sorted videos")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    track, rule = settings_from_args(args)
    settings = ScoreSettings(frames=args.frames, decode_side=args.decode_side, reference_only=args.reference_only,
                             track=track, rule=rule)
    videos = find_videos(args.videos)
    if args.shard:
        videos = shard(videos, *parse_shard(args.shard))
    if not videos:
        raise DftagError("no video files found", " ".join(args.videos))
    written = score_to_csv(videos, args.out, detector_loader(args), settings, workers=args.workers,
                           details=args.details, inputs=[*args.videos, args.model])
    for error in written.errors.values():
        print_error("score", error)
    print(f"scored {len(written.results)} of {len(videos)} videos -> {written.scores} (details: {written.details})"
          + (f"; {len(written.errors)} failed" if written.errors else ""))
    no_face = {name: r for name, r in written.results.items() if r["no_face"]}
    if no_face:  # say at which detection score, and what the detector did find
        shown = "; ".join(f"{name}: {detection_summary(r['detections'])}" for name, r in list(no_face.items())[:5])
        print(f"{len(no_face)} of {len(written.results)} videos: no face found at face probability >= "
              f"{next(iter(no_face.values()))['detections']['threshold']:g} (--threshold), scored --prior "
              f"{rule.prior:g}: {shown}"
              + ("; ..." if len(no_face) > 5 else ""))
    return 1 if written.errors else 0
