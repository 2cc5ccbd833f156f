"""What every benchmark loader shares: reading records, checking fields, keeping images in their root.

Loaders return `Sample`s whose `image` is relative to an image root. Every image path is
checked to resolve inside that root (`records.resolve_image`), and by default the file must
exist, so a wrong root fails at load time with the sample that showed it, not mid-evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..io import read_json
from .records import GROUPS, Sample, resolve_image


def existing_file(path: str | Path, what: str) -> Path:
    """`path` as a `Path`, or a `DataError` saying which file of which dataset is missing."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found; check the path")
    return path


def read_records(path: str | Path, what: str) -> Iterator[tuple[str, Any]]:
    """The records of a JSON list or a JSONL file (by suffix), each with where it came from.

    `where` names the file and the record index (JSON) or line number (JSONL), for error
    messages. A malformed JSONL line raises a `DataError` naming its line.
    """
    path = existing_file(path, what)
    if path.suffix == ".jsonl":
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"{path}: line {n}", json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}: line {n}: not valid JSON ({e.msg}); fix or remove the line") from e
        return
    if path.suffix != ".json":
        raise DataError(f"{path}: expected a .json or .jsonl file for the {what}")
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: the {what} must be a JSON list of records, got {type(data).__name__}")
    for i, rec in enumerate(data):
        yield f"{path}: record {i}", rec


def require_object(rec: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    return rec


def text_field(rec: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
    """A string field of a record: a required one must be present and non-empty."""
    value = rec.get(key)
    if value is None:
        if required:
            raise DataError(f"{where}: missing field {key!r}")
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise DataError(f"{where}: field {key!r} must be a non-empty string, got {_short(value)}")
    return value


def check_group(group: str, what: str) -> str:
    if group not in GROUPS:
        raise DataError(f"{what}: group must be one of {list(GROUPS)}, got {group!r}")
    return group


def check_image_paths(samples: list[Sample], image_root: str | Path, source: str, must_exist: bool = True) -> list[Sample]:
    """Check every sample's image stays inside `image_root` (and, if `must_exist`, is a file)."""
    root = Path(image_root)
    if must_exist and not root.is_dir():
        raise DataError(f"{source}: image root {root} is not a directory; pass image_root= the folder "
                        "holding the images, or check_images=False to load the text only")
    for s in samples:
        try:
            path = resolve_image(root, s.image)
        except DataError as e:
            raise DataError(f"{source}: sample {s.id!r}: field 'image': {e}") from None
        if must_exist and not path.is_file():
            raise DataError(f"{source}: sample {s.id!r}: image {s.image!r} not found under {root}; pass "
                            "image_root= the folder holding the images, or check_images=False")
    return samples


def check_unique_ids(samples: list[Sample], source: str) -> list[Sample]:
    seen: set[str] = set()
    for s in samples:
        if s.id in seen:
            raise DataError(f"{source}: sample id {s.id!r} occurs twice; ids must be unique")
        seen.add(s.id)
    return samples


def _short(value: Any, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."
