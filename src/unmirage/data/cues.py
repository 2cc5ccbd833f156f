"""Image cues: a mark in one colour drawn on a copy of an image (a border, or a square in a
corner), the shortcut of the image-side mirage (docs/findings.md, "The image-side mirage").

The embedded world can put a cue on its safety set's images that travels with the label
(`world.image_cue`); the `image_cue` attack (`attacks/image_cue.py`) puts the other label's
cue on the test set's images; the image audit (`attacks/image_audit.py`) scores a named cue's
association with the label.

A cued copy of image REL lies at `cue/<kind>-<colour>-<size>/REL[.png]` under the same image
root: a new file beside the original, never the original, named by everything that decides its
pixels (a changed cue is a new file), and always a PNG (a lossy format would blur the mark).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import ConfigError, DataError
from ..io import read_json
from .records import load_image, resolve_image

CUE_KINDS = ("border", "corner")  # border: a frame `size` px wide; corner: a `size`-px square, top left
CUE_DIR = "cue"
SOURCE_IMAGE = "source_image"  # a cued query's meta key: the image it is a copy of (the oracle judges by it)


def cue_rgb(colour: str) -> tuple[int, int, int]:
    """The RGB of a cue colour: a world colour's name (`world/concepts.py`) or `#rrggbb`."""
    from ..world.concepts import COLOURS

    if colour in COLOURS:
        return tuple(COLOURS[colour])
    if len(colour) == 7 and colour.startswith("#"):
        try:
            return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
        except ValueError:
            pass
    raise ConfigError(f"cue colour {colour!r} is neither a world colour ({', '.join(COLOURS)}) nor #rrggbb")


@dataclass(frozen=True)
class Cue:
    """One cue: its kind, colour and size in pixels."""

    kind: str
    colour: str
    size: int

    def __post_init__(self) -> None:
        if self.kind not in CUE_KINDS:
            raise ConfigError(f"cue kind {self.kind!r}: one of {', '.join(CUE_KINDS)}")
        if self.size < 1:
            raise ConfigError(f"cue size must be >= 1 pixel, got {self.size}")
        cue_rgb(self.colour)

    @property
    def name(self) -> str:
        """`<kind>-<colour>-<size>`: the folder of its copies, and its value in a named cue."""
        return f"{self.kind}-{self.colour.lstrip('#')}-{self.size}"


def draw_cue(image: Image.Image, cue: Cue) -> Image.Image:
    """A copy of `image` (RGB) with `cue` drawn on it; a mark larger than the image fills it."""
    out = image.convert("RGB").copy()
    w, h = out.size
    s = min(cue.size, w, h)
    colour = cue_rgb(cue.colour)
    boxes = ([(0, 0, w, s), (0, h - s, w, h), (0, 0, s, h), (w - s, 0, w, h)] if cue.kind == "border"
             else [(0, 0, s, s)])
    for box in boxes:
        out.paste(colour, box)
    return out


def cued_path(rel: str, cue: Cue) -> str:
    """Where the copy of image `rel` with `cue` lies, relative to the same image root."""
    rel = Path(rel).as_posix()
    return f"{CUE_DIR}/{cue.name}/{rel}" + ("" if rel.lower().endswith(".png") else ".png")


def write_cued(root: str | Path, rel: str, cue: Cue) -> str:
    """Write the copy of image `rel` (under `root`) with `cue` drawn, and return its path
    relative to `root`. Both paths must stay inside the root; a copy already holding the same
    bytes is left alone, so that making it again changes nothing."""
    target_rel = cued_path(rel, cue)
    target = resolve_image(root, target_rel)
    buf = io.BytesIO()
    draw_cue(load_image(root, rel), cue).save(buf, format="PNG")
    data = buf.getvalue()
    if not (target.is_file() and target.read_bytes() == data):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return target_rel


def read_named_cue(path: str | Path) -> dict[str, str]:
    """A named cue from a JSON file: an object mapping image paths (relative to the image root)
    to the cue each carries (a name, e.g. "red-border"); an image it omits carries none."""
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                             for k, v in data.items()):
        raise DataError(f"{path}: a named cue is a JSON object {{image path: cue name}}, names non-empty")
    return data


def world_named_cue(facts: dict | None) -> dict[str, str] | None:
    """The named cue of a world with `world.image_cue` (facts.json's `image_cue.images`): image
    path -> the name of the cue it carries; None for a world without one, or real data."""
    cue = (facts or {}).get("image_cue")
    if not cue:
        return None
    return {rel: Cue(cue["kind"], info["colour"], cue["size"]).name for rel, info in cue["images"].items()}
