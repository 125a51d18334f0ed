"""Video input and output through ffmpeg-python and the ffmpeg binary bundled by imageio-ffmpeg.

No system ffmpeg is needed; set ``DFTAG_FFMPEG=/path/to/ffmpeg`` to use another binary. The bundled build
has no ffprobe, so :func:`probe` reads the stream description ffmpeg prints for ``-i``.

Conventions:

* frames are ``uint8`` RGB arrays of shape ``(height, width, 3)`` in display orientation: ffmpeg applies the
  rotation metadata of phone videos, so ``VideoInfo.width``/``height`` are the upright (display) size and
  ``coded_width``/``coded_height`` the size as stored;
* ``Frame.index`` is the 0-based position in decode order (what labelling tools call the frame number) and
  ``Frame.timestamp`` the frame's presentation time in seconds, read per frame, so variable frame rate
  files are handled;
* decoding streams one frame at a time from a pipe: memory does not grow with the video's length.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from dftag.core.errors import DftagError

# More runs than this in a frame selection are filtered in Python instead of by ffmpeg's select filter.
_MAX_SELECT_RUNS = 400


def ffmpeg_exe() -> str:
    """The ffmpeg binary: ``$DFTAG_FFMPEG`` if set, else the one bundled with imageio-ffmpeg."""
    exe = os.environ.get("DFTAG_FFMPEG")
    if exe:
        return exe
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    """What ffmpeg reports about a file. Sizes in pixels, times in seconds, rotation in degrees (0/90/180/270
    clockwise to display)."""

    path: str
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation: int
    fps: float
    duration: float | None
    codec: str
    has_audio: bool
    audio_codec: str | None


@dataclass
class Frame:
    index: int
    timestamp: float
    image: np.ndarray


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+).*?, (\d{1,5})x(\d{1,5})[, \[]")
_FPS = re.compile(r"(\d+(?:\.\d+)?)(k?) (?:fps|tbr)")
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+)")
_ROTATION = re.compile(r"(?:display ?matrix: rotation of (-?\d+(?:\.\d+)?) degrees|rotate\s*:\s*(-?\d+))", re.I)


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe the first video stream of ``path``; raise :class:`DftagError` if it is not a decodable video."""
    path = Path(path)
    if not path.is_file():
        raise DftagError("video not found", path)
    if path.stat().st_size == 0:
        raise DftagError("empty file (0 bytes), not a video", path)
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                          capture_output=True, text=True, errors="replace")
    text = proc.stderr
    video = _VIDEO.search(text)
    if video is None:
        last = [ln.strip() for ln in text.splitlines() if ln.strip()]
        reason = "no video stream" if _AUDIO.search(text) else (last[-1] if last else "unreadable")
        raise DftagError(f"not a decodable video: {reason}", path)
    codec, cw, ch = video.group(1), int(video.group(2)), int(video.group(3))
    stream_line = text[video.start():].splitlines()[0]
    fps_match = _FPS.search(stream_line)
    fps = float(fps_match.group(1)) * (1000 if fps_match and fps_match.group(2) else 1) if fps_match else 0.0
    rot_match = _ROTATION.search(text[video.start():])
    rotation = 0
    if rot_match:
        # displaymatrix gives the counter-clockwise angle that undoes the rotation; 'rotate' the clockwise one.
        deg = -float(rot_match.group(1)) if rot_match.group(1) is not None else float(rot_match.group(2))
        rotation = int(round(deg)) % 360
    width, height = (ch, cw) if rotation in (90, 270) else (cw, ch)
    dur = _DURATION.search(text)
    duration = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3)) if dur else None
    audio = _AUDIO.search(text)
    return VideoInfo(str(path), width, height, cw, ch, rotation, fps, duration, codec,
                     audio is not None, audio.group(1) if audio else None)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def output_size(info: VideoInfo, size: tuple[int, int] | None = None, max_side: int | None = None) -> tuple[int, int]:
    """The ``(width, height)`` frames are delivered at: ``size`` if given, else the display size shrunk so its
    longer side is at most ``max_side`` (aspect kept, never enlarged)."""
    if size is not None:
        return size
    w, h = info.width, info.height
    if max_side and max(w, h) > max_side:
        scale = max_side / max(w, h)
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
    return w, h


