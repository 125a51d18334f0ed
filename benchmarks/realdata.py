"""Benchmark: dftag's whole job on the public deepfake clips in ``../shared/realdata``, read in place.

Identity-split mode (the default), each step the library call behind the ``dftag`` command of that name:

1. ``autolabel`` the pairs of ``DATA/pairs.csv`` and, as real faces, the REAL clips no pair uses (every K-th
   frame, stored at up to 1280 px; boxes are MTCNN's whole-face boxes when its weights are fetched, and a
   change on no MTCNN face is left unboxed unless ``--grow-faceless``) into ``OUT/dataset``;
2. regroup the dataset by *identity* (see :func:`identity_group`: DeepFaceLive celebrity folders, MEAD and DFD
   speakers, both ids of a FaceForensics++ swap) and ``split`` it by group (train/val/test);
3. ``train`` the ssdlite-mnv2 SSD on train, validating on val: the **single-stage** model; then, on the same
   SSD, one crop classifier per fake source of ``--fakes`` (``both``: dataset pairs + self-blended images, the
   default; ``pairs`` only and ``sbi`` only to compare them): the **two-stage** models. Everything is trained
   on train and chosen on val, with settings fixed before the run;
4. ``evaluate`` each model's boxes on the test split (per-class AP50, mAP50, COCO mAP) into ``OUT/box_report``;
5. ``calibrate`` every model on the **val images**: the temperature of the per-face ``p_fake`` and the face
   threshold (where face detection's F1 peaks), into ``calibrated.pt`` beside each checkpoint;
6. ``score`` the labelled videos of the val identities and the held-out videos (identity in neither train nor
   val: both sides of the test split's pairs, side-by-side halves cut into ``OUT/videos``, REAL clips no pair
   uses, FAKE clips without an original; ``REAL?`` files left out) with each calibrated model; on the **val**
   videos pick the video rule (median or the DFDC winner's confident strategy) and fit its temperature
   (:mod:`dftag.pipeline.video_calibration`), written into ``model.pt`` beside it (``OUT/model.pt``: the
   default model, what ``dftag score`` should be given); report on the **held-out** videos: ROC AUC with a
   bootstrap 95 % interval, log loss, videos without a face, and per source family (descriptive: a few videos
   each) the mean score of fakes and reals and their AUC;
7. robustness: the default model on the held-out videos re-encoded at H.264 CRF 32 and at half resolution.

Leave-one-source-out mode (``--mode loso``, longer): for each source family of :data:`FAMILIES` train the
default two-stage model without it and score all its videos (rule and temperature from the other families'
val videos): video ROC AUC per family with a bootstrap 95 % interval, log loss, and the means.

Scores and labels match by name: a file name that several videos share (FF++ methods, Wav2Lip outputs) is
prefixed with the fewest parent folders that tell them apart (``Deepfakes~c40~videos~183_253.mp4``). Prints one
table and writes ``OUT/summary.json``. Re-running with the same settings reuses the dataset and resumes or
reuses the training runs (leave-one-source-out also keeps the families its ``summary.json`` already reports);
``--force`` starts over. Usage::

    python benchmarks/realdata.py --data ../shared/realdata --out runs/realdata [--mode identity|loso]
        [--epochs N] [--classifier-epochs N] [--every K] [--fakes both pairs sbi] [--seed S] [--force]
        [--families FF++ DeepFaceLive lip-sync DFDC] [--workers W]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import functools
import json
import math
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

import numpy as np

from dftag.annotations.autolabel import FaceFinder, autolabel_pairs
from dftag.annotations.dataset import CLASS_NAMES, SPLITS, load_dataset, save_coco
from dftag.annotations.pair_list import Pair, read_pairs
from dftag.annotations.splits import image_group, write_split_files, write_splits
from dftag.annotations.video import ffmpeg_exe
from dftag.core.atomic import atomic_dir, atomic_path, write_json, write_text
from dftag.core.errors import DftagError
from dftag.core.io import read_json
from dftag.core.outputs import check_outputs, into
from dftag.core.thresholds import FAKE_DECISION_THRESHOLD
from dftag.detector.checkpoint import save_calibrated
from dftag.detector.device import resolve_device
from dftag.detector.export import load_detector
from dftag.detector.face_finders import mtcnn_face_finder
from dftag.detector.inference import Detector
from dftag.eval.fit_calibration import fit_calibration
from dftag.eval.model_eval import write_model_report
from dftag.eval.report import write_video_report
from dftag.eval.video_metrics import bootstrap_interval, log_loss, roc_auc, write_video_scores
from dftag.pipeline.aggregate import NO_FACE
from dftag.pipeline.score_csv import score_to_csv
from dftag.pipeline.scorer import ScoreSettings
from dftag.pipeline.video_calibration import VideoCalibration, pick_video_rule, scores_by_rule
from dftag.training.classifier_train import ClassifierTrainer
from dftag.training.config import ClassifierConfig, TrainConfig
from dftag.training.crops import CROP_AUGMENTS, FAKE_SOURCES
from dftag.training.run_folder import BEST_FILE, CLASSIFIER_LAST_FILE, LAST_FILE
from dftag.training.train import resume_config, train

ARCH = "ssdlite-mnv2"  # the SSD of every model
MODES = ("identity", "loso")
VAL_FRACTION, TEST_FRACTION = 0.2, 0.2
MIN_FACE = 80  # pixels: the smallest face MTCNN looks for when autolabelling
# Source families for leave-one-source-out, by markers in a video's path.
FAMILIES = {
    "FF++": ("ffpp/", "FaceForensics"),
    "DeepFaceLive": ("DeepFaceLive",),
    "lip-sync": ("HyperLips", "lipsync-assignment", "wav2lip"),
    "DFDC": ("dfdc/", "DeepFake-Detect/train_sample_videos", "notebook/samples"),
}
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
HALF_CROPS = {"left_half": "crop=iw/2:ih:0:0", "right_half": "crop=iw/2:ih:iw/2:0"}
CALIBRATED_FILE = "calibrated.pt"  # a trained model with its face temperature and threshold from val images
FINAL_FILE = "model.pt"  # ... and the video rule and temperature from val videos: what `dftag score` should use
WORKERS = TrainConfig.workers  # data-loading processes of each training stage unless --workers says otherwise
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
    """What decides a benchmark run, fixed before it starts; saved as ``OUT/benchmark.json`` so a re-run can
    tell whether to reuse. The defaults are the CPU configuration (2 cores)."""

    data: str
    mode: str = MODES[0]
    every: int = 25  # since stop 20 (50 before): twice the frames, lower val video log loss (docs/realdata.md)
    seed: int = 0
    epochs: int = 4
    image_size: int = 256
    batch_size: int = 16
    classifier_epochs: int = 6
    crop_size: int = 224
    lower_face: float = ClassifierConfig().lower_face  # share of self-blends over the lower face only
    crop_augment: str = ClassifierConfig().crop_augment  # augmentation of the crop pairs (CROP_AUGMENTS)
    sam_rho: float = ClassifierConfig().sam_rho  # classifier trained sharpness-aware at this radius (0: AdamW)
    flip_average: bool = ClassifierConfig().flip_average  # classifier averages each crop with its mirror image
    fakes: tuple[str, ...] = ("both",)  # the first is the default model; ("both", "pairs", "sbi") compares them
    max_side: int | None = 1280  # stored frames: sources up to 1280 px keep every pixel, 1080p ones 2/3
    grow_faceless: bool = False  # autolabel boxes changed regions on no MTCNN face too (before stop 18)
    split_from: str | None = None  # an earlier run's summary.json whose identity split to reuse
    score_frames: int = 16
    score_reference_only: bool = True  # score decodes reference frames only (ScoreSettings.reference_only)
    robustness: bool = True


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


def earlier_split(summary: Path) -> dict[str, str]:
    """The split of each identity group in an earlier run (``summary``: its ``summary.json``)."""
    named = read_json(summary)
    try:
        return {str(group): split for split in SPLITS for group in named["groups"][split]}
    except (KeyError, TypeError) as err:
        raise DftagError(f"not a benchmark summary with the groups of each split (missing {err})", summary) from None


def reuse_split(dataset: Path, split_of: Mapping[str, str]) -> str:
    """Split ``dataset`` by an earlier run's identity groups (:func:`earlier_split`), so that two runs on
    differently labelled datasets are scored on the same videos; a group that run did not have goes to test
    (held out: in neither train nor val, so its videos are scored as held out anyway). Returns the images per
    split, as a line."""
    loaded = load_dataset(dataset)
    ids = {s: [img["id"] for img in loaded.images if split_of.get(image_group(img), "test") == s] for s in SPLITS}
    write_split_files(loaded, ids)
    return "split of an earlier run: " + ", ".join(f"{s} {len(ids[s])} images" for s in SPLITS)


def split_counts(dataset: Path, split: str) -> dict[str, int]:
    """Images and boxes per class in one split."""
    ds = load_dataset(dataset, split)
    boxes = Counter(CLASS_NAMES[a["category_id"]] for a in ds.annotations)
    return {"images": len(ds.images), **{f"{name}_boxes": boxes[name] for name in CLASS_NAMES.values()}}


def family_of(path: str | Path) -> str:
    """The source family of a video or frame (:data:`FAMILIES`, else ``"other"``: real clips that belong to
    no family and always stay in training), from its path."""
    text = str(path)
    for family, markers in FAMILIES.items():
        if any(marker in text for marker in markers):
            return family
    return "other"


def reencode(src: Path, dst: Path, *, crf: int | None = None, half: bool = False) -> None:
    """``src`` re-encoded as social media deliver it: H.264 at ``crf`` and/or at half resolution, atomically."""
    vf = ["-vf", "scale=trunc(iw/4)*2:trunc(ih/4)*2"] if half else []
    with atomic_path(dst, suffix=".mp4") as tmp:
        proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(src), *vf, "-an",
                               "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf or 23), "-pix_fmt",
                               "yuv420p", str(tmp)], capture_output=True, text=True)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or ["ffmpeg failed"]
            raise DftagError(f"cannot re-encode: {lines[-1]}", src)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) or value < 0 else f"{value:.3f}"


def _interval(values: Sequence[float] | None) -> str:
    return f"[{values[0]:.2f}, {values[1]:.2f}]" if values else ""


def format_table(summary: dict[str, Any]) -> str:
    """The tables the benchmark prints: per model, box metrics on the test groups and video metrics on the
    held-out videos (rule and temperature chosen on the val videos), robustness, reference points."""
    cfg, boxes = summary["config"], summary["test_split"]
    lines = [f"dftag real-data benchmark, {summary['date']}: SSD {ARCH} {cfg['epochs']} epochs at "
             f"{cfg['image_size']} px, crop classifier {cfg['classifier_epochs']} epochs at {cfg['crop_size']} "
             f"px (lower-face self-blends {cfg.get('lower_face', 0):.2f}, augment "
             f"{cfg.get('crop_augment', 'jitter')}, SAM rho {cfg.get('sam_rho', 0):g}, flip average "
             f"{'on' if cfg.get('flip_average') else 'off'}), 1 frame in {cfg['every']}, "
             f"seed {cfg['seed']}, {summary['seconds']:.0f} s",
             f"boxes: test split, {boxes['images']} images, {boxes['real_boxes']} real + {boxes['fake_boxes']} "
             f"fake boxes, {len(summary['groups']['test'])} identity groups; videos: "
             f"{summary['videos']['test']} held out, {summary['videos']['val']} val (rule + temperature)",
             f"  {'model':<22}{'AP50 real':>10}{'AP50 fake':>10}{'mAP50':>8}{'AUC':>8}{'95% CI':>14}"
             f"{'log loss':>10}{'no face':>9}  rule, T; face threshold"]
    for name, model in summary["models"].items():
        boxes = (f"  {name:<22}{_fmt(model['boxes']['AP50']['real']):>10}{_fmt(model['boxes']['AP50']['fake']):>10}"
                 f"{_fmt(model['boxes']['mAP50']):>8}")
        video, faces = model.get("videos"), model.get("face_calibration")
        threshold = f"; {faces['face_threshold']['threshold']:.2f}" if faces else ""
        lines.append(boxes + (f"{_fmt(video['roc_auc']):>8}{_interval(video['roc_auc_95']):>14}"
                              f"{_fmt(video['log_loss']):>10}{video['no_face_found']:>9}  {video['rule']}, "
                              f"{video['temperature']:.2f}{threshold}" if video else "  (boxes only)"))
        if model.get("videos_by_family"):
            lines.append("    by family: " + "; ".join(
                f"{family} {row['n_fake']}+{row['n_real']} AUC {_fmt(row['roc_auc'])} (fake "
                f"{_fmt(row['mean_fake'])}, real {_fmt(row['mean_real'])})"
                for family, row in model["videos_by_family"].items()))
    for name, row in summary.get("robustness", {}).items():
        lines.append(f"  {name:<22}{'':>10}{'':>10}{'':>8}{_fmt(row['roc_auc']):>8}"
                     f"{_interval(row['roc_auc_95']):>14}{_fmt(row['log_loss']):>10}{row['no_face_found']:>9}")
    lines.append("  references: " + "; ".join(f"{k} {v:.3f} ({what})" for k, (v, what) in REFERENCES.items()))
    return "\n".join(lines)


def format_loso_table(summary: dict[str, Any]) -> str:
    """The leave-one-source-out table: per family, video AUC with its bootstrap interval and log loss."""
    lines = [f"dftag real-data benchmark, leave one source out, {summary['date']}: {summary['seconds']:.0f} s",
             f"  {'held-out family':<16}{'videos':>7}{'AUC':>8}{'95% CI':>14}{'log loss':>10}{'no face':>9}"]
    for family, row in summary["families"].items():
        lines.append(f"  {family:<16}{row['n_videos']:>7}{_fmt(row['roc_auc']):>8}{_interval(row['roc_auc_95']):>14}"
                     f"{_fmt(row['log_loss']):>10}{row['no_face_found']:>9}")
    lines.append(f"  {'mean':<16}{'':>7}{_fmt(summary['mean_roc_auc']):>8}{'':>14}{_fmt(summary['mean_log_loss']):>10}")
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
        if read_json(marker) != json.loads(json.dumps(asdict(config))):
            raise DftagError("holds a benchmark run with other settings (use --force to replace it, or another "
                             "--out)", marker)
    write_json(marker, asdict(config), indent=2)


def face_finder() -> FaceFinder | None:
    """MTCNN whole-face boxes for autolabel when its weights are fetched, else ``None`` (difference boxes).
    Faces under :data:`MIN_FACE` px are not looked for: the clips' faces are larger, and MTCNN's image pyramid
    costs three times less from there."""
    try:
        return mtcnn_face_finder(min_face_size=MIN_FACE)
    except DftagError as err:
        print(f"warning: {err}; autolabel grows the changed regions by face proportions", file=sys.stderr)
        return None


def real_clips(data: Path, pairs: Sequence[Pair]) -> list[Path]:
    """The REAL video files of ``manifest.csv`` that no pair uses (talking faces, DFD actors, inputs of other
    tools): real faces for training, and the source of self-blended fakes."""
    return [v.path for v in candidate_videos(data, pairs, read_manifest(data / "manifest.csv"))
            if v.source == "unused real clip"]


def build_dataset(config: BenchConfig, data: Path, pairs: Sequence[Pair], dataset: Path) -> None:
    """Autolabel the pairs and the faces the face finder sees in the real clips (every ``config.every``-th
    frame, at most ``config.max_side`` px) into ``dataset``, unless done."""
    if (dataset / "annotations.json").is_file():
        return
    _step("autolabel")
    report = autolabel_pairs(pairs, dataset, every=config.every, max_side=config.max_side, face_finder=face_finder(),
                             real_videos=real_clips(data, pairs), progress=sys.stderr.isatty(),
                             grow_faceless=config.grow_faceless)
    print("\n".join(report.lines()))
    report.warnings.print()


def default_model(config: BenchConfig) -> str:
    """The model the robustness rows, the video report and leave-one-source-out are about: the two-stage
    model of the first fake source."""
    return f"two-stage {config.fakes[0]}"


def train_models(config: BenchConfig, dataset: Path, run_dir: Path, workers: int = WORKERS) -> dict[str, Path]:
    """The SSD (single-stage), then one crop classifier per ``config.fakes`` on it (two-stage), each loading its
    data with ``workers`` processes (speed only: every augmentation is a function of seed, epoch and sample);
    resumes or reuses what ``run_dir`` holds. Returns the checkpoint of each model by name."""
    ssd_dir = run_dir / "ssd"
    settings = {"data": str(dataset), "epochs": config.epochs, "image_size": config.image_size,
                "batch_size": config.batch_size, "seed": config.seed, "workers": workers}
    resume = (ssd_dir / LAST_FILE).is_file()
    _step("train the SSD")
    train(resume_config(ssd_dir, settings) if resume else
          TrainConfig.for_model(ARCH, out=str(ssd_dir), **settings), resume=resume)
    models = {"single-stage": ssd_dir / BEST_FILE}
    for fakes in config.fakes:
        stage_dir = run_dir / f"two-stage-{fakes}"
        stage_dir.mkdir(parents=True, exist_ok=True)
        for name in (BEST_FILE, LAST_FILE):  # the classifier stage adds itself to the SSD's checkpoints
            if not (stage_dir / CLASSIFIER_LAST_FILE).is_file():
                shutil.copyfile(ssd_dir / name, stage_dir / name)
        _step(f"train the crop classifier on {fakes}")
        stage_config = ClassifierConfig(epochs=config.classifier_epochs, crop_size=config.crop_size,
                                        fake_source=fakes, lower_face=config.lower_face,
                                        crop_augment=config.crop_augment, sam_rho=config.sam_rho,
                                        flip_average=config.flip_average)
        stage = ClassifierTrainer(stage_config, str(dataset), stage_dir, seed=config.seed, workers=workers,
                                  device=resolve_device("auto"))
        stage.resume()
        stage.run()
        models[f"two-stage {fakes}"] = stage_dir / BEST_FILE
    return models


def scored_paths(videos: Sequence[Video], out: Path) -> list[Path]:
    """The files to score: the video itself, or its side-by-side half cut into ``out/videos``."""
    paths = []
    for video in videos:
        if video.half:
            cut = out / "videos" / video.name
            if not cut.is_file():
                cut_half(video, cut)
            paths.append(cut)
        else:
            paths.append(video.path)
    return paths


def score_models(config: BenchConfig, models: Mapping[str, Path], videos: Sequence[Video], paths: Sequence[Path],
                 out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Each model's per-video details (by name) on ``videos``, from ``dftag score``'s library call; a video
    that fails is an error."""
    details = {}
    for name, model in models.items():
        _step(f"score {len(videos)} videos with {name}")
        settings = ScoreSettings(frames=config.score_frames, reference_only=config.score_reference_only)
        scored = score_to_csv(paths, out / "scores" / f"{name.replace(' ', '-')}.csv",
                              functools.partial(load_detector, model), settings, names=[v.name for v in videos])
        if scored.errors:
            first, error = next(iter(scored.errors.items()))
            raise DftagError(f"{len(scored.errors)} videos could not be scored (first, {first}: {error})")
        details[name] = scored.results
    return details


