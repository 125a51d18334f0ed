"""Errors and warnings shown to users.

Every problem with user input is raised as :class:`DftagError` carrying one line that names the file (and,
where known, the frame or line) and the problem. The command line prints that line, exits non-zero and never
shows a traceback. Repairs that do not stop a command (a box clipped to the image, say) are counted in a
:class:`Warnings` tally and printed once, with counts, at the end.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from os import PathLike


class DftagError(Exception):
    """A user-facing error: ``str(err)`` is the single line shown to the user.

    Parameters are named in library terms. ``parameter`` is the one the message is about, written where the
    message says ``{parameter}``; ``fix`` names the parameter that would resolve the problem and what setting it
    does: ``fix=("overwrite", "to replace it")`` reads "(set overwrite to replace it)". A front end that spells
    parameters its own way (the command line's ``--force``) rewords both with :meth:`line`.
    """

    def __init__(self, message: str, path: str | PathLike[str] | None = None, where: str | None = None, *,
                 parameter: str | None = None, fix: tuple[str, str] | None = None):
        self.message, self.path, self.where, self.parameter, self.fix = message, path, where, parameter, fix
        super().__init__(self.line())

    def line(self, spell: Callable[[str], str] = str, verb: str = "set") -> str:
        """The one line, with parameter names written by ``spell`` and the fix introduced by ``verb``
        (the command line: ``spell=lambda p: "--" + p``, ``verb="use"``)."""
        message = self.message
        if self.parameter is not None:
            message = message.replace("{parameter}", spell(self.parameter))
        parts = []
        if self.path is not None:
            parts.append(f"{self.path}" + (f" ({self.where})" if self.where else ""))
        parts.append(message)
        text = ": ".join(parts)
        if self.fix is not None:
            parameter, purpose = self.fix
            text += f" ({verb} {spell(parameter)} {purpose})"
        return text


class Warnings:
    """Counts repairs by kind and keeps the first example of each, for one summary line per kind."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] += 1
        self.examples.setdefault(kind, example)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def lines(self) -> list[str]:
        return [f"warning: {kind}: {n} (first: {self.examples[kind]})" for kind, n in sorted(self.counts.items())]

    def print(self, file=None) -> None:
        """Print one line per kind to ``file`` (default: the current ``sys.stderr``)."""
        for line in self.lines():
            print(line, file=file or sys.stderr)
