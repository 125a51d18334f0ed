"""Score thresholds, each defined once and named for what it means. All are probabilities in 0..1."""

FACE_SCORE_THRESHOLD = 0.3
"""A detection counts as a face from this probability of its label on: what annotated videos draw and track,
what video scores aggregate, and the operating point (and example boxes) of detection reports."""

EVAL_MIN_SCORE = 0.01
"""Detections are kept down to this score when predicting for evaluation or validation, so that
precision-recall curves (and AP) reach high recall."""

FAKE_DECISION_THRESHOLD = 0.5
"""A face track or video whose probability of being fake reaches this is called fake (labels, confusion
matrices, accuracy)."""
