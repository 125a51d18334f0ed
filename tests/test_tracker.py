"""The ByteTrack-style tracker: stable ids, motion prediction, low-score continuation, ageing."""

import numpy as np
import pytest

from dftag.core.detections import Detections
from dftag.pipeline.tracker import Tracker


def box(x, y, side=20):
    return [x, y, x + side, y + side]


def faces(boxes, scores):
    """Detections of ``boxes`` (xyxy) with detection ``scores``; labels and p_fake do not matter to the tracker."""
    n = len(scores)
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.ones(n), scores, np.zeros(n), np.full(n, 0.5))


def test_moving_face_keeps_its_id_and_velocity_predicts_between_detections():
    tracker = Tracker(high_score=0.5, low_score=0.1, min_iou=0.3, max_age=1.0)
    ids = []
    for i in range(10):  # 100 px/s to the right, detected every 0.1 s
        t = i * 0.1
        out = tracker.update(t, faces([box(10 + 10 * i, 30)], [0.9]))
        ids.append(int(out.track_ids[0]))
    assert ids == [1] * 10
    carried = tracker.predict(0.95)  # no detection: the track's box carried forward
    assert len(carried) == 1 and carried.track_ids.tolist() == [1]
    np.testing.assert_allclose(carried.boxes[0], box(10 + 95, 30), atol=1.0)


def test_fast_face_is_matched_only_thanks_to_motion_prediction():
    tracker = Tracker(min_iou=0.5)
    tracker.update(0.0, faces([box(0, 0)], [0.9]))
    tracker.update(0.1, faces([box(8, 0)], [0.9]))  # IoU 0.43 < 0.5: a new track without motion
    assert [t.track_id for t in tracker.tracks] == [1, 2]
    tracker = Tracker(min_iou=0.3)
    for i in range(4):
        tracker.update(i * 0.1, faces([box(8 * i, 0)], [0.9]))
    # now 14 px a step: raw IoU 0.18, but the predicted box overlaps
    out = tracker.update(0.4, faces([box(8 * 3 + 14, 0)], [0.9]))
    assert out.track_ids.tolist() == [1]


def test_two_faces_get_distinct_stable_ids():
    tracker = Tracker()
    seen = set()
    for i in range(5):
        out = tracker.update(i * 0.04, faces([box(100 + i, 10), box(10 + i, 10)], [0.8, 0.9]))
        np.testing.assert_array_equal(out.boxes, [box(100 + i, 10), box(10 + i, 10)])  # in detection order
        seen.add(tuple(out.track_ids.tolist()))
    assert seen == {(1, 2)}


def test_low_score_detection_continues_a_track_but_never_starts_one():
    tracker = Tracker(high_score=0.5, low_score=0.1)
    assert len(tracker.update(0.0, faces([box(0, 0)], [0.3]))) == 0
    tracker.update(0.1, faces([box(0, 0)], [0.9]))
    out = tracker.update(0.2, faces([box(1, 0), box(200, 200)], [0.3, 0.3]))
    assert out.track_ids.tolist() == [1] and out.boxes.tolist() == [box(1, 0)]
    assert len(tracker.update(0.3, faces([box(2, 0)], [0.05]))) == 0  # below low_score: ignored


def test_short_miss_keeps_the_id_long_miss_starts_a_new_track():
    tracker = Tracker(max_age=0.5)
    tracker.update(0.0, faces([box(0, 0)], [0.9]))
    tracker.update(0.1, Detections.empty())
    assert len(tracker.predict(0.15)) == 0  # a missed track is not drawn
    assert tracker.update(0.3, faces([box(0, 0)], [0.9])).track_ids.tolist() == [1]
    tracker.update(0.4, Detections.empty())
    tracker.update(1.0, Detections.empty())  # unseen for 0.7 s > max_age: removed
    assert tracker.tracks == []
    assert tracker.update(1.1, faces([box(0, 0)], [0.9])).track_ids.tolist() == [2]


def test_rejects_inconsistent_thresholds():
    with pytest.raises(ValueError):
        Tracker(high_score=0.2, low_score=0.5)


def test_tracks_follow_face_probability_not_the_label_score():
    """A two-stage detection: a sure face (face probability 0.9) whose real/fake call is unsure (label score
    0.9 x 0.5 = 0.45) starts a track at 0.5; a likely background box (0.3) does not."""
    tracker = Tracker(high_score=0.5, low_score=0.2)
    found = Detections([box(0, 0), box(50, 50)], [2, 2], [0.45, 0.27], [0.0, 0.0], [0.5, 0.5],
                       face_scores=[0.9, 0.3])
    out = tracker.update(0.0, found)
    assert out.track_ids.tolist() == [1] and out.face_scores.tolist() == pytest.approx([0.9])
    assert Detections([box(0, 0)], [1], [0.7], [0.0], [0.5]).face_scores.tolist() == pytest.approx([0.7])
