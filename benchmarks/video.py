"""Speed and memory of ``dftag score`` and ``dftag annotate``, measured side by side in one run.

Prints, for a 10 s 1080p clip with faces (the DFDC sample in ../shared/realdata when present, else a
generated clip with drawn synthetic faces):

* ``score`` wall time of one video (target <= 2.5 s on 2 CPU cores), with the part spent in the detector and,
  beside it, a bare decode of the same frames at the size ``score`` decodes them (reference frames only, as ``score`` does), and
  ``score --exact-frames`` (every frame decoded) with its decode;
* ``annotate`` wall time divided by a bare ffmpeg decode + H.264 encode of the same clip (target <= 2.0);
* a naive baseline (decode every frame to RGB, run the detector on each frame, draw, encode, one after the
  other) and the speed-up of ``annotate`` over it;
* peak RSS of ``dftag annotate`` (its own process, and summed with its ffmpeg decoder and encoder) on the
  10 s clip and on a long 1080p clip (``--long-minutes``, default 1; the target is < 1.5 GB at 10 minutes: memory must not grow
  with length).

Without ``--model`` a randomly initialised ssdlite-mnv2 (320 px) is used: same compute, but it finds no
faces, so pass a trained checkpoint to include tracking and drawing of real boxes.

    python benchmarks/video.py [--model runs/x/best.pt] [--stride 3] [--long-minutes 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dftag.annotations.video import VideoWriter, ffmpeg_exe, probe, read_frames  # noqa: E402
from dftag.pipeline.aggregate import ScoreRule, TrackScores  # noqa: E402
from dftag.pipeline.annotator import AnnotateSettings, annotate_video  # noqa: E402
from dftag.pipeline.render import Renderer  # noqa: E402
from dftag.pipeline.scorer import DEFAULT_FRAMES, ScoreSettings, decode_side, sample_indices, score_video  # noqa: E402

REALDATA_CLIP = ROOT.parent / "shared" / "realdata" / "polimi-ispl+icpr2020dfdc" / "notebook" / "samples" / "lynaeydofd.mp4"
SIZE, FPS, SECONDS = (1920, 1080), 30, 10
RSS_POLL_S = 0.2


def synthetic_clip(path: Path) -> Path:
    """10 s of 1080p at 30 fps with two drawn faces drifting across a textured background."""
    from dftag.sample_data.synthetic_faces import Identity, draw_face

    rng = np.random.default_rng(0)
    people = [Identity.random(rng), Identity.random(rng)]
    w, h = SIZE
    background = np.clip(rng.normal(110, 25, (h // 8, w // 8, 3)), 0, 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    with VideoWriter(path, w, h, FPS) as writer:
        for i in range(FPS * SECONDS):
            frame = background.copy()
            for k, person in enumerate(people):
                x = 200 + 900 * k + 3 * i
                draw_face(frame, [x, 300, x + 300, 700], person, rng, fake=k == 1)
            writer.write(frame)
    return path


def long_clip(path: Path, minutes: float) -> Path:
    """A long 1080p 30 fps test pattern, encoded fast by ffmpeg alone."""
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate={FPS}", "-t", str(minutes * 60), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def random_model(path: Path) -> Path:
    from dftag.detector.checkpoint import save_checkpoint
    from dftag.detector.models import build_model

    save_checkpoint(path, build_model("ssdlite-mnv2", pretrained_backbone=False))
    return path


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bare_transcode(clip: Path, out: Path) -> None:
    """What any re-encoder must pay: ffmpeg decoding and encoding H.264 (veryfast), nothing else."""
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(clip), "-an", "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
                    str(out)], check=True)


def naive_annotate(clip: Path, out: Path, detector) -> None:
    """Baseline: every frame decoded to RGB, detected alone, drawn and encoded, one step after the other."""
    info = probe(clip)
    renderer = Renderer(info.width, info.height, info.duration)
    scores = TrackScores(ScoreRule())
    with VideoWriter(out, info.width, info.height, info.fps) as writer:
        for frame in read_frames(clip):
            det = detector.predict([frame.image], score_threshold=0.5, batch_size=1)[0]
            faces = replace(det, track_ids=np.arange(1, len(det) + 1))
            for track_id, p_fake in zip(faces.track_ids.tolist(), faces.p_fake.tolist()):
                scores.add(track_id, frame.index, frame.timestamp, p_fake)
            video = scores.video_score()
            renderer.draw(frame.image, faces, faces.p_fake, frame.timestamp, video.score, video.label)
            writer.write(frame.image, frame.timestamp)


def _process_rss() -> tuple[dict[int, int], dict[int, int]]:
    """``(parent of each pid, resident bytes of each pid)`` for every process in /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        rss[int(entry)] = next((int(line.split()[1]) * 1024 for line in status.splitlines()
                                if line.startswith("VmRSS:")), 0)
    return parents, rss


