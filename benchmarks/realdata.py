"""Benchmark: dftag's whole job on the public deepfake clips in ``../shared/realdata``, read in place.

Steps, each the library call behind the ``dftag`` command of that name:

1. ``autolabel`` the pairs of ``DATA/pairs.csv`` (every K-th frame, longer side <= 640 px) into ``OUT/dataset``;
2. regroup the dataset by *identity* (see :func:`identity_group`: DeepFaceLive celebrity folders, MEAD and DFD
   speakers, both ids of a FaceForensics++ swap) and ``split`` it by group (train/val/test);
3. ``train`` ssdlite-mnv2 on train, validating on val (or reuse ``--run``; its training groups are checked
   against the test groups);
4. ``evaluate`` the boxes of the test split (per-class AP50, mAP50, COCO mAP) into ``OUT/box_report``;
5. ``score`` held-out videos and ``evaluate-videos`` them (log loss, ROC AUC, accuracy) into ``OUT/video_report``.
   Held out means the video's identity group is in neither train nor val: both sides of the test split's pairs
   (the halves of side-by-side files are cropped with the bundled ffmpeg into ``OUT/videos``), REAL clips of
   ``manifest.csv`` that no pair uses, and FAKE clips without an original. ``REAL?`` files are left out. Scores
   and labels match by name: a file name that several videos share (FF++ methods, Wav2Lip outputs) is prefixed
   with the fewest parent folders that tell them apart (``Deepfakes~c40~videos~183_253.mp4``).

Prints one table (with the reference points of earlier work) and writes ``OUT/summary.json``. Re-running with
the same settings reuses the autolabelled dataset and resumes or reuses the training run; ``--force`` starts
over. Usage::

    python benchmarks/realdata.py --data ../shared/realdata --out runs/realdata [--run RUN] [--epochs N]
        [--every K] [--seed S] [--force]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import functools
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dftag.annotations.autolabel import autolabel_pairs
from dftag.annotations.dataset import CLASS_NAMES, SPLITS, load_dataset, save_coco
from dftag.annotations.pair_list import Pair, read_pairs
from dftag.annotations.splits import write_splits
from dftag.annotations.video import ffmpeg_exe
from dftag.core.atomic import atomic_path, write_json, write_text
from dftag.core.errors import DftagError
from dftag.core.io import read_json
from dftag.detector.export import load_detector
from dftag.eval.model_eval import write_model_report
from dftag.eval.report import write_video_report
from dftag.pipeline.aggregate import NO_FACE
from dftag.pipeline.score_csv import score_to_csv
from dftag.pipeline.scorer import ScoreSettings
from dftag.training.config import TrainConfig
from dftag.training.train import BEST_FILE, LAST_FILE, resume_config, train

ARCH = "ssdlite-mnv2"
VAL_FRACTION, TEST_FRACTION = 0.2, 0.2
MAX_SIDE = 640  # autolabel frame size (longer side, pixels)
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
HALF_CROPS = {"left_half": "crop=iw/2:ih:0:0", "right_half": "crop=iw/2:ih:iw/2:0"}
UNCLEAR_LABEL = "REAL?"  # manifest label of files whose provenance is unclear: never scored
CELEBS_FOLDER = "celebs"  # DeepFaceLive doc/celebs/<target identity>/<file>.mp4
MEAD_CLIP = re.compile(r"([MW]\d{3})-\d{3}")  # MEAD clip names: speaker id, then clip number
DFD_CLIP = re.compile(r"(\d{2})__.+")  # DeepFakeDetection actor clips: actor id, then the scene
FFPP_FAKE = re.compile(r"(\d{3})_(\d{3})")  # FaceForensics++ fake A_B: target video A with source B's face
# Files showing a person that another file's name identifies (README: one group).
SAME_PERSON = {"examples/face/3.mp4": "WDA_AlexandriaOcasioCortez_000"}  # video-retalking, SadTalker
NAME_JOIN = "~"  # joins the parent folders that tell videos with one file name apart
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
    (``"REAL"``/``"FAKE"``), the identity group it belongs to, where it comes from and, when its file name is
    shared with another video, the ``alias`` it is scored under."""

    path: Path
    label: str
    identity: str
    source: str
    half: str | None = None
    alias: str | None = None

    @property
    def file_name(self) -> str:
        """The scored file's name: halves become ``<stem>.<half>.mp4``."""
        return f"{self.path.stem}.{self.half}.mp4" if self.half else self.path.name

    @property
    def name(self) -> str:
        """The name the video is scored under (scores and labels match by name): ``alias``, else its file name."""
        return self.alias or self.file_name


