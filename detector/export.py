"""ONNX export of a detector checkpoint, and :class:`OnnxDetector`, the same ``predict`` on ONNX Runtime.

The exported graph is :class:`dftag.detector.inference.DetectorNetwork`: input ``images`` uint8 ``(batch, S, S, 3)``
RGB already resized to the model's input side ``S`` (dynamic batch), outputs ``boxes (batch, A, 4)`` float32
xyxy in input pixels and ``logits (batch, A, 3)`` (background, real, fake) for every anchor. Resizing,
score threshold, class-agnostic NMS and the mapping back to original pixels happen outside the graph, in the
same code the torch backend uses. The model's ``arch``, ``image_size``, ``temperature`` and ``model_id`` are
stored in the ONNX metadata.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import Tensor

from dftag.core.atomic import atomic_path
from dftag.core.errors import DftagError
from dftag.detector.checkpoint import load_checkpoint, model_from_checkpoint
from dftag.detector.inference import Detector, DetectorNetwork, checkpoint_id

OPSET = 18
INPUT_NAME = "images"
OUTPUT_NAMES = ("boxes", "logits")
METADATA_KEYS = ("arch", "image_size", "temperature", "model_id")


def export_onnx(checkpoint: str | os.PathLike, out: str | os.PathLike) -> dict[str, str]:
    """Export the checkpoint's network to the ONNX file ``out`` (atomically); returns the stored metadata."""
    ckpt = load_checkpoint(checkpoint)
    network = DetectorNetwork(model_from_checkpoint(ckpt, checkpoint)).eval()
    size = ckpt["image_size"]
    example = torch.zeros((2, size, size, 3), dtype=torch.uint8)
    metadata = {"arch": ckpt["arch"], "image_size": str(size),
                "temperature": repr(float(ckpt["calibration"]["temperature"])),
                "model_id": checkpoint_id(ckpt["arch"], checkpoint)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter chatter about torchvision internals
        program = torch.onnx.export(
            network, (example,), input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES), opset_version=OPSET,
            dynamo=True, dynamic_shapes={"images": {0: torch.export.Dim("batch")}}, verbose=False)
    proto = program.model_proto
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    with atomic_path(out, suffix=".onnx") as tmp:
        onnx.save_model(proto, str(tmp))
    return metadata


class OnnxDetector(Detector):
    """:class:`Detector` backed by an ONNX Runtime session of an exported network (CPU by default)."""

    def __init__(self, session, **kwargs):
        super().__init__(None, **kwargs)
        self.session = session

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> OnnxDetector:
        """Open a file written by :func:`export_onnx`; ``device`` "cuda" uses the CUDA provider when present."""
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise DftagError("no such ONNX file", path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if str(device).startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types for unreadable models
            raise DftagError(f"not a readable ONNX model ({str(err).splitlines()[0]})", path) from None
        meta = session.get_modelmeta().custom_metadata_map
        if any(key not in meta for key in METADATA_KEYS):
            raise DftagError("not a dftag detector export (metadata missing)", path)
        return cls(session, arch=meta["arch"], image_size=int(meta["image_size"]),
                   temperature=float(meta["temperature"]), model_id=meta["model_id"])

    def forward(self, batch: np.ndarray) -> tuple[Tensor, Tensor]:
        boxes, logits = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
        return torch.from_numpy(boxes), torch.from_numpy(logits)


def load_detector(path: str | os.PathLike, device: str = "cpu") -> Detector:
    """A checkpoint (``.pt``) as :class:`Detector`, an export (``.onnx``) as :class:`OnnxDetector`."""
    if Path(path).suffix.lower() == ".onnx":
        return OnnxDetector.load(path, device=device)
    return Detector.load(path, device=device)
