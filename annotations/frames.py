"""Cutting frames from videos and storing images, with their boxes mapped to the stored pixels.

Box geometry (:class:`FrameGeometry`): boxes arrive in the coordinates of the frame the export was drawn on
(pixels of its declared size, or fractions of it) and leave as absolute ``xyxy`` pixels of the stored image:

1. fractions are multiplied by the declared size (or, when the export declares none, the display size);
2. Label Studio's box ``rotation`` (clockwise about the top-left corner) becomes the enclosing upright box;
3. **orientation**: videos are stored upright (display orientation, as :func:`dftag.annotations.video.read_frames`
   delivers them). When a phone video has a 90 or 270 degree rotation and the export declares the *coded*
   size (width and height swapped with respect to the display size), the boxes were drawn on the raw frames and
   are rotated to display orientation. Otherwise (declared size equals the display size, none declared, or a
   180 degree rotation, where the sizes cannot tell) boxes are taken to be in display orientation, which is
   what browsers, Label Studio and current CVAT show;
4. a declared size that still differs from the display size scales the boxes (counted as a warning);
5. ``--max-side`` scales them with the stored image;
6. boxes are clipped to the image; a box under 1 px wide or high after clipping is dropped (both counted).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from dftag.annotations.formats.base import Box
from dftag.annotations.video import DecodeReport, VideoInfo, output_size, read_frames
from dftag.core.errors import DftagError, Warnings

JPEG_QUALITY = 95
MIN_BOX_SIDE = 1.0  # pixels; smaller boxes (after clipping) are dropped
_ENCODE_THREADS = 2
_ENCODE_QUEUE = 8  # frames waiting for the JPEG encoder at most (bounds memory)


@dataclass(frozen=True)
class FrameGeometry:
    """How export coordinates map to stored-image pixels (see the module docstring)."""

    base: tuple[int, int]  # (w, h) pixels the export's coordinates refer to (after fractions are resolved)
    rotation: int  # clockwise degrees turning ``base`` coordinates upright (0, 90, 180, 270)
    scale: tuple[float, float]  # upright base pixels -> stored pixels
    stored: tuple[int, int]  # (w, h) of the stored image

    def to_stored(self, box: Box, relative: bool) -> tuple[float, float, float, float]:
        bw, bh = self.base
        x1, y1, x2, y2 = box.x1, box.y1, box.x2, box.y2
        if relative:
            x1, x2, y1, y2 = x1 * bw, x2 * bw, y1 * bh, y2 * bh
        corners = [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
        if box.rotation:
            a = math.radians(box.rotation)
            corners = [(x1 + (x - x1) * math.cos(a) - (y - y1) * math.sin(a),
                        y1 + (x - x1) * math.sin(a) + (y - y1) * math.cos(a)) for x, y in corners]
        corners = [self._upright(x, y) for x, y in corners]
        xs, ys = [x * self.scale[0] for x, _ in corners], [y * self.scale[1] for _, y in corners]
        return min(xs), min(ys), max(xs), max(ys)

    def _upright(self, x: float, y: float) -> tuple[float, float]:
        w, h = self.base
        if self.rotation == 90:
            return h - y, x
        if self.rotation == 180:
            return w - x, h - y
        if self.rotation == 270:
            return y, w - x
        return x, y


def video_geometry(info: VideoInfo, declared: tuple[int, int] | None, stored: tuple[int, int],
                   warnings: Warnings, source: Path) -> FrameGeometry:
    """The geometry of a video's boxes given the size the export declares (``None`` when it declares none)."""
    display = (info.width, info.height)
    coded = (info.coded_width, info.coded_height)
    base = declared or display
    rotation = info.rotation if info.rotation in (90, 270) and declared == coded != display else 0
    upright = (base[1], base[0]) if rotation in (90, 270) else base
    if upright != display:
        warnings.add("declared frame size differs from the video (boxes scaled)",
                     f"{source}: {base[0]}x{base[1]} vs {info.path} {display[0]}x{display[1]}")
    return FrameGeometry(base, rotation, (stored[0] / upright[0], stored[1] / upright[1]), stored)


