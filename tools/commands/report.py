"""``dftag report RUN``: a report folder for a training run (mAP by epoch, final PR curves, example frames)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dftag.core.errors import DftagError
from dftag.eval.report import check_output, fmt
from dftag.tools.commands._common import add_detection_report_options, add_parser, dataset_inputs
from dftag.training.run_folder import BEST_FILE, CONFIG_FILE, METRICS_FILE
from dftag.training.run_report import run_dataset, write_run_report

DESCRIPTION = """\
Build a report folder for a training run RUN (made by 'dftag train --out RUN'): validation mAP and per-class
AP by epoch from RUN/metrics.csv, and the best checkpoint RUN/best.pt scored on a split of the run's dataset
(read from RUN/config.json, key 'data'): precision-recall curves, AP tables, COCO summary, example frames.
Writes metrics.json, report.md, a self-contained report.html and the PNGs to --out (default: RUN/report).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "report", help="report on a training run (mAP by epoch, PR curves, examples)",
                   description=DESCRIPTION,
                   examples=["dftag report runs/r1",
                             "dftag report runs/r1 --split test --out reports/r1 --force",
                             "dftag report runs/r1 --data /elsewhere/ds   # dataset moved since training"])
    p.add_argument("run", help="training run folder (config.json, metrics.csv, best.pt)")
    p.add_argument("--out", help="report folder (default: RUN/report)")
    p.add_argument("--split", default="val", help="split to score best.pt on (default: val)")
    p.add_argument("--data", help="dataset folder (default: 'data' from RUN/config.json)")
    add_detection_report_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run)
    out = Path(args.out) if args.out else run_dir / "report"
    if not run_dir.is_dir():
        raise DftagError("no such training run folder", run_dir)
    check_output(out, args.force)
    data = args.data or run_dataset(run_dir)
    check_output(out, args.force, [run_dir / CONFIG_FILE, run_dir / METRICS_FILE, run_dir / BEST_FILE,
                                   *dataset_inputs(data, args.split)])
    metrics = write_run_report(run_dir, out, data, args.split, threshold=args.threshold, examples=args.examples,
                               batch_size=args.batch_size, device=args.device, overwrite=args.force)
    print(f"{args.split}: mAP50 {fmt(metrics['mAP50'])}  mAP@[.50:.95] {fmt(metrics['mAP'])}")
    print(f"wrote {out}")
    return 0
