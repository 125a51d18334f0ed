"""Video-level metrics, calibration, and the evaluate-videos / calibrate --scores commands."""

import json
import math

import numpy as np
import pytest

from dftag.core.errors import DftagError
from dftag.eval.calibration import expected_calibration_error, fit_temperature, nll, reliability, sigmoid
from dftag.eval.video_metrics import (
    align,
    confusion,
    load_video_labels,
    load_video_scores,
    log_loss,
    roc_auc,
    roc_curve,
    threshold_metrics,
    write_video_scores,
)


def test_log_loss_by_hand_and_clipping():
    # -(log .8 + log(1 - .4)) / 2
    assert log_loss(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx(-(math.log(.8) + math.log(.6)) / 2)
    # a confident wrong answer is clipped at eps: -log(1e-15) = 34.54
    assert log_loss(np.array([1]), np.array([0.0])) == pytest.approx(-math.log(1e-15))
    assert log_loss(np.array([1]), np.array([0.0]), eps=0.01) == pytest.approx(-math.log(0.01))


def test_roc_auc_exact_with_ties():
    labels = np.array([1, 1, 0, 0, 1, 0])
    scores = np.array([0.9, 0.5, 0.5, 0.1, 0.3, 0.3])
    # fake/real pairs: (.9 vs .5,.1,.3) 3 wins; (.5 vs .5) tie, (.5 vs .1, .3) 2 wins; (.3 vs .5) loss,
    # (.3 vs .1) win, (.3 vs .3) tie -> (3 + 2.5 + 1.5) / 9
    assert roc_auc(labels, scores) == pytest.approx(7 / 9)
    fpr, tpr, thr = roc_curve(labels, scores)
    # trapezoidal area under the curve through every distinct threshold equals the exact AUC
    assert np.trapezoid(tpr, fpr) == pytest.approx(7 / 9)
    assert thr[0] == np.inf and fpr[-1] == 1 and tpr[-1] == 1
    assert roc_auc(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_threshold_metrics():
    labels = np.array([1, 1, 1, 0, 0])
    scores = np.array([0.9, 0.5, 0.2, 0.5, 0.1])
    # called fake at >= .5: videos 0, 1 (fakes) and 3 (real)
    assert confusion(labels, scores, 0.5) == {"tp": 2, "fp": 1, "tn": 1, "fn": 1}
    m = threshold_metrics(labels, scores, 0.5)
    assert m["accuracy"] == pytest.approx(3 / 5) and m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3) and m["specificity"] == pytest.approx(1 / 2)
    assert threshold_metrics(labels, scores, 0.95)["precision"] is None  # nothing called fake


def test_reliability_and_ece_by_hand():
    labels = np.array([1, 0, 1, 1])
    probs = np.array([0.05, 0.15, 0.95, 0.85])
    r = reliability(labels, probs, n_bins=2)
    # bin [0, .5]: probs .05, .15 -> mean .1, fraction fake 1/2; bin (.5, 1]: .95, .85 -> mean .9, fraction 1
    np.testing.assert_allclose(r.counts, [2, 2])
    np.testing.assert_allclose(r.mean_prob, [0.1, 0.9])
    np.testing.assert_allclose(r.frac_fake, [0.5, 1.0])
    # ECE = 2/4 * |.5 - .1| + 2/4 * |1 - .9| = .25
    assert expected_calibration_error(labels, probs, 2) == pytest.approx(0.25)
    assert np.isnan(reliability(labels, probs, 10).mean_prob[5])  # empty bin


def test_fit_temperature_recovers_the_true_temperature():
    rng = np.random.default_rng(0)
    true_logit = rng.normal(0, 2, 20000)
    labels = (rng.random(20000) < sigmoid(true_logit)).astype(int)
    overconfident = true_logit * 3  # a model whose logits are 3x too large needs T = 3
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3.0, rel=0.05)
    assert nll(overconfident, labels, t) < nll(overconfident, labels, 1.0)
    with pytest.raises(DftagError, match="both real and fake"):
        fit_temperature(np.array([1.0, 2.0]), np.array([1, 1]))


@pytest.fixture
def video_files(tmp_path):
    scores = tmp_path / "scores.csv"
    scores.write_text("filename,label\na.mp4,0.9\nsub/b.mp4,0.2\nc.mp4,0.6\nd.mp4,0.4\n")
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps({"a.mp4": {"label": "FAKE", "original": "b.mp4", "split": "train"},
                                "b.mp4": {"label": "REAL"}, "c.mp4": {"label": "REAL"},
                                "d.mp4": {"label": "FAKE"}, "e.mp4": {"label": "REAL"}}))
    return scores, meta


