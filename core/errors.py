"""Errors and warnings shown to users.

Every problem with user input is raised as :class:`DftagError` carrying one line that names the file (and,
where known, the frame or line) and the problem. The command line prints that line, exits non-zero and never
shows a traceback. Repairs that do not stop a command (a box clipped to the image, say) are counted in a
:class:`Warnings` tally and printed once, with counts, at the end.
"""

from __future__ import annotations

import sys
from collections import Counter
from os import PathLike


class DftagError(Exception):
    """A user-facing error: ``str(err)`` is the single line the command line prints."""

    def __init__(self, message: str, path: str | PathLike[str] | None = None, where: str | None = None):
        parts = []
        if path is not None:
            parts.append(f"{path}" + (f" ({where})" if where else ""))
        parts.append(message)
        super().__init__(": ".join(parts))


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
