"""The bottom layer every other one builds on: user errors (``errors``), atomic output (``atomic``), box maths
in absolute pixels (``boxes``), JSON and image reading (``io``) and the media file suffixes (``media``)."""
