"""Benchmark: dftag's whole job on the public deepfake clips in ``../shared/realdata``, read in place.

Steps, each the ``dftag`` command a user would type, run in-process:

1. ``autolabel`` the pairs of ``DATA/pairs.csv`` (every K-th frame, longer side <= 640 px) into ``OUT/dataset``;
2. regroup the dataset by *identity* (see :func:`identity_group`) and ``split`` it by group (train/val/test);
3. ``train`` ssdlite-mnv2 on train, validating on val (or reuse ``--run``; its training groups are checked
   against the test groups);
4. ``evaluate`` the boxes of the test split (per-class AP50, mAP50, COCO mAP) into ``OUT/box_report``;
5. ``score`` held-out videos and ``evaluate-videos`` them (log loss, ROC AUC, accuracy) into ``OUT/video_report``.
   Held out means the video's identity group is in neither train nor val: both sides of the test split's pairs
   (the halves of side-by-side files are cropped with the bundled ffmpeg into ``OUT/videos``), REAL clips of
   ``manifest.csv`` that no pair uses, and FAKE clips without an original. ``REAL?`` rows are left out.

Prints one table (with the reference points of earlier work) and writes ``OUT/summary.json``. Re-running with
the same settings reuses the autolabelled dataset and resumes or reuses the training run; ``--force`` starts
over. Usage::

    python benchmarks/realdata.py --data ../shared/realdata --out runs/realdata [--run RUN] [--epochs N]
        [--every K] [--seed S] [--force]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dftag.core.atomic import atomic_path, write_json, write_text
from dftag.annotations.dataset import CLASS_NAMES, SPLITS, load_coco_json, load_dataset, save_coco
from dftag.core.errors import DftagError
from dftag.annotations.pair_list import Pair, read_pairs
from dftag.annotations.video import ffmpeg_exe

ARCH = "ssdlite-mnv2"
VAL_FRACTION, TEST_FRACTION = 0.2, 0.2
MAX_SIDE = 640  # autolabel frame size (longer side, pixels)
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
HALF_CROPS = {"left_half": "crop=iw/2:ih:0:0", "right_half": "crop=iw/2:ih:iw/2:0"}
CELEBS_FOLDER = "celebs"  # DeepFaceLive doc/celebs/<target identity>/<file>.mp4
MEAD_CLIP = re.compile(r"([MW]\d{3})-\d{3}")  # MEAD clip names: speaker id, then clip number
# Reference points of earlier work on this task, shown beside this run's numbers.
REFERENCES = {
    "AP50_fake": (0.796, "SSD300, earlier work"),
    "AP50_real": (0.402, "SSD300, earlier work"),
    "video_log_loss": (0.428, "DFDC winner (private LB)"),
}


@dataclass(frozen=True)
class BenchConfig:
    """What decides a benchmark run; saved as ``OUT/benchmark.json`` so a re-run can tell whether to reuse."""

    data: str
    every: int = 50
    seed: int = 0
    run: str | None = None  # an existing training run to evaluate instead of training
    epochs: int = 4
    image_size: int = 256
    batch_size: int = 16
    self_blend: float = 0.0
    score_frames: int = 32


@dataclass(frozen=True)
class Video:
    """One video to score: ``path`` (a whole file, or the side-by-side file ``half`` is cut from), its label
    (``"REAL"``/``"FAKE"``), the identity group it belongs to and where it comes from."""

    path: Path
    label: str
    identity: str
    source: str
    half: str | None = None

    @property
    def name(self) -> str:
        """The scored file's name (scores and labels match by name): halves become ``<stem>.<half>.mp4``."""
        return f"{self.path.stem}.{self.half}.mp4" if self.half else self.path.name


def identity_group(video: str | None, group: str) -> str:
    """The identity an autolabelled image (or a video) belongs to, for splitting without identity leakage.

    ``video`` is the path as the pairs file gives it (maybe with ``#left_half``), ``group`` autolabel's group
    (the original's stem). DeepFaceLive side-by-side files are grouped by their ``celebs/<name>`` folder: the
    folder names the swapped-in identity, and the webcam person on the left repeats across a folder's files.
    MEAD clips (``M003-007``) are grouped by speaker (``M003``). Anything else keeps ``group``.
    """
    if video:
        parts = PurePosixPath(video.split("#")[0]).parts
        if len(parts) >= 3 and parts[-3] == CELEBS_FOLDER:
            return parts[-2]
    mead = MEAD_CLIP.fullmatch(group)
    return mead.group(1) if mead else group


