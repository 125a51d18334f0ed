"""benchmarks/realdata.py: identity grouping, held-out video selection, the table; a real run when the data is here."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dftag.annotations.dataset import SPLITS, new_coco, save_coco
from dftag.annotations.pair_list import read_pairs
from dftag.annotations.splits import image_group, split_dataset
from dftag.core.errors import DftagError, Warnings
from dftag.pipeline.scorer import DEFAULT_FRAMES
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


FFPP = "media/{}/c40/videos/{}.mp4"
SWAP_PAIRS = "\n".join([
    "kind,repo,fake_path,original_path,method",
    *[f"separate_files,org/ffpp,{FFPP.format(method, a + '_' + b)},{FFPP.format('youtube', a)},{method}"
      for method in ("Deepfakes", "Face2Face") for a, b in (("183", "253"), ("253", "183"))],
    "separate_files,org/ffpp,fake/519_515.mp4,orig/519.mp4,FF++ Deepfakes",
    "separate_files,org/lips,results/result_voice.mp4,test/video/M003-002.mp4,lip-sync",
    "separate_files,org/w2l,results/result_voice.mp4,videos/1453ae3.mp4,Wav2Lip",
]) + "\n"
SWAP_MANIFEST = "repo,path,label\norg/w2l,videos/1453ae3.mp4,REAL?\norg/w2l,results/result_voice.mp4,FAKE\n"


@pytest.fixture
def realdata(tmp_path):
    (tmp_path / "pairs.csv").write_text(PAIRS)
    (tmp_path / "manifest.csv").write_text(MANIFEST)
    return tmp_path


def autolabelled_coco(pairs):
    """The images autolabel makes of ``pairs``: one frame of each side, grouped by the original's stem."""
    sides = [(ref, pair.original.stem) for pair in pairs for ref in (pair.fake, pair.original)]
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 8, "height": 8, "video": ref.given, "frame_index": 0,
               "timestamp": 0.0, "group": group} for i, (ref, group) in enumerate(sides, start=1)]
    return new_coco(images, [])


def test_identity_group_joins_celeb_folders_and_mead_speakers():
    assert bench.identity_group(CELEB.format(2) + "#left_half", "Ava_de_Addario_2") == "Ava_de_Addario"
    assert bench.identity_group("doc/celebs/David_Kovalniy/David Kovalniy_1.mp4", "x") == "David_Kovalniy"
    assert bench.identity_group("result/result.mp4", "M003-007") == "M003"
    assert bench.identity_group("test/video/M003-002.mp4", "M003-002") == "M003"
    assert bench.identity_group("fake/519_515.mp4", "519") == "519"
    assert bench.identity_group(None, "video1") == "video1"
    assert bench.identity_group("media/in_out_videos/original/actors/c40/videos/08__podium_speech_happy.mp4",
                                "08__podium_speech_happy") == "DFD_08"
    assert bench.identity_group("examples/face/3.mp4", "3") == "WDA_AlexandriaOcasioCortez_000"
    assert bench.identity_group("examples/face/2.mp4", "2") == "2"


def test_swap_groups_join_both_ids_of_a_faceforensics_swap(tmp_path):
    (tmp_path / "pairs.csv").write_text(SWAP_PAIRS)
    pairs = read_pairs(tmp_path / "pairs.csv", tmp_path)
    swaps = bench.swap_groups(pairs)
    assert swaps == {"183": "183+253", "253": "183+253", "515": "519", "519": "519"}
    assert bench.identity_group(FFPP.format("youtube", "253"), "253", swaps) == "183+253"
    assert bench.identity_group("fake/183_253.mp4", "183_253", swaps) == "183+253"  # an unpaired fake
    assert bench.identity_group("test/video/M003-002.mp4", "M003-002", swaps) == "M003"
    coco = bench.regroup_by_identity(autolabelled_coco(pairs), swaps)
    assert {img["group"] for img in coco["images"]} == {"183+253", "519", "M003", "1453ae3"}
    for seed in range(5):
        result = split_dataset(coco, 0.25, 0.25, seed)
        split_of = {iid: s for s in SPLITS for iid in result.image_ids[s]}
        for group in ("183+253", "519"):
            ids = [img["id"] for img in coco["images"] if image_group(img) == group]
            assert len({split_of[i] for i in ids}) == 1, (seed, group)


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


