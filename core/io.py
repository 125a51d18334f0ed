"""Reading the files dftag is given: JSON documents and still images, each failure one :class:`DftagError`
naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dftag.core.errors import DftagError


def read_json(path: str | Path) -> Any:
    """Parse a JSON file (UTF-8); a missing, unreadable or invalid file is one :class:`DftagError` with the line
    and column of the first problem."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DftagError("file not found", path) from None
    except json.JSONDecodeError as e:
        raise DftagError(f"invalid JSON: {e.msg}", path, f"line {e.lineno}, column {e.colno}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DftagError(f"cannot read: {e}", path) from None


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to uint8 RGB ``(H, W, 3)``; a :class:`DftagError` naming the file if it cannot."""
    data = np.fromfile(path, dtype=np.uint8) if Path(path).is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        raise DftagError("missing or undecodable image", path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
