"""Careless and hostile command lines (issue 11): nothing lost, nothing overwritten, one error line.

The table :data:`ROWS` holds one case per row: the command line (paths relative to a fresh copy of the
:func:`world` folder), the expected exit status, a substring of the one error line, and what must hold for
files afterwards. A new case is one more row; a row that needs more than the world gets a ``setup`` name from
:data:`SETUPS`.

File expectations (``files``): ``SAME`` (unchanged: the same files with the same bytes), ``GONE`` (no path
matches the glob), ``THERE`` (some path matches), ``STRICT_JSON`` (parses as standard JSON: no NaN), or any
other string, which the file must contain.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SAME, GONE, THERE, STRICT_JSON = "<unchanged>", "<absent>", "<exists>", "<strict json>"
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
# root writes regardless of permission bits; without the capabilities that allow it, it is held to them
SETPRIV = shutil.which("setpriv")
UNPRIVILEGED = [SETPRIV, "--bounding-set=-dac_override,-dac_read_search",
                "--inh-caps=-dac_override,-dac_read_search", "--"]
NEEDS_PERMISSIONS = pytest.mark.skipif(ROOT and not SETPRIV, reason="root without setpriv ignores permissions")


@dataclass(frozen=True)
class Row:
    args: str
    code: int
    message: str = ""
    files: dict[str, str] = field(default_factory=dict)
    setup: str | None = None
    unprivileged: bool = False  # run where permission bits apply (as root: in a process without DAC override)


CVAT = "convert --format cvat-video --input S/cvat --media S/videos"
VSCORES = "--scores scores.csv --labels L/labels.csv"
CLIP = "S/videos/clip_000.mp4"

ROWS = {
    # 1. an output that is, contains or sits inside an input (with --force it would delete it)
    "convert-out-holds-inputs": Row(f"{CVAT} --out S --force", 1, "--out contains the input S/cvat",
                                    {"S/cvat": SAME, "S/videos": SAME}),
    "convert-out-holds-linked-inputs": Row(
        "convert --format cvat-video --input cvat-link --media videos-link --out S --force", 1,
        "--out contains the input cvat-link", {"S": SAME}, setup="links"),
    "convert-out-inside-input": Row(f"{CVAT} --out S/cvat/ds", 1, "--out is inside the input folder S/cvat",
                                    {"S/cvat/ds": GONE, "S/cvat": SAME}),
    "evaluate-out-holds-gt": Row("evaluate --preds preds.json --gt DS/test.json --out DS --force", 1,
                                 "--out contains the input DS/test.json", {"DS": SAME}),
    "evaluate-model-out-holds-split": Row("evaluate --model m.pt --data DS --out DS --force", 1,
                                          "--out contains the input DS/test.json", {"DS": SAME}),
    "evaluate-videos-out-holds-labels": Row(f"evaluate-videos {VSCORES} --out L --force", 1,
                                            "--out contains the input L/labels.csv", {"L": SAME}),
    "export-annotations-out-is-images": Row("export-annotations DS --format coco --out DS/images --force", 1,
                                            "--out would overwrite an input", {"DS": SAME}),
    "autolabel-out-holds-pairs": Row("autolabel --pairs S/metadata.json --media S/videos --out S --force", 1,
                                     "--out contains the input S/metadata.json", {"S": SAME}),
    "report-out-holds-dataset": Row("report run --out DS --force", 1, "--out contains the input DS/val.json",
                                    {"DS": SAME}),
    "train-out-inside-dataset": Row("train --data DS --out DS/images/run", 1,
                                    "--out is inside the input folder DS/images", {"DS": SAME}),
    "split-over-its-source": Row("split DS/train.json", 1, "output would overwrite an input",
                                 {"DS": SAME}),
    "export-onnx-over-model": Row("export --model m.pt --onnx m.pt", 1, "--onnx would overwrite an input",
                                  {"m.pt": SAME}),
    "score-out-inside-videos": Row("score S/videos --model m.pt --out S/videos/s.csv", 1,
                                   "--out is inside the input folder S/videos", {"S/videos": SAME}),
    "annotate-out-holds-video": Row(f"annotate {CLIP} --model m.pt --out S", 1, f"--out contains the input {CLIP}",
                                    {"S": SAME}),
    "predict-out-inside-images": Row("predict --model m.pt img --out img/p.json", 1,
                                     "--out is inside the input folder img", {"img": SAME}),
    # 2. an input overwritten with exit 0
    "predict-out-is-the-image": Row("predict --model m.pt img/x.png --out img/x.png", 1,
                                    "--out would overwrite an input", {"img": SAME}),
    "predict-out-links-to-the-image": Row("predict --model m.pt img/x.png --out p.json", 1,
                                          "--out would overwrite an input", {"img": SAME}, setup="links"),
    "calibrate-scores-over-scores": Row(f"calibrate {VSCORES} --out scores.csv", 1,
                                        "--out would overwrite an input", {"scores.csv": SAME}),
    "calibrate-model-over-model": Row("calibrate --model m.pt --data DS --out m.pt", 1,
                                      "--out would overwrite an input", {"m.pt": SAME}),
    "calibrate-video-rule-over-details": Row(f"calibrate --model m.pt {VSCORES} --out scores.details.json", 1,
                                             "--out would overwrite an input"),
    "calibrate-video-rule-over-model": Row(f"calibrate --model m.pt {VSCORES} --out m.pt", 1,
                                           "--out would overwrite an input", {"m.pt": SAME}),
    "calibrate-details-without-model": Row(f"calibrate {VSCORES} --details d.json --out c.csv", 1,
                                           "--details goes with --model and --scores", {"c.csv": GONE}),
    # 3. score's details JSON never lands on another file
    "score-details-beside-a-dataset": Row(f"score {CLIP} --model m.pt --frames 2 --out DS/annotations.csv", 0, "",
                                          {"DS/annotations.json": SAME, "DS/annotations.details.json": THERE,
                                           "DS/annotations.csv": "filename,label"}),
    "score-out-named-json": Row(f"score {CLIP} --model m.pt --frames 2 --out s.json", 0, "",
                                {"s.json": "filename,label", "s.details.json": '"videos"'}),
    "score-details-named-as-out": Row(f"score {CLIP} --model m.pt --out s.csv --details s.csv", 1,
                                      "is the same file as another output", {"s.csv": GONE}),
    # 7. temporaries of killed runs are removed by the next run into the folder; a live run's never
    "convert-removes-killed-runs-temporaries": Row(f"{CVAT} --out NEW", 0, "",
                                                   {".NEW.*": GONE, "NEW/annotations.json": THERE},
                                                   setup="killed_atomic_dir"),
    "annotate-removes-killed-runs-temporaries": Row(f"annotate {CLIP} --model m.pt --out A", 0, "",
                                                    {"A/.clip_000.*": GONE, "A/clip_000.mp4": THERE},
                                                    setup="killed_video_writer"),
    "live-and-other-hosts-temporaries-stay": Row(f"{CVAT} --out NEW", 0, "",
                                                 {".NEW.*.livelive.tmp": THERE, ".NEW.*@elsewhere.abcdefgh.tmp": THERE,
                                                  ".notes.*.tmp": THERE, ".diary.*.tmp.txt": THERE},
                                                 setup="live_temporaries"),
    # 9. an output of the wrong kind, or that cannot be written: one line before any work
    "convert-out-is-a-file": Row(f"{CVAT} --out afile", 1, "afile: --out is an existing file; give a folder"),
    "autolabel-out-is-a-file": Row("autolabel --pairs S/metadata.json --media S/videos --out afile", 1, "--out is an existing file"),
    "annotate-out-is-a-file": Row(f"annotate {CLIP} --model m.pt --out afile", 1, "--out is an existing file"),
    "train-out-is-a-file": Row("train --data DS --out afile", 1, "--out is an existing file"),
    "demo-out-is-a-file": Row("demo --toy --out afile", 1, "--out is an existing file"),
    "sample-data-out-is-a-file": Row("sample-data --videos 1 --out afile", 1, "--out is an existing file"),
    "evaluate-videos-out-is-a-file": Row(f"evaluate-videos {VSCORES} --out afile", 1, "--out is an existing file"),
    "predict-out-is-a-folder": Row("predict --model m.pt img/x.png --out adir", 1,
                                   "--out is an existing folder; give a file name", {"adir": SAME}),
    "split-output-is-a-folder": Row("split DS", 1, "DS/test.json: output is an existing folder",
                                    {"DS": SAME}, setup="test_json_folder"),
    "convert-out-not-empty": Row(f"{CVAT} --out DS", 1, "not empty (use --force to replace it)", {"DS": SAME}),
    "convert-out-under-a-file": Row(f"{CVAT} --out afile/ds", 1, "cannot create --out: afile is a file"),
    "predict-out-under-a-file": Row("predict --model m.pt img/x.png --out afile/p.json", 1,
                                    "cannot create --out: afile is a file"),
    "annotate-out-under-a-file": Row(f"annotate {CLIP} --model m.pt --out afile/A", 1,
                                     "cannot create --out: afile is a file"),
    "score-out-under-a-file": Row(f"score {CLIP} --model m.pt --out afile/s.csv", 1,
                                  "cannot create --out: afile is a file"),
    "split-unwritable-dataset": pytest.param(Row("split DS", 1, "cannot write output: no permission to write in DS",
                                                 {"DS": SAME}, setup="read_only_dataset", unprivileged=True),
                                             marks=NEEDS_PERMISSIONS),
    "convert-unwritable-parent": pytest.param(Row(f"{CVAT} --out ro/ds", 1,
                                                  "cannot write --out: no permission to write in ro", {"ro": SAME},
                                                  setup="read_only_folder", unprivileged=True),
                                              marks=NEEDS_PERMISSIONS),
    # 11. options outside their range are usage errors naming the range; headers that lie are refused
    "evaluate-videos-bins-0": Row(f"evaluate-videos {VSCORES} --out R --bins 0", 2,
                                  "argument --bins: must be at least 1, got 0", {"R": GONE}),
    "calibrate-bins-0": Row(f"calibrate {VSCORES} --out c.csv --bins 0", 2, "argument --bins: must be at least 1"),
    "evaluate-videos-eps-2": Row(f"evaluate-videos {VSCORES} --out R --eps 2", 2,
                                 "argument --eps: must be above 0, below 0.5, got 2", {"R": GONE}),
    "evaluate-videos-threshold-7": Row(f"evaluate-videos {VSCORES} --out R --threshold 7", 2,
                                       "argument --threshold: must be 0 to 1, got 7"),
    "evaluate-videos-report-is-strict-json": Row(f"evaluate-videos {VSCORES} --out R", 0, "",
                                                 {"R/metrics.json": STRICT_JSON}),
    "evaluate-threshold-5": Row("evaluate --preds preds.json --gt DS/test.json --out R --threshold 5", 2,
                                "argument --threshold: must be 0 to 1, got 5"),
    "train-grad-clip-negative": Row("train --data DS --out r --grad-clip -1", 2,
                                    "argument --grad-clip: must be above 0, got -1", {"r": GONE}),
    "train-image-size-0": Row("train --data DS --out r --image-size 0", 2,
                              "argument --image-size: must be at least 1, got 0"),
    "train-image-size-below-the-models": Row("train --data DS --out r --image-size 16", 1,
                                             "--image-size must be at least 32 for ssdlite-mnv2, got 16", {"r": GONE}),
    "predict-score-threshold-2": Row("predict --model m.pt img --out p.json --score-threshold 2", 2,
                                     "argument --score-threshold: must be 0 to 1, got 2"),
    "predict-nms-iou-negative": Row("predict --model m.pt img --out p.json --nms-iou -1", 2,
                                    "argument --nms-iou: must be 0 to 1, got -1"),
    "annotate-crf-99": Row(f"annotate {CLIP} --model m.pt --out A --crf 99", 2,
                           "argument --crf: must be 0 to 51, got 99"),
    "annotate-preset-bogus": Row(f"annotate {CLIP} --model m.pt --out A --preset bogus", 2,
                                 "argument --preset: invalid choice: 'bogus'"),
    "annotate-impossible-frame-size": Row("annotate huge.y4m --model m.pt --out A", 1,
                                          "huge.y4m: not a decodable video: Picture size 99999x99999 is invalid"),
    "annotate-frame-size-too-large": Row("annotate big.y4m --model m.pt --out A", 1,
                                         "big.y4m: frame size 16000x16000 (256 Mpx) is larger than",
                                         {"A/big.mp4": GONE}),
    # 12. a missing model is one line, also with worker processes
    "score-workers-missing-model": Row("score S/videos --model missing.pt --workers 2 --out s.csv", 1,
                                       "missing.pt", {"s.csv": GONE}),
}


# --- the world every row runs in -------------------------------------------------------------------------------

def _dataset(root: Path) -> None:
    """Six 64x48 images with one real and one fake box each: annotations.json, train (4), val and test (2)."""
    import cv2
    import numpy as np

    from dftag.annotations.dataset import FAKE, REAL, new_coco, save_coco

    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(6):
        cv2.imwrite(str(root / "images" / f"{i:03d}.png"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        images.append({"id": i + 1, "file_name": f"{i:03d}.png", "width": 64, "height": 48, "video": None,
                       "frame_index": None, "timestamp": None, "group": f"g{i}"})
        for label, x in ((REAL, 4.0), (FAKE, 36.0)):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": label, "bbox": [x, 10.0, 20.0, 24.0],
                         "area": 480.0, "iscrowd": 0})
    save_coco(new_coco(images, anns), root / "annotations.json")
    for split, ids in (("train", {1, 2, 3, 4}), ("val", {5, 6}), ("test", {5, 6})):
        save_coco(new_coco([im for im in images if im["id"] in ids], [a for a in anns if a["image_id"] in ids]),
                  root / f"{split}.json")


@pytest.fixture(scope="module")
def template(tmp_path_factory, tiny_checkpoint) -> Path:
    """Sample videos with CVAT and DFDC files (S/), a split dataset (DS/), a model (m.pt), video scores and
    labels, a results file, an image folder, a training run, a file and a folder, and two lying video headers."""
    from dftag.sample_data.generator import generate

    root = tmp_path_factory.mktemp("bad_inputs")
    generate(root / "S", videos=2, frames=6, size=(64, 48))
    _dataset(root / "DS")
    shutil.copy(tiny_checkpoint, root / "m.pt")
    (root / "preds.json").write_text(json.dumps([{"image_id": 5, "category_id": 1, "bbox": [4, 10, 20, 24],
                                                  "score": 0.9}]))
    (root / "scores.csv").write_text("filename,label\nclip_000.mp4,0.3\nclip_001.mp4,0.8\n")
    (root / "L").mkdir()
    (root / "L" / "labels.csv").write_text("filename,label\nclip_000.mp4,REAL\nclip_001.mp4,FAKE\n")
    (root / "img").mkdir()
    shutil.copy(root / "DS" / "images" / "000.png", root / "img" / "x.png")
    (root / "afile").write_text("a file\n")
    (root / "adir").mkdir()
    (root / "adir" / "keep.txt").write_text("keep\n")
    (root / "run").mkdir()
    (root / "run" / "config.json").write_text(json.dumps({"data": "DS"}))
    (root / "run" / "metrics.csv").write_text("epoch,val_mAP\n1,0.5\n")
    os.link(root / "m.pt", root / "run" / "best.pt")
    for name, size in (("big.y4m", 16000), ("huge.y4m", 99999)):  # headers claiming giant frames, 80 bytes of data
        (root / name).write_bytes(f"YUV4MPEG2 W{size} H{size} F25:1 Ip A1:1 C420jpeg\nFRAME\n".encode() + b"\x80" * 80)
    return root


@pytest.fixture
def world(template, tmp_path, monkeypatch) -> Path:
    """A fresh copy of :func:`template` as the working folder (checkpoints hard-linked: every write replaces)."""
    root = tmp_path / "w"

    def copy(src, dst):
        (os.link if src.endswith(".pt") else shutil.copy2)(src, dst)

    shutil.copytree(template, root, copy_function=copy)
    monkeypatch.chdir(root)
    return root


def _killed(code: str, root: Path) -> None:
    """Run ``code`` in a Python process in ``root`` that then SIGKILLs itself, as a killed run would be."""
    script = f"import os, signal\n{code}\nos.kill(os.getpid(), signal.SIGKILL)\n"
    proc = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _setup_links(root: Path) -> None:
    (root / "cvat-link").symlink_to(root / "S" / "cvat")
    (root / "videos-link").symlink_to(root / "S" / "videos")
    (root / "p.json").symlink_to(root / "img" / "x.png")


def _setup_killed_atomic_dir(root: Path) -> None:
    _killed("from dftag.core.atomic import atomic_dir\nwith atomic_dir('NEW') as tmp:\n"
            "    (tmp / 'half.jpg').write_bytes(b'x' * 1000)\n    os.kill(os.getpid(), signal.SIGKILL)", root)
    assert list(root.glob(".NEW.*.tmp")), "the killed process left no temporary"


def _setup_killed_video_writer(root: Path) -> None:
    _killed("import numpy as np\nfrom dftag.annotations.video import VideoWriter\n"
            "w = VideoWriter('A/clip_000.mp4', 64, 48, 25)\nw.write(np.zeros((48, 64, 3), np.uint8))", root)
    assert list((root / "A").glob(".clip_000.*")), "the killed process left no temporary"


def _setup_live_temporaries(root: Path) -> None:
    from dftag.core.atomic import _host

    (root / f".NEW.{os.getpid()}@{_host()}.livelive.tmp").mkdir()  # this (running) process's
    (root / f".NEW.{_dead_pid()}@elsewhere.abcdefgh.tmp").mkdir()  # a dead pid, but of another host
    (root / f".notes.{_dead_pid()}.tmp").write_text("a hidden file of the user's, not a dftag temporary\n")
    (root / f".diary.{_dead_pid()}.tmp.txt").write_text("nor this one: dftag's names carry a host\n")


def _setup_test_json_folder(root: Path) -> None:
    (root / "DS" / "test.json").unlink()
    (root / "DS" / "test.json").mkdir()


def _setup_read_only_dataset(root: Path) -> None:
    (root / "DS").chmod(0o555)


def _setup_read_only_folder(root: Path) -> None:
    (root / "ro").mkdir()
    (root / "ro").chmod(0o555)


SETUPS = {"links": _setup_links, "killed_atomic_dir": _setup_killed_atomic_dir,
          "killed_video_writer": _setup_killed_video_writer, "live_temporaries": _setup_live_temporaries,
          "test_json_folder": _setup_test_json_folder, "read_only_dataset": _setup_read_only_dataset,
          "read_only_folder": _setup_read_only_folder}


def _fingerprint(path: Path):
    """What ``path`` holds: for a folder every file's bytes by relative path, for a file its bytes."""
    if path.is_dir():
        return {str(p.relative_to(path)): _fingerprint(p) for p in sorted(path.rglob("*")) if not p.is_dir()}
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return None


