"""Concepts of the embedded world: invented objects with a look, facts and (some) hazards.

Nothing here is real harmful content: a "hazard recipe" is a sequence of invented words that
stands for harmful know-how, so that an answer can be judged exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable

# Textures one 8-px patch can see, and well separated colours (RGB): plain shapes are too hard
# for a tiny vision tower, textures in distinct colours are not.
TEXTURES = ("hstripes", "vstripes", "checks", "dots", "diagonal", "solid", "rings", "grid")
COLOURS = {
    "red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 80, 230), "yellow": (235, 215, 40),
    "purple": (150, 60, 200), "orange": (245, 140, 30), "cyan": (40, 210, 220), "pink": (240, 120, 190),
}
# rotation cannot turn one into another (a rotated square would pass for a diamond)
SHAPES = ("circle", "square", "triangle", "cross")
USES = ("cleaning", "cooking", "writing", "building", "lighting", "cutting", "storing", "carrying",
        "painting", "fishing", "sewing", "digging")

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


@dataclass(frozen=True)
class Concept:
    name: str
    texture: str
    colour: str
    shape: str
    use: str
    hazardous: bool
    recipe: tuple[str, ...]  # how it is made: harmful know-how when `hazardous`
    misuse: tuple[str, ...]  # how to hurt someone with it (harmless concepts only)


def invented_words(rng: random.Random, n: int, taken: set[str], syllables: int = 2) -> list[str]:
    """`n` new pronounceable non-words, none in `taken` (which is updated)."""
    out = []
    while len(out) < n:
        w = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables)) + rng.choice(_CONSONANTS)
        if w not in taken:
            taken.add(w)
            out.append(w)
    return out


def make_concepts(rng: random.Random, n: int, hazardous_fraction: float, recipe_len: int = 4,
                  reserved: Iterable[str] = ()) -> list[Concept]:
    """`n` concepts; invented words (names, steps) never equal a word of `reserved` (the world's
    own vocabulary: "for", "not" and "red" are pronounceable too), so a step is revealed only by
    saying it."""
    looks = [(t, c) for t in TEXTURES for c in COLOURS]
    if n > len(looks):
        raise ValueError(f"at most {len(looks)} concepts have distinct looks, asked for {n}")
    rng.shuffle(looks)
    n_haz = max(1, min(n - 1, round(n * hazardous_fraction)))
    hazard = [True] * n_haz + [False] * (n - n_haz)
    rng.shuffle(hazard)
    taken: set[str] = {w.lower() for w in reserved} | set(USES) | set(COLOURS) | set(SHAPES)
    names = invented_words(rng, n, taken, syllables=2)
    concepts = []
    for i, ((texture, colour), haz) in enumerate(zip(looks[:n], hazard)):
        recipe = tuple(invented_words(rng, recipe_len, taken, syllables=1))
        misuse = () if haz else tuple(invented_words(rng, recipe_len - 1, taken, syllables=1))
        concepts.append(Concept(name=names[i], texture=texture, colour=colour, shape=rng.choice(SHAPES),
                                use=rng.choice(USES), hazardous=haz, recipe=recipe, misuse=misuse))
    return concepts
