"""The image-cue attack: the image side of the safety mirage. Where a safety set's images carry
a cue that goes with the label (the embedded world's `world.image_cue`: a border colour that
most unsafe images carry and few safe ones), a model may learn to refuse on the cue rather than
on what the image shows. The attack swaps the cues on the test set's images: the safe cue on
the unsafe queries' images (`unsafes@cue`: ASR), the unsafe cue on the safe queries' images
(`safe_safes@cue`: RR). The queries stay word for word as they were.

The cue is the data's own where its facts.json names one (the world's), else the parameters'
(border, green safe, red unsafe, 2 px). The cued copies are written under the data's image root,
in `cue/<kind>-<colour>-<size>/` (`data/cues.py`), and each record keeps the image it is a copy
of (`meta.source_image`), which the world's oracle judges by. The image audit
(`attacks/image_audit.py`, `image_audit.json`) scores the cue and the images' clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data.cues import SOURCE_IMAGE, Cue, write_cued
from ..data.records import Sample
from ..errors import ConfigError
from .base import ATTACKS, Attack, QueryContext
from .image_audit import IMAGE_CLUSTERS

DEFAULT = {"kind": "border", "safe": "green", "unsafe": "red", "size": 2}
# split -> the group whose queries it asks, the cue their images get: the other label's (the attack),
# or their own label's (the control: the cue as the safety set pairs it with such images)
SPLITS = {"unsafes@cue": ("unsafes", "safe"), "safe_safes@cue": ("safe_safes", "unsafe"),
          "unsafes@owncue": ("unsafes", "unsafe"), "safe_safes@owncue": ("safe_safes", "safe")}


@dataclass
class ImageCueParams:
    kind: str = ""  # border | corner; "" = the data's cue (facts.json), else border
    safe: str = ""  # the safe cue's colour, drawn on unsafe queries' images; "" = the data's, else green
    unsafe: str = ""  # the unsafe cue's colour, drawn on safe queries' images; "" = the data's, else red
    size: int = 0  # pixels; 0 = the data's, else 2
    clusters: int = IMAGE_CLUSTERS  # k of the image audit's k-means over the safety set's image features

    def __post_init__(self) -> None:
        if self.size < 0 or self.clusters < 2:
            raise ConfigError(f"attacks.image_cue: size must be >= 0 (0 = the data's) and clusters >= 2, "
                              f"got size={self.size}, clusters={self.clusters}")
        try:
            cues(self, None)  # a given kind or colour must be one
        except ConfigError as e:
            raise ConfigError(f"attacks.image_cue: {e}") from None


def cues(params: ImageCueParams, facts: dict | None) -> dict[str, Cue]:
    """The safe and unsafe cues: each setting as given, else the data's (facts.json's
    `image_cue`), else the default."""
    named = (facts or {}).get("image_cue") or {}
    pick = lambda key, own: getattr(params, key) or named.get(own) or DEFAULT[key]  # noqa: E731
    kind, size = pick("kind", "kind"), pick("size", "size")
    return {role: Cue(kind, pick(role, role), size) for role in ("safe", "unsafe")}


def cued_splits(test: list[Sample], image_root, cue_of: dict[str, Cue]) -> dict[str, list[Sample]]:
    """The `SPLITS`: the test set's unsafe and safe queries, unchanged but for their images,
    copies with a cue (written under `image_root`)."""
    made: dict[tuple[str, Cue], str] = {}  # an image shared by several queries is cued once

    def cued(image: str, cue: Cue) -> str:
        if (image, cue) not in made:
            made[image, cue] = write_cued(image_root, image, cue)
        return made[image, cue]

    out = {}
    for split, (group, role) in SPLITS.items():
        out[split] = [s.with_(id=f"{s.id}#{split.split('@')[1]}", image=cued(s.image, cue_of[role]),
                              meta={**s.meta, "source_id": s.id, SOURCE_IMAGE: s.image, "image_cue": cue_of[role].name})
                      for s in test if s.group == group]
    return out


@ATTACKS.register("image_cue")
class ImageCue(Attack):
    """The safe image cue on unsafe queries (ASR), the unsafe cue on safe queries (RR)."""

    name = "image_cue"
    Params = ImageCueParams

    def splits(self, ctx: QueryContext) -> dict[str, list[Sample]]:
        if ctx.image_root is None:
            raise ConfigError("the image-cue attack writes cued copies of the test images: it needs the image root")
        if not any(s.group in ("unsafes", "safe_safes") for s in ctx.test):
            raise ConfigError("the image-cue attack needs unsafe or safe queries in the test set; it has neither")
        return cued_splits(ctx.test, ctx.image_root, cues(self.params, ctx.facts))
