"""``dftag report RUN``: a report folder for a training run (mAP by epoch, final PR curves, example frames)."""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np

from dftag.core.errors import DftagError
from dftag.core.io import read_json
from dftag.eval.plots import EpochSeries, plot_metrics_by_epoch
from dftag.eval.report import (
    EPOCHS_PNG,
    Section,
    Table,
    check_output,
    detection_report,
    examples_report,
    fmt,
    write_report,
)
from dftag.tools.commands._common import add_detection_report_options, add_parser, dataset_inputs
from dftag.training.run_folder import BEST_FILE, CONFIG_FILE, METRICS_FILE

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


def read_metrics_csv(path: Path) -> EpochSeries:
    """Per-epoch numbers of a run's ``metrics.csv``; empty cells become NaN."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise DftagError("file not found (has the run finished an epoch?)", path) from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DftagError(f"cannot read CSV: {e}", path) from None
    if not rows or "epoch" not in rows[0]:
        raise DftagError("no epochs (expected a header with 'epoch' and one row per epoch)", path)
    values: dict[str, list[float]] = {name: [] for name in rows[0]}
    for line, row in enumerate(rows, start=2):
        for name in values:
            cell = (row.get(name) or "").strip()
            try:
                values[name].append(float(cell) if cell else math.nan)
            except ValueError:
                raise DftagError(f"column {name}: not a number: {cell!r}", path, f"line {line}") from None
    arrays = {name: np.array(v) for name, v in values.items()}
    return EpochSeries(epochs=arrays.pop("epoch"), values=arrays)


def training_section(series: EpochSeries) -> Section:
    """A table of every epoch's validation numbers and the mAP-by-epoch plot."""
    columns = [c for c in ("val_mAP50", "val_mAP", "val_AP50_real", "val_AP50_fake", "loss", "seconds")
               if c in series.values]
    rows = [[int(e), *[float(series.values[c][i]) for c in columns]] for i, e in enumerate(series.epochs)]
    best = ""
    if "val_mAP" in series.values and not np.all(np.isnan(series.values["val_mAP"])):
        i = int(np.nanargmax(series.values["val_mAP"]))
        best = (f"Best validation mAP@[.50:.95] {fmt(float(series.values['val_mAP'][i]))} "
                f"at epoch {int(series.epochs[i])}.")
    return Section("Training", f"{len(series.epochs)} epochs. {best}".strip(), [Table(["epoch", *columns], rows)],
                   [(EPOCHS_PNG, "Validation AP by epoch")])


def run(args: argparse.Namespace) -> int:
    from dftag.eval.model_eval import evaluate_model

    run_dir = Path(args.run)
    out = Path(args.out) if args.out else run_dir / "report"
    if not run_dir.is_dir():
        raise DftagError("no such training run folder", run_dir)
    check_output(out, args.force)
    config = read_json(run_dir / CONFIG_FILE)
    data = args.data or (config.get("data") if isinstance(config, dict) else None)
    if not data:
        raise DftagError("config has no 'data' (pass --data DATASET)", run_dir / CONFIG_FILE)
    check_output(out, args.force, [run_dir / CONFIG_FILE, run_dir / METRICS_FILE, run_dir / BEST_FILE,
                                   *dataset_inputs(data, args.split)])
    series = read_metrics_csv(run_dir / METRICS_FILE)
    scored = evaluate_model(run_dir / BEST_FILE, data, args.split, threshold=args.threshold, examples=args.examples,
                            batch_size=args.batch_size, device=args.device)
    metrics, sections, jobs = detection_report(scored.evaluation, args.threshold, scored.min_score)
    example_sections, example_jobs = examples_report(scored.examples)
    for section in sections:
        section.heading = f"{section.heading} ({args.split} split, best.pt)"
    metrics = {"source": {"run": str(run_dir), "data": str(data), "split": args.split, "model_id": scored.model_id},
               "epochs": {"epoch": series.epochs.tolist(),
                          **{k: [None if np.isnan(x) else float(x) for x in v] for k, v in series.values.items()}},
               **metrics}
    write_report(out, f"Training run {run_dir.name}: {scored.model_id}", metrics,
                 [training_section(series), *sections, *example_sections],
                 [(EPOCHS_PNG, lambda path: plot_metrics_by_epoch(series, path)), *jobs, *example_jobs],
                 overwrite=args.force)
    print(f"{args.split}: mAP50 {fmt(metrics['mAP50'])}  mAP@[.50:.95] {fmt(metrics['mAP'])}")
    print(f"wrote {out}")
    return 0