def test_shared_file_names_get_the_folders_that_tell_them_apart(tmp_path):
    (tmp_path / "pairs.csv").write_text(SWAP_PAIRS)
    (tmp_path / "manifest.csv").write_text(SWAP_MANIFEST)
    videos = bench.candidate_videos(tmp_path, read_pairs(tmp_path / "pairs.csv", tmp_path),
                                    bench.read_manifest(tmp_path / "manifest.csv"))
    names = [v.name for v in videos]
    assert len(set(names)) == len(names)
    assert {"Deepfakes~c40~videos~183_253.mp4", "Face2Face~c40~videos~183_253.mp4", "183.mp4", "253.mp4",
            "org+lips~results~result_voice.mp4", "org+w2l~results~result_voice.mp4", "519_515.mp4"} <= set(names)
    assert "1453ae3.mp4" not in names  # the REAL? original of a pair is left out, its fake kept
    by_name = {v.name: v for v in videos}
    assert by_name["Face2Face~c40~videos~183_253.mp4"].file_name == "183_253.mp4"
    assert by_name["253.mp4"].identity == by_name["Deepfakes~c40~videos~183_253.mp4"].identity == "183+253"
    kept, _ = bench.held_out(videos, seen=set())
    assert bench.labels_csv(kept).count("result_voice.mp4,FAKE") == 2


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


def _model(ap_real, ap_fake, auc, interval, loss, no_face=0):
    return {"boxes": {"AP50": {"real": ap_real, "fake": ap_fake}, "mAP50": 0.25, "mAP": 0.1},
            "videos": {"roc_auc": auc, "roc_auc_95": interval, "log_loss": loss, "no_face_found": no_face,
                       "rule": "confident", "temperature": 1.5}}


def test_format_table_shows_every_model_side_by_side_with_counts_and_references():
    summary = {
        "date": "2026-12-03", "seconds": 1234.0, "groups": {"test": ["a", "b"]},
        "config": {"epochs": 4, "image_size": 256, "classifier_epochs": 2, "crop_size": 224, "every": 50,
                   "seed": 0},
        "test_split": {"images": 40, "real_boxes": 20, "fake_boxes": 21},
        "videos": {"val": 12, "test": 30},
        "models": {"single-stage": _model(0.5123, -1.0, None, None, 0.6931, 4),
                   "two-stage both": {**_model(0.81, 0.83, 0.876, [0.71, 0.97], 0.41),
                                      "face_calibration": {"face_threshold": {"threshold": 0.4213}}}},
        "robustness": {"H.264 CRF 32": {"roc_auc": 0.8, "roc_auc_95": [0.6, 0.9], "log_loss": 0.5,
                                        "no_face_found": 1}},
    }
    table = bench.format_table(summary)
    assert "40 images, 20 real + 21 fake boxes, 2 identity groups" in table
    assert "30 held out, 12 val" in table and "2026-12-03" in table and "1234 s" in table
    single = next(line for line in table.splitlines() if line.strip().startswith("single-stage"))
    two = next(line for line in table.splitlines() if line.strip().startswith("two-stage both"))
    assert "0.512" in single and "n/a" in single and "0.693" in single and single.split()[-3] == "4"
    assert "0.810" in two and "0.876" in two and "[0.71, 0.97]" in two and "confident, 1.50; 0.42" in two
    assert any(line.strip().startswith("H.264 CRF 32") and "0.800" in line for line in table.splitlines())
    assert "0.796 (SSD300, earlier work)" in table


def test_format_loso_table_shows_each_family_and_the_means():
    summary = {"date": "2026-12-03", "seconds": 99.0, "mean_roc_auc": 0.7, "mean_log_loss": 0.6,
               "families": {"FF++": {"n_videos": 20, "roc_auc": 0.9, "roc_auc_95": [0.8, 1.0], "log_loss": 0.4,
                                     "no_face_found": 0},
                            "DFDC": {"n_videos": 6, "roc_auc": None, "roc_auc_95": None, "log_loss": 0.8,
                                     "no_face_found": 2}}}
    table = bench.format_loso_table(summary)
    ffpp = next(line for line in table.splitlines() if line.strip().startswith("FF++"))
    assert "0.900" in ffpp and "[0.80, 1.00]" in ffpp and "0.400" in ffpp
    assert "n/a" in next(line for line in table.splitlines() if line.strip().startswith("DFDC"))
    assert "0.700" in next(line for line in table.splitlines() if line.strip().startswith("mean"))