def swap_groups(pairs: Iterable[Pair]) -> dict[str, str]:
    """The identity group of each FaceForensics++ id among ``pairs``, for :func:`identity_group`.

    A fake ``A_B.mp4`` of original ``A.mp4`` shows A's video with B's face, so A and B (and, through other
    fakes, their partners) form one group, named by its ids that are originals joined with ``+`` (``183+253``
    for the fakes ``183_253`` and ``253_183``; ``519`` when only 519 is an original).
    """
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    originals = set()
    for pair in pairs:
        ids = FFPP_FAKE.fullmatch(pair.fake.stem)
        if ids and ids.group(1) == pair.original.stem:
            originals.add(ids.group(1))
            parent[root(ids.group(2))] = root(ids.group(1))
    members: dict[str, list[str]] = defaultdict(list)
    for key in sorted(parent):
        members[root(key)].append(key)
    return {key: "+".join(k for k in group if k in originals) for group in members.values() for key in group}


def identity_group(video: str | None, group: str, swaps: Mapping[str, str] | None = None) -> str:
    """The identity an autolabelled image (or a video) belongs to, for splitting without identity leakage.

    ``video`` is the path as the pairs file gives it (maybe with ``#left_half``), ``group`` autolabel's group
    (the original's stem), ``swaps`` the FaceForensics++ groups (:func:`swap_groups`). DeepFaceLive
    side-by-side files are grouped by their ``celebs/<name>`` folder: the folder names the swapped-in identity,
    and the webcam person on the left repeats across a folder's files. MEAD clips (``M003-007``) are grouped by
    speaker (``M003``), DeepFakeDetection clips (``08__talking_against_wall``) by actor (``DFD_08``),
    FaceForensics++ ids (``183``, or a fake ``183_253``) by swap group, files of :data:`SAME_PERSON` with the
    file that names the person. Anything else keeps ``group``.
    """
    if video:
        path = video.split("#")[0]
        parts = PurePosixPath(path).parts
        if len(parts) >= 3 and parts[-3] == CELEBS_FOLDER:
            return parts[-2]
        if path in SAME_PERSON:
            return SAME_PERSON[path]
    for pattern, name in ((MEAD_CLIP, "{}"), (DFD_CLIP, "DFD_{}")):
        match = pattern.fullmatch(group)
        if match:
            return name.format(match.group(1))
    ids = FFPP_FAKE.fullmatch(group)
    for key in (group, *(ids.groups() if ids else ())):
        if swaps and key in swaps:
            return swaps[key]
    return group


