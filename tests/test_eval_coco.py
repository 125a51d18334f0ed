"""The COCO summary against pycocotools, matching rules, degenerate cases and bad input."""

import contextlib
import copy
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from dftag.core.boxes import box_iou
from dftag.core.errors import DftagError
from dftag.eval.coco_summary import STAT_NAMES, coco_summary
from dftag.eval.detection import evaluate, evaluate_detections
from dftag.eval.matching import match_image
from dftag.eval.results import detection_arrays, ground_truth_arrays

CATEGORIES = [{"id": 1, "name": "real"}, {"id": 2, "name": "fake"}]


def pycocotools_stats(gt, results):
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(results)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def ours(gt, results):
    stats = coco_summary(gt, results)
    return np.array([stats[n] for n in STAT_NAMES])


def random_case(rng):
    """Images with 0-5 faces (some crowd, all sizes), jittered and random detections, coarse scores (ties),
    sometimes more than 100 detections in one image, sometimes a class with no ground truth."""
    n_images = int(rng.integers(1, 12))
    cats = [1, 2] if rng.random() < 0.8 else [1]
    images, anns, results = [], [], []
    for image_id in rng.permutation(n_images) + 1:
        images.append({"id": int(image_id), "width": 400, "height": 300})
        for _ in range(int(rng.integers(0, 6))):
            xy, wh = rng.uniform(0, 250, 2), rng.uniform(4, 160, 2)
            anns.append({"id": len(anns) + 1, "image_id": int(image_id), "category_id": int(rng.choice(cats)),
                         "bbox": [*map(float, xy), *map(float, wh)],
                         "area": float(wh[0] * wh[1] * rng.uniform(0.6, 1.2)), "iscrowd": int(rng.random() < 0.1)})
            for _ in range(int(rng.integers(0, 4))):
                j = rng.normal(0, 0.15, 4) * np.tile(wh, 2)
                results.append({"image_id": int(image_id), "category_id": int(rng.integers(1, 3)),
                                "bbox": [float(xy[0] + j[0]), float(xy[1] + j[1]), float(max(wh[0] + j[2], 1)),
                                         float(max(wh[1] + j[3], 1))], "score": float(rng.integers(0, 10) / 10)})
        n_clutter = int(rng.integers(0, 4)) if rng.random() < 0.9 else 130
        for _ in range(n_clutter):
            results.append({"image_id": int(image_id), "category_id": int(rng.integers(1, 3)),
                            "bbox": [*map(float, rng.uniform(0, 250, 2)), *map(float, rng.uniform(4, 160, 2))],
                            "score": float(rng.integers(0, 20) / 20)})
    return {"images": images, "annotations": anns, "categories": CATEGORIES}, results


def test_agrees_with_pycocotools_on_random_cases():
    rng = np.random.default_rng(1234)
    compared = 0
    for _ in range(120):
        gt, results = random_case(rng)
        if not results:  # pycocotools cannot load empty results
            continue
        np.testing.assert_allclose(ours(gt, results), pycocotools_stats(gt, results), rtol=0, atol=1e-6)
        compared += 1
    assert compared > 80


def test_agrees_on_ties_crowd_and_area_edges():
    # Two detections with equal IoU to two boxes, a crowd box absorbing several detections, areas exactly on
    # the 32**2 and 96**2 edges, a detection that is unmatched and outside the area range.
    gt = {"images": [{"id": 7}, {"id": 3}], "categories": CATEGORIES, "annotations": [
        {"id": 1, "image_id": 7, "category_id": 1, "bbox": [0, 0, 32, 32], "area": 32.0 ** 2, "iscrowd": 0},
        {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 0, 32, 32], "area": 96.0 ** 2, "iscrowd": 0},
        {"id": 3, "image_id": 7, "category_id": 2, "bbox": [100, 100, 200, 200], "area": 40000.0, "iscrowd": 1},
        {"id": 4, "image_id": 3, "category_id": 2, "bbox": [10, 10, 50, 40], "area": 2000.0, "iscrowd": 0}]}
    results = [
        {"image_id": 7, "category_id": 1, "bbox": [0, 0, 32, 32], "score": 0.9},
        {"image_id": 7, "category_id": 1, "bbox": [0, 0, 32, 32], "score": 0.9},
        {"image_id": 7, "category_id": 1, "bbox": [200, 0, 5, 5], "score": 0.9},
        {"image_id": 7, "category_id": 2, "bbox": [110, 110, 50, 50], "score": 0.8},
        {"image_id": 7, "category_id": 2, "bbox": [150, 150, 60, 60], "score": 0.7},
        {"image_id": 3, "category_id": 2, "bbox": [12, 10, 50, 40], "score": 0.8},
        {"image_id": 3, "category_id": 2, "bbox": [10, 12, 50, 40], "score": 0.8},
    ]
    np.testing.assert_allclose(ours(gt, results), pycocotools_stats(gt, results), rtol=0, atol=1e-12)