def regroup_by_identity(coco: dict[str, Any]) -> dict[str, Any]:
    """A copy of an autolabelled COCO dict whose images' ``group`` is :func:`identity_group`."""
    images = [{**img, "group": identity_group(img["video"], str(img["group"]))} for img in coco["images"]]
    return {**coco, "images": images}


def read_manifest(path: Path) -> list[dict[str, str]]:
    """The rows of realdata's ``manifest.csv`` (needs the columns repo, path and label)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DftagError(f"cannot read: {err}", path) from None
    missing = {"repo", "path", "label"} - set(rows[0] if rows else ())
    if missing:
        raise DftagError(f"manifest lacks column(s) {', '.join(sorted(missing))}", path)
    return rows


def candidate_videos(data: Path, pairs: Sequence[Pair], manifest: Iterable[dict[str, str]]) -> list[Video]:
    """Every labelled video: both sides of each pair (side-by-side halves separately), then the manifest's
    REAL and FAKE video files that no pair uses (unused real clips, fakes without an original)."""
    videos: dict[tuple[Path, str | None], Video] = {}
    for pair in pairs:
        identity = identity_group(pair.original.given, pair.original.stem)
        for ref, label in ((pair.fake, "FAKE"), (pair.original, "REAL")):
            videos.setdefault((ref.path, ref.half), Video(ref.path, label, identity, "pair", ref.half))
    in_pairs = {path for path, _ in videos}
    for row in manifest:
        path = data / row["repo"].replace("/", "+") / row["path"]
        if row["label"] in ("REAL", "FAKE") and path.suffix.lower() in VIDEO_SUFFIXES and path not in in_pairs:
            source = "unused real clip" if row["label"] == "REAL" else "unpaired fake"
            videos[(path, None)] = Video(path, row["label"], identity_group(row["path"], path.stem), source)
    return list(videos.values())


def held_out(videos: Iterable[Video], seen: set[str]) -> tuple[list[Video], list[Video]]:
    """Split ``videos`` into those whose identity the model never saw (not in ``seen``, the train and val
    groups) and the rest; raise :class:`DftagError` when two kept videos share a file name."""
    kept = [v for v in videos if v.identity not in seen]
    dropped = [v for v in videos if v.identity in seen]
    clashes = sorted(n for n, c in Counter(v.name for v in kept).items() if c > 1)
    if clashes:
        raise DftagError(f"videos to score share a file name (scores match by name): {', '.join(clashes)}")
    return kept, dropped


def cut_half(video: Video, dst: Path) -> None:
    """Write the ``video.half`` of a side-by-side file to ``dst`` (H.264 CRF 18, no audio), atomically."""
    with atomic_path(dst, suffix=".mp4") as tmp:
        proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(video.path),
                               "-vf", HALF_CROPS[video.half], "-an", "-c:v", "libx264", "-preset", "veryfast",
                               "-crf", "18", "-pix_fmt", "yuv420p", str(tmp)], capture_output=True, text=True)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or ["ffmpeg failed"]
            raise DftagError(f"cannot cut the {video.half}: {lines[-1]}", video.path)


def labels_csv(videos: Iterable[Video]) -> str:
    """``filename,label`` rows (REAL/FAKE) for ``dftag evaluate-videos``."""
    return "filename,label\n" + "".join(f"{v.name},{v.label}\n" for v in videos)


def no_face_found(details: Path) -> int:
    """How many videos ``dftag score`` found no face in (their score is the prior), from its details JSON."""
    from dftag.pipeline.aggregate import NO_FACE

    return sum(v["label"] == NO_FACE for v in load_coco_json(details)["videos"].values())


def split_groups(dataset: Path) -> dict[str, list[str]]:
    """The identity groups of each split of ``dataset``."""
    return {s: sorted({str(img["group"]) for img in load_dataset(dataset, s).images}) for s in SPLITS}


def split_counts(dataset: Path, split: str) -> dict[str, int]:
    """Images and boxes per class in one split."""
    ds = load_dataset(dataset, split)
    boxes = Counter(CLASS_NAMES[a["category_id"]] for a in ds.annotations)
    return {"images": len(ds.images), **{f"{name}_boxes": boxes[name] for name in CLASS_NAMES.values()}}


def run_training_groups(run: Path) -> set[str]:
    """Identity groups of the train and val splits an existing run was trained on (from its config.json)."""
    config = load_coco_json(run / "config.json")
    data = Path(config.get("data", ""))
    if not (data / "train.json").is_file():
        raise DftagError(f"cannot check what the run was trained on: {data / 'train.json'} not found",
                         run / "config.json")
    groups = set()
    for split in ("train", "val"):
        if (data / f"{split}.json").is_file():
            coco = regroup_by_identity(load_dataset(data, split).coco)
            groups |= {str(img["group"]) for img in coco["images"]}
    return groups


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or value < 0 else f"{value:.3f}"


def format_table(summary: dict[str, Any]) -> str:
    """The one table the benchmark prints: box metrics on the test groups, video metrics, reference points."""
    boxes, videos, cfg = summary["boxes"], summary["videos"], summary["config"]
    sections = [
        (f"boxes: test split, {boxes['images']} images, {boxes['real_boxes']} real + {boxes['fake_boxes']} fake "
         f"boxes, {len(summary['groups']['test'])} identity groups",
         [("AP50 real", boxes["AP50"]["real"], "AP50_real"), ("AP50 fake", boxes["AP50"]["fake"], "AP50_fake"),
          ("mAP50", boxes["mAP50"], None), ("COCO mAP@[.5:.95]", boxes["mAP"], None)]),
        (f"videos: {videos['n_videos']} held out ({videos['n_real']} real, {videos['n_fake']} fake), "
         f"{videos['no_face_found']} without a face track (scored as the prior)",
         [("log loss", videos["log_loss"], "video_log_loss"), ("ROC AUC", videos["roc_auc"], None),
          (f"accuracy @{videos['threshold']:g}", videos["accuracy"], None)]),
    ]
    run = f"run {cfg['run']}" if cfg["run"] else f"{ARCH} {cfg['epochs']} epochs at {cfg['image_size']} px"
    lines = [f"dftag real-data benchmark, {summary['date']}: {run}, 1 frame in {cfg['every']}, "
             f"seed {cfg['seed']}, {summary['seconds']:.0f} s",
             f"  {'':<20}{'this run':<10}reference"]
    for header, rows in sections:
        lines.append(header)
        for label, value, ref in rows:
            note = f"{REFERENCES[ref][0]:.3f} ({REFERENCES[ref][1]})" if ref else ""
            lines.append(f"  {label:<20}{_fmt(value):<10}{note}".rstrip())
    return "\n".join(lines)


def _dftag(step: str, args: Sequence[object]) -> None:
    from dftag.tools.cli import main

    argv = [str(a) for a in args]
    print(f"\n== {step}: dftag {' '.join(argv)}", flush=True)
    if main(argv) != 0:
        raise DftagError(f"step '{step}' failed (see the message above)")


def _prepare_out(out: Path, config: BenchConfig, force: bool) -> None:
    """Start ``out`` afresh (``force``), or check that what it holds came from the same settings."""
    marker = out / "benchmark.json"
    if force and out.exists():
        shutil.rmtree(out)
    if out.exists() and any(out.iterdir()):
        if not marker.is_file():
            raise DftagError("output folder exists and is not a benchmark run (use --force to replace it)", out)
        if load_coco_json(marker) != asdict(config):
            raise DftagError("holds a benchmark run with other settings (use --force to replace it, or another "
                             "--out)", marker)
    write_json(marker, asdict(config), indent=2)


def run_benchmark(config: BenchConfig, out: Path, force: bool = False) -> dict[str, Any]:
    """All the steps of the module docstring; returns (and writes to ``out/summary.json``) the results."""
    data = Path(config.data)
    for name in ("pairs.csv", "manifest.csv"):
        if not (data / name).is_file():
            raise DftagError(f"not a realdata folder: {name} not found", data)
    _prepare_out(out, config, force)
    started, load_before = time.perf_counter(), os.getloadavg()
    seconds: dict[str, float] = {}
    dataset, run_dir = out / "dataset", Path(config.run) if config.run else out / "run"

    tic = time.perf_counter()
    if not (dataset / "annotations.json").is_file():
        _dftag("autolabel", ["autolabel", "--pairs", data / "pairs.csv", "--media", data, "--out", dataset,
                             "--every", config.every, "--max-side", MAX_SIDE])
    save_coco(regroup_by_identity(load_dataset(dataset).coco), dataset / "annotations.json")
    _dftag("split", ["split", dataset, "--val", VAL_FRACTION, "--test", TEST_FRACTION, "--seed", config.seed])
    groups = split_groups(dataset)
    seconds["autolabel+split"] = time.perf_counter() - tic

    tic = time.perf_counter()
    seen = set(groups["train"]) | set(groups["val"])
    if config.run:
        run_groups = run_training_groups(run_dir)
        leaked = sorted(run_groups & set(groups["test"]))
        if leaked:
            raise DftagError(f"the run was trained or validated on test identities: {', '.join(leaked)}", run_dir)
        seen |= run_groups
    else:
        train = ["train", "--data", dataset, "--model", ARCH, "--out", run_dir, "--epochs", config.epochs,
                 "--image-size", config.image_size, "--batch-size", config.batch_size, "--seed", config.seed,
                 "--self-blend", config.self_blend]
        _dftag("train", train + (["--resume"] if (run_dir / "last.pt").is_file() else []))
    model = run_dir / "best.pt"
    seconds["train"] = time.perf_counter() - tic

    tic = time.perf_counter()
    _dftag("evaluate boxes", ["evaluate", "--model", model, "--data", dataset, "--split", "test",
                              "--out", out / "box_report", "--force"])
    seconds["evaluate"] = time.perf_counter() - tic

    tic = time.perf_counter()
    videos, excluded = held_out(candidate_videos(data, read_pairs(data / "pairs.csv", data),
                                                 read_manifest(data / "manifest.csv")), seen)
    paths = []
    for video in videos:
        if video.half:
            cut = out / "videos" / video.name
            if not cut.is_file():
                cut_half(video, cut)
            paths.append(cut)
        else:
            paths.append(video.path)
    write_text(out / "video_labels.csv", labels_csv(videos))
    _dftag("score videos", ["score", *paths, "--model", model, "--frames", config.score_frames,
                            "--out", out / "scores.csv"])
    _dftag("evaluate videos", ["evaluate-videos", "--scores", out / "scores.csv", "--labels",
                               out / "video_labels.csv", "--out", out / "video_report", "--force"])
    seconds["videos"] = time.perf_counter() - tic

    box_metrics = load_coco_json(out / "box_report" / "metrics.json")
    video_metrics = load_coco_json(out / "video_report" / "metrics.json")
    summary = {
        "date": datetime.date.today().isoformat(),
        "seconds": round(time.perf_counter() - started, 1),
        "step_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "load_average": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
        "config": asdict(config),
        "groups": groups,
        "splits": {s: split_counts(dataset, s) for s in SPLITS},
        "boxes": {"AP50": box_metrics["AP50"], "mAP50": box_metrics["mAP50"], "mAP": box_metrics["mAP"],
                  **split_counts(dataset, "test")},
        "videos": {**{k: video_metrics[k] for k in ("n_videos", "n_real", "n_fake", "log_loss", "roc_auc",
                                                    "accuracy", "threshold")},
                   "no_face_found": no_face_found(out / "scores.json")},
        "scored": [{"name": v.name, "label": v.label, "identity": v.identity, "source": v.source}
                   for v in videos],
        "not_scored_identity_seen": sorted(v.name for v in excluded),
        "references": {k: {"value": v, "what": what} for k, (v, what) in REFERENCES.items()},
        "outputs": {"dataset": str(dataset), "model": str(model), "box_report": str(out / "box_report"),
                    "scores": str(out / "scores.csv"), "video_report": str(out / "video_report")},
    }
    write_json(out / "summary.json", summary, indent=2)
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = BenchConfig(data="")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the realdata folder (README.md, manifest.csv, pairs.csv)")
    p.add_argument("--out", required=True, help="benchmark output folder")
    p.add_argument("--run", help="evaluate this existing training run (RUN/best.pt) instead of training")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help=f"training epochs ({defaults.epochs})")
    p.add_argument("--image-size", type=int, default=defaults.image_size,
                   help=f"training input side, pixels ({defaults.image_size})")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"({defaults.batch_size})")
    p.add_argument("--self-blend", type=float, default=defaults.self_blend,
                   help=f"self-blended fake probability per real face ({defaults.self_blend})")
    p.add_argument("--every", type=int, default=defaults.every,
                   help=f"autolabel every K-th frame ({defaults.every})")
    p.add_argument("--frames", type=int, default=defaults.score_frames,
                   help=f"frames scored per video ({defaults.score_frames})")
    p.add_argument("--seed", type=int, default=defaults.seed, help=f"split and training seed ({defaults.seed})")
    p.add_argument("--force", action="store_true", help="replace --out if it holds anything")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = BenchConfig(data=str(Path(args.data).resolve()), every=args.every, seed=args.seed,
                         run=str(Path(args.run).resolve()) if args.run else None, epochs=args.epochs,
                         image_size=args.image_size, batch_size=args.batch_size, self_blend=args.self_blend,
                         score_frames=args.frames)
    try:
        summary = run_benchmark(config, Path(args.out), args.force)
    except DftagError as err:
        print(f"realdata benchmark: error: {err}", file=sys.stderr)
        return 1
    print("\n" + format_table(summary))
    print(f"\nwrote {Path(args.out) / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
