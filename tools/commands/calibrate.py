"""``dftag calibrate``: fit temperature scaling of the fake probability on held-out data."""

from __future__ import annotations

import argparse
import csv
import io

import numpy as np

from dftag.core.atomic import write_text
from dftag.core.errors import DftagError
from dftag.core.outputs import check_outputs, file
from dftag.eval.calibration import DEFAULT_BINS, expected_calibration_error, fit_temperature, nll, sigmoid
from dftag.tools.commands._common import add_parser, dataset_inputs, float_range, positive_int, probability

DESCRIPTION = """\
Fit temperature scaling of the fake probability: p_fake = sigmoid(fake_logit / T), with the one T that
minimises the negative log-likelihood on held-out data, and print NLL and expected calibration error before
and after. Temperature scaling changes no ranking: boxes, labels and AP stay the same; only p_fake moves.

With --model and --data the detector runs on the split (default: val); each detection scoring at least
--score-threshold that overlaps a ground-truth face with IoU >= --iou gives one (fake logit, real/fake) pair;
the calibrated copy of the checkpoint is written to --out (the source is not modified).
With --scores and --labels (video level) the scores' logits are fitted against the labels and the calibrated
scores are written to --out as a CSV in the same format.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "calibrate", help="fit temperature scaling of p_fake (model or video scores)",
                   description=DESCRIPTION,
                   examples=["dftag calibrate --model runs/r1/best.pt --data data/ds --out runs/r1/calibrated.pt",
                             "dftag calibrate --model best.pt --data data/ds --split test --iou 0.6 --out cal.pt",
                             "dftag calibrate --scores scores.csv --labels metadata.json --out scores_cal.csv"])
    p.add_argument("--model", help="dftag checkpoint (.pt) to calibrate (with --data)")
    p.add_argument("--data", help="dataset folder")
    p.add_argument("--split", default="val", help="split to fit on (default: val)")
    p.add_argument("--scores", help="video scores.csv to calibrate (with --labels)")
    p.add_argument("--labels", help="metadata.json (DFDC) or labels.csv for --scores")
    p.add_argument("--out", required=True, help="calibrated checkpoint (.pt) or, with --scores, scores CSV")
    p.add_argument("--iou", type=float_range(0, 1, low_open=True), default=0.5, help="IoU for a detection to count as a face (default: 0.5)")
    p.add_argument("--score-threshold", type=probability, default=0.3,
                   help="only detections at least this confident are used (default: 0.3)")
    p.add_argument("--bins", type=positive_int, default=DEFAULT_BINS, help=f"ECE bins (default: {DEFAULT_BINS})")
    p.add_argument("--batch-size", type=positive_int, default=8, help="images per forward pass (default: 8)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.set_defaults(func=run)


def report_fit(logits: np.ndarray, labels: np.ndarray, bins: int) -> float:
    """Fit T and print NLL and ECE before (T = 1) and after."""
    temperature = fit_temperature(logits, labels)
    n_fake = int(labels.sum())
    print(f"{len(labels)} examples ({n_fake} fake, {len(labels) - n_fake} real)")
    for name, t in (("before", 1.0), ("after", temperature)):
        ece = expected_calibration_error(labels, sigmoid(logits / t), bins)
        print(f"{name:<6}  T={t:.4f}  NLL {nll(logits, labels, t):.4f}  ECE {ece:.4f}")
    return temperature


def calibrate_model(args: argparse.Namespace) -> None:
    from dftag.annotations.dataset import load_dataset
    from dftag.detector.checkpoint import save_calibrated
    from dftag.detector.device import resolve_device
    from dftag.detector.inference import Detector
    from dftag.eval.predict import predict_dataset

    dataset = load_dataset(args.data, args.split)
    detector = Detector.load(args.model, device=resolve_device(args.device))
    predictions = predict_dataset(detector, dataset, score_threshold=args.score_threshold,
                                  batch_size=args.batch_size)
    logits, labels = predictions.matched_logits(args.iou, args.score_threshold)
    if len(labels) == 0 or labels.min() == labels.max():
        raise DftagError(f"calibration needs detections matched to both real and fake faces; found "
                         f"{int(labels.sum())} fake and {int((labels == 0).sum())} real", dataset.source)
    temperature = report_fit(logits, labels, args.bins)
    save_calibrated(args.model, args.out, temperature)


def calibrate_scores(args: argparse.Namespace) -> None:
    from dftag.eval.video_metrics import LOG_LOSS_EPS, align, load_video_labels, load_video_scores

    videos = align(load_video_scores(args.scores), load_video_labels(args.labels), args.scores)
    if videos.labels.min() == videos.labels.max():
        raise DftagError("calibration needs both real and fake videos", args.labels)
    p = np.clip(videos.scores, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    logits = np.log(p) - np.log1p(-p)
    temperature = report_fit(logits, videos.labels, args.bins)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["filename", "label"])
    writer.writerows([name, f"{prob:.6f}"] for name, prob in zip(videos.names, sigmoid(logits / temperature)))
    write_text(args.out, buffer.getvalue())


def run(args: argparse.Namespace) -> int:
    if bool(args.model) == bool(args.scores):
        raise DftagError("give either --model (with --data) or --scores (with --labels)")
    if args.model and not args.data:
        raise DftagError("--model needs --data DATASET")
    if args.scores and not args.labels:
        raise DftagError("--scores needs --labels metadata.json|labels.csv")
    inputs = [args.model, *dataset_inputs(args.data, args.split)] if args.model else [args.scores, args.labels]
    check_outputs([file(args.out)], inputs)
    (calibrate_model if args.model else calibrate_scores)(args)
    print(f"wrote {args.out}")
    return 0
