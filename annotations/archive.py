"""Reading annotation exports that come as zip files (CVAT, Label Studio, Roboflow exports).

:func:`opened_input` yields a folder to read: the input itself when it is a file or folder, or a temporary
folder holding the zip's members. Extraction refuses any member that would land outside that folder
(``../`` components, absolute paths, drive letters) and any symbolic link, before writing anything; the
temporary folder is removed afterwards. The input is never modified.
"""

from __future__ import annotations

import contextlib
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from dftag.core.errors import DftagError


def _check_member(info: zipfile.ZipInfo, archive: Path) -> None:
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise DftagError(f"zip member {info.filename!r} would be written outside the extraction folder",
                         archive)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise DftagError(f"zip member {info.filename!r} is a symbolic link (not allowed)", archive)


def extract_zip(archive: Path, target: Path) -> None:
    """Extract ``archive`` into the existing folder ``target`` after checking every member is safe."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                _check_member(info, archive)
            for info in members:
                zf.extract(info, target)
    except zipfile.BadZipFile as e:
        raise DftagError(f"not a valid zip file: {e}", archive) from None
    except (OSError, RuntimeError, NotImplementedError) as e:  # encrypted, unsupported compression, IO
        raise DftagError(f"cannot extract zip: {e}", archive) from None


@contextlib.contextmanager
def opened_input(path: str | Path) -> Iterator[Path]:
    """Yield ``path`` unchanged, or for a ``.zip`` file a temporary folder with its safely extracted members."""
    path = Path(path)
    if not path.exists():
        raise DftagError("input not found", path)
    if not (path.is_file() and zipfile.is_zipfile(path)):
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix="dftag-zip-"))
    try:
        extract_zip(path, tmp)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
