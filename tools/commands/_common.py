"""Helpers shared by the subcommand modules."""

from __future__ import annotations

import argparse

from dftag.core.errors import DftagError
from dftag.core.thresholds import FACE_SCORE_THRESHOLD

# Library parameters whose flag is not simply --name-with-dashes.
FLAGS = {"overwrite": "--force"}


def add_parser(sub: argparse._SubParsersAction, name: str, help: str, description: str,
               examples: list[str]) -> argparse.ArgumentParser:
    """Add a subcommand whose ``--help`` shows ``description`` and an Examples section."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    return sub.add_parser(name, help=help, description=description, epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def add_detection_report_options(p: argparse.ArgumentParser) -> None:
    """Options of the commands that run a detector over a split into a report (``evaluate``, ``report``)."""
    p.add_argument("--threshold", type=float, default=FACE_SCORE_THRESHOLD,
                   help="score at which the operating point and example boxes are shown (default: %(default)s)")
    p.add_argument("--examples", type=int, default=6, help="example frames in the report (with a model; default: 6)")
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default: 8)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")


def flag(parameter: str) -> str:
    """The command-line flag of a library parameter: ``overwrite`` is ``--force``, ``label_map`` ``--label-map``."""
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def error_line(err: DftagError) -> str:
    """``err`` as the command line shows it: the library's remedy spelled as the flag to use."""
    return err.line(flag, verb="use")