def test_load_and_align(video_files, tmp_path):
    scores, meta = video_files
    labels = load_video_labels(meta)
    assert labels == {"a.mp4": 1, "b.mp4": 0, "c.mp4": 0, "d.mp4": 1, "e.mp4": 0}
    csv_labels = tmp_path / "labels.csv"
    csv_labels.write_text("filename,label\na.mp4,FAKE\nb.mp4,real\nc.mp4,0\nd.mp4,1\n")
    assert load_video_labels(csv_labels) == {"a.mp4": 1, "b.mp4": 0, "c.mp4": 0, "d.mp4": 1}
    videos = align(load_video_scores(scores), labels)
    assert videos.names == ["a.mp4", "b.mp4", "c.mp4", "d.mp4"] and videos.unscored == 1
    np.testing.assert_array_equal(videos.labels, [1, 0, 0, 1])


@pytest.mark.parametrize("content, message", [
    ("name,score\na.mp4,0.5\n", "header with columns filename,label"),
    ("filename,label\na.mp4,1.5\n", r"line 2\): score must be a probability"),
    ("filename,label\na.mp4,abc\n", r"line 2\): score must be a probability"),
    ("filename,label\na.mp4,0.5\na.mp4,0.5\n", "scored twice"),
])
def test_bad_scores(tmp_path, content, message):
    path = tmp_path / "scores.csv"
    path.write_text(content)
    with pytest.raises(DftagError, match=message):
        load_video_scores(path)


def test_bad_labels_and_missing_label(tmp_path, video_files):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"a.mp4": {"label": "MAYBE"}}))
    with pytest.raises(DftagError, match=r"a.mp4\): label must be REAL or FAKE"):
        load_video_labels(bad)
    with pytest.raises(DftagError, match="3 scored videos have no label"):
        align(load_video_scores(video_files[0]), {"a.mp4": 1})


def test_written_scores_read_back_in_order(tmp_path):
    scores = {"b.mp4": 0.25, "a.mp4": 0.8, "x~a.mp4": 1.0}
    write_video_scores(tmp_path / "s.csv", scores)
    assert (tmp_path / "s.csv").read_text().splitlines() == ["filename,label", "b.mp4,0.25", "a.mp4,0.8",
                                                              "x~a.mp4,1.0"]
    assert load_video_scores(tmp_path / "s.csv") == scores


def test_evaluate_videos_command(dftag, video_files, tmp_path):
    scores, meta = video_files
    out = tmp_path / "rep"
    code, stdout, stderr = dftag("evaluate-videos", "--scores", scores, "--labels", meta, "--out", out)
    assert code == 0, stderr
    assert "4 videos" in stdout and "1 labelled videos have no score" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    # labels a=1 b=0 c=0 d=1, scores .9 .2 .6 .4: pairs (a>b, a>c, d>b, d<c) -> AUC 3/4
    assert metrics["roc_auc"] == pytest.approx(0.75)
    assert metrics["confusion"] == {"tp": 1, "fp": 1, "tn": 1, "fn": 1}
    assert len(metrics["videos"]) == 4 and "reliability" in metrics and "roc" in metrics
    for name in ("report.md", "report.html", "roc.png", "reliability.png"):
        assert (out / name).is_file()
    assert "data:image/png;base64," in (out / "report.html").read_text()
    assert "(roc.png)" in (out / "report.md").read_text()
    # an existing report is not replaced without --force, and the error is one line
    code, _, stderr = dftag("evaluate-videos", "--scores", scores, "--labels", meta, "--out", out)
    assert code == 1 and "use --force" in stderr and len(stderr.strip().splitlines()) == 1
    assert dftag("evaluate-videos", "--scores", scores, "--labels", meta, "--out", out, "--force")[0] == 0


def test_calibrate_scores_command(dftag, tmp_path):
    rng = np.random.default_rng(1)
    logit = rng.normal(0, 1.5, 400)
    labels = rng.random(400) < sigmoid(logit)
    probs = sigmoid(logit * 4)  # overconfident video scores
    scores = tmp_path / "scores.csv"
    scores.write_text("filename,label\n" + "".join(f"v{i}.mp4,{p:.8f}\n" for i, p in enumerate(probs)))
    labels_csv = tmp_path / "labels.csv"
    labels_csv.write_text("filename,label\n" + "".join(f"v{i}.mp4,{int(y)}\n" for i, y in enumerate(labels)))
    out = tmp_path / "calibrated.csv"
    code, stdout, stderr = dftag("calibrate", "--scores", scores, "--labels", labels_csv, "--out", out)
    assert code == 0, stderr
    before, after = [line for line in stdout.splitlines() if line.startswith(("before", "after"))]
    assert float(before.split("NLL")[1].split()[0]) > float(after.split("NLL")[1].split()[0])
    calibrated = load_video_scores(out)
    assert len(calibrated) == 400
    y = np.array([int(labels[int(n[1:-4])]) for n in sorted(calibrated)])
    assert log_loss(y, np.array([calibrated[n] for n in sorted(calibrated)])) < log_loss(labels, probs)
    code, _, stderr = dftag("calibrate", "--scores", scores, "--out", out)
    assert code == 1 and "--labels" in stderr


