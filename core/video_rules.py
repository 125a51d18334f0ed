"""The names of the rules that turn a video's per-frame face ``p_fake`` into one video score (what they do:
:mod:`dftag.pipeline.aggregate`). Named here, in the bottom layer, so that a checkpoint's stored rule can be
checked where the checkpoint is read."""

VIDEO_RULES = ("median", "confident", "confident-pooled")
