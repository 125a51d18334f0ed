"""Where a command is about to write, checked before it does any work.

:func:`check_outputs` refuses, with one :class:`~dftag.core.errors.DftagError` naming the output, every output
that would lose data or fail only once the work is done:

- an output that **is**, **contains** or **sits inside** one of the inputs (``--force`` would delete the
  inputs it contains; a file written over an input destroys it), with paths compared after resolving ``..``
  and symbolic links, so a link cannot smuggle an input in;
- two outputs that are the same file;
- an output of the wrong kind: a file where a folder goes, or a folder where a file goes;
- a folder output that exists and is not empty, unless ``overwrite`` is set;
- an output that cannot be created: a file in the way of its folder, or no permission to write there.

Outputs are :class:`Output` s: a :func:`file` (written atomically), a :func:`folder` (built whole and renamed
into place, replacing a non-empty one only with ``overwrite``) or a folder that files are written :func:`into`.
Each names its parameter (library terms, ``out`` by default), which the message writes as ``{parameter}``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dftag.core.errors import DftagError

FILE, FOLDER, INTO = "file", "folder", "into"
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Output:
    path: Path
    kind: str = FILE  # FILE, FOLDER or INTO (see the module docstring)
    parameter: str | None = "out"  # None: an output no single parameter names (messages say "output")


def _error(message: str, out: Output) -> DftagError:
    if out.parameter is None:
        return DftagError(message.replace("{parameter}", "output"), out.path)
    return DftagError(message, out.path, parameter=out.parameter)


def file(path: PathLike, parameter: str | None = "out") -> Output:
    """A file written atomically (an existing file is replaced)."""
    return Output(Path(path), FILE, parameter)


def folder(path: PathLike, parameter: str | None = "out") -> Output:
    """A folder built whole and renamed into place (a non-empty one is replaced only with ``overwrite``)."""
    return Output(Path(path), FOLDER, parameter)


def into(path: PathLike, parameter: str | None = "out") -> Output:
    """A folder (made if missing) that files are written into; what else it holds stays."""
    return Output(Path(path), INTO, parameter)


def resolved(path: PathLike) -> Path:
    """``path`` absolute, with ``..`` and every symbolic link of its existing part resolved."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def _same(a: Path, b: Path, ra: Path, rb: Path) -> bool:
    if ra == rb:
        return True
    try:
        return os.path.samefile(a, b)  # e.g. a bind mount of the same folder
    except OSError:
        return False


def check_outputs(outputs: Iterable[Output], inputs: Iterable[PathLike | None] = (), *,
                  overwrite: bool = False) -> None:
    """Raise one :class:`DftagError` for the first output that would overlap an input, clash with another
    output, be of the wrong kind, hold data without ``overwrite``, or not be writable (see the module
    docstring). ``inputs`` are files and folders read (``None`` entries are skipped). Writes nothing."""
    outputs = list(outputs)
    given = [Path(p) for p in inputs if p is not None and os.fspath(p) != ""]
    ins = [(p, resolved(p)) for p in given]
    seen: list[tuple[Output, Path]] = []
    for out in outputs:
        real = resolved(out.path)
        for path, real_in in ins:
            if _same(out.path, path, real, real_in):
                raise _error("{parameter} would overwrite an input: it is that input itself (write "
                             "somewhere else)", out)
            if real_in.is_relative_to(real):
                raise _error(f"{{parameter}} contains the input {path}; writing there could delete or "
                             "overwrite it (write somewhere else)", out)
            if real.is_relative_to(real_in):
                raise _error(f"{{parameter}} is inside the input folder {path}; outputs must not be written "
                             "into inputs (write somewhere else)", out)
        for other, real_other in seen:
            if real == real_other:
                raise _error(f"{{parameter}} is the same file as another output ({other.path})", out)
        seen.append((out, real))
        _check_kind(out, overwrite)
        _check_writable(out)


def _check_kind(out: Output, overwrite: bool) -> None:
    path = out.path
    if out.kind == FILE:
        if path.is_dir():
            raise _error("{parameter} is an existing folder; give a file name", out)
        return
    if path.exists() and not path.is_dir():
        raise _error("{parameter} is an existing file; give a folder", out)
    if out.kind == FOLDER and not overwrite and path.is_dir() and any(path.iterdir()):
        raise DftagError("output folder exists and is not empty", path, fix=("overwrite", "to replace it"))


def _check_writable(out: Output) -> None:
    """The folder that will hold the output's temporary (its parent; for :func:`into`, itself) must be, or be
    creatable in, a folder this process may write."""
    target = out.path if out.kind == INTO else out.path.parent
    existing = next((p for p in (target, *target.parents) if os.path.lexists(p)), Path.cwd())
    if not existing.is_dir():
        raise _error(f"cannot create {{parameter}}: {existing} is a file, not a folder", out)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _error(f"cannot write {{parameter}}: no permission to write in {existing}", out)