def video_metrics_of(calibration: VideoCalibration, details: Mapping[str, dict[str, Any]],
                     videos: Sequence[Video], seed: int) -> dict[str, Any]:
    """Calibrated scores of ``videos`` under the rule chosen on val: ROC AUC with its bootstrap 95 % interval,
    log loss, accuracy at 0.5 and the videos without a face."""
    labels = np.array([int(v.label == "FAKE") for v in videos])
    scores = np.array([calibration(details[v.name]["scores_by_rule"][calibration.rule]) for v in videos])
    auc = roc_auc(labels, scores)
    interval = bootstrap_interval(labels, scores, roc_auc, seed=seed)
    return {"n_videos": len(videos), "n_fake": int(labels.sum()), "n_real": int(len(labels) - labels.sum()),
            "roc_auc": auc, "roc_auc_95": list(interval) if interval else None,
            "log_loss": log_loss(labels, scores),
            "accuracy": float(np.mean((scores >= FAKE_DECISION_THRESHOLD) == labels)) if len(labels) else None,
            "no_face_found": no_face_found({v.name: details[v.name] for v in videos}),
            "rule": calibration.rule, "temperature": calibration.temperature,
            "scores": {v.name: round(float(p), 6) for v, p in zip(videos, scores)}}


def family_metrics(scores: Mapping[str, float], videos: Sequence[Video]) -> dict[str, dict[str, Any]]:
    """Descriptive, per source family of ``videos`` (:func:`family_of`; sorted by name): the counts, the mean
    calibrated score of the fakes and of the reals, and the ROC AUC where the family has both classes (else
    ``None``). ``scores`` are the calibrated video scores by video name."""
    rows = {}
    for family in sorted({family_of(v.path) for v in videos}):
        members = [v for v in videos if family_of(v.path) == family]
        labels = np.array([int(v.label == "FAKE") for v in members])
        values = np.array([scores[v.name] for v in members])
        rows[family] = {"n_fake": int(labels.sum()), "n_real": int(len(labels) - labels.sum()),
                        "mean_fake": float(values[labels == 1].mean()) if labels.any() else None,
                        "mean_real": float(values[labels == 0].mean()) if not labels.all() else None,
                        "roc_auc": roc_auc(labels, values)}
    return rows


