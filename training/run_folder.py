"""The files of a training run folder ``RUN/``, named once (``dftag train --out RUN``; see docs/training.md)."""

CONFIG_FILE = "config.json"  # the resolved TrainConfig
METRICS_FILE = "metrics.csv"  # one row per SSD epoch
LAST_FILE = "last.pt"  # checkpoint after the last finished epoch (two-stage once the classifier has trained)
BEST_FILE = "best.pt"  # checkpoint of the best validation epoch
CLASSIFIER_METRICS_FILE = "classifier_metrics.csv"  # one row per crop-classifier epoch (two-stage runs)
CLASSIFIER_LAST_FILE = "classifier_last.pt"  # the classifier stage's training state, to resume

METRIC_COLUMNS = ("epoch", "lr", "loss", "loss_box", "loss_cls", "val_AP50_real", "val_AP50_fake",
                  "val_mAP50", "val_mAP", "seconds")
CLASSIFIER_METRIC_COLUMNS = ("epoch", "lr", "loss", "val_auc", "val_log_loss", "seconds")
