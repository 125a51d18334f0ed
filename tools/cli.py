"""The ``dftag`` command line.

Each subcommand lives in its own module under :mod:`tools.commands` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a ``run(args) -> int`` function. User errors are raised as
:class:`annotations.errors.DftagError` and printed here as one line, with a non-zero exit and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import tools.commands
from annotations.errors import DftagError

DESCRIPTION = """\
dftag: find every face in a video frame and tag it real or fake.

The main job: convert annotation exports into a dataset, split it by source video, train a detector,
evaluate it, and annotate or score videos. Run 'dftag COMMAND --help' for each command's options and
examples; 'dftag demo' runs the whole job on built-in sample data.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dftag", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in sorted(pkgutil.iter_modules(tools.commands.__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"tools.commands.{mod.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DftagError as err:
        print(f"dftag {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dftag {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
