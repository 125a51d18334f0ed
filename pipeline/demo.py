"""The demo: dftag's main job, end to end, on built-in sample data.

sample data -> ``convert`` (CVAT export + DFDC metadata, the real converters) -> ``split`` by group ->
``train`` ssdlite-mnv2 -> ``evaluate`` the test split -> ``annotate`` two held-out videos -> ``score`` every
test video -> ``evaluate-videos`` -> summary. Every step is the ``dftag`` command a user would type, run
in-process, so the demo exercises exactly what users run.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dftag.core.atomic import write_json
from dftag.annotations.dataset import load_dataset
from dftag.core.errors import DftagError


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo. The default is what ``make demo`` runs; :data:`TOY` is the test suite's."""

    videos: int = 32
    frames: int = 36
    frame_size: str = "320x240"
    epochs: int | None = None  # the model's default
    image_size: int | None = None  # the model's default (320)
    batch_size: int | None = None
    score_frames: int = 16
    seed: int = 0


TOY = DemoConfig(videos=6, frames=10, frame_size="160x120", epochs=1, image_size=96, batch_size=4, score_frames=4)


def _run(step: str, args: list[object]) -> None:
    from dftag.tools.cli import main

    argv = [str(a) for a in args]
    print(f"\n== {step}: dftag {' '.join(argv)}", flush=True)
    if main(argv) != 0:
        raise DftagError(f"step '{step}' failed (see the message above)")


def _test_videos(dataset: Path, metadata: dict[str, Any]) -> list[str]:
    """Videos of the test split, fakes and reals alternating so any prefix holds both when it can."""
    test = load_dataset(dataset, split="test")
    videos = sorted({img["video"] for img in test.images if img["video"]})
    fakes = [v for v in videos if metadata.get(Path(v).name, {}).get("label") == "FAKE"]
    reals = [v for v in videos if v not in fakes]
    mixed = [v for pair in zip(fakes, reals) for v in pair]
    longer = fakes if len(fakes) > len(reals) else reals
    return mixed + longer[len(mixed) // 2:]


def run_demo(out: Path, config: DemoConfig = DemoConfig(), force: bool = False) -> dict[str, Any]:
    """Run the whole job into ``out``; returns (and writes to ``out/summary.json``) the headline numbers."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise DftagError("demo folder exists and is not empty: use --force to replace it, or another --out", out)
        shutil.rmtree(out)
    started = time.perf_counter()
    sample, dataset, run = out / "sample", out / "dataset", out / "run"
    _run("1/8 sample data", ["sample-data", "--out", sample, "--videos", config.videos, "--frames", config.frames,
                             "--size", config.frame_size, "--seed", config.seed])
    _run("2/8 convert", ["convert", "--format", "cvat-video", "--input", sample / "cvat", "--media",
                         sample / "videos", "--groups", sample / "metadata.json", "--out", dataset])
    _run("3/8 split", ["split", dataset, "--val", 0.2, "--test", 0.2, "--seed", config.seed])
    train = ["train", "--data", dataset, "--model", "ssdlite-mnv2", "--out", run, "--seed", config.seed]
    if config.epochs:
        train += ["--epochs", config.epochs]
    if config.image_size:
        train += ["--image-size", config.image_size]
    if config.batch_size:
        train += ["--batch-size", config.batch_size]
    _run("4/8 train", train)
    model = run / "best.pt"
    _run("5/8 evaluate boxes", ["evaluate", "--model", model, "--data", dataset, "--split", "test",
                                "--out", out / "report"])
    metadata = json.loads((sample / "metadata.json").read_text())
    videos = _test_videos(dataset, metadata)
    _run("6/8 annotate", ["annotate", *videos[:2], "--model", model, "--out", out / "annotated"])
    _run("7/8 score videos", ["score", *videos, "--model", model, "--frames", config.score_frames,
                              "--out", out / "scores.csv"])
    _run("8/8 evaluate videos", ["evaluate-videos", "--scores", out / "scores.csv", "--labels",
                                 sample / "metadata.json", "--out", out / "video_report"])
    boxes = json.loads((out / "report" / "metrics.json").read_text())
    video = json.loads((out / "video_report" / "metrics.json").read_text())
    summary = {
        "AP50": boxes["AP50"], "mAP50": boxes["mAP50"], "mAP": boxes["mAP"],
        "video_log_loss": video["log_loss"], "video_roc_auc": video["roc_auc"], "videos_scored": video["n_videos"],
        "seconds": round(time.perf_counter() - started, 1), "config": asdict(config),
        "outputs": {"dataset": str(dataset), "model": str(model), "report": str(out / "report" / "report.html"),
                    "annotated": str(out / "annotated"), "scores": str(out / "scores.csv"),
                    "video_report": str(out / "video_report" / "report.html")},
    }
    write_json(out / "summary.json", summary, indent=2)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    ap = summary["AP50"]
    auc = summary["video_roc_auc"]
    lines = [
        "",
        "dftag demo finished in {:.0f} s".format(summary["seconds"]),
        f"  boxes (test split): AP50 real {ap['real']:.3f}, AP50 fake {ap['fake']:.3f}, "
        f"mAP50 {summary['mAP50']:.3f}, COCO mAP {summary['mAP']:.3f}",
        f"  videos ({summary['videos_scored']} test videos): log loss {summary['video_log_loss']:.3f}, "
        f"ROC AUC {'n/a' if auc is None else f'{auc:.3f}'}",
    ]
    lines += [f"  {name:<13}{path}" for name, path in summary["outputs"].items()]
    return "\n".join(lines)