def test_family_of_names_the_source_family_from_the_path():
    assert bench.family_of("polimi-ispl+icpr2020dfdc/test/data/ffpp/manipulated_sequences/x.mp4") == "FF++"
    assert bench.family_of("mudouble+FaceForensics-Detection_Website/media/in_out_videos/a.mp4") == "FF++"
    assert bench.family_of("iperov+DeepFaceLive/doc/celebs/A/A_0.mp4#left_half") == "DeepFaceLive"
    assert bench.family_of("haroon001+wav2lipHQ_alethea_ai/results/result_voice.mp4") == "lip-sync"
    assert bench.family_of("aaronchong888+DeepFake-Detect/train_sample_videos/abofeumbvv.mp4") == "DFDC"
    assert bench.family_of("OpenTalker+SadTalker/examples/driven_video/x.mp4") == "other"


def test_reencode_halves_the_size_and_names_the_file_on_failure(make_video, tmp_path):
    from dftag.annotations.video import probe

    clip = make_video("clip.mp4", size=(96, 64), fps=10, seconds=0.5)
    bench.reencode(clip, tmp_path / "half.mp4", half=True)
    bench.reencode(clip, tmp_path / "crf.mp4", crf=32)
    assert (probe(tmp_path / "half.mp4").width, probe(tmp_path / "half.mp4").height) == (48, 32)
    assert (probe(tmp_path / "crf.mp4").width, probe(tmp_path / "crf.mp4").height) == (96, 64)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(DftagError, match="bad.mp4: cannot re-encode"):
        bench.reencode(bad, tmp_path / "out.mp4", crf=32)
    assert not (tmp_path / "out.mp4").exists()


def test_video_metrics_use_the_rule_and_temperature_chosen_on_val():
    from dftag.pipeline.video_calibration import pick_video_rule

    val = {"v1": 0, "v2": 1, "v3": 0, "v4": 1}
    scores = {"median": {"v1": 0.4, "v2": 0.6, "v3": 0.45, "v4": 0.55},
              "confident": {"v1": 0.1, "v2": 0.9, "v3": 0.2, "v4": 0.8}}
    calibration = pick_video_rule(scores, val)
    assert calibration.rule == "confident"
    videos = [bench.Video(Path(f"{n}.mp4"), label, "id", "pair") for n, label in (("a", "FAKE"), ("b", "REAL"))]
    details = {"a.mp4": {"scores_by_rule": {"median": 0.5, "confident": 0.9}, "label": "fake"},
               "b.mp4": {"scores_by_rule": {"median": 0.5, "confident": 0.2}, "label": "real"}}
    row = bench.video_metrics_of(calibration, details, videos, seed=0)
    assert row["roc_auc"] == 1.0 and row["rule"] == "confident" and row["n_fake"] == 1
    assert row["scores"]["a.mp4"] == pytest.approx(calibration(0.9), abs=1e-6)


def test_family_metrics_count_average_and_rank_each_family_of_the_held_out_videos():
    videos = [bench.Video(Path("DeepFaceLive/doc/celebs/A/A_0.mp4"), "FAKE", "A", "pair", "right_half"),
              bench.Video(Path("DeepFaceLive/doc/celebs/A/A_0.mp4"), "REAL", "A", "pair", "left_half"),
              bench.Video(Path("DeepFaceLive/doc/celebs/B/B_0.mp4"), "REAL", "B", "real clip"),
              bench.Video(Path("dfdc/x.mp4"), "FAKE", "x", "fake clip"),
              bench.Video(Path("dfdc/y.mp4"), "FAKE", "y", "fake clip")]
    scores = {"A_0.right_half.mp4": 0.8, "A_0.left_half.mp4": 0.3, "B_0.mp4": 0.9, "x.mp4": 0.6, "y.mp4": 0.2}
    rows = bench.family_metrics(scores, videos)
    assert list(rows) == ["DFDC", "DeepFaceLive"]
    dfl, dfdc = rows["DeepFaceLive"], rows["DFDC"]
    assert (dfl["n_fake"], dfl["n_real"], dfl["roc_auc"]) == (1, 2, 0.5)  # the fake beats one of two reals
    assert dfl["mean_fake"] == pytest.approx(0.8) and dfl["mean_real"] == pytest.approx(0.6)
    assert (dfdc["n_fake"], dfdc["n_real"], dfdc["roc_auc"], dfdc["mean_real"]) == (2, 0, None, None)
    assert dfdc["mean_fake"] == pytest.approx(0.4)
    line = next(row for row in bench.format_table({
        "date": "d", "seconds": 1.0, "groups": {"test": []}, "videos": {"val": 1, "test": 5},
        "config": {"epochs": 1, "image_size": 8, "classifier_epochs": 1, "crop_size": 8, "every": 1, "seed": 0},
        "test_split": {"images": 1, "real_boxes": 1, "fake_boxes": 0},
        "models": {"two-stage sbi": {**_model(0.5, 0.5, 0.5, None, 0.7), "videos_by_family": rows}},
    }).splitlines() if "by family" in row)
    assert "DFDC 2+0 AUC n/a (fake 0.400, real n/a)" in line and "DeepFaceLive 1+2 AUC 0.500" in line


