"""Mapping the labels written in annotation exports to dftag's two classes, ``real`` and ``fake``.

Matching is case-insensitive and ignores surrounding spaces. The defaults accept the usual names::

    real <- real, pristine, original, genuine
    fake <- fake, deepfake, manipulated, swapped

A user map adds to (and overrides) the defaults. It is given either inline, classes separated by ``;`` and
source labels by ``,``  (``"real=person_real,ok;fake=df"``), or as a JSON file holding either
``{"real": ["person_real", "ok"], "fake": ["df"]}`` or ``{"person_real": "real", "df": "fake"}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dftag.annotations.dataset import CLASS_IDS, CLASS_NAMES
from dftag.core.errors import DftagError

DEFAULT_LABELS: dict[str, tuple[str, ...]] = {
    "real": ("real", "pristine", "original", "genuine"),
    "fake": ("fake", "deepfake", "manipulated", "swapped"),
}


def _key(label: str) -> str:
    return str(label).strip().casefold()


class LabelMap:
    """Source label (any case) -> dftag class id (``1`` real, ``2`` fake)."""

    def __init__(self, mapping: dict[str, str] | None = None):
        self._ids: dict[str, int] = {}
        for cls, labels in DEFAULT_LABELS.items():
            self.add(cls, labels)
        for label, cls in (mapping or {}).items():
            self.add(cls, [label])

    def add(self, cls: str, labels: Iterable[str]) -> None:
        cls_key = _key(cls)
        if cls_key not in CLASS_IDS:
            raise DftagError(f"label map: class must be one of {', '.join(CLASS_IDS)}, got {cls!r}")
        for label in labels:
            if not _key(label):
                raise DftagError(f"label map: empty source label for class {cls!r}")
            self._ids[_key(label)] = CLASS_IDS[cls_key]

    def class_id(self, label: str) -> int | None:
        """The class id of ``label``, or ``None`` when it is unknown."""
        return self._ids.get(_key(label))

    def class_name(self, label: str) -> str | None:
        cid = self.class_id(label)
        return None if cid is None else CLASS_NAMES[cid]

    @classmethod
    def parse(cls, spec: str | None) -> LabelMap:
        """Build from ``--label-map``: ``None`` (defaults only), an inline spec or a JSON file path."""
        if not spec:
            return cls()
        path = Path(spec)
        if spec.strip().endswith(".json") or path.is_file():
            return cls(_read_json_map(path))
        mapping: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            target, sep, labels = part.partition("=")
            if not sep or not labels.strip():
                raise DftagError(f"label map: expected CLASS=LABEL[,LABEL...] separated by ';', got {part!r}")
            for label in labels.split(","):
                mapping[label.strip()] = target.strip()
        return cls(mapping)


def _read_json_map(path: Path) -> dict[str, str]:
    from dftag.core.io import read_json

    data = read_json(path)
    if not isinstance(data, dict):
        raise DftagError('label map must be a JSON object like {"real": ["a"], "fake": ["b"]}', path)
    mapping: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            mapping.update({v: key for v in value})
        elif isinstance(value, str):
            mapping[key] = value
        else:
            raise DftagError(f"label map entry {key!r} must be a class name or a list of labels", path)
    return mapping


def parse_class_names(spec: str | None, default: dict[int, str] | None = None) -> dict[int, str]:
    """``--class-names "1=real,2=fake"`` -> ``{1: "real", 2: "fake"}``; ``default`` when ``spec`` is empty."""
    if not spec:
        return dict(default or {})
    names: dict[int, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        cid, sep, name = part.partition("=")
        try:
            names[int(cid)] = name.strip()
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise DftagError(f"class names: expected ID=NAME[,ID=NAME...], got {part!r}")
    return names
