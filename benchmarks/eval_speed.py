"""COCO summary speed: dftag's vectorised evaluation against pycocotools' COCOeval on the same data.

Builds a synthetic set (default 5,000 images, 2 classes, 1-6 faces per image, ~100 detections per image:
jittered copies of the faces plus clutter, scores in steps of 0.001 so ties occur), times both from the same
in-memory dicts (pycocotools: COCO index + loadRes + evaluate + accumulate + summarize; dftag: checks + match
+ accumulate + summarize) in one run, and prints the time ratio and the largest difference of the 12 stats.

    .venv/bin/python benchmarks/eval_speed.py [--images 5000] [--dets 100] [--seed 0]

Target: ratio <= 0.5 with difference <= 1e-6.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dftag.eval.coco_summary import STAT_NAMES, coco_summary  # noqa: E402


def synthetic(n_images: int, dets_per_image: int, seed: int) -> tuple[dict, list[dict]]:
    """A COCO ground truth with ``n_images`` 640x480 images and results with ~``dets_per_image`` each."""
    rng = np.random.default_rng(seed)
    images, annotations, results = [], [], []
    for image_id in range(1, n_images + 1):
        images.append({"id": image_id, "width": 640, "height": 480, "file_name": f"{image_id}.jpg"})
        n_faces = int(rng.integers(1, 7))
        xy = rng.uniform(0, 400, (n_faces, 2))
        wh = rng.uniform(10, 200, (n_faces, 2))
        cats = rng.integers(1, 3, n_faces)
        for f in range(n_faces):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(cats[f]),
                                "bbox": [*map(float, xy[f]), *map(float, wh[f])],
                                "area": float(wh[f, 0] * wh[f, 1]), "iscrowd": int(rng.random() < 0.02)})
        face = rng.integers(0, n_faces, dets_per_image)
        near = rng.random(dets_per_image) < 0.7
        jitter = rng.normal(0, 0.08, (dets_per_image, 4)) * np.tile(wh[face], 2)
        boxes = np.where(near[:, None], np.hstack([xy[face], wh[face]]) + jitter,
                         np.hstack([rng.uniform(0, 400, (dets_per_image, 2)),
                                    rng.uniform(10, 200, (dets_per_image, 2))]))
        boxes[:, 2:] = np.maximum(boxes[:, 2:], 1.0)
        labels = np.where(rng.random(dets_per_image) < 0.8, cats[face], 3 - cats[face])
        scores = np.round(rng.random(dets_per_image), 3)
        results += [{"image_id": image_id, "category_id": int(c), "bbox": [float(v) for v in b], "score": float(s)}
                    for b, c, s in zip(boxes, labels, scores)]
    categories = [{"id": 1, "name": "real"}, {"id": 2, "name": "fake"}]
    return {"images": images, "annotations": annotations, "categories": categories}, results


def pycocotools_stats(gt: dict, results: list[dict]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return np.asarray(evaluator.stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--dets", type=int, default=100, help="detections per image")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    gt, results = synthetic(args.images, args.dets, args.seed)
    print(f"{args.images} images, {len(gt['annotations'])} boxes, {len(results)} detections, 2 classes")
    ref_gt, ref_results = copy.deepcopy(gt), copy.deepcopy(results)  # pycocotools adds keys to what it is given
    start = time.perf_counter()
    ours = coco_summary(gt, results)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    ref = pycocotools_stats(ref_gt, ref_results)
    ref_s = time.perf_counter() - start
    diff = float(np.max(np.abs(np.array([ours[n] for n in STAT_NAMES]) - ref)))
    print(f"dftag {ours_s:.2f} s, pycocotools {ref_s:.2f} s, ratio {ours_s / ref_s:.3f} (target <= 0.5)")
    print(f"max abs difference of the 12 stats: {diff:.2e} (target <= 1e-6)")
    print("  ".join(f"{n}={ours[n]:.4f}" for n in STAT_NAMES))


if __name__ == "__main__":
    main()