def test_leave_one_source_out_split_removes_the_family(tmp_path):
    from dftag.annotations.dataset import save_coco

    def image(i, video, group):
        return {"id": i, "file_name": f"{i}.jpg", "width": 8, "height": 8, "video": video, "frame_index": 0,
                "timestamp": 0.0, "group": group}

    dataset = tmp_path / "dataset"
    (dataset / "images").mkdir(parents=True)
    videos = ["iperov+DeepFaceLive/doc/celebs/A/A_0.mp4", "semchan+HyperLips/result/result.mp4",
              "x+ffpp/test/data/ffpp/a.mp4", "OpenTalker+SadTalker/examples/b.mp4"] * 3
    images = [image(i, v, f"g{i}") for i, v in enumerate(videos, start=1)]
    anns = [{"id": i, "image_id": i, "category_id": 1, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0}
            for i in range(1, len(images) + 1)]
    save_coco(new_coco(images, anns), dataset / "annotations.json")
    bench.loso_split(dataset, "FF++", seed=0)
    fold = tmp_path / "dataset-without-FF++"
    kept = [img["video"] for split in ("train", "val") for img in json.loads((fold / f"{split}.json").read_text())["images"]]
    assert kept and not any("ffpp" in v for v in kept) and len(kept) == 9
    assert json.loads((dataset / "annotations.json").read_text())["images"] == images  # input untouched


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
    # FF++ c40 methods and Wav2Lip outputs share file names: every video still has its own name
    assert len(names) == len(videos)
    assert sum(v.file_name == "183_253.mp4" for v in videos) == 4
    assert sum(v.file_name == "result_voice.mp4" for v in videos) == 3
    assert "1453ae3.mp4" not in names  # REAL? in the manifest, though a pair's original
    ffpp = {v.identity for v in videos if {"183", "253"} & set(v.path.stem.split("_"))}
    assert ffpp == {"183+253"}


@pytest.mark.realdata
@pytest.mark.skipif(not (REALDATA / "pairs.csv").is_file(), reason="needs ../shared/realdata")
def test_real_data_split_keeps_identities_and_swap_partners_on_one_side():
    pairs = read_pairs(REALDATA / "pairs.csv", REALDATA)
    coco = bench.regroup_by_identity(autolabelled_coco(pairs), bench.swap_groups(pairs))
    for seed in range(3):
        result = split_dataset(coco, bench.VAL_FRACTION, bench.TEST_FRACTION, seed)
        split_of_group = {g: s for s in SPLITS for g in result.groups[s]}
        split_of_ffpp_id = {}
        for img in coco["images"]:
            for part in Path(img["video"]).stem.split("_"):
                if part.isdigit() and len(part) == 3:
                    split_of_ffpp_id.setdefault(part, set()).add(split_of_group[img["group"]])
        assert all(len(s) == 1 for s in split_of_ffpp_id.values()), split_of_ffpp_id
        assert split_of_ffpp_id["183"] == split_of_ffpp_id["253"]
        celebs = {split_of_group[img["group"]] for img in coco["images"] if "Ava_de_Addario" in img["video"]}
        assert len(celebs) == 1


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


