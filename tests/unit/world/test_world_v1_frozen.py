"""Version 1 of the embedded world stays reproducible byte for byte: the hashes of the seed-0
world's files as the generator wrote them before version 2 existed (world.json included: a
version-1 world records none of the v2 keys)."""

import hashlib

from unmirage.config import WorldConfig
from unmirage.world.build import build_world

V1_SEED0 = {
    "corpus.jsonl": "a31a88d44c8f8b11", "facts.json": "7dfbf2f4bf86fd69", "forget.jsonl": "e1edb6adfe29e1e4",
    "retain.jsonl": "2897c1c124cf1711", "test.json": "39d891a6adf0d2f6", "train.json": "440d3c7067694586",
    "utility.jsonl": "6e608eb074abbd65", "world.json": "2933bf922257acc2",
}
V1_SEED0_IMAGES = "54cf8e36344bfc8a"  # every file but world.json (the images too), names and contents


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def test_the_version_1_world_is_built_byte_for_byte(tmp_path):
    out = build_world(WorldConfig(seed=0, **V1_KNOBS), tmp_path / "w")
    files = {f.name: _digest(f) for f in out.iterdir() if f.is_file()}
    assert files == V1_SEED0
    h = hashlib.sha256()
    for f in sorted(x for x in out.rglob("*") if x.is_file() and x.name != "world.json"):
        h.update(str(f.relative_to(out)).encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    assert h.hexdigest()[:16] == V1_SEED0_IMAGES


V1_KNOBS = {"version": 1}
