"""Converting an annotation export, named by its format, into a canonical dataset: what ``dftag convert`` runs.

The export may be a file, a folder or a zip (:func:`dftag.annotations.archive.opened_input`); files inside a
zip are named ``export.zip!/member`` in messages, warnings and the images' ``video`` field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dftag.annotations.archive import opened_input
from dftag.annotations.convert import ConvertOptions, Summary, convert
from dftag.annotations.formats import READERS
from dftag.core.errors import DftagError, Warnings


def convert_export(format: str, input: str | os.PathLike[str], out: str | os.PathLike[str], *,
                   media: str | os.PathLike[str] | None = None, options: ConvertOptions | None = None,
                   reader_options: Mapping[str, Any] | None = None, warnings: Warnings | None = None,
                   overwrite: bool = False) -> Summary:
    """Read the export ``input`` with ``READERS[format]`` (given ``reader_options``; media files are looked up
    in ``media``, default beside the annotations) and :func:`~dftag.annotations.convert.convert` it into the
    dataset folder ``out`` (replacing a non-empty one only with ``overwrite``); repairs are counted in
    ``warnings``. Returns what was written."""
    if format not in READERS:
        raise DftagError(f"unknown annotation format {format!r} (one of {', '.join(sorted(READERS))})")
    media = None if media is None else Path(media)
    if media is not None and not media.exists():
        raise DftagError("media folder not found", media)
    warnings = warnings if warnings is not None else Warnings()
    given = Path(input)
    input_path = given.resolve()
    with opened_input(input_path) as root:
        if root == input_path:
            annotations = READERS[format](root, media, warnings, **(reader_options or {}))
            return convert(annotations, out, options, warnings, force=overwrite)

        def inside(text: str) -> str:
            return text.replace(f"{root}/", f"{given}!/").replace(str(root), str(given))

        def display(path: Path) -> str:
            if Path(path).is_relative_to(root):
                return f"{given}!/{Path(path).relative_to(root).as_posix()}"
            return str(path)

        try:
            annotations = READERS[format](root, media, warnings, **(reader_options or {}))
            summary = convert(annotations, out, options, warnings, force=overwrite, display=display)
        except DftagError as err:
            raise DftagError(inside(err.message), None if err.path is None else inside(str(err.path)), err.where,
                             parameter=err.parameter, fix=err.fix) from None
        for kind, example in warnings.examples.items():
            warnings.examples[kind] = example.replace(f"{root}/", f"{given}!/")
    return summary
