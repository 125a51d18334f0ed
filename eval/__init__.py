"""Evaluation: matching and AP (``matching``, ``ap``), the COCO summary (``coco_summary``), the
``evaluate_detections`` API (``detection``), results checking (``results``), video-level metrics
(``video_metrics``), calibration (``calibration``), running a detector over a dataset (``predict``), plots and
report folders (``plots``, ``report``). See docs/evaluation.md."""
