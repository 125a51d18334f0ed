"""Video input and output through ffmpeg-python and the ffmpeg binary bundled by imageio-ffmpeg.

No system ffmpeg is needed; set ``DFTAG_FFMPEG=/path/to/ffmpeg`` to use another binary. The bundled build
has no ffprobe, so :func:`probe` reads the stream description ffmpeg prints for ``-i``.

Conventions:

* frames are ``uint8`` RGB arrays of shape ``(height, width, 3)`` in display orientation: ffmpeg applies the
  rotation metadata of phone videos, so ``VideoInfo.width``/``height`` are the upright (display) size and
  ``coded_width``/``coded_height`` the size as stored;
* ``Frame.index`` is the 0-based frame number (what labelling tools call the frame number: the position in
  decode order of an intact file) and ``Frame.timestamp`` the frame's presentation time in seconds, read per
  frame, so variable frame rate files are handled. Numbers come from presentation times
  (:class:`FrameTable`), not from counting decoded frames, so a frame the decoder drops (corrupt data)
  leaves a gap instead of shifting every later frame; :class:`DecodeReport` says what was lost;
* decoding streams one frame at a time from a pipe: memory does not grow with the video's length.
"""

from __future__ import annotations

import bisect
import os
import queue
import re
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ffmpeg
import numpy as np

from dftag.core.atomic import temporary_file
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
        reason = "no video stream" if _AUDIO.search(text) else next(  # the cause, not ffmpeg's last word
            (ln.split("] ", 1)[-1] for ln in last if re.search(r"invalid|too large|unsupported", ln, re.I)),
            last[-1] if last else "unreadable")
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


@dataclass(frozen=True)
class FrameTable:
    """The frames the first video stream of a file holds, read from its packets without decoding.

    ``times`` are the packets' presentation times in seconds, sorted; ``step`` is the frame duration when the
    stream has a constant frame rate (every packet equally long, every time on the grid), else ``None``;
    ``file_end`` is where the last packet of any video or audio stream ends (a file cut short ends early in all
    of them; a file whose audio outlasts the video does not).
    A frame's number is its place on this time line: ``round((t - times[0]) / step)`` at a constant rate, so a
    frame the decoder drops (corrupt data) or whose packet is missing from the file leaves a gap in the
    numbers instead of shifting every later frame onto the wrong number; at a variable rate, its rank among
    ``times`` (the decode-order number labelling tools show).
    """

    times: tuple[float, ...]
    step: float | None
    file_end: float = 0.0  # where the file's last packet of any stream (video or audio) ends, seconds

    @property
    def last(self) -> int:
        """The number of the last frame the file holds."""
        return self._grid(self.times[-1]) if self.step else len(self.times) - 1

    @property
    def end_time(self) -> float:
        """Where the last frame the file holds stops being shown (seconds)."""
        if self.step:
            return self.times[-1] + self.step
        return self.times[-1] + (self.times[-1] - self.times[-2] if len(self.times) > 1 else 0.0)

    def _grid(self, t: float) -> int:
        return round((t - self.times[0]) / self.step)

    def time(self, number: int) -> float:
        return self.times[0] + number * self.step if self.step else self.times[number]

    def number(self, t: float) -> int | None:
        """The number of the frame shown at ``t`` seconds; ``None`` when no frame of the file is near ``t``."""
        if self.step:
            n = self._grid(t)
            return n if n >= 0 and abs(t - self.time(n)) <= self.step / 2 else None
        k = bisect.bisect_left(self.times, t)
        j = min((j for j in (k - 1, k) if 0 <= j < len(self.times)), key=lambda j: abs(self.times[j] - t))
        gaps = [abs(self.times[i] - self.times[j]) for i in (j - 1, j + 1) if 0 <= i < len(self.times)]
        return j if not gaps or abs(t - self.times[j]) < min(gaps) / 2 else None

    def window(self, first: int, last: int) -> tuple[float, float]:
        """Times (seconds) that hold exactly the frames ``first`` to ``last``: half-way to the neighbours."""
        if self.step:
            return self.time(first) - self.step / 2, self.time(last) + self.step / 2
        t = self.times
        lo = (t[first - 1] + t[first]) / 2 if first > 0 else t[first] - 1.0
        hi = (t[last] + t[last + 1]) / 2 if last + 1 < len(t) else t[last] + 1.0
        return lo, hi


