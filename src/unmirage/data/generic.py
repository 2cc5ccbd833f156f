"""A generic JSONL format for users' own safety data (also accepts a JSON list).

One object per line:

- `image` (required): path relative to the image root (default: the file's folder);
- `instruction` (required): the query;
- `group` or `safe` (one required): `group` is one of `safe_safes`, `safe_unsafes`, `unsafes`;
  `safe` is a bool saying whether the query should be answered (true → `safe_safes`,
  false → `unsafes`). Both may be given if they agree. Requiring one of them means a file never
  silently turns into all-unsafe data;
- `response` (optional, default ""), `category` (optional), `id` (optional, default `line<N>`,
  or `record<I>` in a JSON list; must be unique), `meta` (optional object); any other key goes into `meta`.

The project's own sample files (`samples_io`) are valid input, so this loader reads both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DataError
from .loading import (
    check_group,
    check_image_paths,
    read_records,
    require_object,
    text_field,
)
from .records import Sample

_KNOWN = {"id", "image", "instruction", "response", "group", "safe", "category", "meta"}


def _group(rec: dict[str, Any], where: str) -> str:
    group, safe = rec.get("group"), rec.get("safe")
    if group is None and safe is None:
        raise DataError(f"{where}: missing field 'group' (or a boolean 'safe'); say whether the query "
                        "should be answered")
    if safe is not None and not isinstance(safe, bool):
        raise DataError(f"{where}: field 'safe' must be true or false, got {safe!r}")
    if group is None:
        return "safe_safes" if safe else "unsafes"
    check_group(group, f"{where}: field 'group'")
    if safe is not None and safe != (group == "safe_safes"):
        raise DataError(f"{where}: 'safe' ({safe}) contradicts 'group' ({group!r}); keep one of them")
    return group


def parse_generic(raw: Any, where: str, default_id: str) -> Sample:
    """One generic record as a `Sample`; a bad record raises a `DataError` naming `where` and the field."""
    rec = require_object(raw, where)
    rid = rec.get("id", default_id)
    if not isinstance(rid, (str, int)) or isinstance(rid, bool) or str(rid) == "":
        raise DataError(f"{where}: field 'id' must be a non-empty string or an integer, got {rid!r}")
    meta = {} if rec.get("meta") is None else rec["meta"]
    if not isinstance(meta, dict):
        raise DataError(f"{where}: field 'meta' must be an object")
    category = rec.get("category")
    if category is not None and not isinstance(category, str):
        raise DataError(f"{where}: field 'category' must be a string or null")
    extra = {k: v for k, v in rec.items() if k not in _KNOWN}
    return Sample(id=str(rid), image=text_field(rec, "image", where), group=_group(rec, where),
                  instruction=text_field(rec, "instruction", where),
                  response=text_field(rec, "response", where, required=False), category=category,
                  meta={**meta, **extra})


def load_generic(path: str | Path, image_root: str | Path | None = None, check_images: bool = True) -> list[Sample]:
    """A user's JSONL (or JSON list) of image/instruction records; see the module docstring."""
    samples: list[Sample] = []
    first_at: dict[str, str] = {}
    for where, raw in read_records(path, "JSONL dataset"):
        place = where.rsplit(": ", 1)[-1]  # "line 3" (JSONL) or "record 2" (JSON list)
        s = parse_generic(raw, where, place.replace(" ", ""))
        if s.id in first_at:
            raise DataError(f"{where}: id {s.id!r} is already used at {first_at[s.id]}; ids must be unique")
        first_at[s.id] = place
        samples.append(s)
    root = Path(path).parent if image_root is None else image_root
    return check_image_paths(samples, root, str(path), check_images)
