"""Benchmark: how well ``dftag autolabel``'s boxes fit whole faces, per way of making them, side by side.

**Sample data** (``dftag.sample_data.generator.generate``: ``--videos`` clips per ``--seeds`` seed, 320 x 240, 30
frames; its ``ground_truth.json`` holds every face's whole-face box, forehead to chin and ear to ear). Every
fake/original pair of its ``metadata.json`` is autolabelled (every ``--every``-th frame) once per method:

* ``diff``: the box of the changed pixels (a face-swap pair's ``change`` set to ``"whole"``; autolabel before
  whole-face growth);
* ``diff+shape``: the changed region grown by the face proportions of
  :class:`~dftag.annotations.pair_diff.FaceShape` (no face finder: what autolabel does without MTCNN weights);
* ``mtcnn-raw``: MTCNN's own (tight) boxes as the face finder, not expanded;
* ``mtcnn``: MTCNN's boxes expanded to whole faces (:data:`~dftag.annotations.pair_diff.MTCNN_WHOLE_FACE`),
  the face finder ``dftag autolabel`` uses by default; unswapped faces boxed real;
* ``gt-finder``: the ground truth's own boxes as the face finder (an upper bound; checks the mixed-frame logic).

Printed per method: fake boxes and the median and quartiles of their IoU with the best ground-truth fake face;
recall at IoU 0.5 (a box of the same label) of the ground-truth faces on the stored frames: fake faces,
unswapped real faces in fake frames (mixed clips), real faces in original frames; precision at IoU 0.5 of
all boxes. The constants of FaceShape and MTCNN_WHOLE_FACE were measured on seed 0 (16 videos, every 2nd
frame): seed 0 is the development set they were fitted on, other seeds are the same generator not fitted on.
Nothing here is a test split.

**Real pairs** (``--data``, default ``../shared/realdata``; skipped when absent): a few face-swap and lip-sync
pairs of ``pairs.csv`` (:data:`REAL_PAIRS`), every ``--real-every``-th frame, longer side 640 px. No ground
truth: each fake box is compared with the MTCNN face (score >= 0.95) of the *original* frame it overlaps most,
raw and expanded to the whole face. For ``mtcnn`` that agreement is by construction (its boxes are those);
for ``diff`` and ``diff+shape`` it tells whether the sample-data proportions carry over to real swaps. Also
printed: the changed region's size relative to MTCNN's box per method family, next to the sample data's. And a
few real-only clips (:data:`REAL_CLIPS`) are labelled with :func:`dftag.annotations.autolabel.autolabel_real_videos`
(faces per frame). ``--sheet PNG`` draws some real frames with their boxes, to check by eye. Usage::

    python benchmarks/autolabel_boxes.py                          # seeds 0 and 1, 16 videos each, real pairs
    python benchmarks/autolabel_boxes.py --seeds 0 --videos 12 --data none
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from dftag.annotations.autolabel import (  # noqa: E402
    REAL_FACE_SCORE,
    FaceFinder,
    PairedFrames,
    autolabel_pairs,
    autolabel_real_videos,
)
from dftag.annotations.dataset import FAKE, REAL, load_dataset  # noqa: E402
from dftag.annotations.pair_diff import (  # noqa: E402
    MTCNN_WHOLE_FACE,
    BoxExpansion,
    FaceShape,
    change_regions,
)
from dftag.annotations.pair_list import Pair, read_pairs  # noqa: E402
from dftag.annotations.video import read_frames  # noqa: E402
from dftag.core.boxes import box_iou, xywh_to_xyxy  # noqa: E402
from dftag.detector.face_finders import mtcnn_face_finder  # noqa: E402
from dftag.detector.weights import MTCNN  # noqa: E402
from dftag.sample_data.generator import generate  # noqa: E402

MATCH_IOU = 0.5
REFERENCE_SCORE = 0.95
# Real pairs: (substring of the fake's path in pairs.csv, family). Face swaps of three kinds and two lip-syncs.
REAL_PAIRS = (
    ("Deepfakes/c23/videos/519_515", "FF++ Deepfakes"),
    ("Deepfakes/c40/videos/183_253", "FF++ Deepfakes"),
    ("Deepfakes/c40/videos/585_599", "FF++ Deepfakes"),
    ("FaceSwap/c23/videos/634_660", "FF++ FaceSwap"),
    ("FaceSwap/c40/videos/183_253", "FF++ FaceSwap"),
    ("FaceSwap/c40/videos/585_599", "FF++ FaceSwap"),
    ("Albica_Johns_0", "DeepFaceLive"),
    ("Tina_Shift_0", "DeepFaceLive"),
    ("Zahar_Lupin_1", "DeepFaceLive"),
    ("result/result_video1", "lip-sync"),
    ("result/result_video2", "lip-sync"),
)
REAL_CLIPS = (  # real-only talking-face clips (README "Added 2026-12-02")
    "Hangz-nju-cuhk+Talking-Face_PC-AVS/misc/Audio_Source/00015.mp4",
    "OpenTalker+SadTalker/examples/ref_video/WDA_KatieHill_000.mp4",
    "OpenTalker+video-retalking/examples/face/1.mp4",
    "ageitgey+face_recognition/examples/short_hamilton_clip.mp4",
    "timesler+facenet-pytorch/examples/video.mp4",
)


def cached(finder: FaceFinder) -> FaceFinder:
    """``finder`` answering each distinct image once (the methods share MTCNN's work)."""
    memo: dict[bytes, np.ndarray] = {}

    def find(images: Sequence[np.ndarray]) -> list[np.ndarray]:
        keys = [hashlib.blake2b(np.ascontiguousarray(im).data, digest_size=16).digest() + bytes(str(im.shape), "ascii")
                for im in images]
        todo = [i for i, k in enumerate(keys) if k not in memo]
        if todo:
            for i, found in zip(todo, finder([images[i] for i in todo])):
                memo[keys[i]] = found
        return [memo[k] for k in keys]

    return find


def expanded(finder: FaceFinder, expansion: BoxExpansion) -> FaceFinder:
    return lambda images: [expansion(f) for f in finder(images)]


def ground_truth_finder(root: Path, gt: dict, every: int) -> FaceFinder:
    """The ground truth's boxes as a face finder: each decoded frame of every sample video, by its pixels."""
    memo: dict[bytes, np.ndarray] = {}
    for name, video in gt.items():
        for frame in read_frames(root / "videos" / name, indices=range(0, video["frames"], every)):
            key = hashlib.blake2b(np.ascontiguousarray(frame.image).data, digest_size=16).digest()
            memo[key] = np.array([b["xyxy"] for b in video["boxes"][frame.index]], dtype=np.float64).reshape(-1, 4)
    empty = np.zeros((0, 4))
    return lambda images: [memo.get(hashlib.blake2b(np.ascontiguousarray(im).data, digest_size=16).digest(), empty)
                           for im in images]


def quartiles(values: Sequence[float]) -> str:
    if not len(values):
        return "        -"
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return f"{q2:.3f} [{q1:.2f}-{q3:.2f}]"


def ratio(hit: int, total: int) -> str:
    return f"{hit / total:.3f} ({hit}/{total})" if total else "-"


def boxes_of(ds, image: dict, category: int) -> np.ndarray:
    anns = [a for a in ds.annotations_by_image()[image["id"]] if a["category_id"] == category]
    return np.array([xywh_to_xyxy(a["bbox"]) for a in anns], dtype=np.float64).reshape(-1, 4)


def score_sample(dataset: Path, gt: dict) -> dict:
    """Fake-box IoUs, recalls and precision of an autolabelled sample-data dataset against ``gt``."""
    ds = load_dataset(dataset)
    by_image = ds.annotations_by_image()
    out = {"fake_iou": [], "recall": {"fake": [0, 0], "unswapped": [0, 0], "original": [0, 0]}, "precise": [0, 0],
           "images": len(ds.images)}
    for image in ds.images:
        faces = gt[image["video"]]["boxes"][image["frame_index"]]
        gt_boxes = np.array([f["xyxy"] for f in faces], dtype=np.float64).reshape(-1, 4)
        gt_cats = np.array([FAKE if f["label"] == "fake" else REAL for f in faces])
        anns = by_image[image["id"]]
        boxes = np.array([xywh_to_xyxy(a["bbox"]) for a in anns], dtype=np.float64).reshape(-1, 4)
        cats = np.array([a["category_id"] for a in anns])
        iou = box_iou(boxes, gt_boxes) if len(boxes) and len(gt_boxes) else np.zeros((len(boxes), len(gt_boxes)))
        for i in np.flatnonzero(cats == FAKE):
            fake_gt = gt_cats == FAKE
            out["fake_iou"].append(float(iou[i, fake_gt].max()) if fake_gt.any() else 0.0)
        same = cats[:, None] == gt_cats[None, :]
        matched = (iou >= MATCH_IOU) & same
        out["precise"][0] += int(matched.any(axis=1).sum())
        out["precise"][1] += len(boxes)
        for j, cat in enumerate(gt_cats):
            kind = "fake" if cat == FAKE else ("unswapped" if image["video_label"] == "fake" else "original")
            out["recall"][kind][0] += int(matched[:, j].any())
            out["recall"][kind][1] += 1
    return out


def as_changed_pixels(pairs: Sequence[Pair]) -> list[Pair]:
    """``pairs`` with face swaps boxed as their changed pixels (``change="whole"``), as before growth."""
    return [replace(p, change="whole") if p.change == "face" else p for p in pairs]


def sample_methods(mtcnn: FaceFinder | None, gt_finder: FaceFinder) -> dict[str, tuple]:
    """name -> (face finder, boxes of the changed pixels?, real_score)."""
    methods: dict[str, tuple] = {"diff": (None, True, REAL_FACE_SCORE), "diff+shape": (None, False, REAL_FACE_SCORE)}
    if mtcnn is not None:
        methods["mtcnn-raw"] = (mtcnn, False, REAL_FACE_SCORE)
        methods["mtcnn"] = (expanded(mtcnn, MTCNN_WHOLE_FACE), False, REAL_FACE_SCORE)
        methods["mtcnn@0.8"] = (expanded(mtcnn, MTCNN_WHOLE_FACE), False, 0.8)
    methods["gt-finder"] = (gt_finder, False, REAL_FACE_SCORE)
    return methods


def run_sample(seed: int, videos: int, every: int, work: Path, mtcnn: FaceFinder | None) -> None:
    root = work / f"sample-seed{seed}"
    tic = time.perf_counter()
    generate(root, videos=videos, seed=seed, force=True)
    gt = json.loads((root / "ground_truth.json").read_text())["videos"]
    pairs = read_pairs(root / "metadata.json", root / "videos")
    mixed = sum(1 for p in pairs if {t["label"] for t in gt[p.fake.given]["tracks"]} == {"real", "fake"})
    print(f"\nsample data, seed {seed}{' (development set: constants fitted here)' if seed == 0 else ''}: "
          f"{videos} videos, {len(pairs)} fake/original pairs ({mixed} mixed), every {every}th frame "
          f"(generated in {time.perf_counter() - tic:.0f} s)")
    print(f"{'method':<11} {'fake boxes':>10} {'IoU median [q1-q3]':>20}  {'recall fake':>17} "
          f"{'recall unswapped':>17} {'recall original':>17} {'precision':>18}  {'finder/grown/chg/ambig':>22}"
          f" {'s':>4}")
    for name, (finder, pixels, score) in sample_methods(mtcnn, ground_truth_finder(root, gt, every)).items():
        tic = time.perf_counter()
        report = autolabel_pairs(as_changed_pixels(pairs) if pixels else pairs, work / f"ds-{seed}-{name}",
                                 every=every, face_finder=finder, force=True, progress=False, real_score=score)
        s = score_sample(work / f"ds-{seed}-{name}", gt)
        r = s["recall"]
        how = (f"{report.fake_faces_found}/{report.fake_faces_grown}/{report.fake_faces_by_change}/"
               f"{report.ambiguous_faces}")
        print(f"{name:<11} {report.boxes['fake']:>10} {quartiles(s['fake_iou']):>20}  {ratio(*r['fake']):>17} "
              f"{ratio(*r['unswapped']):>17} {ratio(*r['original']):>17} {ratio(*s['precise']):>18}  {how:>22} "
              f"{time.perf_counter() - tic:>4.0f}")
    if mtcnn is not None:
        r = np.array(region_ratios(pairs, mtcnn, every, None)).reshape(-1, 2)
        print(f"changed region / MTCNN box of the original frame: width {quartiles(r[:, 0])}, height "
              f"{quartiles(r[:, 1])} ({len(r)} frames; compare the real pairs below)")


def region_ratios(pairs: Sequence[Pair], mtcnn: FaceFinder, every: int, max_side: int | None) -> list[tuple]:
    """(w, h) of each frame's largest changed region over the original frame's MTCNN box it overlaps most."""
    out = []
    for pair in pairs:
        for frames in PairedFrames(pair, every, max_side):
            regions = change_regions(frames.fake, frames.original)
            faces = mtcnn([frames.original])[0]
            faces = faces[faces[:, 4] >= REFERENCE_SCORE]
            if not regions or not len(faces):
                continue
            r = np.asarray(regions[0])
            b = faces[int(box_iou(r[None], faces[:, :4])[0].argmax()), :4]
            if box_iou(r[None], b[None])[0, 0] > 0:
                out.append(((r[2] - r[0]) / (b[2] - b[0]), (r[3] - r[1]) / (b[3] - b[1])))
    return out


def run_real(data: Path, every: int, work: Path, mtcnn: FaceFinder, sheet: Path | None) -> None:
    all_pairs = read_pairs(data / "pairs.csv", data)
    chosen: list[tuple[Pair, str]] = []
    for key, family in REAL_PAIRS:
        pair = next((p for p in all_pairs if key in p.fake.given and p.fake.path.is_file()), None)
        if pair is not None:
            chosen.append((pair, family))
    families = sorted({f for _, f in chosen}, key=[f for _, f in REAL_PAIRS].index)
    print(f"\nreal pairs ({data}): {len(chosen)} pairs, every {every}th frame, longer side 640 px; reference: the "
          f"MTCNN face (score >= {REFERENCE_SCORE}) of the original frame, raw / expanded to the whole face")
    methods = {"diff": (None, True), "diff+shape": (None, False), "mtcnn": (expanded(mtcnn, MTCNN_WHOLE_FACE), False)}
    print(f"{'method':<11} {'family':<15} {'fake boxes':>10} {'IoU vs MTCNN raw':>20} {'IoU vs whole-face':>20} "
          f"{'real boxes in fake frames':>26} {'finder/grown/chg/ambig':>22}")
    drawn = []
    for name, (finder, pixels) in methods.items():
        for family in families:
            pairs = [p for p, f in chosen if f == family]
            dataset = work / f"real-{name}-{family.replace(' ', '_').replace('+', '')}"
            try:
                report = autolabel_pairs(as_changed_pixels(pairs) if pixels else pairs, dataset, every=every,
                                         max_side=640, face_finder=finder, force=True, progress=False)
            except Exception as err:  # noqa: BLE001 - a benchmark row, not a crash
                print(f"{name:<11} {family:<15} {'-':>10}  ({err})")
                continue
            ds = load_dataset(dataset)
            by_key = {(img["video"], img["frame_index"]): img for img in ds.images}
            raw_iou, whole_iou, unswapped = [], [], 0
            for fake_img in (img for img in ds.images if img.get("original")):
                orig_img = by_key[(fake_img["original"], fake_img["frame_index"])]
                image = cv2.imread(str(ds.image_path(orig_img)))[:, :, ::-1].copy()
                faces = mtcnn([image])[0]
                faces = faces[faces[:, 4] >= REFERENCE_SCORE, :4]
                unswapped += len(boxes_of(ds, fake_img, REAL))
                fakes = boxes_of(ds, fake_img, FAKE)
                for box in fakes:
                    if not len(faces):
                        raw_iou.append(0.0)
                        whole_iou.append(0.0)
                        continue
                    raw = box_iou(box[None], faces)[0]
                    j = int(raw.argmax())
                    raw_iou.append(float(raw[j]))
                    whole_iou.append(float(box_iou(box[None], MTCNN_WHOLE_FACE(faces[j:j + 1]))[0, 0]))
                if sheet is not None and name == "mtcnn" and len(drawn) < 12 and fake_img["frame_index"] == 0:
                    fake_image = cv2.imread(str(ds.image_path(fake_img)))
                    drawn.append(draw(fake_image, fakes, boxes_of(ds, fake_img, REAL), faces, family))
            how = (f"{report.fake_faces_found}/{report.fake_faces_grown}/{report.fake_faces_by_change}/"
                   f"{report.ambiguous_faces}")
            print(f"{name:<11} {family:<15} {len(raw_iou):>10} {quartiles(raw_iou):>20} {quartiles(whole_iou):>20} "
                  f"{unswapped:>26} {how:>22}")
    print("\nchanged region / MTCNN box of the original frame (median [q1-q3]; sample data: above)")
    for family in families:
        r = np.array(region_ratios([p for p, f in chosen if f == family], mtcnn, every, 640)).reshape(-1, 2)
        print(f"  {family:<15} width {quartiles(r[:, 0])}  height {quartiles(r[:, 1])}  ({len(r)} frames)")
    clips = [data / c for c in REAL_CLIPS if (data / c).is_file()]
    if clips:
        whole = expanded(mtcnn, MTCNN_WHOLE_FACE)
        report = autolabel_real_videos(clips, work / "real-only", whole, every=every, max_side=640, force=True,
                                       progress=False)
        ds = load_dataset(work / "real-only")
        per_image = ds.annotations_by_image()
        print(f"\nreal-only clips ({len(clips)}), every {every}th frame: {report.real_frames_labelled} of "
              f"{report.real_frames_compared} frames with a face (score >= {REAL_FACE_SCORE}), "
              f"{report.boxes['real']} real boxes")
        for clip in clips:
            images = [img for img in ds.images if img["video"] == str(clip)]
            counts = [len(per_image[img["id"]]) for img in images]
            print(f"  {clip.relative_to(data)}: {len(images)} frames, faces per frame {sorted(set(counts))}")
            if sheet is not None and images:
                image = cv2.imread(str(ds.image_path(images[0])))
                boxes = boxes_of(ds, images[0], REAL)
                faces = whole([image[:, :, ::-1].copy()])[0]
                drawn.append(draw(image, np.zeros((0, 4)), boxes, faces[faces[:, 4] < REFERENCE_SCORE, :4],
                                  "real-only"))
    if sheet is not None and drawn:
        write_sheet(sheet, drawn)
        print(f"\nwrote {sheet}")


def draw(bgr: np.ndarray, fakes: np.ndarray, reals: np.ndarray, others: np.ndarray, title: str) -> np.ndarray:
    """``bgr`` with fake (red), real (green) and other (thin grey: references / low-score faces) boxes."""
    out = bgr.copy()
    for boxes, colour, width in ((others, (160, 160, 160), 1), (fakes, (40, 40, 230), 2), (reals, (40, 200, 40), 2)):
        for x1, y1, x2, y2 in np.asarray(boxes).reshape(-1, 4)[:, :4]:
            cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), colour, width)
    cv2.putText(out, title, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    return out


def write_sheet(path: Path, tiles: list[np.ndarray], height: int = 240, columns: int = 4) -> None:
    tiles = [cv2.resize(t, (max(1, round(t.shape[1] * height / t.shape[0])), height)) for t in tiles]
    width = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0))) for t in tiles]
    rows = [np.concatenate(tiles[i:i + columns] + [np.zeros_like(tiles[0])] * (columns - len(tiles[i:i + columns])),
                           axis=1) for i in range(0, len(tiles), columns)]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(rows, axis=0))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1], help="sample-data seeds (default: 0 1)")
    ap.add_argument("--videos", type=int, default=16, help="sample videos per seed (default: 16)")
    ap.add_argument("--every", type=int, default=2, help="sample data: every Nth frame (default: 2)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "realdata"),
                    help="the realdata folder, or 'none' (default: ../shared/realdata)")
    ap.add_argument("--real-every", type=int, default=60, help="real pairs and clips: every Nth frame (default: 60)")
    ap.add_argument("--sheet", type=Path, help="write real frames with their boxes to this PNG")
    ap.add_argument("--work", type=Path, help="keep the generated data and datasets here (default: a temp folder)")
    args = ap.parse_args(argv)
    tic = time.perf_counter()
    mtcnn = None
    if MTCNN.present():
        mtcnn = cached(mtcnn_face_finder(expansion=BoxExpansion()))  # raw boxes; methods expand them
    else:
        print("warning: MTCNN weights not found (dftag weights fetch mtcnn): mtcnn methods and real data skipped",
              file=sys.stderr)
    print(f"{FaceShape()}\nMTCNN_WHOLE_FACE = {MTCNN_WHOLE_FACE}")
    with tempfile.TemporaryDirectory(prefix="dftag-autolabel-boxes-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            run_sample(seed, args.videos, args.every, work, mtcnn)
        data = Path(args.data)
        if args.data != "none" and mtcnn is not None and (data / "pairs.csv").is_file():
            run_real(data, args.real_every, work, mtcnn, args.sheet)
        elif args.data != "none":
            print(f"\nreal pairs skipped ({data / 'pairs.csv'} missing or no MTCNN weights)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{time.perf_counter() - tic:.0f} s in all, load average {load:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