def calibrate_on_val(details: Mapping[str, dict[str, Any]], val: Sequence[Video]) -> VideoCalibration:
    """The video rule with the lowest val log loss and its temperature (:func:`pick_video_rule`)."""
    return pick_video_rule(scores_by_rule({v.name: details[v.name] for v in val}),
                           {v.name: int(v.label == "FAKE") for v in val})


def calibrate_on_val_images(models: Mapping[str, Path], dataset: Path) -> tuple[dict[str, Path], dict[str, Any]]:
    """Each model's face temperature and face threshold fitted on the val images (``dftag calibrate --model
    --data``'s library call), written as ``calibrated.pt`` beside its checkpoint; returns the calibrated
    checkpoints and what was fitted, by model name."""
    val = load_dataset(dataset, "val")
    paths, fitted = {}, {}
    for name, model in models.items():
        _step(f"calibrate {name} on {len(val.images)} val images")
        fit = fit_calibration(Detector.load(model, device=resolve_device("auto")), val, progress=False)
        paths[name] = model.parent / CALIBRATED_FILE
        save_calibrated(model, paths[name], fit.temperature, face_threshold=fit.faces.threshold)
        fitted[name] = {"temperature": round(fit.temperature, 6), "matched_faces": len(fit.labels),
                        "face_threshold": fit.faces.to_json()}
        print(f"T={fit.temperature:.3f} on {len(fit.labels)} matched faces; face threshold "
              f"{fit.faces.threshold:.3f} (precision {fit.faces.precision:.3f}, recall {fit.faces.recall:.3f})")
    return paths, fitted


