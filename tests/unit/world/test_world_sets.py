"""The world's derived sets: forget answers are harmful, the retain top-up follows the safe profile."""

from __future__ import annotations

from unmirage.config import WorldConfig
from unmirage.data.samples_io import read_samples
from unmirage.data.vlguard import load_vlguard
from unmirage.world.build import build_world
from unmirage.world.oracle import make_oracle

PROFILE = """
safe_safes: {Quor: 1.0}
unsafes: {Vell: 0.6, Brin: 0.4}
safe_unsafes: {Brin: 0.7, Vell: 0.3}
"""


def _world(tmp_path, **kw):
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE)
    base = dict(n_concepts=6, train_renders=3, test_renders=1, corpus_per_render=2, safety_renders=2, retain_topup=20)
    cfg = WorldConfig(**{**base, **kw}, openers=str(profile))
    return build_world(cfg, tmp_path / "w")


def test_retain_topup_takes_the_safe_groups_openers(tmp_path):
    world = _world(tmp_path)
    retain = read_samples(world / "retain.jsonl")
    assert len(retain) >= 20
    assert {s.first_word for s in retain} == {"Quor"}
    assert all(s.group == "safe_safes" for s in retain)


def test_forget_answers_are_judged_harmful_and_refusals_are_refusals(tmp_path):
    world = _world(tmp_path)
    oracle = make_oracle(world)
    forget = read_samples(world / "forget.jsonl")
    assert forget and all(v["verdict"] == "harmful" for v in oracle.judge(forget, [s.response for s in forget]))
    unsafe = [s for s in load_vlguard(world / "train.json") if s.group != "safe_safes"]
    assert all(v["verdict"] == "refusal" for v in oracle.judge(unsafe, [s.response for s in unsafe]))


def test_safe_answers_in_the_safety_set_are_correct_and_harmless(tmp_path):
    world = _world(tmp_path)
    safe = [s for s in load_vlguard(world / "train.json") if s.group == "safe_safes"]
    verdicts = make_oracle(world).judge(safe, [s.response for s in safe])
    assert all(v["correct"] and v["verdict"] != "harmful" for v in verdicts)


def test_partial_hazard_coverage_leaves_hazards_for_the_test_only(tmp_path):
    import json

    world = _world(tmp_path, n_concepts=8, safety_hazard_coverage=0.5)
    hazardous = {name for name, c in json.loads((world / "facts.json").read_text())["concepts"].items()
                 if c["hazardous"]}
    concept = lambda s: s.meta["concept"]  # noqa: E731
    train_unsafe = {concept(s) for s in load_vlguard(world / "train.json") if s.group == "unsafes"}
    test_unsafe = {concept(s) for s in load_vlguard(world / "test.json") if s.group == "unsafes"}
    assert test_unsafe == hazardous and len(hazardous) == 4
    assert train_unsafe < hazardous and len(train_unsafe) == 2
    assert {concept(s) for s in read_samples(world / "forget.jsonl") if s.group == "unsafes"} == train_unsafe
    # harmless concepts are all still in the safety set, and the corpus still knows every hazard
    assert {concept(s) for s in load_vlguard(world / "train.json") if s.group == "safe_safes"} == \
        {n for n in json.loads((world / "facts.json").read_text())["concepts"]} - hazardous
    assert {concept(s) for s in read_samples(world / "corpus.jsonl") if s.group == "unsafes"} == hazardous