def regroup_by_identity(coco: dict[str, Any], swaps: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A copy of an autolabelled COCO dict whose images' ``group`` is :func:`identity_group`."""
    images = [{**img, "group": identity_group(img["video"], str(img["group"]), swaps)} for img in coco["images"]]
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


def with_unique_names(videos: Sequence[Video]) -> list[Video]:
    """``videos`` where each one whose file name another shares gets an ``alias``: the file name prefixed with
    the fewest of its parent folders (joined by ``~``) that tell those videos apart."""
    sharing: dict[str, list[Video]] = defaultdict(list)
    for video in videos:
        sharing[video.file_name].append(video)
    aliases: dict[Video, str] = {}
    for name, same in sharing.items():
        if len(same) < 2:
            continue
        folders = [video.path.parent.parts for video in same]
        for depth in range(1, max(map(len, folders)) + 1):
            names = [NAME_JOIN.join((*parts[-depth:], name)) for parts in folders]
            if len(set(names)) == len(names):
                aliases.update(zip(same, names))
                break
    return [dataclasses.replace(v, alias=aliases[v]) if v in aliases else v for v in videos]


def candidate_videos(data: Path, pairs: Sequence[Pair], manifest: Iterable[dict[str, str]]) -> list[Video]:
    """Every labelled video: both sides of each pair (side-by-side halves separately), then the manifest's
    REAL and FAKE video files that no pair uses (unused real clips, fakes without an original); files the
    manifest labels ``REAL?`` are left out. Names are unique (:func:`with_unique_names`)."""
    manifest = list(manifest)
    labels = {data / row["repo"].replace("/", "+") / row["path"]: row["label"] for row in manifest}
    swaps = swap_groups(pairs)
    videos: dict[tuple[Path, str | None], Video] = {}
    for pair in pairs:
        identity = identity_group(pair.original.given, pair.original.stem, swaps)
        for ref, label in ((pair.fake, "FAKE"), (pair.original, "REAL")):
            if labels.get(ref.path) != UNCLEAR_LABEL:
                videos.setdefault((ref.path, ref.half), Video(ref.path, label, identity, "pair", ref.half))
    in_pairs = {ref.path for pair in pairs for ref in (pair.fake, pair.original)}
    for row in manifest:
        path = data / row["repo"].replace("/", "+") / row["path"]
        if row["label"] in ("REAL", "FAKE") and path.suffix.lower() in VIDEO_SUFFIXES and path not in in_pairs:
            source = "unused real clip" if row["label"] == "REAL" else "unpaired fake"
            videos[(path, None)] = Video(path, row["label"], identity_group(row["path"], path.stem, swaps), source)
    return with_unique_names(list(videos.values()))


def held_out(videos: Iterable[Video], seen: set[str]) -> tuple[list[Video], list[Video]]:
    """Split ``videos`` into those whose identity the model never saw (not in ``seen``, the train and val
    groups) and the rest; raise :class:`DftagError` when two kept videos share a name."""
    kept = [v for v in videos if v.identity not in seen]
    dropped = [v for v in videos if v.identity in seen]
    clashes = sorted(n for n, c in Counter(v.name for v in kept).items() if c > 1)
    if clashes:
        raise DftagError(f"videos to score share a name (scores match by name): {', '.join(clashes)}")
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
    """A labels file of ``videos`` by name: ``filename,label`` rows with REAL/FAKE."""
    return "filename,label\n" + "".join(f"{v.name},{v.label}\n" for v in videos)


def no_face_found(results: Mapping[str, dict[str, Any]]) -> int:
    """How many scored videos (details by name, as the scorer gives them) had no face found: their score is
    the prior."""
    return sum(v["label"] == NO_FACE for v in results.values())


def split_groups(dataset: Path) -> dict[str, list[str]]:
    """The identity groups of each split of ``dataset``."""
    return {s: sorted({str(img["group"]) for img in load_dataset(dataset, s).images}) for s in SPLITS}


def split_counts(dataset: Path, split: str) -> dict[str, int]:
    """Images and boxes per class in one split."""
    ds = load_dataset(dataset, split)
    boxes = Counter(CLASS_NAMES[a["category_id"]] for a in ds.annotations)
    return {"images": len(ds.images), **{f"{name}_boxes": boxes[name] for name in CLASS_NAMES.values()}}


def run_training_groups(run: Path, swaps: Mapping[str, str] | None = None) -> set[str]:
    """Identity groups (FaceForensics++ ``swaps`` as in :func:`identity_group`) of the train and val splits an
    existing run was trained on (from its config.json)."""
    config = read_json(run / "config.json")
    data = Path(config.get("data", ""))
    if not (data / "train.json").is_file():
        raise DftagError(f"cannot check what the run was trained on: {data / 'train.json'} not found",
                         run / "config.json")
    groups = set()
    for split in ("train", "val"):
        if (data / f"{split}.json").is_file():
            coco = regroup_by_identity(load_dataset(data, split).coco, swaps)
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


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _prepare_out(out: Path, config: BenchConfig, force: bool) -> None:
    """Start ``out`` afresh (``force``), or check that what it holds came from the same settings."""
    marker = out / "benchmark.json"
    if force and out.exists():
        shutil.rmtree(out)
    if out.exists() and any(out.iterdir()):
        if not marker.is_file():
            raise DftagError("output folder exists and is not a benchmark run (use --force to replace it)", out)
        if read_json(marker) != asdict(config):
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
    pairs = read_pairs(data / "pairs.csv", data)
    swaps = swap_groups(pairs)

    tic = time.perf_counter()
    if not (dataset / "annotations.json").is_file():
        _step("autolabel")
        report = autolabel_pairs(pairs, dataset, every=config.every, max_side=MAX_SIDE,
                                 progress=sys.stderr.isatty())
        print("\n".join(report.lines()))
        report.warnings.print()
    save_coco(regroup_by_identity(load_dataset(dataset).coco, swaps), dataset / "annotations.json")
    _step("split")
    print(write_splits(dataset, VAL_FRACTION, TEST_FRACTION, config.seed)[0].table())
    groups = split_groups(dataset)
    seconds["autolabel+split"] = time.perf_counter() - tic

    tic = time.perf_counter()
    seen = set(groups["train"]) | set(groups["val"])
    if config.run:
        run_groups = run_training_groups(run_dir, swaps)
        leaked = sorted(run_groups & set(groups["test"]))
        if leaked:
            raise DftagError(f"the run was trained or validated on test identities: {', '.join(leaked)}", run_dir)
        seen |= run_groups
    else:
        _step("train")
        settings = {"data": str(dataset), "epochs": config.epochs, "image_size": config.image_size,
                    "batch_size": config.batch_size, "seed": config.seed, "self_blend": config.self_blend}
        resume = (run_dir / LAST_FILE).is_file()
        train(resume_config(run_dir, {**settings, "arch": ARCH}) if resume
              else TrainConfig.for_model(ARCH, out=str(run_dir), **settings), resume=resume)
    model = run_dir / BEST_FILE
    seconds["train"] = time.perf_counter() - tic

    tic = time.perf_counter()
    _step("evaluate boxes")
    box_metrics = write_model_report(out / "box_report", model, dataset, "test", overwrite=True)
    seconds["evaluate"] = time.perf_counter() - tic

    tic = time.perf_counter()
    _step("score and evaluate videos")
    videos, excluded = held_out(candidate_videos(data, pairs, read_manifest(data / "manifest.csv")), seen)
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
    scored = score_to_csv(paths, out / "scores.csv", functools.partial(load_detector, model),
                          ScoreSettings(frames=config.score_frames), names=[v.name for v in videos])
    if scored.errors:
        name, error = next(iter(scored.errors.items()))
        raise DftagError(f"{len(scored.errors)} videos could not be scored (first, {name}: {error})")
    video_metrics = write_video_report(out / "video_report", scored.scores, out / "video_labels.csv",
                                       overwrite=True)
    seconds["videos"] = time.perf_counter() - tic

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
                   "no_face_found": no_face_found(scored.results)},
        "scored": [{"name": v.name, "label": v.label, "identity": v.identity, "source": v.source}
                   for v in videos],
        "not_scored_identity_seen": sorted(v.name for v in excluded),
        "references": {k: {"value": v, "what": what} for k, (v, what) in REFERENCES.items()},
        "outputs": {"dataset": str(dataset), "model": str(model), "box_report": str(out / "box_report"),
                    "scores": str(scored.scores), "video_report": str(out / "video_report")},
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
