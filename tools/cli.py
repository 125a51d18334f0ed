"""The ``dftag`` command line.

Each subcommand lives in its own module under :mod:`dftag.tools.commands` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a ``run(args) -> int`` function. User errors are raised as
:class:`dftag.core.errors.DftagError` and printed here as one line, on a line of its own (progress bars left
open are closed first), with a non-zero exit and no traceback. A closed output pipe (``dftag info DS | head -1``)
ends the command quietly, as other Unix tools do.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys

import dftag.tools.commands
from dftag.core.errors import DftagError
from dftag.tools.commands._common import close_progress_bars, error_line, print_error

# the exit status of a process ended by SIGPIPE, as a shell reports it
BROKEN_PIPE_EXIT = 128 + getattr(signal, "SIGPIPE", 13)

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
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except DftagError as err:
        close_progress_bars()
        print_error(args.command, error_line(err))
        return 1
    except KeyboardInterrupt:
        close_progress_bars()
        print(f"dftag {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        if not _stdout_closed():
            raise  # some other pipe broke: a bug, not the reader going away
        _silence_stdout()
        return BROKEN_PIPE_EXIT


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (``| head``)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing what is left at exit cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests): nothing to flush
        pass

