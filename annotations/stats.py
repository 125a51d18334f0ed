"""Summary statistics of a canonical dataset: counts per class, videos, groups and box sizes.

Box sizes are in pixels of the stored images; areas are ``w * h`` in square pixels. Size buckets follow the COCO
evaluation ranges (pycocotools ``COCOeval`` ``areaRng``): small below 32², medium below 96², large above.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dftag.annotations.dataset import CLASS_NAMES
from dftag.annotations.splits import image_group

COCO_SMALL_MAX_AREA = 32 ** 2
COCO_MEDIUM_MAX_AREA = 96 ** 2


def _min_median_max(values: np.ndarray) -> dict[str, float] | None:
    if values.size == 0:
        return None
    return {"min": float(values.min()), "median": float(np.median(values)), "max": float(values.max())}


def box_size_stats(bboxes: list[list[float]]) -> dict[str, Any]:
    """Min/median/max of width, height and area of COCO ``[x, y, w, h]`` boxes, and COCO size-bucket counts."""
    wh = np.asarray([b[2:4] for b in bboxes], dtype=np.float64).reshape(-1, 2)
    area = wh[:, 0] * wh[:, 1]
    return {
        "width": _min_median_max(wh[:, 0]),
        "height": _min_median_max(wh[:, 1]),
        "area": _min_median_max(area),
        "coco_size": {
            "small": int((area < COCO_SMALL_MAX_AREA).sum()),
            "medium": int(((area >= COCO_SMALL_MAX_AREA) & (area < COCO_MEDIUM_MAX_AREA)).sum()),
            "large": int((area >= COCO_MEDIUM_MAX_AREA).sum()),
        },
    }


def dataset_stats(coco: dict[str, Any]) -> dict[str, Any]:
    """Counts and box-size statistics of a canonical COCO dict (see the module docstring for units)."""
    anns = coco["annotations"]
    boxed = {a["image_id"] for a in anns}
    return {
        "images": len(coco["images"]),
        "images_without_boxes": sum(img["id"] not in boxed for img in coco["images"]),
        "boxes": len(anns),
        "boxes_per_class": {name: sum(a["category_id"] == cid for a in anns) for cid, name in CLASS_NAMES.items()},
        "videos": len({img["video"] for img in coco["images"] if img.get("video")}),
        "still_images": sum(not img.get("video") for img in coco["images"]),
        "groups": len({image_group(img) for img in coco["images"]}),
        "box_size": {"all": box_size_stats([a["bbox"] for a in anns]),
                     **{name: box_size_stats([a["bbox"] for a in anns if a["category_id"] == cid])
                        for cid, name in CLASS_NAMES.items()}},
    }


def format_stats(stats: dict[str, Any]) -> str:
    """The statistics as aligned text lines for people."""
    per_class = ", ".join(f"{n} {name}" for name, n in stats["boxes_per_class"].items())
    lines = [
        f"images        {stats['images']} ({stats['images_without_boxes']} without boxes)",
        f"boxes         {stats['boxes']} ({per_class})",
        f"videos        {stats['videos']} (+ {stats['still_images']} still images)",
        f"groups        {stats['groups']}",
        "box size (px) " + f"{'':<8}" + "".join(f"{h:>10}" for h in ("min", "median", "max")),
    ]
    for subset, sizes in stats["box_size"].items():
        for measure in ("width", "height", "area"):
            values = sizes[measure]
            cells = "".join(f"{values[k]:>10.1f}" for k in ("min", "median", "max")) if values else f"{'-':>10}" * 3
            lines.append(f"  {subset:<11} {measure:<8}{cells}")
        buckets = sizes["coco_size"]
        lines.append(f"  {subset:<11} COCO size: {buckets['small']} small (<32²), {buckets['medium']} medium, "
                     f"{buckets['large']} large (>=96²)")
    return "\n".join(lines)