def _strict_json(text: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_bad_input(row: Row, world: Path, dftag):
    if row.setup:
        SETUPS[row.setup](world)
    before = {name: _fingerprint(world / name) for name, want in row.files.items() if want == SAME}
    try:
        if row.unprivileged and ROOT:
            proc = subprocess.run([*UNPRIVILEGED, sys.executable, "-m", "dftag", *shlex.split(row.args)], cwd=world,
                                  capture_output=True, text=True)
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        else:
            code, out, err = dftag(*shlex.split(row.args))
    finally:
        for folder in ("DS", "ro"):  # let pytest clean up after the read-only rows
            if (world / folder).exists():
                (world / folder).chmod(0o755)
    assert code == row.code, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if ": error: " in line]
    if row.code:
        assert len(errors) == 1 and row.message in errors[0], err
    else:
        assert not errors, err
    for name, want in row.files.items():
        if want == SAME:
            assert _fingerprint(world / name) == before[name], f"{name} changed"
        elif want == GONE:
            assert not list(world.glob(name)), f"{name} exists"
        elif want == THERE:
            assert list(world.glob(name)), f"{name} is missing"
        elif want == STRICT_JSON:
            _strict_json((world / name).read_text())
        else:
            assert want in (world / name).read_text(), f"{name} lacks {want!r}"


