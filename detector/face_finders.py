"""Face finders for the auto-labeller (:data:`dftag.annotations.autolabel.FaceFinder`): callables that give,
for a batch of uint8 RGB images, each image's face boxes ``(N, 5)``: absolute pixel ``xyxy`` and a score.
:func:`face_finder` picks one by name, as ``dftag autolabel --face-finder`` does."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from dftag.annotations.autolabel import FaceFinder
from dftag.annotations.pair_diff import MTCNN_WHOLE_FACE, BoxExpansion
from dftag.core.errors import DftagError
from dftag.detector.inference import Detector
from dftag.detector.mtcnn import FaceLandmarker
from dftag.detector.weights import MTCNN

FACE_FINDERS = ("auto", "mtcnn", "model", "none")


def mtcnn_face_finder(weights: str | os.PathLike | None = None, *, expansion: BoxExpansion = MTCNN_WHOLE_FACE,
                      device: str = "cpu", **options) -> FaceFinder:
    """MTCNN (:class:`dftag.detector.mtcnn.FaceLandmarker`, weights from ``weights`` or where ``dftag weights
    fetch`` puts them) as a face finder: each face's box expanded to the whole face by ``expansion``, and its
    O-Net score. ``options`` go to the landmarker (e.g. ``min_face_size``). Missing weights are a
    :class:`DftagError` naming the file."""
    landmarker = FaceLandmarker.load(weights, device=device, **options)

    def find(images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.concatenate([expansion(f.boxes).reshape(-1, 4), f.scores.reshape(-1, 1)], axis=1)
                for f in landmarker.detect_batch(images)]

    return find


def checkpoint_face_finder(model: str | os.PathLike, device: str = "cpu") -> FaceFinder:
    """A trained dftag detector checkpoint (``dftag.detector.inference.Detector``) as a face finder: its boxes
    of either label as they are (dftag's boxes are whole faces) with their scores."""
    model = Path(model)
    if not model.is_file():
        raise DftagError("model checkpoint not found", model)
    detector = Detector.load(model, device=device)
    return lambda images: [np.concatenate([d.boxes.reshape(-1, 4), d.scores.reshape(-1, 1)], axis=1)
                           for d in detector.predict(images)]


def face_finder(kind: str = "auto", model: str | os.PathLike | None = None, warn: TextIO | None = None
                ) -> FaceFinder | None:
    """The face finder of :data:`FACE_FINDERS` named ``kind``: ``model`` is the checkpoint's detector
    (:func:`checkpoint_face_finder`), ``mtcnn`` MTCNN (:func:`mtcnn_face_finder`), ``none`` none; ``auto`` is the
    checkpoint's detector when ``model`` is given, else MTCNN when its weights are present, else none after one
    warning line to ``warn`` (default ``sys.stderr``)."""
    if kind not in FACE_FINDERS:
        raise ValueError(f"face finder must be one of {', '.join(FACE_FINDERS)}, got {kind!r}")
    if model is not None and kind in ("mtcnn", "none"):
        raise DftagError(f"{{parameter}} is for the model face finder, not the {kind} one", parameter="model")
    if kind == "model" or (kind == "auto" and model is not None):
        if model is None:
            raise DftagError("the model face finder needs {parameter}", parameter="model")
        return checkpoint_face_finder(model)
    if kind == "none":
        return None
    if kind == "auto" and not MTCNN.present():
        print("warning: MTCNN weights not found (dftag weights fetch mtcnn): fake boxes are grown by face "
              "proportions and unswapped faces are not boxed", file=warn or sys.stderr)
        return None
    return mtcnn_face_finder()
