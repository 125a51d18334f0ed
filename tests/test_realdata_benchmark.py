"""benchmarks/realdata.py: identity grouping, held-out video selection, the table; a real run when the data is here."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dftag.annotations.dataset import new_coco
from dftag.core.errors import DftagError
from dftag.annotations.pair_list import read_pairs
from tests.conftest import REALDATA

_SPEC = importlib.util.spec_from_file_location(
    "realdata_benchmark", Path(__file__).resolve().parents[1] / "benchmarks" / "realdata.py")
bench = sys.modules.setdefault(_SPEC.name, importlib.util.module_from_spec(_SPEC))  # dataclasses need it there
_SPEC.loader.exec_module(bench)

CELEB = "doc/celebs/Ava_de_Addario/Ava_de_Addario_{}.mp4"
PAIRS = "\n".join([
    "kind,repo,fake_path,original_path,method",
    "separate_files,org/ffpp,fake/519_515.mp4,orig/519.mp4,FF++ Deepfakes",
    "separate_files,org/lips,result/result.mp4,test/video/M003-007.mp4,lip-sync",
    "separate_files,org/lips,results/result_voice.mp4,test/video/M003-002.mp4,lip-sync",
    *[f"side_by_side_right_is_fake,org/dfl,{CELEB.format(i)}#right_half,{CELEB.format(i)}#left_half,DFL"
      for i in (0, 1)],
]) + "\n"
MANIFEST = "\n".join([
    "repo,path,label",
    "org/ffpp,orig/519.mp4,REAL",            # used by a pair: scored as the pair's original only
    "org/ffpp,fake/519_515.mp4,FAKE",        # likewise
    "org/dfl,samples/obama.mp4,REAL",        # unused real clip
    "org/dfl,samples/filtered.mp4,REAL?",    # unclear provenance: left out
    "org/dfl,doc/celebs/Ava_de_Addario/Ava_de_Addario_9.mp4,FAKE",  # unpaired fake of a paired identity
    "org/dfl,samples/frame0.jpg,FAKE",       # a still image, not a video
    "org/dfl,LICENSE,DOC",
    *[f"org/dfl,{CELEB.format(i)},SBS REAL|FAKE" for i in (0, 1)],
]) + "\n"


@pytest.fixture
def realdata(tmp_path):
    (tmp_path / "pairs.csv").write_text(PAIRS)
    (tmp_path / "manifest.csv").write_text(MANIFEST)
    return tmp_path


def test_identity_group_joins_celeb_folders_and_mead_speakers():
    assert bench.identity_group(CELEB.format(2) + "#left_half", "Ava_de_Addario_2") == "Ava_de_Addario"
    assert bench.identity_group("doc/celebs/David_Kovalniy/David Kovalniy_1.mp4", "x") == "David_Kovalniy"
    assert bench.identity_group("result/result.mp4", "M003-007") == "M003"
    assert bench.identity_group("test/video/M003-002.mp4", "M003-002") == "M003"
    assert bench.identity_group("fake/519_515.mp4", "519") == "519"
    assert bench.identity_group(None, "video1") == "video1"


def test_regroup_by_identity_rewrites_only_group_and_leaves_input_alone():
    images = [{"id": i + 1, "file_name": f"{i}.jpg", "width": 8, "height": 8, "video": v, "frame_index": 0,
               "timestamp": 0.0, "group": g}
              for i, (v, g) in enumerate([(CELEB.format(0) + "#right_half", "Ava_de_Addario_0"),
                                          (CELEB.format(1) + "#left_half", "Ava_de_Addario_1"),
                                          ("orig/519.mp4", "519")])]
    coco = new_coco(images, [])
    regrouped = bench.regroup_by_identity(coco)
    assert [img["group"] for img in regrouped["images"]] == ["Ava_de_Addario", "Ava_de_Addario", "519"]
    assert [img["group"] for img in coco["images"]] == ["Ava_de_Addario_0", "Ava_de_Addario_1", "519"]
    assert [{k: v for k, v in img.items() if k != "group"} for img in regrouped["images"]] == \
        [{k: v for k, v in img.items() if k != "group"} for img in images]


def test_candidate_videos_cover_pairs_halves_unused_reals_and_unpaired_fakes(realdata):
    videos = bench.candidate_videos(realdata, read_pairs(realdata / "pairs.csv", realdata),
                                    bench.read_manifest(realdata / "manifest.csv"))
    got = {(v.name, v.label, v.identity, v.source) for v in videos}
    assert got == {
        ("519_515.mp4", "FAKE", "519", "pair"), ("519.mp4", "REAL", "519", "pair"),
        ("result.mp4", "FAKE", "M003", "pair"), ("M003-007.mp4", "REAL", "M003", "pair"),
        ("result_voice.mp4", "FAKE", "M003", "pair"), ("M003-002.mp4", "REAL", "M003", "pair"),
        ("Ava_de_Addario_0.right_half.mp4", "FAKE", "Ava_de_Addario", "pair"),
        ("Ava_de_Addario_0.left_half.mp4", "REAL", "Ava_de_Addario", "pair"),
        ("Ava_de_Addario_1.right_half.mp4", "FAKE", "Ava_de_Addario", "pair"),
        ("Ava_de_Addario_1.left_half.mp4", "REAL", "Ava_de_Addario", "pair"),
        ("obama.mp4", "REAL", "obama", "unused real clip"),
        ("Ava_de_Addario_9.mp4", "FAKE", "Ava_de_Addario", "unpaired fake"),
    }
    paths = {v.name: v.path for v in videos}
    assert paths["Ava_de_Addario_0.left_half.mp4"] == realdata / "org+dfl" / CELEB.format(0)
    assert paths["obama.mp4"] == realdata / "org+dfl" / "samples" / "obama.mp4"


def test_held_out_drops_every_video_of_a_seen_identity(realdata):
    videos = bench.candidate_videos(realdata, read_pairs(realdata / "pairs.csv", realdata),
                                    bench.read_manifest(realdata / "manifest.csv"))
    kept, dropped = bench.held_out(videos, seen={"Ava_de_Addario", "519"})
    assert {v.identity for v in kept} == {"M003", "obama"}
    assert {v.name for v in dropped} >= {"Ava_de_Addario_9.mp4", "519.mp4", "Ava_de_Addario_1.left_half.mp4"}
    assert len(kept) + len(dropped) == len(videos)
    assert bench.labels_csv(kept).splitlines()[0] == "filename,label"
    assert {line.split(",")[1] for line in bench.labels_csv(kept).splitlines()[1:]} == {"REAL", "FAKE"}


def test_held_out_refuses_two_videos_with_one_file_name(tmp_path):
    same = [bench.Video(tmp_path / d / "clip.mp4", "REAL", d, "unused real clip") for d in ("a", "b")]
    with pytest.raises(DftagError, match="clip.mp4"):
        bench.held_out(same, seen=set())


def test_cut_half_writes_each_half_and_names_the_file_on_failure(make_video, tmp_path):
    from dftag.annotations.video import probe

    sbs = make_video("sbs.mp4", size=(160, 64), seconds=0.2)
    for half in ("left_half", "right_half"):
        dst = tmp_path / "cut" / f"sbs.{half}.mp4"
        bench.cut_half(bench.Video(sbs, "REAL", "x", "pair", half), dst)
        assert (probe(dst).width, probe(dst).height) == (80, 64)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(DftagError, match="broken.mp4"):
        bench.cut_half(bench.Video(broken, "FAKE", "x", "pair", "right_half"), tmp_path / "cut" / "b.mp4")
    assert not (tmp_path / "cut" / "b.mp4").exists()


def test_format_table_shows_numbers_counts_and_references():
    summary = {
        "date": "2026-11-22", "seconds": 1234.0, "groups": {"test": ["a", "b"]},
        "config": {"run": None, "epochs": 15, "image_size": 320, "every": 25, "seed": 0},
        "boxes": {"AP50": {"real": 0.5123, "fake": -1.0}, "mAP50": 0.25, "mAP": 0.1, "images": 40,
                  "real_boxes": 20, "fake_boxes": 21},
        "videos": {"n_videos": 30, "n_real": 12, "n_fake": 18, "log_loss": 0.6931, "roc_auc": None,
                   "accuracy": 0.6, "threshold": 0.5, "no_face_found": 4},
    }
    table = bench.format_table(summary)
    assert "40 images, 20 real + 21 fake boxes, 2 identity groups" in table
    assert "30 held out (12 real, 18 fake), 4 without a face track" in table
    row = {label: next(line for line in table.splitlines() if line.strip().startswith(label))
           for label in ("AP50 real", "AP50 fake", "log loss", "ROC AUC", "accuracy @0.5")}
    assert "0.512" in row["AP50 real"] and "0.402" in row["AP50 real"]
    assert "n/a" in row["AP50 fake"] and "0.796" in row["AP50 fake"]
    assert "0.693" in row["log loss"] and "0.428" in row["log loss"]
    assert "n/a" in row["ROC AUC"] and "0.600" in row["accuracy @0.5"]
    assert "2026-11-22" in table and "1234 s" in table and "ssdlite-mnv2 15 epochs at 320 px" in table


def test_bad_data_folder_is_one_line_error(tmp_path):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "realdata.py"
    proc = subprocess.run([sys.executable, str(script), "--data", str(tmp_path),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "pairs.csv not found" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not (REALDATA / "pairs.csv").is_file(), reason="needs ../shared/realdata")
def test_real_data_selection_is_held_out_and_labelled():
    """On the real files: every scored video exists, identities of train/val never reach the video set."""
    videos = bench.candidate_videos(REALDATA, read_pairs(REALDATA / "pairs.csv", REALDATA),
                                    bench.read_manifest(REALDATA / "manifest.csv"))
    assert all(v.path.is_file() for v in videos)
    names = {v.name for v in videos}
    assert "Dean_Wiesel_2.mp4" in names and "d14.mp4" not in names  # unpaired fake in; REAL? out
    assert {"Albica_Johns_0.left_half.mp4", "Albica_Johns_0.right_half.mp4"} <= names
    kept, dropped = bench.held_out(videos, seen={"Dean_Wiesel", "M003"})
    assert "Dean_Wiesel_2.mp4" in {v.name for v in dropped}
    assert {"result.mp4", "M003-002.mp4"} <= {v.name for v in dropped}
    assert sum(v.label == "REAL" for v in kept) and sum(v.label == "FAKE" for v in kept)


def test_output_folder_is_reused_only_for_the_same_settings(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("someone else's")
    config = bench.BenchConfig(data=str(tmp_path), epochs=3)
    with pytest.raises(DftagError, match="not a benchmark run"):
        bench._prepare_out(out, config, force=False)
    bench._prepare_out(out, config, force=True)  # replaces everything
    assert sorted(p.name for p in out.iterdir()) == ["benchmark.json"]
    (out / "dataset").mkdir()
    bench._prepare_out(out, config, force=False)  # same settings: kept for reuse
    assert (out / "dataset").is_dir()
    with pytest.raises(DftagError, match="other settings"):
        bench._prepare_out(out, bench.BenchConfig(data=str(tmp_path), epochs=4), force=False)
    assert json.loads((out / "benchmark.json").read_text())["epochs"] == 3


def test_no_face_found_counts_videos_scored_as_the_prior(tmp_path):
    from dftag.pipeline.aggregate import NO_FACE

    details = tmp_path / "scores.json"
    details.write_text(json.dumps({"settings": {}, "errors": [], "videos": {
        "a.mp4": {"score": 0.5, "label": NO_FACE}, "b.mp4": {"score": 0.9, "label": "fake"},
        "c.mp4": {"score": 0.5, "label": NO_FACE}}}))
    assert bench.no_face_found(details) == 2


def test_run_training_groups_reads_the_runs_train_and_val_identities(tmp_path):
    from dftag.annotations.dataset import save_coco

    def image(i, video, group):
        return {"id": i, "file_name": f"{i}.jpg", "width": 8, "height": 8, "video": video, "frame_index": 0,
                "timestamp": 0.0, "group": group}

    data = tmp_path / "ds"
    save_coco(new_coco([image(1, CELEB.format(0) + "#left_half", "Ava_de_Addario_0")], []), data / "train.json")
    save_coco(new_coco([image(2, "test/video/M003-002.mp4", "M003-002")], []), data / "val.json")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"data": str(data)}))
    assert bench.run_training_groups(run) == {"Ava_de_Addario", "M003"}
    (run / "config.json").write_text(json.dumps({"data": str(tmp_path / "gone")}))
    with pytest.raises(DftagError, match="cannot check what the run was trained on"):
        bench.run_training_groups(run)
