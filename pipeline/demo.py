"""The demo: dftag's main job, end to end, on built-in sample data.

sample data -> convert (CVAT export + DFDC metadata, the real converters) -> split by group -> train the
default two-stage model (the ssdlite-mnv2 SSD, then the crop classifier) -> evaluate the test split ->
annotate two held-out videos -> score every test video -> evaluate the videos -> summary. Each step calls the
library function behind the ``dftag`` command of that name, with the command's defaults except where
:class:`DemoConfig` and the fractions below say otherwise (20 % val and 20 % test, so the few sample videos
leave both splits fakes and reals), so the demo exercises what users run.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dftag.annotations.convert import ConvertOptions
from dftag.annotations.dataset import load_dataset
from dftag.annotations.exports import convert_export
from dftag.annotations.formats.dfdc import read_metadata
from dftag.annotations.splits import write_splits
from dftag.core.atomic import dir_in_place, write_json
from dftag.core.errors import DftagError, Warnings
from dftag.core.io import read_json
from dftag.pipeline.annotator import annotate_video
from dftag.pipeline.score_csv import score_to_csv
from dftag.pipeline.scorer import ScoreSettings, find_videos
from dftag.sample_data.generator import CVAT_DIR, METADATA_FILE, VIDEOS_DIR, generate

VAL_FRACTION, TEST_FRACTION = 0.2, 0.2
ANNOTATED_VIDEOS = 2


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo. The default is what ``make demo`` runs; :data:`TOY` is the test suite's."""

    videos: int = 32
    frames: int = 36
    frame_size: str = "320x240"  # width x height, pixels
    epochs: int | None = None  # the model's default
    image_size: int | None = None  # the model's default (320)
    batch_size: int | None = None
    classifier_epochs: int = 1  # the sample data's fakes are easy: one epoch of crops keeps make demo short
    crop_size: int | None = None  # the classifier's default (224)
    score_frames: int = 16
    seed: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """``frame_size`` as ``(width, height)``."""
        width, height = self.frame_size.lower().split("x")
        return int(width), int(height)


