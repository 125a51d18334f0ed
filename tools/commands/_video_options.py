"""Options shared by ``dftag annotate`` and ``dftag score``: the model, detection/tracking and score rules."""

from __future__ import annotations

import argparse
import functools

from dftag.core.errors import DftagError
from dftag.core.thresholds import TRACK_FACE_THRESHOLD
from dftag.core.video_rules import VIDEO_RULES
from dftag.pipeline.aggregate import CLIP, DEFAULT_METHOD, MIN_TRACK_FRACTION, ScoreRule
from dftag.pipeline.annotator import FaceDetector, TrackSettings
from dftag.tools.commands._common import positive_int, probability  # noqa: F401 (annotate and score use them)

DEFAULTS = TrackSettings()


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="M", help="detector checkpoint (.pt, e.g. runs/x/best.pt)")
    p.add_argument("--device", default="cpu", help="torch device for the detector (default: cpu)")
    g = p.add_argument_group("detection, tracking and scoring")
    g.add_argument("--threshold", type=probability, default=None, metavar="T",
                   help="face probability a detection needs to start a track (default: the model's calibrated "
                        f"face threshold, else {TRACK_FACE_THRESHOLD})")
    g.add_argument("--low-threshold", type=probability, default=DEFAULTS.low_threshold, metavar="T",
                   help="lower face probability that still continues a track, ByteTrack's second pass "
                        "(default: %(default)s)")
    g.add_argument("--batch-size", type=positive_int, default=DEFAULTS.batch_size,
                   help="frames per detector call (default: %(default)s)")
    g.add_argument("--fake-threshold", type=probability, default=ScoreRule.threshold,
                   help="p_fake at which a face or video is labelled fake (default: %(default)s)")
    g.add_argument("--video-rule", choices=VIDEO_RULES, default=None,
                   help="how per-frame p_fake become track and video scores: 'median' (the most fake track's "
                        "median), 'confident' (the most fake track's DFDC-winner confident mean) or "
                        "'confident-pooled' (the confident mean of all faces of the video, as the DFDC winner "
                        "ran it); the model's video temperature applies to the rule it was fitted for "
                        f"(default: the model's calibrated rule, else {DEFAULT_METHOD})")
    g.add_argument("--prior", type=probability, default=ScoreRule.prior,
                   help="score of a video with no face found (default: %(default)s)")
    g.add_argument("--min-track-fraction", type=probability, default=MIN_TRACK_FRACTION,
                   help="a face track counts for the video score when seen on at least this fraction of the "
                        "longest track's frames (default: %(default)s)")
    g.add_argument("--no-clip", action="store_true",
                   help=f"do not clip video scores to [{CLIP[0]}, {CLIP[1]}]")


def settings_from_args(args: argparse.Namespace) -> tuple[TrackSettings, ScoreRule]:
    if args.threshold is not None and args.low_threshold > args.threshold:
        raise DftagError(f"--low-threshold {args.low_threshold} is above --threshold {args.threshold}")
    track = TrackSettings(threshold=args.threshold, low_threshold=args.low_threshold, batch_size=args.batch_size)
    rule = ScoreRule(method=args.video_rule, threshold=args.fake_threshold, prior=args.prior,
                     min_track_fraction=args.min_track_fraction, clip=(0.0, 1.0) if args.no_clip else CLIP)
    return track, rule


def detector_loader(args: argparse.Namespace) -> functools.partial[FaceDetector]:
    """A picklable callable that loads the detector named by ``--model`` (worker processes call it too): a
    checkpoint (``.pt``) runs on torch, an export (``.onnx``) on ONNX Runtime."""
    from dftag.detector.export import load_detector

    return functools.partial(load_detector, args.model, device=args.device)