def read_frames(path: str | os.PathLike[str], indices: Iterable[int] | None = None,
                size: tuple[int, int] | None = None, max_side: int | None = None,
                info: VideoInfo | None = None) -> Iterator[Frame]:
    """Decode ``path`` once, yielding the frames at ``indices`` (all when ``None``) in decode order.

    ``size`` (width, height) or ``max_side`` scale frames inside ffmpeg. Indices past the end are simply not
    yielded. Raises :class:`DftagError` when ffmpeg cannot decode the file.
    """
    info = info or probe(path)
    out_w, out_h = output_size(info, size, max_side)
    wanted = sorted(set(indices)) if indices is not None else None
    if wanted is not None and not wanted:
        return
    stream = ffmpeg.input(str(path)).video.filter("showinfo", checksum=0)
    python_filter: set[int] | None = None
    if wanted is not None:
        runs = _runs(wanted)
        if len(runs) <= _MAX_SELECT_RUNS:
            expr = "+".join(f"between(n,{a},{b})" for a, b in runs)
            stream = stream.filter("select", expr)
        else:
            python_filter = set(wanted)
    if (out_w, out_h) != (info.width, info.height):
        stream = stream.filter("scale", out_w, out_h, flags="area")
    cmd = (stream.output("pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough")
           .global_args("-nostdin", "-hide_banner", "-loglevel", "info")
           .compile(cmd=ffmpeg_exe()))
    yield from _stream_frames(cmd, path, out_w, out_h, wanted if python_filter is None else None, python_filter)


_TAIL_LINES = 40  # ffmpeg log lines kept to explain a failure
_DECODE_PROBLEM = re.compile(r"partial file|Invalid data|Invalid NAL|corrupt|moov atom|Decoding error", re.I)
_LOG_PREFIX = re.compile(r"^(\[[^\]]*@ 0x[0-9a-f]+\]\s*)+")


def _decode_failure(lines: list[str]) -> str:
    """The most telling of ffmpeg's log lines: the first naming a decoding problem, else the last one."""
    telling = [ln for ln in lines if _DECODE_PROBLEM.search(ln)]
    line = telling[0] if telling else (lines[-1] if lines else "")
    return _LOG_PREFIX.sub("", line)


_SHOWINFO = re.compile(r"\bn:\s*(\d+)\s+pts:\s*(-?\d+)\s+pts_time:\s*(-?[\d.e+-]+)")


def _stream_frames(cmd: list[str], path, width: int, height: int, selected: list[int] | None,
                   python_filter: set[int] | None) -> Iterator[Frame]:
    frame_bytes = width * height * 3
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            bufsize=0)
    timestamps: queue.Queue[tuple[int, float] | None] = queue.Queue()
    tail: list[str] = []

    def read_stderr() -> None:
        for raw in iter(proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace")
            m = _SHOWINFO.search(line)
            if m:
                timestamps.put((int(m.group(1)), float(m.group(3))))
            elif line.strip():
                tail[:] = (tail + [line.strip()])[-_TAIL_LINES:]
        timestamps.put(None)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    pts: dict[int, float] = {}

    def timestamp_of(n: int) -> float:
        while n not in pts:
            item = timestamps.get()
            if item is None:
                raise DftagError(f"ffmpeg lost the timestamp of frame {n}", path)
            pts[item[0]] = item[1]
        return pts.pop(n)

    produced = 0
    decoded = 0
    try:
        while True:
            buf = bytearray(frame_bytes)
            view = memoryview(buf)
            got = 0
            while got < frame_bytes:
                chunk = proc.stdout.readinto(view[got:])
                if not chunk:
                    break
                got += chunk
            if got < frame_bytes:
                break
            if selected is not None:
                n = selected[produced]
            else:
                n = decoded
                decoded += 1
            produced += 1
            t = timestamp_of(n)
            # drop timestamps of frames that were decoded but not selected
            for k in [k for k in pts if k < n]:
                del pts[k]
            if python_filter is not None and n not in python_filter:
                continue
            yield Frame(n, t, np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3))
        rc = proc.wait()
        reader.join(timeout=5)
        if rc != 0 and produced == 0:
            raise DftagError(f"ffmpeg could not decode the video: {_decode_failure(tail) or f'exit {rc}'}", path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)  # the stderr reader must finish before its pipe is closed under it
        proc.stdout.close()
        proc.stderr.close()


# Audio codecs an MP4 holds that browsers play: these are stream-copied, anything else is re-encoded to AAC.
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "alac", "ac3", "eac3"})
# Timestamps travel to the encoder in microseconds (Matroska TimestampScale, in nanoseconds).
_MKV_TICK_NS = 1000


def _ebml_size(n: int) -> bytes:
    """EBML variable-length size (the all-ones value of each length is reserved for 'unknown')."""
    length = 1
    while n >= (1 << (7 * length)) - 1:
        length += 1
    return ((1 << (7 * length)) | n).to_bytes(length, "big")


def _ebml(element_id: int, data: bytes) -> bytes:
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + _ebml_size(len(data)) + data


