"""Average precision under the three definitions, on curves small enough to compute by hand."""

import numpy as np
import pytest

from dftag.eval.ap import (
    COCO_RECALL_LEVELS,
    ap_coco,
    ap_voc,
    ap_voc07,
    interpolated_precision,
    precision_envelope,
    precision_recall,
)

# Five detections by descending score: TP, FP, TP, TP, FP; 4 ground-truth boxes.
#   k  tp fp  precision  recall
#   1   1  0  1/1 = 1     1/4 = .25
#   2   1  1  1/2 = .5    .25
#   3   2  1  2/3         2/4 = .5
#   4   3  1  3/4 = .75   3/4 = .75
#   5   3  2  3/5 = .6    .75
TP = np.array([True, False, True, True, False])


@pytest.fixture
def curve():
    return precision_recall(TP, ~TP, 4)


def test_precision_recall_and_envelope(curve):
    precision, recall = curve
    np.testing.assert_allclose(precision, [1, 1 / 2, 2 / 3, 3 / 4, 3 / 5])
    np.testing.assert_allclose(recall, [.25, .25, .5, .75, .75])
    # envelope: highest precision at this point or later
    np.testing.assert_allclose(precision_envelope(precision), [1, .75, .75, .75, .6])


def test_voc_all_point(curve):
    # recall steps 0->.25 at envelope 1, .25->.5 at .75, .5->.75 at .75, .75->1 at 0 (never reached):
    # .25*1 + .25*.75 + .25*.75 + .25*0 = .625
    assert ap_voc(*curve) == pytest.approx(0.625, abs=1e-12)


def test_voc07_eleven_point(curve):
    # levels 0, .1, .2 -> max precision at recall >= level = 1        (3 levels)
    # levels .3, .4, .5, .6, .7 -> points with recall .5/.75 -> .75   (5 levels)
    # levels .8, .9, 1 -> recall never reaches them -> 0              (3 levels)
    # (3 * 1 + 5 * .75) / 11 = 6.75 / 11
    assert ap_voc07(*curve) == pytest.approx(6.75 / 11, abs=1e-12)


def test_coco_101_point(curve):
    # levels 0.00..0.25 (26 levels) -> first point with recall >= level is k=1, envelope 1
    # levels 0.26..0.50 (25) -> k=3, envelope .75; levels 0.51..0.75 (25) -> k=4, envelope .75
    # levels 0.76..1.00 (25) -> unreachable -> 0.       (26 + 50 * .75) / 101 = 63.5 / 101
    assert COCO_RECALL_LEVELS[25] == 0.25 and COCO_RECALL_LEVELS[75] == 0.75
    assert ap_coco(*curve) == pytest.approx(63.5 / 101, abs=1e-12)


def test_perfect_and_empty_curves():
    tp = np.ones(3, dtype=bool)
    precision, recall = precision_recall(tp, ~tp, 3)
    for ap in (ap_voc, ap_voc07, ap_coco):
        assert ap(precision, recall) == pytest.approx(1.0)
    empty = np.zeros(0), np.zeros(0)
    assert ap_voc(*empty) == 0.0 and ap_voc07(*empty) == 0.0 and ap_coco(*empty) == 0.0
    assert interpolated_precision(*empty, COCO_RECALL_LEVELS).shape == (101,)


def test_half_recall_all_false_positives_first():
    # FP, FP, TP with 2 ground truth: precision 0, 0, 1/3; recall 0, 0, .5
    tp = np.array([False, False, True])
    precision, recall = precision_recall(tp, ~tp, 2)
    assert ap_voc(precision, recall) == pytest.approx(0.5 / 3)          # .5 * 1/3
    assert ap_voc07(precision, recall) == pytest.approx(6 / 3 / 11)     # levels 0...5 reach 1/3
    assert ap_coco(precision, recall) == pytest.approx(51 / 3 / 101)    # levels 0.00..0.50 reach 1/3
