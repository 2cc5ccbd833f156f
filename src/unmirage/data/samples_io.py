"""JSONL files of `Sample`s (corpus, forget/retain sets, attack files, utility sets): the one
reader and writer of the record form, checked field by field."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..errors import DataError
from ..io import numbered_jsonl, write_jsonl
from .records import GROUPS, Sample

_FIELDS = ("id", "image", "group", "instruction", "response", "category", "meta")


def sample_to_dict(s: Sample) -> dict:
    return {k: getattr(s, k) for k in _FIELDS}


def sample_from_dict(d: dict, where: str, extra_keys: bool = False) -> Sample:
    """A `Sample` from its record; a key that is not a field is an error unless `extra_keys`."""
    if not isinstance(d, dict):
        raise DataError(f"{where}: expected an object, got {type(d).__name__}")
    missing = [k for k in ("id", "image", "group", "instruction") if k not in d]
    if missing:
        raise DataError(f"{where}: missing key(s) {missing}")
    for key in ("id", "image", "group", "instruction"):
        if not isinstance(d[key], str) or not d[key]:
            raise DataError(f"{where}: {key!r} must be a non-empty string")
    if d["group"] not in GROUPS:
        raise DataError(f"{where}: group must be one of {GROUPS}, got {d['group']!r}")
    unknown = set(d) - set(_FIELDS)
    if unknown and not extra_keys:
        raise DataError(f"{where}: unknown key(s) {sorted(unknown)}")
    if not isinstance(d.get("response", ""), str) or not isinstance(d.get("meta") or {}, dict):
        raise DataError(f"{where}: 'response' must be a string and 'meta' an object")
    if d.get("category") is not None and not isinstance(d["category"], str):
        raise DataError(f"{where}: 'category' must be a string or null")
    fields = {k: d[k] for k in _FIELDS if k in d}
    fields["meta"] = fields.get("meta") or {}
    return Sample(**fields)


def write_samples(path: str | Path, samples: Iterable[Sample]) -> None:
    write_jsonl(path, (sample_to_dict(s) for s in samples))


def read_samples(path: str | Path, strict: bool = False, extra_keys: bool = False) -> list[Sample]:
    """The samples of a JSONL file. `strict`: a file written whole, whose truncated last line is an
    error rather than an interrupted append; `extra_keys`: keys other than the fields are ignored."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return [sample_from_dict(d, f"{path}:{line}: record {i}", extra_keys)
            for i, (line, d) in enumerate(numbered_jsonl(path, strict))]