def save_video_calibrated(model: Path, calibration: VideoCalibration, dst: Path) -> None:
    """The final model: ``model`` with the video rule and temperature chosen on val (``dftag calibrate --model
    --scores``'s effect), so that ``dftag score --model dst`` gives the calibrated video scores reported here."""
    save_calibrated(model, dst, video_rule=calibration.rule, video_temperature=calibration.temperature)


def robustness(config: BenchConfig, model: Path, calibration: VideoCalibration, videos: Sequence[Video],
               paths: Sequence[Path], out: Path) -> dict[str, dict[str, Any]]:
    """The default model's calibrated video metrics after re-encoding the test videos at CRF 32 and at half
    resolution."""
    rows = {}
    for name, options in (("H.264 CRF 32", {"crf": 32}), ("half resolution", {"half": True})):
        folder = out / "robustness" / name.replace(" ", "_").replace(".", "")
        copies = []
        for video, path in zip(videos, paths):
            copy = folder / f"{Path(video.name).stem}.mp4"
            if not copy.is_file():
                reencode(path, copy, **options)
            copies.append(copy)
        details = score_models(config, {f"{default_model(config)} ({name})": model}, videos, copies, folder)
        rows[name] = video_metrics_of(calibration, next(iter(details.values())), videos, config.seed)
    return rows


