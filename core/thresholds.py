"""Score thresholds, each defined once and named for what it means. All are probabilities in 0..1."""

FACE_SCORE_THRESHOLD = 0.3
"""A detection counts from this probability of its label on: the default of ``Detector.predict``, the
detections calibration fits on, and the operating point (and example boxes) of detection reports."""

TRACK_FACE_THRESHOLD = 0.5
"""The face probability (``p(real) + p(fake)``) from which a detection starts a track in ``annotate`` and
``score`` when neither the settings nor the model's calibration set one: what annotated videos draw and what
video scores aggregate."""

EVAL_MIN_SCORE = 0.01
"""Detections are kept down to this score when predicting for evaluation or validation, so that
precision-recall curves (and AP) reach high recall."""

FAKE_DECISION_THRESHOLD = 0.5
"""A face track or video whose probability of being fake reaches this is called fake (labels, confusion
matrices, accuracy)."""
