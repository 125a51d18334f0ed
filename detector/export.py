"""ONNX export of a detector checkpoint, and :class:`OnnxDetector`, the same ``predict`` on ONNX Runtime.

The exported graph is :class:`dftag.detector.inference.DetectorNetwork`: input ``images`` uint8 ``(batch, S, S, 3)``
RGB already resized to the model's input side ``S`` (dynamic batch), outputs ``boxes (batch, A, 4)`` float32
xyxy in input pixels and ``logits (batch, A, 3)`` (background, real, fake) for every anchor. Resizing,
score threshold, class-agnostic NMS and the mapping back to original pixels happen outside the graph, in the
same code the torch backend uses. The model's ``arch``, ``image_size``, ``calibration`` (the checkpoint's entry
as JSON: temperature and, when set, face threshold and video rule) and ``model_id`` are stored in the ONNX
metadata.

A two-stage checkpoint also exports its crop classifier (:class:`dftag.detector.classifier.FaceClassifier`) to
a second file beside the first, ``OUT`` with the suffix ``.classifier.onnx`` (:func:`classifier_path`): input
``crops`` uint8 ``(N, S, S, 3)``, output ``fake_logit (N,)`` (with the test-time flip inside the graph when the
classifier has it); the first file's metadata names it and records the crop size, margin and ``flip_average``,
and :class:`OnnxDetector` opens both. Cropping happens outside the graphs, in the torch
backend's code.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import Tensor

from dftag.core.atomic import atomic_path
from dftag.core.errors import DftagError
from dftag.detector.checkpoint import calibration_of, classifier_from_checkpoint, load_checkpoint, model_from_checkpoint
from dftag.detector.classifier import ClassifierSpec
from dftag.detector.inference import Detector, DetectorNetwork, checkpoint_id, model_name
from dftag.detector.model_calibration import ModelCalibration

OPSET = 18
INPUT_NAME = "images"
OUTPUT_NAMES = ("boxes", "logits")
METADATA_KEYS = ("arch", "image_size", "calibration", "model_id")
CLASSIFIER_INPUT = "crops"
CLASSIFIER_OUTPUT = "fake_logit"
CLASSIFIER_SUFFIX = ".classifier.onnx"


def classifier_path(out: str | os.PathLike) -> Path:
    """Where the crop classifier of a two-stage export goes: ``model.onnx`` -> ``model.classifier.onnx``."""
    out = Path(out)
    return out.with_name(out.stem + CLASSIFIER_SUFFIX)


def _export(module: torch.nn.Module, example: Tensor, input_name: str, output_names: list[str],
            metadata: dict[str, str], out: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter chatter about torchvision internals
        program = torch.onnx.export(
            module, (example,), input_names=[input_name], output_names=output_names, opset_version=OPSET,
            dynamo=True, dynamic_shapes={input_name: {0: torch.export.Dim("batch")}}, verbose=False)
    proto = program.model_proto
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    with atomic_path(out, suffix=".onnx") as tmp:
        onnx.save_model(proto, str(tmp))


def export_onnx(checkpoint: str | os.PathLike, out: str | os.PathLike) -> dict[str, str]:
    """Export the checkpoint's network to the ONNX file ``out`` (atomically), and a two-stage checkpoint's
    classifier to :func:`classifier_path` of ``out``; returns the metadata stored in ``out``."""
    ckpt = load_checkpoint(checkpoint)
    network = DetectorNetwork(model_from_checkpoint(ckpt, checkpoint)).eval()
    size = ckpt["image_size"]
    metadata = {"arch": ckpt["arch"], "image_size": str(size),
                "calibration": json.dumps(calibration_of(ckpt, checkpoint).to_dict()),
                "model_id": checkpoint_id(model_name(ckpt), checkpoint)}
    classifier = classifier_from_checkpoint(ckpt, checkpoint)
    if classifier is not None:
        spec = classifier.spec
        metadata |= {"classifier": classifier_path(out).name, "classifier_arch": spec.arch,
                     "crop_size": str(spec.crop_size), "margin": repr(float(spec.margin)),
                     "flip_average": str(spec.flip_average).lower()}
        crops = torch.zeros((2, spec.crop_size, spec.crop_size, 3), dtype=torch.uint8)
        _export(classifier, crops, CLASSIFIER_INPUT, [CLASSIFIER_OUTPUT], {"model_id": metadata["model_id"]},
                classifier_path(out))
    _export(network, torch.zeros((2, size, size, 3), dtype=torch.uint8), INPUT_NAME, list(OUTPUT_NAMES), metadata,
            Path(out))
    return metadata


class OnnxDetector(Detector):
    """:class:`Detector` backed by an ONNX Runtime session of an exported network (CPU by default)."""

    def __init__(self, session, classifier_session=None, **kwargs):
        super().__init__(None, **kwargs)
        self.session = session
        self.classifier_session = classifier_session

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> OnnxDetector:
        """Open a file written by :func:`export_onnx`; ``device`` "cuda" uses the CUDA provider when present."""
        import onnxruntime as ort

        path = Path(path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if str(device).startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")

        def open_session(file: Path):
            if not file.is_file():
                raise DftagError("no such ONNX file", file)
            try:
                return ort.InferenceSession(str(file), options, providers=providers)
            except Exception as err:  # onnxruntime raises its own exception types for unreadable models
                raise DftagError(f"not a readable ONNX model ({str(err).splitlines()[0]})", file) from None

        session = open_session(path)
        meta = session.get_modelmeta().custom_metadata_map
        if any(key not in meta for key in METADATA_KEYS):
            raise DftagError("not a dftag detector export (metadata missing)", path)
        classifier_session, spec = None, None
        if "classifier" in meta:
            classifier_session = open_session(path.with_name(meta["classifier"]))
            spec = ClassifierSpec(arch=meta["classifier_arch"], crop_size=int(meta["crop_size"]),
                                  margin=float(meta["margin"]), flip_average=meta.get("flip_average") == "true")
        try:
            calibration = json.loads(meta["calibration"])
        except ValueError:
            raise DftagError("the export's calibration metadata is not JSON", path) from None
        return cls(session, classifier_session, arch=meta["arch"], image_size=int(meta["image_size"]),
                   calibration=ModelCalibration.from_dict(calibration, path), model_id=meta["model_id"],
                   classifier_spec=spec)

    def forward(self, batch: np.ndarray) -> tuple[Tensor, Tensor]:
        boxes, logits = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
        return torch.from_numpy(boxes), torch.from_numpy(logits)

    def classify(self, crops: np.ndarray) -> np.ndarray:
        return self.classifier_session.run([CLASSIFIER_OUTPUT], {CLASSIFIER_INPUT: crops})[0]


def load_detector(path: str | os.PathLike, device: str = "cpu") -> Detector:
    """A checkpoint (``.pt``) as :class:`Detector`, an export (``.onnx``) as :class:`OnnxDetector`."""
    if Path(path).suffix.lower() == ".onnx":
        return OnnxDetector.load(path, device=device)
    return Detector.load(path, device=device)