def video_sets(data: Path, pairs: Sequence[Pair], groups: Mapping[str, Sequence[str]]
               ) -> tuple[list[Video], list[Video]]:
    """``(val videos, held-out test videos)``: the labelled videos of the val identity groups, and those of
    identities the model never saw (in neither train nor val)."""
    candidates = candidate_videos(data, pairs, read_manifest(data / "manifest.csv"))
    test, _ = held_out(candidates, set(groups["train"]) | set(groups["val"]))
    val = [v for v in candidates if v.identity in set(groups["val"])]
    return val, test


def run_benchmark(config: BenchConfig, out: Path, force: bool = False, workers: int = WORKERS) -> dict[str, Any]:
    """The identity-split benchmark: the steps of the module docstring, training with ``workers`` data-loading
    processes; returns (and writes to ``out/summary.json``) the results."""
    data = _check_data(config, out)
    split_of = None if config.split_from is None else earlier_split(Path(config.split_from))
    _prepare_out(out, config, force)
    started, load_before = time.perf_counter(), os.getloadavg()
    seconds: dict[str, float] = {}
    dataset, run_dir = out / "dataset", out / "run"
    pairs = read_pairs(data / "pairs.csv", data)

    tic = time.perf_counter()
    build_dataset(config, data, pairs, dataset)
    save_coco(regroup_by_identity(load_dataset(dataset).coco, swap_groups(pairs)), dataset / "annotations.json")
    _step("split")
    if split_of is None:
        print(write_splits(dataset, VAL_FRACTION, TEST_FRACTION, config.seed)[0].table())
    else:
        print(reuse_split(dataset, split_of))
    groups = split_groups(dataset)
    seconds["dataset"] = time.perf_counter() - tic

    tic = time.perf_counter()
    models = train_models(config, dataset, run_dir, workers)
    seconds["train"] = time.perf_counter() - tic

    tic = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    for name, model in models.items():
        report_dir = out / "box_report" / name.replace(" ", "-")
        if not (report_dir / "metrics.json").is_file():  # a re-run with the same settings reuses the report
            _step(f"evaluate the boxes of {name}")
            write_model_report(report_dir, model, dataset, "test", overwrite=True)
        report = read_json(report_dir / "metrics.json")
        results[name] = {"boxes": {k: report[k] for k in ("AP50", "mAP50", "mAP")}}
    seconds["evaluate boxes"] = time.perf_counter() - tic

    tic = time.perf_counter()
    main_model = default_model(config)
    video_models, face_calibration = calibrate_on_val_images(models, dataset)
    seconds["calibrate on val images"] = time.perf_counter() - tic

    tic = time.perf_counter()
    val, test = video_sets(data, pairs, groups)
    videos = [*val, *test]
    details = score_models(config, video_models, videos, scored_paths(videos, out), out)
    calibrations = {}
    for name in video_models:
        calibrations[name] = calibrate_on_val(details[name], val)
        save_video_calibrated(video_models[name], calibrations[name], video_models[name].parent / FINAL_FILE)
        results[name]["videos"] = video_metrics_of(calibrations[name], details[name], test, config.seed)
        results[name]["videos_by_family"] = family_metrics(results[name]["videos"]["scores"], test)
        results[name]["face_calibration"] = face_calibration[name]
        results[name]["video_calibration"] = calibrations[name].to_json()
    shutil.copyfile(video_models[main_model].parent / FINAL_FILE, out / FINAL_FILE)
    write_text(out / "video_labels.csv", labels_csv(test))
    write_video_scores(out / "test_scores.csv", results[main_model]["videos"]["scores"])
    write_video_report(out / "video_report", out / "test_scores.csv", out / "video_labels.csv", overwrite=True)
    seconds["score videos"] = time.perf_counter() - tic

    tic = time.perf_counter()
    robust = {}
    if config.robustness:
        robust = robustness(config, video_models[main_model], calibrations[main_model], test,
                            scored_paths(test, out), out)
    seconds["robustness"] = time.perf_counter() - tic

    summary = {
        "mode": "identity split",
        "default_model": main_model,
        "model_file": str(out / FINAL_FILE),
        "date": datetime.date.today().isoformat(),
        "seconds": round(time.perf_counter() - started, 1),
        "step_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "load_average": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
        "config": asdict(config),
        "groups": groups,
        "splits": {s: split_counts(dataset, s) for s in SPLITS},
        "test_split": split_counts(dataset, "test"),
        "videos": {"val": len(val), "test": len(test)},
        "models": results,
        "robustness": robust,
        "scored": [{"name": v.name, "label": v.label, "identity": v.identity, "family": family_of(v.path),
                    "source": v.source} for v in test],
        "references": {k: {"value": v, "what": what} for k, (v, what) in REFERENCES.items()},
    }
    write_json(out / "summary.json", summary, indent=2)
    return summary