TOY = DemoConfig(videos=6, frames=10, frame_size="160x120", epochs=1, image_size=96, batch_size=4, score_frames=4,
                 crop_size=64)


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _test_videos(dataset: Path, metadata: dict[str, Any]) -> list[str]:
    """Videos of the test split, fakes and reals alternating so any prefix holds both when it can."""
    test = load_dataset(dataset, split="test")
    videos = sorted({img["video"] for img in test.images if img["video"]})
    fakes = [v for v in videos if metadata.get(Path(v).name, {}).get("label") == "FAKE"]
    reals = [v for v in videos if v not in fakes]
    mixed = [v for pair in zip(fakes, reals) for v in pair]
    longer = fakes if len(fakes) > len(reals) else reals
    return mixed + longer[len(mixed) // 2:]


def run_demo(out: str | os.PathLike[str], config: DemoConfig = DemoConfig(), overwrite: bool = False
             ) -> dict[str, Any]:
    """Run the whole job into ``out`` and return (and write to ``out/summary.json``) the headline numbers. A
    non-empty ``out`` is replaced only with ``overwrite``, and only by a demo that finishes: one that fails
    leaves the previous one in place (:func:`~dftag.core.atomic.dir_in_place`)."""
    out = Path(out)
    with dir_in_place(out, overwrite=overwrite):
        return _run_demo(out, config)


def _run_demo(out: Path, config: DemoConfig) -> dict[str, Any]:
    from dftag.detector.export import load_detector
    from dftag.eval.model_eval import write_model_report
    from dftag.eval.report import HTML_FILE, fmt, write_video_report
    from dftag.training.config import DEFAULT_MODEL, TrainConfig
    from dftag.training.run_folder import BEST_FILE
    from dftag.training.train import train

    started = time.perf_counter()
    sample, dataset, run = out / "sample", out / "dataset", out / "run"

    _step("1/8 sample data")
    plan = generate(sample, videos=config.videos, seed=config.seed, size=config.size, frames=config.frames,
                    jobs=min(2, os.cpu_count() or 1), progress=True)
    print(f"wrote {len(plan)} videos to {sample}")

    _step("2/8 convert")
    warnings = Warnings()
    converted = convert_export("cvat-video", sample / CVAT_DIR, dataset, media=sample / VIDEOS_DIR,
                               options=ConvertOptions(groups=read_metadata(sample / METADATA_FILE)),
                               warnings=warnings)
    print("\n".join(converted.lines()))
    warnings.print()

    _step("3/8 split")
    split, _ = write_splits(dataset, VAL_FRACTION, TEST_FRACTION, config.seed)
    print(split.table())

    _step("4/8 train")
    history = train(TrainConfig.for_model(DEFAULT_MODEL, data=str(dataset), out=str(run), seed=config.seed,
                                          epochs=config.epochs, image_size=config.image_size,
                                          batch_size=config.batch_size,
                                          classifier={"epochs": config.classifier_epochs,
                                                      "crop_size": config.crop_size}))
    model = run / BEST_FILE
    print(f"trained {len(history)} epochs -> {model}")

    _step("5/8 evaluate boxes")
    boxes = write_model_report(out / "report", model, dataset, "test")
    print(f"mAP50 {fmt(boxes['mAP50'])}  mAP@[.50:.95] {fmt(boxes['mAP'])}")

    _step("6/8 annotate")
    videos = _test_videos(dataset, read_json(sample / METADATA_FILE))
    detector = load_detector(model)
    for path in videos[:ANNOTATED_VIDEOS]:
        result = annotate_video(path, out / "annotated", detector)
        print(f"{path}: {result['label']} (p_fake {result['score']:.3f}) -> {result['output']}")

    _step("7/8 score videos")
    scored = score_to_csv(find_videos(videos), out / "scores.csv", functools.partial(load_detector, model),
                          ScoreSettings(frames=config.score_frames))
    if scored.errors:
        name, error = next(iter(scored.errors.items()))
        raise DftagError(f"{len(scored.errors)} test videos could not be scored (first, {name}: {error})")
    print(f"scored {len(scored.results)} videos -> {scored.scores}")

    _step("8/8 evaluate videos")
    video = write_video_report(out / "video_report", scored.scores, sample / METADATA_FILE, details=scored.details)
    print(f"{video['n_videos']} videos  log loss {video['log_loss']:.4f}")

    summary = {
        "AP50": boxes["AP50"], "mAP50": boxes["mAP50"], "mAP": boxes["mAP"],
        "video_log_loss": video["log_loss"], "video_roc_auc": video["roc_auc"], "videos_scored": video["n_videos"],
        "seconds": round(time.perf_counter() - started, 1), "config": asdict(config),
        "outputs": {"dataset": str(dataset), "model": str(model), "report": str(out / "report" / HTML_FILE),
                    "annotated": str(out / "annotated"), "scores": str(scored.scores),
                    "video_report": str(out / "video_report" / HTML_FILE)},
    }
    write_json(out / "summary.json", summary, indent=2)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """The lines ``dftag demo`` prints at the end, from :func:`run_demo`'s summary."""
    from dftag.eval.report import fmt

    ap = summary["AP50"]
    auc = summary["video_roc_auc"]
    lines = [
        "",
        "dftag demo finished in {:.0f} s".format(summary["seconds"]),
        f"  boxes (test split): AP50 real {fmt(ap['real'], 3)}, AP50 fake {fmt(ap['fake'], 3)}, "
        f"mAP50 {fmt(summary['mAP50'], 3)}, COCO mAP {fmt(summary['mAP'], 3)}",
        f"  videos ({summary['videos_scored']} test videos): log loss {summary['video_log_loss']:.3f}, "
        f"ROC AUC {'n/a' if auc is None else f'{auc:.3f}'}",
    ]
    lines += [f"  {name:<13}{path}" for name, path in summary["outputs"].items()]
    return "\n".join(lines)
