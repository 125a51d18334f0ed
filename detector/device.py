"""Choosing the torch device a detector runs on."""

from __future__ import annotations

import torch

from dftag.core.errors import DftagError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; asking for ``cuda`` without a GPU is an error."""
    if name not in DEVICES:
        raise DftagError(f"unknown device {name!r} (expected one of {', '.join(DEVICES)})")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise DftagError("device 'cuda' was asked for but no CUDA GPU is available")
    return torch.device(name)
