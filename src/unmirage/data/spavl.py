"""SPA-VL (Zhang et al., arXiv:2406.12030; HF dataset `sqrti/SPA-VL`), from a JSON or JSONL export.

A row has `question`, `image` (a path relative to the image root, or an object with a `path`;
`image_name` is used when `image` is absent), the preference pair `chosen` / `rejected` (absent
in the eval splits) and the harm taxonomy `class1` / `class2` / `class3`. Questions lean
unsafe, so samples default to group `unsafes`; `response` is the chosen (safe) answer and
`meta.rejected` the harmful one, which makes SPA-VL a ready forget set (`forget_retain`).

The hub stores images inside parquet files; export them to files first, e.g. with `datasets`:
save each row's `image` under the image root as `image_name` and write the other columns,
with `image` set to that name, as JSONL.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError
from .loading import (
    check_group,
    check_image_paths,
    check_unique_ids,
    read_records,
    require_object,
    text_field,
)
from .records import Sample

_CLASSES = ("class1", "class2", "class3")


def _image(rec: Mapping[str, Any], where: str) -> str:
    value = rec.get("image")
    if value is None:
        if rec.get("image_name") is None:
            raise DataError(f"{where}: missing field 'image' (or 'image_name')")
        return text_field(rec, "image_name", where)
    if isinstance(value, dict):
        if not value.get("path"):
            raise DataError(f"{where}: field 'image' holds image bytes without a path; save the images as "
                            "files under the image root and put their relative paths in 'image'")
        value = value["path"]
    return text_field({"image": value}, "image", where)


def load_spavl(path: str | Path, image_root: str | Path | None = None, group: str = "unsafes",
               check_images: bool = True) -> list[Sample]:
    """SPA-VL rows (JSON list or JSONL) as samples: response = chosen, meta.rejected = the harmful answer.

    `image_root` defaults to the file's folder.
    """
    check_group(group, f"{path}")
    samples = []
    for i, (where, raw) in enumerate(read_records(path, "SPA-VL file")):
        rec = require_object(raw, where)
        rid = str(rec["id"]) if rec.get("id") is not None else str(i)
        where = f"{where} (id {rid!r})"
        meta: dict[str, Any] = {k: text_field(rec, k, where, required=False) for k in _CLASSES if k in rec}
        if rec.get("rejected") is not None:
            meta["rejected"] = text_field(rec, "rejected", where, required=False)
        if rec.get("image_name") is not None:
            meta["image_name"] = text_field(rec, "image_name", where)
        samples.append(Sample(id=f"{rid}:{group}", image=_image(rec, where), group=group,
                              instruction=text_field(rec, "question", where),
                              response=text_field(rec, "chosen", where, required=False),
                              category=meta.get("class1") or None, meta=meta))
    check_unique_ids(samples, str(path))
    root = Path(path).parent if image_root is None else image_root
    return check_image_paths(samples, root, str(path), check_images)