def test_no_face_found_counts_videos_scored_as_the_prior():
    from dftag.pipeline.aggregate import NO_FACE

    results = {"a.mp4": {"score": 0.5, "label": NO_FACE}, "b.mp4": {"score": 0.9, "label": "fake"},
               "c.mp4": {"score": 0.5, "label": NO_FACE}}
    assert bench.no_face_found(results) == 2


def test_loso_summary_says_how_many_families_are_done_and_averages_those():
    config = bench.BenchConfig(data="d", mode="loso")
    rows = {"FF++": {"roc_auc": 0.9, "log_loss": 0.4}, "DFDC": {"roc_auc": None, "log_loss": 0.8}}
    summary = bench.loso_summary(config, rows, 12.34)
    assert (summary["families_done"], summary["families_total"]) == (2, len(bench.FAMILIES))
    assert summary["mean_roc_auc"] == 0.9 and summary["mean_log_loss"] == pytest.approx(0.6)
    assert summary["seconds"] == 12.3 and summary["config"]["mode"] == "loso"


def test_loso_summary_before_any_fold_has_no_means(recwarn):
    summary = bench.loso_summary(bench.BenchConfig(data="d", mode="loso"), {}, 0.0)
    assert summary["families_done"] == 0
    assert summary["mean_roc_auc"] is None and summary["mean_log_loss"] is None
    json.dumps(summary, allow_nan=False)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_loso_keeps_the_families_a_run_with_the_same_settings_finished(tmp_path):
    config = bench.BenchConfig(data="d", mode="loso")
    rows = {"FF++": {"roc_auc": 0.9, "log_loss": 0.4}}
    (tmp_path / "summary.json").write_text(json.dumps(bench.loso_summary(config, rows, 60.0)))
    assert bench.loso_families_done(tmp_path, config) == (rows, 60.0)
    other = dataclasses.replace(config, epochs=config.epochs + 1)
    assert bench.loso_families_done(tmp_path, other) == ({}, 0.0)
    assert bench.loso_families_done(tmp_path / "none", config) == ({}, 0.0)


def test_loso_refuses_an_unknown_family_before_writing_anything(tmp_path):
    config = bench.BenchConfig(data=str(tmp_path / "realdata"), mode="loso")
    with pytest.raises(DftagError, match="unknown source families"):
        bench.run_leave_one_source_out(config, tmp_path / "out", families_to_run=["FF++", "Sora"])
    assert not (tmp_path / "out").exists()


def test_families_flag_picks_the_folds_to_run():
    assert bench.parse_args(["--data", "d", "--out", "o"]).families == list(bench.FAMILIES)
    assert bench.parse_args(["--data", "d", "--out", "o", "--families", "DFDC"]).families == ["DFDC"]


def test_flags_make_the_config_and_its_defaults_are_the_library_defaults(tmp_path):
    config = bench.bench_config(bench.parse_args(["--data", str(tmp_path), "--out", "o"]))
    assert config == bench.BenchConfig(data=str(tmp_path.resolve()))
    assert config.score_reference_only and config.lower_face == 0.0 and config.score_frames == DEFAULT_FRAMES
    changed = bench.bench_config(bench.parse_args(["--data", str(tmp_path), "--out", "o", "--exact-frames",
                                                   "--lower-face", "0.5", "--frames", "8",
                                                   "--crop-augment", "dfdc", "--grow-faceless",
                                                   "--sam-rho", "0.05", "--flip-average"]))
    assert (changed.score_reference_only, changed.lower_face, changed.score_frames) == (False, 0.5, 8)
    assert changed.crop_augment == "dfdc" and config.crop_augment == "jitter"
    assert changed.grow_faceless and not config.grow_faceless
    assert changed.sam_rho == 0.05 and config.sam_rho == 0.0
    assert changed.flip_average != config.flip_average


