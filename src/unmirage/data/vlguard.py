"""VLGuard's JSON format: read into `Sample`s and write back.

A file is a JSON list of records: `id`, `image` (relative to an image root), `safe` (bool),
`instr-resp` (list). Unsafe records hold one `{instruction, response}`; safe records hold
`{safe_instruction, response}` and `{unsafe_instruction, response}`. Some derived files store
`safe` as the string "True"/"False" and `instr-resp` as a string with a Python literal: both
are parsed safely (`ast.literal_eval`, never `eval`). Extra keys are kept in `Sample.meta`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Iterable

from ..errors import DataError
from ..io import read_json
from .records import Sample

_KNOWN = {"id", "image", "safe", "instr-resp", "harmful_category", "harmful_subcategory"}


def _parse_safe(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("True", "False", "true", "false"):
        return value.lower() == "true"
    raise DataError(f"{where}: 'safe' must be true or false, got {value!r}")


def _parse_pairs(value: Any, where: str) -> list[dict]:
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
            raise DataError(f"{where}: 'instr-resp' is a string that is not a Python/JSON literal ({e})") from e
    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        raise DataError(f"{where}: 'instr-resp' must be a list of objects")
    return value


def parse_record(rec: Any, index: int, source: str = "", unique_id: str | None = None) -> list[Sample]:
    """The samples of one VLGuard record; a malformed record raises a `DataError` naming it.

    Sample ids are `RECORD_ID:GROUP`; `unique_id` replaces the record id (for repeated ids).
    """
    where = f"{source}record {index}"
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected an object, got {type(rec).__name__}")
    for key in ("id", "image", "safe", "instr-resp"):
        if key not in rec:
            raise DataError(f"{where} (id {rec.get('id', '?')!r}): missing key {key!r}")
    rid, image = unique_id or str(rec["id"]), rec["image"]
    where = f"{source}record {index} (id {rid!r})"
    if not isinstance(image, str) or not image:
        raise DataError(f"{where}: 'image' must be a non-empty relative path")
    safe = _parse_safe(rec["safe"], where)
    pairs = _parse_pairs(rec["instr-resp"], where)
    meta = {k: v for k, v in rec.items() if k not in _KNOWN}
    category = rec.get("harmful_category")
    out = []
    for j, pair in enumerate(pairs):
        response = pair.get("response", "")
        if not isinstance(response, str):
            raise DataError(f"{where}: pair {j}: 'response' must be a string")
        if safe and "safe_instruction" in pair:
            group, instr = "safe_safes", pair["safe_instruction"]
        elif safe and "unsafe_instruction" in pair:
            group, instr = "safe_unsafes", pair["unsafe_instruction"]
        elif not safe and "instruction" in pair:
            group, instr = "unsafes", pair["instruction"]
        else:
            expected = "'safe_instruction' or 'unsafe_instruction'" if safe else "'instruction'"
            raise DataError(f"{where}: pair {j} has keys {sorted(pair)}; a {'safe' if safe else 'unsafe'} record needs {expected}")
        if not isinstance(instr, str) or not instr.strip():
            raise DataError(f"{where}: pair {j}: the instruction must be a non-empty string")
        out.append(Sample(id=f"{rid}:{group}", image=image, group=group, instruction=instr,
                          response=response, category=category, meta=meta))
    return out


def load_vlguard(path: str | Path) -> list[Sample]:
    """All samples of a VLGuard-format JSON file, in file order."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: a VLGuard file is a JSON list of records, got {type(data).__name__}")
    samples: list[Sample] = []
    seen: set[str] = set()
    for i, rec in enumerate(data):
        rid = str(rec.get("id")) if isinstance(rec, dict) else None
        unique = f"{rid}~{i}" if rid in seen else None  # a repeated id (the real VLGuard has one)
        samples.extend(parse_record(rec, i, f"{path}: ", unique))
        if rid is not None:
            seen.add(rid)
    return samples


def samples_to_vlguard(samples: Iterable[Sample]) -> list[dict]:
    """Group samples by record id back into VLGuard records (inverse of `load_vlguard`)."""
    records: dict[str, dict] = {}
    for s in samples:
        rid = s.id.rsplit(":", 1)[0]
        rec = records.get(rid)
        if rec is None:
            rec = {"id": rid, "image": s.image, "safe": s.group != "unsafes", **s.meta, "instr-resp": []}
            if s.category is not None:
                rec["harmful_category"] = s.category
            records[rid] = rec
        key = {"safe_safes": "safe_instruction", "safe_unsafes": "unsafe_instruction", "unsafes": "instruction"}[s.group]
        rec["instr-resp"].append({key: s.instruction, "response": s.response})
    return list(records.values())
