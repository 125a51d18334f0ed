"""The video pipeline as library functions: face tracking (``tracker``), aggregation of per-frame scores into
track and video scores (``aggregate``), drawing (``render``), ``annotate_video`` (``annotator``) and
``score_videos`` (``scorer``), choosing and calibrating the video-score rule on validation videos
(``video_calibration``), background prefetching (``prefetch``) and the end-to-end demo job (``demo``)."""
