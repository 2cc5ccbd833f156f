"""The docs against the code: every config key in docs/config.md, every method in docs/methods.md.

The config keys are computed from the `StudyConfig` dataclass tree, so a renamed or new field
fails here until docs/config.md names it (and a documented key the code no longer has fails too).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

from unmirage.config import StudyConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"
CONFIG_DOC = DOCS / "config.md"
METHODS_DOC = DOCS / "methods.md"
TABLE_HEADER = re.compile(r"^\|\s*key\s*\|\s*type\s*\|\s*default\s*\|\s*meaning\s*\|\s*$")


def config_keys(cls: type = StudyConfig, prefix: str = "") -> list[str]:
    """Every dotted key of dataclass `cls`: sections (`model.lora`) and leaves (`model.lora.r`).

    A field holding a dataclass recurses with `name.`; a mapping of dataclasses (`arms`)
    recurses into the value type with `name.<name>.`.
    """
    hints = typing.get_type_hints(cls)
    keys = []
    for f in dataclasses.fields(cls):
        key, tp = prefix + f.name, hints[f.name]
        keys.append(key)
        if dataclasses.is_dataclass(tp):
            keys += config_keys(tp, key + ".")
        elif typing.get_origin(tp) is dict and dataclasses.is_dataclass(typing.get_args(tp)[1]):
            keys += config_keys(typing.get_args(tp)[1], key + ".<name>.")
    return keys


def documented_keys(text: str) -> list[str]:
    """The first column of every `| key | type | default | meaning |` table."""
    keys, in_table = [], False
    for line in text.splitlines():
        if TABLE_HEADER.match(line):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        m = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
        if in_table and m:
            keys.append(m.group(1))
    return keys


def test_config_walk_reaches_nested_sections():
    keys = config_keys()
    for key in ("seed", "world.bias", "model.lora.r", "arms.<name>.lr", "arms.<name>.params", "eval.judge"):
        assert key in keys


def test_every_config_key_is_documented():
    text = CONFIG_DOC.read_text()
    missing = [k for k in config_keys() if f"`{k}`" not in text]
    assert not missing, f"docs/config.md does not name these config keys (in backticks): {missing}"


def test_every_documented_key_exists():
    keys = set(config_keys())
    unknown = [k for k in documented_keys(CONFIG_DOC.read_text()) if k not in keys]
    assert not unknown, f"docs/config.md documents keys StudyConfig does not have: {unknown}"


def test_every_method_has_a_section():
    from unmirage.methods.base import METHODS

    headings = {m.group(1).strip().strip("`").strip()
                for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", METHODS_DOC.read_text(), flags=re.M)}
    names = list(METHODS.names())
    assert names, "no method is registered"
    missing = [n for n in names if n not in headings]
    assert not missing, f"docs/methods.md has no heading for methods {missing}"
