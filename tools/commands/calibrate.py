"""``dftag calibrate``: fit a model's calibration on held-out data (face temperature and face threshold on
images, video rule and temperature on scored videos), or temperature-scale video scores."""

from __future__ import annotations

import argparse

import numpy as np

from dftag.core.errors import DftagError
from dftag.core.outputs import check_outputs, file
from dftag.core.thresholds import FACE_SCORE_THRESHOLD
from dftag.eval.calibration import DEFAULT_BINS, expected_calibration_error, fit_temperature, logit, nll, sigmoid
from dftag.tools.commands._common import add_parser, dataset_inputs, float_range, positive_int, probability

DESCRIPTION = """\
Fit temperature scaling of the fake probability: p_fake = sigmoid(fake_logit / T), with the one T that
minimises the negative log-likelihood on held-out data, and print NLL and expected calibration error before
and after. Temperature scaling changes no ranking: boxes, labels and AP stay the same; only p_fake moves.

With --model and --data the detector runs on the split (default: val); each detection scoring at least
--score-threshold that overlaps a ground-truth face with IoU >= --iou gives one (fake logit, real/fake) pair
for T, and the face threshold (the face probability from which a detection starts a track in annotate and
score) is set where face detection's F1 on the split is highest. The calibrated copy of the checkpoint is
written to --out (the source is not modified).
With --model, --scores and --labels, the videos that model scored (`dftag score --model M ... --out
scores.csv`, read from the details JSON beside it, or --details) choose the video rule with the lowest log
loss and fit the temperature of its video scores; the copy at --out carries both, and annotate and score use
them unless --video-rule is given.
With --scores and --labels alone (video level) the scores' logits are fitted against the labels and the
calibrated scores are written to --out as a CSV in the same format.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "calibrate", help="fit temperature scaling of p_fake (model or video scores)",
                   description=DESCRIPTION,
                   examples=["dftag calibrate --model runs/r1/best.pt --data data/ds --out runs/r1/calibrated.pt",
                             "dftag calibrate --model best.pt --data data/ds --split test --iou 0.6 --out cal.pt",
                             "dftag calibrate --model cal.pt --scores val_scores.csv --labels val_labels.csv "
                             "--out model.pt",
                             "dftag calibrate --scores scores.csv --labels metadata.json --out scores_cal.csv"])
    p.add_argument("--model", help="dftag checkpoint (.pt) to calibrate (with --data)")
    p.add_argument("--data", help="dataset folder")
    p.add_argument("--split", default="val", help="split to fit on (default: val)")
    p.add_argument("--scores", help="video scores.csv to calibrate, or with --model that model's scores of "
                                    "validation videos (with --labels)")
    p.add_argument("--details", help="with --model and --scores: the details JSON of --scores (default: beside it)")
    p.add_argument("--labels", help="metadata.json (DFDC) or labels.csv for --scores")
    p.add_argument("--out", required=True, help="calibrated checkpoint (.pt) or, with --scores, scores CSV")
    p.add_argument("--iou", type=float_range(0, 1, low_open=True), default=0.5, help="IoU for a detection to count as a face (default: 0.5)")
    p.add_argument("--score-threshold", type=probability, default=FACE_SCORE_THRESHOLD,
                   help=f"only detections at least this confident are used (default: {FACE_SCORE_THRESHOLD})")
    p.add_argument("--bins", type=positive_int, default=DEFAULT_BINS, help=f"ECE bins (default: {DEFAULT_BINS})")
    p.add_argument("--batch-size", type=positive_int, default=8, help="images per forward pass (default: 8)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.set_defaults(func=run)


def report_fit(logits: np.ndarray, labels: np.ndarray, bins: int, temperature: float | None = None) -> float:
    """Fit T (unless given) and print NLL and ECE before (T = 1) and after."""
    temperature = fit_temperature(logits, labels) if temperature is None else temperature
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
    from dftag.eval.fit_calibration import fit_calibration

    dataset = load_dataset(args.data, args.split)
    detector = Detector.load(args.model, device=resolve_device(args.device))
    fitted = fit_calibration(detector, dataset, args.iou, args.score_threshold, args.batch_size)
    report_fit(fitted.logits, fitted.labels, args.bins, fitted.temperature)
    faces = fitted.faces
    print(f"face threshold {faces.threshold:.4f}: precision {faces.precision:.3f}, recall {faces.recall:.3f}, "
          f"F1 {faces.f1:.3f} over {faces.n_faces} faces")
    save_calibrated(args.model, args.out, fitted.temperature, face_threshold=faces.threshold)


def calibrate_video_rule(args: argparse.Namespace) -> None:
    from dftag.core.io import read_json
    from dftag.detector.checkpoint import save_calibrated
    from dftag.detector.export import load_detector
    from dftag.eval.video_metrics import details_path, load_video_labels
    from dftag.pipeline.video_calibration import calibrate_scored_videos

    details = args.details or details_path(args.scores)
    scored = read_json(details)
    if not isinstance(scored, dict) or not isinstance(scored.get("videos"), dict):
        raise DftagError('not a dftag score details file (no "videos")', details)
    model_id = load_detector(args.model).model_id
    calibration = calibrate_scored_videos(scored["videos"], load_video_labels(args.labels), model_id, details)
    for rule, loss in calibration.val_log_loss.items():
        print(f"{rule:<16}  log loss {loss:.4f}{'  <- chosen' if rule == calibration.rule else ''}")
    print(f"video rule {calibration.rule}, T={calibration.temperature:.4f}: log loss "
          f"{calibration.calibrated_log_loss:.4f} on {calibration.videos} videos")
    save_calibrated(args.model, args.out, video_rule=calibration.rule, video_temperature=calibration.temperature)


def calibrate_scores(args: argparse.Namespace) -> None:
    from dftag.eval.video_metrics import LOG_LOSS_EPS, align, load_video_labels, load_video_scores, write_video_scores

    videos = align(load_video_scores(args.scores), load_video_labels(args.labels), args.scores)
    if videos.labels.min() == videos.labels.max():
        raise DftagError("calibration needs both real and fake videos", args.labels)
    logits = logit(np.clip(videos.scores, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS))
    temperature = report_fit(logits, videos.labels, args.bins)
    calibrated = sigmoid(logits / temperature)
    write_video_scores(args.out, {name: round(float(p), 6) for name, p in zip(videos.names, calibrated)})


def run(args: argparse.Namespace) -> int:
    if not (args.model or args.scores):
        raise DftagError("give --model (with --data, or with --scores and --labels) or --scores (with --labels)")
    if args.model and bool(args.data) == bool(args.scores):
        raise DftagError("--model needs either --data DATASET or --scores SCORES.csv with --labels")
    if args.scores and not args.labels:
        raise DftagError("--scores needs --labels metadata.json|labels.csv")
    if args.details and not (args.model and args.scores):
        raise DftagError("--details goes with --model and --scores")
    if args.model and args.data:
        inputs, command = [args.model, *dataset_inputs(args.data, args.split)], calibrate_model
    elif args.model:
        from dftag.eval.video_metrics import details_path

        inputs = [args.model, args.scores, args.labels, args.details or details_path(args.scores)]
        command = calibrate_video_rule
    else:
        inputs, command = [args.scores, args.labels], calibrate_scores
    check_outputs([file(args.out)], inputs)
    command(args)
    print(f"wrote {args.out}")
    return 0
