"""Report folders: ``metrics.json`` (every number, machine-readable), ``report.md`` (tables and links to the
plots), a self-contained ``report.html`` (plots embedded as base64 PNG) and the PNG files themselves.

A report is built from :class:`Section` s (a heading, text, tables, images) and a list of plots to draw; the
folder is created atomically (:func:`dftag.core.atomic.atomic_dir`), so it appears whole or not at all.
Builders here turn detection and video evaluations into sections; :func:`write_detection_report` and
:func:`write_video_report` write them as folders.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dftag.core.atomic import atomic_dir, write_json, write_text
from dftag.core.io import read_json
from dftag.core.outputs import check_outputs
from dftag.core.outputs import folder as output_folder
from dftag.eval import plots
from dftag.eval.calibration import reliability
from dftag.eval.coco_summary import STATS
from dftag.eval.detection import DetectionEvaluation
from dftag.eval.video_metrics import (
    DEFAULT_THRESHOLD,
    LOG_LOSS_EPS,
    VideoSet,
    align,
    load_video_labels,
    load_video_scores,
    roc_curve,
    video_metrics,
)

METRICS_FILE, MARKDOWN_FILE, HTML_FILE = "metrics.json", "report.md", "report.html"
PR_PNG, EPOCHS_PNG, EXAMPLES_PNG, ROC_PNG, RELIABILITY_PNG = (
    "pr_curves.png", "map_by_epoch.png", "examples.png", "roc.png", "reliability.png")


@dataclass
class Table:
    header: list[str]
    rows: list[list[Any]]


@dataclass
class Section:
    heading: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # (PNG file name, caption)


Plot = tuple[str, Callable[[Path], None]]  # (PNG file name, draw(path))


def fmt(value: Any, digits: int = 4) -> str:
    """Table cell (and command-line) text: numbers to ``digits`` decimals, None as an en dash, -1 (COCO's "no
    ground truth") as n/a: the one way every report and command shows an AP."""
    if value is None:
        return "–"
    if isinstance(value, bool) or isinstance(value, (int, np.integer)):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return "n/a" if value == -1 else f"{value:.{digits}f}"
    return str(value)


def check_output(out: str | os.PathLike, overwrite: bool, inputs: Sequence[str | os.PathLike | None] = ()) -> None:
    """Fail before any work when the report folder ``out`` cannot be written: it exists and is not empty while
    ``overwrite`` is not set, it is a file, it is, contains or sits inside one of ``inputs``, or it cannot be
    created (:func:`dftag.core.outputs.check_outputs`)."""
    check_outputs([output_folder(out)], inputs, overwrite=overwrite)


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    lines = [f"# {title}", ""]
    for s in sections:
        lines += [f"## {s.heading}", ""]
        if s.text:
            lines += [s.text, ""]
        for t in s.tables:
            lines.append("| " + " | ".join(t.header) + " |")
            lines.append("|" + "|".join("---" for _ in t.header) + "|")
            lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in t.rows]
            lines.append("")
        for name, caption in s.images:
            lines += [f"![{caption}]({name})", ""]
    return "\n".join(lines)


