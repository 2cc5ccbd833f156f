"""What determines an artefact, recorded beside it, so that a rerun never reuses stale work.

Every artefact of a run (the world, each arm's model, each arm's answers) is written with an
`artefact.json`: the resolved settings it depends on (`spec`, which includes the keys of its
inputs) and `key`, a hash of them. A rerun computes the spec it would write and reuses the
artefact only when the keys match; otherwise it says what differs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .io import read_json, write_json

RECORD = "artefact.json"


def key_of(spec: Any) -> str:
    """A short stable hash of a JSON-able spec."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def without_unkeyed(fields: dict[str, Any], unkeyed: dict[str, Any]) -> dict[str, Any]:
    """`fields` less those of `unkeyed` at its value: a field added after artefacts were first
    recorded is left out of their key at the value that made them, so adding it keeps them current."""
    return {k: v for k, v in fields.items() if k not in unkeyed or v != unkeyed[k]}


def record(directory: str | Path, spec: dict) -> str:
    """Write `directory/artefact.json` for `spec`; return its key."""
    key = key_of(spec)
    write_json(Path(directory) / RECORD, {"key": key, "spec": spec})
    return key


def recorded(directory: str | Path) -> dict | None:
    """The record of an artefact, or None if it has none (or an unreadable one)."""
    path = Path(directory) / RECORD
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except Exception:  # noqa: BLE001  (a broken record is the same as none: the artefact cannot be trusted)
        return None
    return data if isinstance(data, dict) and isinstance(data.get("key"), str) else None


def differences(old: Any, new: Any, where: str = "") -> list[str]:
    """Human-readable differences between two specs, as `path: old -> new`."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            sub = f"{where}.{k}" if where else str(k)
            if k not in old:
                out.append(f"{sub}: (absent) -> {new[k]!r}")
            elif k not in new:
                out.append(f"{sub}: {old[k]!r} -> (absent)")
            else:
                out.extend(differences(old[k], new[k], sub))
        return out
    return [] if old == new else [f"{where or 'value'}: {old!r} -> {new!r}"]


def staleness(directory: str | Path, spec: dict) -> list[str] | None:
    """None when the artefact in `directory` was made from `spec`; else what differs (a record
    missing altogether is one difference)."""
    rec = recorded(directory)
    if rec is None:
        return ["no artefact.json: nothing records what it was made from"]
    if rec["key"] == key_of(spec):
        return None
    return differences(rec.get("spec"), spec) or ["its key differs"]
