"""Reading torch files safely: ``torch.load(..., weights_only=True)``, so nothing but tensors and plain data is
ever unpickled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from dftag.core.errors import DftagError


def read_torch_file(path: str | os.PathLike) -> Any:
    """``torch.load`` with ``weights_only=True`` on the CPU; a missing or unreadable file is one
    :class:`DftagError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DftagError("no such checkpoint file", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DftagError(f"not a readable weights file ({reason})", path) from None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a dftag checkpoint (``model`` entry) or of a plain torchvision state dict."""
    obj = read_torch_file(path)
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise DftagError("neither a dftag checkpoint nor a state dict of tensors", path)
    return obj
