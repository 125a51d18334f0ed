"""The bottom layer every other one builds on: user errors (``errors``), atomic output (``atomic``), the checks
that an output is never, contains or overwrites an input (``outputs``), box maths in absolute pixels
(``boxes``), the per-face detection type (``detections``), JSON and image reading (``io``), the media file
suffixes (``media``), score thresholds (``thresholds``) and the names of the video rules (``video_rules``)."""
