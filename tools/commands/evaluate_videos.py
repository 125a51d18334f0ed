"""``dftag evaluate-videos``: score one probability-of-fake per video against REAL/FAKE labels."""

from __future__ import annotations

import argparse

from dftag.core.outputs import check_outputs, folder
from dftag.eval.report import write_video_report
from dftag.eval.video_metrics import DEFAULT_THRESHOLD, LOG_LOSS_EPS, details_path
from dftag.tools.commands._common import add_parser, float_range, positive_int, probability

DESCRIPTION = """\
Score video-level predictions (one probability that the video is fake per video) against labels and write a
report folder: metrics.json, report.md, report.html, roc.png and reliability.png.

Scores: a CSV with header 'filename,label' where label is the probability of fake (the DFDC submission
format). Labels: a DFDC metadata.json ({"x.mp4": {"label": "FAKE"|"REAL", ...}}) or a CSV 'filename,label' with
REAL/FAKE or 0/1 (1 = fake). Videos match by file name (folders ignored); every scored video needs a label,
labelled videos without a score are counted and left out.

Reported: log loss as Kaggle scored DFDC (predictions clipped to [eps, 1 - eps]), exact ROC AUC (ties count
one half), expected calibration error, and at --threshold (score >= threshold is called fake) the confusion
matrix, accuracy, precision, recall (fakes caught) and specificity (reals passed).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "evaluate-videos", help="score per-video fake probabilities (log loss, AUC, ...)",
                   description=DESCRIPTION,
                   examples=["dftag evaluate-videos --scores scores.csv --labels data/raw/metadata.json --out rep",
                             "dftag evaluate-videos --scores scores.csv --labels labels.csv --threshold 0.7 "
                             "--out rep --force"])
    p.add_argument("--scores", required=True, help="scores.csv (filename,label = probability of fake)")
    p.add_argument("--labels", required=True, help="metadata.json (DFDC) or labels.csv (filename,label)")
    p.add_argument("--out", required=True, help="report folder to create")
    p.add_argument("--threshold", type=probability, default=DEFAULT_THRESHOLD,
                   help=f"call a video fake when its score is >= this (default: {DEFAULT_THRESHOLD})")
    p.add_argument("--eps", type=float_range(0, 0.5, low_open=True, high_open=True), default=LOG_LOSS_EPS,
                   help=f"log-loss clipping of predictions to [eps, 1-eps] (default: {LOG_LOSS_EPS:g})")
    p.add_argument("--bins", type=positive_int, default=10, help="calibration bins (default: 10)")
    p.add_argument("--details", metavar="JSON",
                   help="dftag score's details file, to say which videos had no face found (default: the "
                        "scores file's .details.json when it exists)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    details = args.details
    if details is None and details_path(args.scores).is_file():
        details = details_path(args.scores)
    check_outputs([folder(args.out)], [args.scores, args.labels, *([details] if details else [])],
                  overwrite=args.force)
    metrics = write_video_report(args.out, args.scores, args.labels, args.threshold, args.eps, args.bins,
                                 overwrite=args.force, details=details)
    auc = metrics["roc_auc"]
    print(f"{metrics['n_videos']} videos  log loss {metrics['log_loss']:.4f}  "
          f"AUC {'n/a' if auc is None else f'{auc:.4f}'}  accuracy {metrics['accuracy']:.4f}  ECE {metrics['ece']:.4f}")
    if metrics.get("no_face_found"):
        print(f"note: {len(metrics['no_face_found'])} videos had no face found and were scored as the prior")
    if metrics["n_unscored"]:
        print(f"note: {metrics['n_unscored']} labelled videos have no score and were left out")
    print(f"wrote {args.out}")
    return 0
