"""Lists of (fake, original) video pairs, as the pair auto-labeller reads them.

Accepted files (paths inside them are relative to a media folder, by default the file's own folder):

* DFDC ``metadata.json``: ``{"x.mp4": {"label": "FAKE", "original": "y.mp4", ...}}``; every fake whose original
  is named becomes a pair;
* CSV with a header naming a fake and an original column: ``fake,original`` (optional ``method``), or the
  realdata layout ``kind,repo,fake_path,original_path,method`` where a file lives at
  ``MEDIA/<owner>+<repo>/<path>``;
* CSV without a header: ``fake,original`` paths per line.

A path may end in ``#left_half`` or ``#right_half``: that half of a side-by-side file (original and fake shown
next to each other in one frame). A pair's ``change`` says what its fake changed (see
:data:`dftag.annotations.pair_diff.CHANGES`): ``"mouth"`` when its ``method`` mentions lip-sync or the mouth,
else ``"face"`` (a face swap); ``"whole"`` (the change is the whole face) is only ever set by the caller.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dftag.annotations.pair_diff import change_kind
from dftag.core.errors import DftagError
from dftag.core.io import read_json

HALVES = ("left_half", "right_half")
FAKE_COLUMNS = ("fake", "fake_path")
ORIGINAL_COLUMNS = ("original", "original_path")
MOUTH_ONLY_WORDS = ("lip-sync", "lipsync", "lip sync", "mouth")


@dataclass(frozen=True)
class MediaRef:
    """One side of a pair: the video file, the path as the pairs file gave it, and the half it shows (or None)."""

    path: Path
    given: str
    half: str | None = None

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def name(self) -> str:
        """A short name unique to this file and half, usable in file names (``stem`` or ``stem.right_half``)."""
        return self.stem + (f".{self.half}" if self.half else "")


@dataclass(frozen=True)
class Pair:
    """A fake and the original it was made from. ``change`` is one of ``"face"``, ``"mouth"``, ``"whole"``
    (a bool is taken as the former ``mouth_only`` flag: True is ``"mouth"``)."""

    fake: MediaRef
    original: MediaRef
    change: str = "face"
    method: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "change", change_kind(self.change))

    @property
    def mouth_only(self) -> bool:
        """Whether the fake changes only the mouth (lip-sync)."""
        return self.change == "mouth"


def media_ref(given: str, base: Path, source: Path, where: str) -> MediaRef:
    """Resolve a path from a pairs file (with an optional ``#half`` suffix) against ``base``."""
    path, _, half = given.strip().partition("#")
    if half and half not in HALVES:
        raise DftagError(f"unknown suffix '#{half}' (expected #left_half or #right_half)", source, where)
    if not path:
        raise DftagError("empty video path", source, where)
    return MediaRef(base / path, given.strip(), half or None)


def is_mouth_only(method: str) -> bool:
    return any(word in method.lower() for word in MOUTH_ONLY_WORDS)


def _read_dfdc(path: Path, media: Path) -> list[Pair]:
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise DftagError("DFDC metadata must be an object mapping video names to entries", path)
    pairs = []
    for name, entry in meta.items():
        if not isinstance(entry, dict) or "label" not in entry:
            raise DftagError("entry lacks 'label'", path, f"video {name!r}")
        if str(entry["label"]).upper() == "FAKE" and entry.get("original"):
            where = f"video {name!r}"
            pairs.append(Pair(media_ref(name, media, path, where), media_ref(entry["original"], media, path, where)))
    return pairs


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    return next((header.index(n) for n in names if n in header), None)


def _read_csv(path: Path, media: Path) -> list[Pair]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [(n, row) for n, row in enumerate(csv.reader(f), start=1) if any(c.strip() for c in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DftagError(f"cannot read CSV: {e}", path) from None
    if not rows:
        raise DftagError("no pairs in file", path)
    header = [c.strip().lower() for c in rows[0][1]]
    fake_col, orig_col = _column(header, FAKE_COLUMNS), _column(header, ORIGINAL_COLUMNS)
    if fake_col is None or orig_col is None:
        if any(h in header for h in (*FAKE_COLUMNS, *ORIGINAL_COLUMNS)):
            raise DftagError("header needs both a fake and an original column (fake,original)", path, "line 1")
        fake_col, orig_col, repo_col, method_col, body = 0, 1, None, None, rows
    else:
        repo_col, method_col, body = _column(header, ("repo",)), _column(header, ("method",)), rows[1:]
    pairs = []
    for line, row in body:
        where = f"line {line}"
        if len(row) <= max(fake_col, orig_col):
            raise DftagError(f"expected a fake and an original path, got {len(row)} column(s)", path, where)
        base = media
        if repo_col is not None:
            base = media / PurePosixPath(row[repo_col].strip()).as_posix().replace("/", "+")
        method = row[method_col].strip() if method_col is not None and method_col < len(row) else ""
        pairs.append(Pair(media_ref(row[fake_col], base, path, where), media_ref(row[orig_col], base, path, where),
                          "mouth" if is_mouth_only(method) else "face", method))
    return pairs


def read_pairs(path: str | Path, media: str | Path | None = None) -> list[Pair]:
    """The pairs listed in ``path`` (DFDC metadata ``.json`` or ``.csv``), paths resolved against ``media``
    (default: the pairs file's folder). Raises :class:`DftagError` naming the file and line on bad input."""
    path = Path(path)
    if not path.is_file():
        raise DftagError("pairs file not found", path)
    media = Path(media) if media is not None else path.parent
    if not media.is_dir():
        raise DftagError("media folder not found", media)
    pairs = _read_dfdc(path, media) if path.suffix.lower() == ".json" else _read_csv(path, media)
    if not pairs:
        raise DftagError("no (fake, original) pairs in file", path)
    return pairs
