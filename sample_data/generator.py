"""The built-in sample data: short videos of procedurally drawn real and face-swapped people.

``generate(out, videos=N, seed=S)`` writes::

    OUT/videos/clip_000.mp4 ...   # H.264 clips (dftag.annotations.video.VideoWriter)
    OUT/cvat/clip_000.xml ...     # CVAT for video 1.1, one task per video, sparse keyframes + outside boxes
    OUT/metadata.json             # DFDC style {"clip_001.mp4": {"label": "FAKE", "original": "clip_000.mp4", "split": "train"}}
    OUT/ground_truth.json         # every face box on every frame (see below)

Videos are made the way DFDC made its fakes: a *scene* (textured cluttered background, camera path, one to
three people moving along their paths, compression settings) is rendered once as the original, and again as
one or two fakes in which one or more people's inner faces are swapped with another identity's
(:mod:`dftag.sample_data.synthetic_faces`). A fake and its original are identical outside the swapped faces up to
compression. Some scenes have no fake; fakes of multi-person scenes may swap only one person (a *mixed* clip,
video label FAKE).

Face boxes follow piecewise-linear paths whose knots are the CVAT keyframes, so a reader that interpolates
linearly between keyframes recovers the true box on every frame (to the 0.01 px the XML stores). A track that
ends before the last frame gets one more box with ``outside="1"``. Boxes are absolute pixel ``xyxy`` floats.

``ground_truth.json``::

    {"seed": S, "videos": {"clip_000.mp4": {
        "label": "REAL", "original": null, "width": 320, "height": 240, "fps": 12.0, "frames": 36,
        "tracks": [{"track_id": 0, "label": "real", "first_frame": 0, "last_frame": 35, "keyframes": [0, 5, ...]}],
        "boxes": [[{"track_id": 0, "label": "real", "xyxy": [x1, y1, x2, y2]}, ...], ...]}}}   # per frame

Everything is a function of the seed: the same seed gives identical files on the same machine.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from dftag.annotations.dataset import CLASS_NAMES, FAKE, REAL
from dftag.annotations.video import VideoWriter
from dftag.core.atomic import atomic_dir, write_json, write_text
from dftag.sample_data.synthetic_faces import Expression, Identity, Pose, Swap, draw_face, face_aspect

Box = tuple[float, float, float, float]

DEFAULT_VIDEOS = 40
DEFAULT_SIZE = (320, 240)
DEFAULT_FRAMES = 30
DEFAULT_FPS = 12.0
VIDEOS_DIR, CVAT_DIR = "videos", "cvat"
METADATA_FILE, GROUND_TRUTH_FILE = "metadata.json", "ground_truth.json"

# Face height as a fraction of the frame height, by the number of people in the scene (40-140 px at 240 px).
FACE_HEIGHT = {1: (0.27, 0.58), 2: (0.2, 0.42), 3: (0.17, 0.31)}
PEOPLE_WEIGHTS = (0.35, 0.4, 0.25)  # chance of 1, 2, 3 people
KNOT_GAP = (3, 8)                   # frames between path knots (CVAT keyframes)
CAMERA_MARGIN = 0.08                # camera travel, fraction of the frame width
CRF_RANGE = (18, 27)                # H.264 constant rate factor per scene
NOISE_RANGE = (0.0, 3.0)            # sensor noise sigma per scene, 0-255 units
# One scene becomes: "pair" an original and one fake, "double" an original and two fakes, "real" an original.
SCENE_CYCLE = ("pair", "double", "double", "real")
SCENE_VIDEOS = {"pair": 2, "double": 3, "real": 1}
MIXED_CHANCE = 0.4                  # a fake of a multi-person scene swaps only one person


@dataclass
class Person:
    """One person in a scene: per-frame face box (``None`` while absent), pose and expression."""

    track_id: int
    identity: Identity
    boxes: list[Box | None]
    keyframes: list[int]
    poses: list[Pose]
    expressions: list[Expression]

    @property
    def first_frame(self) -> int:
        return next(i for i, b in enumerate(self.boxes) if b is not None)

    @property
    def last_frame(self) -> int:
        return max(i for i, b in enumerate(self.boxes) if b is not None)


@dataclass
class Scene:
    """Everything an original and its fakes share. Sizes in pixels; ``camera`` is the per-frame offset (x, y)
    of the view into ``background``."""

    width: int
    height: int
    fps: float
    frames: int
    background: np.ndarray
    camera: list[tuple[float, float]]
    people: list[Person]
    crf: int
    noise: float
    tint: tuple[float, float, float]
    seed: int


@dataclass
class SampleVideo:
    """One output video: a scene rendered with some of its people swapped (``swaps`` by track id)."""

    name: str
    scene: Scene
    swaps: dict[int, Swap] = field(default_factory=dict)
    original: str | None = None

    @property
    def label(self) -> str:
        return "FAKE" if self.swaps else "REAL"

    def track_label(self, track_id: int) -> str:
        return CLASS_NAMES[FAKE if track_id in self.swaps else REAL]


def _interpolate(knots: list[int], values: np.ndarray, frames: int) -> np.ndarray:
    """Per-frame values of a piecewise-linear path through ``values`` at ``knots``; shape (frames, k)."""
    idx = np.arange(frames)
    return np.stack([np.interp(idx, knots, values[:, j]) for j in range(values.shape[1])], axis=1)


def _knots(frames: int, rng: np.random.Generator) -> list[int]:
    knots = [0]
    while knots[-1] < frames - 1:
        knots.append(min(frames - 1, knots[-1] + int(rng.integers(KNOT_GAP[0], KNOT_GAP[1] + 1))))
    return knots


def _person_path(rng: np.random.Generator, knots: list[int], frames: int, lane: tuple[float, float],
                 height: int, face_h: float, aspect: float) -> np.ndarray:
    """Per-frame face boxes (frames, 4) moving piecewise-linearly inside ``lane`` (x range) and the frame."""
    lane_w = lane[1] - lane[0]
    face_h = min(face_h, 0.9 * lane_w / aspect / 1.1)
    margin = 0.03 * height
    values = []
    cx = rng.uniform(lane[0] + 0.5 * lane_w - 0.1 * lane_w, lane[0] + 0.5 * lane_w + 0.1 * lane_w)
    cy = rng.uniform(0.35, 0.6) * height
    h = face_h
    for _ in knots:
        h = float(np.clip(h * rng.uniform(0.9, 1.1), face_h * 0.8, face_h * 1.2))
        w = h * aspect
        cx = float(np.clip(cx + rng.normal(0, 0.08 * lane_w), lane[0] + w / 2 + 2, lane[1] - w / 2 - 2))
        cy = float(np.clip(cy + rng.normal(0, 0.04 * height), margin + h / 2, height - margin - h / 2))
        values.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    knot_boxes = np.round(np.asarray(values), 2)
    return _interpolate(knots, knot_boxes, frames)


def _smooth_wave(rng: np.random.Generator, frames: int, amplitude: float) -> np.ndarray:
    t = np.arange(frames)
    period = rng.uniform(12, 40)
    return amplitude * rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))


def _make_person(rng: np.random.Generator, track_id: int, knots: list[int], frames: int, fps: float,
                 lane: tuple[float, float], height: int, face_h: float) -> Person:
    identity = Identity.random(rng)
    path = _person_path(rng, knots, frames, lane, height, face_h, face_aspect(identity))
    first, last = 0, frames - 1
    if frames >= 12 and rng.random() < 0.25:
        if rng.random() < 0.5:
            first = int(rng.integers(1, frames // 3))
        else:
            last = int(rng.integers(2 * frames // 3, frames - 1))
    boxes: list[Box | None] = [tuple(float(v) for v in np.round(path[i], 3)) if first <= i <= last else None
                               for i in range(frames)]
    keyframes = sorted({first, last, *[k for k in knots if first <= k <= last]})
    roll, yaw, pitch = (_smooth_wave(rng, frames, a) + rng.uniform(-b, b) for a, b in ((10, 8), (22, 12), (10, 5)))
    poses = [Pose(float(roll[i]), float(yaw[i]), float(pitch[i])) for i in range(frames)]
    blink_every = max(2, int(rng.uniform(2.0, 4.0) * fps))
    blink_phase = int(rng.integers(blink_every))
    talking = rng.random() < 0.5
    speech = np.clip(_smooth_wave(rng, frames, 1.0) * 1.5, 0, 1) if talking else np.zeros(frames)
    expressions = [Expression(blink=(i + blink_phase) % blink_every < max(1, int(fps / 8)),
                              mouth_open=float(speech[i])) for i in range(frames)]
    return Person(track_id, identity, boxes, keyframes, poses, expressions)


def _pattern(rng: np.random.Generator, h: int, w: int, colour: np.ndarray) -> np.ndarray:
    """A ``(h, w, 3)`` patch of stripes, checks or grain in shades of ``colour``."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(4, 18)
    kind = rng.integers(3)
    if kind == 0:
        angle = rng.uniform(0, np.pi)
        wave = np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi / period) > 0
    elif kind == 1:
        wave = ((xs // period) + (ys // period)) % 2 > 0
    else:
        wave = np.sin(xs * 2 * np.pi / period + 3 * np.sin(ys / rng.uniform(5, 20))) > 0.3
    other = np.clip(colour * rng.uniform(0.55, 0.85) + rng.normal(0, 20, 3), 0, 255)
    return np.where(wave[..., None], colour, other).astype(np.float32)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A textured, cluttered room: wall and floor, patterned surfaces, furniture-like shapes, grain."""
    img = np.empty((height, width, 3), np.float32)
    horizon = int(height * rng.uniform(0.55, 0.85))
    img[:horizon] = rng.uniform(60, 230, 3)
    img[horizon:] = _pattern(rng, height - horizon, width, rng.uniform(40, 200, 3))
    low = cv2.resize(rng.normal(0, 1, (6, 8, 3)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    img += 18 * low
    scale = min(width, height)
    for _ in range(int(rng.integers(10, 26))):
        colour = rng.uniform(10, 245, 3)
        x, y = int(rng.uniform(0, width)), int(rng.uniform(0, height))
        w, h = int(rng.uniform(0.05, 0.4) * scale) + 2, int(rng.uniform(0.05, 0.5) * scale) + 2
        kind = rng.integers(5)
        if kind == 0:
            patch = img[y:y + h, x:x + w]
            patch[:] = _pattern(rng, h, w, colour)[:patch.shape[0], :patch.shape[1]]
        elif kind == 1:
            cv2.rectangle(img, (x, y), (x + w, y + h), tuple(colour), -1)
        elif kind == 2:
            cv2.rectangle(img, (x, y), (x + w, y + h), tuple(colour), int(rng.integers(2, 6)))
        elif kind == 3:
            cv2.ellipse(img, (x, y), (w // 2, h // 3), float(rng.uniform(0, 180)), 0, 360, tuple(colour), -1,
                        cv2.LINE_AA)
        else:
            cv2.line(img, (x, y), (int(x + rng.normal(0, w)), int(y + rng.normal(0, h))), tuple(colour),
                     int(rng.integers(1, 5)), cv2.LINE_AA)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 0.5)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_scene(rng: np.random.Generator, size: tuple[int, int], frames: int, fps: float,
               people: int | None = None) -> Scene:
    """A random scene of ``size`` (width, height) with ``people`` (1-3, random when ``None``) in it."""
    width, height = size
    n = people or int(rng.choice([1, 2, 3], p=PEOPLE_WEIGHTS))
    knots = _knots(frames, rng)
    margin = int(round(CAMERA_MARGIN * width))
    background = _background(rng, width + 2 * margin, height + 2 * margin)
    cam_knots = rng.uniform(0, 2 * margin, (len(knots), 2))
    camera = [tuple(float(v) for v in row) for row in _interpolate(knots, cam_knots, frames)]
    lo, hi = FACE_HEIGHT[n]
    lane_w = width / n
    persons = [_make_person(rng, i, knots, frames, fps, (i * lane_w, (i + 1) * lane_w), height,
                            rng.uniform(lo, hi) * height) for i in range(n)]
    tint = tuple(float(v) for v in rng.uniform(0.88, 1.08, 3))
    return Scene(width, height, fps, frames, background, camera, persons,
                 int(rng.integers(CRF_RANGE[0], CRF_RANGE[1] + 1)), float(rng.uniform(*NOISE_RANGE)), tint,
                 int(rng.integers(2**31)))


def render_frame(scene: Scene, index: int, swaps: dict[int, Swap] | None = None) -> np.ndarray:
    """Frame ``index`` of ``scene`` as uint8 RGB, with the people in ``swaps`` (by track id) face-swapped.

    Everything but the swapped inner faces is the same for every ``swaps``; the per-frame swap flicker and the
    sensor noise are seeded by the scene seed and the frame index.
    """
    swaps = swaps or {}
    ox, oy = scene.camera[index]
    shift = np.float32([[1, 0, -ox], [0, 1, -oy]])
    frame = cv2.warpAffine(scene.background, shift, (scene.width, scene.height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    present = [p for p in scene.people if p.boxes[index] is not None]
    # people whose faces are lower are nearer the camera: drawn last, so no shoulder covers a face
    for person in sorted(present, key=lambda p: p.boxes[index][3]):
        swap = swaps.get(person.track_id)
        flicker = np.random.default_rng([scene.seed, index, person.track_id]) if swap else None
        draw_face(frame, person.boxes[index], person.identity, flicker, pose=person.poses[index],
                  expression=person.expressions[index], swap=swap)
    out = frame.astype(np.float32) * np.asarray(scene.tint, np.float32)
    noise_rng = np.random.default_rng([scene.seed, index, 2**20])
    out += noise_rng.standard_normal(out.shape, dtype=np.float32) * np.float32(scene.noise)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def write_video(path: str | Path, scene: Scene, swaps: dict[int, Swap] | None = None) -> None:
    """Render and encode every frame of ``scene`` to ``path`` (H.264, the scene's CRF)."""
    with VideoWriter(path, scene.width, scene.height, scene.fps, crf=scene.crf) as writer:
        for i in range(scene.frames):
            writer.write(render_frame(scene, i, swaps))


def write_face_clip(path: str | Path, tracks: Sequence[Sequence[Sequence[float] | None]],
                    size: tuple[int, int], fps: float = DEFAULT_FPS, seed: int = 0,
                    fake_tracks: Sequence[int] = ()) -> None:
    """Write a clip whose faces follow given boxes: ``tracks[t][f]`` is face ``t``'s xyxy box on frame ``f``
    (``None`` while absent). Tracks listed in ``fake_tracks`` are face-swapped. For tracker and IO tests."""
    rng = np.random.default_rng(seed)
    frames = len(tracks[0]) if tracks else 0
    if any(len(t) != frames for t in tracks):
        raise ValueError("every track needs one entry per frame")
    margin = int(round(CAMERA_MARGIN * size[0]))
    people = []
    for t, boxes in enumerate(tracks):
        present = [i for i, b in enumerate(boxes) if b is not None]
        people.append(Person(t, Identity.random(rng), [tuple(map(float, b)) if b is not None else None for b in boxes],
                             present, [Pose()] * frames, [Expression()] * frames))
    scene = Scene(size[0], size[1], fps, frames, _background(rng, size[0] + 2 * margin, size[1] + 2 * margin),
                  [(float(margin), float(margin))] * frames, people, 20, 0.0, (1.0, 1.0, 1.0),
                  int(rng.integers(2**31)))
    write_video(path, scene, {t: Swap.random(rng) for t in fake_tracks})


def plan_videos(rng: np.random.Generator, count: int, size: tuple[int, int], frames: int,
                fps: float) -> list[SampleVideo]:
    """``count`` videos: scenes in the :data:`SCENE_CYCLE` pattern (originals, their fakes, real-only)."""
    videos: list[SampleVideo] = []
    forced_mixed = False
    step = 0
    while len(videos) < count:
        kind = SCENE_CYCLE[step % len(SCENE_CYCLE)]
        step += 1
        if SCENE_VIDEOS[kind] > count - len(videos):
            kind = "real"
        people = 2 if kind != "real" and not forced_mixed else None
        scene = make_scene(rng, size, frames, fps, people)
        original = SampleVideo(f"clip_{len(videos):03d}.mp4", scene)
        videos.append(original)
        for _ in range(SCENE_VIDEOS[kind] - 1):
            tracks = [p.track_id for p in scene.people]
            if len(tracks) > 1 and (not forced_mixed or rng.random() < MIXED_CHANCE):
                swapped = [int(rng.choice(tracks))]
                forced_mixed = True
            else:
                swapped = tracks
            videos.append(SampleVideo(f"clip_{len(videos):03d}.mp4", scene,
                                      {t: Swap.random(rng) for t in swapped}, original.name))
    return videos


def cvat_xml(video: SampleVideo, task_id: int) -> str:
    """The CVAT for video 1.1 export of ``video``: one task, one track per person, sparse keyframes."""
    scene = video.scene
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    stem = Path(video.name).stem
    for tag, text in (("id", task_id), ("name", stem), ("size", scene.frames), ("mode", "interpolation"),
                      ("overlap", 0), ("bugtracker", ""), ("flipped", "False"), ("start_frame", 0),
                      ("stop_frame", scene.frames - 1), ("frame_filter", "")):
        ET.SubElement(task, tag).text = str(text)
    labels = ET.SubElement(task, "labels")
    for name, colour in ((CLASS_NAMES[REAL], "#33ddff"), (CLASS_NAMES[FAKE], "#ff355e")):
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = name
        ET.SubElement(label, "color").text = colour
        ET.SubElement(label, "type").text = "rectangle"
        ET.SubElement(label, "attributes")
    segment = ET.SubElement(ET.SubElement(task, "segments"), "segment")
    for tag, text in (("id", task_id), ("start", 0), ("stop", scene.frames - 1), ("url", "")):
        ET.SubElement(segment, tag).text = str(text)
    size = ET.SubElement(task, "original_size")
    ET.SubElement(size, "width").text = str(scene.width)
    ET.SubElement(size, "height").text = str(scene.height)
    ET.SubElement(task, "source").text = video.name
    for person in scene.people:
        track = ET.SubElement(root, "track", id=str(person.track_id), label=video.track_label(person.track_id),
                              source="manual")
        marks = [(f, "0") for f in person.keyframes]
        if person.last_frame + 1 < scene.frames:
            marks.append((person.last_frame + 1, "1"))
        for frame, outside in marks:
            box = person.boxes[min(frame, person.last_frame)]
            ET.SubElement(track, "box", frame=str(frame), keyframe="1", outside=outside, occluded="0",
                          xtl=f"{box[0]:.2f}", ytl=f"{box[1]:.2f}", xbr=f"{box[2]:.2f}", ybr=f"{box[3]:.2f}",
                          z_order="0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def ground_truth(video: SampleVideo) -> dict[str, Any]:
    """The per-frame boxes of ``video`` (see the module docstring)."""
    scene = video.scene
    boxes: list[list[dict[str, Any]]] = [[] for _ in range(scene.frames)]
    tracks = []
    for person in scene.people:
        label = video.track_label(person.track_id)
        tracks.append({"track_id": person.track_id, "label": label, "first_frame": person.first_frame,
                       "last_frame": person.last_frame, "keyframes": person.keyframes})
        for i, box in enumerate(person.boxes):
            if box is not None:
                boxes[i].append({"track_id": person.track_id, "label": label, "xyxy": list(box)})
    return {"label": video.label, "original": video.original, "width": scene.width, "height": scene.height,
            "fps": scene.fps, "frames": scene.frames, "tracks": tracks, "boxes": boxes}


def _write_video_job(job: tuple[Path, Scene, dict[int, Swap]]) -> None:
    write_video(*job)


def generate(out: str | Path, videos: int = DEFAULT_VIDEOS, seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE,
             frames: int = DEFAULT_FRAMES, fps: float = DEFAULT_FPS, force: bool = False, jobs: int = 1,
             progress: bool = False) -> list[SampleVideo]:
    """Write the sample data set to ``out`` atomically (replacing it with ``force``); returns the videos.

    ``jobs`` processes render and encode videos in parallel; the output does not depend on it.
    """
    if videos < 1 or frames < 2 or fps <= 0 or min(size) < 32:
        raise ValueError("need videos >= 1, frames >= 2, fps > 0 and a frame size of at least 32x32")
    with atomic_dir(out, overwrite=force) as tmp:
        plan = plan_videos(np.random.default_rng(seed), videos, size, frames, fps)
        work = [(tmp / VIDEOS_DIR / v.name, v.scene, v.swaps) for v in plan]
        bar = tqdm(total=len(work), desc="sample videos", unit="video", disable=not progress)
        if jobs > 1:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                for _ in pool.map(_write_video_job, work):
                    bar.update()
        else:
            for job in work:
                _write_video_job(job)
                bar.update()
        bar.close()
        for task_id, video in enumerate(plan, start=1):
            write_text(tmp / CVAT_DIR / f"{Path(video.name).stem}.xml", cvat_xml(video, task_id))
        write_json(tmp / METADATA_FILE, {v.name: {"label": v.label, "original": v.original, "split": "train"}
                                         for v in plan}, indent=1)
        write_json(tmp / GROUND_TRUTH_FILE, {"seed": seed, "videos": {v.name: ground_truth(v) for v in plan}})
    return plan
