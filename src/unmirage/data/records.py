"""The record every stage speaks: one (image, instruction, response) sample with its group."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from ..errors import DataError

# VLGuard's three evaluation subsets; also the query groups of the audit and the world.
GROUPS = ("safe_safes", "safe_unsafes", "unsafes")
REFUSE_GROUPS = ("safe_unsafes", "unsafes")


# Characters stripped from the ends of a first word ("What," → "What", '"Share' → "Share").
_TRAILING = ",.:;!?\"')]}…”’"
_LEADING = "\"'([{“‘"


def first_word(instruction: str) -> str:
    """The first whitespace-separated word of an instruction, without surrounding punctuation."""
    words = instruction.split()
    if not words:
        return ""
    return words[0].rstrip(_TRAILING).lstrip(_LEADING) or words[0]


@dataclass(frozen=True)
class Sample:
    """One query about one image.

    `group` says which VLGuard subset it belongs to; the expected behaviour follows from it:
    answer `safe_safes`, refuse the other two. `response` is the dataset's target answer
    (a refusal for unsafe groups in a safety set; a harmful answer in a forget set).
    """

    id: str
    image: str
    group: str
    instruction: str
    response: str = ""
    category: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return "answer" if self.group == "safe_safes" else "refuse"

    @property
    def first_word(self) -> str:
        return first_word(self.instruction)

    def with_(self, **changes: Any) -> "Sample":
        return replace(self, **changes)


def by_group(samples: list[Sample]) -> dict[str, list[Sample]]:
    """The samples of each VLGuard subset, in `GROUPS` order."""
    return {g: [s for s in samples if s.group == g] for g in GROUPS}


def resolve_image(root: str | Path, rel: str) -> Path:
    """The absolute path of a dataset image, refusing any path that leaves the image root."""
    root_path = Path(root).resolve()
    path = (root_path / rel).resolve()
    if not path.is_relative_to(root_path):
        raise DataError(
            f"image path {rel!r} resolves outside the image root {root_path}; "
            "dataset image paths must be relative paths inside the root"
        )
    return path


def load_image(root: str | Path, rel: str) -> Image.Image:
    """Open a dataset image as RGB with a clear error for a missing or unreadable file."""
    path = resolve_image(root, rel)
    if not path.is_file():
        raise DataError(f"image {rel!r} not found under {Path(root)}; check the image root or the record")
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"image {rel!r} under {Path(root)} cannot be read ({e}); replace or remove it") from e