def loso_split(dataset: Path, family: str, seed: int) -> None:
    """Write train/val (identity groups of the other families) and an empty test split, so training never
    sees ``family``."""
    coco = load_dataset(dataset).coco
    keep = [img for img in coco["images"] if family_of(img["video"] or "") != family]
    ids = {img["id"] for img in keep}
    rest = {**coco, "images": keep, "annotations": [a for a in coco["annotations"] if a["image_id"] in ids]}
    fold = dataset.parent / f"dataset-without-{family}"
    if not (fold / "train.json").is_file():
        with atomic_dir(fold, overwrite=True) as tmp:
            (tmp / "images").symlink_to((dataset / "images").resolve(), target_is_directory=True)
            save_coco(rest, tmp / "annotations.json")
        write_splits(fold, VAL_FRACTION, 0.0, seed)


def run_leave_one_source_out(config: BenchConfig, out: Path, force: bool = False,
                             families_to_run: Sequence[str] = tuple(FAMILIES), workers: int = WORKERS) -> dict[str, Any]:
    """For each family of ``families_to_run`` (names of :data:`FAMILIES`, all by default): train the default
    model without it (SSD, then the crop classifier on ``config.fakes[0]``), choose the video rule and
    temperature on the val videos of the other families, and score every labelled video of the held-out family.
    Reported per family: video ROC AUC with a bootstrap 95 % interval and log loss; and their means over the
    families done, these and those an earlier run with the same ``config`` reported."""
    unknown = sorted(set(families_to_run) - set(FAMILIES))
    if unknown:
        raise DftagError(f"unknown source families {unknown} (known: {', '.join(FAMILIES)})", out)
    data = _check_data(config, out)
    _prepare_out(out, config, force)
    started = time.perf_counter()
    dataset = out / "dataset"
    pairs = read_pairs(data / "pairs.csv", data)
    build_dataset(config, data, pairs, dataset)
    save_coco(regroup_by_identity(load_dataset(dataset).coco, swap_groups(pairs)), dataset / "annotations.json")
    candidates = candidate_videos(data, pairs, read_manifest(data / "manifest.csv"))
    families, seconds_before = loso_families_done(out, config)
    summary = loso_summary(config, families, seconds_before)
    for family in FAMILIES:
        if family in families:
            print(f"{family}: kept from {out / 'summary.json'}")
            continue
        if family not in families_to_run:
            continue
        tic = time.perf_counter()
        loso_split(dataset, family, config.seed)
        fold = dataset.parent / f"dataset-without-{family}"
        groups = split_groups(fold)
        fold_config = dataclasses.replace(config, fakes=config.fakes[:1])
        name = default_model(config)
        trained = {name: train_models(fold_config, fold, out / "runs" / family, workers)[name]}
        model, _ = calibrate_on_val_images(trained, fold)
        held = [v for v in candidates if family_of(v.path) == family]
        val = [v for v in candidates if v.identity in set(groups["val"]) and family_of(v.path) != family]
        videos = [*val, *held]
        details = score_models(config, model, videos, scored_paths(videos, out), out / "scores" / family)
        calibration = calibrate_on_val(details[name], val)
        families[family] = {**video_metrics_of(calibration, details[name], held, config.seed),
                            "seconds": round(time.perf_counter() - tic, 1)}
        summary = loso_summary(config, families, seconds_before + time.perf_counter() - started)
        write_json(out / "summary.json", summary, indent=2)  # after every family: a long run reports as it goes
    return summary


