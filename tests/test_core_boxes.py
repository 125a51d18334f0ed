"""Box maths (IoU, greedy matching) and the per-face Detections type of dftag.core."""

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou as torchvision_box_iou

from dftag.core.boxes import box_iou, greedy_match
from dftag.core.detections import NOT_TRACKED, Detections


def test_box_iou_xyxy_agrees_with_torchvision_and_broadcasts():
    rng = np.random.default_rng(0)
    xy, wh = rng.uniform(0, 60, (12, 2)), rng.uniform(1, 40, (12, 2))
    a, b = np.hstack([xy, xy + wh])[:7], np.hstack([xy, xy + wh])[7:]
    expected = torchvision_box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(box_iou(a, b), expected, atol=1e-12)
    assert box_iou(np.stack([a, a]), np.stack([b, b])).shape == (2, 7, 5)
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 5)
    with pytest.raises(ValueError):
        box_iou(a, b, fmt="cxcywh")


def test_greedy_match_takes_rows_in_order_and_respects_the_threshold():
    iou = np.array([[[0.6, 0.9], [0.7, 0.8], [0.2, 0.1]]])  # 3 rows (priority order) x 2 columns
    # row 0 takes its best column 1; row 1 the still-free column 0; row 2 has no column above 0.5
    assert greedy_match(iou, [0.5]).tolist() == [[[[1, 0, -1]]]]
    # at 0.75 row 1's 0.7 with the free column no longer qualifies
    assert greedy_match(iou, [0.65, 0.75])[0, 0].tolist() == [[1, 0, -1], [1, -1, -1]]
    # a reusable column stays free: row 1 takes it too
    assert greedy_match(iou, [0.5], reusable=np.array([[False, True]]))[0, 0, 0].tolist() == [1, 1, -1]


def faces(n):
    return Detections(np.arange(4 * n).reshape(n, 4), np.ones(n), np.linspace(0.9, 0.5, n), np.zeros(n),
                      np.full(n, 0.25))


def test_detections_dtypes_selection_and_concatenation():
    det = faces(3)
    assert len(det) == 3 and det.boxes.dtype == np.float32 and det.labels.dtype == np.int64
    assert det.track_ids.tolist() == [NOT_TRACKED] * 3
    one = det[1]
    assert isinstance(one, Detections) and len(one) == 1 and one.boxes.tolist() == [[4, 5, 6, 7]]
    assert det[det.scores > 0.6].scores.tolist() == pytest.approx([0.9, 0.7])
    both = Detections.concatenate([det[[2]], det[:1]])
    assert both.boxes[:, 0].tolist() == [8, 0]
    empty = Detections.empty()
    assert len(empty) == 0 and empty.boxes.shape == (0, 4) and len(Detections.concatenate([])) == 0
    with pytest.raises(ValueError, match="one row per face"):
        Detections(np.zeros((2, 4)), [1], [0.5], [0.0], [0.5])