def test_workers_and_classifier_settings_reach_every_training_stage_workers_not_a_setting_of_the_run(
        tmp_path, monkeypatch):
    args = bench.parse_args(["--data", str(tmp_path), "--out", "o", "--workers", "12"])
    assert args.workers == 12 and bench.parse_args(["--data", "d", "--out", "o"]).workers == 2
    assert bench.bench_config(args) == bench.BenchConfig(data=str(tmp_path.resolve()))  # same run, same reuse
    seen = []
    monkeypatch.setattr(bench, "train", lambda config, resume: seen.append(("ssd", config.workers)))

    class Stage:
        def __init__(self, config, data, run_dir, *, seed, workers, device):
            seen.append((config.fake_source, workers, config.sam_rho, config.crop_augment, config.lower_face,
                         config.spec().flip_average))

        def resume(self):
            pass

        def run(self):
            return []

    monkeypatch.setattr(bench, "ClassifierTrainer", Stage)
    monkeypatch.setattr(bench.shutil, "copyfile", lambda src, dst: None)
    config = bench.BenchConfig(data="d", fakes=("both", "sbi"), sam_rho=0.05, crop_augment="dfdc", lower_face=0.25,
                               flip_average=True)
    models = bench.train_models(config, tmp_path / "ds", tmp_path / "run", workers=12)
    assert seen == [("ssd", 12), ("both", 12, 0.05, "dfdc", 0.25, True), ("sbi", 12, 0.05, "dfdc", 0.25, True)]
    assert list(models) == ["single-stage", "two-stage both", "two-stage sbi"]


def test_autolabel_step_gets_the_faceless_setting_of_the_run(realdata, tmp_path, monkeypatch):
    seen = []

    class Report:
        warnings = Warnings()

        def lines(self):
            return []

    monkeypatch.setattr(bench, "face_finder", lambda: None)
    monkeypatch.setattr(bench, "autolabel_pairs", lambda *a, **kw: seen.append(kw["grow_faceless"]) or Report())
    for grow in (False, True):
        bench.build_dataset(bench.BenchConfig(data=str(realdata), grow_faceless=grow), realdata, [], tmp_path / "d")
    assert seen == [False, True]


def test_an_earlier_split_is_reused_by_identity_group_and_new_groups_are_held_out(tmp_path):
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 8, "height": 8, "video": f"{g}.mp4", "frame_index": 0,
               "timestamp": 0.0, "group": g} for i, g in enumerate(["a", "a", "b", "c", "new"], start=1)]
    anns = [{"id": i, "image_id": i, "category_id": 1, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0}
            for i in range(1, 6)]
    save_coco(new_coco(images, anns), root / "annotations.json")
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"groups": {"train": ["a"], "val": ["b"], "test": ["c", "gone"]}}))
    line = bench.reuse_split(root, bench.earlier_split(summary))
    assert line.endswith("train 2 images, val 1 images, test 2 images")
    assert bench.split_groups(root) == {"train": ["a"], "val": ["b"], "test": ["c", "new"]}
    assert [a["image_id"] for a in json.loads((root / "test.json").read_text())["annotations"]] == [4, 5]
    summary.write_text(json.dumps({"groups": {"train": ["a"]}}))
    with pytest.raises(DftagError, match="summary.json: not a benchmark summary .*missing 'val'"):
        bench.earlier_split(summary)
    with pytest.raises(DftagError, match="file not found"):
        bench.earlier_split(tmp_path / "none.json")


def test_a_split_summary_inside_the_output_folder_is_refused_before_anything_is_touched(tmp_path):
    realdata = tmp_path / "data"
    realdata.mkdir()
    (realdata / "pairs.csv").write_text(PAIRS)
    (realdata / "manifest.csv").write_text(MANIFEST)
    out = tmp_path / "out"
    out.mkdir()
    summary = out / "summary.json"
    summary.write_text(json.dumps({"groups": {"train": [], "val": [], "test": []}}))
    config = bench.BenchConfig(data=str(realdata), split_from=str(summary))
    with pytest.raises(DftagError, match="contains the input"):
        bench.run_benchmark(config, out, force=True)
    assert summary.is_file() and sorted(p.name for p in out.iterdir()) == ["summary.json"]


def test_split_from_is_refused_for_leave_one_source_out(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--data", str(tmp_path), "--out", "o", "--mode", "loso", "--split-from", "s.json"])
    assert exit_info.value.code != 0
    assert "--split-from is for the identity split" in capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize("flag, value", [("--workers", "-1"), ("--sam-rho", "-0.05")])
def test_a_negative_count_or_radius_is_one_line_error_before_anything_runs(flag, value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--data", str(tmp_path), "--out", str(tmp_path / "out"), flag, value])
    assert exit_info.value.code != 0
    assert f"{flag} cannot be negative, got {value}" in capsys.readouterr().err.splitlines()[-1]
    assert not (tmp_path / "out").exists()