def image_geometry(actual: tuple[int, int], declared: tuple[int, int] | None, stored: tuple[int, int],
                   warnings: Warnings, source: Path, name: str) -> FrameGeometry:
    base = declared or actual
    if base != actual:
        warnings.add("declared image size differs from the image file (boxes scaled)",
                     f"{source}: {name} declared {base[0]}x{base[1]}, file {actual[0]}x{actual[1]}")
    return FrameGeometry(base, 0, (stored[0] / base[0], stored[1] / base[1]), stored)


def clip_box(xyxy: tuple[float, float, float, float], size: tuple[int, int], warnings: Warnings,
             where: str) -> list[float] | None:
    """Clip to the image; ``None`` (and a warning) when less than :data:`MIN_BOX_SIDE` remains."""
    w, h = size
    x1, y1, x2, y2 = xyxy
    clipped = [min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h)]
    if clipped[2] - clipped[0] < MIN_BOX_SIDE or clipped[3] - clipped[1] < MIN_BOX_SIDE:
        warnings.add("boxes outside the image or under 1 px dropped", where)
        return None
    if clipped != [x1, y1, x2, y2]:
        warnings.add("boxes clipped to the image", where)
    return clipped


def write_jpeg(image: np.ndarray, path: Path) -> None:
    """Write a uint8 RGB image as a JPEG of :data:`JPEG_QUALITY` (a dataset's frames)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise DftagError("could not encode JPEG", path)
    path.write_bytes(data.tobytes())


@dataclass
class StoredFrame:
    index: int
    timestamp: float
    file_name: str  # relative to the images folder


def cut_frames(video: Path, indices: set[int], images_dir: Path, prefix: str, info: VideoInfo,
               max_side: int | None = None, report: DecodeReport | None = None) -> Iterator[StoredFrame]:
    """Decode ``video`` once and store the frames at ``indices`` as ``images_dir/PREFIX/NNNNNN.jpg``.

    Frames are numbered by presentation time (0-based, the decode order of an intact file; see
    :func:`dftag.annotations.video.read_frames`) and stored upright, at most ``max_side`` pixels on the longer
    side; JPEG encoding runs in a small thread pool beside the decoder. Yields what was stored, in order;
    ``report`` receives what did not decode.
    """
    folder = images_dir / prefix
    folder.mkdir(parents=True, exist_ok=True)
    pending = []
    with ThreadPoolExecutor(max_workers=_ENCODE_THREADS) as pool:
        for frame in read_frames(video, sorted(indices), max_side=max_side, info=info, report=report):
            name = f"{prefix}/{frame.index:06d}.jpg"
            pending.append((pool.submit(write_jpeg, frame.image, images_dir / name),
                            StoredFrame(frame.index, frame.timestamp, name)))
            while len(pending) > _ENCODE_QUEUE or (pending and pending[0][0].done()):
                future, stored = pending.pop(0)
                future.result()
                yield stored
        for future, stored in pending:
            future.result()
            yield stored


def store_image(src: Path, images_dir: Path, name: str, max_side: int | None = None) -> tuple[tuple[int, int],
                                                                                                tuple[int, int]]:
    """Store the still ``src`` as ``images_dir/name``; returns ``(file size, stored size)`` as (w, h).

    JPEG and PNG files are copied byte for byte unless ``max_side`` shrinks them; other formats are re-encoded
    (``name`` must then end in ``.jpg``). Unreadable images raise :class:`DftagError`.
    """
    try:
        with Image.open(src) as im:
            actual = im.size
            out_size = output_size(_Size(*actual), max_side=max_side)
            dst = images_dir / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if out_size == actual and im.format in ("JPEG", "PNG"):
                dst.write_bytes(src.read_bytes())
            else:
                im = im.convert("RGB")
                if out_size != actual:
                    im = im.resize(out_size, Image.Resampling.LANCZOS)
                im.save(dst, **({"format": "PNG"} if dst.suffix.lower() == ".png"
                                else {"format": "JPEG", "quality": JPEG_QUALITY}))
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DftagError(f"cannot read image: {e}", src) from None
    return actual, out_size


@dataclass(frozen=True)
class _Size:
    """The two fields of :class:`VideoInfo` that :func:`dftag.annotations.video.output_size` reads."""

    width: int
    height: int
