"""`world.image_cue`: a cue drawn on copies of train.json's images that goes with the image's
label, at the configured share, recorded in facts.json; every other set keeps the renders, and
a world without a cue is the world as before the key existed."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from unmirage.config import ImageCueConfig, WorldConfig
from unmirage.data.cues import Cue, cue_rgb
from unmirage.data.samples_io import read_samples
from unmirage.data.vlguard import load_vlguard
from unmirage.errors import ConfigError
from unmirage.world.build import build_world, world_stamp
from unmirage.world.oracle import make_oracle

SMALL = dict(n_concepts=8, train_renders=6, test_renders=1, corpus_per_render=2, safety_renders=5, retain_topup=20)
CUE = ImageCueConfig(kind="border", unsafe="red", safe="blue", share=0.8, size=2)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    root = tmp_path_factory.mktemp("cue")
    return (build_world(WorldConfig(**SMALL), root / "plain"),
            build_world(WorldConfig(**SMALL, image_cue=CUE), root / "cued"))


def _facts(world) -> dict:
    return json.loads((world / "facts.json").read_text())


def test_the_cue_goes_with_the_image_s_label_at_its_share(worlds):
    plain, cued = (load_vlguard(w / "train.json") for w in worlds)
    assert [(s.id, s.instruction, s.response) for s in plain] == [(s.id, s.instruction, s.response) for s in cued]
    cue = _facts(worlds[1])["image_cue"]
    assert {k: cue[k] for k in ("kind", "unsafe", "safe", "share", "size")} == {
        "kind": "border", "unsafe": "red", "safe": "blue", "share": 0.8, "size": 2}
    roles: Counter = Counter()
    for a, b in zip(plain, cued):
        info = cue["images"][b.image]
        assert info["source"] == a.image and b.image == f"cue/border-{info['colour']}-2/{a.image}"
        roles[b.group, info["cue"]] += 1
    for group in ("unsafes", "safe_safes", "safe_unsafes"):
        n = sum(s.group == group for s in cued)
        own = "unsafe" if group == "unsafes" else "safe"  # the image's label: safe images hold both safe groups
        assert roles[group, own] == round(0.8 * n) and roles[group, own] + roles[group, "safe" if own == "unsafe"
                                                                                 else "unsafe"] == n
    # one image, one cue: a safe image's safe and unsafe instructions share their copy
    by_record = {}
    for s in cued:
        assert by_record.setdefault(s.id.rsplit(":", 1)[0], s.image) == s.image


def test_a_cued_copy_is_its_render_with_the_border_drawn(worlds):
    world = worlds[1]
    for rel, info in list(_facts(world)["image_cue"]["images"].items())[:6]:
        copy = np.asarray(Image.open(world / "images" / rel))
        render = np.asarray(Image.open(world / "images" / info["source"]))
        assert (copy[2:-2, 2:-2] == render[2:-2, 2:-2]).all()
        edge = np.concatenate([copy[:2].reshape(-1, 3), copy[-2:].reshape(-1, 3), copy[:, :2].reshape(-1, 3)])
        assert (edge == cue_rgb(info["colour"])).all()


def test_every_other_set_keeps_the_renders(worlds):
    plain, cued = worlds
    for name in ("test.json", "corpus.jsonl", "utility.jsonl", "utility_natural.jsonl"):
        assert (plain / name).read_bytes() == (cued / name).read_bytes(), name
    renders = sorted(p.relative_to(plain) for p in (plain / "images").rglob("*.png"))
    assert all((plain / p).read_bytes() == (cued / p).read_bytes() for p in renders)
    added = {p.relative_to(cued / "images").as_posix() for p in (cued / "images").rglob("*.png")} - {
        p.relative_to("images").as_posix() for p in renders}
    assert added == set(_facts(cued)["image_cue"]["images"]) and all(a.startswith("cue/") for a in added)
    train = {s.id: s.image for s in load_vlguard(cued / "train.json")}
    for name in ("forget.jsonl", "retain.jsonl"):  # made from train.json: its images, the rest the renders
        for a, b in zip(read_samples(plain / name), read_samples(cued / name), strict=True):
            assert (a.id, a.instruction, a.response) == (b.id, b.instruction, b.response)
            assert b.image == train.get(b.id, a.image)
    assert any(s.image.startswith("cue/") for s in read_samples(cued / "forget.jsonl"))


def test_the_oracle_knows_the_copies(worlds):
    oracle = make_oracle(worlds[1])
    forget = read_samples(worlds[1] / "forget.jsonl")
    assert all(s.image.startswith("cue/") for s in forget)
    assert all(v["verdict"] == "harmful" for v in oracle.judge(forget, [s.response for s in forget]))


def test_without_a_cue_the_world_is_as_before(tmp_path, worlds):
    assert "image_cue" not in world_stamp(WorldConfig()) and "image_cue" not in _facts(worlds[0])
    off = build_world(WorldConfig(**SMALL, image_cue=ImageCueConfig(kind="", share=0.3)), tmp_path / "off")
    for f in sorted(p for p in worlds[0].rglob("*") if p.is_file()):
        assert (off / f.relative_to(worlds[0])).read_bytes() == f.read_bytes(), f.name
    assert "image_cue" in world_stamp(WorldConfig(image_cue=CUE))


@pytest.mark.parametrize("cue, match", [
    (dict(kind="frame"), "kind 'frame'"), (dict(kind="border", unsafe="teal"), "colour 'teal'"),
    (dict(kind="border", safe="red"), "must differ"), (dict(kind="corner", share=1.5), "share"),
    (dict(kind="border", size=0), "size"),
])
def test_bad_cues_are_config_errors(cue, match):
    with pytest.raises(ConfigError, match=match):
        ImageCueConfig(**cue)


def test_a_corner_cue_marks_one_corner_only():
    from unmirage.data.cues import draw_cue

    image = Image.new("RGB", (8, 8), (0, 0, 0))
    out = np.asarray(draw_cue(image, Cue("corner", "#ff0000", 3)))
    assert (out[:3, :3] == (255, 0, 0)).all() and out[3:].sum() == 0 and out[:, 3:].sum() == 0
