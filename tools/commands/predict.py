"""``dftag predict``: run a detector on images and write COCO detection results with ``p_fake``."""

from __future__ import annotations

import argparse
from pathlib import Path

from dftag.annotations.dataset import IMAGES_DIR
from dftag.annotations.formats.base import files_under
from dftag.core.atomic import write_json
from dftag.core.errors import DftagError
from dftag.core.io import read_json
from dftag.core.media import IMAGE_SUFFIXES
from dftag.core.outputs import check_outputs, file
from dftag.core.thresholds import EVAL_MIN_SCORE
from dftag.detector.export import load_detector
from dftag.detector.inference import DEFAULT_BATCH_SIZE, DEFAULT_NMS_IOU
from dftag.eval.predict import predict_images
from dftag.eval.results import coco_results
from dftag.tools.commands._common import add_parser, positive_int, probability

DESCRIPTION = f"""\
Detect faces in images and tag each real or fake; write COCO detection results (JSON list).

Each result is {{"image_id", "category_id" (1 real, 2 fake), "bbox" [x, y, w, h] in pixels, "score" (probability
of that class), "p_fake" (calibrated probability that the face is fake), "file_name"}}.
Without --gt, IMAGES are image files and/or folders (searched recursively) and image ids are 1, 2, ... in
sorted path order. With --gt GT.json (a COCO file, e.g. a dataset's test.json), the GT's images are read from
the one IMAGES folder given (default: the images/ folder beside GT.json) and keep the GT's image ids, ready for 'dftag eval'.
--model takes a checkpoint (.pt) or an ONNX export (.onnx, run with ONNX Runtime).
The default --score-threshold ({EVAL_MIN_SCORE}) keeps weak detections for AP; use 0.3 or more to look
at the boxes.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "predict", help="detect and tag faces in images; write COCO results",
                   description=DESCRIPTION,
                   examples=["dftag predict --model runs/r1/best.pt photos/ --out preds.json",
                             "dftag predict --model runs/r1/best.pt a.jpg b.png --out preds.json --score-threshold 0.3",
                             "dftag predict --model runs/r1/best.pt --gt data/ds/test.json --out test_preds.json",
                             "dftag predict --model model.onnx --gt data/ds/test.json data/ds/images --out p.json"])
    p.add_argument("images", nargs="*", metavar="IMAGES",
                   help="image files or folders; with --gt, at most one folder holding the GT's file_names")
    p.add_argument("--model", required=True, help="checkpoint (.pt) or ONNX export (.onnx)")
    p.add_argument("--out", required=True, help="results JSON to write (COCO results format)")
    p.add_argument("--gt", help="COCO file whose images to predict and whose image ids to use")
    p.add_argument("--score-threshold", type=probability, default=EVAL_MIN_SCORE,
                   help=f"keep boxes whose class probability reaches this (default: {EVAL_MIN_SCORE})")
    p.add_argument("--nms-iou", type=probability, default=DEFAULT_NMS_IOU,
                   help=f"suppress boxes overlapping a better one more than this IoU (default: {DEFAULT_NMS_IOU})")
    p.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE,
                   help=f"images per network run (default: {DEFAULT_BATCH_SIZE})")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    p.set_defaults(func=run)


def images_from_gt(gt_path: Path, folder: Path | None) -> list[tuple[int, Path, str]]:
    """``(image_id, path, file_name)`` for every image of a COCO GT file, resolved under ``folder``."""
    coco = read_json(gt_path)
    images = coco.get("images") if isinstance(coco, dict) else None
    if not isinstance(images, list) or not all(isinstance(i, dict) and "id" in i and "file_name" in i
                                               for i in images):
        raise DftagError("not a COCO file with images (id, file_name)", gt_path)
    root = folder if folder is not None else gt_path.parent / IMAGES_DIR
    return [(img["id"], root / img["file_name"], img["file_name"]) for img in images]


def images_from_paths(inputs: list[str]) -> list[tuple[int, Path, str]]:
    """``(image_id, path, file_name)`` for the image files in ``inputs``, ids 1.. in sorted path order."""
    paths = sorted({p for given in inputs for p in files_under(Path(given), IMAGE_SUFFIXES)})
    if not paths:
        raise DftagError("no images found", " ".join(inputs))
    return [(i, p, str(p)) for i, p in enumerate(paths, start=1)]


def run(args: argparse.Namespace) -> int:
    if args.gt:
        if len(args.images) > 1 or (args.images and not Path(args.images[0]).is_dir()):
            raise DftagError("with --gt give at most one IMAGES folder (where the GT's file_names are)",
                             " ".join(args.images))
        folder = Path(args.images[0]) if args.images else Path(args.gt).parent / IMAGES_DIR
        check_outputs([file(args.out)], [args.model, args.gt, folder])
        entries = images_from_gt(Path(args.gt), folder)
    elif args.images:
        check_outputs([file(args.out)], [args.model, *args.images])
        entries = images_from_paths(args.images)
    else:
        raise DftagError("give IMAGES (files or folders) or --gt GT.json")
    detector = load_detector(args.model, device=args.device)
    detections = predict_images(detector, [path for _, path, _ in entries], args.score_threshold, args.nms_iou,
                                args.batch_size)
    results = [result for (image_id, _, file_name), det in zip(entries, detections)
               for result in coco_results(det, image_id, file_name=file_name)]
    write_json(args.out, results)
    print(f"{len(results)} detections in {len(entries)} images ({detector.model_id}) -> {args.out}")
    return 0
