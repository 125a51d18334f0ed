"""``dftag annotate``: draw every face, its real/fake label and the video score onto videos."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from dftag.core.atomic import remove_stale_temporaries
from dftag.core.errors import DftagError
from dftag.core.outputs import check_outputs, file, into
from dftag.pipeline.annotator import AnnotateSettings, annotate_video, detection_summary, output_paths
from dftag.tools.commands._common import (
    X264_CRF,
    X264_PRESETS,
    add_parser,
    check_frame_size,
    error_line,
    nonnegative_int,
    print_error,
)
from dftag.tools.commands._video_options import add_model_options, detector_loader, positive_int, settings_from_args

DESCRIPTION = """\
Annotate videos: detect faces (every frame, or every K-th with --stride, the tracker carrying boxes in
between), track them, and tag each real (green) or fake (red) with its smoothed p_fake and track id. A banner
shows the running video score and its timeline. For each VIDEO, OUT gets:

  <stem>.mp4   H.264 yuv420p +faststart, every input frame at its input timestamp (variable frame rate
               kept), upright (rotation applied), the input's audio copied (or AAC if MP4 cannot hold it)
  <stem>.json  per-frame boxes (COCO xywh pixels), per-track summary, video score and label, model id,
               settings and timings (see docs/video.md)

Video score (--video-rule): 'median' (default) takes the median p_fake of the most confidently fake face
track among tracks seen on at least --min-track-fraction of the longest track's frames; 'confident' takes
that track's DFDC-winner confident mean instead (the mean of its frames above 0.8 when there are more than
n/2.5 and more than 11 of them, else of those below 0.2 when over 90%, else of all); 'confident-pooled'
applies the confident mean to all faces of the video at once. Clipped to [0.01, 0.99]; --prior when no face
is found. The sidecar records the rule ("video_rule"), "faces_found" and "no_face", and the score under
every rule ("scores_by_rule").
A bad file prints one error line and is skipped; the exit status is 1 if any video failed.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "annotate", help="draw face boxes, real/fake labels and the video score onto videos",
                   description=DESCRIPTION,
                   examples=["dftag annotate clip.mp4 --model runs/x/best.pt --out annotated/",
                             "dftag annotate a.mp4 b.mov --model best.pt --out out/ --stride 3",
                             "dftag annotate clip.mp4 --model best.pt --out out/ --save-frame 120  "
                             "# also out/clip_frame120.png"])
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="input video files")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_model_options(p)
    p.add_argument("--stride", type=positive_int, default=AnnotateSettings.stride, metavar="K",
                   help="detect on every K-th frame, track in between (default: %(default)s)")
    p.add_argument("--crf", type=X264_CRF, default=AnnotateSettings.crf, help="x264 quality, lower is better (default: %(default)s)")
    p.add_argument("--preset", choices=X264_PRESETS, default=AnnotateSettings.preset, help="x264 speed preset (default: %(default)s)")
    p.add_argument("--save-frame", type=nonnegative_int, metavar="N",
                   help="also save annotated frame N (0-based) as OUT/<stem>_frameN.png")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    track, rule = settings_from_args(args)
    settings = AnnotateSettings(stride=args.stride, track=track, rule=rule, crf=args.crf, preset=args.preset,
                                save_frame=args.save_frame)
    videos = [Path(v) for v in args.videos]
    stems = [v.stem for v in videos]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise DftagError(f"several inputs share the name {clash[0]!r}; their outputs would collide", args.out)
    outputs = [into(args.out), *(file(p) for v in videos for p in output_paths(v, args.out))]
    if args.save_frame is not None:
        outputs += [file(Path(args.out) / f"{v.stem}_frame{args.save_frame}.png") for v in videos]
    check_outputs(outputs, [*videos, args.model])
    remove_stale_temporaries(args.out)  # what killed runs left behind
    detector = detector_loader(args)()
    failed = 0
    for video in videos:
        try:
            check_frame_size(video)
            with tqdm(desc=video.name, unit="frame", file=sys.stderr, leave=False, disable=None) as bar:
                result = annotate_video(video, args.out, detector, settings, progress=lambda _: bar.update())
        except DftagError as err:
            failed += 1
            print_error("annotate", error_line(err))
            continue
        label = result["label"]
        if result["no_face"]:  # say at which detection score, and what the detector did find
            label = (f"{label} at face probability >= {result['detections']['threshold']:g} (--threshold): "
                     f"{detection_summary(result['detections'])}; --prior")
        print(f"{video}: {label} (p_fake {result['score']:.3f}, {len(result['tracks'])} face tracks, "
              f"{result['frame_count']} frames, {result['timings']['total_s']:.1f} s) -> {result['output']}")
    return 1 if failed else 0