def peak_rss_of(cmd: list[str]) -> tuple[int, int, float]:
    """Run ``cmd``; returns (peak RSS of its own process, peak RSS summed over it and its descendants (the
    ffmpeg decoder and encoder), wall seconds)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    own = tree = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal own, tree
        while not done.is_set():
            parents, rss = _process_rss()
            members = {proc.pid} | {p for p, pp in parents.items() if pp == proc.pid}
            own = max(own, rss.get(proc.pid, 0))
            tree = max(tree, sum(rss.get(p, 0) for p in members))
            done.wait(RSS_POLL_S)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, err = proc.communicate()
    done.set()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.decode(errors='replace').strip()}")
    return own, tree, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="detector checkpoint (default: a random ssdlite-mnv2)")
    parser.add_argument("--clip", help="10 s 1080p clip (default: realdata DFDC sample, else synthetic)")
    parser.add_argument("--stride", type=int, default=3, help="annotate detection stride (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--long-minutes", type=float, default=1.0, help="length of the memory clip (default: 1)")
    parser.add_argument("--skip-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--score-only", action="store_true", help="time score only (no annotate, no memory clips)")
    parser.add_argument("--onnx", action="store_true",
                        help="also time score with the model exported to ONNX (ONNX Runtime backend)")
    args = parser.parse_args()

    import torch

    from dftag.detector.inference import Detector

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="dftag-bench-video-"))
    model = Path(args.model) if args.model else random_model(work / "random.pt")
    clip = Path(args.clip) if args.clip else REALDATA_CLIP if REALDATA_CLIP.is_file() else synthetic_clip(work / "faces.mp4")
    info = probe(clip)
    detector = Detector.load(model)
    print(f"clip: {clip} ({info.width}x{info.height}, {info.fps} fps, {info.duration} s); model: {detector.model_id}; "
          f"torch threads: {args.threads}; cpu cores: {os.cpu_count()}")

    score_video(clip, detector, ScoreSettings(frames=4))  # warm-up (first-call allocations, file cache)
    results = []
    score_s = timed(lambda: results.append(score_video(clip, detector, ScoreSettings())))
    exact_s = timed(lambda: results.append(score_video(clip, detector, ScoreSettings(reference_only=False))))
    side = decode_side(detector, ScoreSettings())
    indices = sample_indices(info, DEFAULT_FRAMES)
    decode_s = timed(lambda: list(read_frames(clip, indices=indices, max_side=side, reference_only=True)))
    exact_decode_s = timed(lambda: list(read_frames(clip, indices=indices, max_side=side)))
    where = "full size" if side is None else f"{side} px"
    print(f"score ({DEFAULT_FRAMES} frames):            {score_s:6.2f} s   (target <= 2.5 s; detector "
          f"{results[0]['timings']['detect_s']:.2f} s; decoding the {DEFAULT_FRAMES} frames alone at {where}, "
          f"reference frames only: {decode_s:.2f} s)")
    print(f"score --exact-frames:         {exact_s:6.2f} s   (every frame decoded: {exact_decode_s:.2f} s; "
          f"reference frames only is {exact_s / score_s:.2f}x faster)")
    if args.onnx:
        from dftag.detector.export import OnnxDetector, export_onnx

        export_onnx(model, work / "model.onnx")
        onnx_detector = OnnxDetector.load(work / "model.onnx", threads=args.threads)
        score_video(clip, onnx_detector, ScoreSettings(frames=4))
        onnx_s = timed(lambda: score_video(clip, onnx_detector, ScoreSettings()))
        print(f"score ({DEFAULT_FRAMES} frames, ONNX):      {onnx_s:6.2f} s   (target <= 2.5 s)")
    if args.score_only:
        return

    bare_s = timed(lambda: bare_transcode(clip, work / "bare.mp4"))
    settings = AnnotateSettings(stride=args.stride)
    annotate_s = timed(lambda: annotate_video(clip, work / "annotated", detector, settings))
    print(f"bare ffmpeg decode+encode:    {bare_s:6.2f} s")
    print(f"annotate (stride {args.stride}):          {annotate_s:6.2f} s   ratio {annotate_s / bare_s:.2f}x bare "
          f"(target <= 2.0)")
    if not args.skip_naive:
        naive_s = timed(lambda: naive_annotate(clip, work / "naive.mp4", detector))
        print(f"naive baseline (stride 1, serial): {naive_s:6.2f} s   annotate is {naive_s / annotate_s:.1f}x faster")

    dftag = [sys.executable, "-m", "dftag", "annotate", "--model", str(model), "--stride", str(args.stride)]
    short = peak_rss_of([*dftag, str(clip), "--out", str(work / "rss_short")])
    long_path = long_clip(work / "long.mp4", args.long_minutes)
    long = peak_rss_of([*dftag, str(long_path), "--out", str(work / "rss_long")])
    for name, (own, tree, wall) in ((f"{info.duration:.0f} s clip", short), (f"{args.long_minutes:g} min clip", long)):
        print(f"peak RSS annotate, {name}: dftag process {own / 2**20:5.0f} MiB, with its ffmpeg processes "
              f"{tree / 2**20:5.0f} MiB ({wall:.0f} s; target < 1.5 GB at 10 min)")
    print(f"work files: {work}")


if __name__ == "__main__":
    main()
