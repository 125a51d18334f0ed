"""Atomic output: files and folders appear whole or not at all.

Everything dftag writes goes through these helpers: a file is written beside its target under a temporary
name and renamed over it; a folder is built under a temporary name and renamed into place at the end.

Temporary names are hidden and carry the writing process's id and host: ``.NAME.PID@HOST.XXXXXXXX.tmp``
(folders; files add the target's extension after ``.tmp`` for tools that infer the format from it). A process
killed before it can clean up (SIGKILL, power loss) leaves its temporaries behind; the next write into the same
folder removes those of processes of this host that no longer run (:func:`remove_stale_temporaries`), never a
live process's, nor another host's (a shared folder).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dftag.core.errors import DftagError

# .NAME.PID@HOST.TAG.tmp[.ext]: TAG is mkstemp/mkdtemp's 8 random characters or "old" (a folder being replaced)
TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>[0-9]+)@(?P<host>[A-Za-z0-9-]+)\.(?:[a-z0-9_]{8}|old)\.tmp"
                       r"(?:\.[A-Za-z0-9]+)?")
_cleaned: set[Path] = set()  # folders already cleaned by this process


def _host() -> str:
    """This machine's name as temporary names carry it: the first label, letters, digits and dashes."""
    name = socket.gethostname().split(".")[0]
    return re.sub(r"[^A-Za-z0-9-]", "", name)[:32] or "localhost"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_prefix(target: str | os.PathLike[str]) -> str:
    """The start of every temporary name for ``target``: ``.NAME.PID@HOST.`` (see the module docstring)."""
    return f".{Path(target).name}.{os.getpid()}@{_host()}."


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` runs on this machine (one we may not signal counts as running)."""
    if pid <= 0:
        return True  # not a real process id: never treat its temporaries as stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries (see the module docstring) in ``folder`` left by processes that no longer run;
    returns what was removed. A live process's temporaries, another host's, and anything else are left alone."""
    folder = Path(folder)
    host = _host()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = TEMPORARY.fullmatch(entry.name)
        if match is None or match["host"] != host or process_alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def _prepare_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) for an output, as one :class:`DftagError` when that is impossible,
    and remove stale temporaries in it once per process."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise DftagError(f"cannot create the output folder: {blocker} is a file, not a folder", folder) from None
    except PermissionError:
        raise DftagError("cannot create the output folder: permission denied", folder) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DftagError("cannot write in the output folder: permission denied", folder)
    key = folder.resolve()
    if key not in _cleaned:
        remove_stale_temporaries(folder)
        _cleaned.add(key)


def temporary_file(target: str | os.PathLike[str], suffix: str = "") -> Path:
    """Create an empty temporary file beside ``target`` (named as the module docstring says, ``suffix`` after
    ``.tmp``) for a writer that renames it over ``target`` itself when done (:func:`atomic_path` does both)."""
    target = Path(target)
    if target.is_dir():
        raise DftagError("cannot write this file: a folder of that name exists", target)
    _prepare_folder(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(target), suffix=".tmp" + suffix, dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; outputs get the usual permissions
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed to ``target``, on error removed.

    ``suffix`` keeps an extension on the temporary name for tools that infer the format from it (ffmpeg).
    """
    target = Path(target)
    tmp_path = temporary_file(target, suffix)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, infinity: undefined numbers) replaced by ``None``."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json(target: str | os.PathLike[str], obj: Any, indent: int | None = None) -> None:
    """Write ``obj`` as strict JSON (UTF-8): a NaN or infinite number, which JSON cannot hold, is written as
    ``null`` (an undefined value), never as the non-standard ``NaN``/``Infinity``."""
    try:
        text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(json_safe(obj), indent=indent, ensure_ascii=False, allow_nan=False)
    write_text(target, text + "\n")


def _identity(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of what is at ``path`` now (``None`` when nothing is)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _appeared(target: Path) -> DftagError:
    return DftagError("output folder appeared or changed while this run was writing it (another run writing "
                      "the same folder?); nothing was replaced", target)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name beside ``target`` and rename it into place on success.

    With ``overwrite`` an existing ``target`` is replaced (after the new one is complete); without it an
    existing non-empty ``target`` is an error raised before any work starts. Either way only what was at
    ``target`` at the start may be replaced: a folder that appears there (or replaces the old one) while the
    new one is built, e.g. from a second run writing the same ``target``, is an error at the end and is kept.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise DftagError("output exists and is a file, not a folder", target)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise DftagError("output folder exists and is not empty", target, fix=("overwrite", "to replace it"))
    seen = _identity(target) if overwrite else None
    _prepare_folder(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(target), suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
    try:
        yield tmp
        now = _identity(target)
        if now is not None and overwrite and now == seen:
            old = target.with_name(f"{temporary_prefix(target)}old.tmp")
            os.replace(target, old)
            try:
                os.rename(tmp, target)
            except OSError:
                with contextlib.suppress(OSError):
                    os.rename(old, target)  # put the old folder back where nothing took its place
                raise _appeared(target) from None
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
        elif now is not None and now != seen and (overwrite or not _empty_dir(target)):
            raise _appeared(target)
        else:
            # nothing there, or the empty folder that was there at the start: rename() replaces only an empty
            # folder, so a folder filled meanwhile by another run makes it fail instead of being lost
            try:
                os.rename(tmp, target)
            except OSError as err:
                if err.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                    raise _appeared(target) from None
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def dir_in_place(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Build a folder at its final path ``target``, for outputs whose files name paths inside it (the demo's
    dataset names its sample videos), which :func:`atomic_dir` would leave pointing at its temporary name.

    An existing non-empty ``target`` is an error raised before any work starts, unless ``overwrite``: then it is
    set aside under a temporary name, removed once the new folder is complete, and put back if the build fails.
    A build that fails leaves nothing of itself at ``target``."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise DftagError("output exists and is a file, not a folder", target)
    previous = None
    if target.exists() and any(target.iterdir()):
        if not overwrite:
            raise DftagError("output folder exists and is not empty", target, fix=("overwrite", "to replace it"))
        _prepare_folder(target.parent)
        previous = target.with_name(f"{temporary_prefix(target)}old.tmp")
        os.replace(target, previous)
    try:
        _prepare_folder(target)
        yield target
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        if previous is not None:
            with contextlib.suppress(OSError):
                os.rename(previous, target)
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _empty_dir(path: Path) -> bool:
    try:
        return path.is_dir() and not path.is_symlink() and not any(path.iterdir())
    except OSError:
        return False