def test_no_detections_images_without_gt_and_classes_without_detections():
    gt = {"images": [{"id": 1}, {"id": 2}], "categories": CATEGORIES, "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "area": 2500.0, "iscrowd": 0}]}
    # no detections at all (pycocotools' loadRes([]) raises IndexError): 0 where there is ground truth,
    # -1 where there is none (no small or large boxes)
    stats = coco_summary(gt, [])
    assert stats["AP"] == 0 and stats["AR100"] == 0 and stats["APm"] == 0
    assert stats["APs"] == -1 and stats["APl"] == -1 and stats["ARs"] == -1
    # a detection only on the image without ground truth, of the class without ground truth
    results = [{"image_id": 2, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.5}]
    np.testing.assert_allclose(ours(gt, results), pycocotools_stats(gt, results), atol=1e-12)
    # no ground truth at all: every statistic is -1
    empty_gt = {**gt, "annotations": []}
    assert set(coco_summary(empty_gt, results).values()) == {-1.0}
    assert set(coco_summary(empty_gt, []).values()) == {-1.0}


def test_evaluate_detections_contract_and_consistency():
    rng = np.random.default_rng(5)
    gt, results = random_case(rng)
    while not gt["annotations"]:
        gt, results = random_case(rng)
    out = evaluate_detections(gt, results)
    assert set(out["AP50"]) == {"real", "fake"}
    assert set(out["coco"]) == set(STAT_NAMES)
    assert out["mAP50"] == out["coco"]["AP50"] and out["mAP"] == out["coco"]["AP"]
    evaluation = evaluate(gt, results)
    for name, curve in evaluation.curves.items():
        # the PR curve's 101-point AP is the COCO per-class AP50
        assert curve.ap("coco") == pytest.approx(out["AP50"][name], abs=1e-12)
        assert out["classes"][name]["AP50_coco"] == pytest.approx(out["AP50"][name], abs=1e-12)


def test_difficult_boxes_are_ignored():
    gt = {"images": [{"id": 1}], "categories": CATEGORIES, "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 1600.0, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [100, 0, 40, 40], "area": 1600.0, "iscrowd": 0,
         "difficult": 1}]}
    # two detections on the difficult box (both ignored, VOC-style) and one on the regular box
    results = [{"image_id": 1, "category_id": 1, "bbox": [100, 0, 40, 40], "score": 0.9},
               {"image_id": 1, "category_id": 1, "bbox": [101, 0, 40, 40], "score": 0.8},
               {"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.7}]
    out = evaluate_detections(gt, results)
    assert out["classes"]["real"]["n_gt"] == 1
    assert out["AP50"]["real"] == pytest.approx(1.0) and out["classes"]["real"]["AP50_voc07"] == pytest.approx(1.0)
    # without the difficult flag both extra detections count: the first is a TP, the second an FP
    gt["annotations"][1]["difficult"] = 0
    assert evaluate_detections(gt, results)["classes"]["real"]["AP50_voc"] < 1.0


def test_iou_and_crowd_overlap():
    dt = np.array([[0, 0, 10, 10], [5, 0, 10, 10]], dtype=float)
    gt = np.array([[0, 0, 10, 10], [0, 0, 20, 20]], dtype=float)
    iou = box_iou(dt, gt, np.array([False, True]), fmt="xywh")
    # dt0/gt0 identical: 1; dt1/gt0: 50 / (100 + 100 - 50) = 1/3;
    # crowd gt1 overlaps by intersection / detection area: 100/100 and 100/100
    np.testing.assert_allclose(iou, [[1, 1], [1 / 3, 1]])
    assert box_iou(dt, np.array([[50, 50, 5, 5]]), np.array([False]), fmt="xywh").max() == 0


def test_greedy_matching_ties_and_preferences():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    no = np.zeros(2, dtype=bool)
    # equal IoU: the later ground-truth box wins, then the next detection takes the other one
    assert match_image(np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float), gt, no, no).tolist() == [1, 0]
    # a regular box above the threshold beats an ignored box with higher IoU
    gt2 = np.array([[0, 0, 10, 10], [1, 0, 10, 10]], dtype=float)
    ignore = np.array([True, False])
    assert match_image(np.array([[0, 0, 10, 10]], float), gt2, no, ignore).tolist() == [1]
    # an ignored (difficult) box absorbs several detections; a regular one only the first
    assert match_image(np.array([[0, 0, 10, 10]] * 2, float), gt2[:1], no[:1], ignore[:1]).tolist() == [0, 0]
    assert match_image(np.array([[0, 0, 10, 10]] * 2, float), gt2[:1], no[:1], no[:1]).tolist() == [0, -1]
    # IoU exactly at the threshold matches (>=)
    assert match_image(np.array([[0, 0, 10, 10]], float), np.array([[0, 0, 20, 10]], float), no[:1], no[:1],
                       threshold=0.5).tolist() == [0]


@pytest.mark.parametrize("results, message", [
    ({"not": "a list"}, "must be a JSON list"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}], r"\(result 0\): result lacks score"),
    ([{"image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}], "image_id 99 is not in the ground"),
    ([{"image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1], "score": 0.5}], "category_id 7 is not in the ground"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}], "bbox must be a list"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, "1", 1], "score": 0.5}], "bbox must be a list"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 1], "score": 0.5}], "width and height must be >= 0"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": float("nan")}], "score must be a finite"),
    ([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": True}], "score must be a finite"),
])
def test_bad_results_give_one_clear_error(results, message):
    gt = ground_truth_arrays({"images": [{"id": 1}], "annotations": [], "categories": CATEGORIES})
    with pytest.raises(DftagError, match=message) as err:
        detection_arrays(results, gt, "preds.json")
    assert str(err.value).startswith("preds.json") and "\n" not in str(err.value)


@pytest.mark.parametrize("gt, message", [
    ([], "must be a COCO object"),
    ({"images": [], "annotations": []}, "lacks the list 'categories'"),
    ({"images": [{"id": 1}, {"id": 1}], "annotations": [], "categories": CATEGORIES}, "duplicate image ids"),
    ({"images": [{"id": 1}], "categories": CATEGORIES,
      "annotations": [{"id": 5, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}]}, "annotation 5.*unknown"),
    ({"images": [{"id": 1}], "categories": CATEGORIES,
      "annotations": [{"id": 5, "image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1]}]}, "category_id 3"),
])
def test_bad_ground_truth_gives_one_clear_error(gt, message):
    with pytest.raises(DftagError, match=message):
        ground_truth_arrays(gt, "gt.json")
