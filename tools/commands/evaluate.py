"""``dftag evaluate``: score a detector on a dataset split, or any COCO results file, into a report folder."""

from __future__ import annotations

import argparse

from dftag.core.errors import DftagError
from dftag.core.outputs import check_outputs, folder
from dftag.tools.commands._common import add_detection_report_options, add_parser, dataset_inputs

DESCRIPTION = """\
Score face detections against ground truth and write a report folder: metrics.json (every number), report.md,
a self-contained report.html, and PNG plots (precision-recall per class, example frames).

Either run a model on a dataset split (--model with --data; the detections are also saved as
results.json), or score any detector's COCO results file (--preds with --gt). Reported: per-class AP at IoU 0.5
under VOC 2007 11-point, VOC 2010+ all-point and COCO 101-point interpolation, mAP, the 12-number COCO summary
(identical to pycocotools' COCOeval), and precision/recall at --threshold. Crowd and 'difficult' faces are
ignored. AP values are in 0..1; n/a (-1 in metrics.json) means no ground truth to measure.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "evaluate", help="score a detector (or a COCO results file) into a report",
                   description=DESCRIPTION,
                   examples=["dftag evaluate --model runs/r1/best.pt --data data/ds --out reports/r1-test",
                             "dftag evaluate --model best.pt --data data/ds --split val --out rep --force",
                             "dftag evaluate --preds results.json --gt data/ds/test.json --out reports/other"])
    source = p.add_argument_group("what to score (one of)")
    source.add_argument("--model", help="dftag checkpoint (.pt) to run on --data")
    source.add_argument("--preds", help="COCO results JSON: [{image_id, category_id, bbox [x,y,w,h], score}]")
    p.add_argument("--data", help="dataset folder (with --model)")
    p.add_argument("--split", default="test", help="split of --data to score (default: test)")
    p.add_argument("--gt", help="COCO ground-truth JSON (with --preds)")
    p.add_argument("--out", required=True, help="report folder to create")
    add_detection_report_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dftag.eval.model_eval import write_model_report, write_results_report
    from dftag.eval.report import fmt

    if bool(args.model) == bool(args.preds):
        raise DftagError("give either --model (with --data) or --preds (with --gt)")
    if args.model and not args.data:
        raise DftagError("--model needs --data DATASET")
    if args.preds and not args.gt:
        raise DftagError("--preds needs --gt GROUND_TRUTH.json")
    inputs = [args.model, *dataset_inputs(args.data, args.split)] if args.model else [args.preds, args.gt]
    check_outputs([folder(args.out)], inputs, overwrite=args.force)
    if args.model:
        metrics = write_model_report(args.out, args.model, args.data, args.split, threshold=args.threshold,
                                     examples=args.examples, batch_size=args.batch_size, device=args.device,
                                     overwrite=args.force)
    else:
        metrics = write_results_report(args.out, args.preds, args.gt, threshold=args.threshold, overwrite=args.force)
    print(f"mAP50 {fmt(metrics['mAP50'])}  mAP@[.50:.95] {fmt(metrics['mAP'])}  "
          + "  ".join(f"AP50 {name} {fmt(ap)}" for name, ap in metrics["AP50"].items()))
    for note in metrics["notes"]:
        print(note)
    print(f"wrote {args.out}")
    return 0
