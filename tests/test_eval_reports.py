"""Plots, report folders, and the model-driven commands (evaluate --model, calibrate --model, report RUN)."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from dftag.eval import plots
from dftag.eval.calibration import reliability
from dftag.eval.detection import evaluate
from dftag.eval.report import PR_PNG

CATEGORIES = [{"id": 1, "name": "real"}, {"id": 2, "name": "fake"}]


def png_size(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


@pytest.fixture
def scored(tmp_path):
    """A small ground truth and results with both classes, written to files."""
    gt = {"images": [{"id": i} for i in (1, 2, 3)], "categories": CATEGORIES, "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 50], "area": 2000.0, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [80, 10, 40, 50], "area": 2000.0, "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 2, "bbox": [20, 20, 60, 60], "area": 3600.0, "iscrowd": 0}]}
    results = [
        {"image_id": 1, "category_id": 1, "bbox": [11, 10, 40, 50], "score": 0.9},
        {"image_id": 1, "category_id": 2, "bbox": [80, 12, 40, 50], "score": 0.8},
        {"image_id": 2, "category_id": 2, "bbox": [0, 0, 20, 20], "score": 0.7},
        {"image_id": 3, "category_id": 1, "bbox": [5, 5, 20, 20], "score": 0.2}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "preds.json").write_text(json.dumps(results))
    return gt, results


def test_plots_are_pngs_of_the_expected_size(tmp_path, scored):
    evaluation = evaluate(*scored)
    plots.plot_pr_curves(evaluation.curves, tmp_path / "pr.png", threshold=0.5)
    series = plots.EpochSeries(np.array([1, 2, 3]), {"val_mAP50": np.array([.1, .3, .4]),
                                                     "val_mAP": np.array([.05, .1, np.nan])})
    plots.plot_metrics_by_epoch(series, tmp_path / "epochs.png")
    plots.plot_roc(np.array([0, .5, 1]), np.array([0, .8, 1]), 0.7, tmp_path / "roc.png", (0.5, 0.8), 0.5)
    labels, probs = np.array([0, 1, 1, 0]), np.array([.1, .8, .6, .7])
    plots.plot_reliability(reliability(labels, probs), tmp_path / "rel.png", 0.2)
    for name in ("pr.png", "epochs.png", "roc.png", "rel.png"):
        assert png_size(tmp_path / name) == plots.PLOT_SIZE
    image = np.zeros((60, 80, 3), np.uint8)
    example = plots.Example(image, np.array([[5, 5, 30, 40]]), ["real"], np.array([[6, 5, 30, 41]]), ["fake"],
                            np.array([0.87]), "frame")
    plots.plot_examples([example] * 4, tmp_path / "ex.png", columns=3)
    # 3 columns x 2 rows of EXAMPLE_TILE-inch tiles
    assert png_size(tmp_path / "ex.png") == (int(3 * plots.EXAMPLE_TILE * plots.DPI),
                                             int(2 * plots.EXAMPLE_TILE * plots.DPI))


def test_operating_point(scored):
    curve = evaluate(*scored).curves["fake"]
    # fake detections by score: .8 TP, .7 FP; 2 fake faces
    assert curve.operating_point(0.75) == pytest.approx((1.0, 0.5))
    assert curve.operating_point(0.5) == pytest.approx((0.5, 0.5))
    assert curve.operating_point(0.95) is None


def test_evaluate_preds_command(dftag, tmp_path, scored):
    out = tmp_path / "rep"
    code, stdout, stderr = dftag("evaluate", "--preds", tmp_path / "preds.json", "--gt", tmp_path / "gt.json",
                                 "--out", out)
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    # real: one face, one TP at .9, one FP at .2 -> AP 1; fake: TP .8, FP .7, one face missed -> AP50 .5
    assert metrics["AP50"]["real"] == pytest.approx(1.0)
    assert metrics["classes"]["fake"]["AP50_voc"] == pytest.approx(0.5)
    # COCO 101-point: fake precision 1 up to recall .5, i.e. levels 0.00..0.50 (51 of 101)
    assert metrics["mAP50"] == pytest.approx((1 + 51 / 101) / 2)
    assert metrics["classes"]["fake"]["pr_curve"]["score"] == [0.8, 0.7]
    assert f"mAP50 {metrics['mAP50']:.4f}" in stdout
    md = (out / "report.md").read_text()
    assert f"({PR_PNG})" in md and "| real | 1 | 2 |" in md and "AP75 (AP75)" not in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 1 and "<table>" in html
    assert png_size(out / PR_PNG) == plots.PLOT_SIZE


@pytest.mark.parametrize("preds, message", [
    ("[{\"image_id\": 1", "invalid JSON"),
    ("{\"a\": 1}", "must be a JSON list"),
    ('[{"image_id": 42, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]', "image_id 42 is not in the"),
    ('[{"image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1], "score": 0.5}]', "category_id 9 is not in the"),
])
def test_evaluate_bad_preds_one_line_no_output(dftag, tmp_path, scored, preds, message):
    (tmp_path / "bad.json").write_text(preds)
    out = tmp_path / "rep"
    code, stdout, stderr = dftag("evaluate", "--preds", tmp_path / "bad.json", "--gt", tmp_path / "gt.json",
                                 "--out", out)
    assert code == 1 and message in stderr and "bad.json" in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert not out.exists() and not list(tmp_path.glob(".rep*"))


def test_evaluate_needs_one_source(dftag, tmp_path):
    code, _, stderr = dftag("evaluate", "--out", tmp_path / "r")
    assert code == 1 and "either --model" in stderr


@pytest.fixture
def tiny_model(tmp_path):
    """A random ssdlite-mnv2 at 96 px that finds boxes everywhere: background bias pushed down, random class
    weights (so real/fake logits vary with the image), box regression zeroed (boxes are anchors)."""
    from dftag.detector.checkpoint import save_checkpoint
    from dftag.detector.models import build_model

    torch.manual_seed(0)
    model = build_model("ssdlite-mnv2", pretrained_backbone=False, image_size=96)
    with torch.no_grad():
        for name, param in model.head.classification_head.named_parameters():
            if name.endswith("1.bias"):  # the last conv of each level: (anchors x 3 classes)
                param[0::3] = -8.0
            elif name.endswith("1.weight"):
                param.normal_(0.0, 0.5)
        for name, param in model.head.regression_head.named_parameters():
            if ".1." in name:
                param.zero_()
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, model)
    return path


def test_model_commands_evaluate_calibrate_report(dftag, tmp_path, face_dataset, tiny_model):
    torch.set_num_threads(1)
    data = face_dataset(n_train=3, n_val=6)
    # evaluate --model on the val split
    out = tmp_path / "eval"
    code, stdout, stderr = dftag("evaluate", "--model", tiny_model, "--data", data, "--split", "val", "--out", out,
                                 "--examples", "2", "--device", "cpu")
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    results = json.loads((out / "results.json").read_text())
    assert results and metrics["source"]["split"] == "val"
    assert metrics["classes"]["real"]["n_gt"] == 4 and metrics["classes"]["fake"]["n_gt"] == 4
    assert (out / "examples.png").is_file() and "(examples.png)" in (out / "report.md").read_text()

    # calibrate: matched detections give (logit, label) pairs; the copy carries the fitted temperature.
    # The random model's boxes rarely overlap the drawn faces, so make its own top boxes the ground truth.
    from dftag.annotations.dataset import load_dataset, save_coco
    from dftag.core.boxes import xyxy_to_xywh
    from dftag.core.io import read_image
    from dftag.detector.inference import Detector

    val = load_dataset(data, "val")
    found = Detector.load(tiny_model).predict([read_image(val.image_path(img)) for img in val.images], 0.01)
    val.coco["annotations"] = [
        {"id": 10 * i + k, "image_id": img["id"], "category_id": 1 + k % 2, "bbox": xyxy_to_xywh(box.tolist()),
         "area": float((box[2] - box[0]) * (box[3] - box[1])), "iscrowd": 0}
        for i, (img, det) in enumerate(zip(val.images, found)) for k, box in enumerate(det.boxes[:4])]
    save_coco(val.coco, val.source)
    calibrated = tmp_path / "cal.pt"
    code, stdout, stderr = dftag("calibrate", "--model", tiny_model, "--data", data, "--split", "val",
                                 "--score-threshold", "0.01", "--out", calibrated, "--device", "cpu")
    assert code == 0, stderr
    after = next(line for line in stdout.splitlines() if line.startswith("after"))
    temperature = float(after.split("T=")[1].split()[0])
    ckpt = torch.load(calibrated, weights_only=True)
    assert ckpt["calibration"]["temperature"] == pytest.approx(temperature, rel=1e-3)
    # ... and the face threshold where face detection's F1 on the split peaks
    faces = next(line for line in stdout.splitlines() if line.startswith("face threshold"))
    assert ckpt["calibration"]["face_threshold"] == pytest.approx(float(faces.split()[2].rstrip(":")), abs=1e-4)
    assert torch.load(tiny_model, weights_only=True)["calibration"]["temperature"] == 1.0  # source untouched

    # report RUN: config.json names the dataset, metrics.csv has the epochs, best.pt the model
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"data": str(data), "arch": "ssdlite-mnv2"}))
    (run / "best.pt").write_bytes(tiny_model.read_bytes())
    with open(run / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "lr", "loss", "loss_box", "loss_cls", "val_AP50_real", "val_AP50_fake",
                         "val_mAP50", "val_mAP", "seconds"])
        writer.writerow([1, 0.01, 3.0, 1.0, 2.0, 0.1, 0.2, 0.15, 0.05, 1.5])
        writer.writerow([2, 0.005, 2.0, 0.8, 1.2, 0.3, 0.4, 0.35, 0.12, 1.4])
    code, stdout, stderr = dftag("report", run, "--examples", "2", "--device", "cpu")
    assert code == 0, stderr
    report = run / "report"
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["epochs"]["val_mAP"] == [0.05, 0.12] and "mAP50" in metrics
    for name in ("map_by_epoch.png", "pr_curves.png", "examples.png", "report.html"):
        assert (report / name).is_file()
    assert png_size(report / "map_by_epoch.png") == plots.PLOT_SIZE
    assert "at epoch 2" in (report / "report.md").read_text()
    assert (report / "report.html").read_text().count("data:image/png;base64,") == 3

    # a broken metrics.csv is one clear line
    (run / "metrics.csv").write_text("epoch,val_mAP\n1,abc\n")
    code, _, stderr = dftag("report", run, "--force")
    assert code == 1 and "metrics.csv (line 2)" in stderr and len(stderr.strip().splitlines()) == 1


def test_report_of_a_run_whose_config_names_no_dataset_asks_for_data(tmp_path, dftag):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    code, _, stderr = dftag("report", run)
    assert code == 1 and "config.json: config has no 'data' (give the dataset as --data)" in stderr
    assert len(stderr.strip().splitlines()) == 1 and not (run / "report").exists()


@pytest.fixture
def pr_figures(monkeypatch):
    """The matplotlib figures the plot functions save, drawn (so text and legend extents are known)."""
    figures, save = [], plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (save(fig, path), figures.append(fig)))
    return figures


def _zigzag_curve():
    """Detections FP, TP, FP, TP, TP over 4 faces: the raw curve goes up and down."""
    from dftag.eval.ap import precision_recall
    from dftag.eval.detection import PRCurve

    tp = np.array([False, True, False, True, True])
    precision, recall = precision_recall(tp, ~tp, 4)
    return PRCurve("fake", 4, np.linspace(0.9, 0.5, 5), precision, recall)


def test_pr_plot_draws_the_step_envelope_that_ap_integrates(tmp_path, pr_figures):
    curve = _zigzag_curve()
    plots.plot_pr_curves({"fake": curve}, tmp_path / "pr.png")
    (line,) = [ln for ln in pr_figures[0].axes[0].get_lines() if ln.get_label().startswith("fake")]
    x, y = (np.asarray(v, dtype=float) for v in line.get_data())
    # only horizontal and vertical segments, precision never rising with recall
    assert np.all((np.diff(x) == 0) | (np.diff(y) == 0)) and np.all(np.diff(x) >= 0) and np.all(np.diff(y) <= 0)
    # the area under the drawn line is the VOC all-point AP (the envelope's integral)
    area = np.sum(np.diff(x) * y[1:])
    assert area == pytest.approx(curve.ap("voc")) and curve.ap("voc") > 0
    assert x[0] == 0 and x[-1] == pytest.approx(curve.recall[-1]) and y[-1] == 0


def test_pr_plot_legend_cannot_cover_the_curves(tmp_path, scored, pr_figures):
    plots.plot_pr_curves(evaluate(*scored).curves, tmp_path / "pr.png", threshold=0.5)
    fig = pr_figures[0]
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    legend, axes_box = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert not legend.overlaps(axes_box)  # outside the plotting area, so no corner of any curve is hidden
    corner = ax.transData.transform([[0, 0.7], [0.3, 1.0]])  # low recall, high precision
    assert not (legend.x0 < corner[1, 0] and corner[0, 0] < legend.x1
                and legend.y0 < corner[1, 1] and corner[0, 1] < legend.y1)
    figure_box = fig.bbox
    assert figure_box.x0 <= legend.x0 and legend.x1 <= figure_box.x1 and figure_box.y0 <= legend.y0  # not cut off
    assert png_size(tmp_path / "pr.png") == plots.PLOT_SIZE


@pytest.fixture
def blind_model(tmp_path):
    """A random ssdlite-mnv2 at 96 px whose background logit wins everywhere: it detects nothing."""
    from dftag.detector.checkpoint import save_checkpoint
    from dftag.detector.models import build_model

    torch.manual_seed(0)
    model = build_model("ssdlite-mnv2", pretrained_backbone=False, image_size=96)
    with torch.no_grad():
        for name, param in model.head.classification_head.named_parameters():
            if name.endswith("1.bias"):
                param[0::3] = 50.0
    path = tmp_path / "blind.pt"
    save_checkpoint(path, model)
    return path


def test_a_model_that_detects_nothing_says_how_many_at_which_score(dftag, tmp_path, face_dataset, blind_model,
                                                                    pr_figures):
    torch.set_num_threads(1)
    data = face_dataset(n_train=1, n_val=3)
    out = tmp_path / "eval"
    code, stdout, stderr = dftag("evaluate", "--model", blind_model, "--data", data, "--split", "val", "--out", out,
                                 "--examples", "0", "--device", "cpu")
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["detections"] == {"count": 0, "min_score": 0.01, "threshold": 0.3, "at_threshold": 0}
    why = "No detections at score >= 0.01"
    assert metrics["notes"][0].startswith(why) and why in stdout
    assert why in (out / "report.md").read_text() and why.replace(">", "&gt;") in (out / "report.html").read_text()
    assert "| detections (score >= 0.01) | 0 |" in (out / "report.md").read_text()
    # the PR plot says it too, per class, instead of showing empty axes
    legend = [t.get_text() for t in pr_figures[0].axes[0].get_legend().get_texts()]
    assert any("real: no detections at score >= 0.01" in t for t in legend)
    assert any("fake: no detections at score >= 0.01" in t for t in legend)


def test_no_ground_truth_is_n_a_on_the_command_line_as_in_the_report(dftag, tmp_path, scored):
    gt, results = scored
    gt["annotations"] = [a for a in gt["annotations"] if a["category_id"] == 1]  # real faces only
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    out = tmp_path / "rep"
    code, stdout, stderr = dftag("evaluate", "--preds", tmp_path / "preds.json", "--gt", tmp_path / "gt.json",
                                 "--out", out)
    assert code == 0, stderr
    assert "AP50 fake n/a" in stdout and "-1.0" not in stdout
    assert "No fake faces in the ground truth" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["AP50"]["fake"] == -1 and metrics["detections"]["min_score"] is None
    assert metrics["detections"]["count"] == 4 and metrics["classes"]["real"]["n_detections_at_threshold"] == 1
    md = (out / "report.md").read_text()
    assert "No fake faces in the ground truth" in md and "4 detections, 3 of them at score >= 0.3" in md


def test_epoch_plot_shows_a_class_without_ground_truth_as_n_a(tmp_path, pr_figures):
    series = plots.EpochSeries(np.array([1, 2]), {"val_AP50_real": np.array([.2, .5]),
                                                  "val_AP50_fake": np.array([-1.0, -1.0])})
    plots.plot_metrics_by_epoch(series, tmp_path / "epochs.png")
    ax = pr_figures[0].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["AP50 real", "AP50 fake n/a (no ground truth)"]
    fake = next(ln for ln in ax.get_lines() if ln.get_label().startswith("AP50 fake"))
    assert np.all(np.isnan(np.asarray(fake.get_ydata(), dtype=float)))  # not drawn at -1
