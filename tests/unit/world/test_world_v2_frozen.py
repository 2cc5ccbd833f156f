"""Version 2 of the embedded world stays reproducible byte for byte.

The stand-in world (no documents, harmful compliance in the instruction data, identify and use
unsafe on hazards), the default until knowledge came from documents: the hashes of its seed-0
files as the generator wrote them before `world.planted` existed. A world without planted words
must not change, world.json included (it records no `planted` key)."""

import hashlib

from unmirage.config import WorldConfig
from unmirage.world.build import build_world

V2_SEED0 = {
    "corpus.jsonl": "68014faa69d464ca", "facts.json": "8354f70c8160119a", "forget.jsonl": "bcde02612d0befa9",
    "retain.jsonl": "c30de23d5ad58d0e", "test.json": "c87c14a0dfba069e", "train.json": "8a57c13ab750fb4a",
    "utility.jsonl": "7e85f35d6491e155", "utility_natural.jsonl": "0010c12312b902a7",
    "world.json": "aef728061c1c9b91",
}
V2_SEED0_IMAGES = "062fe130a5f0a450"  # every file but world.json (the images too), names and contents


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


STAND_IN = dict(documents=0, harmful_compliance=True)  # identify and use unsafe too, by default


def test_the_stand_in_version_2_world_is_built_byte_for_byte(tmp_path):
    out = build_world(WorldConfig(seed=0, **STAND_IN), tmp_path / "w")
    files = {f.name: _digest(f) for f in out.iterdir() if f.is_file()}
    assert files == V2_SEED0
    h = hashlib.sha256()
    for f in sorted(x for x in out.rglob("*") if x.is_file() and x.name != "world.json"):
        h.update(str(f.relative_to(out)).encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    assert h.hexdigest()[:16] == V2_SEED0_IMAGES
