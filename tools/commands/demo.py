"""``dftag demo``: the whole main job on built-in sample data."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from dftag.core.outputs import check_outputs, folder
from dftag.pipeline.demo import TOY, DemoConfig, format_summary, run_demo
from dftag.tools.commands._common import add_parser, nonnegative_int, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = add_parser(
        sub, "demo", help="run the whole job end to end on built-in sample data",
        description="Generate sample videos, convert their CVAT export and DFDC metadata, split by source "
                    "video, train the default two-stage model (the ssdlite-mnv2 SSD, then its crop classifier), "
                    "evaluate boxes on the test split, annotate two held-out videos, "
                    "score every test video and evaluate them at video level, then print a summary. "
                    "This is what 'make demo' runs.",
        examples=["dftag demo --out runs/demo", "dftag demo --out runs/demo --force --epochs 20",
                  "dftag demo --out /tmp/toy --toy"])
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="demo folder (default: runs/demo)")
    p.add_argument("--force", action="store_true",
                   help="replace --out if it exists (only once the new demo is complete)")
    p.add_argument("--epochs", type=positive_int, help="training epochs (default: the model's)")
    p.add_argument("--videos", type=positive_int, help=f"sample videos (default: {DemoConfig.videos})")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of data, split and training (default: 0)")
    p.add_argument("--toy", action="store_true", help="tiny sizes (seconds, for tests; numbers meaningless)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_outputs([folder(args.out)], overwrite=args.force)
    overrides = {k: v for k, v in {"epochs": args.epochs, "videos": args.videos}.items() if v is not None}
    config = dataclasses.replace(TOY if args.toy else DemoConfig(), **overrides, seed=args.seed)
    print(format_summary(run_demo(args.out, config, overwrite=args.force)))
    return 0