_PACKET = re.compile(r"^\s*(\d+),\s*(-?\d+),\s*(-?\d+),\s*(-?\d+),\s*\d+,\s*0x[0-9a-fA-F]+(?:,\s*F=0x([0-9a-fA-F]+))?")
_TIME_BASE = re.compile(r"^#tb (\d+): (\d+)/(\d+)")
_NO_PTS = -(2 ** 63)
_DISCARD = 0x4  # AV_PKT_FLAG_DISCARD: a packet the decoder drops on purpose (edit lists)


def frame_table(path: str | os.PathLike[str]) -> FrameTable | None:
    """The :class:`FrameTable` of ``path``'s first video stream (one demuxing pass, no decoding; about 50 ms for
    a 10 s 720p clip), or ``None`` when its packets carry no usable timestamps. The audio packets are listed
    too, for :attr:`FrameTable.file_end`."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
                           "-map", "0:v:0", "-map", "0:a?", "-c", "copy", "-f", "framecrc", "-"],
                          capture_output=True, text=True, errors="replace")
    time_bases: dict[int, float] = {}
    pts: list[int] = []
    durations: list[int] = []
    file_end = 0.0
    for line in proc.stdout.splitlines():
        if line.startswith("#"):
            m = _TIME_BASE.match(line)
            if m and int(m.group(2)) > 0 and int(m.group(3)) > 0:
                time_bases.setdefault(int(m.group(1)), int(m.group(2)) / int(m.group(3)))
            continue
        m = _PACKET.match(line)
        if m is None or (m.group(5) and int(m.group(5), 16) & _DISCARD):
            continue
        stream, p, d = int(m.group(1)), int(m.group(3)), int(m.group(4))
        if p == _NO_PTS:
            if stream == 0:
                return None
            continue
        if stream in time_bases:
            file_end = max(file_end, (p + max(d, 0)) * time_bases[stream])
        if stream == 0:
            pts.append(p)
            durations.append(d)
    if 0 not in time_bases or not pts or len(set(pts)) != len(pts):
        return None
    seconds = time_bases[0]
    times = tuple(p * seconds for p in sorted(pts))
    body = durations[:-1]  # the last packet's duration is often cut short
    if len(body) >= 1 and min(body) > 0 and max(body) - min(body) <= 1:
        table = FrameTable(times, sum(body) / len(body) * seconds, file_end)
        numbers = [table.number(t) for t in times]
        if None not in numbers and len(set(numbers)) == len(numbers) and all(
                abs(t - table.time(n)) <= table.step / 4 for t, n in zip(times, numbers)):
            return table
    return FrameTable(times, None, file_end)


@dataclass
class DecodeReport:
    """What one :func:`read_frames` pass found about the file; filled in when its iterator is exhausted.

    ``frames`` is how many frames the file holds by its packets (last number + 1), ``None`` when unknown.
    ``truncated`` is set when the header's duration runs on past the last packet of every stream (the file was
    cut short); ``expected`` is then how many frames the header promises (constant frame rate only). ``gaps``
    are runs ``(first, last)`` of frames the file holds but the decoder could not decode (corrupt data): later
    frames keep their numbers. ``lost_at_end`` are frames among the file's last few (the partly written end of
    a truncated file) that did not decode.
    """

    frames: int | None = None
    truncated: bool = False
    expected: int | None = None
    decoded: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)
    lost_at_end: list[int] = field(default_factory=list)
    complete: bool = False

    @property
    def missing(self) -> set[int]:
        """Every frame number the file holds that did not decode."""
        return {n for a, b in self.gaps for n in range(a, b + 1)} | set(self.lost_at_end)


# A truncated file's header duration exceeds its last packet by more than this many seconds / frames.
_TRUNCATED_SECONDS, _TRUNCATED_FRAMES = 0.5, 3
# Frames this close to the last packet are decoded out of order (B-frames): frames missing there are the end of a
# file cut short (or damaged at its end), not a gap in the middle.
_REORDER_DEPTH = 4


def _start_report(report: DecodeReport, table: FrameTable | None, info: VideoInfo) -> None:
    if table is None:
        return
    report.frames = table.last + 1
    frame = table.step or (table.end_time - table.times[0]) / max(len(table.times), 1)
    end = max(table.end_time, table.file_end)
    if info.duration and info.duration - end > max(_TRUNCATED_SECONDS, _TRUNCATED_FRAMES * frame):
        report.truncated = True
        if table.step:
            report.expected = round(info.duration / table.step)


def _finish_report(report: DecodeReport, table: FrameTable | None, decoded_times: list[float]) -> None:
    report.decoded = len(decoded_times)
    report.complete = True
    if table is None:
        return
    decoded = {table.number(t) for t in decoded_times}
    held = range(table.last + 1) if table.step else range(len(table.times))
    runs = _runs([n for n in held if n not in decoded])
    for a, b in runs:
        if b >= table.last - _REORDER_DEPTH:
            report.lost_at_end.extend(range(a, b + 1))
        else:
            report.gaps.append((a, b))


def read_frames(path: str | os.PathLike[str], indices: Iterable[int] | None = None,
                size: tuple[int, int] | None = None, max_side: int | None = None,
                info: VideoInfo | None = None, report: DecodeReport | None = None,
                reference_only: bool = False) -> Iterator[Frame]:
    """Decode ``path`` once, yielding the frames at ``indices`` (all when ``None``) in decode order.

    Frames are numbered by presentation time (:class:`FrameTable`): a frame the decoder drops (corrupt data)
    is missing from the output and every later frame keeps its own number. ``size`` (width, height) or
    ``max_side`` scale frames inside ffmpeg. Indices past the end are simply not yielded; ``report`` (a
    :class:`DecodeReport`) is filled in with what did not decode once the iterator is exhausted. Raises
    :class:`DftagError` when ffmpeg cannot decode the file.

    ``reference_only`` decodes only the frames other frames are predicted from (ffmpeg ``-skip_frame
    noref``): an H.264 or HEVC stream's non-reference B-frames, often half of its frames, are never decoded,
    and every frame that is comes out exactly as a full decode gives it. Each wanted index is then served by
    the first decoded frame at or after it, before the next wanted index and at most
    :data:`REFERENCE_REACH` frames later (``Frame.index`` is the frame's own number); an index with none is
    not yielded. It needs ``indices`` and no ``report`` (skipped frames are not damage); when two indices are
    adjacent, or the file has no frame timestamps, every frame is decoded as without it.
    """
    if reference_only and (indices is None or report is not None):
        raise ValueError("reference_only needs indices and no report")
    info = info or probe(path)
    out_w, out_h = output_size(info, size, max_side)
    wanted = sorted(set(indices)) if indices is not None else None
    table = frame_table(path)
    if report is not None:
        _start_report(report, table, info)
    if wanted is not None and table is not None:
        wanted = [n for n in wanted if 0 <= n <= table.last]
    if wanted is not None and not wanted:
        return  # nothing decoded: ``report`` knows the file's length, not its gaps
    reach = None
    # without timestamps the decoder's own count would skip numbers; adjacent indices leave nothing to skip
    reference_only = reference_only and table is not None and all(b - a > 1 for a, b in zip(wanted, wanted[1:]))
    if reference_only:
        later = [*wanted[1:], wanted[-1] + REFERENCE_REACH + 1]
        reach = [(n, min(n + REFERENCE_REACH, next_n - 1)) for n, next_n in zip(wanted, later)]
        wanted = [n for first, last in reach for n in range(first, min(last, table.last) + 1)]
    # showinfo before the selection logs every decoded frame, the one after it each frame delivered
    source = ffmpeg.input(str(path), skip_frame="noref") if reference_only else ffmpeg.input(str(path))
    stream = source.video.filter("showinfo", checksum=0)
    python_filter: set[int] | None = None
    by_count: list[int] | None = None
    if wanted is not None:
        runs = _runs(wanted)
        if len(runs) > _MAX_SELECT_RUNS:
            python_filter = set(wanted)
        else:
            if table is None:  # no timestamps to go by: the decoder's own count
                by_count = wanted
                expr = "+".join(f"between(n,{a},{b})" for a, b in runs)
            else:
                expr = "+".join("between(t,{:.9f},{:.9f})".format(*table.window(a, b)) for a, b in runs)
            stream = stream.filter("select", expr).filter("showinfo", checksum=0)
    if (out_w, out_h) != (info.width, info.height):
        stream = stream.filter("scale", out_w, out_h, flags="area")
    cmd = (stream.output("pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough")
           .global_args("-nostdin", "-hide_banner", "-loglevel", "info")
           .compile(cmd=ffmpeg_exe()))
    keep = set(wanted) if wanted is not None else None
    selecting = wanted is not None and python_filter is None
    frames = _stream_frames(cmd, path, out_w, out_h, table, keep, by_count, selecting, report)
    yield from frames if reach is None else _first_of_each(frames, reach)


REFERENCE_REACH = 4  # frames: how far past a wanted index ``reference_only`` looks for a decoded frame


def _first_of_each(frames: Iterator[Frame], reach: list[tuple[int, int]]) -> Iterator[Frame]:
    """The first of ``frames`` (in increasing number) inside each ``(first, last)`` range of ``reach``."""
    starts = [first for first, _ in reach]
    served: set[int] = set()
    for frame in frames:
        k = bisect.bisect_right(starts, frame.index) - 1
        if k >= 0 and frame.index <= reach[k][1] and k not in served:
            served.add(k)
            yield frame


_TAIL_LINES = 40  # ffmpeg log lines kept to explain a failure
_DECODE_PROBLEM = re.compile(r"partial file|Invalid data|Invalid NAL|corrupt|moov atom|Decoding error", re.I)
_LOG_PREFIX = re.compile(r"^(\[[^\]]*@ 0x[0-9a-f]+\]\s*)+")


def _decode_failure(lines: list[str]) -> str:
    """The most telling of ffmpeg's log lines: the first naming a decoding problem, else the last one."""
    telling = [ln for ln in lines if _DECODE_PROBLEM.search(ln)]
    line = telling[0] if telling else (lines[-1] if lines else "")
    return _LOG_PREFIX.sub("", line)


_SHOWINFO = re.compile(r"\[Parsed_showinfo_(\d+) @ [^\]]*\]\s*n:\s*\d+\s+pts:\s*(-?\d+)\s+pts_time:\s*(-?[\d.e+-]+)")
_SHOWINFO_TB = re.compile(r"\[Parsed_showinfo_(\d+) @ [^\]]*\]\s*config in time_base:\s*(\d+)/(\d+)")


def _stream_frames(cmd: list[str], path, width: int, height: int, table: FrameTable | None,
                   keep: set[int] | None, by_count: list[int] | None, selecting: bool,
                   report: DecodeReport | None) -> Iterator[Frame]:
    """Read raw frames from ffmpeg's stdout; showinfo instance 0 (before any selection) logs every decoded
    frame, the last instance each delivered one (the same instance when nothing is selected)."""
    frame_bytes = width * height * 3
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            bufsize=0)
    delivered: queue.Queue[float | None] = queue.Queue()
    decoded_times: list[float] = []
    tail: list[str] = []

    def read_stderr() -> None:
        time_bases: dict[str, float] = {}
        for raw in iter(proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace")
            m = _SHOWINFO.search(line)
            if m:
                instance = m.group(1)
                t = int(m.group(2)) * time_bases[instance] if instance in time_bases else float(m.group(3))
                if instance == "0":
                    decoded_times.append(t)
                if instance != "0" or not selecting:
                    delivered.put(t)
                continue
            m = _SHOWINFO_TB.search(line)
            if m:
                if int(m.group(3)):
                    time_bases[m.group(1)] = int(m.group(2)) / int(m.group(3))
            elif line.strip() and "Parsed_showinfo" not in line:
                tail[:] = (tail + [line.strip()])[-_TAIL_LINES:]
        delivered.put(None)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    produced = 0
    yielded: set[int] = set()
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
            t = delivered.get()
            if t is None:
                raise DftagError(f"ffmpeg lost the timestamp of frame {produced}", path)
            if table is not None:
                n = table.number(t)
            else:
                n = by_count[produced] if by_count is not None else produced
            produced += 1
            if n is None or n in yielded or (keep is not None and n not in keep):
                continue
            yielded.add(n)
            yield Frame(n, t, np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3))
        rc = proc.wait()
        reader.join(timeout=5)
        if rc != 0 and produced == 0:
            raise DftagError(f"ffmpeg could not decode the video: {_decode_failure(tail) or f'exit {rc}'}", path)
        if report is not None:
            _finish_report(report, table, decoded_times)
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
        self._tmp = temporary_file(self.path, suffix=self.path.suffix or ".mp4")
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
