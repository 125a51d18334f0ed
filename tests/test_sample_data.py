"""The built-in sample data: faces drawn tight on their boxes, CVAT/DFDC/ground-truth exports that agree,
fakes that differ from their originals only inside the swapped faces, determinism, and the command."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import defusedxml.ElementTree as SafeET
import numpy as np
import pytest

from dftag.annotations.video import probe, read_frames
from dftag.sample_data import generator as sample_data
from dftag.sample_data.synthetic_faces import Identity, Pose, draw_face

SIZE = (160, 120)
FRAMES = 12


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """Six videos: an original with a mixed fake, an original with two fakes, and a real-only clip."""
    out = tmp_path_factory.mktemp("sample") / "data"
    sample_data.generate(out, videos=6, seed=3, size=SIZE, frames=FRAMES, fps=10)
    return out


def _gt(root: Path) -> dict:
    return json.loads((root / sample_data.GROUND_TRUTH_FILE).read_text())["videos"]


def _frames(path: Path) -> np.ndarray:
    return np.stack([f.image for f in read_frames(path)]).astype(np.int16)


def _cvat_boxes(xml: Path, frames: int) -> dict[tuple[int, int], tuple[str, list[float]]]:
    """(track id, frame) -> (label, xyxy), interpolating linearly between keyframes as CVAT does."""
    out = {}
    for track in SafeET.parse(xml).getroot().iter("track"):
        keys = sorted((int(b.get("frame")), b.get("outside") == "1",
                       [float(b.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")]) for b in track.iter("box"))
        for i, (frame, outside, box) in enumerate(keys):
            if outside:
                continue
            end, nxt = (keys[i + 1][0], keys[i + 1][2]) if i + 1 < len(keys) else (frames, box)
            for f in range(frame, end):
                t = (f - frame) / (end - frame)
                out[int(track.get("id")), f] = (track.get("label"), [p + (q - p) * t for p, q in zip(box, nxt)])
    return out


def test_metadata_links_fakes_to_originals(sample):
    meta = json.loads((sample / sample_data.METADATA_FILE).read_text())
    gt = _gt(sample)
    videos = sorted(p.name for p in (sample / "videos").glob("*.mp4"))
    assert sorted(meta) == videos == sorted(gt) and len(videos) == 6
    labels = [meta[v]["label"] for v in videos]
    assert labels.count("FAKE") == 3 and labels.count("REAL") == 3
    for name, entry in meta.items():
        assert entry["split"] == "train" and entry["label"] == gt[name]["label"]
        track_labels = {t["label"] for t in gt[name]["tracks"]}
        if entry["label"] == "REAL":
            assert entry["original"] is None and track_labels == {"real"}
        else:
            original = entry["original"]
            assert meta[original]["label"] == "REAL" and "fake" in track_labels
            # same people on the same paths as the original
            assert [[b["xyxy"] for b in f] for f in gt[name]["boxes"]] == \
                   [[b["xyxy"] for b in f] for f in gt[original]["boxes"]]
    originals = {e["original"] for e in meta.values()}
    assert any(e["label"] == "REAL" and n not in originals for n, e in meta.items())  # a real-only clip
    mixed = [n for n, e in meta.items() if {t["label"] for t in gt[n]["tracks"]} == {"real", "fake"}]
    assert mixed and all(meta[n]["label"] == "FAKE" for n in mixed)


def test_videos_match_declared_size_and_length(sample):
    for name, video in _gt(sample).items():
        info = probe(sample / "videos" / name)
        assert (info.width, info.height, info.codec) == (*SIZE, "h264")
        assert video["frames"] == FRAMES == len(video["boxes"])
        assert abs(info.fps - 10) < 0.01


def test_faces_lie_inside_frames_at_plausible_sizes(sample):
    heights = []
    for video in _gt(sample).values():
        for boxes in video["boxes"]:
            for b in boxes:
                x1, y1, x2, y2 = b["xyxy"]
                assert 0 <= x1 < x2 <= SIZE[0] and 0 <= y1 < y2 <= SIZE[1]
                heights.append(y2 - y1)
    frac = np.array(heights) / SIZE[1]
    assert frac.min() >= 0.8 * min(lo for lo, _ in sample_data.FACE_HEIGHT.values())
    assert frac.max() <= 1.2 * max(hi for _, hi in sample_data.FACE_HEIGHT.values())


def test_cvat_xml_is_a_sparse_video_task_matching_ground_truth(sample):
    for name, video in _gt(sample).items():
        xml = sample / "cvat" / f"{Path(name).stem}.xml"
        root = SafeET.parse(xml).getroot()
        task = root.find("meta/task")
        assert root.findtext("version") == "1.1" and task.findtext("mode") == "interpolation"
        assert task.findtext("source") == name and int(task.findtext("size")) == FRAMES
        assert (int(task.findtext("start_frame")), int(task.findtext("stop_frame"))) == (0, FRAMES - 1)
        assert (int(task.findtext("original_size/width")), int(task.findtext("original_size/height"))) == SIZE
        assert sorted(task.findall("labels/label/name"), key=lambda e: e.text)[0].text == "fake"
        keyframes = sum(len(t.findall("box")) for t in root.iter("track"))
        assert keyframes < FRAMES * len(video["tracks"])  # sparse: the reader must interpolate
        cvat = _cvat_boxes(xml, FRAMES)
        truth = {(b["track_id"], f): (b["label"], b["xyxy"]) for f, boxes in enumerate(video["boxes"]) for b in boxes}
        assert cvat.keys() == truth.keys()
        for key, (label, box) in truth.items():
            assert cvat[key][0] == label
            assert np.abs(np.subtract(cvat[key][1], box)).max() < 0.02, (name, key)
        for track in video["tracks"]:
            if track["last_frame"] < FRAMES - 1:
                last = max(root.find(f"track[@id='{track['track_id']}']").iter("box"), key=lambda b: int(b.get("frame")))
                assert last.get("outside") == "1" and int(last.get("frame")) == track["last_frame"] + 1


def test_cvat_reader_recovers_ground_truth(sample):
    cvat = pytest.importorskip("dftag.annotations.formats.cvat")
    read = cvat.read_video(sample / "cvat", media=sample / "videos")
    gt = _gt(sample)
    assert sorted(v.name for v in read.videos) == sorted(gt)
    for video in read.videos:
        truth = gt[video.name]["boxes"]
        assert sorted(video.frames) == [f for f, boxes in enumerate(truth) if boxes]
        for f, boxes in video.frames.items():
            got = sorted((b.track_id, b.label, b.x1, b.y1, b.x2, b.y2) for b in boxes)
            want = sorted((b["track_id"], b["label"], *b["xyxy"]) for b in truth[f])
            assert [g[:2] for g in got] == [w[:2] for w in want]
            assert np.abs(np.array([g[2:] for g in got]) - np.array([w[2:] for w in want])).max() < 2


def _fake_mask(boxes: list[dict], shape: tuple[int, int], pad: int = 0) -> np.ndarray:
    inside = np.zeros(shape, bool)
    for b in boxes:
        if b["label"] == "fake":
            x1, y1 = np.floor(b["xyxy"][:2]).astype(int) - pad
            x2, y2 = np.ceil(b["xyxy"][2:]).astype(int) + pad
            inside[max(y1, 0):y2, max(x1, 0):x2] = True
    return inside


def test_rendered_fake_equals_original_outside_swapped_faces():
    rng = np.random.default_rng(4)
    plan = sample_data.plan_videos(rng, 2, SIZE, 6, 10)
    original, fake = plan
    assert fake.original == original.name and fake.scene is original.scene and fake.swaps
    for i in range(6):
        a = sample_data.render_frame(original.scene, i).astype(int)
        b = sample_data.render_frame(fake.scene, i, fake.swaps).astype(int)
        diff = np.abs(a - b).sum(-1)
        inside = _fake_mask(sample_data.ground_truth(fake)["boxes"][i], diff.shape)
        assert diff[~inside].max() == 0
        assert diff[inside].mean() > 20


def test_decoded_fake_differs_from_original_mostly_inside_swapped_faces(sample):
    meta = json.loads((sample / sample_data.METADATA_FILE).read_text())
    gt = _gt(sample)
    fakes = [(name, entry["original"]) for name, entry in meta.items() if entry["label"] == "FAKE"]
    assert len(fakes) == 3
    for name, original in fakes:
        diff = np.abs(_frames(sample / "videos" / name) - _frames(sample / "videos" / original)).mean(-1)
        inside = np.stack([_fake_mask(boxes, diff.shape[1:], pad=2) for boxes in gt[name]["boxes"]])
        # outside the swapped faces only compression noise differs: few pixels change much
        big = diff > 12
        assert big[~inside].mean() < 0.1 and big[inside].mean() > 4 * big[~inside].mean(), name


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    args = dict(videos=2, size=(96, 72), frames=4, fps=8)
    a = sample_data.generate(tmp_path / "a", seed=11, **args)
    sample_data.generate(tmp_path / "b", seed=11, jobs=2, **args)
    sample_data.generate(tmp_path / "c", seed=12, **args)
    for f in (sample_data.GROUND_TRUTH_FILE, sample_data.METADATA_FILE, f"cvat/{Path(a[1].name).stem}.xml"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    fake = f"videos/{a[1].name}"
    assert np.array_equal(_frames(tmp_path / "a" / fake), _frames(tmp_path / "b" / fake))
    assert _gt(tmp_path / "a") != _gt(tmp_path / "c")


def _bald(seed: int) -> Identity:
    return replace(Identity.random(np.random.default_rng(seed)), hair_style="bald")


@pytest.mark.parametrize("pose", [Pose(), Pose(yaw=25, pitch=-10), Pose(roll=15, yaw=-20, pitch=8)])
def test_draw_face_is_tight_on_its_box(pose):
    canvas = np.zeros((200, 200, 3), np.uint8)
    box = (60.3, 40.7, 131.6, 132.2)
    draw_face(canvas, box, _bald(5), pose=pose)
    x1, y1, x2, y2 = box
    drawn = canvas.any(-1)
    rows = np.nonzero(drawn.any(1))[0]
    cols = np.nonzero(drawn[int(y1):int(y2)].any(0))[0]  # the face rows (shoulders start below the chin)
    # pixel k covers [k, k + 1); anti-aliasing and the warp's interpolation smear edges by up to a pixel
    assert abs(rows[0] - y1) <= 2
    assert abs(cols[0] - x1) <= 2 and abs(cols[-1] + 1 - x2) <= 2


def test_fake_face_changes_only_the_inner_face():
    rng = np.random.default_rng(2)
    background = rng.integers(0, 255, (160, 160, 3), dtype=np.uint8)
    identity = Identity.random(rng)
    box = (40, 30, 110, 120)
    real, fake = background.copy(), background.copy()
    draw_face(real, box, identity)
    draw_face(fake, box, identity, np.random.default_rng(9), fake=True)
    diff = np.abs(real.astype(int) - fake.astype(int)).sum(-1)
    inside = np.zeros(diff.shape, bool)
    inside[30:120, 40:110] = True
    assert diff[~inside].max() == 0
    assert (diff[inside] > 30).mean() > 0.15


def test_write_face_clip_follows_the_given_boxes(tmp_path):
    frames = 8
    still = [(10, 10, 50, 60)] * frames
    leaving = [(90, 20, 130, 70)] * 4 + [None] * 4
    path = tmp_path / "clip.mp4"
    sample_data.write_face_clip(path, [still, leaving], size=(160, 96), fps=8, seed=1, fake_tracks=[1])
    video = _frames(path)
    assert video.shape == (frames, 96, 160, 3)
    # the second face is gone from frame 4 on: its box region changes then, the first face's does not
    gone = np.abs(video[3, 20:70, 90:130] - video[4, 20:70, 90:130]).mean()
    stays = np.abs(video[3, 10:60, 10:50] - video[4, 10:60, 10:50]).mean()
    assert gone > 10 > 2 > stays


def test_command_writes_refuses_to_overwrite_and_replaces_with_force(dftag, tmp_path):
    out = tmp_path / "s"
    args = ["sample-data", "--out", out, "--videos", "1", "--frames", "3", "--size", "96x64", "--jobs", "1"]
    code, stdout, _ = dftag(*args)
    assert code == 0 and "wrote 1 videos (1 REAL, 0 FAKE" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["cvat", "ground_truth.json", "metadata.json", "videos"]
    code, _, err = dftag(*args)
    assert code == 1 and "--force" in err and len(err.strip().splitlines()) == 1
    code, _, _ = dftag(*args, "--seed", "4", "--force")
    assert code == 0 and json.loads((out / "ground_truth.json").read_text())["seed"] == 4
    code, _, err = dftag("sample-data", "--out", out, "--size", "96by64")
    assert code == 2 and "WxH" in err
