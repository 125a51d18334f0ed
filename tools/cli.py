"""The ``dftag`` command line.

Each subcommand lives in its own module under :mod:`dftag.tools.commands` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a ``run(args) -> int`` function. User errors are raised as
:class:`dftag.core.errors.DftagError` and printed here as one line, with a non-zero exit and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import dftag.tools.commands
from dftag.core.errors import DftagError
from dftag.tools.commands._common import error_line

DESCRIPTION = """\
dftag: find every face in a video frame and tag it real or fake.

The main job: convert annotation exports into a dataset, split it by source video, train a detector,
evaluate it, and annotate or score videos. Run 'dftag COMMAND --help' for each command's options and
examples; 'dftag demo' runs the whole job on built-in sample data.
"""


def command_modules() -> list[str]:
    """Module names under :mod:`dftag.tools.commands`, one per subcommand (``export_annotations`` is
    ``dftag export-annotations``)."""
    return sorted(m.name for m in pkgutil.iter_modules(dftag.tools.commands.__path__) if not m.name.startswith("_"))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or only ``command``'s when it names one: a command then imports
    just its own module (and so torch only when it needs it)."""
    parser = argparse.ArgumentParser(prog="dftag", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = command_modules()
    wanted = (command or "").replace("-", "_")
    for name in [wanted] if wanted in modules else modules:
        importlib.import_module(f"dftag.tools.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DftagError as err:
        print(f"dftag {args.command}: error: {error_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dftag {args.command}: interrupted", file=sys.stderr)
        return 130

