"""The report of a training run folder ``RUN/`` (what ``dftag report RUN`` writes): validation AP by epoch
from ``metrics.csv`` and the run's ``best.pt`` scored on a split of the dataset it trained on (precision-recall
curves, AP tables, COCO summary, example frames)."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from dftag.core.errors import DftagError
from dftag.core.io import read_json
from dftag.core.thresholds import FACE_SCORE_THRESHOLD
from dftag.detector.inference import DEFAULT_BATCH_SIZE
from dftag.eval.model_eval import REPORT_EXAMPLES, evaluate_model
from dftag.eval.plots import EpochSeries, plot_metrics_by_epoch
from dftag.eval.report import EPOCHS_PNG, Section, Table, detection_report, examples_report, fmt, write_report
from dftag.training.run_folder import BEST_FILE, CONFIG_FILE, METRICS_FILE


def run_dataset(run_dir: str | os.PathLike[str]) -> str:
    """The dataset folder a training run trained on (``data`` in its ``config.json``)."""
    path = Path(run_dir) / CONFIG_FILE
    config = read_json(path)
    data = config.get("data") if isinstance(config, dict) else None
    if not data:
        raise DftagError("config has no 'data' (give the dataset as {parameter})", path, parameter="data")
    return str(data)


def read_metrics_csv(path: str | os.PathLike[str]) -> EpochSeries:
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


def write_run_report(run_dir: str | os.PathLike[str], out: str | os.PathLike[str], data: str | os.PathLike[str],
                     split: str = "val", *, threshold: float = FACE_SCORE_THRESHOLD, examples: int = REPORT_EXAMPLES,
                     batch_size: int = DEFAULT_BATCH_SIZE, device: str = "auto", overwrite: bool = False
                     ) -> dict[str, Any]:
    """Write the report of the run ``run_dir`` into the folder ``out`` (``best.pt`` scored on ``split`` of the
    dataset ``data``, boxes shown from ``threshold``; see :func:`dftag.eval.model_eval.evaluate_model`) and
    return its metrics (also ``out/metrics.json``)."""
    run_dir = Path(run_dir)
    series = read_metrics_csv(run_dir / METRICS_FILE)
    scored = evaluate_model(run_dir / BEST_FILE, data, split, threshold=threshold, examples=examples,
                            batch_size=batch_size, device=device)
    metrics, sections, jobs = detection_report(scored.evaluation, threshold, scored.min_score)
    example_sections, example_jobs = examples_report(scored.examples)
    for section in sections:
        section.heading = f"{section.heading} ({split} split, best.pt)"
    metrics = {"source": {"run": str(run_dir), "data": str(data), "split": split, "model_id": scored.model_id},
               "epochs": {"epoch": series.epochs.tolist(),
                          **{k: [None if np.isnan(x) else float(x) for x in v] for k, v in series.values.items()}},
               **metrics}
    write_report(out, f"Training run {run_dir.name}: {scored.model_id}", metrics,
                 [training_section(series), *sections, *example_sections],
                 [(EPOCHS_PNG, lambda path: plot_metrics_by_epoch(series, path)), *jobs, *example_jobs],
                 overwrite=overwrite)
    return metrics