def test_bootstrap_interval_brackets_the_auc_and_narrows_with_more_videos():
    from dftag.eval.video_metrics import bootstrap_interval, roc_auc

    rng = np.random.default_rng(0)
    widths = []
    for n in (20, 200):
        labels = np.repeat([0, 1], n // 2)
        scores = np.r_[rng.normal(0, 1, n // 2), rng.normal(1, 1, n // 2)]
        low, high = bootstrap_interval(labels, scores, roc_auc, resamples=500, seed=1)
        assert low <= roc_auc(labels, scores) <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2
    assert bootstrap_interval(np.ones(5), np.linspace(0, 1, 5), roc_auc) is None  # one class: undefined
    assert bootstrap_interval(labels, scores, roc_auc, resamples=100, seed=3) == \
        bootstrap_interval(labels, scores, roc_auc, resamples=100, seed=3)


def test_video_report_names_the_videos_without_a_face(tmp_path, dftag):
    (tmp_path / "scores.csv").write_text("filename,label\na.mp4,0.5\nb.mp4,0.9\nc.mp4,0.2\n")
    (tmp_path / "labels.csv").write_text("filename,label\na.mp4,FAKE\nb.mp4,FAKE\nc.mp4,REAL\n")
    details = {"videos": {"a.mp4": {"score": 0.5, "no_face": True, "prior": 0.5},
                          "b.mp4": {"score": 0.9, "no_face": False}, "c.mp4": {"score": 0.2, "no_face": False}}}
    (tmp_path / "scores.details.json").write_text(json.dumps(details))
    code, out, err = dftag("evaluate-videos", "--scores", tmp_path / "scores.csv", "--labels",
                           tmp_path / "labels.csv", "--out", tmp_path / "rep")
    assert code == 0, err
    assert "1 videos had no face found" in out
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert metrics["no_face_found"] == ["a.mp4"]
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "Videos without a face" in report and "1 of 3 scored videos had no face found" in report


def test_calibrate_model_on_scored_videos_picks_the_rule_and_its_temperature(dftag, tmp_path, tiny_checkpoint):
    """--model with --scores: the videos that model scored choose the video rule (lowest log loss) and fit
    its temperature into a copy of the checkpoint; scores made by another model are refused."""
    import torch

    from dftag.detector.inference import Detector
    from dftag.pipeline.video_calibration import pick_video_rule

    rng = np.random.default_rng(3)
    labels = rng.random(60) < 0.5
    model_id = Detector.load(tiny_checkpoint).model_id
    videos = {f"v{i}.mp4": {"model": model_id, "scores_by_rule": {
        "median": float(np.clip(0.5 + 0.1 * (2 * y - 1) + rng.normal(0, 0.2), 0.01, 0.99)),  # a weak signal
        "confident": float(0.95 if y else 0.05) if i % 6 else 0.5,  # a strong one, not too sure
        "confident-pooled": 0.5}} for i, y in enumerate(labels)}
    scores = tmp_path / "val.csv"
    scores.write_text("filename,label\n" + "".join(f"{n},{d['scores_by_rule']['median']}\n" for n, d in videos.items()))
    (tmp_path / "val.details.json").write_text(json.dumps({"settings": {}, "videos": videos, "errors": {}}))
    labels_csv = tmp_path / "labels.csv"
    labels_csv.write_text("filename,label\n" + "".join(f"v{i}.mp4,{int(y)}\n" for i, y in enumerate(labels)))
    out = tmp_path / "model.pt"
    code, stdout, stderr = dftag("calibrate", "--model", tiny_checkpoint, "--scores", scores, "--labels",
                                 labels_csv, "--out", out)
    assert code == 0, stderr
    expected = pick_video_rule({r: {n: d["scores_by_rule"][r] for n, d in videos.items()} for r in
                                ("median", "confident", "confident-pooled")},
                               {f"v{i}.mp4": int(y) for i, y in enumerate(labels)})
    assert expected.rule == "confident" and "video rule confident" in stdout
    calibration = torch.load(out, weights_only=True)["calibration"]
    assert calibration == {"temperature": 1.0, "video_rule": "confident",
                           "video_temperature": pytest.approx(expected.temperature)}
    videos["v0.mp4"]["model"] = "ssdlite-mnv2@0123456789"
    (tmp_path / "val.details.json").write_text(json.dumps({"settings": {}, "videos": videos, "errors": {}}))
    code, _, stderr = dftag("calibrate", "--model", tiny_checkpoint, "--scores", scores, "--labels", labels_csv,
                            "--out", tmp_path / "other.pt")
    assert code == 1 and "val.details.json: videos were scored by ssdlite-mnv2@0123456789" in stderr
    assert len(stderr.strip().splitlines()) == 1 and not (tmp_path / "other.pt").exists()
    code, _, stderr = dftag("calibrate", "--model", tiny_checkpoint, "--out", tmp_path / "x.pt")
    assert code == 1 and "--model needs either --data DATASET or --scores" in stderr