def render_html(title: str, sections: Sequence[Section], folder: Path) -> str:
    """One HTML page with every image inlined, so the file can be mailed or opened alone."""
    e = html.escape
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{e(title)}</title><style>"
             "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
             f"img{{max-width:100%}}</style></head><body><h1>{e(title)}</h1>"]
    for s in sections:
        parts.append(f"<h2>{e(s.heading)}</h2>")
        if s.text:
            parts.append(f"<p>{e(s.text)}</p>")
        for t in s.tables:
            head = "".join(f"<th>{e(h)}</th>" for h in t.header)
            body = "".join("<tr>" + "".join(f"<td>{e(fmt(v))}</td>" for v in row) + "</tr>" for row in t.rows)
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        for name, caption in s.images:
            data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
            parts.append(f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{e(caption)}</figcaption></figure>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(out: str | os.PathLike, title: str, metrics: dict[str, Any], sections: Sequence[Section],
                 plot_jobs: Sequence[Plot], overwrite: bool = False, extra_json: dict[str, Any] | None = None
                 ) -> Path:
    """Draw the plots and write the report folder atomically (plus ``extra_json`` files by name), replacing
    an existing one only with ``overwrite``; returns its path."""
    out = Path(out)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for name, obj in (extra_json or {}).items():
            write_json(tmp / name, obj)
        for name, draw in plot_jobs:
            draw(tmp / name)
        write_json(tmp / METRICS_FILE, metrics, indent=2)
        write_text(tmp / MARKDOWN_FILE, render_markdown(title, sections))
        write_text(tmp / HTML_FILE, render_html(title, sections, tmp))
    return out


def detection_metrics(evaluation: DetectionEvaluation, threshold: float, min_score: float | None = None
                      ) -> dict[str, Any]:
    """The evaluation's numbers plus, per class, the PR curve, the operating point at ``threshold`` and the
    detections scoring ``>= threshold``; ``detections`` counts them all (``min_score``: the score down to which
    the detector's output was kept, ``None`` when unknown, as for a results file) and ``notes`` says in words
    what makes numbers empty or one-sided (:func:`detection_notes`)."""
    out = evaluation.to_dict()
    out["threshold"] = threshold
    table = evaluation.coco.table
    for k, (name, curve) in enumerate(evaluation.curves.items()):
        point = curve.operating_point(threshold)
        out["classes"][name]["at_threshold"] = (
            {"precision": point[0], "recall": point[1]} if point else None)
        out["classes"][name]["n_detections_at_threshold"] = int(
            np.count_nonzero((table.category == k) & (table.score >= threshold)))
        out["classes"][name]["pr_curve"] = {"score": curve.scores.tolist(), "precision": curve.precision.tolist(),
                                            "recall": curve.recall.tolist()}
    out["detections"] = {"count": int(len(table.score)), "min_score": min_score, "threshold": threshold,
                         "at_threshold": int(np.count_nonzero(table.score >= threshold))}
    out["notes"] = detection_notes(out)
    return out


def detection_notes(metrics: dict[str, Any]) -> list[str]:
    """Sentences that explain empty or one-sided numbers of :func:`detection_metrics`: how many detections
    were scored from which score on, and which class has no detection or no ground truth."""
    det = metrics["detections"]
    kept = f" at score >= {det['min_score']:g}" if det["min_score"] is not None else ""
    notes = []
    if det["count"] == 0:
        notes.append(f"No detections{kept}: every AP is 0 and the precision-recall curves are empty "
                     "(the detector found no face).")
    else:
        notes.append(f"{det['count']} detections{kept}, {det['at_threshold']} of them at score >= "
                     f"{det['threshold']:g}.")
    for name, c in metrics["classes"].items():
        if not c["n_gt"]:
            notes.append(f"No {name} faces in the ground truth: the {name} AP is n/a and the means cover the "
                         "other classes only.")
        elif det["count"] and not c["n_detections"]:
            notes.append(f"No {name} detections{kept}: the {name} AP is 0.")
    return notes


def detection_report(evaluation: DetectionEvaluation, threshold: float, min_score: float | None = None
                     ) -> tuple[dict[str, Any], list[Section], list[Plot]]:
    """Metrics (:func:`detection_metrics`), summary, per-class and COCO tables and the PR-curve plot;
    ``min_score`` is the score down to which detections were kept (``None``: unknown)."""
    d = detection_metrics(evaluation, threshold, min_score)
    summary = Table(["metric", "value"], [
        ["mAP50 (COCO 101-point, IoU 0.5)", d["mAP50"]], ["mAP@[.50:.95] (COCO)", d["mAP"]],
        ["mAP50 (VOC 2007 11-point)", d["mAP50_voc07"]], ["mAP50 (VOC 2010+ all-point)", d["mAP50_voc"]],
        ["detections" + (f" (score >= {min_score:g})" if min_score is not None else ""), d["detections"]["count"]],
        [f"detections @ {threshold:g}", d["detections"]["at_threshold"]]])
    per_class = Table(["class", "faces", "detections", f"detections @ {threshold:g}", "AP50 VOC07", "AP50 VOC",
                       "AP50 COCO", "AP@[.50:.95]", f"precision @ {threshold:g}", f"recall @ {threshold:g}"], [])
    for name, c in d["classes"].items():
        point = c["at_threshold"] or {}
        per_class.rows.append([name, c["n_gt"], c["n_detections"], c["n_detections_at_threshold"], c["AP50_voc07"],
                               c["AP50_voc"], c["AP50_coco"], c["coco"]["AP"], point.get("precision"),
                               point.get("recall")])
    coco = Table(["statistic", "IoU", "area", "max dets", "value"],
                 [[f"{kind} ({name})", "0.50:0.95" if iou is None else f"{iou:.2f}", area, max_det, d["coco"][name]]
                  for name, (kind, iou, area, max_det) in STATS.items()])
    sections = [
        Section("Detection summary", " ".join([*d["notes"], "AP is in 0..1; n/a means no ground truth to measure. "
                                               "Crowd and difficult faces are ignored."]), [summary]),
        Section("Per class", f"Operating point: detections with score >= {threshold:g}.", [per_class],
                [(PR_PNG, "Precision-recall per class at IoU 0.5 (the precision envelope that AP integrates)")]),
        Section("COCO summary", "The 12 numbers of pycocotools' COCOeval.summarize().", [coco]),
    ]
    return d, sections, [(PR_PNG, lambda path: plots.plot_pr_curves(evaluation.curves, path, threshold,
                                                                    min_score=min_score))]


def examples_report(examples: Sequence[plots.Example]) -> tuple[list[Section], list[Plot]]:
    """A section with the grid of example frames (nothing when there are none)."""
    if not examples:
        return [], []
    section = Section("Example frames", "Ground truth dashed blue; predictions green (real) and red (fake) with "
                      "their scores.", images=[(EXAMPLES_PNG, "Example frames")])
    return [section], [(EXAMPLES_PNG, lambda path: plots.plot_examples(examples, path))]


def write_detection_report(out: str | os.PathLike, evaluation: DetectionEvaluation, title: str,
                           source: dict[str, Any], threshold: float, examples: Sequence[plots.Example] = (),
                           overwrite: bool = False, extra_json: dict[str, Any] | None = None,
                           min_score: float | None = None) -> dict[str, Any]:
    """Write a detection report folder (:func:`detection_report`, then :func:`examples_report`); its metrics
    start with ``source`` (what was scored). Returns the metrics."""
    metrics, sections, jobs = detection_report(evaluation, threshold, min_score)
    example_sections, example_jobs = examples_report(examples)
    metrics = {"source": source, **metrics}
    write_report(out, title, metrics, sections + example_sections, jobs + example_jobs, overwrite=overwrite,
                 extra_json=extra_json)
    return metrics


def video_report(videos: VideoSet, metrics: dict[str, Any]) -> tuple[dict[str, Any], list[Section], list[Plot]]:
    """Metrics with the ROC and reliability data added, summary and confusion tables, ROC and reliability
    plots of a video-level evaluation (``metrics`` from :func:`dftag.eval.video_metrics.video_metrics`)."""
    threshold = metrics["threshold"]
    summary = Table(["metric", "value"], [
        ["videos scored", metrics["n_videos"]], ["fake", metrics["n_fake"]], ["real", metrics["n_real"]],
        ["labelled but not scored", metrics["n_unscored"]],
        [f"log loss (clipped at {metrics['log_loss_eps']:g})", metrics["log_loss"]],
        ["ROC AUC", metrics["roc_auc"]], [f"ECE ({metrics['ece_bins']} bins)", metrics["ece"]],
        [f"accuracy @ {threshold:g}", metrics["accuracy"]], [f"precision @ {threshold:g}", metrics["precision"]],
        [f"recall (fakes caught) @ {threshold:g}", metrics["recall"]],
        [f"specificity (reals passed) @ {threshold:g}", metrics["specificity"]]])
    c = metrics["confusion"]
    confusion = Table(["actual \\ called", "fake", "real"], [["fake", c["tp"], c["fn"]], ["real", c["fp"], c["tn"]]])
    fpr, tpr, _ = roc_curve(videos.labels, videos.scores)
    rel = reliability(videos.labels, videos.scores, metrics["ece_bins"])
    point = (1 - metrics["specificity"] if metrics["specificity"] is not None else 0.0,
             metrics["recall"] if metrics["recall"] is not None else 0.0)
    sections = [
        Section("Video-level summary", "A video is called fake when its score is >= the threshold.", [summary]),
        Section("Confusion matrix", f"Threshold {threshold:g}.", [confusion],
                [(ROC_PNG, "ROC curve of video scores"), (RELIABILITY_PNG, "Reliability of video scores")]),
    ]
    jobs = [(ROC_PNG, lambda path: plots.plot_roc(fpr, tpr, metrics["roc_auc"], path, point, threshold)),
            (RELIABILITY_PNG, lambda path: plots.plot_reliability(rel, path, metrics["ece"], "Video scores"))]
    full = {**metrics, "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()}, "reliability": rel.to_dict()}
    return full, sections, jobs


def no_face_section(videos: VideoSet, details: dict[str, Any]) -> tuple[list[str], Section]:
    """The scored videos whose details (``dftag score``'s details JSON, ``{"videos": {name: {...}}}``) say no
    face was found, and a report section that names them: their score is the scorer's prior, not a judgement."""
    found = details.get("videos", {}) if isinstance(details, dict) else {}
    names = [n for n in videos.names if found.get(n, {}).get("no_face")]
    text = (f"{len(names)} of {len(videos.names)} scored videos had no face found: each was given the prior "
            "score, which says nothing about the video." if names else "A face was found in every scored video.")
    rows = [[n, fmt(found[n].get("prior", found[n].get("score")))] for n in names]
    return names, Section("Videos without a face", text, [Table(["video", "score (prior)"], rows)] if rows else [])


def write_video_report(out: str | os.PathLike, scores: str | os.PathLike, labels: str | os.PathLike,
                       threshold: float = DEFAULT_THRESHOLD, eps: float = LOG_LOSS_EPS, bins: int = 10,
                       overwrite: bool = False, details: str | os.PathLike | None = None) -> dict[str, Any]:
    """Score a ``scores.csv`` against a labels file (formats in :mod:`dftag.eval.video_metrics`) into a video
    report folder (:func:`video_report`): a video is called fake when its score is ``>= threshold``, log loss
    clips predictions to ``[eps, 1 - eps]``, calibration uses ``bins`` bins. With the scorer's ``details``
    JSON the report also says which videos had no face found (``no_face``). Returns the metrics, which end
    with every scored video's label and score."""
    check_output(out, overwrite)
    videos = align(load_video_scores(scores), load_video_labels(labels), scores)
    metrics, sections, jobs = video_report(videos, video_metrics(videos, threshold, eps, bins))
    if details is not None:
        no_face, section = no_face_section(videos, read_json(details))
        metrics["no_face_found"] = no_face
        sections.append(section)
    metrics = {"source": {"scores": str(scores), "labels": str(labels),
                          **({"details": str(details)} if details is not None else {})}, **metrics,
               "videos": [{"filename": n, "label": int(y), "score": float(s)}
                          for n, y, s in zip(videos.names, videos.labels, videos.scores)]}
    write_report(out, f"Video report: {scores}", metrics, sections, jobs, overwrite=overwrite)
    return metrics
