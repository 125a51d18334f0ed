"""Shared test fixtures: tiny generated videos and an in-process ``dftag`` runner."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from annotations.video import ffmpeg_exe

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"

# ``make_video(..., fps=10, seconds=3, extra=VFR_ARGS)``: 20 frames, the first 10 at 0.1 s steps, then 0.2 s steps.
VFR_ARGS = ["-frames:v", "20", "-vf", "settb=1/1000,setpts='if(lt(N,10),N/10,1+(N-10)/5)/TB'",
            "-fps_mode", "passthrough"]


@pytest.fixture
def make_video(tmp_path):
    """Generate a short test-pattern MP4 with the bundled ffmpeg; returns its path.

    ``make_video(name, size=(w, h), fps=25, seconds=1.0, audio=False, extra=[...])``; ``extra`` are ffmpeg
    output options (e.g. a ``setpts`` filter for variable frame rate).
    """

    def make(name: str = "clip.mp4", size: tuple[int, int] = (160, 120), fps: float = 25, seconds: float = 1.0,
             audio: bool = False, extra: list[str] | None = None, pattern: str = "testsrc2") -> Path:
        out = tmp_path / name
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi",
               "-i", f"{pattern}=size={size[0]}x{size[1]}:rate={fps}"]
        if audio:
            cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
        cmd += ["-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", *(extra or [])]
        if audio:
            cmd += ["-c:a", "aac"]
        subprocess.run([*cmd, str(out)], check=True)
        return out

    return make


@pytest.fixture
def dftag(capsys):
    """Run ``dftag ARGS`` in-process; returns ``(exit_code, stdout, stderr)``."""
    from tools.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse usage errors
            code = e.code if isinstance(e.code, int) else 1
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
