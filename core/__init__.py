"""The bottom layer every other one builds on: user errors (``errors``), atomic output (``atomic``), box maths
in absolute pixels (``boxes``), the per-face detection type (``detections``), JSON and image reading (``io``)
and the media file suffixes (``media``)."""
