"""Shared test fixtures: tiny generated videos and an in-process ``dftag`` runner."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

# One torch (OpenMP) thread per test process: `make test` runs 2 pytest workers, and oversubscribed OpenMP
# threads spin-wait, which made small CPU forward/backward passes 20x slower. Set before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from dftag.annotations.video import ffmpeg_exe

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"

# ``make_video(..., fps=10, seconds=3, extra=VFR_ARGS)``: 20 frames, the first 10 at 0.1 s steps, then 0.2 s steps.
VFR_ARGS = ["-frames:v", "20", "-vf", "settb=1/1000,setpts='if(lt(N,10),N/10,1+(N-10)/5)/TB'",
            "-fps_mode", "passthrough"]


@pytest.fixture
def make_video(tmp_path):
    """Generate a short test-pattern MP4 with the bundled ffmpeg; returns its path.

    ``make_video(name, size=(w, h), fps=25, seconds=1.0, audio=False, extra=[...])``; ``extra`` are ffmpeg
    output options (e.g. a ``setpts`` filter for variable frame rate).
    """

    def make(name: str = "clip.mp4", size: tuple[int, int] = (160, 120), fps: float = 25, seconds: float = 1.0,
             audio: bool = False, extra: list[str] | None = None, pattern: str = "testsrc2") -> Path:
        out = tmp_path / name
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi",
               "-i", f"{pattern}=size={size[0]}x{size[1]}:rate={fps}"]
        if audio:
            cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
        cmd += ["-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", *(extra or [])]
        if audio:
            cmd += ["-c:a", "aac"]
        subprocess.run([*cmd, str(out)], check=True)
        return out

    return make


@pytest.fixture
def dftag(capsys):
    """Run ``dftag ARGS`` in-process; returns ``(exit_code, stdout, stderr)``."""
    from dftag.tools.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse usage errors
            code = e.code if isinstance(e.code, int) else 1
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def face_dataset(tmp_path):
    """Write a tiny split canonical dataset of drawn "faces" (real: light ellipses, fake: dark ones).

    ``face_dataset(n_train=8, n_val=4, size=(96, 72))`` returns the folder (annotations.json, train.json,
    val.json, images/). Every third image is a negative (no face); the others hold one real and one fake face.
    """
    import cv2
    import numpy as np

    from dftag.annotations.dataset import FAKE, REAL, new_coco, save_coco

    def make(n_train: int = 8, n_val: int = 4, size: tuple[int, int] = (96, 72), name: str = "ds") -> Path:
        root = tmp_path / name
        (root / "images").mkdir(parents=True)
        rng = np.random.default_rng(0)
        width, height = size
        images, anns, split_ids = [], [], {"train": [], "val": []}
        for i in range(n_train + n_val):
            image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
            entry = {"id": i + 1, "file_name": f"{i:03d}.png", "width": width, "height": height, "video": None,
                     "frame_index": None, "timestamp": None, "group": f"g{i}"}
            if i % 3 != 2:
                for label, colour, x in ((REAL, (230, 190, 160), 0.1), (FAKE, (60, 40, 30), 0.55)):
                    w, h = width * 0.3, height * 0.5
                    x0, y0 = width * x, height * 0.2
                    cv2.ellipse(image, (int(x0 + w / 2), int(y0 + h / 2)), (int(w / 2), int(h / 2)), 0, 0, 360,
                                colour, -1)
                    anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": label,
                                 "bbox": [x0, y0, w, h], "area": w * h, "iscrowd": 0})
            cv2.imwrite(str(root / "images" / entry["file_name"]), image[..., ::-1])
            images.append(entry)
            split_ids["train" if i < n_train else "val"].append(i + 1)
        coco = new_coco(images, anns)
        save_coco(coco, root / "annotations.json")
        for split, ids in split_ids.items():
            save_coco(new_coco([im for im in images if im["id"] in ids],
                               [a for a in anns if a["image_id"] in ids]), root / f"{split}.json")
        return root

    return make


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised ssdlite-mnv2 checkpoint at the smallest input size (no downloads)."""
    from dftag.detector.checkpoint import save_checkpoint
    from dftag.detector.models import build_model

    path = tmp_path_factory.mktemp("tiny_model") / "tiny.pt"
    save_checkpoint(path, build_model("ssdlite-mnv2", pretrained_backbone=False, image_size=64))
    return path


@pytest.fixture(scope="session")
def tiny_two_stage_checkpoint(tiny_checkpoint, tmp_path_factory) -> Path:
    """:func:`tiny_checkpoint` with a randomly initialised crop classifier at 64 px crops (no downloads)."""
    from dftag.detector.checkpoint import load_checkpoint, with_classifier, write_checkpoint
    from dftag.detector.classifier import ClassifierSpec, FaceClassifier

    path = tmp_path_factory.mktemp("tiny_two_stage") / "two_stage.pt"
    classifier = FaceClassifier(ClassifierSpec(crop_size=64, margin=0.3), pretrained_backbone=False)
    write_checkpoint(path, with_classifier(load_checkpoint(tiny_checkpoint), classifier.spec,
                                           classifier.state_dict()))
    return path


def with_batch_statistics(model):
    """A :class:`~dftag.detector.classifier.FaceClassifier` with its batch-norm running statistics set from
    random 64 px crops, in eval mode: a randomly initialised MobileNetV2 in eval mode outputs logits near 1e-8,
    too small to tell one crop from another."""
    import torch

    for layer in model.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.momentum = None  # a cumulative average: one batch sets the statistics
    crops = np.random.default_rng(1).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        model.train()(torch.from_numpy(crops))
    return model.eval()


@pytest.fixture(scope="session")
def tiny_flip_checkpoints(tiny_two_stage_checkpoint, tmp_path_factory) -> dict[bool, Path]:
    """Two-stage checkpoints with one classifier whose logits differ between crops
    (:func:`with_batch_statistics`), without and with ``flip_average``, by that setting."""
    from dftag.detector.checkpoint import classifier_from_checkpoint, load_checkpoint, with_classifier, write_checkpoint
    from dftag.detector.classifier import ClassifierSpec

    ckpt = load_checkpoint(tiny_two_stage_checkpoint)
    state = with_batch_statistics(classifier_from_checkpoint(ckpt)).state_dict()
    folder = tmp_path_factory.mktemp("flip")
    paths = {flip: folder / f"flip-{str(flip).lower()}.pt" for flip in (False, True)}
    for flip, path in paths.items():
        write_checkpoint(path, with_classifier(ckpt, ClassifierSpec(crop_size=64, margin=0.3, flip_average=flip),
                                               state))
    return paths
