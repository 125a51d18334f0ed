"""``dftag export``: write a detector checkpoint as an ONNX model."""

from __future__ import annotations

import argparse

from dftag.core.outputs import check_outputs, file
from dftag.detector.export import OPSET, classifier_path, export_onnx
from dftag.tools.commands._common import add_parser

DESCRIPTION = f"""\
Export a detector checkpoint to ONNX (opset {OPSET}, torch.export-based exporter, dynamic batch).

The graph takes 'images': uint8 RGB (batch, S, S, 3) already resized to the model's square input side S, and
returns 'boxes' (batch, anchors, 4) float32 xyxy in input pixels and 'logits' (batch, anchors, 3) for
background, real and fake. The architecture, S, the calibration temperature and the model id are stored in
the ONNX metadata. 'dftag predict --model OUT.onnx' runs it with ONNX Runtime (same resizing, threshold,
class-agnostic NMS and box mapping as the checkpoint).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "export", help="export a detector checkpoint to ONNX",
                   description=DESCRIPTION,
                   examples=["dftag export --model runs/r1/best.pt --onnx model.onnx",
                             "dftag predict --model model.onnx photos/ --out preds.json"])
    p.add_argument("--model", required=True, help="detector checkpoint (.pt)")
    p.add_argument("--onnx", required=True, metavar="OUT.onnx", help="ONNX file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_outputs([file(args.onnx, "onnx"), file(classifier_path(args.onnx), "onnx")], [args.model])
    meta = export_onnx(args.model, args.onnx)
    print(f"exported {meta['model_id']} ({meta['arch']}, {meta['image_size']} px input) -> {args.onnx}")
    return 0
