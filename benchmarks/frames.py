"""Benchmark: ``dftag convert`` of a CVAT video export against one bare ffmpeg decode of the same clip.

Generates a 10 s 1920x1080 30 fps H.264 clip with the bundled ffmpeg (lavfi ``testsrc2``) and a CVAT for video
1.1 export with 60 annotated frames spread over it, then times, side by side in this one run:

* ``ffmpeg -i clip.mp4 -f null -`` (the floor: decoding every frame once), and
* ``dftag convert --format cvat-video``'s library call (decode once, select 60 frames, JPEG q95, dataset
  JSON).

Prints both times and their ratio (target <= 2.0). Usage: ``python benchmarks/frames.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from dftag.annotations.exports import convert_export
from dftag.annotations.video import ffmpeg_exe

SIZE, FPS, SECONDS, ANNOTATED = (1920, 1080), 30, 10, 60


def make_clip(path: Path) -> None:
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi",
                    "-i", f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate={FPS}", "-t", str(SECONDS), "-c:v", "libx264",
                    "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)], check=True)


def make_export(path: Path, video: str) -> None:
    """One track shown on ``ANNOTATED`` evenly spaced frames (each a keyframe followed by an outside box)."""
    step = SECONDS * FPS // ANNOTATED
    boxes = []
    for k in range(ANNOTATED):
        f, x = k * step, 100 + 10 * k
        common = f'xtl="{x}" ytl="200" xbr="{x + 300}" ybr="560" occluded="0" keyframe="1" z_order="0"'
        boxes.append(f'<box frame="{f}" outside="0" {common}/><box frame="{f + 1}" outside="1" {common}/>')
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version><meta><task>'
                    f'<id>1</id><name>bench</name><size>{SECONDS * FPS}</size><mode>interpolation</mode>'
                    f'<original_size><width>{SIZE[0]}</width><height>{SIZE[1]}</height></original_size>'
                    f'<source>{video}</source></task></meta><track id="0" label="fake" source="manual">'
                    f'{"".join(boxes)}</track></annotations>')


def time_decode(clip: Path) -> float:
    start = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(clip), "-f", "null", "-"], check=True)
    return time.perf_counter() - start


def time_convert(xml: Path, media: Path, out: Path) -> float:
    start = time.perf_counter()
    convert_export("cvat-video", xml, out, media=media, overwrite=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the fastest counts (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dftag-bench-frames-") as tmp:
        root = Path(tmp)
        clip = root / "clip.mp4"
        make_clip(clip)
        make_export(root / "annotations.xml", clip.name)
        decode, convert = [], []
        for _ in range(args.repeat):
            decode.append(time_decode(clip))
            convert.append(time_convert(root / "annotations.xml", root, root / "dataset"))
        images = len(list((root / "dataset" / "images").rglob("*.jpg")))
    print(f"clip: {SIZE[0]}x{SIZE[1]} {FPS} fps {SECONDS} s; {images} frames stored")
    print(f"bare ffmpeg decode to null: {min(decode):.2f} s (runs: {', '.join(f'{t:.2f}' for t in decode)})")
    print(f"dftag convert:              {min(convert):.2f} s (runs: {', '.join(f'{t:.2f}' for t in convert)})")
    print(f"ratio convert / decode: {min(convert) / min(decode):.2f} (target <= 2.0)")


if __name__ == "__main__":
    main()