# --- cases that are not one command line ----------------------------------------------------------------------

def test_a_folder_that_appears_while_building_is_not_replaced(tmp_path):
    """5. Two runs into the same new folder: the one that finishes second fails and keeps nothing of its own;
    the first one's folder stays. With overwrite, only what was there at the start may be replaced."""
    from dftag.core import atomic
    from dftag.core.errors import DftagError

    out = tmp_path / "ds"
    with pytest.raises(DftagError, match="appeared or changed while this run was writing it"):
        with atomic.atomic_dir(out) as mine:
            (mine / "mine.txt").write_text("second run")
            with atomic.atomic_dir(out) as other:  # another run, finishing first
                (other / "other.txt").write_text("first run")
    assert [p.name for p in out.iterdir()] == ["other.txt"]
    with pytest.raises(DftagError, match="appeared or changed"):
        with atomic.atomic_dir(out, overwrite=True) as mine:
            (mine / "mine.txt").write_text("replacing the first run's folder")
            with atomic.atomic_dir(out, overwrite=True) as other:  # replaced meanwhile by a third run
                (other / "third.txt").write_text("third run")
    assert [p.name for p in out.iterdir()] == ["third.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temporaries left
    with atomic.atomic_dir(out, overwrite=True) as mine:  # nothing else going on: replaced
        (mine / "mine.txt").write_text("mine")
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_two_converts_into_one_folder_keep_the_first(world, dftag, monkeypatch):
    """5. through the command line: a second convert that finishes while the first is writing fails."""
    from dftag.annotations import convert as convert_module

    real_save = convert_module.save_coco
    started = []

    def save_and_race(coco, path):
        real_save(coco, path)
        if not started:  # the first run, about to rename its folder: a second run completes first
            started.append(True)
            assert dftag(*shlex.split(f"{CVAT} --out NEW"))[0] == 0

    monkeypatch.setattr(convert_module, "save_coco", save_and_race)
    code, _, err = dftag(*shlex.split(f"{CVAT} --out NEW"))
    assert code == 1 and "appeared or changed while this run was writing it" in err
    assert (world / "NEW" / "annotations.json").is_file() and not list(world.glob(".NEW.*"))


def test_json_output_never_holds_nan():
    """11. Non-finite numbers (undefined metrics) are written as null, so every output is standard JSON."""
    from dftag.core.atomic import json_safe, write_json

    obj = {"log_loss": float("nan"), "auc": [float("inf"), 0.5, -float("inf")], "n": 3, "ok": 0.25}
    assert json_safe(obj) == {"log_loss": None, "auc": [None, 0.5, None], "n": 3, "ok": 0.25}
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        write_json(Path(folder) / "m.json", obj)
        assert _strict_json((Path(folder) / "m.json").read_text()) == json_safe(obj)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _screen(text: str) -> list[str]:
    """The lines a terminal shows for ``text`` (carriage returns overwrite the line from its start)."""
    lines, line, col = [], [], 0
    for ch in text:
        if ch == "\n":
            lines.append("".join(line).rstrip())
            line, col = [], 0
        elif ch == "\r":
            col = 0
        else:
            line[col:col + 1] = [ch]
            col += 1
    return [*lines, "".join(line).rstrip()]


def test_an_error_during_a_progress_bar_gets_its_own_line(world, monkeypatch):
    """12. An error that stops a command while its progress bar is drawn (here: encoding the second sample
    video fails, as a full disk would make it) starts on a line of its own, not glued to the bar's text."""
    from dftag.core.errors import DftagError
    from dftag.sample_data import generator
    from dftag.tools.cli import main

    write_video, calls = generator._write_video_job, []

    def fail_second(job):
        calls.append(job)
        if len(calls) == 2:
            raise DftagError("ffmpeg failed to encode: No space left on device", job[0].name)
        return write_video(job)

    monkeypatch.setattr(generator, "_write_video_job", fail_second)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = main(["sample-data", "--out", "NEW", "--videos", "2", "--frames", "2", "--size", "32x32", "--jobs", "1"])
    assert code == 1
    assert "1/2" in terminal.getvalue()  # the bar was drawn
    errors = [line for line in _screen(terminal.getvalue()) if "error:" in line]
    assert errors and errors[0].startswith("dftag sample-data: error: clip_001.mp4: ffmpeg failed"), \
        terminal.getvalue()
    assert not (world / "NEW").exists() and not list(world.glob(".NEW.*"))


@pytest.mark.parametrize("args", [["info", "DS"], ["info", "DS", "--json"], ["split", "DS", "--test", "0"]])
def test_a_closed_output_pipe_ends_quietly(world, args):
    """13. ``dftag info DS | head -1``: the reader goes away; no BrokenPipeError traceback, the status of a
    process ended by SIGPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "dftag", *args], cwd=world, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command writes anything
    err = proc.stderr.read().decode()
    assert proc.wait() == 128 + signal.SIGPIPE, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
