"""Built-in sample data: procedural faces (``synthetic_faces``) and the clips, CVAT exports, DFDC metadata and
ground truth built from them (``generator``). It uses the data layer's video writer and stands apart from the
annotation formats: it writes what a CVAT user would export, and the readers read it like any other export."""