def loso_families_done(out: Path, config: BenchConfig) -> tuple[dict[str, dict[str, Any]], float]:
    """The families an earlier leave-one-source-out run in ``out`` finished with the same ``config``, and the
    seconds it spent; none and 0 when ``out`` holds no such summary."""
    path = out / "summary.json"
    if not path.is_file():
        return {}, 0.0
    done = read_json(path)
    if done.get("config") != json.loads(json.dumps(asdict(config))):
        return {}, 0.0
    return {name: row for name, row in done["families"].items() if name in FAMILIES}, float(done["seconds"])


def loso_summary(config: BenchConfig, families: Mapping[str, dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The leave-one-source-out summary of the ``families`` done so far, with the means over them."""
    aucs = [row["roc_auc"] for row in families.values() if row["roc_auc"] is not None]
    losses = [row["log_loss"] for row in families.values()]
    return {"mode": "leave one source out", "date": datetime.date.today().isoformat(), "seconds": round(seconds, 1),
            "config": asdict(config), "families": dict(families), "families_done": len(families),
            "families_total": len(FAMILIES), "mean_roc_auc": float(np.mean(aucs)) if aucs else None,
            "mean_log_loss": float(np.mean(losses)) if losses else None}


def _check_data(config: BenchConfig, out: Path) -> Path:
    """The realdata folder, after checking that it holds the lists and that ``out`` overlaps none of the run's
    inputs (the data, the ``split_from`` summary): ``--force`` empties ``out``."""
    data = Path(config.data)
    for name in ("pairs.csv", "manifest.csv"):
        if not (data / name).is_file():
            raise DftagError(f"not a realdata folder: {name} not found", data)
    check_outputs([into(out)], [data, config.split_from])
    return data


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = BenchConfig(data="")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the realdata folder (README.md, manifest.csv, pairs.csv)")
    p.add_argument("--out", required=True, help="benchmark output folder")
    p.add_argument("--mode", choices=MODES, default=MODES[0],
                   help="identity-disjoint split, or leave one source family out (longer)")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help=f"SSD epochs ({defaults.epochs})")
    p.add_argument("--image-size", type=int, default=defaults.image_size,
                   help=f"SSD input side, pixels ({defaults.image_size})")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"({defaults.batch_size})")
    p.add_argument("--classifier-epochs", type=int, default=defaults.classifier_epochs,
                   help=f"crop classifier epochs ({defaults.classifier_epochs})")
    p.add_argument("--crop-size", type=int, default=defaults.crop_size,
                   help=f"face crop side, pixels ({defaults.crop_size})")
    p.add_argument("--lower-face", type=float, default=defaults.lower_face,
                   help=f"share of self-blended fakes over the lower face only ({defaults.lower_face:.3g})")
    p.add_argument("--crop-augment", choices=CROP_AUGMENTS, default=defaults.crop_augment,
                   help=f"augmentation of the crop pairs ({defaults.crop_augment}; dfdc: the DFDC winner's)")
    p.add_argument("--sam-rho", type=float, default=defaults.sam_rho,
                   help=f"classifier trained with sharpness-aware minimisation of this radius ({defaults.sam_rho:g}: "
                        "AdamW alone)")
    p.add_argument("--flip-average", action=argparse.BooleanOptionalAction, default=defaults.flip_average,
                   help="the classifier's fake logit is the mean over each crop and its mirror image, in validation "
                        f"and scoring ({'on' if defaults.flip_average else 'off'})")
    p.add_argument("--fakes", nargs="+", choices=FAKE_SOURCES, default=list(defaults.fakes),
                   help=f"classifier fake sources, one model each; the first is the default ({' '.join(defaults.fakes)})")
    p.add_argument("--every", type=int, default=defaults.every,
                   help=f"autolabel every K-th frame ({defaults.every})")
    p.add_argument("--grow-faceless", action="store_true",
                   help="autolabel also boxes changed regions on no MTCNN face, grown by face proportions (as "
                        "before stop 18)")
    p.add_argument("--split-from", metavar="SUMMARY",
                   help="reuse the identity split of an earlier run (its summary.json) instead of splitting anew")
    p.add_argument("--frames", type=int, default=defaults.score_frames,
                   help=f"frames scored per video ({defaults.score_frames})")
    p.add_argument("--exact-frames", dest="reference_only", action="store_false",
                   help="score decodes every frame (exact sampled frames), not reference frames only")
    p.add_argument("--no-robustness", dest="robustness", action="store_false",
                   help="skip scoring the re-encoded (CRF 32, half resolution) test videos")
    p.add_argument("--seed", type=int, default=defaults.seed, help=f"split and training seed ({defaults.seed})")
    p.add_argument("--families", nargs="+", choices=tuple(FAMILIES), default=list(FAMILIES),
                   help="leave-one-source-out: the families to leave out in this run (all); the summary keeps "
                        "those an earlier run with the same settings reported")
    p.add_argument("--workers", type=int, default=WORKERS,
                   help=f"data-loading processes of each training stage ({WORKERS}; speed only, not a setting of "
                        "the run)")
    p.add_argument("--force", action="store_true", help="replace --out if it holds anything")
    args = p.parse_args(argv)
    for flag in ("workers", "sam_rho"):
        if getattr(args, flag) < 0:
            p.error(f"--{flag.replace('_', '-')} cannot be negative, got {getattr(args, flag):g}")
    if args.split_from and args.mode != MODES[0]:
        p.error("--split-from is for the identity split; leave-one-source-out splits by family")
    return args


def bench_config(args: argparse.Namespace) -> BenchConfig:
    """The run's :class:`BenchConfig` from the parsed flags."""
    return BenchConfig(data=str(Path(args.data).resolve()), mode=args.mode, every=args.every, seed=args.seed,
                       epochs=args.epochs, image_size=args.image_size, batch_size=args.batch_size,
                       classifier_epochs=args.classifier_epochs, crop_size=args.crop_size,
                       lower_face=args.lower_face, crop_augment=args.crop_augment, sam_rho=args.sam_rho,
                       flip_average=args.flip_average, fakes=tuple(args.fakes),
                       grow_faceless=args.grow_faceless,
                       split_from=str(Path(args.split_from).resolve()) if args.split_from else None,
                       score_frames=args.frames, score_reference_only=args.reference_only,
                       robustness=args.robustness)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = bench_config(args)
    try:
        if config.mode == MODES[0]:
            table = format_table(run_benchmark(config, Path(args.out), args.force, args.workers))
        else:
            table = format_loso_table(run_leave_one_source_out(config, Path(args.out), args.force,
                                                                args.families, args.workers))
    except DftagError as err:
        print(f"realdata benchmark: error: {err}", file=sys.stderr)
        return 1
    print("\n" + table)
    print(f"\nwrote {Path(args.out) / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