def _ebml_uint(element_id: int, value: int) -> bytes:
    return _ebml(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _mkv_header(width: int, height: int) -> bytes:
    """A minimal live Matroska header for one uncompressed RGB24 video track (codec V_UNCOMPRESSED, fourcc
    'RGB' 24) with microsecond timestamps; the Segment has unknown size so it can be streamed."""
    ebml = _ebml(0x1A45DFA3, _ebml_uint(0x4286, 1) + _ebml_uint(0x42F7, 1) + _ebml_uint(0x42F2, 4)
                 + _ebml_uint(0x42F3, 8) + _ebml(0x4282, b"matroska") + _ebml_uint(0x4287, 4)
                 + _ebml_uint(0x4285, 2))
    segment = (0x18538067).to_bytes(4, "big") + b"\x01" + b"\xff" * 7
    info = _ebml(0x1549A966, _ebml_uint(0x2AD7B1, _MKV_TICK_NS) + _ebml(0x4D80, b"dftag") + _ebml(0x5741, b"dftag"))
    video = _ebml(0xE0, _ebml_uint(0xB0, width) + _ebml_uint(0xBA, height) + _ebml(0x2EB524, b"RGB\x18"))
    track = _ebml(0xAE, _ebml_uint(0xD7, 1) + _ebml_uint(0x73C5, 1) + _ebml_uint(0x83, 1)
                  + _ebml(0x86, b"V_UNCOMPRESSED") + video)
    return ebml + segment + info + _ebml(0x1654AE6B, track)


def _mkv_frame_header(tick: int, frame_bytes: int) -> bytes:
    """A Cluster at timestamp ``tick`` holding one keyframe SimpleBlock of ``frame_bytes`` pixel bytes, up to
    (not including) those bytes."""
    block_head = b"\x81\x00\x00\x80"  # track 1, relative timestamp 0, keyframe flag
    block = b"\xa3" + _ebml_size(len(block_head) + frame_bytes) + block_head
    timestamp = _ebml_uint(0xE7, tick)
    return (0x1F43B675).to_bytes(4, "big") + _ebml_size(len(timestamp) + len(block) + frame_bytes) + timestamp + block


class VideoWriter:
    """Encode RGB frames to an H.264 (yuv420p, ``+faststart``) MP4 that keeps each frame's timestamp.

    Frames reach ffmpeg in a minimal Matroska stream on a pipe, so every frame carries its own presentation
    time (seconds; variable frame rate works): pass ``timestamp`` to :meth:`write`, or leave it out for a
    constant ``fps``. ``audio_from`` copies the first audio stream of that file (if it has one) into the
    output: stream copy for codecs in :data:`MP4_AUDIO_CODECS`, else AAC.

    The file appears at ``path`` only when :meth:`close` succeeds (atomic rename); odd sizes are padded to
    even ones, as yuv420p requires. Use as a context manager; an exception inside discards the output.
    """

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: float,
                 crf: int = 23, preset: str = "veryfast", audio_from: str | os.PathLike[str] | None = None):
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp{self.path.suffix or '.mp4'}")
        video = ffmpeg.input("pipe:", format="matroska")
        if width % 2 or height % 2:
            video = video.filter("pad", "ceil(iw/2)*2", "ceil(ih/2)*2")
        streams, audio_args = [video], {}
        source = probe(audio_from) if audio_from is not None else None
        if source is not None and source.has_audio:
            streams.append(ffmpeg.input(str(audio_from)).audio)
            audio_args = {"acodec": "copy" if source.audio_codec in MP4_AUDIO_CODECS else "aac"}
        cmd = (ffmpeg.output(*streams, str(self._tmp), vcodec="libx264", pix_fmt="yuv420p", crf=crf,
                             preset=preset, fps_mode="passthrough", movflags="+faststart", f="mp4",
                             **{"enc_time_base:v": f"1:{10**9 // _MKV_TICK_NS}"}, **audio_args)
               .global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-y")
               .compile(cmd=ffmpeg_exe()))
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self._frame_bytes = width * height * 3
        self._last_tick = -1
        self.frames_written = 0
        self._send(_mkv_header(width, height))

    def _send(self, data: bytes | memoryview) -> None:
        try:
            self._proc.stdin.write(data)
        except BrokenPipeError:
            raise DftagError(f"ffmpeg stopped encoding: {self._proc.stderr.read().decode(errors='replace').strip()}",
                             self.path) from None

    def write(self, image: np.ndarray, timestamp: float | None = None) -> None:
        """Append a frame shown at ``timestamp`` seconds (default ``frames_written / fps``). Timestamps must
        increase; a tie or step back (rounding) is moved one microsecond past the previous frame."""
        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 {(self.height, self.width, 3)}, got {image.dtype} {image.shape}")
        seconds = self.frames_written / self.fps if timestamp is None else timestamp
        tick = max(round(seconds * 1e9 / _MKV_TICK_NS), self._last_tick + 1)
        self._last_tick = tick
        self._send(_mkv_frame_header(tick, self._frame_bytes))
        self._send(memoryview(np.ascontiguousarray(image)).cast("B"))
        self.frames_written += 1

    def close(self) -> None:
        self._proc.stdin.close()
        err = self._proc.stderr.read().decode(errors="replace").strip()
        if self._proc.wait() != 0:
            self._tmp.unlink(missing_ok=True)
            raise DftagError(f"ffmpeg failed to encode: {err.splitlines()[-1] if err else 'unknown error'}", self.path)
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
