"""Training-pipeline overhead and inference speed, measured side by side in one run.

1. Training images/s of the real pipeline (``dftag train``'s DataLoader with workers, augmentation, model
   step) divided by images/s of a bare loop of the same model step over batches already in memory. The
   target is a ratio >= 0.8: data loading keeps up with the model.
2. Inference ms/frame at batch 1 and 8 for the torch :class:`dftag.detector.inference.Detector` and the ONNX Runtime
   predictor (:mod:`dftag.detector.export`) on the same frames and weights.

Data: frames of the built-in sample videos (:mod:`dftag.sample_data.generator`, rendered straight to JPEG files,
no video encoding) written as a canonical dataset in a temporary folder.

    .venv/bin/python benchmarks/train_speed.py                  # ssdlite-mnv2 at 320 px, batch 16, 2 workers
    .venv/bin/python benchmarks/train_speed.py --steps 10 --image-size 160 --workers 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from dftag.annotations.dataset import CLASS_IDS, new_coco, save_coco
from dftag.core.boxes import xyxy_to_xywh
from dftag.core.io import read_image
from dftag.detector.checkpoint import save_checkpoint
from dftag.detector.device import resolve_device
from dftag.detector.export import OnnxDetector, export_onnx
from dftag.detector.inference import Detector
from dftag.sample_data.generator import ground_truth, plan_videos, render_frame
from dftag.training.config import TrainConfig
from dftag.training.train import Process, Trainer


def write_dataset(root: Path, frames: int, size: tuple[int, int], seed: int = 0) -> None:
    """Sample-video frames as a canonical dataset with train.json and val.json (every 5th frame in val)."""
    (root / "images").mkdir(parents=True)
    videos = plan_videos(np.random.default_rng(seed), count=4, size=size, frames=frames // 4, fps=12.0)
    images, annotations = [], []
    for video in videos:
        truth = ground_truth(video)
        for index in range(video.scene.frames):
            image_id = len(images) + 1
            name = f"{Path(video.name).stem}_{index:04d}.jpg"
            frame = render_frame(video.scene, index, video.swaps)
            cv2.imwrite(str(root / "images" / name), frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
            images.append({"id": image_id, "file_name": name, "width": size[0], "height": size[1],
                           "video": video.name, "frame_index": index, "timestamp": index / 12.0,
                           "group": video.original or video.name})
            for face in truth["boxes"][index]:
                box = xyxy_to_xywh(face["xyxy"])
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    "category_id": CLASS_IDS[face["label"]], "bbox": box,
                                    "area": box[2] * box[3], "iscrowd": 0})
    for split, keep in (("train", lambda i: i % 5), ("val", lambda i: not i % 5)):
        ids = {img["id"] for img in images if keep(img["id"])}
        save_coco(new_coco([img for img in images if img["id"] in ids],
                           [a for a in annotations if a["image_id"] in ids]), root / f"{split}.json")


def images_per_second(trainer: Trainer, batches, steps: int, warmup: int = 2) -> float:
    """Images/s over ``steps`` training steps after ``warmup`` untimed ones (batches: an iterable)."""
    trainer.train_model.train()
    batches = iter(batches)
    for step in range(warmup):
        trainer.step(*next(batches), step)
    seen, start = 0, time.perf_counter()
    for step in range(steps):
        images, targets = next(batches)
        trainer.step(images, targets, step)
        seen += len(images)
    return seen / (time.perf_counter() - start)


def loader_batches(trainer: Trainer):
    """Batches of the training DataLoader, epoch after epoch, forever."""
    epoch = 0
    while True:
        trainer.sampler.set_epoch(epoch)
        yield from trainer.loader
        epoch += 1


def ms_per_frame(detector: Detector, frames: list[np.ndarray], batch_size: int, repeats: int) -> float:
    detector.predict(frames[:batch_size], batch_size=batch_size)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        detector.predict(frames[:batch_size], batch_size=batch_size)
    return 1000 * (time.perf_counter() - start) / (repeats * batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ssdlite-mnv2")
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=12, help="timed training steps per loop")
    parser.add_argument("--frames", type=int, default=96, help="sample frames to generate")
    parser.add_argument("--repeats", type=int, default=10, help="timed inference calls per setting")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        write_dataset(data, args.frames, (320, 240))
        config = TrainConfig.for_model(args.model, data=str(data), out=str(Path(tmp) / "run"), epochs=1,
                                       image_size=args.image_size, batch_size=args.batch_size,
                                       workers=args.workers, device=args.device)
        trainer = Trainer(config, Process(0, 1, resolve_device(config.device)), resume=False)
        preloaded = list(zip(range(args.steps + 2), loader_batches(trainer)))
        bare = images_per_second(trainer, (batch for _, batch in preloaded), args.steps)
        pipeline = images_per_second(trainer, loader_batches(trainer), args.steps)
        print(f"training {args.model} {args.image_size}px batch {args.batch_size}, {args.workers} workers, "
              f"{trainer.process.device}: pipeline {pipeline:.1f} img/s, bare loop {bare:.1f} img/s, "
              f"ratio {pipeline / bare:.2f} (target >= 0.8)")

        checkpoint, onnx_file = Path(tmp) / "model.pt", Path(tmp) / "model.onnx"
        save_checkpoint(checkpoint, trainer.model)
        export_onnx(checkpoint, onnx_file)
        frames = [read_image(p) for p in sorted((data / "images").iterdir())[:8]]
        detectors = {"torch": Detector.load(checkpoint, device=trainer.process.device),
                     "onnxruntime": OnnxDetector.load(onnx_file)}
        for name, detector in detectors.items():
            timings = ", ".join(f"batch {b}: {ms_per_frame(detector, frames, b, args.repeats):.1f} ms/frame"
                                for b in (1, 8))
            print(f"inference {name:<11} {frames[0].shape[1]}x{frames[0].shape[0]} frames: {timings}")


if __name__ == "__main__":
    main()
